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
# (chapter-pairs)=
# # Preference pairs: say what you believe
#
# DCA turns each training question into one DPO preference pair. The *rejected* response is the
# model's own reply, with its verbalized confidence $C_v$; the *chosen* response is the identical
# text with the number replaced by $\operatorname{round}(C_i)$. Nothing else differs, so the only
# thing DPO can learn from the pair is to state its internal confidence. This notebook runs stage 2
# (`dca.pairs`) on the stage-1 table in the run folder.

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
run_dir = 'runs/default'  # Run folder: reads stage1.parquet, writes pairs.jsonl and pairs_stats.json.
target = 'c_i'  # Which internal confidence the chosen reply states: 'c_i' (full-vocabulary softmax probability of the emitted letter, the primary choice) or 'c_i_norm' (renormalised over the option letters).
correct_only = False  # Keep only questions the model answered correctly (the paper keeps wrong answers).
min_gap = 0.0  # Drop pairs whose numbers differ by less than this many points, |C_v - round(C_i)| < min_gap (0 to 100). Pairs with equal numbers are always dropped.
distractors = []  # Beyond the paper: offsets in points (comma-separated, e.g. 20,40) of extra rejected replies per training question, the chosen reply with round(C_i) +- each offset (clipped to 0..100; a number equal to the chosen one or to the model's own is skipped). They teach which number, not only 'not this one'. Empty (the paper): only the model's own reply is rejected. The held-out pairs never get distractors.

# %%
from dca.runs.artifacts import enter_repo_root

enter_repo_root()  # opened in Jupyter from notebooks/: work from the repository root, as papermill does

import dca.pairs
from dca.pairs import PairsConfig, load_pairs

config = PairsConfig.from_namespace(globals())
pairs_path = dca.pairs.run(config)  # reads run_dir/stage1.parquet (notebook 01 writes it)
print(pairs_path)

# %% [markdown]
# ## What was kept, and why not
#
# Only training questions make pairs (the held-out ones are kept for {ref}`chapter-results`). A
# question gives no pair when its reply did not parse, when both numbers are equal after rounding
# (nothing to prefer), and — only if asked — when the answer was wrong or the two numbers are closer
# than `min_gap`. The paper keeps wrong answers, and so do we by default: DCA aligns what the model
# says with what it computes, right or wrong.

# %%
import json

import pandas as pd

from dca.runs import artifacts
from dca.report import glue_all

run = artifacts.RunFolder(config.run_dir)
stats = artifacts.read_json(run.pairs_stats)
explain = {
    "rows": "rows of the stage-1 table",
    "used": "training questions (split == 'train')",
    "dropped_unparsed": "reply did not parse: no letter or no number",
    "dropped_wrong": "wrong answer (only with correct_only=True)",
    "dropped_equal": "C_v equals round(C_i): no preference",
    "dropped_gap": "|C_v - round(C_i)| < min_gap",
    "kept": "preference pairs written to pairs.jsonl",
}
counts = pd.DataFrame({"count": pd.Series(stats), "meaning": pd.Series(explain)}).loc[list(explain)]
glue_all({f"pairs_{key}": int(value) for key, value in stats.items()})
counts

# %% [markdown]
# Of the {glue:text}`pairs_used` training questions, {glue:text}`pairs_kept` became pairs;
# {glue:text}`pairs_dropped_unparsed` were dropped because the reply did not parse and
# {glue:text}`pairs_dropped_equal` because the stated number already equalled the internal one.
#
# ## One pair, side by side
#
# Both responses follow the same prompt (the system message, the worked examples and the
# question, exactly as in stage 1). The *rejected* response is what the model wrote; the *chosen*
# one is the same text with the number replaced by the rounded internal confidence, written in the
# model's own notation (a percentage stays a percentage).

# %%
pairs = load_pairs(config.run_dir)
record = pairs[0]
side = pd.DataFrame({
    "chosen (states round(C_i))": [record["chosen"][0]["content"], f"{record['c_i_target']:g}"],
    "rejected (the model's own reply)": [record["rejected"][0]["content"], f"{record['c_v']:g}"],
}, index=["response", "stated confidence (%)"])
print("last prompt message:\n" + record["prompt"][-1]["content"] + "\n")
print(f"question {record['id']}, answered {'correctly' if record['correct'] else 'wrongly'}")
side.style.set_properties(**{"white-space": "pre-wrap", "font-family": "monospace"})

