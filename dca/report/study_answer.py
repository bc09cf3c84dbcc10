"""The answer that opens chapter 07 (*Why DCA fails here, and what works*): a few plain sentences, one
summary figure and a compact check table, all built from the committed study rows by the rule of
:func:`dca.report.study.criteria`.

Generic over objectives: an objective is named by :data:`NAMES` (its raw name where the mapping has
none), and objectives are ordered as they first appear in the rows, so a new objective in
``book/data/study_*.csv`` appears here without a change of code.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from dca.reference.study import TRANSFER
from dca.report import study as study_report

__all__ = ["CONDITION_LABELS", "NAMES", "answer_sentences", "check_table", "conditions", "objective_name",
           "objectives_in", "plot_summary", "summary_alt_text", "summary_points", "undrawn_sentence"]

#: What a reader calls each objective of the study (the raw name is shown where this has none).
NAMES = {
    "vanilla": "the model before training",
    "dca": "DCA",
    "rpo": "DPO + NLL (RPO)",
    "dpop": "DPO-Positive (DPOP)",
    "apo": "APO-zero",
    "sft": "SFT on the whole reply",
    "sft-dpo": "SFT, then DPO",
    "distract": "DPO + distractors",
    "rpo-num": "RPO on the number",
    "sft-num": "SFT on the number",
    "sft-num-kl": "SFT on the number + KL on the letter",
    "sft-num-base": "SFT on the number, base model answers",
}

#: The rule's conditions (the keys of :func:`dca.report.study.criteria`) as a table header says them.
CONDITION_LABELS = {
    "ρ rises": "ρ rises",
    "mean abs ε below both baselines": r"mean $\vert\varepsilon\vert$ below baselines",
    "σ ε falls": r"$\sigma_\varepsilon$ falls",
    "accuracy kept": "accuracy kept",
    "whole-% replies ≥ 95 %": "whole-% replies ≥ 95 %",
    "transfer ρ not lower": "transfer ρ kept",
}

#: The same conditions in a sentence (plain text: no Markdown, no math).
CONDITION_WORDS = {
    "ρ rises": "ρ",
    "mean abs ε below both baselines": "mean |ε|",
    "σ ε falls": "σ_ε",
    "accuracy kept": "accuracy",
    "whole-% replies ≥ 95 %": "replies stating a whole-number percentage",
    "transfer ρ not lower": "ρ on the transfer questions",
}


def objective_name(objective: str) -> str:
    """The objective's name for a reader (:data:`NAMES`), or its raw name where the mapping has none.

    >>> objective_name("rpo"), objective_name("sft-num"), objective_name("new-recipe")
    ('DPO + NLL (RPO)', 'SFT on the number', 'new-recipe')
    """
    return NAMES.get(objective, objective)


def objectives_in(results: pd.DataFrame) -> list[str]:
    """The trained objectives of the study rows, in the order they first appear
    (:func:`dca.report.study.objectives_of`).

    >>> objectives_in(pd.DataFrame({"job": ["seed0", "seed0-b", "seed0-a"], "objective": ["none", "b", "a"]}))
    ['b', 'a']
    """
    return study_report.objectives_of(results)


def _seeds(results: pd.DataFrame) -> list[int]:
    return sorted(int(s) for s in set(results["seed"].dropna())) if "seed" in results.columns else []


def _value(results: pd.DataFrame, job: str, dataset: str, method: str, metric: str, column: str = "value") -> float:
    return study_report._cell(results, job, dataset, method, metric, column)


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
                                            or not parsed >= study_report.MIN_PARSED_FOR_EPS),
        "σ ε falls": not sigma_diff < 0,
        "accuracy kept": not accuracy >= -study_report.MAX_ACCURACY_DROP,
        "whole-% replies ≥ 95 %": not whole >= 0,
        "transfer ρ not lower": not transfer_high >= 0,
    }


def conditions(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (objective, seed, condition) that ran: whether the condition holds
    (:func:`dca.report.study.criteria`) and whether the job is worse than vanilla on it
    (:func:`worse_than_vanilla`). Objectives in the order of the rows.
    """
    rows = study_report.without_dose(results)
    out = []
    for objective in objectives_in(rows):
        for seed in _seeds(rows):
            held = study_report.criteria(rows, objective, seed)
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
    table = study_report.verdict_table(study_report.without_dose(results))
    return [] if table.empty else list(study_report.rank_objectives(table, results)["objective"])


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


