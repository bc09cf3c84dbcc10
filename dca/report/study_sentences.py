"""What chapter 07 and the landing page *say* of the objectives study: the verdict, displacement,
seeds, letter and format sentences and the landing page's note, each built from the rows or from a
table of :mod:`dca.report.study_tables` (never more than they hold).
"""

from __future__ import annotations

import pandas as pd

from dca.reference.study import OBJECTIVES, RECIPE_SUFFIX
from dca.report.study_names import CONDITION_WORDS, objective_name
from dca.report.study_names import _list as _and
from dca.report.study_rule import (AUROC_SHARE_GOAL, RHO_GOAL, below_baselines, closest_objective,
                                   conditions_of, criteria, objectives_of, rank_objectives, verdict_table,
                                   without_dose)

def verdict_sentence(results: pd.DataFrame) -> str:
    """The study's verdict in one or two sentences, from :func:`verdict_table` (never more than it says):
    which objectives work, or else the closest ones and the conditions each of them misses.

    >>> verdict_sentence(pd.DataFrame())
    'The objectives study has not produced results yet (`make study`); nothing is claimed.'
    """
    table = verdict_table(results)
    if table.empty:
        return "The objectives study has not produced results yet (`make study`); nothing is claimed."
    works = [objective_name(o) for o in table[table["works"] == "yes"]["objective"]]
    seeds_run = sorted(set(results["seed"]))
    recipes = int(table["objective"].astype(str).str.endswith(RECIPE_SUFFIX).sum())
    trained = len(table) - recipes
    scope = (f"on seed{'s' if len(seeds_run) > 1 else ''} {', '.join(str(s) for s in seeds_run)} "
             f"({trained} objective{'s' if trained != 1 else ''} trained"
             + (f" and {recipes} confidence adapter{'s' if recipes > 1 else ''} judged" if recipes else "")
             + " so far)")
    if works:
        return (f"By the study's rule, {_and(works)} work{'s' if len(works) == 1 else ''} {scope}: "
                "every condition holds in every seed. "
                f"DCA as published does {'' if objective_name('dca') in works else 'not '}meet it.")
    ranked = rank_objectives(table, results)
    top = ranked[ranked["held"] == ranked["held"].iloc[0]]

    def misses(row: pd.Series) -> str:
        if not row["misses"]:
            return "every condition holds so far)"
        return f"misses: {', '.join(CONDITION_WORDS.get(m, m) for m in row['misses'])})"

    named = "; ".join(f"{objective_name(r['objective'])} ({int(r['seeds run'])} seed{'s' if r['seeds run'] > 1 else ''}; "
                      + misses(r) for _, r in top.iterrows())
    judged = ranked[ranked["works"] == "no"]
    full = "; ".join(f"{objective_name(r['objective'])} ("
                     + ", ".join(f"{CONDITION_WORDS.get(c, c)} {r[c]}" for c in conditions_of(table)) + ")"
                     for _, r in judged.iterrows())
    return (f"No objective works by the study's rule yet {scope}. Closest, with {int(top['held'].iloc[0])} of the "
            f"{len(conditions_of(table))} conditions holding in every seed it ran, highest ρ first: {named}."
            + (f" Judged on all three seeds, in how many each condition holds: {full}." if full else ""))


def displacement_sentence(training: pd.DataFrame, job: str) -> str:
    """How the policy's log-probabilities of the chosen and rejected replies moved over a job's
    training, on the held-out pairs (first and last measurement), and what that shows.

    >>> t = pd.DataFrame({"job": ["j", "j"], "step": [0, 8], "heldout_logp_chosen": [-9.5, -12.0],
    ...                   "heldout_logp_rejected": [-2.2, -20.0]})
    >>> displacement_sentence(t, "j")
    'On the held-out pairs, log p(chosen) went from -9.50 to -12.00 and log p(rejected) from -2.20 to -20.00 over 8 steps: the preference was won by pushing both down, the chosen reply became less likely (likelihood displacement).'
    """
    rows = training[(training["job"] == job)].dropna(subset=["heldout_logp_chosen", "heldout_logp_rejected"]) \
        if not training.empty else training
    if rows.empty or len(rows) < 2:
        return f"No held-out log-probabilities were measured for {job}."
    first, last = rows.sort_values("step").iloc[[0, -1]].itertuples(index=False)
    moved = (f"On the held-out pairs, log p(chosen) went from {first.heldout_logp_chosen:.2f} to "
             f"{last.heldout_logp_chosen:.2f} and log p(rejected) from {first.heldout_logp_rejected:.2f} to "
             f"{last.heldout_logp_rejected:.2f} over {int(last.step - first.step)} steps: ")
    if last.heldout_logp_chosen < first.heldout_logp_chosen:
        return moved + ("the preference was won by pushing both down, the chosen reply became less likely "
                        "(likelihood displacement).")
    return moved + "the chosen reply became more likely (no displacement of the chosen reply)."


