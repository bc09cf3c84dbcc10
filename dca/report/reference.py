"""The reference experiment's tables and sentences (chapter ``06_does_dca_work`` and the landing page's
results card), computed from the committed ``book/data/reference_results.csv``
(:mod:`dca.reference.collect`) — never typed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dca.config import StageConfig
from dca.evaluate.metrics import METRICS
from dca.report.format import (
    CALIBRATION_KEYS,
    DATASET_TITLES,
    EXTRA_LABELS,
    METHOD_TITLES,
    PAPER_KEYS,
    fmt,
    label,
    markdown_text,
    math_text,
    mean_sd,
    model_title,
    pm,
)
from dca.report.rules import is_collapsed

__all__ = ["ReferenceChapterConfig", "ablation_summary", "ablation_table", "datasets", "method_table", "paper_form",
           "per_seed", "results_card", "rows_of", "seeds", "sft_versus_dpo", "sign_agreement",
           "stated_number_shares", "value", "verdict"]


@dataclasses.dataclass(frozen=True)
class ReferenceChapterConfig(StageConfig):
    """Parameters of the results chapter (``06_does_dca_work``): which files and run it reads."""

    stage: ClassVar[str] = "reference"

    run_dir: str = dataclasses.field(default="runs/default", metadata={
        "help": "this build's run folder (its before/after closes the chapter)"})
    results: str = dataclasses.field(default="book/data/reference_results.csv", metadata={
        "help": "the committed reference results (python -m dca.reference collect writes it)"})
    questions: str = dataclasses.field(default="book/data/reference_questions.csv", metadata={
        "help": "per-question before/after values of the reference jobs (the figures)"})
    training: str = dataclasses.field(default="book/data/reference_training.csv", metadata={
        "help": "training logs of the reference jobs (loss and held-out loss per step)"})
    paper_results: str = dataclasses.field(default="book/data/paper_results.csv", metadata={
        "help": "the paper's reported numbers (typed from its tables, not measured here)"})


def rows_of(results: pd.DataFrame, *, kind: str | None = None, job: str | None = None,
            method: str | None = None, dataset: str | None = None, metric: str | None = None) -> pd.DataFrame:
    """The result rows matching every given column value."""
    mask = pd.Series(True, index=results.index)
    for column, value in (("kind", kind), ("job", job), ("method", method), ("dataset", dataset),
                          ("metric", metric)):
        if value is not None:
            mask &= results[column] == value
    return results[mask]


def seeds(results: pd.DataFrame) -> list[int]:
    """The seeds of the finished seed jobs."""
    return sorted(int(s) for s in rows_of(results, kind="seed")["seed"].unique())


def datasets(results: pd.DataFrame) -> list[str]:
    """The evaluated datasets of the seed jobs, in their order, then ``mean``."""
    names = [d for d in rows_of(results, kind="seed")["dataset"].unique() if d != "mean"]
    return sorted(names) + (["mean"] if names else [])


def per_seed(results: pd.DataFrame, method: str, dataset: str, metric: str, column: str = "value") -> list[float]:
    """One value per seed job (``column``: value or diff)."""
    seed_rows = rows_of(results, kind="seed", method=method, dataset=dataset, metric=metric)
    return [float(v) for v in seed_rows.sort_values("seed")[column]]


def paper_form(results: pd.DataFrame, keys: Iterable[str] = PAPER_KEYS) -> pd.DataFrame:
    """The paper's table for the reference experiment: per dataset and their mean, vanilla → DCA,
    each side the mean ± sd over seeds."""
    out = []
    for dataset in datasets(results):
        row = {"dataset": DATASET_TITLES.get(dataset, dataset)}
        for key in keys:
            before, after = per_seed(results, "vanilla", dataset, key), per_seed(results, "dca", dataset, key)
            row[label(key)] = f"{pm(before, key)} → {pm(after, key)}"
        out.append(row)
    return pd.DataFrame(out)


def sign_agreement(results: pd.DataFrame, dataset: str = "mean",
                   keys: Iterable[str] = PAPER_KEYS + CALIBRATION_KEYS, method: str = "dca") -> pd.DataFrame:
    """Per metric: the change (after − before) of every seed, their mean ± sd, and whether the seeds
    agree on its sign; also how many seeds' paired 95 % intervals exclude zero (per dataset only)."""
    out = []
    for key in keys:
        diffs = per_seed(results, method, dataset, key, "diff")
        if not diffs:
            continue
        signs = {int(np.sign(d)) for d in diffs if np.isfinite(d)}
        lows = per_seed(results, method, dataset, key, "diff_low")
        highs = per_seed(results, method, dataset, key, "diff_high")
        clear = sum(1 for lo, hi in zip(lows, highs) if np.isfinite(lo) and np.isfinite(hi) and not lo <= 0 <= hi)
        out.append({"metric": label(key), "key": key,
                    "change per seed": ", ".join(fmt(d, key) for d in diffs),
                    "mean ± sd": pm(diffs, key),
                    "mean change": ("rose" if mean_sd(diffs)[0] > 0 else "fell" if mean_sd(diffs)[0] < 0
                                    else "none"),  # better/worse need an interval (change_word)
                    "same sign in all seeds": "yes" if len(signs) == 1 else "no",
                    "seeds with interval excluding 0": (f"{clear} of {len(diffs)}" if dataset != "mean" else "—")})
    table = pd.DataFrame(out)
    if dataset == "mean" and len(table):  # the mean over datasets has no paired interval: no empty column
        table = table.drop(columns="seeds with interval excluding 0")
    return table


