"""What the results chapter and the landing page show: tables and sentences built from result rows.

Every number the book prints about the reference experiment comes from here, computed from the
committed ``book/data/reference_results.csv`` (:mod:`dca.reference_results`) — never typed. The
chapter notebooks call these functions; their cells are removed from the rendered page.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dca.config import StageConfig
from dca.metrics import METRICS
from dca.paths import ROOT

PAPER_KEYS = ("rho", "sigma_eps", "mean_abs_eps", "sigma_m", "accuracy")
CALIBRATION_KEYS = ("mean_eps", "ece_verbal", "ece_internal", "brier_verbal", "brier_internal",
                    "auroc_verbal", "auroc_internal")
DATASET_TITLES = {"openbookqa": "OpenBookQA", "mmlu": "MMLU", "arc_challenge": "ARC-Challenge",
                  "arc_easy": "ARC-Easy", "commonsenseqa": "CommonsenseQA", "truthfulqa": "TruthfulQA",
                  "cosmosqa": "CosmosQA", "mean": "mean of the datasets"}
METHOD_TITLES = {"vanilla": "vanilla (no training)", "dca": "DCA (DPO)", "sft": "SFT on the chosen replies",
                 "constant": "constant: mean training C_i", "isotonic": "post-hoc isotonic map C_v → C_i",
                 "say_ci": "say round(C_i) (ceiling)"}


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


def math_label(label: str) -> str:
    """A registry label ready for a Markdown table cell (a bare ``|`` would end the cell).

    >>> math_label(r"mean $|\\varepsilon|$")
    'mean $\\\\vert \\\\varepsilon\\\\vert $'
    """
    return label.replace("|", r"\vert ")


def math_text(text: str) -> str:
    """Plain ``C_i``, ``C_v`` and ``C_i^norm`` in a job's description, typeset for Markdown; the rest of
    the text (it comes from a results file) is escaped by :func:`markdown_text`.

    >>> math_text("target C_i^norm (default C_i)")
    'target $C_i^{norm}$ \\\\(default $C_i$\\\\)'
    """
    pattern = re.compile(r"\bC_([iv])(\^norm)?\b")
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [markdown_text(text[last:m.start()]), f"$C_{m[1]}{'^{norm}' if m[2] else ''}$"]
        last = m.end()
    return "".join(out) + markdown_text(text[last:])


#: ASCII punctuation: CommonMark (and MyST) let a backslash make any of it a literal character.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_text(value: Any) -> str:
    """A string from data (a results file, a dataset or model name, a question) as Markdown that shows
    it literally: every ASCII punctuation character backslash-escaped, so ``<script>``, ``<svg ...>``,
    a MyST role (``{glue:text}`x```), ``$`` math, a link or emphasis stay text, and a ``|`` does not
    end a table cell; line breaks (which would end a table row) become spaces.

    >>> print(markdown_text("<b>x</b> | {glue:text}`y`"))
    \\<b\\>x\\<\\/b\\> \\| \\{glue\\:text\\}\\`y\\`
    """
    return _PUNCTUATION.sub(r"\\\1", re.sub(r"\s+", " ", str(value)))


def markdown_table(frame: pd.DataFrame, markup: Iterable[str] = ()) -> str:
    """``frame`` as a Markdown table whose cells are escaped by :func:`markdown_text`, except the
    columns named in ``markup`` (Markdown this module wrote: math labels). The headers are ours."""
    markup = set(markup)
    shown = frame.copy()
    for column in shown.columns:
        if column not in markup:
            shown[column] = [markdown_text(v) for v in shown[column]]
    return shown.to_markdown(index=False, disable_numparse=True)


def fmt(value: float, key: str) -> str:
    """A metric value with the digits its unit deserves (pp: 2, %: 1, else 3); ``undefined`` for NaN.

    >>> fmt(12.345, "sigma_eps"), fmt(61.25, "accuracy"), fmt(0.4231, "rho"), fmt(-0.0001, "rho")
    ('12.35', '61.2', '0.423', '0.000')
    >>> fmt(float("nan"), "rho")
    'undefined'
    """
    unit = METRICS[key].unit if key in METRICS else "%" if key in EXTRA_LABELS else ""
    digits = 2 if unit == "pp" else 1 if unit == "%" else 3
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def label(key: str) -> str:
    """The metric's label for a table (its registry label, or the key)."""
    return math_label(METRICS[key].label) if key in METRICS else key


