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

# %% tags=["parameters"]
run_dir = 'runs/default'  # Run folder: reads stage1.parquet, writes pairs.jsonl and pairs_stats.json.
target = 'c_i'  # Which internal confidence the chosen reply states: 'c_i' (full-vocabulary softmax probability of the emitted letter, the primary choice) or 'c_i_norm' (renormalised over the option letters).
correct_only = False  # Keep only questions the model answered correctly (the paper keeps wrong answers).
min_gap = 0.0  # Drop pairs whose numbers differ by less than this many points, |C_v - round(C_i)| < min_gap. Pairs with equal numbers are always dropped.

# %%
import dca

print(f"dca {dca.__version__}; run folder: {run_dir}")

# %% [markdown]
# ## Exercise
#
# ```{exercise-start}
# :label: ex-chosen-response
# ```
#
# The model replied `"The answer is B.\nAnswer: B\nProbability: 95%"` and its internal confidence
# in B is $C_i = 41.6$. Write the chosen response of the pair.
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