def method_table(results: pd.DataFrame, dataset: str = "mean",
                 methods: Iterable[str] = ("vanilla", "dca", "sft", "constant", "isotonic", "say_ci"),
                 keys: Iterable[str] = ("parse_rate", "rho", "sigma_eps", "mean_abs_eps", "mean_eps", "distinct_cv",
                                        "top_cv_share", "accuracy", "auroc_verbal")) -> pd.DataFrame:
    """DCA beside the baselines on the same held-out questions: mean ± sd over the seeds each ran."""
    out = []
    for method in methods:
        sub = rows_of(results, method=method, dataset=dataset)
        sub = sub[sub["kind"].isin(["seed", "sft"])]
        if sub.empty:
            continue
        row = {"method": METHOD_TITLES.get(method, method), "seeds": int(sub["seed"].nunique())}
        for key in keys:
            vals = sub[sub["metric"] == key].sort_values("seed")["value"].astype(float).tolist()
            row[label(key) if key in METRICS else EXTRA_LABELS.get(key, key)] = pm(vals, key)
        out.append(row)
    return pd.DataFrame(out)


def ablation_table(results: pd.DataFrame, dataset: str = "mean",
                   keys: Iterable[str] = ("parse_rate", "rho", "sigma_eps", "mean_abs_eps", "mean_eps",
                                          "distinct_cv", "accuracy_all")) -> pd.DataFrame:
    """Seed 0's DCA run and each one-factor ablation (all on seed 0's questions): the value after
    training, with the vanilla value first."""
    base = rows_of(results, job="seed0", dataset=dataset)
    if base.empty:
        return pd.DataFrame()
    jobs = [("vanilla (seed 0)", rows_of(base, method="vanilla")), ("DCA, default settings", rows_of(base, method="dca"))]
    for job in rows_of(results, kind="ablation")["job"].unique():
        sub = rows_of(results, job=job, dataset=dataset, method="dca")
        jobs.append((math_text(str(sub["factor"].iloc[0])) if len(sub) else job, sub))
    out = []
    for name, sub in jobs:
        row = {"run": name}
        for key in keys:
            v = sub[sub["metric"] == key]["value"]
            row[label(key) if key in METRICS else EXTRA_LABELS.get(key, key)] = fmt(float(v.iloc[0]), key) if len(v) else "—"
        out.append(row)
    return pd.DataFrame(out)


