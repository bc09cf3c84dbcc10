"""The results store: one tidy row per (run, model, dataset, method, metric), appended by each run.

Columns: ``run, model, dataset, method, metric, value, low, high, n, seed, profile, commit, date,
source``. ``method`` is ``vanilla`` (the base model) or ``dca`` (after training); ``low``/``high``
are bootstrap 95 % percentile intervals. ``source`` says where a row came from (``this repository``
for our runs; a contributed file names its machine). The results chapter reads our store
(``runs/results.csv``) and every contributed ``results/*.csv`` committed to the repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from dca.runs import artifacts
from dca.paths import ROOT

COLUMNS = ("run", "model", "dataset", "method", "metric", "value", "low", "high", "n", "seed",
           "profile", "commit", "date", "source")
CONTRIBUTED = ROOT / "results"


def read_store(path: str | Path) -> pd.DataFrame:
    """The rows of one store file (an empty table with the right columns when it does not exist or is
    empty)."""
    path = Path(path)
    if not path.exists() or not path.stat().st_size:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a results store: missing columns {missing}")
    return frame[list(COLUMNS)]


def check_store(path: str | Path) -> None:
    """Raise ``ValueError`` naming ``path`` unless it can be a results store: a non-empty name, not a
    folder, and, when the file exists, a CSV with the store's columns (only its header is read)."""
    if not str(path).strip():
        raise ValueError("results_store= is empty; name a CSV file (default runs/results.csv)")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"results_store={str(path)!r} is a folder, not a CSV file")
    if path.exists() and path.stat().st_size:
        try:
            header = pd.read_csv(path, nrows=0).columns
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise ValueError(f"results_store={str(path)!r} is not a results store ({err})") from None
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"results_store={str(path)!r} is not a results store: missing columns {missing}")


def run_key(run: str | Path) -> str:
    """A run folder as the store keys it: its real path (absolute, normalised, symlinks resolved), so
    ``runs/x``, ``/abs/runs/x`` and a link to it are one run. The evaluation writes this key into the
    ``run`` column, so a row keeps naming its folder whatever the working directory of a later reader.

    >>> run_key("/a/b/../runs/x/") == run_key("/a/runs/x")
    True
    """
    return os.path.realpath(str(run))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path.lock`` (concurrent writers queue, none loses rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def append(path: str | Path, rows: pd.DataFrame) -> Path:
    """Append rows atomically, under a file lock; rows of the same ``run`` already there are replaced.

    Runs are compared by :func:`run_key`, so the same folder given relative or absolute is one run.
    """
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack columns {missing}")
    path = Path(path)
    new = rows[list(COLUMNS)]
    with _locked(path):
        old = read_store(path)
        old = old[~old["run"].map(run_key).isin(set(new["run"].map(run_key)))]
        frames = [f for f in (old, new) if not f.empty]
        merged = pd.concat(frames, ignore_index=True) if frames else new
        with artifacts.atomic_path(path) as tmp:
            merged.to_csv(tmp, index=False)
    return path


def read_all(store: str | Path, contributed: str | Path = CONTRIBUTED) -> pd.DataFrame:
    """Our store plus every contributed ``results/*.csv``."""
    frames = [read_store(store)] + [read_store(p) for p in sorted(Path(contributed).glob("*.csv"))]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
