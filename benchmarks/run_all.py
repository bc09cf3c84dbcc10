"""Run every CPU benchmark in sequence and collect their tables in ``benchmarks/results/RESULTS.md``.

``make bench`` (or ``python benchmarks/run_all.py``). ``--quick`` halves the sizes. The GPU benchmark
(``gpu_bench.py``) is not run here: see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_elicit  # noqa: E402
import bench_extract  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_train  # noqa: E402
from common import RESULTS, machine, today  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run of the benchmarks)")
    ap.add_argument("--only", default="extract,elicit,train,pipeline")
    args = ap.parse_args(argv)
    q = args.quick
    plan = {
        "extract": (bench_extract.main, ["--n", "16" if q else "32", "--repeats", "1" if q else "2"]),
        "elicit": (bench_elicit.main, ["--n", "8" if q else "16", "--repeats", "1" if q else "2"]),
        "train": (bench_train.main, ["--steps", "3" if q else "4"]),
        "pipeline": (bench_pipeline.main, ["--scale", "small"]),
    }
    start = time.perf_counter()
    for name in args.only.split(","):
        fn, fn_args = plan[name]
        t = time.perf_counter()
        fn(fn_args)
        print(f"[bench] {name}: {time.perf_counter() - t:.0f} s", flush=True)
    names = {"extract": "extract", "elicit": "elicit", "train": "train", "pipeline": "pipeline_small"}
    blocks = [(RESULTS / f"{names[n]}.md").read_text() for n in args.only.split(",") if (RESULTS / f"{names[n]}.md").exists()]
    summary = (f"# Benchmark results\n\n{today()} · {machine()} · `make bench` took "
               f"{time.perf_counter() - start:.0f} s\n\n" + "\n".join(blocks))
    (RESULTS / "RESULTS.md").write_text(summary)
    print(f"[bench] wrote {RESULTS / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