def ablation_summary(results: pd.DataFrame, dataset: str = "mean", broken_below: float = 50.0) -> str:
    """What each one-factor ablation did to mean |ε|, as a Markdown list glued from the numbers.

    Each ablation's mean |ε| is set against seed 0's DCA run (the same questions and pairs): *lower*
    or *higher* when the difference exceeds the seed-to-seed standard deviation of DCA's mean |ε|
    (the noise of one run), *about the same* otherwise. An overshoot (almost all of the gap of one
    sign: ``|ε̄| > 0.8 · mean |ε|``, with ε̄ = mean(C_v − C_i)) is named, and so is a broken reply
    format (fewer than ``broken_below`` % of replies parsed: mean |ε| then covers the few parsed ones),
    and so is a collapse of the stated numbers (:func:`is_collapsed`, the book's one rule, per dataset)
    and a stated number that no longer follows C_i (Spearman ρ ≤ 0.05): a lower mean |ε| reached that
    way is a constant's.
    The last line says which ablations beat seed 0's constant baseline, and which did so by collapsing.
    """
    base = rows_of(results, job="seed0", dataset=dataset, metric="mean_abs_eps")
    ablations = rows_of(results, kind="ablation", dataset=dataset, method="dca")
    if base.empty or base[base["method"] == "dca"].empty or ablations.empty:
        return ""
    default = float(base[base["method"] == "dca"]["value"].iloc[0])
    constant = base[base["method"] == "constant"]["value"]
    noise = mean_sd(per_seed(results, "dca", dataset, "mean_abs_eps"))[1]
    noise = 0.0 if math.isnan(noise) else noise
    groups: dict[str, list[str]] = {"lower": [], "about the same": [], "higher": [], "broken": []}
    below_constant = []
    for job in ablations["job"].unique():
        rows = ablations[ablations["job"] == job]
        name = math_text(str(rows["factor"].iloc[0]))
        got = rows.set_index("metric")["value"]
        parsed, gap = got.get("parse_rate", math.nan), got.get("mean_abs_eps", math.nan)
        mean_eps = got.get("mean_eps", math.nan)
        if parsed < broken_below:
            groups["broken"].append(f"{name}: {parsed:.1f} % of replies parsed")
            continue
        said = f"{name}: {gap:.1f}"
        notes = []
        if abs(mean_eps) > 0.8 * gap:
            notes.append(f"states {'more' if mean_eps > 0 else 'less'} than $C_i$ on average, ε̄ {mean_eps:+.1f}")
        rho, distinct = got.get("rho", math.nan), got.get("distinct_cv", math.nan)
        top = got.get("top_cv_share", math.nan)
        collapsed = is_collapsed(distinct, top)  # the book's one rule (dca.report.collapsed)
        if collapsed:
            notes.append(f"collapsed: {distinct:.1f} distinct values per dataset"
                         + (f", the most common on {top:.0f} %" if np.isfinite(top) else ""))
        if rho <= 0.05:
            notes.append(f"$C_v$ no longer follows $C_i$, ρ {rho:.2f}")
        said += f" ({'; '.join(notes)})" if notes else ""
        side = "about the same" if abs(gap - default) <= noise else "lower" if gap < default else "higher"
        groups[side].append(said)
        if len(constant) and gap < float(constant.iloc[0]):
            below_constant.append(name + (" (by stating nearly one number)" if collapsed else ""))
    head = (f"Mean |ε| after training, against seed 0's DCA run ({default:.1f} points; seed-to-seed sd of "
            f"DCA {noise:.1f}"
            + (f"; a constant stated number: {float(constant.iloc[0]):.1f}" if len(constant) else "") + "):")
    titles = {"lower": "lower", "about the same": "about the same (within one seed-to-seed sd)",
              "higher": "higher", "broken": "the reply format broke"}
    lines = [head, ""] + [f"- {titles[k]}: " + "; ".join(v) for k, v in groups.items() if v]
    if len(constant):
        lines += ["", (f"Only {below_constant[0]} beat the constant baseline." if len(below_constant) == 1 else
                       f"{len(below_constant)} beat the constant baseline: {', '.join(below_constant)}."
                       if below_constant else "None beat the constant baseline.")]
    return "\n".join(lines)


def value(results: pd.DataFrame, method: str, metric: str, dataset: str = "mean") -> tuple[float, float, int]:
    """Mean, sd and count over seeds of one method's metric (seed jobs and SFT jobs)."""
    sub = rows_of(results, method=method, dataset=dataset, metric=metric)
    sub = sub[sub["kind"].isin(["seed", "sft"])]
    return mean_sd(sub["value"].astype(float))


