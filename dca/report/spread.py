"""What limits the verbal AUROC: how many distinct numbers a job states.

The goal beyond the study's rule asks for a verbal AUROC at least
:data:`~dca.report.study_rule.AUROC_SHARE_GOAL` of the internal one. An AUROC ranks every pair of a right
and a wrong answer; a pair given the same stated number cannot be ranked and counts one half,

.. math:: \\mathrm{AUROC} = P(C_v^{+} > C_v^{-}) + \\tfrac12 P(C_v^{+} = C_v^{-}),

so a job that states few distinct numbers (one number on most replies) stays near 0.5 however well its
numbers follow C_i elsewhere. This module lines up, per study job, the distinct numbers it states and
the share of the internal AUROC its stated numbers reach (committed ``book/data/study_results.csv``:
metrics ``distinct_cv``, ``auroc_verbal``, ``auroc_internal``, means over the held-out datasets).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dca.report.study_rule import AUROC_SHARE_GOAL

#: The columns of :func:`spread_points`.
COLUMNS = ["job", "objective", "distinct", "share"]


def spread_points(results: pd.DataFrame) -> pd.DataFrame:
    """One row per job whose replies state numbers: the job, its objective (``vanilla`` before
    training), the distinct numbers it states per held-out dataset (mean over the datasets) and the
    share ``auroc_verbal / auroc_internal`` of its means. Jobs without both AUROCs are left out.

    >>> r = pd.DataFrame({"job": ["seed0-x"] * 3, "dataset": "mean", "method": "x", "objective": "x",
    ...                   "metric": ["distinct_cv", "auroc_verbal", "auroc_internal"], "value": [12.0, 0.6, 0.64]})
    >>> spread_points(r).round(3).values.tolist()
    [['seed0-x', 'x', 12.0, 0.938]]
    """
    if results.empty or "metric" not in results.columns:
        return pd.DataFrame(columns=COLUMNS)
    trained = results["method"] == results["objective"]
    before = (results["method"] == "vanilla") & (results["objective"] == "none")
    rows = results[(results["dataset"] == "mean") & (trained | before)
                   & results["metric"].isin(["distinct_cv", "auroc_verbal", "auroc_internal"])]
    wide = rows.pivot_table(index=["job", "method"], columns="metric", values="value", sort=False).reset_index()
    if not {"distinct_cv", "auroc_verbal", "auroc_internal"} <= set(wide.columns):
        return pd.DataFrame(columns=COLUMNS)
    wide = wide[(wide["auroc_internal"] > 0) & wide["auroc_verbal"].notna() & (wide["distinct_cv"] > 0)]
    return pd.DataFrame({"job": wide["job"], "objective": wide["method"], "distinct": wide["distinct_cv"],
                         "share": wide["auroc_verbal"] / wide["auroc_internal"]}).reset_index(drop=True)


def spread_sentence(points: pd.DataFrame) -> str:
    """How the AUROC share goes with the distinct numbers stated, over the jobs after training of ``points``
    (:func:`spread_points`): their Spearman correlation, the fewest distinct numbers of a job that
    reaches the goal's share, and the highest share of the jobs that state fewer. Empty under three jobs.

    >>> p = pd.DataFrame({"job": list("abcd"), "objective": ["x"] * 4, "distinct": [4.0, 6.0, 13.0, 15.0],
    ...                   "share": [0.75, 0.86, 0.94, 0.97]})
    >>> print(spread_sentence(p))  # doctest: +NORMALIZE_WHITESPACE
    Over the 4 jobs after training (trained objectives and confidence adapters), the verbal AUROC's share of
    the internal one rises with the distinct numbers a job states (Spearman ρ 1.00): every job at or above
    the goal's 90 % states at least 13.0 distinct numbers per dataset on average, and the 2 jobs that state
    fewer reach at most 86 %.
    """
    from dca.evaluate.metrics import spearman_rho

    trained = points[points["objective"] != "vanilla"] if not points.empty else points
    if len(trained) < 3:
        return ""
    rho = spearman_rho(trained["distinct"].to_numpy(float), trained["share"].to_numpy(float))
    text = (f"Over the {len(trained)} jobs after training (trained objectives and confidence adapters), the verbal "
            "AUROC's share of the internal one "
            f"{'rises' if rho > 0 else 'does not rise'} with the distinct numbers a job states (Spearman ρ {rho:.2f})")
    reach = trained[trained["share"] >= AUROC_SHARE_GOAL]
    goal = f"{100 * AUROC_SHARE_GOAL:g} %"
    if reach.empty:
        return text + f"; none reaches the goal's {goal}, the highest share is {100 * trained['share'].max():.0f} %."
    fewest = float(reach["distinct"].min())
    below = trained[trained["distinct"] < fewest]
    text += (f": every job at or above the goal's {goal} states at least {fewest:.1f} distinct numbers per dataset "
             "on average")
    if below.empty:
        return text + "."
    return text + f", and the {len(below)} jobs that state fewer reach at most {100 * below['share'].max():.0f} %."


def plot_spread(points: pd.DataFrame, size: tuple[float, float] = (4.8, 3.4)):
    """The AUROC share (%) of each job against the distinct numbers it states (log scale), the goal's
    share drawn as a dashed line; the model before training in grey. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from dca.report.plots import MIN_FONT_PT

    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    before = points["objective"] == "vanilla"
    for rows, style in ((points[~before], {"color": sns.color_palette("colorblind")[0], "marker": "o",
                                           "label": "trained job or adapter"}),
                        (points[before], {"color": "0.55", "marker": "X", "label": "before training"})):
        if not rows.empty:
            ax.scatter(rows["distinct"], 100 * rows["share"], s=28, alpha=0.8, zorder=3, **style)
    ax.axhline(100 * AUROC_SHARE_GOAL, color="0.3", lw=1, ls="--")
    ax.annotate(f"goal: {100 * AUROC_SHARE_GOAL:g} %", (0.01, 100 * AUROC_SHARE_GOAL),
                xycoords=("axes fraction", "data"), ha="left", va="bottom", fontsize=MIN_FONT_PT, color="0.3")
    ax.set_xscale("log")
    low, high = points["distinct"].min() / 1.2, points["distinct"].max() * 1.2
    ticks = [t for t in (2, 3, 5, 10, 20, 30, 50) if low <= t <= high]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("distinct numbers stated per dataset")
    ax.set_ylabel("verbal AUROC, % of internal")
    fig.legend(loc="outside lower center", ncol=2, fontsize=MIN_FONT_PT, frameon=False)
    return fig


