"""1c. DPO training: ``dca.train.train_dpo`` vs a plain ``DPOTrainer`` run with TRL's defaults.

The same preference pairs feed every run: the pipeline's prompts (k-shot) for synthetic questions,
with ``rejected`` = ``"Answer: X\\nProbability: Y%"`` and ``chosen`` = the same reply with another number
(seeded), exactly the shape stage 2 writes (pairs that differ only in the confidence number). Every
run has one epoch of ``steps x batch`` pairs and the same LoRA adapter (r 16, alpha 32, dropout 0.05,
all linear projections).

* **TRL defaults**: ``DPOConfig(output_dir=..., use_cpu=True, max_steps=...)`` and nothing else (but
  ``logging_steps=1``, ``save_strategy="no"``, ``report_to="none"``: bookkeeping only):
  ``use_cpu`` is the one change a CPU needs (without it TRL refuses ``bf16=True``). So it runs with
  TRL's bf16 autocast, gradient checkpointing, lr 1e-6, batch 8, ``disable_dropout=True``.
* **dca defaults**: :func:`dca.train.train_dpo` with :class:`dca.train.TrainConfig` defaults (fp32 on a
  CPU, no gradient checkpointing, lr 2e-4, batch 8, LoRA dropout kept).
* **dca + precompute_ref** and **dca + bf16**: the two options a user can switch on (measured, not
  defaults).

Time per step is the median over the steps after the first (the first warms up); tokens/s counts the
real (non-pad) tokens of prompt+chosen and prompt+rejected per step. Wall time includes model loading,
TRL's tokenisation and, for precompute_ref, the reference pass.

``python benchmarks/bench_train.py --steps 4``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402


def make_pairs(n: int, k_shot: int, seed: int = 0) -> list[dict]:
    """``n`` conversational preference records that differ only in the confidence number."""
    from dca.data import load_questions
    from dca.prompts import build_messages, format_reply

    rng = random.Random(seed)
    records = []
    for q in load_questions("synthetic", n=n, seed=seed):
        letter = q.letters[rng.randrange(len(q.letters))]
        c_v = rng.choice([60, 70, 80, 90, 95, 100])
        c_i = rng.randrange(10, 60)
        records.append({
            "prompt": build_messages(q.question, q.choices, context=q.context, k_shot=k_shot),
            "chosen": [{"role": "assistant", "content": format_reply(letter, c_i)}],
            "rejected": [{"role": "assistant", "content": format_reply(letter, c_v)}],
        })
    return records


def tokens_per_pair(tokenizer, records: list[dict]) -> float:
    total = 0
    for r in records:
        for side in ("chosen", "rejected"):
            text = tokenizer.apply_chat_template(r["prompt"] + r[side], tokenize=False)
            total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return total / len(records)


def step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._t)

    return StepTimer()


def final_loss(history: list[dict]) -> float:
    losses = [h["loss"] for h in history if "loss" in h]
    return losses[-1] if losses else float("nan")


def run_trl_defaults(model: str, records: list[dict], steps: int, out: Path, lora) -> dict:
    from trl import DPOConfig, DPOTrainer

    from dca.train import load_base_model, pairs_dataset

    start = time.perf_counter()
    tokenizer, base = load_base_model(model, "fp32")
    timer = step_timer()
    args = DPOConfig(output_dir=str(out), use_cpu=True, max_steps=steps, report_to="none", save_strategy="no",
                     logging_steps=1)  # logging only: so the final loss is recorded
    trainer = DPOTrainer(model=base, args=args, train_dataset=pairs_dataset(records), processing_class=tokenizer,
                         peft_config=lora, callbacks=[timer])
    trainer.train()
    return {"step_times": timer.times, "wall_s": time.perf_counter() - start,
            "final_loss": final_loss(trainer.state.log_history), "batch": args.per_device_train_batch_size,
            "settings": f"bf16={args.bf16}, gradient_checkpointing={args.gradient_checkpointing}, "
                        f"lr={args.learning_rate}"}


def run_dca(model: str, records: list[dict], steps: int, out: Path, **overrides) -> dict:
    from dca import artifacts
    from dca.train import TrainConfig, train_dpo

    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_jsonl(out / "pairs.jsonl", records)
    config = TrainConfig(run_dir=str(out), model=model, max_steps=steps, save_steps=10_000, **overrides)
    timer = step_timer()
    start = time.perf_counter()
    train_dpo(config, callbacks=[timer], force=True)
    history = artifacts.read_jsonl(out / "train_log.jsonl")
    return {"step_times": timer.times, "wall_s": time.perf_counter() - start, "final_loss": final_loss(history),
            "batch": config.batch_size,
            "settings": f"precision={config.precision}, gradient_checkpointing={config.gradient_checkpointing}, "
                        f"lr={config.learning_rate}, precompute_ref={config.precompute_ref}"}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4, help="optimiser steps per run (one epoch of steps x 8 pairs)")
    ap.add_argument("--k-shot", type=int, default=3)
    ap.add_argument("--model", default="embedded", help="'embedded' or a local model folder (a tiny one to test)")
    ap.add_argument("--variants", default="trl,dca,dca_precompute,dca_bf16")
    args = ap.parse_args(argv)

    from peft import LoraConfig

    from dca.train import ALL_LINEAR, TrainConfig, load_base_model

    defaults = TrainConfig()
    records = make_pairs(args.steps * defaults.batch_size, args.k_shot)
    tokenizer, _ = load_base_model(args.model, "fp32")
    per_pair = tokens_per_pair(tokenizer, records)
    lora = LoraConfig(r=defaults.lora_r, lora_alpha=defaults.lora_alpha, lora_dropout=defaults.lora_dropout,
                      target_modules=list(ALL_LINEAR), bias="none", task_type="CAUSAL_LM")
    runners = {
        "trl": ("plain DPOTrainer, TRL defaults (+use_cpu)", lambda d: run_trl_defaults(args.model, records, args.steps, d, lora)),
        "dca": ("dca train_dpo defaults", lambda d: run_dca(args.model, records, args.steps, d)),
        "dca_precompute": ("dca + precompute_ref=true", lambda d: run_dca(args.model, records, args.steps, d, precompute_ref=True)),
        "dca_bf16": ("dca + precision=bf16", lambda d: run_dca(args.model, records, args.steps, d, precision="bf16")),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.variants.split(","):
            name, fn = runners[key]
            results[name] = fn(Path(tmp) / key)
    rows, data_rows = [], []
    base = None
    for name, r in results.items():
        times = r["step_times"][1:] or r["step_times"]
        step = statistics.median(times)
        base = base or step
        tps = r["batch"] * per_pair / step
        rows.append([name, step, tps, base / step, r["wall_s"], r["final_loss"], r["settings"]])
        data_rows.append({"variant": name, "median_step_s": step, "tokens_per_s": tps, "speedup_vs_trl": base / step,
                          "wall_s": r["wall_s"], "final_loss": r["final_loss"], "step_times": r["step_times"],
                          "settings": r["settings"]})
    text = (f"{len(records)} pairs ({args.k_shot}-shot prompts, {per_pair:.0f} tokens per pair, chosen + rejected), "
            f"{args.steps} steps of 8 pairs, one run each in sequence (not interleaved: timings are noisy). "
            f"Final loss = the loss logged at the last step; the learning rates differ (TRL 1e-6, dca 2e-4), so "
            f"the losses show that each run trains, not which is better.\n\n"
            + table(["run", "s/step (median)", "tokens/s", "× TRL defaults", "wall s", "final loss", "settings"], rows))
    data = {"pairs": len(records), "steps": args.steps, "tokens_per_pair": per_pair, "rows": data_rows}
    report("train", "1c. DPO training vs a plain DPOTrainer with TRL defaults", text, data)
    return data


if __name__ == "__main__":
    main()
