"""The reference experiment: seeds, an SFT baseline and one-factor ablations, run job by job.

``python -m dca.reference run`` (``make reference``) runs every job of :data:`JOBS` that has not
finished, in order, each as its own ``python -m dca run`` process on the ``reference`` profile (the
book's model and data: Qwen2.5-Coder-1.5B-Instruct on OpenBookQA + MMLU + ARC-Challenge):

* ``seed0``, ``seed1``, ``seed2`` — the whole pipeline with ``seed`` = 0, 1, 2: the seed draws the
  questions, splits them into training and held-out questions, initialises LoRA and orders the pairs;
* ``seedN-sft`` — the SFT baseline (the chosen replies as targets, same LoRA, pairs, steps and
  learning rate) on seed N's stage-1 table and pairs;
* ``abl-...`` — one factor changed from ``seed0`` (target ``c_i_norm``, beta 0.05 / 0.5, IPO loss,
  3 epochs, correct answers only, LoRA on the last 14 layers only), on seed 0's stage-1 table.

Each stage of a job runs in its own process (training's memory is returned to the system before the
evaluation loads the model again). A job whose stage 1 is another job's copies that table (and the question file) into its own folder
first, so it is computed once. Every stage skips when its output exists for the same parameters and
training resumes from its last checkpoint, so an interrupted ``run`` continues where it stopped;
``--only NAME ...`` runs some jobs (the experiment can be completed in parts). Each finished job
appends a line (wall time of the call that finished it, machine, commit) to
``runs/reference/jobs.jsonl``.
``python -m dca.reference collect`` then turns the run folders into the committed results file
(:mod:`dca.reference_results`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dca import artifacts
from dca.paths import ROOT

RUNS = Path("runs/reference")
PROFILE = "reference"
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Job:
    """One run of the pipeline: a folder, parameters beyond the profile, and whose stage 1 it reuses."""

    name: str
    kind: str  # "seed" | "sft" | "ablation"
    seed: int
    params: dict[str, str] = field(default_factory=dict)
    reuse: str | None = None  # the job whose stage-1 table (and pairs, when the same) this one copies
    factor: str = ""  # what an ablation changes, in words

    @property
    def run_dir(self) -> Path:
        return RUNS / self.name


def _jobs() -> list[Job]:
    # Held-out monitoring (DPO loss on held-out pairs during training) costs ~5 minutes a run on a
    # 2-core CPU: seed 0 has it, the other seeds train the same way without measuring.
    jobs = [Job(f"seed{s}", "seed", s, {} if s == 0 else {"train.heldout_pairs": "0"}) for s in SEEDS]
    # SFT on every seed right after the seeds: on seed 0 it beat DPO, and one seed is not a finding.
    jobs += [Job(f"seed{s}-sft", "sft", s, {"train.method": "sft"}, reuse=f"seed{s}",
                 factor="SFT on the chosen replies instead of DPO") for s in SEEDS]
    ablations = [
        ("abl-lr5e-4", {"train.learning_rate": "5e-4"}, "learning rate 5e-4 (default 1e-4)"),
        ("abl-beta0.5", {"train.beta": "0.5"}, "beta 0.5 (default 0.1)"),
        ("abl-ipo", {"train.loss_type": "ipo"}, "IPO loss (default sigmoid DPO)"),
        ("abl-target-cinorm", {"pairs.target": "c_i_norm"}, "target C_i^norm (default C_i)"),
        ("abl-correct-only", {"pairs.correct_only": "true"}, "pairs from correct answers only"),
        ("abl-beta0.05", {"train.beta": "0.05"}, "beta 0.05 (default 0.1)"),
        # The speed option: the backward pass stops at layer 14 (about half the step's backward work).
        ("abl-lora-last14", {"train.lora_layers": "14"}, "LoRA on the last 14 of 28 layers (default all)"),
    ]
    # Held-out monitoring costs ~20 % of a run: the seeds have it, the one-seed ablations do not.
    jobs += [Job(n, "ablation", 0, {**p, "train.heldout_pairs": "0"}, reuse="seed0", factor=f)
             for n, p, f in ablations]
    jobs.append(Job("abl-epochs3", "ablation", 0, {"train.epochs": "3"}, reuse="seed0",
                    factor="3 epochs (default 1)"))
    return jobs


#: Every job, in the order ``run`` takes them (most informative first).
JOBS: list[Job] = _jobs()


def job(name: str) -> Job:
    """The job of that name (error listing the names).

    >>> job("seed1").seed
    1
    """
    for j in JOBS:
        if j.name == name:
            return j
    raise KeyError(f"unknown job {name!r}; jobs: {', '.join(j.name for j in JOBS)}")


def is_finished(j: Job) -> bool:
    """Whether the job's evaluation exists (its last stage)."""
    run = artifacts.RunFolder(j.run_dir)
    return run.metrics.exists() and run.eval.exists()