def _held_out_interval(results: pd.DataFrame, job: str, method: str, metric: str) -> tuple[float, float, float]:
    """The paired change of ``metric`` on the held-out questions, mean over the datasets, with an
    approximate 95 % interval: the datasets' paired intervals combined as independent normal errors
    (half-width sqrt(sum h_d^2) / D)."""
    rows = results[(results["job"] == job) & (results["method"] == method) & (results["metric"] == metric)
                   & (results["split"] == "heldout") & (results["dataset"] != "mean")].dropna(
        subset=["diff", "diff_low", "diff_high"])
    diff = _value(results, job, "mean", method, metric, "diff")
    if rows.empty or not math.isfinite(diff):
        return diff, math.nan, math.nan
    half = float(np.sqrt((((rows["diff_high"] - rows["diff_low"]) / 2) ** 2).sum()) / len(rows))
    return diff, diff - half, diff + half


def summary_points(results: pd.DataFrame) -> pd.DataFrame:
    """One row per objective job: its seed, the change in accuracy (all replies, points, against the
    same seed's model before training), and the paired change in ρ on the held-out questions (mean of
    the datasets, approximate 95 % interval from theirs) and on the transfer questions (its paired
    95 % interval). ρ is NaN where the replies state no number.
    """
    rows = study_report.without_dose(results)
    out = []
    for objective in objectives_in(rows):
        for seed in _seeds(rows):
            job = f"seed{seed}-{objective}"
            if job not in set(rows["job"]):
                continue
            held = _held_out_interval(rows, job, objective, "rho")
            out.append({
                "objective": objective, "seed": seed,
                "accuracy change": (_value(rows, job, "mean", objective, "accuracy_all")
                                    - _value(rows, f"seed{seed}", "mean", "vanilla", "accuracy_all")),
                "held-out ρ change": held[0], "held-out low": held[1], "held-out high": held[2],
                **{f"transfer {k}": _value(rows, job, TRANSFER, objective, "rho", c)
                   for k, c in (("ρ change", "diff"), ("low", "diff_low"), ("high", "diff_high"))},
            })
    return pd.DataFrame(out)