def verdict(results: pd.DataFrame) -> str:
    """One sentence on whether DCA worked in the reference experiment, glued from the numbers.

    It names what moved and how (over all seeds), and never reports a lower σ_ε without the constant
    baseline beside it, nor a change of C_v without saying whether it collapsed to few values.
    """
    if rows_of(results, kind="seed").empty:
        return "The reference experiment has not been run yet (`make reference`)."
    n = len(seeds(results))
    s_b, s_a = value(results, "vanilla", "sigma_eps")[0], value(results, "dca", "sigma_eps")[0]
    m_b, m_a = value(results, "vanilla", "mean_abs_eps")[0], value(results, "dca", "mean_abs_eps")[0]
    r_b, r_a = value(results, "vanilla", "rho")[0], value(results, "dca", "rho")[0]
    k_b, k_a = value(results, "vanilla", "distinct_cv")[0], value(results, "dca", "distinct_cv")[0]
    const = value(results, "constant", "mean_abs_eps")[0]
    agree = sign_agreement(results, keys=("sigma_eps", "mean_abs_eps", "rho"))
    same = dict(zip(agree["key"], agree["same sign in all seeds"]))
    parts = [f"over {n} seed{'s' if n != 1 else ''}, DCA moved mean |ε| from {m_b:.1f} to {m_a:.1f} points "
             f"(a constant stated number reaches {const:.1f}) and σ_ε from {s_b:.1f} to {s_a:.1f}"]
    parts.append(f"Spearman ρ between C_v and C_i went from {r_b:.2f} to {r_a:.2f}")
    parts.append(f"the model used {k_b:.0f} distinct stated numbers per dataset before and {k_a:.0f} after")
    worked = m_a < m_b and r_a > r_b and m_a < const
    head = ("DCA worked here: " if worked else
            "DCA did not do what the paper hopes for here: " if (r_a <= r_b or m_a >= const) else
            "DCA helped only in part here: ")
    consistent = all(v == "yes" for v in same.values())
    tail = ("; one seed so far." if n == 1 else "; every seed moved these three metrics the same way."
            if consistent else "; the seeds do not all agree on the direction of these changes.")
    return head + "; ".join(parts) + tail


def sft_versus_dpo(results: pd.DataFrame, keys: Iterable[str] = ("rho", "mean_abs_eps", "sigma_eps")) -> str:
    """One sentence comparing SFT on the chosen replies with DPO, seed by seed, on the seeds where both
    ran (mean over datasets): each metric's mean over those seeds and in how many seeds SFT was better."""
    sft = rows_of(results, kind="sft", method="sft", dataset="mean")
    dpo = rows_of(results, kind="seed", method="dca", dataset="mean")
    both = sorted(set(sft["seed"]) & set(dpo["seed"]))
    if not both:
        return "SFT has not been run yet (`make reference` runs it after the seeds)."
    parts = []
    for key in keys:
        def per_seed(rows: pd.DataFrame) -> list[float]:
            sub = rows[rows["metric"] == key].set_index("seed")["value"].astype(float)
            return [float(sub.get(s, math.nan)) for s in both]

        s_vals, d_vals = per_seed(sft), per_seed(dpo)
        higher = METRICS[key].higher_is_better
        wins = sum(1 for a, b in zip(s_vals, d_vals) if (a > b) == bool(higher) and a != b)
        parts.append(f"{label(key) if key in METRICS else key} {fmt(float(np.mean(s_vals)), key)} against DPO's "
                     f"{fmt(float(np.mean(d_vals)), key)} (SFT better in {wins} of {len(both)})")
    n = len(both)
    return f"On the {n} seed{'s' if n != 1 else ''} where both ran, SFT on the chosen replies reached " + "; ".join(parts) + "."


