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
# (chapter-training)=
# # Training with Direct Preference Optimization
#
# Stage 3 (`dca.train`) fine-tunes a LoRA adapter with DPO on the preference pairs. The reference
# policy is the base model (the adapter switched off). For a pair $(x, y_w, y_l)$ the DPO loss is
#
# $$
# \mathcal{L}_\text{DPO} = -\log \sigma\left(\beta \log \frac{\pi_\theta(y_w \mid x)}{\pi_\text{ref}(y_w \mid x)}
#   - \beta \log \frac{\pi_\theta(y_l \mid x)}{\pi_\text{ref}(y_l \mid x)}\right).
# $$

# %% tags=["parameters"]
run_dir = 'runs/default'  # Run folder: reads pairs.jsonl; writes adapter/, checkpoints/, train_log.jsonl, train_config.json.
model = 'embedded'  # Base model: 'embedded' (SmolLM2-135M-Instruct), a Hub id or a local folder. Must be the model that produced the stage-1 responses.
beta = 0.1  # DPO beta: how far the policy may move from the reference (higher = less). For IPO it is the regulariser tau.
loss_type = 'sigmoid'  # 'sigmoid' (DPO, the paper's choice), 'ipo' (one secondary source says IPO was used) or 'hinge' (SLiC).
lora_r = 16  # LoRA rank.
lora_alpha = 32  # LoRA scaling alpha (scale = alpha / r).
lora_dropout = 0.05  # Dropout on the LoRA branch. Active during training: TRL's disable_dropout is turned off here so that this value is honoured.
target_modules = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']  # Module names that get a LoRA adapter (comma-separated on the command line); default all linear projections of attention and MLP.
learning_rate = 0.0002  # Peak learning rate (AdamW). CPU default 2e-4 for ~200 pairs; paper-scale GPU runs use 5e-6 to 2e-5.
lr_scheduler = 'cosine'  # Learning-rate schedule after the warm-up.
warmup_ratio = 0.1  # Fraction of the optimiser steps spent warming up linearly, in [0, 1).
epochs = 3.0  # Passes over the pairs (ignored when max_steps > 0).
batch_size = 8  # Pairs per device per forward pass.
grad_accum = 1  # Gradient-accumulation steps; effective batch = batch_size x grad_accum x processes.
max_length = 512  # Longest prompt + reply in tokens; longer ones are truncated at the end, and pairs whose prompt alone fills it are dropped by TRL.
max_steps = -1  # Stop after this many optimiser steps; -1 = run all epochs.
seed = 0  # Seed of the LoRA initialisation, data order and dropout.
precision = 'auto'  # 'auto' = bf16 on CUDA, fp32 elsewhere. bf16/fp16 load the base weights in that type and train with autocast; the LoRA weights stay fp32.
precompute_ref = False  # Compute the reference log-probabilities once before training (TRL's precompute_ref_log_probs) instead of an adapter-off forward at every step. Single process only.
save_steps = 10  # Write a resumable checkpoint every this many optimiser steps.
logging_steps = 1  # Record loss, rewards and learning rate every this many steps.
resume = True  # Resume from the last checkpoint in run_dir/checkpoints when one exists for the same parameters.
gradient_checkpointing = False  # Recompute activations in the backward pass: less memory, ~30% slower. Useful for the 7-9B models on one GPU.

# %%
import dca

print(f"dca {dca.__version__}; run folder: {run_dir}")
