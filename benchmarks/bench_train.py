"""1c. DPO training: ``dca.train.stage.train_adapter`` vs a plain ``DPOTrainer`` run with TRL's defaults.

The same preference pairs feed every run: the pipeline's prompts (k-shot) for synthetic questions,
with ``rejected`` = ``"Answer: X\\nProbability: Y%"`` and ``chosen`` = the same reply with another number
(seeded), exactly the shape stage 2 writes (pairs that differ only in the confidence number). Every
run makes one pass over the same ``steps x 8`` pairs with the same LoRA adapter (r 16, alpha 32,
dropout 0.05, all linear projections).

* **TRL defaults**: ``DPOConfig(output_dir=..., use_cpu=True, max_steps=...)`` and nothing else (but
  ``logging_steps=1``, ``save_strategy="no"``, ``report_to="none"``: bookkeeping only):
  ``use_cpu`` is the one change a CPU needs (without it TRL refuses ``bf16=True``). So it runs with
  TRL's bf16 autocast, gradient checkpointing, lr 1e-6, batch 8, ``disable_dropout=True``.
* **TRL's forward, dca settings**: :func:`dca.train.stage.train_adapter` with ``shared_prefix=false``: every
  sequence runs whole, as in TRL (fp32 on a CPU, no gradient checkpointing, batch 4, lr 5e-4).
* **dca defaults**: the same with the shared-prefix forward (:mod:`dca.train.dpo_prefix`). Its losses are
  those of the row above up to float rounding and the dropout masks of the shared positions.
* **dca + bf16**, **dca + precompute_ref**: options a user can switch on (measured, not defaults).

A second table times one step's model work (reference forward, policy forward, policy backward) on
one batch of 4 pairs with the full forward, the batch-prefix-only stage and the whole tree, interleaved
and best of ``--repeats``: the before/after of each stage of :mod:`dca.train.dpo_prefix`.

Time per step is the median over the steps after the first (the first warms up); tokens/s counts the
real (non-pad) tokens of prompt+chosen and prompt+rejected of the pairs a step trains on, so runs with
other batch sizes compare. Wall time includes model loading, TRL's tokenisation and, for
precompute_ref, the reference pass.

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

from common import report, table, tagged  # noqa: E402


def make_pairs(n: int, k_shot: int, seed: int = 0, dataset: str = "synthetic") -> list[dict]:
    """``n`` conversational preference records that differ only in the confidence number."""
    from dca.data import load_questions
    from dca.extract.prompts import build_messages, format_reply

    rng = random.Random(seed)
    records = []
    for q in load_questions(dataset, n=n, seed=seed):
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


def run_trl_defaults(model: str, records: list[dict], steps: int, out: Path, lora, weights: str = "fp32",
                     **matched) -> dict:
    from trl import DPOConfig, DPOTrainer

    from dca.models.loading import load_base_model
    from dca.train.stage import pairs_dataset

    start = time.perf_counter()
    tokenizer, base = load_base_model(model, weights)
    timer = step_timer()
    args = DPOConfig(output_dir=str(out), use_cpu=True, max_steps=steps, report_to="none", save_strategy="no",
                     logging_steps=1, **matched)  # logging only: so the final loss is recorded
    trainer = DPOTrainer(model=base, args=args, train_dataset=pairs_dataset(records), processing_class=tokenizer,
                         peft_config=lora, callbacks=[timer])
    trainer.train()
    return {"step_times": timer.times, "wall_s": time.perf_counter() - start,
            "final_loss": final_loss(trainer.state.log_history), "batch": args.per_device_train_batch_size,
            "settings": f"weights {weights}, bf16={args.bf16}, gradient_checkpointing={args.gradient_checkpointing}, "
                        f"lr={args.learning_rate}"}


def run_dca(model: str, records: list[dict], out: Path, **overrides) -> dict:
    """One epoch of :func:`dca.train.stage.train_adapter` over ``records``."""
    from dca.runs import artifacts
    from dca.train.stage import TrainConfig, train_adapter

    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_jsonl(out / "pairs.jsonl", records)
    batch = overrides.pop("batch_size", TrainConfig.batch_size)
    config = TrainConfig(run_dir=str(out), model=model, batch_size=batch, max_steps=len(records) // batch,
                         save_steps=10_000, **overrides)
    timer = step_timer()
    start = time.perf_counter()
    train_adapter(config, callbacks=[timer], force=True)
    history = artifacts.read_jsonl(out / "train_log.jsonl")
    return {"step_times": timer.times, "wall_s": time.perf_counter() - start, "final_loss": final_loss(history),
            "losses": [h["loss"] for h in history if "loss" in h], "batch": config.batch_size,
            "settings": f"precision={config.precision}, gradient_checkpointing={config.gradient_checkpointing}, "
                        f"lr={config.learning_rate}, shared_prefix={config.shared_prefix}, "
                        f"precompute_ref={config.precompute_ref}"}


def one_step_setup(model: str, records: list[dict], precision: str = "fp32", packed_dropout: bool = True) -> dict:
    """One DPO batch (the first ``batch_size`` records) ready to run through a LoRA model the way
    ``train_adapter`` builds it: TRL's fused LM head, PEFT with the defaults' adapter on all linear
    projections, :mod:`dca.train.lora_dropout` (unless ``packed_dropout`` is false) and :mod:`dca.train.dpo_prefix`
    installed, train mode. Returns ``peft``, ``base``, ``kwargs``
    (the forward's arguments), ``batch`` and ``examples``."""
    import torch
    from peft import get_peft_model
    from trl.trainer.dpo_trainer import DataCollatorForPreference
    from trl.trainer.utils import add_fused_lm_head

    from dca.models.loading import load_base_model
    from dca.train import dpo_prefix, lora_dropout
    from dca.train.stage import TrainConfig, lora_config

    defaults = TrainConfig()
    torch.manual_seed(0)
    tokenizer, base = load_base_model(model, precision)
    add_fused_lm_head(base, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    peft = get_peft_model(base, lora_config(defaults))
    if packed_dropout:
        lora_dropout.install(peft)
    dpo_prefix.install(base)

    def ids(x):
        return x if isinstance(x, list) else x["input_ids"]

    examples = []
    for r in records[:defaults.batch_size]:
        prompt = ids(tokenizer.apply_chat_template(r["prompt"], tokenize=True, add_generation_prompt=True))
        examples.append({"prompt_ids": prompt, **{
            f"{side}_ids": ids(tokenizer.apply_chat_template(r["prompt"] + r[side], tokenize=True))[len(prompt):]
            for side in ("chosen", "rejected")}})
    batch = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id or 0)(examples)
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False,
              "labels": batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100), "fused_lm_head": True}
    peft.train()
    return {"peft": peft, "base": base, "kwargs": kwargs, "batch": batch, "examples": examples}


