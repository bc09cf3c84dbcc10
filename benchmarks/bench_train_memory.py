"""Peak memory and time of each DPO step on a run folder's own pairs, under parameter overrides.

For each variant (``key=value`` overrides of :class:`dca.train.stage.TrainConfig`, separated by ``;``) this
trains ``--steps`` optimiser steps on ``RUN_DIR/pairs.jsonl`` (seed 0, so the same batches in the
same order) in a fresh process, and records per step: wall time, the largest resident memory of the
process during the step (sampled every 50 ms) and the tokens the shared-prefix forward ran (policy +
reference; ``dca.train.dpo_prefix``'s counter). Memory per token is the step's peak minus the memory
before it, over those tokens.

``python benchmarks/bench_train_memory.py RUN_DIR --model qwen2.5-coder-1.5b --steps 2
--variants "; lora_dropout=0.0; batch_size=2 grad_accum=2"``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])  # benchmarks/, for common
from common import RssSampler, rss_gib
from dca.train.stage import TrainConfig, train_adapter
from transformers import TrainerCallback
config = TrainConfig.from_dict(json.loads(sys.argv[1]))
steps, state = [], {}
class Steps(TrainerCallback):
    def on_step_begin(self, args, s, control, **kw):
        state["before"], state["t"] = rss_gib(), time.perf_counter()
        sampler.reset()
    def on_step_end(self, args, s, control, model=None, **kw):
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        run = getattr(base, "dca_tokens_run", 0)
        steps.append({"s": time.perf_counter() - state["t"], "peak_gib": sampler.peak,
                      "before_gib": state["before"], "tokens_run": run - state.get("run", 0)})
        state["run"] = run
with RssSampler() as sampler:
    train_adapter(config, callbacks=[Steps()], force=True, progress=False)
print("STEPS " + json.dumps(steps))
"""


def run_variant(pairs: Path, model: str, steps: int, overrides: dict[str, str]) -> list[dict]:
    """Train ``steps`` steps in a child process on a copy of ``pairs``; the per-step records."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(pairs, Path(tmp) / "pairs.jsonl")
        config = {"run_dir": tmp, "model": model, "max_steps": steps, "save_steps": 10_000, "seed": 0,
                  "learning_rate": 1e-4, "max_length": 768, "resume": False, **overrides}
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), str(Path(__file__).resolve().parent)],
                             capture_output=True, text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("STEPS ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"variant {overrides} failed:\n{out.stderr[-3000:]}")
    return json.loads(line[len("STEPS "):])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", help="a run folder holding pairs.jsonl (e.g. runs/default after make book)")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--variants", default="; lora_dropout=0.0; batch_size=2 grad_accum=2",
                    help="';'-separated variants, each space-separated key=value overrides (empty: defaults)")
    ap.add_argument("--tag", default="", help="results go to results/train_memory_<tag>.md")
    args = ap.parse_args(argv)

    pairs = Path(args.run_dir) / "pairs.jsonl"
    if not pairs.exists():
        raise SystemExit(f"{pairs} is missing: run the pipeline up to notebook 02 (make book) first")
    rows, data_rows = [], []
    for variant in args.variants.split(";"):
        overrides = dict(item.split("=", 1) for item in variant.split())
        records = run_variant(pairs, args.model, args.steps, overrides)
        name = variant.strip() or "defaults"
        for i, r in enumerate(records, 1):
            per_token = (r["peak_gib"] - r["before_gib"]) * 1024 / r["tokens_run"] if r["tokens_run"] else float("nan")
            rows.append([name, i, r["tokens_run"], r["s"], r["peak_gib"], per_token])
        data_rows.append({"variant": name, "overrides": overrides, "steps": records})
    text = (f"{args.model}, the pairs of `{args.run_dir}` in training order (seed 0), {args.steps} optimiser steps "
            "per variant, each variant in its own process; peak = largest resident memory during the step.\n\n"
            + table(["variant", "step", "tokens run", "seconds", "peak GiB", "MiB per token over the step's start"], rows))
    name = f"train_memory_{args.tag}" if args.tag else "train_memory"
    report(name, "DPO step memory against the tokens it runs", text,
           {"model": args.model, "run_dir": args.run_dir, "steps": args.steps, "rows": data_rows})
    return {"rows": data_rows}


if __name__ == "__main__":
    main()