def mean_sd(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and count of the finite values.

    >>> mean_sd([1.0, 2.0, 3.0])
    (2.0, 1.0, 3)
    >>> mean_sd([4.0, float("nan")])[1:]
    (nan, 1)
    """
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan, 0
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan, int(arr.size)


def pm(values: Iterable[float], key: str) -> str:
    """``mean ± sd`` over seeds (just the value for one seed).

    >>> pm([10.0, 12.0, 14.0], "sigma_eps"), pm([0.5], "rho")
    ('12.00 ± 2.00', '0.500')
    """
    m, s, n = mean_sd(values)
    if n == 0:
        return "—"
    return fmt(m, key) if n == 1 or math.isnan(s) else f"{fmt(m, key)} ± {fmt(s, key)}"


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


def direction(diff: float, key: str) -> str:
    """``better``, ``worse`` or ``rose``/``fell`` (for metrics with no better direction) for one change.

    >>> direction(-2.0, "sigma_eps"), direction(0.1, "rho"), direction(-1.0, "mean_eps")
    ('better', 'better', 'fell')
    """
    if not np.isfinite(diff) or diff == 0:
        return "no change"
    better = METRICS[key].higher_is_better if key in METRICS else None
    if better is None:
        return "rose" if diff > 0 else "fell"
    return "better" if (diff > 0) == bool(better) else "worse"


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


EXTRA_LABELS = {"distinct_cv": "distinct C_v", "top_cv_share": "most common C_v (%)",
                "letter_changed": "letter changed (%)", "parse_rate": "parsed (%)",
                "accuracy_all": "accuracy, all (%)"}


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


def results_card(results: pd.DataFrame, questions: pd.DataFrame, figure: Any) -> str:
    """The landing page's results card (MyST Markdown) and its figure, written to ``figure`` (a path).

    Model, data and sizes; the stated-confidence histograms before and after; the before → after
    mean over datasets beside the paper's three models; and the verdict sentence.
    """
    if rows_of(results, kind="seed").empty:
        return ("```{admonition} Results\n:class: note\nThe reference experiment has not been run yet: "
                "`make reference` runs it and `python -m dca.reference collect` writes its results.\n```\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dca.plots import BOOK_DPI, MIN_FONT_PT, plot_confidence_histograms, use_book_style

    from dca.book.html import model_title

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
    paper_path = ROOT / "book" / "data" / "paper_results.csv"
    if paper_path.exists():
        paper = pd.read_csv(paper_path, comment="#")
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


def this_build_note(profile: str, model: str, comparison: pd.DataFrame, constant: dict[str, float] | None,
                    c_v_before: Iterable[float], c_v_after: Iterable[float], reference_verdict: str) -> str:
    r"""How this build's own run relates to the reference verdict (the landing page, under the card):
    its mean |ε| and ρ in the book's words (:func:`change_word`), whether its stated numbers collapsed
    (:func:`collapse_sentence`), and whether it tells the reference's story or too small a run to say.

    >>> t = pd.DataFrame([{"metric": "mean_abs_eps", "before": 20.7, "after": 17.2, "diff": -3.5, "diff_low": -5.0,
    ...                    "diff_high": -2.0, "higher_is_better": False}, {"metric": "rho", "before": 0.18,
    ...                    "after": 0.02, "diff": -0.16, "diff_low": -0.4, "diff_high": 0.1, "higher_is_better": True}])
    >>> print(this_build_note("default", "qwen", t, {"mean_abs_eps": 16.0}, [48] * 9 + [70], [48] * 10,
    ...                       "DCA did not do what the paper hopes for here: ..."))  # doctest: +NORMALIZE_WHITESPACE
    **This build's own run** (profile `default`, model `qwen`, 10 paired held-out questions; chapters 1–5):
    mean $|\varepsilon|$ fell from 20.70 to 17.20 points: no clear change (the paired interval excludes zero,
    but the constant baseline reaches 16.00); Spearman ρ 0.180 → 0.020: no clear change. The stated numbers
    were already collapsed before training (2 distinct numbers, the most common on 90 % of the questions)
    and still are after it (1 distinct, the most common on 100 %). Like the reference experiment, this run
    shows no change the book calls better (a paired interval excluding 0 on the good side, and the
    constant baseline beaten).
    """
    rho = comparison[comparison["metric"] == "rho"]
    rho_text = "could not be computed"
    if len(rho):
        r = rho.iloc[0]
        rho_text = (f"{fmt(float(r['before']), 'rho')} → {fmt(float(r['after']), 'rho')}: "
                    + change_word(float(r["diff"]), float(r["diff_low"]), float(r["diff_high"]), True))
    before, after = list(c_v_before), list(c_v_after)
    n = len(after)
    mae = moved(comparison, "mean_abs_eps", constant)
    words = [change_word(float(r.diff), float(r.diff_low), float(r.diff_high), r.higher_is_better,
                         beats_constant(comparison, constant).get(r.metric))
             for r in comparison.itertuples() if r.metric in ("mean_abs_eps", "rho")]
    gained = bool(words) and all(w == "better" for w in words)
    reference_worked = reference_verdict.startswith("DCA worked")
    if gained == reference_worked:
        tail = ("Like the reference experiment, this run " + ("shows DCA working." if gained else
                "shows no change the book calls better (a paired interval excluding 0 on the good side, and "
                "the constant baseline beaten)."))
    else:
        tail = ("Unlike the reference experiment's seeds, this one small run " + ("shows a gain; one run of this "
                "size is not evidence against the seeds." if gained else "shows no clear gain; one run of this "
                "size is not evidence against the seeds."))
    return (f"**This build's own run** (profile `{profile}`, model `{model}`, {n} paired held-out questions; "
            f"chapters 1–5): mean $|\\varepsilon|$ {mae}; Spearman ρ {rho_text}. "
            f"{collapse_sentence(stated_counts(before), stated_counts(after))} {tail}")


def glue_all(values: dict[str, Any]) -> None:
    """Glue every ``name: value`` for the prose (``{glue:text}`name```), shown nowhere else."""
    from myst_nb import glue

    for name, v in values.items():
        glue(name, v, display=False)


def training_summary(log: list[dict[str, Any]]) -> dict[str, float]:
    """The training chapter's figures from TRL's log history: steps, first and last loss, the last
    step's reward margin and reward accuracy (%), and the training time in minutes.

    >>> training_summary([{"step": 1, "loss": 0.69, "rewards/margins": 0.0, "rewards/accuracies": 0.0},
    ...                   {"step": 2, "loss": 0.5, "rewards/margins": 0.3, "rewards/accuracies": 0.75},
    ...                   {"train_runtime": 90.0}])
    {'n_steps': 2, 'loss_first': 0.69, 'loss_last': 0.5, 'margin_last': 0.3, 'acc_last': 75.0, 'train_minutes': 1.5}
    """
    steps = [row for row in log if "loss" in row]
    if not steps:
        raise ValueError("the training log has no step with a loss; run the training notebook (03) first")
    first, last = steps[0], steps[-1]
    final = next((row for row in log if "train_runtime" in row), {})
    return {
        "n_steps": int(max(row.get("step", 0) for row in steps)),
        "loss_first": float(first["loss"]),
        "loss_last": float(last["loss"]),
        "margin_last": float(last.get("rewards/margins", math.nan)),
        "acc_last": float(100 * last.get("rewards/accuracies", math.nan)),
        "train_minutes": float(final.get("train_runtime", math.nan)) / 60,
    }


def heldout_summary(log: list[dict[str, Any]]) -> str:
    """One sentence on the held-out pairs' DPO loss during training (TRL's ``eval_*`` rows).

    >>> heldout_summary([{"step": 0, "eval_loss": 0.6931, "eval_rewards/accuracies": 0.0},
    ...                  {"step": 4, "eval_loss": 0.52, "eval_rewards/accuracies": 0.75}])
    'On the held-out pairs, never trained on, the loss went from 0.6931 before the first step to 0.5200 at step 4, and the chosen reply had the higher implicit reward in 75 % of them.'
    >>> heldout_summary([{"step": 1, "loss": 0.69}])
    'No held-out pairs were measured in this run (heldout_pairs = 0).'
    """
    rows = [row for row in log if "eval_loss" in row]
    if not rows:
        return "No held-out pairs were measured in this run (heldout_pairs = 0)."
    first, last = rows[0], rows[-1]
    start = "before the first step" if int(first.get("step", 0)) == 0 else f"at step {int(first['step'])}"
    return (f"On the held-out pairs, never trained on, the loss went from {first['eval_loss']:.4f} {start} "
            f"to {last['eval_loss']:.4f} at step {int(last['step'])}, and the chosen reply had the higher "
            f"implicit reward in {100 * last.get('eval_rewards/accuracies', math.nan):.0f} % of them.")


# --------------------------------------------------------------------------------------------
# The results chapter of one run (05_results)


#: The book's one rule for a collapse of the stated numbers: at most this many distinct values ...
COLLAPSE_MAX_DISTINCT = 3
#: ... or the most common value stated for at least this share (%) of the questions.
COLLAPSE_TOP_SHARE = 60.0


def stated_counts(c_v: Iterable[float]) -> tuple[int, float]:
    """How many distinct stated numbers there are, and the share (%) of the most common one
    (NaN values, unparsed replies, left out).

    >>> stated_counts([48.0, 48.0, 70.0, float("nan"), 48.0])
    (2, 75.0)
    >>> stated_counts([])
    (0, nan)
    """
    values = pd.Series(np.asarray(list(c_v), dtype=float)).dropna()
    if values.empty:
        return 0, math.nan
    return int(values.nunique()), float(100.0 * values.value_counts().iloc[0] / len(values))


def is_collapsed(distinct: float, top_share: float) -> bool:
    """The book's rule, from the counts: a collapse when at most :data:`COLLAPSE_MAX_DISTINCT` distinct
    numbers are stated or the most common one covers :data:`COLLAPSE_TOP_SHARE` % or more.

    >>> is_collapsed(2, 89.0), is_collapsed(12, 61.0), is_collapsed(12, 40.0)
    (True, True, False)
    """
    return bool(distinct <= COLLAPSE_MAX_DISTINCT or (not math.isnan(top_share) and top_share >= COLLAPSE_TOP_SHARE))


def collapsed(c_v: Iterable[float]) -> bool:
    """Whether the stated numbers ``c_v`` have collapsed: (nearly) one number whatever the question.

    Every page and exercise solution of the book uses this one function (through
    :func:`collapse_sentence` where it speaks), so "collapse" means the same thing everywhere.

    >>> collapsed([48.0] * 9 + [70.0]), collapsed([10.0, 20.0, 30.0, 40.0, 50.0])
    (True, False)
    """
    return is_collapsed(*stated_counts(c_v))


def collapse_sentence(before: tuple[float, float], after: tuple[float, float], *, unit: str = "") -> str:
    """One sentence on the stated numbers before and after training, from ``(distinct, top share %)``
    each: whether they collapsed, and whether that was already so before training.

    >>> collapse_sentence((2, 89.0), (9, 70.0))
    'The stated numbers were already collapsed before training (2 distinct numbers, the most common on 89 % of the questions) and still are after it (9 distinct, the most common on 70 %).'
    >>> collapse_sentence((12, 30.0), (2, 95.0))
    'Training collapsed the stated numbers: 12 distinct numbers before (the most common on 30 % of the questions), 2 after (the most common on 95 %).'
    >>> collapse_sentence((12, 30.0), (10, 35.0), unit=" per dataset")
    'The stated numbers did not collapse: 12 distinct numbers before (the most common on 30 % of the questions), 10 after (the most common on 35 %), per dataset.'
    """
    (k_b, t_b), (k_a, t_a) = before, after
    c_b, c_a = is_collapsed(k_b, t_b), is_collapsed(k_a, t_a)
    b = f"{k_b:.0f} distinct numbers before (the most common on {t_b:.0f} % of the questions)"
    a = f"{k_a:.0f} after (the most common on {t_a:.0f} %)"
    where = f",{unit}" if unit else ""
    if c_b and c_a:
        return (f"The stated numbers were already collapsed before training ({k_b:.0f} distinct numbers, the most "
                f"common on {t_b:.0f} % of the questions{where}) and still are after it ({k_a:.0f} distinct, the "
                f"most common on {t_a:.0f} %).")
    if c_a:
        return f"Training collapsed the stated numbers: {b}, {a}{where}."
    if c_b:
        return f"Training undid a collapse of the stated numbers: {b}, {a}{where}."
    return f"The stated numbers did not collapse: {b}, {a}{where}."


def change_word(diff: float, low: float, high: float, higher_is_better: bool | None,
                beats_constant: bool | None = None) -> str:
    """The book's one word for a change after − before: ``better``, ``worse`` or ``no clear change``.

    *better* only when the paired 95 % interval ``[low, high]`` excludes 0 on the metric's good side
    **and** the trained model beats the constant baseline on that metric (``beats_constant``; ``None``
    where the metric has no such baseline, e.g. ρ). *worse* when the interval excludes 0 on the bad
    side. Metrics with no better direction (``higher_is_better`` None) say ``rose`` or ``fell``.

    >>> change_word(-2.0, -3.0, -1.0, False), change_word(0.5, -0.1, 1.0, True)
    ('better', 'no clear change')
    >>> change_word(-3.5, -5.0, -2.0, False, beats_constant=False)
    'no clear change'
    >>> change_word(-0.16, -0.3, -0.05, True), change_word(1.0, 0.5, 2.0, None)
    ('worse', 'rose')
    >>> change_word(float("nan"), float("nan"), 1.0, True)
    'undefined'
    """
    if math.isnan(low) or math.isnan(high):
        return "undefined"
    if low <= 0 <= high:
        return "no clear change"
    if higher_is_better is None:
        return "rose" if diff > 0 else "fell"
    if (diff > 0) != bool(higher_is_better):
        return "worse"
    return "no clear change" if beats_constant is False else "better"


def interval_change(diff: float, low: float, high: float, higher_is_better: bool | None,
                    beats_constant: bool | None = None) -> str:
    """:func:`change_word` (the name the chapters used first).

    >>> interval_change(-2.0, -3.0, -1.0, False), interval_change(float("nan"), float("nan"), 1.0, True)
    ('better', 'undefined')
    """
    return change_word(diff, low, high, higher_is_better, beats_constant)


def beats_constant(comparison: pd.DataFrame, constant: dict[str, float] | None) -> dict[str, bool | None]:
    """Per metric of ``comparison`` (:func:`dca.bootstrap.paired_table`): whether the value after
    training beats the constant baseline's (:func:`dca.baselines.constant_summary`), for the
    metrics it has (σ_ε, mean |ε|, lower is better); ``None`` for the others.

    >>> t = pd.DataFrame({"metric": ["mean_abs_eps", "rho"], "after": [17.2, 0.02]})
    >>> beats_constant(t, {"mean_abs_eps": 16.0, "sigma_eps": 20.0})
    {'mean_abs_eps': False, 'rho': None}
    """
    out: dict[str, bool | None] = {}
    for row in comparison.itertuples():
        base = (constant or {}).get(row.metric)
        out[row.metric] = None if base is None or math.isnan(float(base)) else bool(float(row.after) < float(base))
    return out


def stated_text(response: str, start: float | None = None, end: float | None = None) -> str:
    """What a reply states as its confidence: the line holding the parsed number (``cv_start``/``cv_end``
    of the stage-1 table), or the line with "Probability"; ``(no number)`` when there is none.

    >>> stated_text("Answer: B\\nProbability: 48%", 21, 23)
    'Probability: 48%'
    >>> stated_text("Answer: B")
    '(no number)'
    """
    response = str(response or "")
    if start is not None and not pd.isna(start):
        begin = response.rfind("\n", 0, int(start)) + 1
        stop = response.find("\n", int(end if end is not None and not pd.isna(end) else start))
        return response[begin:stop if stop >= 0 else None].strip() or "(no number)"
    line = next((ln for ln in response.splitlines() if "probab" in ln.lower()), "")
    return line.strip() or "(no number)"


def stated_strings(*tables: tuple[str, pd.DataFrame], top: int = 5) -> pd.DataFrame:
    """The most common stated strings (:func:`stated_text`) of each ``(name, replies table)`` and their
    shares (%) of that table's replies, side by side: one row per rank.

    >>> t = pd.DataFrame({"response": ["Probability: 48%", "Probability: 48%", "Probability: 70%"]})
    >>> stated_strings(("before", t), top=2).to_dict("records")
    [{'rank': 1, 'before': 'Probability: 48%', 'before (%)': '66.7'}, {'rank': 2, 'before': 'Probability: 70%', 'before (%)': '33.3'}]
    """
    columns: dict[str, list[str]] = {"rank": list(range(1, top + 1))}
    for name, table in tables:
        texts = pd.Series([stated_text(r.response, getattr(r, "cv_start", None), getattr(r, "cv_end", None))
                           for r in table.itertuples()], dtype=object)
        counts = texts.value_counts().head(top)
        shares = [f"{100 * c / len(texts):.1f}" for c in counts]
        columns[name] = list(counts.index) + [""] * (top - len(counts))
        columns[f"{name} (%)"] = shares + [""] * (top - len(counts))
    out = pd.DataFrame(columns)
    filled = [c for c in out.columns if c != "rank"]
    return out[(out[filled] != "").any(axis=1)].reset_index(drop=True)


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


def replies_side_by_side(before: pd.DataFrame, after: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    """The first ``n`` held-out questions that both tables hold, with the reply before and after
    training side by side (question cut to 90 characters, replies on one line).

    >>> b = pd.DataFrame({"id": ["q1"], "question": ["Why?"], "response": ["Answer: A\\nProbability: 80%"]})
    >>> a = pd.DataFrame({"id": ["q1"], "response": ["Answer: A\\nProbability: 48%"]})
    >>> replies_side_by_side(b, a).to_dict("records")
    [{'question': 'Why?', 'reply before training': 'Answer: A · Probability: 80%', 'reply after training': 'Answer: A · Probability: 48%'}]
    """
    def one_line(text: Any) -> str:
        return " · ".join(part.strip() for part in str(text).splitlines() if part.strip())

    a = after.set_index("id")
    rows = []
    for row in before.itertuples():
        if row.id not in a.index:
            continue
        question = str(getattr(row, "question", "") or _question_of(getattr(row, "prompt", "")))
        rows.append({"question": question if len(question) <= 90 else question[:89] + "…",
                     "reply before training": one_line(row.response),
                     "reply after training": one_line(a.at[row.id, "response"])})
        if len(rows) == n:
            break
    return pd.DataFrame(rows, columns=["question", "reply before training", "reply after training"])


def _question_of(prompt: Any) -> str:
    """The last question of a prompt (the text after its last "Question:"), on one line."""
    text = str(prompt or "")
    tail = text.rsplit("Question:", 1)[-1]
    return " ".join(tail.split("\n")[0].split())


def comparison_markdown(comparison: pd.DataFrame, constant: dict[str, float] | None = None) -> str:
    """:func:`dca.bootstrap.paired_table` as the chapter's Markdown table: each metric, which way is
    better, before, after, the difference with its paired 95 % interval in one cell, and the book's
    word for the change (:func:`change_word`, against the ``constant`` baseline where it has the metric)."""
    wins = beats_constant(comparison, constant)
    shown = pd.DataFrame({
        "metric": [math_label(x) for x in comparison["label"]],
        "better": [{True: "higher", False: "lower", None: "—"}[h] for h in comparison["higher_is_better"]],
        "before": [fmt(v, k) for v, k in zip(comparison["before"], comparison["metric"])],
        "after": [fmt(v, k) for v, k in zip(comparison["after"], comparison["metric"])],
        "after − before [95 % interval]": [f"{fmt(d, k)} [{fmt(lo, k)}, {fmt(hi, k)}]" for d, lo, hi, k in
                                           zip(comparison["diff"], comparison["diff_low"], comparison["diff_high"],
                                               comparison["metric"])],
        "change": [change_word(r.diff, r.diff_low, r.diff_high, r.higher_is_better, wins.get(r.metric))
                   for r in comparison.itertuples()],
        "source": comparison["source"],
    })
    return markdown_table(shown, markup=["metric"])


def moved(comparison: pd.DataFrame, key: str, constant: dict[str, float] | None = None) -> str:
    """A clause saying how one metric moved, and the book's word for it (:func:`change_word`).

    >>> table = pd.DataFrame([{"metric": "sigma_eps", "before": 30.0, "after": 20.0, "diff": -10.0,
    ...                        "diff_low": -12.0, "diff_high": -8.0, "higher_is_better": False}])
    >>> moved(table, "sigma_eps")
    'fell from 30.00 to 20.00 points: better (the paired interval excludes zero)'
    >>> moved(table, "sigma_eps", {"sigma_eps": 15.0})
    'fell from 30.00 to 20.00 points: no clear change (the paired interval excludes zero, but the constant baseline reaches 15.00)'
    """
    rows = comparison[comparison["metric"] == key]
    if rows.empty or math.isnan(float(rows["diff"].iloc[0])):
        return "could not be computed"
    row = rows.iloc[0]
    way = "fell" if row["diff"] < 0 else "rose" if row["diff"] > 0 else "did not change"
    higher = row["higher_is_better"] if "higher_is_better" in row else (METRICS[key].higher_is_better if key in METRICS else None)
    wins = beats_constant(rows, constant).get(key)
    word = change_word(float(row["diff"]), float(row["diff_low"]), float(row["diff_high"]), higher, wins)
    sure = ("the paired interval excludes zero" if not row["diff_low"] <= 0 <= row["diff_high"]
            else "the paired interval includes zero")
    if wins is False and sure.endswith("excludes zero"):
        sure += f", but the constant baseline reaches {float(constant[key]):.2f}"  # type: ignore[index]
    return f"{way} from {row['before']:.2f} to {row['after']:.2f} points: {word} ({sure})"


def evaluation_summary(result: dict[str, Any], comparison: pd.DataFrame,
                       constant: dict[str, float] | None = None) -> dict[str, Any]:
    """The results chapter's figures for the prose: held-out and paired counts, parse rates and
    accuracy before and after (%), and how σ_ε and mean |ε| moved (against the ``constant`` baseline)."""
    return {
        "r_n_eval": int(result["n_eval"]),
        "r_n_paired": int(result["n_paired"]),
        "r_parse_before": float(100 * result["parse_rate"]["before"]),
        "r_parse_after": float(100 * result["parse_rate"]["after"]),
        "r_acc_before": float(result["accuracy_all"]["before"]),
        "r_acc_after": float(result["accuracy_all"]["after"]),
        "r_sigma_sentence": moved(comparison, "sigma_eps", constant),
        "r_mae_sentence": moved(comparison, "mean_abs_eps", constant),
    }


def store_markdown(store: pd.DataFrame,
                   keys: Iterable[str] = ("accuracy", "rho", "sigma_eps", "mean_abs_eps", "sigma_m")) -> str:
    """Every run of the results store as Markdown: one table of where each run comes from (model, data,
    profile, commit, date) and one of its paper metrics, ``vanilla → DCA``, each narrow enough for
    the page."""
    if store.empty:
        return "*No results in the store yet.*"
    keys = list(keys)
    wide = store[store["metric"].isin(keys)].pivot_table(
        index=["run", "model", "dataset", "profile", "n", "commit", "date", "source"],
        columns=["metric", "method"], values="value", aggfunc="first")
    cells = {math_label(METRICS[k].label): [f"{v:.2f} → {d:.2f}" for v, d in zip(wide[(k, "vanilla")], wide[(k, "dca")])]
             for k in keys if (k, "vanilla") in wide and (k, "dca") in wide}
    runs = pd.DataFrame(cells, index=wide.index).reset_index()
    runs["commit"] = runs["commit"].astype(str).str[:8]
    # two tables of few columns, so that both fit the page: where each run comes from, then its metrics
    where = runs[["run", "model", "dataset", "profile", "n", "commit", "date", "source"]]
    metrics = runs[["run", *cells]]
    return (markdown_table(where) + "\n\nTheir metrics of the paper, vanilla → DCA:\n\n" + markdown_table(metrics))

