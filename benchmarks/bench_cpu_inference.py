"""CPU inference with the linear weights pre-packed for oneDNN (``load_model(pack=True)``) against
plain weights (the default).

This script times ``dca.elicit.generate_replies`` (stage 1 as run: shared prompt prefix, preallocated
cache, C_i read from the generation pass) on the book's model in bf16, both variants loaded in one
process and run interleaved, the order turned each round, and reports the median and best wall time
and how many replies the packed model gives identically (:mod:`dca.packing` explains the trade).

``python benchmarks/bench_cpu_inference.py [--model qwen2.5-coder-1.5b] [--n 16] [--repeats 4]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb, report, table  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--n", type=int, default=16, help="OpenBookQA questions (offline copy, 3-shot prompts)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=4, help="interleaved rounds (the order turns each round)")
    args = ap.parse_args(argv)

    import torch

    from dca.data import load_questions
    from dca.elicit import generate_replies
    from dca.models import load_model
    from dca.prompts import build_messages, render_prompt, supports_system_role

    plain = load_model(args.model, device="cpu", dtype="bfloat16")
    packed = load_model(args.model, device="cpu", dtype="bfloat16", pack=True)
    tok = plain.tokenizer
    questions = load_questions("openbookqa", n=args.n, seed=0)
    system = supports_system_role(tok)
    prompts = [render_prompt(tok, build_messages(q.question, q.choices, context=q.context, k_shot=3, system=system))
               for q in questions]
    variants = {"plain weights (the default)": plain.model, "pre-packed weights (pack=True)": packed.model}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    replies: dict[str, list[str]] = {}
    names = list(variants)
    with torch.inference_mode():
        for model in variants.values():  # warm-up: oneDNN primitives, first allocations
            generate_replies(model, tok, prompts[:2], batch_size=args.batch_size, progress=False)
        for r in range(args.repeats):
            for name in (names if r % 2 == 0 else names[::-1]):
                start = time.perf_counter()
                replies[name] = generate_replies(variants[name], tok, prompts, batch_size=args.batch_size,
                                                 progress=False)
                seconds[name].append(time.perf_counter() - start)
                print(f"{name}: {seconds[name][-1]:.2f} s", flush=True)
    base = names[0]
    base_median = statistics.median(seconds[base])
    rows, data_rows = [], []
    for name in names:
        med = statistics.median(seconds[name])
        same = sum(a == b for a, b in zip(replies[base], replies[name]))
        rows.append([name, med, min(seconds[name]), base_median / med, f"{same}/{args.n}"])
        data_rows.append({"variant": name, "seconds": seconds[name], "median_s": med,
                          "speedup_median": base_median / med, "identical_replies": same})
    text = (f"{args.model} in bfloat16; `dca.elicit.generate_replies` on {args.n} OpenBookQA questions (3-shot, "
            f"batch {args.batch_size}); {args.repeats} interleaved rounds, the order turned each round; both models "
            f"in one process (peak RSS {peak_rss_mb() / 1024:.1f} GiB).\n\n"
            + table(["variant", "median s", "best s", "× plain (median)", "replies identical to plain"], rows))
    data = {"model": args.model, "n": args.n, "batch_size": args.batch_size, "repeats": args.repeats,
            "rows": data_rows}
    report("cpu_inference", "CPU inference: pre-packed bf16 weights", text, data)
    return data


if __name__ == "__main__":
    main()
