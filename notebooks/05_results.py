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
run_dir = "runs/default"

# %%
import dca

print(f"dca {dca.__version__}; run folder: {run_dir}")