# %% [markdown]
# ## What DPO actually sees
#
# DPO compares the log-probabilities of the two *token sequences*. `dca.pairs.token_diff` tokenises
# both full conversations with the model's chat template and finds the longest common prefix and
# suffix: everything in between is the only place where the two sequences differ.

# %%
from dca.models.loading import load_tokenizer
from dca.pairs import token_diff

stage1_model = artifacts.RunFolder(config.run_dir).stage1_params()["model"]
tokenizer = load_tokenizer(stage1_model)
diff = token_diff(tokenizer, record)
glue_all({"diff_prefix": diff["prefix"], "diff_chosen_tokens": diff["chosen_len"] - diff["prefix"] - diff["suffix"],
          "diff_rejected_tokens": diff["rejected_len"] - diff["prefix"] - diff["suffix"], "diff_suffix": diff["suffix"]})
pd.DataFrame({"chosen": [diff["chosen_len"], repr(diff["chosen_middle"])],
              "rejected": [diff["rejected_len"], repr(diff["rejected_middle"])]},
             index=["tokens in the conversation", "differing tokens, decoded"])

# %% [markdown]
# The two conversations share their first {glue:text}`diff_prefix` tokens and their last
# {glue:text}`diff_suffix` tokens; they differ in {glue:text}`diff_chosen_tokens` token(s) of the
# chosen and {glue:text}`diff_rejected_tokens` of the rejected one — the number. Every gradient of
# the DPO loss therefore flows through the number's tokens alone.
#
# Over all pairs, the stated numbers and the internal targets:

# %%
frame = pd.DataFrame([{k: r[k] for k in ("id", "c_v", "c_i_target", "correct")} for r in pairs])
frame["gap"] = frame["c_v"] - frame["c_i_target"]
glue_all({"mean_gap": float(frame["gap"].mean()) if len(frame) else float("nan")})
frame.describe().loc[["count", "mean", "min", "50%", "max"]].round(1)

# %% [markdown]
# On average the rejected (stated) number exceeds the chosen (internal) one by
# {glue:text}`mean_gap:.1f` points: training pushes the stated confidence towards the internal one
# by that much.

# %% [markdown]
# ## Exercises
#
# ```{exercise-start} Write a chosen response
# :label: ex-chosen-response
# ```
#
# *Objective:* state exactly what a preference pair changes in a reply. *Time:* ~5 min
#
# The model replied `"The answer is B.\nAnswer: B\nProbability: 95%"` and its internal confidence
# in B is $C_i = 41.6$. Write the chosen response of the pair, as the string `chosen`.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-chosen-response
# :class: dropdown
# ```

# %% tags=["solution"]
import re

rejected = "The answer is B.\nAnswer: B\nProbability: 95%"
chosen = re.sub(r"(Probability:\s*)\d+(?:\.\d+)?%", lambda m: f"{m.group(1)}{round(41.6)}%", rejected)
print(chosen)

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_chosen_response(globals())

# %% [markdown]
# ```{exercise-start} Rebuild a pair from the stage-1 table
# :label: ex-pair-by-hand
# ```
#
# *Objective:* rebuild one pair from the stage-1 columns, and so know what `dca.pairs` does.
# *Time:* ~15 min
#
# Take the first row of this run's stage-1 table (`dca.extract.stage.load_stage1(run_dir)`) whose split is
# `train`, whose reply parsed and whose `c_i` is known. Build its chosen response by hand, as the
# string `by_hand`, from the columns `response`, `cv_start`, `cv_end`, `cv_scale` and `c_i` (round
# half up), and check that it equals the chosen response of the pair with the same `id`, when that
# pair was kept.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-pair-by-hand
# :class: dropdown
# ```

# %% tags=["solution"]
import math

from dca.extract.stage import load_stage1

stage1 = load_stage1(run_dir)
row = stage1[(stage1["split"] == "train") & stage1["parse_ok"] & stage1["c_i"].notna()].iloc[0]
number = math.floor(row["c_i"] + 0.5)
if row["cv_scale"] == 100:
    text = str(number)
else:
    text = f"{number / 100:.2f}"
by_hand = row["response"][:int(row["cv_start"])] + text + row["response"][int(row["cv_end"]):]
kept = {r["id"]: r for r in pairs}
print(repr(by_hand))
if row["id"] in kept:
    print("matches the pair:", by_hand == kept[row["id"]]["chosen"][0]["content"])
else:
    print("this question gave no pair (see the counts above)")

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks
from dca.extract.stage import load_stage1

checks.ex_pair_by_hand(globals(), stage1=load_stage1(run_dir), pairs=pairs)