#: Objectives whose loss sees the stated number only, each with its twin whose loss sees the whole reply.
NUMBER_ONLY_TWINS = {"rpo-num": "rpo", "sft-num": "sft"}


def loss_tokens_sentence(shift: pd.DataFrame) -> str:
    """What leaving the answer letter out of the loss did to the target, from :func:`target_shift`:
    per number-only objective that ran beside its whole-reply twin, the mean :math:`C_i` after
    training and the stated number's gap to it, each beside the twin's.

    >>> shift = pd.DataFrame({"objective": ["rpo", "rpo-num"], "C_i before": [55.0, 55.0],
    ...                       "C_i after": [88.4, 60.1], "C_v after": [40.0, 52.0],
    ...                       "mean abs gap to C_i after": [44.4, 20.3], "ρ(C_v after, C_i after)": [0.3, 0.5]})
    >>> print(loss_tokens_sentence(shift))
    rpo-num (the loss on the number only): mean C_i 55.0 before training, 60.1 after (rpo, the whole reply: 88.4); stated numbers off by 20.3 points from the model's own C_i, ρ = 0.50 (rpo: 44.4, ρ = 0.30).
    >>> loss_tokens_sentence(shift.iloc[:1])
    'No objective with the loss on the number only has run yet.'
    """
    # one row per objective (the first job of each, as the table lists them)
    by_objective = shift.drop_duplicates("objective").set_index("objective") if not shift.empty else shift
    parts = []
    for number_only, twin in NUMBER_ONLY_TWINS.items():
        if number_only not in by_objective.index or twin not in by_objective.index:
            continue
        n, t = by_objective.loc[number_only], by_objective.loc[twin]
        rho = "ρ(C_v after, C_i after)"
        parts.append(f"{number_only} (the loss on the number only): mean C_i {n['C_i before']:.1f} before training, "
                     f"{n['C_i after']:.1f} after ({twin}, the whole reply: {t['C_i after']:.1f}); stated numbers "
                     f"off by {n['mean abs gap to C_i after']:.1f} points from the model's own C_i, ρ = {n[rho]:.2f} "
                     f"({twin}: {t['mean abs gap to C_i after']:.1f}, ρ = {t[rho]:.2f}).")
    return " ".join(parts) if parts else "No objective with the loss on the number only has run yet."


#: Objectives whose loss includes the likelihood of the whole chosen reply, answer letter included.
WHOLE_REPLY_LIKELIHOOD = ("rpo", "sft", "apo", "dpop")


def seeds_sentence(results: pd.DataFrame) -> str:
    """Which objectives ran on more than the screening seed, and on which seeds (from the committed
    rows, dose-response jobs left out).

    >>> r = pd.DataFrame({"job": ["seed0-dca", "seed0-sft-num", "seed1-sft-num", "seed0-dca-q25"],
    ...                   "objective": ["dca", "sft-num", "sft-num", "dca"], "seed": [0, 0, 1, 0]})
    >>> seeds_sentence(r)  # doctest: +ELLIPSIS
    'Seed 0 screens the objectives; beyond it so far: sft-num (seeds 0, 1). Not run yet: rpo, ...'
    """
    rows = without_dose(results)
    rows = rows[rows["objective"].isin(OBJECTIVES)] if not rows.empty else rows
    if rows.empty:
        return "No objective has run yet."
    seeds = rows.groupby("objective", sort=False)["seed"].agg(lambda s: sorted(set(int(x) for x in s)))
    more = [f"{o} (seeds {', '.join(str(x) for x in v)})" for o, v in seeds.items() if len(v) > 1]
    missing = [o for o in OBJECTIVES if o not in seeds.index]
    return (("Seed 0 screens the objectives; beyond it so far: " + "; ".join(more) + "." if more
             else "Only seed 0 has run: a screen.")
            + (f" Not run yet: {', '.join(missing)}." if missing else ""))


