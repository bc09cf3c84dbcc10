"""One DPO step's model work with PEFT's LoRA dropout against the packed masks of ``dca.train.lora_dropout``.

The same batch of 4 pairs (3-shot OpenBookQA prompts, chosen and rejected differing in the
confidence number, as stage 2 writes them) runs through the book's model in bf16 the way
``train_adapter`` runs it (fused LM head, shared-prefix tree): reference forward, policy forward, policy
backward. Three dropouts, interleaved ``--repeats`` times, best kept:

- **PEFT**: ``torch.nn.Dropout(0.05)`` in every LoRA layer (``packed_dropout=false``);
- **packed**: :class:`dca.train.lora_dropout.PackedDropout` (the default);
- **none**: ``lora_dropout=0``, no masks at all: the floor any dropout can reach (it trains another
  model, so it is a bound, not an option measured here).

A profile of one more step of each shows the share of the step's CPU time spent drawing random
numbers (``aten::bernoulli_``, ``aten::random_``; ``torch.randint`` draws through the latter).

``python benchmarks/bench_lora_dropout.py [--model qwen2.5-coder-1.5b] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import make_pairs, one_step_setup, timed_step  # noqa: E402
from common import report, table, tagged  # noqa: E402

#: Profiler names of the random-number kernels behind dropout masks.
RNG_OPS = ("aten::bernoulli_", "aten::random_")


def rng_share(peft, kwargs: dict) -> float:
    """Fraction of one profiled step's self CPU time spent in :data:`RNG_OPS`."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        timed_step(peft, kwargs)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key in RNG_OPS) / total if total else 0.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", help="a packaged model name or a local model folder")
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (best kept)")
    ap.add_argument("--dataset", default="openbookqa", help="questions of the pairs (an offline set or 'synthetic')")
    ap.add_argument("--tag", default="", help="results go to results/lora_dropout_<tag>.md")
    args = ap.parse_args(argv)

    import torch

    from dca.train.lora_dropout import PackedDropout, lora_dropouts
    from dca.train.stage import TrainConfig

    p = TrainConfig().lora_dropout
    setup = one_step_setup(args.model, make_pairs(8, k_shot=3, dataset=args.dataset), args.precision,
                           packed_dropout=False)
    peft, kwargs, batch = setup["peft"], setup["kwargs"], setup["batch"]
    layers = list(lora_dropouts(peft))
    modules = {"PEFT torch.nn.Dropout (packed_dropout=false)": [d[n] for d, n in layers],
               "packed masks (dca.train.lora_dropout, the default)": [PackedDropout(p) for _ in layers],
               "no dropout (lora_dropout=0: a floor, not an option)": [torch.nn.Identity() for _ in layers]}

    def use(name: str) -> None:
        for (dropouts, key), module in zip(layers, modules[name]):
            dropouts[key] = module
        peft.train()

    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name in modules:
            use(name)
            r = timed_step(peft, kwargs)
            if name not in best or r["total"] < best[name]["total"]:
                best[name] = r
    shares = {}
    for name in modules:
        use(name)
        shares[name] = rng_share(peft, kwargs)
    first = next(iter(best.values()))["total"]
    rows = [[name, r["ref"], r["fwd"], r["bwd"], r["total"], first / r["total"], f"{100 * shares[name]:.1f} %"]
            for name, r in best.items()]
    tokens = int(batch["attention_mask"].sum())
    text = (f"{args.model} in {args.precision}, LoRA r 16 on all {len(layers)} linear projections, dropout p = {p}; "
            f"one batch of {len(setup['examples'])} pairs ({tokens} real tokens, 3-shot {args.dataset} prompts) "
            f"through the shared-prefix forward, interleaved x{args.repeats}, best kept. The last column is one more "
            f"profiled step's share of CPU time in {', '.join(RNG_OPS)}.\n\n"
            + table(["LoRA dropout", "reference fwd s", "policy fwd s", "policy bwd s", "total s", "× PEFT",
                     "drawing masks"], rows))
    data = {"model": args.model, "precision": args.precision, "p": p, "layers": len(layers), "tokens": tokens,
            "repeats": args.repeats,
            "rows": [{"variant": name, **r, "speedup": first / r["total"], "rng_share": shares[name]}
                     for name, r in best.items()]}
    report(tagged("lora_dropout", args.tag), "LoRA dropout masks: PEFT's against packed 64-bit draws", text, data)
    return data


if __name__ == "__main__":
    main()
