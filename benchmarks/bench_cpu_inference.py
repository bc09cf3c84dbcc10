"""CPU inference settings, one at a time: glibc's allocator kept from unmapping freed blocks, and the
linear weights pre-packed for oneDNN.

:func:`dca.models.load_model` always does the first on a CPU (:func:`dca.memory.reuse_freed_blocks`)
and the second only with ``pack=True`` (:func:`dca.packing.pack_linear_weights`). This script times ``dca.elicit.generate_replies`` (stage 1
as run: shared prompt prefix, preallocated cache, C_i read from the generation pass) on the book's
model, in four variants interleaved in one process, repeated, and reports for each the median and
best wall time, the page faults and the kernel (system) time of its runs, and how many replies equal
those of the plain variant (glibc defaults, plain weights). The allocator setting is switched with
``mallopt`` between runs; "glibc defaults" restores glibc's documented start values (mmap allowed,
mmap and trim thresholds 128 KiB).

``python benchmarks/bench_cpu_inference.py [--model qwen2.5-coder-1.5b] [--n 16] [--repeats 4]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402


def glibc_defaults() -> None:
    """glibc's start values: mmap for blocks from 128 KiB, up to 65536 maps, trim above 128 KiB."""
    from dca import memory

    libc = memory._glibc()
    if libc is None:
        raise SystemExit("glibc only: the allocator variants switch glibc's mallopt settings")
    libc.mallopt(memory.M_MMAP_MAX, 65536)
    libc.mallopt(memory.M_MMAP_THRESHOLD, 128 * 1024)
    libc.mallopt(memory.M_TRIM_THRESHOLD, 128 * 1024)
    libc.malloc_trim(0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--n", type=int, default=16, help="OpenBookQA questions (offline copy, 3-shot prompts)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=4, help="interleaved rounds (the order turns each round)")
    args = ap.parse_args(argv)

    import torch

    from dca import memory
    from dca.data import load_questions
    from dca.elicit import generate_replies
    from dca.models import load_model
    from dca.prompts import build_messages, render_prompt, supports_system_role

    plain = load_model(args.model, device="cpu", dtype="bfloat16", pack=False)
    packed = load_model(args.model, device="cpu", dtype="bfloat16", pack=True)
    tok = plain.tokenizer
    questions = load_questions("openbookqa", n=args.n, seed=0)
    system = supports_system_role(tok)
    prompts = [render_prompt(tok, build_messages(q.question, q.choices, context=q.context, k_shot=3, system=system))
               for q in questions]
    variants = {
        "glibc defaults, plain weights": (False, plain.model),
        "reuse freed blocks, plain weights (load_model's default)": (True, plain.model),
        "glibc defaults, packed weights": (False, packed.model),
        "reuse freed blocks, packed weights (pack=True)": (True, packed.model),
    }
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    replies: dict[str, list[str]] = {}
    names = list(variants)
    with torch.inference_mode():
        for model in (plain.model, packed.model):  # warm-up: oneDNN primitives, first allocations
            generate_replies(model, tok, prompts[:2], batch_size=args.batch_size, progress=False)
        for r in range(args.repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                reuse, model = variants[name]
                memory.reuse_freed_blocks() if reuse else glibc_defaults()
                before = resource.getrusage(resource.RUSAGE_SELF)
                start = time.perf_counter()
                replies[name] = generate_replies(model, tok, prompts, batch_size=args.batch_size, progress=False)
                seconds = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_SELF)
                runs[name].append({"s": seconds, "faults": after.ru_minflt - before.ru_minflt,
                                   "sys_s": after.ru_stime - before.ru_stime})
                print(f"{name}: {seconds:.2f} s", flush=True)
    glibc_defaults()
    base = names[0]
    base_median = statistics.median(x["s"] for x in runs[base])
    rows, data_rows = [], []
    for name in names:
        secs = [x["s"] for x in runs[name]]
        med = statistics.median(secs)
        same = sum(a == b for a, b in zip(replies[base], replies[name]))
        faults = statistics.median(x["faults"] for x in runs[name])
        sys_s = statistics.median(x["sys_s"] for x in runs[name])
        rows.append([name, med, min(secs), base_median / med, f"{faults:,.0f}", sys_s, f"{same}/{args.n}"])
        data_rows.append({"variant": name, "median_s": med, "best_s": min(secs), "runs": runs[name],
                          "speedup_median": base_median / med, "identical_replies": same})
    text = (f"{args.model} in bfloat16; `dca.elicit.generate_replies` on {args.n} OpenBookQA questions (3-shot, "
            f"batch {args.batch_size}); {args.repeats} interleaved rounds, the order turned each round. "
            "Page faults and system time are medians per run.\n\n"
            + table(["variant", "median s", "best s", "× glibc defaults, plain (median)", "page faults",
                     "system s", "replies identical to the first row"], rows))
    data = {"model": args.model, "n": args.n, "batch_size": args.batch_size, "repeats": args.repeats,
            "rows": data_rows}
    report("cpu_inference", "CPU inference: allocator and pre-packed weights", text, data)
    return data


if __name__ == "__main__":
    main()
