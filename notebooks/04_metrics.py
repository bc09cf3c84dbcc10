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
# For each evaluated question $j$ the calibration error, in percentage points, is
# $\varepsilon_j = C_{v,j} - C_{i,j}$. The paper's three metrics (lower is better) are the standard
# deviation $\sigma_\varepsilon$, the mean absolute error and the standard error of the mean:
#
# $$
# \sigma_\varepsilon = \sqrt{\frac{1}{N-1}\sum_{j=1}^{N} (\varepsilon_j - \bar\varepsilon)^2}, \qquad
# \overline{|\varepsilon|} = \frac{1}{N}\sum_{j=1}^{N} |\varepsilon_j|, \qquad
# \sigma_M = \frac{\sigma_\varepsilon}{\sqrt{N}}.
# $$

# %% tags=["parameters"]
run_dir = 'runs/default'  # run folder to read (relative to the repository root)
n_boot = 1000  # bootstrap resamples for the 95 % intervals
seed = 0  # seed of the bootstrap

# %%
import dca

print(f"dca {dca.__version__}; run folder: {run_dir}; {n_boot} bootstrap resamples, seed {seed}")

# %% [markdown]
# ## Exercise
#
# ```{exercise-start}
# :label: ex-metrics-by-hand
# ```
#
# Draw 200 synthetic pairs with $C_i \sim U(0, 100)$ and $C_v = \min(100, C_i + 20 + \eta)$,
# $\eta \sim N(0, 10^2)$, using the notebook's `seed`. Compute $\sigma_\varepsilon$,
# $\overline{|\varepsilon|}$ and $\sigma_M$ with numpy and plot the histogram of $\varepsilon$.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-metrics-by-hand
# :class: dropdown
# ```

# %% tags=["solution"]
import matplotlib.pyplot as plt
import numpy as np

rng = np.random.default_rng(seed)
c_i = rng.uniform(0, 100, 200)
c_v = np.minimum(100, c_i + 20 + rng.normal(0, 10, 200))
eps = c_v - c_i
sigma_eps = eps.std(ddof=1)
print(f"sigma_eps = {sigma_eps:.2f}, mean|eps| = {np.abs(eps).mean():.2f}, "
      f"sigma_M = {sigma_eps / np.sqrt(eps.size):.2f}")
fig, ax = plt.subplots(figsize=(5, 3))
ax.hist(eps, bins=20)
ax.set_xlabel(r"$\varepsilon = C_v - C_i$ (percentage points)")
ax.set_ylabel("questions")
plt.show()

# %% [markdown]
# ```{solution-end}
# ```
