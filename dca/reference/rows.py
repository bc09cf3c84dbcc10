"""Result rows and job records, shared by both experiments (the reference experiment and the
objectives study): the metrics of a set of replies with their intervals, the share of the most common
stated number, the record a runner appends when a job finishes (``runs/.../jobs.jsonl``), and
collecting finished jobs into CSV files."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from dca.evaluate.bootstrap import bootstrap, paired_bootstrap
from dca.evaluate.metrics import METRICS, compute
from dca.runs import artifacts


def triple(frame: pd.DataFrame, c_v: str = "c_v") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stated confidence, ``C_i`` and correctness columns of a table of replies, as arrays."""
    return (frame[c_v].to_numpy(float), frame["c_i"].to_numpy(float), frame["correct"].to_numpy(bool))


def metric_rows(before: tuple, after: tuple | None, n_boot: int, seed: int) -> dict[str, dict[str, float]]:
    """Per metric: value and interval of ``after`` (or ``before`` when None), and the paired difference.

    The values of an empty set of questions are NaN (a run whose replies no longer parse)."""
    target = after if after is not None else before
    if len(target[0]) == 0:
        return {key: {"value": math.nan, "low": math.nan, "high": math.nan, "diff": math.nan,
                      "diff_low": math.nan, "diff_high": math.nan, "n": 0} for key in METRICS if key != "n"}
    values = compute(*target)
    intervals = bootstrap(*target, n_boot=n_boot, seed=seed) if len(target[0]) > 1 else {}
    paired = paired_bootstrap(before, after, n_boot=n_boot, seed=seed) if after is not None and len(target[0]) > 1 else {}
    out = {}
    for key in METRICS:
        if key == "n":
            continue
        low, high = intervals.get(key, (math.nan, math.nan))
        p = paired.get(key, {})
        out[key] = {"value": values[key], "low": low, "high": high, "diff": p.get("diff", math.nan),
                    "diff_low": p.get("low", math.nan), "diff_high": p.get("high", math.nan),
                    "n": len(target[0])}
    return out


def distinct_share(c_v: np.ndarray) -> tuple[int, float]:
    """How many distinct stated numbers, and the share (%) of the most common one.

    >>> distinct_share(np.array([70., 70., 80., 70.]))
    (2, 75.0)
    """
    if c_v.size == 0:
        return 0, math.nan
    values, counts = np.unique(c_v, return_counts=True)
    return int(values.size), float(100.0 * counts.max() / c_v.size)


def append_job_record(runs: Path, record: dict[str, Any]) -> None:
    """Append ``record`` to ``runs/jobs.jsonl`` with the machine, the commit and the time it finished."""
    record = {**record, "machine": artifacts.machine(), "commit": artifacts.git_commit(),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(runs / "jobs.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")


_WARNED: set[tuple[str, tuple[int, ...]]] = set()


def job_records(runs: Path) -> list[dict[str, Any]]:
    """Every record a runner appended to ``runs/jobs.jsonl`` (one per finished call), oldest first.

    A line that is not a JSON object naming its ``job`` (one cut short by a lost machine, one edited
    by hand) is left out, and named in one line on stderr.
    """
    path = runs / "jobs.jsonl"
    if not path.exists():
        return []
    records, bad = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("job"), str):
            records.append(record)
        else:
            bad.append(number)
    if bad and (str(path), tuple(bad)) not in _WARNED:  # once, though every job reads the file
        _WARNED.add((str(path), tuple(bad)))
        print(f"warning: {path}: line(s) {', '.join(map(str, bad))} are not job records (cut short or edited); "
              "left out", file=sys.stderr)
    return records


def last_record(runs: Path, job: str) -> dict[str, Any]:
    """The newest record of ``job`` in ``runs/jobs.jsonl`` (``{}`` when the runner recorded none)."""
    return dict(next((r for r in reversed(job_records(runs)) if r.get("job") == job), {}))


#: What reading a job's folder raises when a file in it is damaged or missing: cut-short tables
#: (``pyarrow``'s errors are ``ValueError``\ s), JSON that does not parse, a record without a key.
UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError)


def unreadable(err: BaseException) -> str:
    """One line for a job that could not be read: the error's type and its first line.

    >>> unreadable(KeyError("job"))
    "KeyError: 'job'"
    """
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def chosen_jobs(only: Iterable[str] | None, jobs: list[Any], find: Callable[[str], Any]) -> list[Any]:
    """The jobs named by ``only`` (found with ``find``, which raises KeyError naming an unknown one), or
    every job of ``jobs`` when ``only`` is empty: what ``run --only`` and ``collect --only`` act on."""
    return [find(name) for name in only] if only else jobs


def collect_jobs(jobs: Iterable[Any], *, finished: Callable[[Any], bool],
                 job_rows: Callable[..., tuple[list[dict[str, Any]], pd.DataFrame]],
                 training_rows: Callable[[Any], pd.DataFrame], files: tuple[Path, Path, Path],
                 columns: Iterable[str], n_boot: int) -> Path | None:
    """Merge the rows of every job of ``jobs`` that has finished here into ``files`` = (results,
    questions, training).

    ``job_rows(job, n_boot=...)`` gives a job's tidy metric rows and its per-question table,
    ``training_rows(job)`` its training log; unfinished jobs are skipped, and so is a job whose files
    cannot be read (:data:`UNREADABLE`), named in one line on stderr. A job's rows replace that job's
    rows in each file; the rows of every other job (finished on another machine, committed, or not
    readable here) are kept, so collecting on a machine that ran one job never drops the others. The
    rows are ordered as ``jobs`` is (jobs the list does not name last). Each file is replaced
    atomically (an interrupted collection leaves the previous files whole). Returns the results file,
    or None when no job has finished here, or none could be read (then nothing is written).
    """
    jobs = list(jobs)
    done = [j for j in jobs if finished(j)]
    if not done:
        return None
    rows: list[dict[str, Any]] = []
    questions, training = [], []
    names: set[str] = set()  # the jobs read here: their rows replace theirs in the files
    for j in done:
        try:
            r, q = job_rows(j, n_boot=n_boot)
            t = training_rows(j)
        except UNREADABLE as err:
            print(f"collect: job {getattr(j, 'name', j)} skipped, its files cannot be read ({unreadable(err)})",
                  file=sys.stderr)
            continue
        rows += r
        questions.append(q)
        training.append(t)
        names.add(j.name)
    if not names:
        return None
    order = {j.name: k for k, j in enumerate(jobs)}
    results, questions_file, training_file = files
    results.parent.mkdir(parents=True, exist_ok=True)
    for path, frames, digits in ((results, [pd.DataFrame(rows, columns=list(columns))], "%.6g"),
                                 (questions_file, questions, "%.4f"), (training_file, training, "%.5g")):
        old = pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()
        if "job" in old.columns:
            frames = [old[~old["job"].astype(str).isin(names)], *frames]
        kept = [f for f in frames if not f.empty]
        frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(
            columns=list(columns) if path == results else [])
        if "job" in frame.columns:
            rank = frame["job"].map(lambda name: order.get(str(name), len(order)))
            frame = frame.iloc[np.argsort(rank.to_numpy(), kind="stable")]
        with artifacts.atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, float_format=digits)
    return results
