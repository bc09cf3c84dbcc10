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
# Stage 4 (`dca.evaluate`) regenerates the held-out responses with the trained adapter, recomputes
# both confidences from the trained model and reports the metrics of {ref}`chapter-metrics` before
# and after, beside the paper's numbers (labelled as the paper's) and every run in the results store.

# %% tags=["parameters"]
run_dir = 'runs/default'  # folder holding every artifact of the run
n_boot = 1000  # bootstrap resamples for the 95 % intervals
seed = 0  # seed of the bootstrap
batch_size = 16  # prompts per generation / forward batch
device = 'auto'  # auto (cuda if available) | cpu | cuda | cuda:N
dtype = 'auto'  # auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16
results_store = 'runs/results.csv'  # CSV the tidy result rows are appended to (the results chapter reads it)
profile = ''  # profile name recorded with the results (set by the CLI/book)

# %%
import dca

print(f"dca {dca.__version__}; run folder: {run_dir}")
