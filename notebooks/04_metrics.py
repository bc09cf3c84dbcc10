# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (chapter-metrics)=
# # Measuring alignment
#
# DCA does not ask whether a confidence matches accuracy; it asks whether the stated confidence
# $C_v$ matches the internal one $C_i$. For each evaluated question $j$ the calibration error, in
# percentage points, is
#
# $$
# \varepsilon_j = C_{v,j} - C_{i,j} .
# $$
#
# The paper {cite:p}`zhang2025dca` introduces three summaries of $\varepsilon$ over the $N$
# evaluated questions, none of them binned, all *lower is better*:
#
# $$
# \begin{aligned}
# \sigma_\varepsilon &= \sqrt{\frac{1}{N-1}\sum_{j=1}^{N} (\varepsilon_j - \bar\varepsilon)^2}, \\
# \overline{|\varepsilon|} &= \frac{1}{N}\sum_{j=1}^{N} |\varepsilon_j|, \\
# \sigma_M &= \frac{\sigma_\varepsilon}{\sqrt{N}} .
# \end{aligned}
# $$
#
# - $\sigma_\varepsilon$, the spread of the gap: a model whose stated confidence is always 20 points
#   above its internal confidence has $\sigma_\varepsilon = 0$, since a constant offset is
#   consistent and easy to read off. We use $N - 1$ in the denominator (the paper does not say).
# - $\overline{|\varepsilon|}$, the typical size of the gap, offset included.
# - $\sigma_M$, the standard error of the mean gap: $\sigma_\varepsilon$ shrunk by $\sqrt{N}$, so it
#   also falls with more questions — compare it only between runs of equal $N$.
#
# It also reports Spearman's rank correlation $\rho$ between $C_v$ and $C_i$
# {cite:p}`kumar2024confidence` (higher is better: does the model state a higher number when it
# computes a higher probability?) and the accuracy. Beyond the paper, and labelled so, we report
# the signed mean gap $\bar\varepsilon$ (over- or under-statement), the expected calibration error,
# Brier score and AUROC of each confidence against correctness {cite:p}`guo2017calibration`, and a
# 95 % percentile-bootstrap interval on every number.

# %% tags=["remove-cell"]
# In Colab or Binder this notebook first installs its package, `dca`. Where `dca` is installed (a
# local checkout after `make setup`, the book's build) this cell does nothing.
DCA_REPOSITORY = ""  # git URL of this repository (the same as repository.url in _config.yml)
import importlib.util

if importlib.util.find_spec("dca") is None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    checkout = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "dca" / "__init__.py").is_file()), None)
    if checkout is None:  # Colab: the notebook came alone; fetch its repository
        if not DCA_REPOSITORY:
            raise RuntimeError("set DCA_REPOSITORY in this cell to the git URL of the repository this notebook came from")
        subprocess.run(["git", "clone", "--depth", "1", DCA_REPOSITORY, "dca-book"], check=True)
        checkout = Path("dca-book").resolve()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(checkout)], check=True)
    sys.path.insert(0, str(checkout))  # this kernel started before the install
    os.chdir(checkout)  # the notebooks work from the repository root

# %% tags=["parameters"]
run_dir = 'runs/default'  # run folder to read (relative to the repository root)
n_boot = 1000  # bootstrap resamples for the 95 % intervals
seed = 0  # seed of the bootstrap

# %%
from dca.runs.artifacts import enter_repo_root

enter_repo_root()  # opened in Jupyter from notebooks/: work from the repository root, as papermill does

from dca.evaluate.bootstrap import MetricsChapterConfig

config = MetricsChapterConfig.from_namespace(globals())

# %% [markdown]
# ## The metric registry
#
# Every metric lives in one registry, `dca.evaluate.metrics.METRICS`, which records its formula label, unit,
# direction and source; `dca.evaluate.metrics.compute` evaluates all of them. The table below is printed from
# that registry, so it cannot drift from the code.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown

from dca.evaluate.bootstrap import summary_table
from dca.evaluate.metrics import METRICS, compute
from dca.report.plots import plot_reliability, use_book_style
from dca.report import better_side, fmt, glue_all, math_label

use_book_style()

