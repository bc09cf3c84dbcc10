"""1d. The whole default pipeline: wall time and peak memory of each stage.

Each stage runs in its own process, ``python -m dca <stage> profile=default run_dir=<tmp> ...``, in the
order extract -> pairs -> train -> evaluate (what ``python -m dca run profile=default`` does in one
process); the peak resident memory of each is the child's ``ru_maxrss`` (from ``os.wait4``).

By default the run is *scaled* for a quick check (``--scale small``: ``n_questions=48 n_eval=24``,
``train.max_steps=3``); ``--scale full``, what ``make bench`` runs, is the default profile unchanged
(300 questions, one epoch of DPO: about 5 minutes on 2 cores).

``python benchmarks/bench_pipeline.py [--scale full]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("extract", "pairs", "train", "evaluate")
SCALED = {"extract": ["n_questions=48", "n_eval=24"], "train": ["max_steps=3"]}


def run_stage(stage: str, args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of ``python -m dca stage args`` in a child process."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dca", stage, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        print(output[-3000:], file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024.0, code


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=["small", "full"], default="small")
    ap.add_argument("--run-dir", default=None, help="keep the run here (default: a temporary folder)")
    args = ap.parse_args(argv)

    rows, data_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or str(Path(tmp) / "run")
        common = ["profile=default", f"run_dir={run_dir}"]
        total = 0.0
        for stage in STAGES:
            extra = SCALED.get(stage, []) if args.scale == "small" else []
            if stage == "evaluate":
                extra = extra + [f"results_store={Path(run_dir) / 'results.csv'}"]
            seconds, rss, code = run_stage(stage, common + extra)
            total += seconds
            rows.append([stage, seconds, rss, "ok" if code == 0 else f"exit {code}", " ".join(extra) or "-"])
            data_rows.append({"stage": stage, "wall_s": seconds, "peak_rss_mib": rss, "exit": code, "overrides": extra})
            if code != 0:
                break
    rows.append(["total", total, max(r[2] for r in rows), "", ""])
    scale = ("scaled: 48 questions (24 eval), 3 training steps" if args.scale == "small"
             else "the default profile unchanged")
    text = (f"`python -m dca <stage> profile=default` per stage, each in its own process ({scale}); "
            f"peak RSS = the child's ru_maxrss. Wall time includes Python start-up and model loading.\n\n"
            + table(["stage", "wall s", "peak RSS MiB", "status", "overrides"], rows))
    data = {"scale": args.scale, "rows": data_rows}
    report(f"pipeline_{args.scale}", "1d. The whole default pipeline, stage by stage", text, data)
    return data


if __name__ == "__main__":
    main()
