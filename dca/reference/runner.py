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
(:mod:`dca.reference.collect`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from dca import pipeline
from dca.paths import ROOT, at_root
from dca.reference.jobs import JOBS, PROFILE, RUNS, SEEDS, Job, is_finished, job
from dca.reference.rows import append_job_record, chosen_jobs
from dca.runs import artifacts
from dca.runs.artifacts import machine

__all__ = ["JOBS", "PROFILE", "RUNS", "SEEDS", "STAGES", "Job", "command", "copy_stage1", "is_finished", "job",
           "machine", "main", "run_in_order", "run_job"]


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


#: The stages of a job, in order: the pipeline of :data:`dca.pipeline.PIPELINE`.
STAGES = tuple(s.name for s in pipeline.PIPELINE)


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
    append_job_record(RUNS, {"job": j.name, "kind": j.kind, "seed": j.seed, "params": j.params, "factor": j.factor,
                             "wall_s": round(seconds, 1)})
    return seconds


def main(argv: list[str] | None = None) -> int:
    """``python -m dca.reference``: run, list or collect, from the repository root (where
    ``runs/reference`` is) wherever it is started."""
    with at_root():
        return _main(argv)


def experiment_parser(prog: str, doc: str, collect_help: str) -> tuple[argparse.ArgumentParser, Any]:
    """The command line both experiments share (``run [--only NAME ...]``, ``list``, ``collect``); returns
    the parser and its subcommands, to which an experiment adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the jobs that have not finished")
    run.add_argument("--only", nargs="+", help="job names (default: all, in order)")
    sub.add_parser("list", help="the jobs and whether each has finished")
    collect = sub.add_parser("collect", help=collect_help)
    collect.add_argument("--only", nargs="+", help="job names (default: every finished job); every other "
                                                   "job's committed rows are kept")
    return parser, sub


def _main(argv: list[str] | None) -> int:
    parser, _ = experiment_parser("python -m dca.reference", __doc__, "write the results file from the finished jobs")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        for j in JOBS:
            print(f"{j.name:20s} {'done' if is_finished(j) else 'todo':5s} {j.factor or j.kind}")
        return 0
    if args.cmd == "collect":
        from dca.reference.collect import collect

        return report_collected(lambda: collect(only=args.only), RUNS)
    return run_in_order(args.only, JOBS, job, is_finished, run_job, RUNS, "reference")


def report_collected(collect: Callable[[], Path | None], runs: Path) -> int:
    """Run a ``collect`` and say what it did: the file it merged the finished jobs into, or that no
    (named) job has finished under ``runs`` and the committed files were left as they are; a job name
    that is not the experiment's is one line (status 2)."""
    try:
        path = collect()
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    if path is None:
        print(f"no finished job under {runs}: the committed results files are unchanged")
    else:
        print(f"finished jobs' rows merged into {path} (other jobs' rows kept)")
    return 0


def run_in_order(only: list[str] | None, jobs: list, find: Any, finished: Any, run: Any, runs: Path,
                 name: str) -> int:
    """Run the named jobs (or all of ``jobs``) in order, skipping finished ones; a failing job stops
    the run with one line saying how to resume (status 2). Shared by the reference experiment and the
    objectives study (``name``: ``reference`` or ``study``)."""
    try:
        chosen = chosen_jobs(only, jobs, find)
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
            module = "dca.reference" if name == "reference" else f"dca.reference.{name}"
            print(f"error: job {j.name}: {err}; rerun `python -m {module} run` to resume", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
