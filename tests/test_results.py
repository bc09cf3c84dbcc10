"""The results store: concurrent appends keep every row; one run folder is one run however spelled."""

from __future__ import annotations

import multiprocessing
import os

import pandas as pd

from dca.runs import results


def rows_of(run: str, n: int = 1) -> pd.DataFrame:
    return pd.DataFrame([{"run": run, "model": "m", "dataset": "d", "method": "dca", "metric": f"m{i}",
                          "value": 0.5, "low": 0.4, "high": 0.6, "n": 10, "seed": 0, "profile": "p",
                          "commit": "c", "date": "2025-01-01", "source": "this repository"} for i in range(n)])


def writer(store: str, prefix: str, count: int) -> None:
    for i in range(count):
        results.append(store, rows_of(f"/runs/{prefix}{i}"))


def test_concurrent_appends_keep_every_row(tmp_path):
    store = str(tmp_path / "results.csv")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=writer, args=(store, p, 40)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(results.read_store(store)) == 80  # without the lock 45-61 of 80 survived


def test_relative_and_absolute_run_folders_are_one_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "results.csv"
    results.append(store, rows_of("runs/x", 3))
    results.append(store, rows_of(os.path.join(str(tmp_path), "runs", "x") + "/", 3))
    results.append(store, rows_of("./runs/../runs/x", 3))
    assert len(results.read_store(store)) == 3


def test_a_symlinked_run_folder_is_the_same_run(tmp_path):
    (tmp_path / "runs" / "x").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "runs" / "x")
    store = tmp_path / "results.csv"
    results.append(store, rows_of(str(tmp_path / "runs" / "x"), 3))
    results.append(store, rows_of(str(tmp_path / "link"), 3))
    assert len(results.read_store(store)) == 3


def test_the_same_relative_name_from_another_folder_is_another_run(tmp_path, monkeypatch):
    """The evaluation writes the real path into ``run``: runs/x of two working folders stay apart."""
    store = tmp_path / "results.csv"
    for where in ("a", "b"):
        (tmp_path / where / "runs" / "x").mkdir(parents=True)
        monkeypatch.chdir(tmp_path / where)
        results.append(store, rows_of(results.run_key("runs/x"), 3))
    assert len(results.read_store(store)) == 6


def test_an_empty_store_file_reads_as_an_empty_store(tmp_path):
    (tmp_path / "results.csv").write_text("")
    results.check_store(tmp_path / "results.csv")
    results.append(tmp_path / "results.csv", rows_of("/runs/x", 2))
    assert len(results.read_store(tmp_path / "results.csv")) == 2
