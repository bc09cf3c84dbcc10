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
# (chapter-results)=
# # Results: before and after DCA
#
# Stage 4 (`dca.evaluate.stage`) regenerates the held-out responses with the trained adapter, recomputes
# both confidences from the trained model and reports the metrics of {ref}`chapter-metrics` before
# and after, beside the paper's numbers (labelled as the paper's) and every run in the results store.

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
run_dir = 'runs/default'  # folder holding every artifact of the run
n_boot = 1000  # bootstrap resamples for the 95 % intervals (at most 1000000)
seed = 0  # seed of the bootstrap
batch_size = 32  # prompts per generation / forward batch (at most 4096)
device = 'auto'  # auto (cuda if available) | cpu | cuda | cuda:N
dtype = 'auto'  # auto (bf16 on CUDA and on CPUs with AMX or AVX512-BF16, else fp32) | float32 | bfloat16
results_store = 'runs/results.csv'  # CSV the tidy result rows are appended to (the results chapter reads it)
profile = ''  # profile name recorded with the results (set by the CLI/book)
answer_with = 'adapter'  # adapter (the trained model writes the whole reply) | base (a confidence adapter: the base model's reply up to the number, so its answers and C_i, and the number from the adapter)
readout = 'greedy'  # greedy (the number the model writes) | expected (the mean of the numbers 0-100 weighted by the probability the model gives each after 'Probability:', rounded to a whole number)

# %%
from dca.runs.artifacts import enter_repo_root

enter_repo_root()  # opened in Jupyter from notebooks/: work from the repository root, as papermill does

from dca import evaluate
from dca.evaluate.stage import EvalConfig, load_metrics

config = EvalConfig.from_namespace(globals())
metrics_path = evaluate.run(config, progress=False)  # needs run_dir/adapter (notebook 03 writes it)
print(metrics_path)

# %% [markdown]
# The evaluation loads the adapter on the base model, asks the held-out questions again with the
# same prompt and reply length as stage 1, and recomputes *both* confidences from the trained
# model. The comparison uses the questions whose replies parsed both before and after, so both
# columns describe the same questions; the difference of each metric gets a *paired* bootstrap
# interval (the same resampled questions before and after).

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown

from dca.runs import artifacts
from dca.evaluate.bootstrap import paired_table
from dca.evaluate.stage import load_eval, paired_rows
from dca.extract.stage import load_stage1
from dca.evaluate.metrics import epsilon
from dca.pairs import load_pairs
from dca.report.plots import panels, plot_confidence_histograms, plot_eps_distribution, use_book_style
from dca import report
from dca.evaluate.baselines import constant_summary
from dca.report import (
    collapse_sentence, comparison_markdown, evaluation_summary, glue_all, markdown_table, replies_side_by_side,
    stated_counts, stated_strings, store_markdown,
)
from dca.runs.results import read_all
from dca.train.stage import read_train_log

use_book_style()
result = load_metrics(config.run_dir)
comparison = paired_table(result["paired"])
paired = {row.metric: row for row in comparison.itertuples()}
before_all = load_stage1(config.run_dir)  # the untrained model's replies (stage 1)
constant = constant_summary(before_all)  # the baseline a lower sigma_eps is read against
# the trained model's stated numbers on the paired questions: the collapse rule comes before "better"
c_v_after = paired_rows(before_all[before_all["split"] == "eval"], load_eval(config.run_dir))[1]["c_v"]

# %% tags=["remove-cell"]
glue_all(evaluation_summary(result, comparison, constant, c_v_after))
glue_all({"collapse_k": report.COLLAPSE_MAX_DISTINCT, "collapse_share": f"{report.COLLAPSE_TOP_SHARE:.0f}"})
from dca.report.study_answer import recorded_protocol, three_protocols

glue_all({"protocols": three_protocols(recorded_protocol(config.run_dir))})
glue_all({"r_const_cv": constant["c_v"], "r_const_sigma": constant["sigma_eps"], "r_const_mae": constant["mean_abs_eps"]})