registry = pd.DataFrame([{
    "metric": info.name.replace("|", r"\|"), "formula": math_label(info.label), "unit": info.unit or "—",
    "better": better_side(info.higher_is_better), "source": info.source, "what it measures": info.description,
} for info in METRICS.values()])
Markdown(registry.to_markdown(index=False, disable_numparse=True))

# %% [markdown]
# ECE, Brier score and AUROC compare a confidence with *correctness*, not with the other
# confidence: they show whether DCA, by moving $C_v$ towards $C_i$, makes the stated confidence more
# or less useful as a predictor of being right. Their 10-bin ECE uses the bins of
# `dca.evaluate.metrics.bin_index` (0 % in the first bin, 100 % in the last; no hidden extra bin).
#
# ## The metrics of this run, before training
#
# The held-out questions of the run (stage-1 rows with `split == "eval"`, disjoint from the
# questions the pairs were built from) whose replies parsed, as the base model answered them.
# {ref}`chapter-results` reports the same table after training, with paired intervals.

# %%
from dca.extract.stage import load_stage1

stage1 = load_stage1(config.run_dir)
held_out = stage1[stage1["split"] == "eval"]
rows = held_out[held_out["parse_ok"] & held_out["c_i"].notna()]
c_v, c_i, correct = (rows["c_v"].to_numpy(float), rows["c_i"].to_numpy(float), rows["correct"].to_numpy(bool))
table = summary_table(c_v, c_i, correct, n_boot=config.n_boot, seed=config.seed)
glue_all({"m_n": int(len(rows)), "m_n_held_out": int(len(held_out)), "m_n_boot": int(config.n_boot)})

# fmt (dca.report.fmt): each metric with the digits its unit deserves, "undefined" for NaN
shown = pd.DataFrame({
    "metric": [math_label(label) for label in table["label"]],
    "value": [fmt(v, key) for v, key in zip(table["value"], table["metric"])],
    "95 % interval": ["—" if np.isnan(lo) else f"[{fmt(lo, key)}, {fmt(hi, key)}]"
                      for lo, hi, key in zip(table["low"], table["high"], table["metric"])],
    "unit": [u or "—" for u in table["unit"]],
    "source": table["source"],
    "note": table["note"].replace("", "—"),
})
glue_all({f"m_{row.metric}{end}": float(getattr(row, column)) for row in table.itertuples()
          for end, column in (("", "value"), ("_low", "low"), ("_high", "high"))})
Markdown(shown.to_markdown(index=False, disable_numparse=True))

# %% [markdown]
# On these {glue:text}`m_n` questions (of {glue:text}`m_n_held_out` held out; intervals from
# {glue:text}`m_n_boot` bootstrap resamples of the questions) the base model's stated confidence
# misses its internal one by {glue:text}`m_mean_abs_eps:.1f` points on average (95 % interval
# {glue:text}`m_mean_abs_eps_low:.1f` to {glue:text}`m_mean_abs_eps_high:.1f`), with a spread
# $\sigma_\varepsilon$ of {glue:text}`m_sigma_eps:.1f` points and $\sigma_M$ of
# {glue:text}`m_sigma_m:.2f`. The signed mean gap $\bar\varepsilon$ is {glue:text}`m_mean_eps:.1f`
# points: positive means the model states more confidence than it computes. With a few dozen
# questions the intervals are wide; a metric the data cannot define (for example $\rho$ when one
# confidence is constant, AUROC when every answer is wrong) is reported as undefined, with the
# reason, never as a number.
#
# ## Reliability, before training
#
# The reliability diagram puts the same questions in ten confidence bins and shows the accuracy in
# each, for both confidences. Bars on the dashed diagonal would mean the confidence is calibrated
# against correctness; the number above each bar is its count of questions.

# %% tags=["hide-input"] mystnb={"image": {"alt": "Reliability diagram of the held-out questions before training: accuracy in each 10-point confidence bin for C_v and for C_i, against the diagonal of perfect calibration, with each one's ECE."}}
with sns.axes_style("whitegrid"):
    fig, ax = plt.subplots(figsize=(4.8, 4.4), layout="constrained")