def results_card(results: pd.DataFrame, questions: pd.DataFrame, figure: Any,
                 paper: pd.DataFrame | None = None) -> str:
    """The landing page's results card (MyST Markdown) and its figure, written to ``figure`` (a path).

    Model, data and sizes; the stated-confidence histograms before and after; the before → after
    mean over datasets beside the paper's models (``paper``: rows of ``paper_results.csv``); and the
    verdict sentence.
    """
    if rows_of(results, kind="seed").empty:
        return ("```{admonition} Results\n:class: note\nThe reference experiment has not been run yet: "
                "`make reference` runs it and `python -m dca.reference collect` writes its results.\n```\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dca.report.plots import BOOK_DPI, MIN_FONT_PT, plot_confidence_histograms, use_book_style

    seed_rows = rows_of(results, kind="seed")
    first = seed_rows.iloc[0]
    names = [markdown_text(DATASET_TITLES.get(d, d)) for d in datasets(results) if d != "mean"]
    n_eval = rows_of(seed_rows, method="vanilla", metric="parse_rate")
    n_eval = int(n_eval[n_eval["dataset"] != "mean"]["n"].iloc[0])
    if not questions.empty:
        q = questions[questions["job"].isin([f"seed{s}" for s in seeds(results)])]
        use_book_style()  # text at least 9 px on screen, even in the card on a phone
        fig, ax = plt.subplots(figsize=(4.6, 3.2), constrained_layout=True)
        plot_confidence_histograms(ax, q["c_v_before"], q["c_v_after"], quantity="c_v")
        ax.set_title("stated confidence $C_v$ on held-out questions,\nbefore and after DCA", fontsize=MIN_FONT_PT + 1)
        fig.savefig(figure, dpi=BOOK_DPI)
        plt.close(fig)
    keys = ("rho", "sigma_eps", "mean_abs_eps", "accuracy")
    header = "| | " + " | ".join(label(k) for k in keys) + " |\n|---|" + "---|" * len(keys) + "\n"
    ours = "| **this book** (1.5B, mean of seeds) | " + " | ".join(
        f"{fmt(value(results, 'vanilla', k)[0], k)} → {fmt(value(results, 'dca', k)[0], k)}" for k in keys) + " |\n"
    paper_rows = ""
    if paper is not None:
        for model, sub in paper.groupby("model", sort=False):
            cells = []
            for k in keys:
                m = sub[sub["metric"] == k]
                cells.append("—" if m.empty else f"{m['vanilla'].mean():.2f} → {m['dca'].mean():.2f}")
            paper_rows += f"| paper: {markdown_text(model)} | " + " | ".join(cells) + " |\n"
    text = (
        "```{admonition} Does DCA work? What this book found\n:class: important\n"
        f"**Model** {markdown_text(str(first['model']))} ({markdown_text(model_title(str(first['model'])))}, "
        f"{markdown_text(str(first.get('machine', 'CPU')))}) · "
        f"**data** {', '.join(names)} · "
        f"**held out** {n_eval} questions per dataset · **seeds** {len(seeds(results))}.\n\n"
        f"{verdict(results)}\n\n"
        + ("![Stated confidence before and after DCA](results_card.png)\n\n" if not questions.empty else "")
        + "Vanilla → DCA, mean over datasets (the paper's accuracy row is its mean over four datasets):\n\n"
        + header + ours + paper_rows
        + "\nDetails, baselines and ablations: {ref}`chapter-does-dca-work`.\n```\n")
    return text


def stated_number_shares(before: Iterable[float], after: Iterable[float], top: int = 5) -> pd.DataFrame:
    """The most common stated numbers before and after training with their shares (%) of the parsed
    replies, side by side (for files that hold the numbers, not the reply text).

    >>> stated_number_shares([48, 48, 70], [5.88, 48, 48], top=2).to_dict("records")
    [{'rank': 1, 'stated before': '48%', 'before (%)': '66.7', 'stated after': '48%', 'after (%)': '66.7'}, {'rank': 2, 'stated before': '70%', 'before (%)': '33.3', 'stated after': '5.88%', 'after (%)': '33.3'}]
    """
    columns: dict[str, list[Any]] = {"rank": list(range(1, top + 1))}
    for name, values in (("before", before), ("after", after)):
        v = pd.Series(np.asarray(list(values), dtype=float)).dropna()
        counts = v.value_counts().head(top)
        pad = [""] * (top - len(counts))
        columns[f"stated {name}"] = [f"{x:g}%" for x in counts.index] + pad
        columns[f"{name} (%)"] = [f"{100 * c / len(v):.1f}" for c in counts] + pad
    out = pd.DataFrame(columns)
    return out[(out.drop(columns="rank") != "").any(axis=1)].reset_index(drop=True)