# %% [markdown]
# ## Before and after, on {glue:text}`r_n_paired` held-out questions
#
# Of the {glue:text}`r_n_eval` held-out questions, {glue:text}`r_parse_before:.1f` % of the replies
# parsed before training and {glue:text}`r_parse_after:.1f` % after; the table compares the
# {glue:text}`r_n_paired` questions that parsed in both. *change* says whether the paired 95 %
# interval of the difference excludes zero, and whether the change goes the metric's better way:
# the book calls a change *better* only when the interval excludes zero on the good side **and** the
# trained model also beats the constant baseline below (for $\sigma_\varepsilon$ and
# $\overline{|\varepsilon|}$, the metrics it has) **and** its stated numbers have not *collapsed*: at
# most {glue:text}`collapse_k` distinct numbers, or the most common one on {glue:text}`collapse_share` %
# of the questions or more (a model that states one number on most questions can shrink a gap without
# following its confidence; every page applies this rule first). Otherwise *no clear change*.
# Accuracy over all held-out questions (an unparsed reply counts as wrong) went from
# {glue:text}`r_acc_before:.1f` % to {glue:text}`r_acc_after:.1f` %.

# %% tags=["remove-input"]
Markdown(comparison_markdown(comparison, constant, c_v_after))

# %% [markdown]
# In this run, the spread of the gap $\sigma_\varepsilon$ {glue:text}`r_sigma_sentence`, and the
# mean absolute gap $\overline{|\varepsilon|}$ {glue:text}`r_mae_sentence`. Read these beside a
# model that states one number, the mean training $C_i$ ({glue:text}`r_const_cv:.1f` %), for every
# question: on the same held-out questions its $\sigma_\varepsilon$ is
# {glue:text}`r_const_sigma:.2f` and its $\overline{|\varepsilon|}$ {glue:text}`r_const_mae:.2f`
# (a lower $\sigma_\varepsilon$ alone can come from such a collapse; {ref}`chapter-does-dca-work`
# compares DCA with this and other baselines over several seeds).
#
# ## What moved
#
# The histograms compare the two confidences before and after training, on the paired questions.
# DCA should move $C_v$ (what the model says); $C_i$ moves too, because the adapter changes the
# whole model, not only the number it writes.

# %% tags=["hide-input", "dca-panels"] mystnb={"image": {"alt": "Two histograms before and after training, on the paired held-out questions: the share of questions in each 10-point bin of the stated confidence C_v (first panel) and of the internal confidence C_i (second panel)."}}
before, after = paired_rows(before_all[before_all["split"] == "eval"], load_eval(config.run_dir))
axes = panels(2)
plot_confidence_histograms(axes[0], before["c_v"], after["c_v"], quantity="c_v")
plot_confidence_histograms(axes[1], before["c_i"], after["c_i"], quantity="c_i")
axes[0].set_title("verbalized $C_v$")
axes[1].set_title("internal $C_i$")
plt.show()

# %% [markdown]
# The distribution of the gap $\varepsilon = C_v - C_i$ itself: DCA aims at a narrow distribution
# centred on zero. A narrower but shifted distribution (smaller $\sigma_\varepsilon$, larger
# $\overline{|\varepsilon|}$) is the systematic offset the paper reports for Llama and Mistral.

# %% tags=["hide-input"] mystnb={"image": {"alt": "Histogram of the gap C_v minus C_i on the paired held-out questions, before and after training, with zero marked."}}
with sns.axes_style("whitegrid"):
    fig, ax = plt.subplots(figsize=(4.8, 3.6), layout="constrained")
plot_eps_distribution(ax, epsilon(before["c_v"], before["c_i"]), epsilon(after["c_v"], after["c_i"]))
ax.set_title(r"$\varepsilon = C_v - C_i$ on the paired held-out questions")
plt.show()

# %% [markdown]
# ## What the model writes
#
# The numbers above summarise replies. Here are the replies themselves: the same held-out questions,
# the untrained model's reply (stage 1) beside the trained model's.

# %% tags=["remove-input"]
held_before = before_all[before_all["split"] == "eval"]
after_all = load_eval(config.run_dir)
Markdown(markdown_table(replies_side_by_side(held_before, after_all, n=6)))

# %% tags=["remove-cell"]
# the book's one rule (dca.report.collapsed), on the stated numbers of every parsed held-out reply
glue_all({"o_collapse": collapse_sentence(stated_counts(held_before["c_v"]), stated_counts(after_all["c_v"]))})

# %% [markdown]
# The stated strings that occur most often among all held-out replies, before and after training,
# with their shares (%) of the replies. Counting the parsed numbers alone:
# {glue:text}`o_collapse`

# %% tags=["remove-input"]
Markdown(markdown_table(stated_strings(("before training", held_before), ("after training", after_all))))

# %% [markdown]
# ## Beside the paper
#
# The paper's numbers, our reference experiment over several seeds, and baselines and ablations the
# paper does not have are in {ref}`chapter-does-dca-work`. {glue:text}`protocols` This run's place there:

# %% tags=["remove-cell"]
stage1_provenance = artifacts.RunFolder(config.run_dir).provenance("stage1")
train_log = read_train_log(config.run_dir)
n_pairs = len(load_pairs(config.run_dir))
n_steps = max((row.get("step", 0) for row in train_log), default=0)
stage1_params = stage1_provenance.get("params", {})
glue_all({"o_model": str(stage1_params.get("model", "?")), "o_dataset": str(stage1_params.get("dataset", "?")),
          "o_device": str(stage1_provenance.get("device", "?")),
          "o_dtype": str(stage1_provenance.get("dtype", "?")).replace("torch.", ""),
          "o_pairs": int(n_pairs), "o_steps": int(n_steps)})

# %% [markdown]
# This build trained model {glue:text}`o_model` on questions from {glue:text}`o_dataset`, with
# {glue:text}`o_pairs` pairs for {glue:text}`o_steps` optimiser steps on a {glue:text}`o_device`
# device in {glue:text}`o_dtype`, and compares {glue:text}`r_n_paired` held-out questions. The paper
# trains 3–9B models on thousands of pairs on GPUs and evaluates about 900 questions per dataset: a
# single run of this size is a demonstration of the method end to end, with wide intervals, not a
# replication of the paper's numbers. The same table fills with numbers comparable to the paper's at
# paper scale ({ref}`paper-scale`).
#
# ## Every run in the results store
#
# Each evaluation appends one tidy row per (run, method, metric) to the results store, with its
# model, dataset, seed, profile, commit and date; `method` is `vanilla` before training and the
# objective the run trained after it (`dca`, or `sft`, `rpo-num` ... as the objectives study names them), and a
# run on several datasets has rows per dataset and for their mean beside the pooled ones. Contributed
# result files in `results/` are read as well. The paper's metrics, vanilla → after training, for
# every run found:

# %% tags=["remove-input"]
store = read_all(config.results_store)
glue_all({"o_n_runs": int(store["run"].nunique()) if not store.empty else 0})
Markdown(store_markdown(store))

# %% [markdown]
# The store holds {glue:text}`o_n_runs` run(s). Rows from runs with other profiles (for instance a
# GPU run at paper scale) appear here once their evaluation has been run against the same store.

# %% [markdown]
# ## Exercises
#
# ```{exercise-start} Who moved?
# :label: ex-who-moved
# ```
#
# *Objective:* read a paired comparison question by question, not only as a mean. *Time:* ~10 min
#
# On the paired held-out questions (`before` and `after` above), for how many questions did the
# absolute gap $|\varepsilon|$ shrink (`n_shrank`), and for how many did it grow (`n_grew`)? Then
# recompute the change in $\overline{|\varepsilon|}$ by hand (after − before, `mean_abs_change`)
# and compare it with the *after − before* column of the table.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-who-moved
# :class: dropdown
# ```

# %% tags=["solution"]
gap_before = np.abs(before["c_v"].to_numpy() - before["c_i"].to_numpy())
gap_after = np.abs(after["c_v"].to_numpy() - after["c_i"].to_numpy())
n_shrank, n_grew = int((gap_after < gap_before).sum()), int((gap_after > gap_before).sum())
mean_abs_change = gap_after.mean() - gap_before.mean()
print(f"|eps| shrank for {n_shrank} and grew for {n_grew} of {len(gap_before)} questions")
print(f"change in mean|eps| by hand: {mean_abs_change:.2f}; table: {paired['mean_abs_eps'].diff:.2f}")

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_who_moved(globals(), before=before, after=after)

# %% [markdown]
# ```{exercise-start} Did the stated confidence collapse?
# :label: ex-collapse
# ```
#
# *Objective:* tell, from the histograms, a model that learnt to track $C_i$ from one that states
# the same number for every question. *Time:* ~15 min
#
# Look at the histograms of $C_v$ before and after training above. Did the
# stated confidence *collapse*, the model now stating (nearly) the same number whatever the
# question? Decide first from the figure, then back your decision with numbers: the share (%) of
# the paired questions whose stated $C_v$ equals its most common value, before and after
# (`top_share_before`, `top_share_after`). The book calls it a collapse when at most
# {glue:text}`collapse_k` distinct numbers remain or the most common one covers
# {glue:text}`collapse_share` % or more (`dca.report.collapsed`, the rule every page uses); set
# `collapsed` to `True` or `False`, and say whether it was already so before training.
# In `collapse_answer`, say in two or three sentences what you see, and what a collapse would mean
# for reading a smaller $\sigma_\varepsilon$ or $\overline{|\varepsilon|}$ after training.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-collapse
# :class: dropdown
# ```

