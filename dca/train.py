"""Stage 3: DPO with a LoRA adapter on the preference pairs.

TRL's ``DPOTrainer`` minimises, for each pair (prompt :math:`x`, chosen :math:`y_w`, rejected
:math:`y_l`), the sigmoid (DPO) loss

.. math::

    \\mathcal{L} = -\\log \\sigma\\Big(\\beta \\big[\\log \\tfrac{\\pi_\\theta(y_w|x)}{\\pi_\\mathrm{ref}(y_w|x)}
                   - \\log \\tfrac{\\pi_\\theta(y_l|x)}{\\pi_\\mathrm{ref}(y_l|x)}\\big]\\Big)

or the IPO loss :math:`(h - \\tfrac{1}{2\\beta})^2` on the length-normalised log-ratio difference
:math:`h`. The policy :math:`\\pi_\\theta` is the base model plus a LoRA adapter; the reference
:math:`\\pi_\\mathrm{ref}` is the same model with the adapter switched off, so no second copy of the
model is held in memory. Since chosen and rejected differ only in the confidence number, the
log-ratio difference comes from those few tokens alone.

The stage, :func:`run` (``python -m dca train key=value ...``), runs in one process, under ``torchrun
--nproc_per_node N -m dca train`` and under ``accelerate launch -m dca train`` (data-parallel through
Accelerate inside the trainer); only the main process writes artifacts. Its parameters,
:class:`~dca.train_config.TrainConfig`, are in :mod:`dca.train_config` (importable from here too).
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from dca import artifacts
from dca.config import ConfigError
# The stage's parameters live in dca.train_config; dca.train.TrainConfig keeps working.
from dca.train_config import ALL_LINEAR, MIN_EPOCHS, TrainConfig  # noqa: F401 (re-exported)
from dca.train_log import read_train_log  # noqa: F401 (re-exported: dca.train.read_train_log)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` on CUDA and on a CPU with native bf16 matrix units, ``fp32`` elsewhere.

    >>> resolve_precision("fp16")
    'fp16'
    """
    if precision != "auto":
        return precision
    import torch

    from dca.models import auto_dtype

    device = torch.device("cuda" if _cuda() else "cpu")
    return "bf16" if auto_dtype(device)[0] == torch.bfloat16 else "fp32"


def pairs_dataset(records: list[dict[str, Any]]):
    """A ``datasets.Dataset`` of the conversational preference columns TRL reads."""
    from datasets import Dataset

    if not records:
        raise ValueError("pairs.jsonl holds no pairs: nothing to train on (see pairs_stats.json for why)")
    return Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in records])


def total_steps(config: TrainConfig, n_pairs: int, world_size: int = 1) -> int:
    """Optimiser steps of a run: ``max_steps``, or ``ceil(epochs * ceil(n / (batch * processes)) / accum)``.

    >>> total_steps(TrainConfig(batch_size=4), 94)
    24
    """
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = math.ceil(n_pairs / (config.batch_size * world_size))
    return max(1, math.ceil(config.epochs * per_epoch / config.grad_accum))


def subset_by_question(records: list[dict[str, Any]], fraction: float, seed: int) -> list[dict[str, Any]]:
    """The pairs of a seeded ``fraction`` of the questions (``ceil(fraction * questions)`` of them),
    every pair of a chosen question kept, in their order; all of them when ``fraction`` is 1.

    >>> recs = [{"id": i} for i in "aabcd"]
    >>> [r["id"] for r in subset_by_question(recs, 0.5, seed=2)]
    ['a', 'a', 'd']
    """
    if fraction >= 1.0:
        return records
    import random

    ids = sorted({str(r["id"]) for r in records})
    keep = set(random.Random(seed).sample(ids, math.ceil(fraction * len(ids))))
    return [r for r in records if str(r["id"]) in keep]