def timed_step(peft, kwargs: dict) -> dict:
    """Seconds of one step's model work: the reference forward (adapter off, no gradient), the policy
    forward and its backward (``ref``, ``fwd``, ``bwd``, ``total``)."""
    import torch

    t0 = time.perf_counter()
    with torch.no_grad(), peft.disable_adapter():
        peft(**kwargs)
    t1 = time.perf_counter()
    out = peft(**kwargs)
    t2 = time.perf_counter()
    out.log_probs.sum().backward()
    t3 = time.perf_counter()
    peft.zero_grad()
    return {"ref": t1 - t0, "fwd": t2 - t1, "bwd": t3 - t2, "total": t3 - t0}


def one_step_table(model: str, records: list[dict], repeats: int) -> tuple[str, list[dict]]:
    """One DPO step's model work (reference forward, policy forward, policy backward) on the same batch of
    4 pairs with TRL's full forward, the batch-prefix-only forward and the full tree, interleaved
    ``repeats`` times, best kept: the before/after of each stage of :mod:`dca.train.dpo_prefix`, free of the
    trainer's bookkeeping and of the machine's drift between long runs."""
    from dca.train import dpo_prefix

    setup = one_step_setup(model, records)
    peft, base, kwargs, batch, examples = (setup[k] for k in ("peft", "base", "kwargs", "batch", "examples"))
    pair_ends = dpo_prefix.pair_prompt_ends

    def step(mode: str) -> dict:
        base.dca_shared_prefix_ok = mode != "full"
        dpo_prefix.pair_prompt_ends = pair_ends if mode == "tree" else (lambda *a, **k: None)
        run = base.dca_tokens_run
        timed = timed_step(peft, kwargs)
        tokens = base.dca_tokens_run - run if mode != "full" else 2 * int(batch["attention_mask"].sum())
        return {**timed, "tokens": tokens // 2}

    names = {"full": "TRL's full forward (every sequence whole)", "prefix": "+ batch prefix once (stage 1)",
             "tree": "+ each pair's prompt once (stages 1-3, the default)"}
    best: dict[str, dict] = {}
    try:
        for _ in range(repeats):
            for mode in names:
                r = step(mode)
                if mode not in best or r["total"] < best[mode]["total"]:
                    best[mode] = r
    finally:
        dpo_prefix.pair_prompt_ends = pair_ends
    full = best["full"]["total"]
    rows = [[names[m], r["tokens"], r["ref"], r["fwd"], r["bwd"], r["total"], full / r["total"]]
            for m, r in best.items()]
    text = (f"One step's model work on the same {len(examples)} pairs ({int(batch['attention_mask'].sum())} real "
            f"tokens), fp32, interleaved x{repeats}, best kept:\n\n"
            + table(["forward", "tokens run per pass", "reference fwd s", "policy fwd s", "policy bwd s", "total s",
                     "× full"], rows))
    return text, [{"variant": names[m], **r} for m, r in best.items()]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4, help="steps of 8 pairs (TRL's default batch): steps x 8 pairs")
    ap.add_argument("--k-shot", type=int, default=3)
    ap.add_argument("--model", default="embedded", help="'embedded' or a local model folder (a tiny one to test)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of the interleaved one-step comparison")
    ap.add_argument("--variants", default="trl,trl_forward,dca,dca_bf16",
                    help="comma-separated among trl, trl_matched, trl_forward, dca, dca_bf16, dca_precompute")
    ap.add_argument("--trl-weights", default="fp32", choices=["fp32", "bf16"],
                    help="dtype the TRL-defaults run loads the weights in (its autocast is bf16 either way)")
    ap.add_argument("--dataset", default="synthetic", help="questions of the pairs: 'synthetic' or an offline set")
    ap.add_argument("--no-one-step", action="store_true", help="skip the one-step table (fp32 model work)")
    ap.add_argument("--tag", default="", help="results go to results/train_<tag>.md")
    args = ap.parse_args(argv)

    from transformers import AutoTokenizer

    from dca.models.loading import resolve_model_path
    from dca.train.stage import TrainConfig, lora_config

    defaults = TrainConfig()
    records = make_pairs(args.steps * 8, args.k_shot, dataset=args.dataset)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(args.model))
    per_pair = tokens_per_pair(tokenizer, records)
    lora = lora_config(defaults)
    runners = {
        "trl": ("plain DPOTrainer, TRL defaults (+use_cpu)",
                lambda d: run_trl_defaults(args.model, records, args.steps, d, lora, args.trl_weights)),
        "trl_matched": ("DPOTrainer, TRL defaults but dca's learning rate, batch and warm-up (same pairs per step)",
                        lambda d: run_trl_defaults(args.model, records, args.steps * 8 // defaults.batch_size, d, lora,
                                                   args.trl_weights, learning_rate=defaults.learning_rate,
                                                   per_device_train_batch_size=defaults.batch_size,
                                                   warmup_steps=defaults.warmup_ratio,
                                                   lr_scheduler_type=defaults.lr_scheduler)),
        "trl_forward": ("dca settings, TRL's full forward (shared_prefix=false)",
                        lambda d: run_dca(args.model, records, d, shared_prefix=False)),
        "dca": ("dca train_adapter defaults (shared prefix)", lambda d: run_dca(args.model, records, d)),
        "dca_bf16": ("dca + precision=bf16", lambda d: run_dca(args.model, records, d, precision="bf16")),
        "dca_precompute": ("dca + precompute_ref=true",
                           lambda d: run_dca(args.model, records, d, precompute_ref=True)),
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
        tps = r["batch"] * per_pair / step
        base = base or tps
        rows.append([name, r["batch"], step, tps, tps / base, r["wall_s"], f"{r['final_loss']:.4f}", r["settings"]])
        data_rows.append({"variant": name, "batch": r["batch"], "median_step_s": step, "tokens_per_s": tps,
                          "tokens_per_s_vs_first": tps / base, "wall_s": r["wall_s"], "final_loss": r["final_loss"],
                          "losses": r.get("losses"), "step_times": r["step_times"], "settings": r["settings"]})
    same = ""
    full, shared = results.get(runners["trl_forward"][0]), results.get(runners["dca"][0])
    if full and shared:
        gap = max(abs(a - b) for a, b in zip(full["losses"], shared["losses"]))
        same = (f" Per-step losses of the full and the shared-prefix forward differ by at most {gap:.2g} "
                f"(float rounding plus the dropout masks of the shared positions; without dropout the tests "
                f"find 1e-7).")
    lr_note = (f"; the TRL defaults train at lr 1e-6 with batch 8, dca at lr {defaults.learning_rate:g} with batch "
               f"{defaults.batch_size}, so those two losses show that each run trains, not which is better"
               if "trl" in args.variants.split(",") else
               f"; the TRL row trains at dca's lr {defaults.learning_rate:g}, batch {defaults.batch_size} and warm-up, "
               "so its loss compares with dca's after the same pairs")
    text = (f"{len(records)} pairs ({args.k_shot}-shot prompts, {per_pair:.0f} tokens per pair, chosen + rejected), "
            f"one pass each, runs in sequence (not interleaved: timings are noisy). Final loss = the loss logged "
            f"at the last step{lr_note}.{same}\n\n"
            + table(["run", "batch", "s/step (median)", "tokens/s", "× first row", "wall s", "final loss",
                     "settings"], rows))
    step_text, step_rows = ("", []) if args.no_one_step else one_step_table(args.model, records, args.repeats)
    text += "\n\n" + step_text if step_text else ""
    data = {"pairs": len(records), "steps_of_8": args.steps, "tokens_per_pair": per_pair, "rows": data_rows,
            "one_step": step_rows}
    report(tagged("train", args.tag), "1c. DPO training vs a plain DPOTrainer with TRL defaults", text, data)
    return data


if __name__ == "__main__":
    main()