# %% tags=["solution"]
from dca import report

top_share_before = 100 * before["c_v"].value_counts().iloc[0] / len(before) if len(before) else float("nan")
top_share_after = 100 * after["c_v"].value_counts().iloc[0] / len(after) if len(after) else float("nan")
distinct_after = after["c_v"].nunique()
collapsed = report.collapsed(after["c_v"])  # the book's one rule (dca.report.collapsed)
print(f"most common C_v: {top_share_before:.0f} % of the answers before, {top_share_after:.0f} % after; "
      f"{before['c_v'].nunique()} distinct numbers before, {distinct_after} after: "
      f"{'a collapse' if collapsed else 'no collapse'}")
collapse_answer = (
    report.collapse_sentence(report.stated_counts(before["c_v"]), report.stated_counts(after["c_v"]))
    + " When the model "
    "states one number for every question, a smaller gap only means that number is close to the typical "
    "C_i: sigma_eps then equals the spread of C_i itself, and the stated number no longer tracks anything.")

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_collapse(globals(), before=before, after=after)

# %% [markdown]
# ```{exercise-start} The constant baseline
# :label: ex-constant-baseline
# ```
#
# *Objective:* judge DCA against the simplest rival, a number that ignores the question.
# *Time:* ~20 min
#
# The *constant* baseline states, for every question, the mean $C_i$ of the training questions
# whose reply parsed (the rows of `before_all` with `split == "train"`), as `constant_cv`; it needs
# no training. On the paired held-out questions, compute its $\overline{|\varepsilon|}$ and
# $\sigma_\varepsilon$ against the untrained model's $C_i$ (`before`), as `constant_mean_abs_eps`
# and `constant_sigma_eps`, and DCA's own on the same questions (`after`), as `dca_mean_abs_eps` and
# `dca_sigma_eps`. Does the constant have the smaller $\overline{|\varepsilon|}$
# (`constant_wins`)? Explain in `constant_answer` what the comparison says about what DCA learnt
# (hint: what is $\sigma_\varepsilon$ of a constant?). {ref}`chapter-does-dca-work` makes the same
# comparison over several seeds.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-constant-baseline
# :class: dropdown
# ```

# %% tags=["solution"]
from dca import report

train_rows = before_all[(before_all["split"] == "train") & before_all["parse_ok"]
                        & before_all["c_i"].notna() & before_all["c_v"].notna()]
constant_cv = float(train_rows["c_i"].mean())
eps_constant = constant_cv - before["c_i"].to_numpy(float)
eps_dca = after["c_v"].to_numpy(float) - after["c_i"].to_numpy(float)
constant_mean_abs_eps, constant_sigma_eps = np.abs(eps_constant).mean(), eps_constant.std(ddof=1)
dca_mean_abs_eps, dca_sigma_eps = np.abs(eps_dca).mean(), eps_dca.std(ddof=1)
constant_wins = bool(constant_mean_abs_eps < dca_mean_abs_eps)
mae_row = paired["mean_abs_eps"]  # the table's row: diff and its paired interval
word = report.change_word(mae_row.diff, mae_row.diff_low, mae_row.diff_high, False,
                          beats_constant=not constant_wins,
                          collapsed=report.collapsed(after["c_v"]))  # the book's one word for the change
print(f"constant {constant_cv:.1f} %: mean|eps| {constant_mean_abs_eps:.2f}, sigma_eps {constant_sigma_eps:.2f}; "
      f"DCA: mean|eps| {dca_mean_abs_eps:.2f}, sigma_eps {dca_sigma_eps:.2f}")
constant_answer = (
    f"The constant's sigma_eps is the spread of C_i itself ({constant_sigma_eps:.1f} points): a method only "
    "shows that its stated number tracks the internal confidence when it beats that. Here the constant "
    f"{'beats' if constant_wins else 'does not beat'} DCA on mean |eps| ({constant_mean_abs_eps:.2f} against "
    f"{dca_mean_abs_eps:.2f}), and the change of DCA's mean |eps| is, in the book's word, '{word}': "
    f"{'DCA has not shown more than learning the typical C_i' if word != 'better' else 'DCA beat the typical C_i and its interval excludes zero'}"
    " on these questions; with few questions, compare with the seeds of the next chapter before concluding.")
print(constant_answer)

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_constant_baseline(globals(), train=before_all[before_all["split"] == "train"], before=before,
                            after=after)