def further_seeds_sentence(results: pd.DataFrame, seeds: tuple[int, ...] = (0, 1, 2)) -> str:
    """Why the further seeds went where they went, and why an objective stopped before all of
    ``seeds``: the objectives whose mean abs eps fell below both baselines on seed 0
    (:func:`below_baselines`), those that ran beyond seed 0, and for each of those that has not run on
    every seed, the conditions of :func:`criteria` it already missed on a later seed (then by the
    rule it cannot work, whatever its remaining seeds show).

    >>> r = pd.DataFrame({"job": ["seed0-x"], "objective": ["x"], "seed": [0], "dataset": "mean", "method": "x",
    ...                   "metric": "mean_abs_eps", "value": 40.0})
    >>> further_seeds_sentence(r)
    "On seed 0, no objective's mean |ε| fell below both no-training baselines."
    """
    rows = without_dose(results)
    below = below_baselines(rows, seeds[0])
    if not below:
        return "On seed 0, no objective's mean |ε| fell below both no-training baselines."
    judged = {o: {s: c for s in seeds if (c := criteria(rows, o, s))} for o in objectives_of(rows)}  # seed -> conditions
    further = [o for o in judged if len(judged[o]) > 1]
    text = f"On seed 0, mean |ε| fell below both no-training baselines for {_and(below)} only"
    if further == below:
        text += f", so the further seeds went to {'it' if len(below) == 1 else 'them'}."
    elif further:
        text += f"; further seeds ran for {_and(further)}."
    else:
        text += "; no further seed has run yet."
    for o in further:
        missing = [s for s in seeds if s not in judged[o]]
        if not missing:
            continue
        later = list(judged[o].items())[1:]  # the seeds after the first that ran
        missed = {s: m for s, c in later if (m := [k for k, v in c.items() if not v])}
        left = f"seed{'s' if len(missing) > 1 else ''} {_and([str(s) for s in missing])}"
        if missed:
            s, m = next(iter(missed.items()))
            text += (f" {o} missed {_and(['“' + k + '”' for k in m])} on seed {s}, so by the rule it cannot work; "
                     f"its {left} has not run.")
        else:
            text += f" {o} has not run on {left} yet."
    return text


def letter_sentence(changes: pd.DataFrame) -> str:
    """DCA's share of changed answer letters beside the objectives that train the whole reply's
    likelihood, from :func:`letter_changes`.

    >>> c = pd.DataFrame({"objective": ["dca", "rpo", "sft"], "letters changed (%)": [48.3, 10.3, 11.5]})
    >>> print(letter_sentence(c))
    DCA as published changed 48.3 % of the answer letters, more than any objective that trains the whole reply's likelihood (at most 11.5 %).
    """
    if changes.empty or "dca" not in set(changes["objective"]):
        return ""
    dca = float(changes.loc[changes["objective"] == "dca", "letters changed (%)"].iloc[0])
    others = changes[changes["objective"].isin(WHOLE_REPLY_LIKELIHOOD)]["letters changed (%)"]
    if others.empty:
        return f"DCA as published changed {dca:.1f} % of the answer letters."
    most = float(others.max())
    if dca > most:
        return (f"DCA as published changed {dca:.1f} % of the answer letters, more than any objective that trains "
                f"the whole reply's likelihood (at most {most:.1f} %).")
    return (f"DCA as published changed {dca:.1f} % of the answer letters; the objectives that train the whole "
            f"reply's likelihood changed up to {most:.1f} %.")