plot_reliability(ax, c_v, correct, label="$C_v$", slot=0, n_slots=2)
plot_reliability(ax, c_i, correct, label="$C_i$", slot=1, n_slots=2)
ax.set_title("Held-out questions, before training")
plt.show()

# %% [markdown]
# ## Exercises
#
# ```{exercise-start} The paper's metrics by hand
# :label: ex-sigma-m-run
# ```
#
# *Objective:* compute the paper's three alignment metrics from their formulas, and see how
# $\sigma_M$ depends on $N$. *Time:* ~10 min
#
# From this run's held-out rows (`c_v`, `c_i` above), compute $\varepsilon$, then
# $\sigma_\varepsilon$, $\overline{|\varepsilon|}$ and $\sigma_M$ by hand with numpy, as
# `sigma_eps`, `mean_abs_eps` and `sigma_m`, and compare them with `dca.evaluate.metrics.compute`. What would
# $\sigma_M$ be if the run had four times as many held-out questions with the same spread
# (`sigma_m_4x`)?
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-sigma-m-run
# :class: dropdown
# ```

# %% tags=["solution"]
eps = c_v - c_i
sigma_eps = eps.std(ddof=1)
mean_abs_eps = np.abs(eps).mean()
sigma_m = sigma_eps / np.sqrt(eps.size)
library = compute(c_v, c_i, correct)
for key, value in {"sigma_eps": sigma_eps, "mean_abs_eps": mean_abs_eps, "sigma_m": sigma_m}.items():
    print(f"{key:>12}: by hand {value:.4f}, dca.evaluate.metrics {library[key]:.4f}")
sigma_m_4x = sigma_eps / np.sqrt(4 * eps.size)  # sigma_M scales as 1/sqrt(N): it halves
print(f"Four times the questions, same spread: sigma_M = {sigma_m_4x:.4f}, half of {sigma_m:.4f}.")

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_sigma_m_run(globals(), c_v=c_v, c_i=c_i)

# %% [markdown]
# ```{exercise-start} Metrics of a known offset
# :label: ex-metrics-by-hand
# ```
#
# *Objective:* tell a constant offset from a spread: which metric sees which. *Time:* ~15 min
#
# Draw 200 synthetic pairs with $C_i \sim U(0, 100)$ and $C_v = \min(100, C_i + 20 + \eta)$,
# $\eta \sim N(0, 10^2)$, from `rng = np.random.default_rng(seed)` (the notebook's `seed`): first
# the 200 values of $C_i$, then the 200 of $\eta$. Compute $\sigma_\varepsilon$,
# $\overline{|\varepsilon|}$ and $\sigma_M$ with numpy, as `synthetic_sigma_eps`,
# `synthetic_mean_abs_eps` and `synthetic_sigma_m`, and plot the histogram of $\varepsilon$. Which
# of the three sees the offset of 20 points?
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-metrics-by-hand
# :class: dropdown
# ```

# %% tags=["solution"] mystnb={"image": {"alt": "Histogram of the gap C_v minus C_i for a synthetic model that states its C_i plus 20 points: the gaps sit around +20."}}
import matplotlib.pyplot as plt
import numpy as np

rng = np.random.default_rng(seed)
synthetic_c_i = rng.uniform(0, 100, 200)
synthetic_c_v = np.minimum(100, synthetic_c_i + 20 + rng.normal(0, 10, 200))
synthetic_eps = synthetic_c_v - synthetic_c_i
synthetic_sigma_eps = synthetic_eps.std(ddof=1)
synthetic_mean_abs_eps = np.abs(synthetic_eps).mean()
synthetic_sigma_m = synthetic_sigma_eps / np.sqrt(synthetic_eps.size)
print(f"sigma_eps = {synthetic_sigma_eps:.2f}, mean|eps| = {synthetic_mean_abs_eps:.2f}, "
      f"sigma_M = {synthetic_sigma_m:.2f}: only mean|eps| sees the offset of 20 points")
fig, ax = plt.subplots(figsize=(4.8, 3))
ax.hist(synthetic_eps, bins=20)
ax.set_xlabel(r"$\varepsilon = C_v - C_i$ (percentage points)")
ax.set_ylabel("questions")
plt.show()

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_metrics_by_hand(globals(), seed=seed)
