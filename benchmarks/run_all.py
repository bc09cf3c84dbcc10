"""Run every CPU benchmark in sequence and collect their tables in ``benchmarks/results/RESULTS.md``.

``make bench`` (or ``python benchmarks/run_all.py``). ``--quick`` halves the sizes (and scales the pipeline
down); ``--collect`` only rebuilds ``results/RESULTS.md`` from the latest table of each benchmark. The GPU benchmark
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

SECTIONS = ("extract", "elicit", "train", "pipeline_full")  # result files, in this order


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run of the benchmarks)")
    ap.add_argument("--only", default="extract,elicit,train,pipeline")
    ap.add_argument("--collect", action="store_true", help="run nothing: rebuild RESULTS.md from the latest tables")
    args = ap.parse_args(argv)
    q = args.quick
    plan = {
        "extract": (bench_extract.main, ["--n", "16" if q else "32", "--repeats", "1" if q else "2"]),
        "elicit": (bench_elicit.main, ["--n", "8" if q else "16", "--repeats", "1" if q else "2"]),
        "train": (bench_train.main, ["--steps", "3" if q else "4"]),
        "pipeline": (bench_pipeline.main, ["--scale", "small" if q else "full"]),
    }
    start = time.perf_counter()
    ran = [] if args.collect else args.only.split(",")
    for name in ran:
        fn, fn_args = plan[name]
        t = time.perf_counter()
        fn(fn_args)
        print(f"[bench] {name}: {time.perf_counter() - t:.0f} s", flush=True)
    blocks = [(RESULTS / f"{name}.md").read_text() for name in SECTIONS if (RESULTS / f"{name}.md").exists()]
    took = f"`make bench` ({', '.join(ran)}) took {time.perf_counter() - start:.0f} s" if ran else "collected"
    summary = (f"# Benchmark results\n\nThe latest table of each benchmark; each carries its own date, machine and "
               f"load. {today()} · {machine()} · {took}\n\n" + "\n".join(blocks))
    (RESULTS / "RESULTS.md").write_text(summary)
    print(f"[bench] wrote {RESULTS / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