def card_note(results: pd.DataFrame, training: pd.DataFrame | None = None) -> str:
    """The landing page's note on the objectives study, under the results card: the answer that opens
    chapter 07 (:func:`dca.report.study_answer.answer_sentences`, the same sentences), then DCA as
    published beside the closest objective and every objective judged on all three seeds (mean over
    the seeds that ran, held-out mean, names for a reader), labelled as beyond the paper.

    >>> print(card_note(pd.DataFrame()))  # doctest: +NORMALIZE_WHITESPACE
    ```{admonition} Beyond the paper: other training objectives
    :class: note
    The objectives study has not produced results yet (`make study`); nothing is claimed. Details:
    {ref}`chapter-why-and-what-works`.
    ```
    """
    from dca.report.study_answer import answer_sentences

    results = without_dose(results)
    lines = answer_sentences(results, training)
    table = verdict_table(results)
    if not table.empty:
        lines.insert(0, "**Did DCA work in the objectives study, and does another objective?** The study runs a "
                        "larger protocol than the card above and judges every objective by six conditions fixed "
                        "before it ran, on the Spearman ρ between stated and internal confidence, mean |ε|, σ_ε, "
                        "accuracy, the reply format and questions of an unseen dataset ({ref}`chapter 07 "
                        "<chapter-why-and-what-works>` defines them).")
    if not table.empty:
        def mean_of(method: str, metric: str) -> str:
            rows = results[(results["dataset"] == "mean") & (results["method"] == method) & (results["metric"] == metric)]
            return f"{rows['value'].mean():.3g}" if not rows.empty else "—"

        best = closest_objective(table, results)[0]
        # DCA, the closest objective by the rule, and every objective judged on all three seeds
        shown = list(dict.fromkeys(["dca", best, *table[table["works"].isin(["yes", "no"])]["objective"]]))
        lines.append("After training, mean over the seeds that ran (held-out questions): " + "; ".join(
            f"{objective_name(o)}{' (as published)' if o == 'dca' else ''}: ρ {mean_of(o, 'rho')}, mean |ε| "
            f"{mean_of(o, 'mean_abs_eps')}, accuracy {mean_of(o, 'accuracy_all')} %"
            for o in shown if o in set(results["method"]))
            + f" (before training: ρ {mean_of('vanilla', 'rho')}, mean |ε| {mean_of('vanilla', 'mean_abs_eps')}, "
            f"accuracy {mean_of('vanilla', 'accuracy_all')} %).")
    return ("```{admonition} Beyond the paper: other training objectives\n:class: note\n"
            + "\n\n".join(lines) + " Details: {ref}`chapter-why-and-what-works`.\n```\n")


def format_sentence(kept: pd.DataFrame) -> str:
    """Which objective jobs kept the prompted format and which left it (from :func:`format_kept`),
    then the objectives whose loss sees the number only, seed by seed.

    >>> k = pd.DataFrame({"objective": ["sft", "dca", "sft-num", "sft-num"], "seed": [0, 0, 0, 1],
    ...                   "prompted format after (%)": [100.0, 0.0, 99.0, 20.0]})
    >>> print(format_sentence(k))
    In the prompted format after training in at least 95 % of the replies: sft (seed 0), sft-num (seed 0); in fewer than half: dca (seed 0), sft-num (seed 1). With the loss on the number only, seed by seed: sft-num 99 % (seed 0), 20 % (seed 1).
    """
    if kept.empty:
        return ""
    after = kept["prompted format after (%)"]

    def jobs(rows: pd.DataFrame) -> str:
        return ", ".join(f"{o} (seed {s})" for o, s in zip(rows["objective"], rows["seed"])) or "none"

    text = (f"In the prompted format after training in at least 95 % of the replies: {jobs(kept[after >= 95])}; "
            f"in fewer than half: {jobs(kept[after < 50])}.")
    shown = kept[kept["objective"].isin(NUMBER_ONLY_TWINS)]
    if not shown.empty:
        text += " With the loss on the number only, seed by seed: " + "; ".join(
            f"{o} " + ", ".join(f"{v:g} % (seed {s})" for s, v in zip(g["seed"], g["prompted format after (%)"]))
            for o, g in shown.groupby("objective", sort=False)) + "."
    return text


def goal_sentence() -> str:
    """What the goal beyond the rule asks, leading :func:`dca.report.study_tables.goal_table`.

    >>> goal_sentence()[:48]
    'The goal beyond the rule is a held-out ρ of at l'
    """
    return (f"The goal beyond the rule is a held-out ρ of at least {RHO_GOAL:g} with a verbal AUROC at least "
            f"{100 * AUROC_SHARE_GOAL:.0f} % of the internal one. Per seed where every condition of the rule holds: "
            "held-out ρ and the verbal AUROC as a share of the internal one (✓ both reach the goal; – the rule "
            "fails on that seed; · not run):")