def sft_dataset(records: list[dict[str, Any]]):
    """The SFT baseline's data: each pair's prompt and its *chosen* reply as the completion."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in records])


def heldout_records(config: TrainConfig, run_dir: Path) -> list[dict[str, Any]]:
    """The first ``heldout_pairs`` held-out pairs (DPO only; none when off or not built)."""
    path = artifacts.RunFolder(run_dir).pairs_heldout
    if config.method != "dpo" or config.heldout_pairs == 0 or not path.exists():
        return []
    return artifacts.read_jsonl(path)[: config.heldout_pairs]


def dpo_args(config: TrainConfig, precision: str, world_size: int, eval_steps: int = 0):
    """The ``trl.DPOConfig`` (``trl.SFTConfig`` for ``method="sft"``) of a :class:`TrainConfig`."""
    from trl import DPOConfig, SFTConfig

    if config.method == "sft":
        cls, specific = SFTConfig, {"completion_only_loss": True}
    else:
        loss_types, loss_weights = trl_losses(config)
        cls, specific = DPOConfig, {"beta": config.beta, "loss_type": loss_types, "loss_weights": loss_weights,
                                    "precompute_ref_log_probs": config.precompute_ref and world_size == 1,
                                    "disable_dropout": False}  # TRL's default would also zero the LoRA dropout
    # held-out batches as large as an optimiser step's: without a backward pass they keep no activations,
    # so a pass of batch_size x grad_accum pairs fits wherever a training pass of batch_size does
    monitoring = {"eval_strategy": "steps", "eval_steps": eval_steps, "eval_on_start": True,
                  "per_device_eval_batch_size": config.batch_size * config.grad_accum} if eval_steps > 0 else {}
    return cls(
        output_dir=str(artifacts.RunFolder(config.run_dir).checkpoints),
        **specific,
        **monitoring,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps (transformers 5)
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length,
        seed=config.seed,
        data_seed=config.seed,
        bf16=precision == "bf16",  # TRL's default is bf16=True, even on a CPU: always say it
        fp16=precision == "fp16",
        gradient_checkpointing=config.gradient_checkpointing,  # TRL's default is True
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to="none",
        dataloader_num_workers=0,
        dataloader_pin_memory=_cuda(),
        use_cpu=not _cuda(),  # on a CPU, only use_cpu makes Accelerate start gloo under torchrun
        ddp_find_unused_parameters=False,
    )


def trl_losses(config: TrainConfig) -> tuple[list[str], list[float]]:
    """TRL's ``loss_type`` and ``loss_weights`` for a :class:`TrainConfig`.

    RPO adds TRL's ``"sft"`` term (the chosen reply's mean per-token negative log-likelihood) with
    weight ``sft_weight``. DPOP is not one of TRL's losses: TRL computes the sigmoid loss with weight 0
    (so that its rewards and log-probabilities are still logged) and the trainer of
    :func:`dpo_trainer_class` adds :func:`dpop_loss`.

    >>> trl_losses(TrainConfig())
    (['sigmoid'], [1.0])
    >>> trl_losses(TrainConfig(loss_type="apo_zero", sft_weight=0.5))
    (['apo_zero', 'sft'], [1.0, 0.5])
    >>> trl_losses(TrainConfig(loss_type="dpop"))
    (['sigmoid'], [0.0])
    """
    types, weights = ["sigmoid" if config.loss_type == "dpop" else config.loss_type], [
        0.0 if config.loss_type == "dpop" else 1.0]
    if config.sft_weight > 0:
        types.append("sft")
        weights.append(float(config.sft_weight))
    return types, weights


def dpop_loss(chosen_logps: Any, rejected_logps: Any, ref_chosen_logps: Any, ref_rejected_logps: Any,
              beta: float, lam: float) -> Any:
    """DPO-Positive (Pal et al. 2024, arXiv 2402.13228), per pair.

    .. math::

        \\mathcal{L}_\\mathrm{DPOP} = -\\log\\sigma\\Big(\\beta\\big[
            \\log\\tfrac{\\pi_\\theta(y_w|x)}{\\pi_\\mathrm{ref}(y_w|x)}
          - \\log\\tfrac{\\pi_\\theta(y_l|x)}{\\pi_\\mathrm{ref}(y_l|x)}
          - \\lambda \\max\\big(0, \\log\\tfrac{\\pi_\\mathrm{ref}(y_w|x)}{\\pi_\\theta(y_w|x)}\\big)\\big]\\Big)

    DPO's loss can fall while the chosen reply itself becomes *less* likely (both log-probabilities
    fall, the rejected one faster); the penalty term makes that costly. Inputs are the summed
    log-probabilities of the replies (tensors of one value per pair).

    >>> import torch
    >>> c, r, rc, rr = (torch.tensor([v]) for v in (-3.0, -6.0, -2.0, -4.0))
    >>> round(float(dpop_loss(c, r, rc, rr, beta=0.1, lam=0.0)), 4)  # plain DPO: -log sigmoid(0.1 * 1)
    0.6444
    >>> round(float(dpop_loss(c, r, rc, rr, beta=0.1, lam=50.0)), 4)  # -log sigmoid(0.1 * (1 - 50 * 1))
    4.9074
    """
    import torch.nn.functional as F

    chosen_ratio = chosen_logps - ref_chosen_logps
    rejected_ratio = rejected_logps - ref_rejected_logps
    penalty = (-chosen_ratio).clamp(min=0)
    return -F.logsigmoid(beta * (chosen_ratio - rejected_ratio - lam * penalty))


def _complete(checkpoint: Path) -> bool:
    """A checkpoint is complete when its ``trainer_state.json`` (the trainer writes it last) reads, its
    ``torch.save`` files (optimiser, scheduler, random states: zip archives) pass their CRC checks and
    its safetensors files are whole (a file truncated or damaged after the trainer wrote it)."""
    import zipfile

    from dca.embedded import unreadable_safetensors

    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
        for path in sorted(checkpoint.glob("*.pt")) + sorted(checkpoint.glob("*.pth")):
            with zipfile.ZipFile(path) as archive:
                if archive.testzip() is not None:
                    return False
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    return unreadable_safetensors(checkpoint) is None


def _last_checkpoint(checkpoints: Path, fingerprint: str) -> str | None:
    """The newest *complete* checkpoint of a run with this fingerprint, or None.

    A newer checkpoint half-written when training was killed, or with a damaged file, is set aside
    (renamed ``incomplete-checkpoint-N``, by the main process) with a warning, and the one before it
    resumed; the folders set aside are removed once training has finished.
    """
    from dca.distributed import is_main_process

    marker = checkpoints / "FINGERPRINT"
    if not checkpoints.is_dir() or not marker.exists() or marker.read_text().strip() != fingerprint:
        return None
    found = [p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    for path in sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        if _complete(path):
            return str(path)
        if is_main_process():
            aside = path.with_name(f"incomplete-{path.name}-{int(time.time())}")
            path.rename(aside)
            warnings.warn(f"{path} is incomplete (a file of it is missing or damaged: training was killed while "
                          f"writing it, or the disk filled); set aside as {aside.name}", stacklevel=2)
    return None


def _clear_checkpoints(checkpoints: Path) -> None:
    """Remove a checkpoints folder dca wrote (it holds the FINGERPRINT marker); refuse any other."""
    if not checkpoints.exists():
        return
    if not (checkpoints / "FINGERPRINT").is_file() and any(checkpoints.iterdir()):
        raise ConfigError(f"{checkpoints} exists but was not written by dca (no FINGERPRINT file in it); "
                          "move it away or choose another run_dir")
    shutil.rmtree(checkpoints)


def mean_train_loss(log_history: list[dict[str, Any]]) -> float | None:
    """Mean training loss over every optimiser step, from the trainer's log history.

    Each ``loss`` entry averages the steps since the previous one, so entries are weighted by their
    step counts: after a resume this still covers the steps before the interruption (the trainer's own
    ``training_loss`` covers only the resumed ones).

    >>> mean_train_loss([{"loss": 1.0, "step": 1}, {"loss": 0.5, "step": 3}, {"train_loss": 9.0, "step": 3}])
    0.6666666666666666
    """
    total, steps, previous = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            total += entry["loss"] * (entry["step"] - previous)
            steps += entry["step"] - previous
            previous = entry["step"]
    return total / steps if steps else None


def check_same_model(config: TrainConfig, run_dir: Path) -> None:
    """DPO must train the model whose replies the pairs hold: compare with stage 1's provenance."""
    elicited = artifacts.RunFolder(run_dir).stage1_params().get("model")
    if elicited and elicited != config.model:
        raise ConfigError(f"model={config.model!r}, but the pairs in {run_dir} hold replies of {elicited!r} "
                          f"(stage 1); DPO must train the model that wrote them: set model={elicited!r}")


