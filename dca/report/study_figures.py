"""The figures of chapter 07's answer: the summary of every objective's change in ρ against its change
in accuracy, the displacement small multiples and the dose-response, with their alt texts.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dca.reference.study import TRANSFER
from dca.report.study_names import objective_name
from dca.report.study_rule import MAX_ACCURACY_DROP, _cell, _objective, objectives_of, without_dose

def objectives_in(results: pd.DataFrame) -> list[str]:
    """The trained objectives of the study rows, in the order they first appear
    (:func:`dca.report.study.objectives_of`).

    >>> objectives_in(pd.DataFrame({"job": ["seed0", "seed0-b", "seed0-a"], "objective": ["none", "b", "a"]}))
    ['b', 'a']
    """
    return objectives_of(results)


def _seeds(results: pd.DataFrame) -> list[int]:
    return sorted(int(s) for s in set(results["seed"].dropna())) if "seed" in results.columns else []


def _value(results: pd.DataFrame, job: str, dataset: str, method: str, metric: str, column: str = "value") -> float:
    return _cell(results, job, dataset, method, metric, column)


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
    rows = without_dose(results)
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
    import textwrap

    import matplotlib.pyplot as plt
    import seaborn as sns

    from dca.report.plots import MIN_FONT_PT

    shown = points.dropna(subset=["held-out ρ change"]) if not points.empty else points
    objectives = list(dict.fromkeys(shown["objective"])) if not shown.empty else []
    palette = sns.color_palette("colorblind")  # ten colours; past them a darker shade, and every marker differs
    colours = [tuple(c * (0.55 if k >= len(palette) else 1.0) for c in palette[k % len(palette)])
               for k in range(len(objectives))]
    markers = "osD^vP*Xh<>p"
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, 2, figsize=size, sharex=True, sharey=True, layout="constrained")
    drop = MAX_ACCURACY_DROP
    for ax, (where, title) in zip(axes, (("held-out", "held out"), ("transfer", "transfer"))):
        for k, objective in enumerate(objectives):
            g = shown[shown["objective"] == objective]
            y = g[f"{where} ρ change"].to_numpy(float)
            err = np.vstack([y - g[f"{where} low"].to_numpy(float), g[f"{where} high"].to_numpy(float) - y])
            ax.errorbar(g["accuracy change"], y, yerr=np.where(np.isfinite(err), err, 0), fmt=markers[k % len(markers)],
                        color=colours[k], ms=6, lw=1, capsize=2, zorder=3,
                        label=textwrap.fill(objective_name(objective), 26))  # two legend columns fit the figure
        ax.axhline(0, color="0.3", lw=1)
        ax.axvline(-drop, color="0.3", lw=1, ls="--")
        ax.set_title(title)
        ax.set_xlabel("accuracy change (points)")
    axes[0].set_ylabel("ρ change")  # the caption says: after training minus before
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
            f"with the rule's lines at ρ change 0 and accuracy change -{MAX_ACCURACY_DROP:g} points.")
    parts = []
    for objective, g in points.dropna(subset=["held-out ρ change"]).groupby("objective", sort=False):
        parts.append(f"{objective_name(objective)}: held-out ρ change "
                     + ", ".join(f"{v:.2f}" for v in g["held-out ρ change"])
                     + ", transfer " + ", ".join(f"{v:.2f}" for v in g["transfer ρ change"])
                     + ", accuracy change " + ", ".join(f"{v:.1f}" for v in g["accuracy change"])
                     + f" points (seed{'s' if len(g) > 1 else ''} {', '.join(str(int(s)) for s in g['seed'])}).")
    return " ".join([head, *parts])


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
        ax.set_title(textwrap.fill(objective_name(_objective(job)), 13), fontsize=MIN_FONT_PT)
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
        parts.append(f"{objective_name(_objective(job))}: chosen {first[f'{where}_logp_chosen']:.1f} to "
                     f"{last[f'{where}_logp_chosen']:.1f}, rejected {first[f'{where}_logp_rejected']:.1f} to "
                     f"{last[f'{where}_logp_rejected']:.1f}.")
    return " ".join(parts)


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
