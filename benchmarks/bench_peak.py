"""This machine's limits, measured with torch: matrix-multiply FLOP/s in bf16 and fp32, and memory bandwidth.

These are the denominators of the pipeline's efficiency: a stage that does ``F`` floating-point
operations in ``t`` seconds runs at ``F / t`` FLOP/s, a fraction of the bf16 (or fp32) peak below;
decoding one token reads every weight once, so its bound is ``bandwidth / bytes of the weights``
tokens per second.

- GEMM: ``C = A @ B`` with square ``n x n`` operands, ``2 n^3`` FLOPs, on every core torch uses
  (``torch.get_num_threads()``); the best of ``--repeats`` after a warm-up. Large ``n`` (2048-4096)
  reaches the matrix units (AMX tiles for bf16 on the CPUs that have them).
- Bandwidth: ``dst.copy_(src)`` of a buffer far larger than the caches, counted as read + write
  (``2 x bytes``), and a ``sum`` (read only); best of ``--repeats``.

Run it on a quiet machine: anything else on the cores lowers every figure.

    python benchmarks/bench_peak.py [--sizes 1024 2048 4096] [--mib 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, table  # noqa: E402


def gemm_flops(n: int, dtype: torch.dtype, repeats: int) -> float:
    """Best FLOP/s of an ``n x n`` by ``n x n`` matrix product (``2 n^3`` operations)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    torch.matmul(a, b)  # warm-up (thread pool, packing)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def bandwidth(mib: int, repeats: int) -> tuple[float, float]:
    """Best bytes/s of a copy (read + write) and of a sum (read) over a ``mib``-MiB fp32 buffer."""
    src = torch.ones(mib * 2**20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    src.sum()
    copy = read = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        copy = min(copy, time.perf_counter() - start)
        start = time.perf_counter()
        src.sum()
        read = min(read, time.perf_counter() - start)
    nbytes = src.numel() * 4
    return 2 * nbytes / copy, nbytes / read


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--mib", type=int, default=1024, help="bandwidth buffer size in MiB")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    rows, data = [], {"threads": torch.get_num_threads(), "gemm": {}, "bandwidth": {}}
    for dtype, name in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
        for n in args.sizes:
            flops = gemm_flops(n, dtype, args.repeats)
            data["gemm"][f"{name}_{n}"] = flops
            rows.append([f"GEMM {name}, n = {n}", f"{flops / 1e9:,.1f} GFLOP/s"])
    copy, read = bandwidth(args.mib, args.repeats)
    data["bandwidth"] = {"copy_bytes_per_s": copy, "read_bytes_per_s": read, "mib": args.mib}
    rows.append([f"copy {args.mib} MiB (read + write)", f"{copy / 1e9:,.1f} GB/s"])
    rows.append([f"sum {args.mib} MiB (read)", f"{read / 1e9:,.1f} GB/s"])
    peak_bf16 = max(v for k, v in data["gemm"].items() if k.startswith("bf16"))
    peak_fp32 = max(v for k, v in data["gemm"].items() if k.startswith("fp32"))
    data.update(peak_bf16=peak_bf16, peak_fp32=peak_fp32)
    text = (f"torch {torch.__version__}, {data['threads']} threads; best of {args.repeats}.\n\n"
            + table(["what", "measured"], rows)
            + f"\n\nPeak used as the denominator: bf16 {peak_bf16 / 1e9:,.1f} GFLOP/s, "
              f"fp32 {peak_fp32 / 1e9:,.1f} GFLOP/s, read bandwidth {read / 1e9:,.1f} GB/s.")
    report("peak", "This machine's peak: GEMM FLOP/s and memory bandwidth", text, data)


if __name__ == "__main__":
    main()
