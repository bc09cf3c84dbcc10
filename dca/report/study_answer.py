"""The answer that opens chapter 07 (*Why DCA fails here, and what works*): a few plain sentences, one
summary figure and a compact check table, all built from the committed study rows by the rule of
:func:`dca.report.study_rule.criteria`.

Generic over objectives: an objective is named by :data:`NAMES` (its raw name where the mapping has
none), and objectives are ordered as they first appear in the rows, so a new objective in
``book/data/study_*.csv`` appears here without a change of code. The names, the figures and the
protocols line live in :mod:`~dca.report.study_names`, :mod:`~dca.report.study_figures` and
:mod:`~dca.report.study_protocols`; this module hands them out too, under the names it always had.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dca.reference.study import RECIPE_SUFFIX, TRANSFER
# The figures, the names and the protocols line are this module's names as before the split.
from dca.report.study_figures import (  # noqa: F401
    _held_out_interval, _seeds, _value, displacement_alt_text, drawable_jobs, objectives_in, plot_displacement,
    plot_dose, plot_summary, summary_alt_text, summary_points, undrawn_sentence)
from dca.report.study_names import (  # noqa: F401
    CONDITION_LABELS, CONDITION_WORDS, HEADER_NAMES, NAMES, VALUE_NAMES, _header, _job_name, _list, named,
    objective_name, readable)
from dca.report.study_protocols import (  # noqa: F401
    _seed_list, protocol_of, protocols_sentence, recorded_protocol, three_protocols)
from dca.report.study_rule import (AUROC_SHARE_GOAL, MAX_ACCURACY_DROP, MIN_PARSED_FOR_EPS, MIN_WHOLE_PERCENT, RHO_GOAL,
                                   conditions_of, criteria, goal_values, rank_objectives, verdict_table, without_dose)

__all__ = ["CONDITION_LABELS", "CONDITION_WORDS", "HEADER_NAMES", "NAMES", "VALUE_NAMES", "answer_sentences",
           "check_table", "conditions", "displacement_alt_text", "dose_sentence", "drawable_jobs", "named",
           "objective_name", "objectives_in", "plot_displacement", "plot_dose", "plot_summary", "protocol_of",
           "protocols_sentence", "ranked", "readable", "recorded_protocol", "summary_alt_text", "summary_points",
           "three_protocols", "undrawn_sentence", "worse_than_vanilla"]


def worse_than_vanilla(results: pd.DataFrame, objective: str, seed: int) -> dict[str, bool]:
    """Per condition of the rule, whether the objective's job on ``seed`` is *worse than the model
    before training* there (not merely short of the rule's bar): ρ or σ_ε moved the wrong way, mean
    |ε| rose above vanilla's (or is measured on too few replies), accuracy fell by more than the rule
    allows, fewer replies state a whole-number percentage than before, or ρ on the transfer questions
    fell with a paired interval that excludes zero. An objective is never called *close* on a
    condition where this is true.
    """
    job, base = f"seed{seed}-{objective}", f"seed{seed}"
    mae = _value(results, job, "mean", objective, "mean_abs_eps")
    parsed = _value(results, job, "mean", objective, "parse_rate")
    rho_diff = _value(results, job, "mean", objective, "rho", "diff")
    sigma_diff = _value(results, job, "mean", objective, "sigma_eps", "diff")
    accuracy = (_value(results, job, "mean", objective, "accuracy_all")
                - _value(results, base, "mean", "vanilla", "accuracy_all"))
    whole = (_value(results, job, "mean", objective, "whole_percent")
             - _value(results, base, "mean", "vanilla", "whole_percent"))
    transfer_high = _value(results, job, TRANSFER, objective, "rho", "diff_high")
    return {
        "ρ rises": not rho_diff > 0,
        "mean abs ε below both baselines": (not mae <= _value(results, base, "mean", "vanilla", "mean_abs_eps")
                                            or not parsed >= MIN_PARSED_FOR_EPS),
        "σ ε falls": not sigma_diff < 0,
        "accuracy kept": not accuracy >= -MAX_ACCURACY_DROP,
        "whole-% replies ≥ 95 %": not whole >= 0,
        "transfer ρ not lower": not transfer_high >= 0,
    }


def conditions(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (objective, seed, condition) that ran: whether the condition holds
    (:func:`dca.report.study.criteria`) and whether the job is worse than vanilla on it
    (:func:`worse_than_vanilla`). Objectives in the order of the rows.
    """
    rows = without_dose(results)
    out = []
    for objective in objectives_in(rows):
        for seed in _seeds(rows):
            held = criteria(rows, objective, seed)
            if not held:
                continue
            worse = worse_than_vanilla(rows, objective, seed)
            out += [{"objective": objective, "seed": seed, "condition": c, "holds": bool(v), "worse": worse[c]}
                    for c, v in held.items()]
    return pd.DataFrame(out, columns=["objective", "seed", "condition", "holds", "worse"])


def ranked(results: pd.DataFrame) -> list[str]:
    """The objectives closest to working first, by the rule's own ranking
    (:func:`dca.report.study.rank_objectives`: most conditions holding in every seed each ran, then
    most seeds, then the highest held-out ρ)."""
    table = verdict_table(without_dose(results))
    return [] if table.empty else list(rank_objectives(table, results)["objective"])


def check_table(results: pd.DataFrame, seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    """Objective x the rule's six conditions: one mark per seed, seed 0 first (✓ holds, ✗ misses,
    · not run), and whether the objective works: *yes* (every condition on every one of ``seeds``),
    *no* (a condition missed on some seed: by the rule it cannot work) or *so far* (every condition on
    the seeds that ran). Objectives in the rule's ranking, closest to working first; headers and names
    for a reader.

    >>> check_table(pd.DataFrame()).columns.tolist()[:2]
    ['objective', 'ρ rises']
    """
    checks = conditions(results)
    order = ranked(results)
    header = ["objective", *CONDITION_LABELS.values(), "works"]
    if checks.empty:
        return pd.DataFrame(columns=header)
    rows = []
    for objective in order:
        mine = checks[checks["objective"] == objective]
        row: dict[str, Any] = {"objective": objective_name(objective)}
        for condition, label in CONDITION_LABELS.items():
            marks = []
            for seed in seeds:
                hit = mine[(mine["seed"] == seed) & (mine["condition"] == condition)]["holds"]
                marks.append("·" if hit.empty else "✓" if bool(hit.iloc[0]) else "✗")
            row[label] = "".join(marks)
        everywhere = bool(mine["holds"].all())
        row["works"] = "no" if not everywhere else "yes" if set(mine["seed"]) >= set(seeds) else "so far"
        rows.append(row)
    return pd.DataFrame(rows, columns=header)


def _mean(results: pd.DataFrame, method: str, metric: str, dataset: str = "mean") -> float:
    rows = without_dose(results)
    rows = rows[(rows["dataset"] == dataset) & (rows["method"] == method) & (rows["metric"] == metric)]["value"]
    return float(rows.mean()) if rows.notna().any() else math.nan


def _vanilla(results: pd.DataFrame, metric: str, seeds: list[int]) -> float:
    rows = results[results["job"].isin([f"seed{s}" for s in seeds]) & (results["dataset"] == "mean")
                   & (results["method"] == "vanilla") & (results["metric"] == metric)]["value"]
    return float(rows.mean()) if rows.notna().any() else math.nan


def _did_dca_work(results: pd.DataFrame, checks: pd.DataFrame) -> str:
    mine = checks[checks["objective"] == "dca"]
    if mine.empty:
        return "DCA as published has not run in the study yet."
    seeds = sorted(set(mine["seed"]))
    held = mine.groupby("condition", sort=False)["holds"].all()
    n, total = int(held.sum()), len(held)
    on = f"seed{'s' if len(seeds) > 1 else ''} {_list([str(s) for s in seeds])}"
    before, after = _vanilla(results, "rho", seeds), _mean(results, "dca", "rho")
    parsed = _mean(results, "dca", "parse_rate")
    if n == total:
        return f"Yes: DCA as published meets all {total} conditions of the study's rule on {on}."
    rho = (f"ρ fell from {before:.2f} to {after:.2f}" if math.isfinite(after) and after < before
           else f"ρ went from {before:.2f} to {after:.2f}" if math.isfinite(after)
           else "its replies no longer state a number to correlate")
    count = "none" if n == 0 else f"{n}"
    return (f"No. On {on}, DCA as published meets {count} of the rule's {total} conditions: {rho}, and only "
            f"{parsed:.0f} % of its replies still state a number.")


def _why_not(training: pd.DataFrame | None) -> str:
    if training is None or training.empty:
        return ""
    rows = training[training["job"] == "seed0-dca"].dropna(subset=["heldout_logp_chosen", "heldout_logp_rejected"])
    if len(rows) < 2:
        return ""
    first, last = rows.sort_values("step").iloc[[0, -1]].itertuples(index=False)
    if last.heldout_logp_chosen >= first.heldout_logp_chosen:
        return ("DCA's training made the chosen reply more likely, so its failure is not likelihood displacement "
                "(the sections below look further).")
    return (f"Why: DPO won the preference by making both replies less likely, the taught one too (its "
            f"log-probability {first.heldout_logp_chosen:.1f} → {last.heldout_logp_chosen:.1f}), so the model "
            f"stopped writing it.")


def _closest(results: pd.DataFrame, checks: pd.DataFrame) -> str:
    table = verdict_table(without_dose(results))
    ranked = rank_objectives(table, results)
    works = table[table["works"] == "yes"]["objective"].tolist()
    if len(works) == 1:
        return (_capital(f"{objective_name(works[0])} meets every condition on all three seeds")
                + _how_far(results, checks, works[0]) + _also_holding(results, checks, ranked, works) + ".")
    if works:  # one list, highest ρ first, each with its own ρ; then what kind of result the adapters are
        works = sorted(works, key=lambda o: -_mean(results, o, "rho"))
        items = [f"{objective_name(o)} ({_rho_span(results, checks, o)[0]})" for o in works]
        adapters = sum(o.endswith(RECIPE_SUFFIX) for o in works)
        kind = ("" if not adapters else f". The confidence adapter{'s are' if adapters > 1 else ' is'} an "
                "inference choice, not a training result")
        return (f"{_capital(_count(len(works)))} objectives meet every condition on all three seeds, highest "
                f"held-out ρ first (mean of the seeds): {_list(items)}{kind}"
                + _also_holding(results, checks, ranked, works) + ".")
    top = ranked[(ranked["held"] == ranked["held"].iloc[0]) & (ranked["seeds run"] == ranked["seeds run"].iloc[0])]
    names = [objective_name(o) for o in top["objective"]]
    n_seeds = int(top["seeds run"].iloc[0])
    text = (f"No objective meets the rule. Closest by its ranking: {_list(names)}, "
            f"{int(top['held'].iloc[0])} of {len(conditions_of(table))} conditions on "
            f"{'one seed' + (' each' if len(names) > 1 else '') if n_seeds == 1 else f'each of {n_seeds} seeds'}")
    # on a condition an objective misses, say whether it is worse than the model before training there
    worse, short = [], []
    for objective in top["objective"]:
        mine = checks[(checks["objective"] == objective) & ~checks["holds"]]
        for condition, g in mine.groupby("condition", sort=False):
            (worse if g["worse"].any() else short).append((objective, condition))
    by_condition: dict[str, list[str]] = {}
    for objective, condition in worse:
        by_condition.setdefault(condition, []).append(objective)
    clauses = []
    for condition, objectives in by_condition.items():
        if condition == "mean abs ε below both baselines":
            values = ", ".join(f"{_mean(results, o, 'mean_abs_eps'):.1f}" for o in objectives)
            clauses.append(f"mean |ε| worse than before training ({values} against "
                           f"{_vanilla(results, 'mean_abs_eps', _seeds(results)):.1f})")
        else:
            clauses.append(f"{CONDITION_WORDS[condition]} worse than before training")
    if clauses:
        text += (f"; but {'each makes' if len(top) > 1 else 'it makes'} " + _list(clauses)
                 + f", so {'none is' if len(top) > 1 else 'it is not'} close there")
    if short:
        text += "; short of the rule's bar, though no worse than before training: " + _list(
            sorted({CONDITION_WORDS[c] for _, c in short}))
    if not worse and not short and n_seeds < 3:  # every condition on the seeds that ran: say how far it got
        text += _how_far(results, checks, str(top["objective"].iloc[0]))
    return text + _also_holding(results, checks, ranked, list(top["objective"])) + "."


def _goal(results: pd.DataFrame, checks: pd.DataFrame) -> str:
    """Which objectives reach the goal beyond the rule (:func:`~dca.report.study_rule.goal_values`) and on
    which seeds, most seeds first, then highest held-out ρ; empty where no objective holds every condition
    on any seed or its AUROC was not measured."""
    reached, any_held = [], False
    for objective in dict.fromkeys(checks["objective"]):
        ran = sorted(int(s) for s in set(checks[checks["objective"] == objective]["seed"]))
        goals = {seed: goal_values(results, objective, seed) for seed in ran}
        goals = {seed: g for seed, g in goals.items() if g is not None and math.isfinite(g["share"])}
        any_held = any_held or bool(goals)
        seeds = [str(s) for s, g in goals.items() if not g["short"]]
        if seeds:
            reached.append((len(seeds), _mean(results, objective, "rho"), objective, seeds, ran))
    goal = (f"the goal beyond the rule (held-out ρ ≥ {RHO_GOAL:g}, verbal AUROC ≥ {100 * AUROC_SHARE_GOAL:.0f} % of "
            "the internal)")
    if not reached:
        return f"None reaches {goal} on any seed." if any_held else ""
    clauses = []
    for n, _, objective, seeds, ran in sorted(reached, key=lambda r: (-r[0], -r[1])):
        where = f"seed{'s' if n > 1 else ''} {_list(seeds)}"
        if n == len(ran):
            where = ("all three seeds" if n == 3 else
                     f"{where}, the only seed it ran so far" if n == 1 else f"{where}, every seed it ran so far")
        else:  # the seeds it ran and missed the goal on
            where += ", not " + _list([str(s) for s in ran if str(s) not in seeds], "or")
        clauses.append(f"by {objective_name(objective)} on {where}")
    if len(clauses) > 1 and any("," in c for c in clauses[:-1]):  # a clause with its own comma: keep them apart
        joined = "; ".join(clauses[:-1]) + ("; and " if len(clauses) > 2 else ", and ") + clauses[-1]
    else:
        joined = _list(clauses)
    return f"{_capital(goal)} is reached {joined}."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _also_holding(results: pd.DataFrame, checks: pd.DataFrame, ranked: pd.DataFrame, named: list[str]) -> str:
    """``. So far, on fewer seeds, every condition holds also for …``: the objectives of ``ranked`` (from
    :func:`rank_objectives`) other than ``named`` that hold every condition on each seed they ran. A
    confidence adapter is called an inference choice here only where none of ``named`` was."""
    others = list(ranked[(ranked["misses"].map(len) == 0) & ~ranked["objective"].isin(named)]["objective"])
    if not others:
        return ""
    said = any(o.endswith(RECIPE_SUFFIX) for o in named)
    missing = {tuple(_missing(checks, o)) for o in others}
    shared = len(others) > 1 and len(missing) == 1 and missing != {()}  # the same seeds still to run: say so once
    text = ". So far, on fewer seeds, every condition holds also for " + _list(
        [objective_name(o) + _how_far(results, checks, o, label=not said, say_missing=not shared, seeds_run=True)
         for o in others])
    if shared:
        seeds = list(missing.pop())
        text += (f", {'neither' if len(others) == 2 else 'none'} yet run on seed{'s' if len(seeds) > 1 else ''} "
                 + _list(seeds))
    return text


def _missing(checks: pd.DataFrame, objective: str) -> list[str]:
    """The seeds (0–2) on which ``objective`` has not run."""
    ran = set(int(s) for s in checks[checks["objective"] == objective]["seed"])
    return [str(s) for s in (0, 1, 2) if s not in ran]


def _count(n: int) -> str:
    return {2: "two", 3: "three", 4: "four", 5: "five"}.get(n, str(n))


def _rho_span(results: pd.DataFrame, checks: pd.DataFrame, objective: str) -> tuple[str, list[int]]:
    """(``ρ a → b``, the seeds it ran on): the objective's held-out ρ before (after minus its paired
    change) and after, each the mean over the seeds that ran."""
    ran = sorted(int(s) for s in set(checks[checks["objective"] == objective]["seed"]))
    after = _mean(results, objective, "rho")
    changes = [_held_out_interval(results, f"seed{s}-{objective}", objective, "rho")[0] for s in ran]
    changes = [c for c in changes if math.isfinite(c)]
    before = after - float(np.mean(changes)) if changes else math.nan
    return f"ρ {before:.2f} → {after:.2f}", ran


def _how_far(results: pd.DataFrame, checks: pd.DataFrame, objective: str, label: bool = True,
             say_missing: bool = True, seeds_run: bool = False) -> str:
    """`` (held-out ρ a → b, mean of seeds …; seed k not run yet)`` (:func:`_rho_span`; the seeds not run
    unless ``say_missing`` is false). With ``seeds_run``, the shorter `` (held-out ρ a → b on seeds …)``
    (the seeds it ran, where the sentence already says they are fewer than three; none named unless
    ``say_missing``). For a confidence adapter, unless ``label`` is false, also that it is an inference
    choice."""
    span, ran = _rho_span(results, checks, objective)
    if seeds_run:
        on = f" on seed{'s' if len(ran) > 1 else ''} {_list([str(s) for s in ran])}" if say_missing else ""
        text = f" (held-out {span}{on})"
    else:
        over = f", mean of seeds {_list([str(s) for s in ran])}" if len(ran) > 1 else ""
        missing = _missing(checks, objective) if say_missing else []
        text = (f" (held-out {span}{over}"
                + (f"; seed{'s' if len(missing) > 1 else ''} {_list(missing)} not run yet" if missing else "") + ")")
    inference = label and objective.endswith(RECIPE_SUFFIX)
    return text + (": an inference choice, not a training result" if inference else "")


def _instead(results: pd.DataFrame, checks: pd.DataFrame) -> str:
    """The objective that raises ρ the most among those that raised it on every seed they ran but miss
    another condition somewhere, most seeds first, and what it costs: the conditions it misses and on how
    many seeds."""
    if checks.empty:
        return ""
    # an objective that holds every condition on the seeds it ran is named by the closest sentence already
    holds_everything = checks.groupby("objective", sort=False)["holds"].all()
    rises = checks[checks["condition"] == "ρ rises"].groupby("objective", sort=False)
    candidates = [(int(g["seed"].nunique()), _mean(results, o, "rho"), o) for o, g in rises
                  if g["holds"].all() and not holds_everything[o]]
    candidates = [c for c in candidates if math.isfinite(c[1])]
    if not candidates:
        return "" if holds_everything.any() else "No objective raised ρ on every seed it ran."
    n_seeds, rho, best = max(candidates)
    mine = checks[checks["objective"] == best]
    seeds = sorted(set(mine["seed"]))
    before = _vanilla(results, "rho", seeds)
    transfer = _mean(results, best, "rho", TRANSFER)
    text = (f"What raises ρ instead is {objective_name(best)}: on "
            f"{'all ' + str(n_seeds) + ' seeds' if n_seeds > 1 else 'its one seed'} (held out {before:.2f} → "
            f"{rho:.2f}, the goal is {RHO_GOAL:g}; transfer {transfer:.2f})")
    costs = []
    for condition, g in mine[~mine["holds"]].groupby("condition", sort=False):
        missed = f"{g['seed'].nunique()} of {n_seeds} seeds" if n_seeds > 1 else "its seed"
        if condition == "accuracy kept":
            change = (_mean(results, best, "accuracy_all") - _vanilla(results, "accuracy_all", seeds))
            costs.append(f"accuracy ({change:+.1f} points on average, beyond the rule's "
                         f"-{MAX_ACCURACY_DROP:g} on {missed})")
        elif condition == "whole-% replies ≥ 95 %":
            costs.append(f"the answer format ({_mean(results, best, 'whole_percent'):.0f} % of replies state a "
                         f"whole-number percentage, under {MIN_WHOLE_PERCENT:g} % on {missed})")
        else:
            costs.append(f"{CONDITION_WORDS[condition]} (missed on {missed})")
    return text + (", at a cost in " + _list(costs) + "." if costs else ", and it meets every other condition.")


def answer_sentences(results: pd.DataFrame, training: pd.DataFrame | None = None) -> list[str]:
    """The chapter's answer in three or four plain sentences, each glued from the rows: did DCA work
    here; why not (from seed 0's training log, when given); which objectives come closest by the rule's
    ranking (never called close on a condition where they are worse than the model before training);
    what raises ρ instead, and at what cost.

    >>> answer_sentences(pd.DataFrame())
    ['The objectives study has not produced results yet (`make study`); nothing is claimed.']
    """
    rows = without_dose(results)
    checks = conditions(rows) if not rows.empty else pd.DataFrame()
    if checks.empty:
        return ["The objectives study has not produced results yet (`make study`); nothing is claimed."]
    closest = " ".join(s for s in (_closest(rows, checks), _goal(rows, checks)) if s)
    sentences = [_did_dca_work(rows, checks), _why_not(training), closest, _instead(rows, checks)]
    return [s for s in sentences if s]


def dose_sentence(dose: pd.DataFrame) -> str:
    """What more training questions did, from :func:`dca.report.study.dose_response`: per objective, ρ
    and mean |ε| after training at each share of the training questions.

    >>> d = pd.DataFrame({"objective": ["dca", "dca"], "training questions (%)": [25, 100], "rho": [0.2, -0.1],
    ...                   "mean_abs_eps": [13.6, 46.3]})
    >>> print(dose_sentence(d))
    With 25 % and 100 % of seed 0's training questions, ρ after training was 0.20 and -0.10 for DCA (mean |ε| 13.6 and 46.3).
    """
    if dose.empty:
        return ""
    parts = []
    shares = ""
    for objective, g in dose.groupby("objective", sort=False):
        shares = _list([f"{int(x)} %" for x in g["training questions (%)"]])
        parts.append(f"{_list([f'{v:.2f}' for v in g['rho']])} for {objective_name(objective)} (mean |ε| "
                     f"{_list([f'{v:.1f}' for v in g['mean_abs_eps']])})")
    return f"With {shares} of seed 0's training questions, ρ after training was " + "; ".join(parts) + "."
