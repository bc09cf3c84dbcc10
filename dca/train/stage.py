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
Accelerate inside the trainer); only the main process writes artifacts.

Beside it, one job each: :mod:`dca.train.config` (the parameters, :class:`~dca.train.config.TrainConfig`,
importable from here too), :mod:`dca.train.data` (the pairs as TRL's datasets),
:mod:`dca.train.objectives` (the losses: DPO, IPO, APO-zero, RPO, DPOP), :mod:`dca.train.lora` (the
adapter's config and layers), :mod:`dca.train.checkpoints` (resuming), :mod:`dca.train.dpo_prefix` and
:mod:`dca.train.lora_dropout` (speed on CPUs), :mod:`dca.train.log` (reading the training log).
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from dca.config import ConfigError
from dca.runs import artifacts
from dca.train.checkpoints import clear_checkpoints, is_final, last_checkpoint
from dca.train.config import ALL_LINEAR, MIN_EPOCHS, TrainConfig  # noqa: F401 (re-exported)
from dca.train.data import heldout_records, pairs_dataset, sft_dataset, subset_by_question, total_steps
from dca.train.log import read_train_log  # noqa: F401 (re-exported: dca.train.stage.read_train_log)
from dca.train.lora import lora_config, preflight  # noqa: F401 (preflight: the command line's check)
from dca.train.objectives import dpo_trainer_class, heldout_reference_once, trl_losses


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

    from dca.models.loading import auto_dtype

    device = torch.device("cuda" if _cuda() else "cpu")
    return "bf16" if auto_dtype(device)[0] == torch.bfloat16 else "fp32"


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
        activation_checkpointing=config.gradient_checkpointing,  # TRL's default is True (transformers 5 renamed it)
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


def restore_final(trainer: Any, checkpoint: str) -> Any:
    """The training result of a run killed after its last step (:func:`dca.train.checkpoints.is_final`):
    the final checkpoint's adapter weights and log history, loaded into ``trainer`` without a step more.

    Returns
    -------
    transformers.trainer_utils.TrainOutput
        The global step, the mean loss over every step, and no timing (nothing ran).
    """
    from transformers.trainer_callback import TrainerState
    from transformers.trainer_utils import TrainOutput

    trainer._load_from_checkpoint(checkpoint)
    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    return TrainOutput(trainer.state.global_step, mean_train_loss(trainer.state.log_history) or math.nan, {})


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
    """Stage 3: train the adapter (:func:`train_adapter` without extra callbacks); return ``run_dir/adapter``."""
    return train_adapter(config, force=force, progress=progress)


def train_adapter(config: TrainConfig, callbacks: list | None = None, force: bool = False, *,
                  progress: bool = True) -> Path:
    """Train the LoRA adapter on the run folder's pairs (DPO, or SFT on the chosen replies); return the adapter.

    Skips when the adapter exists for the same parameters and pairs (unless ``force``). Resumes from
    the last checkpoint of an interrupted run with the same parameters when ``config.resume``.
    Writes (main process only) ``adapter/`` (+ provenance), ``train_config.json`` and
    ``train_log.jsonl`` (the trainer's log history: loss, rewards/*, learning_rate per step).
    ``callbacks`` are extra ``transformers`` trainer callbacks; ``progress=False`` hides the trainer's
    progress bar.
    """
    from dca.runs.distributed import world_size

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
    last = last_checkpoint(checkpoints, fingerprint) if config.resume else None
    if state.is_main_process:
        if last is None:
            clear_checkpoints(checkpoints)  # other parameters, or resume=false: start afresh
        checkpoints.mkdir(parents=True, exist_ok=True)
        (checkpoints / "FINGERPRINT").write_text(fingerprint + "\n")
    state.wait_for_everyone()

    from dca.models import memory
    from dca.models.loading import load_base_model
    from dca.runs import faults

    tokenizer, base = load_base_model(config.model, precision)
    callbacks = [*(callbacks or []), faults.training_callback(), memory.training_callback()]
    lora = lora_config(config, base)
    if config.method == "sft":
        from trl import SFTTrainer

        sft_trainer_class, train_dataset = SFTTrainer, sft_dataset(records, tokenizer, config.loss_tokens)
        if config.answer_kl_weight > 0:
            from dca.train.answer_anchor import anchored_sft_trainer_class, letter_offset

            sft_trainer_class = anchored_sft_trainer_class(
                config.answer_kl_weight, letter_offset(list(train_dataset["prompt"]), tokenizer),
                config.answer_kl_span)
        trainer = sft_trainer_class(model=base, args=args, train_dataset=train_dataset,
                                    processing_class=tokenizer, peft_config=lora, callbacks=callbacks)
    else:
        model, peft_config = base, lora
        if config.init_adapter:  # SFT then DPO: TRL keeps a frozen copy of the adapter as the reference
            from peft import PeftModel

            from dca.train import lora_dropout

            model, peft_config = PeftModel.from_pretrained(base, config.init_adapter, is_trainable=True), None
            model.peft_config["default"].lora_dropout = config.lora_dropout  # TRL copies this config for "ref"
            lora_dropout.set_probability(model, config.lora_dropout)
        trainer_class = dpo_trainer_class(config.dpop_lambda if config.loss_type == "dpop" else None)

        def dataset(pairs: list[dict[str, Any]]):
            return pairs_dataset(pairs, tokenizer, config.loss_tokens)

        trainer = trainer_class(model=model, ref_model=None, args=args, train_dataset=dataset(records),
                                eval_dataset=dataset(heldout) if heldout else None,
                                processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    if config.init_adapter:  # the frozen reference adapter draws no dropout masks (the base model has none)
        from dca.train import lora_dropout

        lora_dropout.set_probability(trainer.model, 0.0, adapter="ref")
    packed_dropouts = 0
    if config.packed_dropout:
        from dca.train import lora_dropout

        packed_dropouts = lora_dropout.install(trainer.model)
    if config.shared_prefix and config.method == "dpo":
        from dca.train import dpo_prefix

        dpo_prefix.install(trainer.model.get_base_model())  # on top of TRL's fused LM head
    if config.method == "dpo" and heldout and not args.precompute_ref_log_probs:
        heldout_reference_once(trainer)
    result = restore_final(trainer, last) if last and is_final(last) else trainer.train(resume_from_checkpoint=last)

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
        faults.checkpoint("train:before-write")
        artifacts.write_jsonl(run.train_log, trainer.state.log_history)
        artifacts.write_provenance(run.train_log, record)
        artifacts.write_json(run.train_config, config.to_dict())
        artifacts.write_provenance(run.train_config, record)
        with artifacts.atomic_path(adapter) as tmp:
            trainer.model.save_pretrained(str(tmp))
        faults.checkpoint("train:after-adapter")
        artifacts.write_provenance(adapter, record)  # last: it marks the stage done
        for aside in checkpoints.glob("incomplete-checkpoint-*"):  # what earlier interruptions left
            shutil.rmtree(aside, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    del trainer, base  # the model, optimiser and activations: freed before a next stage loads a model
    import gc

    gc.collect()
    return adapter




#: The name of :func:`train_adapter` in earlier versions (it trains SFT too, hence the new name).
train_dpo = train_adapter