def spread_alt_text(points: pd.DataFrame) -> str:
    """The spread figure's alt text: what it shows and the range of each axis.

    >>> p = pd.DataFrame({"job": ["a", "b"], "objective": ["x", "vanilla"], "distinct": [4.0, 15.0],
    ...                   "share": [0.75, 0.97]})
    >>> print(spread_alt_text(p))  # doctest: +NORMALIZE_WHITESPACE
    Scatter plot, one point per study job: the verbal AUROC as a share of the internal AUROC (75 to 97 %)
    against the distinct numbers the job states per dataset (4.0 to 15.0, log scale), with a dashed line at
    the goal's 90 %; 1 job after training, 1 point before training.
    """
    shares, distinct = 100 * points["share"].to_numpy(float), points["distinct"].to_numpy(float)
    n_before = int((points["objective"] == "vanilla").sum())
    n_after = len(points) - n_before
    if not len(points) or not np.isfinite(shares).any() or math.isnan(float(np.nanmin(distinct))):
        return "Scatter plot of the verbal AUROC's share against the distinct numbers stated: no job yet."
    return (f"Scatter plot, one point per study job: the verbal AUROC as a share of the internal AUROC "
            f"({np.nanmin(shares):.0f} to {np.nanmax(shares):.0f} %) against the distinct numbers the job states "
            f"per dataset ({np.nanmin(distinct):.1f} to {np.nanmax(distinct):.1f}, log scale), with a dashed line at "
            f"the goal's {100 * AUROC_SHARE_GOAL:g} %; {n_after} job{'s' if n_after != 1 else ''} after training, "
            f"{n_before} point{'s' if n_before != 1 else ''} before training.")


__all__ = ["plot_spread", "spread_alt_text", "spread_points", "spread_sentence"]
