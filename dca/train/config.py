"""The parameters of stage 3 (DPO + LoRA): :class:`TrainConfig`, its checks and the adapter's fingerprint.

The stage itself (:func:`dca.train.stage.run`) lives in :mod:`dca.train.stage`, which re-exports this class; the
config is here so that reading or checking parameters needs none of the training code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from dca.config import SEED, ConfigError, StageConfig, at_most, check_model, in_range, positive
from dca.runs import artifacts

__all__ = ["ALL_LINEAR", "DPO_ONLY", "MIN_EPOCHS", "TrainConfig"]

#: The linear layers of a decoder block LoRA adapts by default (the attention and MLP projections).
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
#: The smallest fraction of a pass over the pairs ``epochs`` may ask for (below it: a typo such as 1e-300).
MIN_EPOCHS = 0.01
#: The parameters only DPO reads: SFT (``method="sft"``) refuses them away from their defaults, since
#: they would change the adapter's fingerprint and the job's label but not its training.
DPO_ONLY = ("beta", "loss_type", "sft_weight", "dpop_lambda", "precompute_ref", "init_adapter")


@dataclasses.dataclass(frozen=True)
class TrainConfig(StageConfig):
    """Parameters of stage 3 (DPO + LoRA); the papermill parameters of notebook 03.

    The defaults are the CPU set for the embedded SmolLM2-135M: one epoch in steps of 4 pairs (the
    default run's ~94 pairs in under 3 minutes on 2 cores with 3-shot prompts and the shared-prefix
    forward); the GPU set (beta 0.1, lr 5e-6 to 2e-5, effective batch 16, bf16) lives in profile "paper".
    """

    stage = "train"

    run_dir: str = dataclasses.field(
        default="runs/default",
        metadata={"help": "Run folder: reads pairs.jsonl; writes adapter/, checkpoints/, train_log.jsonl, "
                          "train_config.json."})
    model: str = dataclasses.field(
        default="embedded",
        metadata={"help": "Base model: 'embedded' (SmolLM2-135M-Instruct), a Hub id or a local folder. Must be "
                          "the model that produced the stage-1 responses."})
    beta: float = dataclasses.field(
        default=0.1,
        metadata={"help": "DPO beta: how far the policy may move from the reference (higher: less). For IPO it "
                          "is the regulariser tau. At most 10."})
    loss_type: Literal["sigmoid", "ipo", "hinge", "apo_zero", "dpop"] = dataclasses.field(
        default="sigmoid",
        metadata={"help": "'sigmoid' (DPO, the paper's choice), 'ipo' (one secondary source says IPO was used), "
                          "'hinge' (SLiC); beyond the paper, for pairs that differ in one number: 'apo_zero' "
                          "(APO-zero: raises the chosen reply's likelihood and lowers the rejected one's, each "
                          "against the reference) or 'dpop' (DPO-Positive: DPO with a penalty, weighted by "
                          "dpop_lambda, whenever the chosen reply becomes less likely than under the reference)."})
    sft_weight: float = dataclasses.field(
        default=0.0,
        metadata={"help": "Weight of the chosen reply's negative log-likelihood (per token) added to the "
                          "preference loss: RPO (DPO + NLL) when > 0. 0 (the paper): the preference loss alone. "
                          "At most 100."})
    dpop_lambda: float = dataclasses.field(
        default=50.0,
        metadata={"help": "DPOP's lambda (with the dpop loss): how strongly a fall of log p(chosen) below the "
                          "reference's is penalised inside the sigmoid (the DPOP paper uses 50). At most 1000."})
    loss_tokens: Literal["reply", "number"] = dataclasses.field(
        default="reply",
        metadata={"help": "Which reply tokens the loss sees. 'reply' (the paper): the whole reply, answer letter "
                          "included. 'number' (beyond the paper): only the stated number onwards; the start both "
                          "replies of a pair share ('Answer: B\\nProbability:') moves into the prompt. Sigmoid DPO "
                          "cancels those shared tokens anyway; a likelihood term (SFT, RPO's sft_weight, APO, "
                          "DPOP) trains them, which sharpens the answer letter's probability, the internal "
                          "confidence C_i the pairs target. Needs a chat template that renders a reply's turn "
                          "as the opened turn followed by the reply (Qwen, SmolLM2, Llama do)."})
    answer_kl_weight: float = dataclasses.field(
        default=0.0,
        metadata={"help": "Beyond the paper, only for SFT whose loss sees the number (method sft, loss_tokens "
                          "number): weight of a term that holds the answer letter's next-token distribution to "
                          "the reference model's (the KL divergence at the letter's position, "
                          "dca.train.answer_anchor), so that training the number moves neither the answer nor "
                          "C_i. 0: no such term. At most 1000."})
    answer_kl_span: Literal["letter", "line"] = dataclasses.field(
        default="letter",
        metadata={"help": "With answer_kl_weight > 0, which positions the term holds. 'letter': the answer "
                          "letter's alone. 'line': every fixed token of the reply's start that the loss does not "
                          "see (the letter, the line break, 'Probability:'), the KL divergences summed over them."})
    init_adapter: str = dataclasses.field(
        default="",
        metadata={"help": "Start from this trained adapter (a folder, e.g. another run's SFT adapter) instead "
                          "of a fresh one: 'SFT then DPO'. DPO's reference is then that adapter's model, "
                          "as in the usual SFT-then-DPO recipe. Empty: a fresh adapter on the base model."})
    pair_fraction: float = dataclasses.field(
        default=1.0,
        metadata={"help": "Train on this fraction of the training questions' pairs (a seeded subset of the "
                          "questions, all pairs of a chosen question kept), for dose-response runs; 1: all."})
    lora_r: int = dataclasses.field(default=16, metadata={"help": "LoRA rank (at most 1024)."})
    lora_alpha: int = dataclasses.field(default=32, metadata={"help": "LoRA scaling alpha (scale: alpha / r; at most 4096)."})
    lora_dropout: float = dataclasses.field(
        default=0.05,
        metadata={"help": "Dropout on the LoRA branch. Active during training: TRL's disable_dropout is turned "
                          "off here so that this value is honoured."})
    packed_dropout: bool = dataclasses.field(
        default=True,
        metadata={"help": "Draw the LoRA dropout masks from 64-bit random words, four elements a draw "
                          "(dca.train.lora_dropout): the same Bernoulli dropout with p rounded to a multiple of 2**-16, "
                          "its masks about 3x faster to draw on a CPU (one DPO step of the 1.5B model: 16 % of it "
                          "was drawing masks). false: PEFT's torch.nn.Dropout, which drew the masks of the runs made "
                          "before this option existed."})
    target_modules: list[str] = dataclasses.field(
        default_factory=lambda: list(ALL_LINEAR),
        metadata={"help": "Module names that get a LoRA adapter (comma-separated on the command line); default "
                          "all linear projections of attention and MLP."})
    lora_layers: int = dataclasses.field(
        default=0,
        metadata={"help": "Put LoRA only on the last this many decoder layers (0: every layer, the default). The "
                          "backward pass then stops at the lowest adapted layer: faster steps and less memory, "
                          "but fewer weights that can move; its cost in calibration is measured in the "
                          "reference experiment's ablations."})
    learning_rate: float = dataclasses.field(
        default=5e-4,
        metadata={"help": "Peak learning rate (AdamW). 5e-4 without a profile (the tests' tiny runs); the CPU "
                          "profiles use 1e-4, since at 5e-4 the 1.5B model's replies lose their format (chapter "
                          "06); paper-scale GPU runs use 5e-6 to 2e-5. At most 1."})
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = dataclasses.field(
        default="cosine", metadata={"help": "Learning-rate schedule after the warm-up."})
    warmup_ratio: float = dataclasses.field(
        default=0.1, metadata={"help": "Fraction of the optimiser steps spent warming up linearly, in [0, 1)."})
    epochs: float = dataclasses.field(
        default=1.0, metadata={"help": "Passes over the pairs (ignored when max_steps > 0; at most 1000)."})
    batch_size: int = dataclasses.field(
        default=4, metadata={"help": "Pairs per device per forward pass (CPU default 4: more updates for the "
                                     "same compute than 8; at most 4096)."})
    grad_accum: int = dataclasses.field(
        default=1,
        metadata={"help": "Gradient-accumulation steps (at most 1024); effective batch: batch_size x grad_accum x "
                          "processes."})
    max_length: int = dataclasses.field(
        default=512,
        metadata={"help": "Longest prompt + reply in tokens; longer ones are truncated at the end, and pairs "
                          "whose prompt alone fills it are dropped by TRL. At most 131072."})
    max_steps: int = dataclasses.field(
        default=-1,
        metadata={"help": "Stop after this many optimiser steps; -1 runs all epochs (the default: one pass "
                          "over the pairs). On SmolLM2-135M with 3-shot prompts a step of 4 pairs takes ~6 s on 2 "
                          "CPU cores with shared_prefix (~28 s without). At most 10000000."})
    seed: int = dataclasses.field(
        default=SEED, metadata={"help": "Seed of the LoRA initialisation, data order and dropout."})
    precision: Literal["auto", "fp32", "bf16", "fp16"] = dataclasses.field(
        default="auto",
        metadata={"help": "'auto': bf16 on CUDA and on a CPU with native bf16 matrix units (AMX, AVX512-BF16), fp32 elsewhere. bf16/fp16 load the base weights in that type "
                          "and train with autocast; the LoRA weights stay fp32."})
    precompute_ref: bool = dataclasses.field(
        default=False,
        metadata={"help": "Compute the reference log-probabilities once before training (TRL's "
                          "precompute_ref_log_probs) instead of an adapter-off forward at every step. Pays "
                          "off only for several epochs over all pairs (it runs over every pair even when "
                          "max_steps stops earlier). Single process only."})
    save_steps: int = dataclasses.field(
        default=10, metadata={"help": "Write a resumable checkpoint every this many optimiser steps (at most 1000000)."})
    logging_steps: int = dataclasses.field(
        default=1, metadata={"help": "Record loss, rewards and learning rate every this many steps (at most 1000000)."})
    resume: bool = dataclasses.field(
        default=True,
        metadata={"help": "Resume from the last checkpoint in run_dir/checkpoints when one exists for the same "
                          "parameters."})
    method: Literal["dpo", "sft"] = dataclasses.field(
        default="dpo",
        metadata={"help": "'dpo' (DCA) or 'sft': a baseline beyond the paper, supervised fine-tuning (TRL's "
                          "SFTTrainer) on the chosen replies alone, same LoRA, pairs, steps and learning rate."})
    heldout_pairs: int = dataclasses.field(
        default=0,
        metadata={"help": "Held-out pairs (from the evaluation questions, never trained on) whose DPO loss and "
                          "reward accuracy are measured during training, to see overfitting; 0 turns it off. "
                          "Each measurement costs a forward pass over them. At most 1000000."})
    eval_every: int = dataclasses.field(
        default=0,
        metadata={"help": "Measure the held-out pairs every this many optimiser steps (0: four times per run, "
                          "and before the first step; at most 1000000)."})
    gradient_checkpointing: bool = dataclasses.field(
        default=False,
        metadata={"help": "Recompute activations in the backward pass: less memory, ~30% slower. Useful for "
                          "the 7-9B models on one GPU. Turns shared_prefix off for the policy pass (checkpointed "
                          "layers drop key/value caches)."})
    shared_prefix: bool = dataclasses.field(
        default=True,
        metadata={"help": "Run each batch as a tree on one key/value cache (dca.train.dpo_prefix): the prompt start "
                          "all its sequences share (system turn + worked examples) once, each pair's prompt "
                          "once for chosen and rejected, then the replies. Same loss and gradient up to float "
                          "rounding, ~4x fewer tokens per pass with 3-shot prompts; with lora_dropout > 0 a "
                          "shared token draws one dropout mask for all rows sharing it. false: TRL's full "
                          "forward of every sequence."})

    def validate(self) -> None:
        positive(self, "beta", "lora_r", "lora_alpha", "learning_rate", "batch_size", "grad_accum",
                 "max_length", "save_steps", "logging_steps")
        positive(self, "epochs", "heldout_pairs", "eval_every", "lora_layers", "seed", allow_zero=True)
        in_range(self, "lora_dropout", 0.0, 1.0)
        positive(self, "sft_weight", "dpop_lambda", "answer_kl_weight", allow_zero=True)
        at_most(self, 100.0, "sft_weight")
        at_most(self, 1000.0, "dpop_lambda", "answer_kl_weight")
        if self.answer_kl_weight > 0 and (self.method != "sft" or self.loss_tokens != "number"):
            raise ConfigError(f"answer_kl_weight={self.answer_kl_weight!r} needs method='sft' and "
                              f"loss_tokens='number' (got method={self.method!r}, loss_tokens={self.loss_tokens!r}): "
                              "it holds the answer letter that only that loss leaves free")
        if self.answer_kl_span != "letter" and self.answer_kl_weight == 0:
            raise ConfigError(f"answer_kl_span={self.answer_kl_span!r} needs answer_kl_weight > 0: with weight 0 "
                              "no position is held")
        self._check_ignored()
        if not 0.0 < self.pair_fraction <= 1.0:
            raise ConfigError(f"pair_fraction={self.pair_fraction!r} must lie in (0, 1]")
        self._check_init_adapter_is_not_this_runs()
        if self.init_adapter and not (Path(self.init_adapter) / "adapter_config.json").is_file():
            raise ConfigError(f"init_adapter={self.init_adapter!r} is not an adapter folder (no adapter_config.json "
                              "in it); train that run first (notebook 03 or `python -m dca train`)")
        if self.lora_dropout == 1.0:
            raise ConfigError("lora_dropout=1.0 drops every LoRA input (nothing trains); use a value in [0, 1)")
        if 0 < self.epochs < MIN_EPOCHS:
            raise ConfigError(f"epochs={self.epochs!r} is below {MIN_EPOCHS} of a pass over the pairs; "
                              "use max_steps= for a few steps")
        at_most(self, 10.0, "beta")
        at_most(self, 1.0, "learning_rate")
        at_most(self, 1000.0, "epochs")
        at_most(self, 1024, "lora_r", "grad_accum")
        at_most(self, 4096, "lora_alpha", "batch_size")
        at_most(self, 131_072, "max_length")
        at_most(self, 10_000_000, "max_steps")
        at_most(self, 1_000_000, "save_steps", "logging_steps", "heldout_pairs", "eval_every")
        at_most(self, 10_000, "lora_layers")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio!r} must lie in [0, 1)")
        if self.max_steps <= 0 and self.max_steps != -1:
            raise ConfigError(f"max_steps={self.max_steps!r} must be > 0, or -1 for all epochs")
        if self.max_steps == -1 and self.epochs == 0:
            raise ConfigError("epochs=0 trains nothing; set epochs > 0 or max_steps > 0")
        if self.save_steps % self.logging_steps:
            raise ConfigError(
                f"save_steps={self.save_steps} must be a multiple of logging_steps={self.logging_steps}: a run resumed "
                "from a checkpoint between two logging steps would average its next loss over fewer steps")
        if not self.target_modules:
            raise ConfigError("target_modules is empty; name at least one module (e.g. q_proj,v_proj)")
        check_model(self)

    def _check_ignored(self) -> None:
        """Refuse a parameter the chosen objective does not read (set away from its default)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        if self.method == "sft":
            ignored = [f"{name}={getattr(self, name)!r}" for name in DPO_ONLY if getattr(self, name) != defaults[name]]
            if ignored:
                raise ConfigError(f"method='sft' does not read {', '.join(ignored)} (DPO's parameters); leave them "
                                  "out, or train with method='dpo'")
        if self.loss_type != "dpop" and self.dpop_lambda != defaults["dpop_lambda"]:
            raise ConfigError(f"dpop_lambda={self.dpop_lambda!r} is read by loss_type='dpop' only "
                              f"(got loss_type={self.loss_type!r}); leave it out, or set loss_type=dpop")

    def _check_init_adapter_is_not_this_runs(self) -> None:
        """Refuse an ``init_adapter`` that this run writes (its adapter or a checkpoint): every rerun
        would start from the last result, and its fingerprint would never match."""
        if not self.init_adapter:
            return
        start = Path(os.path.realpath(self.init_adapter))
        run = artifacts.RunFolder(self.run_dir)
        for what, own in (("is this run's own adapter", run.adapter),
                          ("lies in this run's checkpoints", run.checkpoints)):
            own = Path(os.path.realpath(own))
            if start == own or own in start.parents:
                raise ConfigError(f"init_adapter={self.init_adapter!r} {what} (run_dir="
                                  f"{self.run_dir!r}): every rerun would train on top of the last result; start "
                                  "from another run's adapter")

    def train_fingerprint(self, pairs: Path) -> str:
        """Fingerprint of the adapter: the parameters that change the weights plus the pairs' fingerprint."""
        # loss_tokens, answer_kl_weight and answer_kl_span came later: at their defaults they stay out, so
        # adapters trained before them keep their fingerprint
        later = (*(("loss_tokens",) if self.loss_tokens == "reply" else ()),
                 *(("answer_kl_weight",) if self.answer_kl_weight == 0 else ()),
                 *(("answer_kl_span",) if self.answer_kl_span == "letter" else ()))
        payload = json.dumps({
            "config": self.fingerprint(exclude=("run_dir", "resume", "save_steps", "logging_steps", *later)),
            "pairs": artifacts.input_fingerprint(pairs),
            **({"init_adapter": artifacts.input_fingerprint(self.init_adapter)} if self.init_adapter else {}),
        }, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