def _shared_prefix_record(model: Any) -> dict[str, Any]:
    """What the shared-prefix forward did (main process): calls, and tokens run vs the full forward's."""
    full, run = getattr(model, "dca_tokens_full", 0), getattr(model, "dca_tokens_run", 0)
    return {"shared_prefix_forwards": getattr(model, "dca_shared_prefix_calls", 0),
            "shared_prefix_tokens_run": run, "shared_prefix_tokens_full": full,
            "shared_prefix_token_fraction": round(run / full, 4) if full else None}


@artifacts.holding_run_lock
def run(config: TrainConfig, *, progress: bool = True, force: bool = False) -> Path:
    """Stage 3: train the adapter (:func:`train_dpo` without extra callbacks); return ``run_dir/adapter``."""
    return train_dpo(config, force=force, progress=progress)


def train_dpo(config: TrainConfig, callbacks: list | None = None, force: bool = False, *,
              progress: bool = True) -> Path:
    """Train the LoRA adapter with DPO on ``run_dir/pairs.jsonl``; return ``run_dir/adapter``.

    Skips when the adapter exists for the same parameters and pairs (unless ``force``). Resumes from
    the last checkpoint of an interrupted run with the same parameters when ``config.resume``.
    Writes (main process only) ``adapter/`` (+ provenance), ``train_config.json`` and
    ``train_log.jsonl`` (the trainer's log history: loss, rewards/*, learning_rate per step).
    ``callbacks`` are extra ``transformers`` trainer callbacks; ``progress=False`` hides the trainer's
    progress bar.
    """
    from dca.distributed import world_size

    run = artifacts.RunFolder(config.run_dir)
    run_dir = run.path
    pairs_path = run.require("pairs")
    adapter = run.adapter
    check_same_model(config, run_dir)
    fingerprint = config.train_fingerprint(pairs_path)
    if not force and artifacts.is_done(adapter, fingerprint):
        return adapter
    started = time.time()
    precision = resolve_precision(config.precision)
    records = subset_by_question(artifacts.read_jsonl(pairs_path), config.pair_fraction, config.seed)
    if not records:
        raise ValueError(f"{pairs_path} holds no preference pairs (see pairs_stats.json beside it: every reply "
                         "was unparsed, filtered, or already stated round(C_i)); nothing to train on")
    heldout = heldout_records(config, run_dir)
    steps = total_steps(config, len(records), world_size())
    eval_steps = (config.eval_every or max(1, steps // 4)) if heldout else 0
    args = dpo_args(config, precision, world_size(), eval_steps=eval_steps)
    if not progress:
        args.disable_tqdm = True
    state = args.distributed_state  # torch.distributed is up under torchrun / accelerate launch
    checkpoints = Path(args.output_dir)
    last = _last_checkpoint(checkpoints, fingerprint) if config.resume else None
    if state.is_main_process:
        if last is None:
            _clear_checkpoints(checkpoints)  # other parameters, or resume=false: start afresh
        checkpoints.mkdir(parents=True, exist_ok=True)
        (checkpoints / "FINGERPRINT").write_text(fingerprint + "\n")
    state.wait_for_everyone()

    from dca import faults, memory
    from dca.models import load_base_model

    tokenizer, base = load_base_model(config.model, precision)
    callbacks = [*(callbacks or []), faults.training_callback(), memory.training_callback()]
    lora = lora_config(config, base)
    if config.method == "sft":
        from trl import SFTTrainer

        trainer = SFTTrainer(model=base, args=args, train_dataset=sft_dataset(records),
                             processing_class=tokenizer, peft_config=lora, callbacks=callbacks)
    else:
        model, peft_config = base, lora
        if config.init_adapter:  # SFT then DPO: TRL keeps a frozen copy of the adapter as the reference
            from peft import PeftModel

            from dca import lora_dropout

            model, peft_config = PeftModel.from_pretrained(base, config.init_adapter, is_trainable=True), None
            model.peft_config["default"].lora_dropout = config.lora_dropout  # TRL copies this config for "ref"
            lora_dropout.set_probability(model, config.lora_dropout)
        trainer_class = dpo_trainer_class(config.dpop_lambda if config.loss_type == "dpop" else None)
        trainer = trainer_class(model=model, ref_model=None, args=args, train_dataset=pairs_dataset(records),
                                eval_dataset=pairs_dataset(heldout) if heldout else None,
                                processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    if config.init_adapter:  # the frozen reference adapter draws no dropout masks (the base model has none)
        from dca import lora_dropout

        lora_dropout.set_probability(trainer.model, 0.0, adapter="ref")
    packed_dropouts = 0
    if config.packed_dropout:
        from dca import lora_dropout

        packed_dropouts = lora_dropout.install(trainer.model)
    if config.shared_prefix and config.method == "dpo":
        from dca import dpo_prefix

        dpo_prefix.install(trainer.model.get_base_model())  # on top of TRL's fused LM head
    if config.method == "dpo" and heldout and not args.precompute_ref_log_probs:
        heldout_reference_once(trainer)
    result = trainer.train(resume_from_checkpoint=last)

    if trainer.accelerator.is_main_process:
        trainable, total = trainer.model.get_nb_trainable_parameters()
        final_loss = mean_train_loss(trainer.state.log_history)  # all steps, resumed or not
        record = artifacts.provenance(
            config.stage, config.to_dict(), fingerprint,
            model=config.model, precision=precision, world_size=state.num_processes,
            device=str(trainer.accelerator.device), distributed_type=str(state.distributed_type),
            method=config.method, n_pairs=len(records), n_heldout_pairs=len(heldout), eval_steps=eval_steps,
            n_train=len(trainer.train_dataset), global_step=trainer.state.global_step,
            resumed_from=last, train_runtime_s=result.metrics.get("train_runtime"),
            wall_time_s=round(time.time() - started, 2), trainable_params=trainable, total_params=total,
            inputs={"pairs": str(pairs_path), "pairs_fingerprint": artifacts.input_fingerprint(pairs_path)},
            final_train_loss=result.training_loss if final_loss is None else final_loss,
            packed_dropout_layers=packed_dropouts,
            **_shared_prefix_record(trainer.model.get_base_model()),
        )
        artifacts.write_jsonl(run.train_log, trainer.state.log_history)
        artifacts.write_provenance(run.train_log, record)
        artifacts.write_json(run.train_config, config.to_dict())
        artifacts.write_provenance(run.train_config, record)
        with artifacts.atomic_path(adapter) as tmp:
            trainer.model.save_pretrained(str(tmp))
        artifacts.write_provenance(adapter, record)
        for aside in checkpoints.glob("incomplete-checkpoint-*"):  # what earlier interruptions left
            shutil.rmtree(aside, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    del trainer, base  # the model, optimiser and activations: freed before a next stage loads a model
    import gc

    gc.collect()
    return adapter


def dpo_trainer_class(dpop_lambda: float | None = None) -> type:
    """TRL's ``DPOTrainer``, reading the reference log-probabilities from a batch whenever the batch
    carries them (:func:`heldout_reference_once` adds them to the held-out pairs only), and adding
    :func:`dpop_loss` when ``dpop_lambda`` is given.

    TRL decides between "read them from the batch" and "run the reference now" once for all batches
    (``precompute_ref_log_probs``); here the training batches still run the reference at every step,
    while the held-out batches read theirs.

    For DPOP, TRL's own loss runs with weight 0 (:func:`trl_losses`) and logs its rewards and
    log-probabilities as usual; a forward hook on the model keeps the two forward passes of the step
    (the policy's, then the reference's, which TRL sums the same way) and the DPOP loss is computed
    from them and added.
    """
    from trl import DPOTrainer

    class HeldOutReferenceDPOTrainer(DPOTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            self.precompute_ref_logps = bool(self.args.precompute_ref_log_probs) or "ref_chosen_logps" in inputs
            if dpop_lambda is None:
                return super().compute_loss(model, inputs, *args, **kwargs)
            passes: list[Any] = []
            handle = self.accelerator.unwrap_model(self.model).register_forward_hook(
                lambda _module, _args, output: passes.append(output))
            try:
                out = super().compute_loss(model, inputs, *args, **kwargs)
            finally:
                handle.remove()
            seq_len = inputs["completion_mask"].size(1) - 1  # TRL's per-token log-probs: shifted by one

            def summed(output: Any) -> Any:
                return output.log_probs[:, -seq_len:].sum(dim=1)  # (2 * pairs,): chosen rows, then rejected

            chosen, rejected = summed(passes[0]).chunk(2, dim=0)
            if self.precompute_ref_logps:
                ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:
                ref_chosen, ref_rejected = summed(passes[1]).detach().chunk(2, dim=0)
            extra = dpop_loss(chosen, rejected, ref_chosen, ref_rejected, self.beta, dpop_lambda).mean()
            if isinstance(out, tuple):
                return (out[0] + extra, *out[1:])
            return out + extra

    return HeldOutReferenceDPOTrainer


def heldout_reference_once(trainer: Any) -> None:
    """Compute the held-out pairs' reference log-probabilities once, before training.

    The reference (the base model, adapter switched off) never changes, yet TRL's evaluation runs it
    again at every held-out measurement: :math:`m` measurements cost :math:`2m` forward passes over
    the held-out pairs. With the reference's log-probabilities stored as columns of the held-out set
    (TRL's own ``precompute_ref_log_probs`` machinery, applied to that set only) they cost
    :math:`m + 1`. The losses and rewards are the same up to float rounding (the reference now runs
    in its own batches). The training pairs keep their per-step reference forward, which costs no
    more than precomputing it when every pair is seen once.
    """
    import random

    import numpy as np
    import torch

    state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):  # the training's random draws stay those of a run without it
        trainer.eval_dataset = trainer._precompute_ref_logps(
            trainer.eval_dataset, "eval", trainer.args.per_device_eval_batch_size)
    random.setstate(state[0])
    np.random.set_state(state[1])


def lora_config(config: TrainConfig, model: Any = None):
    """PEFT's ``LoraConfig`` of a :class:`TrainConfig`: rank, alpha, dropout, target modules and, with
    ``lora_layers``, the layers of ``model`` that get an adapter (``model`` is needed only then)."""
    from peft import LoraConfig  # imported only when there is training to do (TRL's import takes seconds)

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM",
                      layers_to_transform=adapted_layers(config.lora_layers, model))


def preflight(config: TrainConfig) -> None:
    """Check ``lora_layers`` and ``target_modules`` against the model before any stage runs.

    Only the model's config is read, and its modules are built on the ``meta`` device (no weights):
    ``lora_layers`` above the model's decoder layers, or a target module that names no linear layer of
    the model, raises :class:`ConfigError` naming the value and the valid ones.
    """
    if config.lora_layers == 0 and set(config.target_modules) <= set(ALL_LINEAR):
        return  # the defaults' names: every decoder model this project loads has them
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from dca.models import resolve_model_path

    model_config = AutoConfig.from_pretrained(resolve_model_path(config.model))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    adapted_layers(config.lora_layers, model)
    linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                     if isinstance(module, torch.nn.Linear)})
    unknown = [m for m in config.target_modules if m not in linear]
    if unknown:
        raise ConfigError(f"target_modules={','.join(config.target_modules)}: {', '.join(unknown)} is not a linear "
                          f"layer of {config.model}; valid: {', '.join(linear)}")


def adapted_layers(lora_layers: int, model) -> list[int] | None:
    """Indices of the decoder layers that get LoRA: the last ``lora_layers`` of them (``None``: all).

    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(config=SimpleNamespace(num_hidden_layers=28))
    >>> adapted_layers(4, model)
    [24, 25, 26, 27]
    >>> adapted_layers(0, model) is None
    True
    """
    if lora_layers == 0:
        return None
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    n_layers = config.num_hidden_layers
    if lora_layers > n_layers:
        raise ConfigError(f"lora_layers={lora_layers} but the model has only {n_layers} decoder layers; "
                          f"use 1..{n_layers}, or 0 for all of them")
    return list(range(n_layers - lora_layers, n_layers))