def plot_summary(points: pd.DataFrame, size: tuple[float, float] = (4.8, 4.6)):
    """The chapter's summary figure: two panels, the change in ρ on the held-out questions and on the
    transfer questions against the change in accuracy; each seed of each objective a point with its
    interval; the rule's thresholds drawn (ρ above 0; accuracy at most
    :data:`~dca.report.study.MAX_ACCURACY_DROP` points below the model before training) and the region
    where both hold shaded; the legend under the panels. Returns the figure.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    from dca.report.plots import MIN_FONT_PT

    shown = points.dropna(subset=["held-out ρ change"]) if not points.empty else points
    objectives = list(dict.fromkeys(shown["objective"])) if not shown.empty else []
    colours = sns.color_palette("colorblind", max(len(objectives), 1))
    markers = "osD^vP*Xh<>p"
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, 2, figsize=size, sharex=True, sharey=True, layout="constrained")
    drop = study_report.MAX_ACCURACY_DROP
    for ax, (where, title) in zip(axes, (("held-out", "held out"), ("transfer", "transfer"))):
        for k, objective in enumerate(objectives):
            g = shown[shown["objective"] == objective]
            y = g[f"{where} ρ change"].to_numpy(float)
            err = np.vstack([y - g[f"{where} low"].to_numpy(float), g[f"{where} high"].to_numpy(float) - y])
            ax.errorbar(g["accuracy change"], y, yerr=np.where(np.isfinite(err), err, 0), fmt=markers[k % len(markers)],
                        color=colours[k], ms=6, lw=1, capsize=2, label=objective_name(objective), zorder=3)
        ax.axhline(0, color="0.3", lw=1)
        ax.axvline(-drop, color="0.3", lw=1, ls="--")
        ax.set_title(title)
        ax.set_xlabel("accuracy change (points)")
    axes[0].set_ylabel("ρ change after training")
    for ax in axes:  # the region where both conditions hold, once the limits are known
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        ax.axvspan(-drop, max(x1, 3.0), ymin=(0 - y0) / (y1 - y0) if y1 > y0 else 0, color="#2ca02c",
                   alpha=0.10, lw=0, zorder=0)
        ax.set_xlim(x0, max(x1, 3.0))
        ax.set_ylim(y0, y1)
    if objectives:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False,
                   fontsize=MIN_FONT_PT)
    return fig


def undrawn_sentence(points: pd.DataFrame) -> str:
    """The objectives the summary figure cannot draw: their replies state no number, so ρ is undefined.

    >>> undrawn_sentence(pd.DataFrame({"objective": ["dca", "sft-dpo"], "seed": [0, 0],
    ...                                "held-out ρ change": [0.1, float("nan")], "accuracy change": [-1.0, -52.2]}))
    'Not drawn, since their replies state no number to correlate: SFT, then DPO (seed 0, accuracy change -52.2 points).'
    """
    missing = points[points["held-out ρ change"].isna()] if not points.empty else points
    if missing.empty:
        return ""
    return ("Not drawn, since their replies state no number to correlate: " + "; ".join(
        f"{objective_name(r['objective'])} (seed {int(r['seed'])}, accuracy change {r['accuracy change']:.1f} points)"
        for _, r in missing.iterrows()) + ".")


def summary_alt_text(points: pd.DataFrame) -> str:
    """The summary figure's alt text: what it shows, and where each objective's points lie.

    >>> p = pd.DataFrame({"objective": ["dca"], "seed": [0], "accuracy change": [-14.8],
    ...                   "held-out ρ change": [-0.47], "transfer ρ change": [-0.45]})
    >>> print(summary_alt_text(p))  # doctest: +ELLIPSIS
    Two scatter panels, ... DCA: held-out ρ change -0.47, transfer -0.45, accuracy change -14.8 points (seed 0).
    """
    head = ("Two scatter panels, change in Spearman ρ after training on the held-out questions (left) and on the "
            "transfer questions (right) against the change in accuracy, one point per seed of each objective, "
            f"with the rule's lines at ρ change 0 and accuracy change -{study_report.MAX_ACCURACY_DROP:g} points.")
    parts = []
    for objective, g in points.dropna(subset=["held-out ρ change"]).groupby("objective", sort=False):
        parts.append(f"{objective_name(objective)}: held-out ρ change "
                     + ", ".join(f"{v:.2f}" for v in g["held-out ρ change"])
                     + ", transfer " + ", ".join(f"{v:.2f}" for v in g["transfer ρ change"])
                     + ", accuracy change " + ", ".join(f"{v:.1f}" for v in g["accuracy change"])
                     + f" points (seed{'s' if len(g) > 1 else ''} {', '.join(str(int(s)) for s in g['seed'])}).")
    return " ".join([head, *parts])


# --------------------------------------------------------------------------------------------------
# The sentences


def _list(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _mean(results: pd.DataFrame, method: str, metric: str, dataset: str = "mean") -> float:
    rows = study_report.without_dose(results)
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


def _closest(results: pd.DataFrame, checks: pd.DataFrame, order: list[str]) -> str:
    table = study_report.verdict_table(study_report.without_dose(results))
    works = table[table["works"] == "yes"]["objective"].tolist()
    if works:
        return f"{_list([objective_name(o) for o in works])} meet{'s' if len(works) == 1 else ''} every condition on all three seeds."
    top = study_report.rank_objectives(table, results)
    top = top[(top["held"] == top["held"].iloc[0]) & (top["seeds run"] == top["seeds run"].iloc[0])]
    names = [objective_name(o) for o in top["objective"]]
    n_seeds = int(top["seeds run"].iloc[0])
    text = (f"No objective meets the rule. Closest by its ranking: {_list(names)}, with "
            f"{int(top['held'].iloc[0])} of {len(study_report.conditions_of(table))} conditions on "
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
    return text + "."


def _instead(results: pd.DataFrame, checks: pd.DataFrame) -> str:
    """The objective that raises ρ the most among those that raised it on every seed they ran, most
    seeds first, and what it costs: the conditions it misses and on how many seeds."""
    if checks.empty:
        return ""
    rises = checks[checks["condition"] == "ρ rises"].groupby("objective", sort=False)
    candidates = [(int(g["seed"].nunique()), _mean(results, o, "rho"), o) for o, g in rises if g["holds"].all()]
    candidates = [c for c in candidates if math.isfinite(c[1])]
    if not candidates:
        return "No objective raised ρ on every seed it ran."
    n_seeds, rho, best = max(candidates)
    mine = checks[checks["objective"] == best]
    seeds = sorted(set(mine["seed"]))
    before = _vanilla(results, "rho", seeds)
    transfer = _mean(results, best, "rho", TRANSFER)
    text = (f"What raises ρ instead is {objective_name(best)}: on "
            f"{'all ' + str(n_seeds) + ' seeds' if n_seeds > 1 else 'its one seed'} (held out {before:.2f} → "
            f"{rho:.2f}, the goal is {study_report.RHO_GOAL:g}; transfer {transfer:.2f})")
    costs = []
    for condition, g in mine[~mine["holds"]].groupby("condition", sort=False):
        missed = f"{g['seed'].nunique()} of {n_seeds} seeds" if n_seeds > 1 else "its seed"
        if condition == "accuracy kept":
            change = (_mean(results, best, "accuracy_all") - _vanilla(results, "accuracy_all", seeds))
            costs.append(f"accuracy ({change:+.1f} points on average, beyond the rule's "
                         f"-{study_report.MAX_ACCURACY_DROP:g} on {missed})")
        elif condition == "whole-% replies ≥ 95 %":
            costs.append(f"the answer format ({_mean(results, best, 'whole_percent'):.0f} % of replies state a "
                         f"whole-number percentage, under {study_report.MIN_WHOLE_PERCENT:g} % on {missed})")
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
    rows = study_report.without_dose(results)
    checks = conditions(rows) if not rows.empty else pd.DataFrame()
    if checks.empty:
        return ["The objectives study has not produced results yet (`make study`); nothing is claimed."]
    sentences = [_did_dca_work(rows, checks), _why_not(training), _closest(rows, checks, ranked(rows)),
                 _instead(rows, checks)]
    return [s for s in sentences if s]


def plot_displacement(training: pd.DataFrame, jobs: list[str], where: str = "heldout", ncols: int = 4,
                      width: float = 4.8):
    """Small multiples of the displacement: one panel per job (titled with its objective's name), the
    policy's summed log-probability of the chosen reply (solid) and of the rejected reply (dashed) on
    ``where`` (``heldout``: the held-out pairs; ``train``: the training batches) at every measurement.
    Each panel has its own scale (DCA's fall is a hundred times the others'). Jobs that log no rejected
    reply (SFT) are left out. Returns the figure.
    """
    import textwrap

    import matplotlib.pyplot as plt
    import seaborn as sns

    from dca.report.plots import MIN_FONT_PT

    jobs = drawable_jobs(training, jobs, where)
    if not jobs:
        raise ValueError("no job of jobs has a chosen and a rejected log-probability to draw")
    rows = -(-len(jobs) // ncols)
    colours = sns.color_palette("colorblind", 2)
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(rows, ncols, figsize=(width, 1.5 * rows + 0.7), layout="constrained",
                                 squeeze=False)
    for ax, job in zip(axes.flat, jobs):
        g = training[training["job"] == job].dropna(subset=[f"{where}_logp_chosen"]).sort_values("step")
        ax.plot(g["step"], g[f"{where}_logp_chosen"], color=colours[0], lw=1.5, label="chosen reply")
        ax.plot(g["step"], g[f"{where}_logp_rejected"], color=colours[1], lw=1.5, ls="--", label="rejected reply")
        ax.set_title(textwrap.fill(objective_name(study_report._objective(job)), 13), fontsize=MIN_FONT_PT)
        ax.tick_params(labelsize=MIN_FONT_PT)
        ax.locator_params(axis="y", nbins=3)
        if len(g):
            ax.set_xticks([0, int(g["step"].max())])  # two ticks: the narrow panels have room for no more
    for ax in axes.flat[len(jobs):]:
        ax.set_visible(False)
    fig.supxlabel("optimiser step", fontsize=MIN_FONT_PT)
    fig.supylabel("log p(reply)", fontsize=MIN_FONT_PT)
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside upper center", ncol=2, frameon=False,
               fontsize=MIN_FONT_PT)
    return fig


def drawable_jobs(training: pd.DataFrame, jobs: list[str], where: str = "heldout") -> list[str]:
    """The jobs of ``jobs`` whose training log holds both the chosen and the rejected reply's log-probability on
    ``where`` (SFT logs no rejected reply; a run without held-out pairs logs nothing held out).

    >>> t = pd.DataFrame({"job": ["a", "b"], "heldout_logp_chosen": [-1.0, -2.0], "heldout_logp_rejected": [-3.0, None]})
    >>> drawable_jobs(t, ["a", "b", "c"])
    ['a']
    """
    return [j for j in jobs if not training[training["job"] == j].dropna(
        subset=[f"{where}_logp_chosen", f"{where}_logp_rejected"]).empty]


def displacement_alt_text(training: pd.DataFrame, jobs: list[str], where: str = "heldout") -> str:
    """The alt text of :func:`plot_displacement`: what it shows, and per drawn job the chosen and the
    rejected reply's log-probability at the first and the last measurement.

    >>> t = pd.DataFrame({"job": "seed0-dca", "step": [0, 99], "heldout_logp_chosen": [-6.3, -80.0],
    ...                   "heldout_logp_rejected": [-2.3, -206.1]})
    >>> print(displacement_alt_text(t, ["seed0-dca"]))  # doctest: +ELLIPSIS
    Small multiples, one panel per objective: ... DCA: chosen -6.3 to -80.0, rejected -2.3 to -206.1.
    """
    parts = ["Small multiples, one panel per objective: the summed log-probability of the chosen reply (solid) and "
             "of the rejected reply (dashed) on the held-out pairs over training."]
    for job in jobs:
        g = training[training["job"] == job].dropna(subset=[f"{where}_logp_chosen", f"{where}_logp_rejected"])
        if len(g) < 2:
            continue
        first, last = g.sort_values("step").iloc[[0, -1]].to_dict("records")
        parts.append(f"{objective_name(study_report._objective(job))}: chosen {first[f'{where}_logp_chosen']:.1f} to "
                     f"{last[f'{where}_logp_chosen']:.1f}, rejected {first[f'{where}_logp_rejected']:.1f} to "
                     f"{last[f'{where}_logp_rejected']:.1f}.")
    return " ".join(parts)


#: What a table says for the raw names of methods, metrics and splits in the study rows (cell values).
VALUE_NAMES = {**NAMES, "vanilla": "before training", "constant": "constant baseline",
               "isotonic": "isotonic baseline", "say_ci": "stating round(C_i) (oracle)", "heldout": "held out",
               "rho": "ρ", "mean_abs_eps": "mean |ε|", "sigma_eps": "σ_ε", "accuracy_all": "accuracy, all replies",
               "whole_percent": "whole-% replies", "base": "base model"}
#: Column headers for a reader (Markdown: headers are not escaped by the table writer).
HEADER_NAMES = {"mde": "smallest detectable change", "split": "questions", "method": "model", "job": "job",
                "n": "questions"}


def _header(column: str) -> str:
    text = study_report.LABELS.get(column, HEADER_NAMES.get(column, column))
    text = re.sub(r"\bC_([vi])\b", r"$C_\1$", text)
    return text.replace("σ ε", r"$\sigma_\varepsilon$").replace("mean abs ε", r"mean $\vert\varepsilon\vert$")


def _job_name(job: str) -> str:
    """A study job for a reader: ``seed1-rpo`` -> the objective's name and the seed; any other job (a
    second model's probe, ``gemma270-seed0``) as it is named.

    >>> _job_name("seed1-rpo"), _job_name("seed0"), _job_name("gemma270-seed0")
    ('DPO + NLL (RPO), seed 1', 'before training, seed 0', 'gemma270-seed0')
    """
    m = re.fullmatch(r"seed(\d+)(?:-(.+))?", str(job))
    if not m:
        return str(job)
    objective = m.group(2) or "vanilla"
    return f"{VALUE_NAMES.get(objective, objective)}, seed {m.group(1)}"


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a reader should see it: metric and symbol headers in words and math (``sigma_eps``
    -> $\\sigma_\\varepsilon$, ``C_v`` -> $C_v$), and the raw names in the cells of the ``objective``,
    ``method``, ``model``, ``metric``, ``split``/``questions`` and ``job`` columns in words.

    >>> f = pd.DataFrame({"job": ["seed1-rpo"], "method": ["say_ci"], "sigma_eps": [1.0], "C_i after": [2.0]})
    >>> readable(f).to_dict("records")
    [{'job': 'DPO + NLL (RPO), seed 1', 'model': 'stating round(C_i) (oracle)', '$\\\\sigma_\\\\varepsilon$': 1.0, '$C_i$ after': 2.0}]
    """
    out = frame.copy()
    for column in out.columns:
        if column == "job":
            out[column] = [_job_name(j) for j in out[column]]
        elif column in ("objective", "method", "model", "metric", "split", "questions"):
            out[column] = [VALUE_NAMES.get(v, v) if isinstance(v, str) else v for v in out[column]]
    return out.rename(columns={c: _header(c) for c in out.columns})


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


def named(text: str, names: dict[str, str] | None = None) -> str:
    """``text`` (a sentence the study's functions wrote) with every raw objective name replaced by its
    name for a reader (:data:`NAMES`; longest names first, whole names only).

    >>> named("sft-num (seeds 0, 1); sft (seed 0); rpo-num missed it; not dca-q25")
    'SFT on the number (seeds 0, 1); SFT on the whole reply (seed 0); RPO on the number missed it; not dca-q25'
    """
    names = {k: v for k, v in (names or NAMES).items() if k != "vanilla"}
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))
                         + r")(?![\w-])")
    return pattern.sub(lambda m: names[m.group(1)], text)