def copy_stage1(j: Job) -> None:
    """Copy the reused job's stage-1 table, its provenance and the question file into ``j``'s folder."""
    if j.reuse is None:
        return
    src = job(j.reuse).run_dir
    j.run_dir.mkdir(parents=True, exist_ok=True)
    for artifact in ("stage1", "questions"):
        path = getattr(artifacts.RunFolder(src), artifact)
        for name in (path.name, artifacts.provenance_path(path).name):
            if (src / name).exists() and not (j.run_dir / name).exists():
                shutil.copy2(src / name, j.run_dir / name)


def machine() -> str:
    """A short description of this machine: CPU model, cores, memory."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB"


STAGES = ("extract", "pairs", "train", "evaluate")


def _fields(stage: str) -> list[str]:
    from dca.cli import stage_config

    return stage_config(stage).field_names()


def command(j: Job, stage: str = "run") -> list[str]:
    """The ``python -m dca <stage>`` command of a job (``run``: every stage in one process, where the
    seed of each stage that has one is named with its stage: ``extract.seed=1 train.seed=1 ...``)."""
    args = [f"profile={PROFILE}", f"run_dir={j.run_dir}"]
    if stage == "run":
        args += [f"{s}.seed={j.seed}" for s in STAGES if "seed" in _fields(s)]
    elif "seed" in _fields(stage):
        args.append(f"seed={j.seed}")
    if stage in ("run", "evaluate"):
        args.append(f"{'evaluate.' if stage == 'run' else ''}results_store={RUNS / 'results.csv'}")
    for key, value in j.params.items():
        target, _, name = key.partition(".")
        if stage == "run":
            args.append(f"{key}={value}")
        elif target == stage:
            args.append(f"{name}={value}")
    return [sys.executable, "-m", "dca", stage, *args]


def run_job(j: Job) -> float:
    """Run one job (resuming whatever it had done); append its record to ``jobs.jsonl``."""
    if j.reuse is not None:
        if not artifacts.RunFolder(job(j.reuse).run_dir).stage1.exists():
            raise RuntimeError(f"job {j.name} reuses {j.reuse}'s stage 1, which has not run: run {j.reuse} first")
        copy_stage1(j)
    j.run_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    print(f"[reference] {j.name}: {' '.join(command(j)[3:])}", flush=True)
    for stage in STAGES:  # one process per stage: training's memory is returned before evaluation loads
        subprocess.run(command(j, stage), check=True, cwd=ROOT)
    seconds = time.time() - start
    record = {"job": j.name, "kind": j.kind, "seed": j.seed, "params": j.params, "factor": j.factor,
              "wall_s": round(seconds, 1), "machine": machine(), "commit": artifacts.git_commit(),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(RUNS / "jobs.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dca.reference", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the jobs that have not finished")
    run.add_argument("--only", nargs="+", help="job names (default: all, in order)")
    sub.add_parser("list", help="the jobs and whether each has finished")
    sub.add_parser("collect", help="write the results file from the finished jobs")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        for j in JOBS:
            print(f"{j.name:20s} {'done' if is_finished(j) else 'todo':5s} {j.factor or j.kind}")
        return 0
    if args.cmd == "collect":
        from dca.reference_results import collect

        path = collect()
        print(f"results written to {path}")
        return 0
    return run_in_order(args.only, JOBS, job, is_finished, run_job, RUNS, "reference")


def run_in_order(only: list[str] | None, jobs: list, find: Any, finished: Any, run: Any, runs: Path,
                 name: str) -> int:
    """Run the named jobs (or all of ``jobs``) in order, skipping finished ones; a failing job stops
    the run with one line saying how to resume (status 2). Shared by the reference experiment and the
    objectives study (``name``: ``reference`` or ``study``)."""
    try:
        chosen = [find(n) for n in only] if only else jobs
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    runs.mkdir(parents=True, exist_ok=True)
    for j in chosen:
        if finished(j):
            print(f"[{name}] {j.name}: done", flush=True)
            continue
        try:
            run(j)
        except (RuntimeError, subprocess.CalledProcessError) as err:
            print(f"error: job {j.name}: {err}; rerun `python -m dca.{name} run` to resume", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