def plot_dose(dose: pd.DataFrame, references: dict[str, dict[str, float]], width: float = 4.8):
    """The dose-response as one figure of two panels, ρ and mean |ε| after training (held out) against
    the share of seed 0's training questions, one line per objective (its name for a reader), the
    ``references`` (per metric, name -> value: the model before training, the baselines) dotted; one
    legend under both panels. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from dca.report.plots import MIN_FONT_PT, plot_dose_response

    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, 2, figsize=(width, 3.3), layout="constrained")
    for ax, (metric, label) in zip(axes, (("rho", "ρ after training"), ("mean_abs_eps", "mean |ε| after training"))):
        for k, (objective, g) in enumerate(dose.groupby("objective", sort=False)):
            plot_dose_response(ax, g["training questions (%)"], g[metric], label=objective_name(objective),
                               color_index=k, ylabel=label, reference=references.get(metric) if k == 0 else None)
        ax.get_legend().remove()
        ax.set_xlabel("training questions (%)")
    handles = {}
    for ax in axes:
        for h, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=2, frameon=False,
               fontsize=MIN_FONT_PT)
    return fig


def protocol_of(where: str | dict[str, Any]) -> str:
    """The prompt and the held-out questions of a profile's runs (read from its configuration), or of
    one run (``where``: the ``k_shot`` and ``n_eval`` its stage 1 recorded).

    >>> protocol_of("study"), protocol_of({"k_shot": 3, "n_eval": 12})
    ('zero-shot prompt, 200 held-out questions per dataset', '3-shot prompt, 12 held-out questions per dataset')
    """
    from dca.extract import ExtractConfig

    if isinstance(where, str):
        config = ExtractConfig.from_profile(where)
        k_shot, n_eval = config.k_shot, config.n_eval
    else:
        k_shot, n_eval = int(where["k_shot"]), int(where["n_eval"])
    prompt = "zero-shot prompt" if k_shot == 0 else f"{k_shot}-shot prompt"
    return f"{prompt}, {n_eval} held-out questions per dataset"


def _seed_list(seeds: list[int]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {_list([str(s) for s in seeds])}" if seeds else "no seed yet"


def protocols_sentence(runs: list[tuple[str, str | dict[str, Any], list[int], str]]) -> str:
    """One line on the runs whose numbers stand side by side: for each ``(name, profile or recorded
    parameters, seeds, model)`` its model, prompt, held-out questions and seeds (:func:`protocol_of`),
    and why their numbers before training differ.

    >>> print(protocols_sentence([("the reference experiment", "reference", [0, 1, 2], "qwen"),
    ...                           ("the objectives study", "study", [0, 1, 2], "qwen")]))  # doctest: +NORMALIZE_WHITESPACE
    Side by side: the reference experiment (qwen; profile `reference`: 3-shot prompt, 48 held-out questions
    per dataset, seeds 0, 1 and 2) and the objectives study (qwen; profile `study`: zero-shot prompt, 200
    held-out questions per dataset, seeds 0, 1 and 2). Their numbers before training differ because the
    prompts differ (a k-shot prompt first shows k worked replies, each stating a probability; a zero-shot
    prompt none) and so do the questions: compare a change only with the model before training of its own
    protocol.
    """
    described = [f"{name} ({model}; {f'profile `{where}`: ' if isinstance(where, str) else ''}{protocol_of(where)}, "
                 f"{_seed_list(seeds)})" for name, where, seeds, model in runs]
    models = len({model for *_, model in runs}) > 1
    return ("Side by side: " + _list(described) + ". Their numbers before training differ because "
            + ("the models differ, " if models else "")
            + "the prompts differ (a k-shot prompt first shows k worked replies, each stating a probability; a "
            "zero-shot prompt none) and so do the questions: compare a change only with the model before training "
            "of its own protocol.")


def three_protocols(build: dict[str, Any] | None = None) -> str:
    """:func:`protocols_sentence` for the book's three protocols: this build's run (``build``: the
    parameters its stage 1 recorded, with its ``seed``; left out when ``None``), the reference
    experiment and the objectives study, with the seeds of their committed rows."""
    from dca.report.format import model_title
    from dca.reference.collect import RESULTS, read_results
    from dca.reference.study_results import RESULTS as STUDY_RESULTS
    from dca.reference.study_results import read as read_study
    from dca.report.reference import seeds as reference_seeds

    runs: list[tuple[str, str | dict[str, Any], list[int], str]] = []
    if build:
        runs.append(("this build's run", build, [int(build.get("seed", 0))], str(build.get("model", "?"))))
    for name, rows, profile in (("the reference experiment", read_results(RESULTS), "reference"),
                                ("the objectives study", read_study(STUDY_RESULTS), "study")):
        if rows.empty:
            continue
        if profile == "study":  # the study's own model: its seed jobs (second models' probes left out)
            rows = rows[rows["job"].astype(str).str.fullmatch(r"seed\d+(-.+)?")]
        seeds = sorted(int(x) for x in reference_seeds(rows)) if profile == "reference" else _seeds(rows)
        runs.append((name, profile, seeds, ", ".join(dict.fromkeys(
            model_title(m) for m in rows["model"].dropna().astype(str)))))
    return protocols_sentence(runs)


def recorded_protocol(run_dir: str) -> dict[str, Any] | None:
    """What a run's stage 1 recorded of its protocol (``k_shot``, ``n_eval``, ``seed``, and the model by
    the name a reader knows it), for :func:`three_protocols`; ``None`` where the run has no stage 1."""
    from dca.report.format import model_title
    from dca.runs.artifacts import RunFolder

    try:
        origin = RunFolder(run_dir).provenance("stage1")
    except Exception:  # noqa: BLE001 - a chapter still renders without this build's run
        return None
    params = origin.get("params", {}) if origin else {}
    if not {"k_shot", "n_eval"} <= set(params):
        return None
    return {**params, "model": model_title(str(params.get("model", origin.get("model", "?"))))}
