"""The whole pipeline (extract -> pairs -> train -> evaluate) on a tiny model that follows the format."""

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from dca.cli import main as cli_main
from dca.evaluate.bootstrap import paired_table
from dca.evaluate.metrics import METRICS
from dca.evaluate.stage import load_metrics
from dca.runs import results

pytestmark = pytest.mark.slow


def test_pipeline_end_to_end_and_skips_done_stages(format_model_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    store = tmp_path / "results.csv"
    args = ["run", "profile=none", f"run_dir={run_dir}", f"model={format_model_dir}", "n_questions=16", "n_eval=8",
            "k_shot=0", "max_new_tokens=10", "extract.batch_size=8", "train.max_steps=2", "train.batch_size=2",
            "train.max_length=256", "n_boot=50", f"results_store={store}", "device=cpu"]
    assert cli_main(args) == 0
    for name in ("questions.jsonl", "stage1.parquet", "pairs.jsonl", "adapter", "train_log.jsonl",
                 "eval.parquet", "metrics.json"):
        assert (run_dir / name).exists(), name
    result = load_metrics(run_dir)
    assert set(result["before"]) == set(METRICS) and set(result["after"]) == set(METRICS)
    assert result["n_eval"] == 8
    table = paired_table(result["paired"])
    assert {"sigma_eps", "mean_abs_eps", "sigma_m", "rho"} <= set(table["metric"])
    rows = pd.read_csv(store)
    assert set(rows["method"]) == {"vanilla", "dca"} and (rows["run"] == results.run_key(run_dir)).all()
    # eval questions are disjoint from the training questions the pairs came from
    stage1 = pd.read_parquet(run_dir / "stage1.parquet")
    pair_ids = {json.loads(line)["id"] for line in (run_dir / "pairs.jsonl").read_text().splitlines()}
    assert pair_ids.isdisjoint(set(stage1.loc[stage1["split"] == "eval", "id"]))

    mtimes = {p: (run_dir / p).stat().st_mtime_ns for p in ("stage1.parquet", "pairs.jsonl", "metrics.json")}
    capsys.readouterr()
    assert cli_main(args) == 0  # nothing changed: every stage is skipped
    assert {p: (run_dir / p).stat().st_mtime_ns for p in mtimes} == mtimes
    assert len(pd.read_csv(store)) == len(rows)  # the same run's rows are replaced, not duplicated


def test_evaluate_without_adapter_names_the_notebook(format_model_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert cli_main(["extract", "profile=none", f"run_dir={run_dir}", f"model={format_model_dir}", "n_questions=4", "n_eval=2",
                     "k_shot=0", "max_new_tokens=10"]) == 0
    capsys.readouterr()
    assert cli_main(["evaluate", "profile=none", f"run_dir={run_dir}"]) == 2  # a user error: one line, no traceback
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "03_dpo_training" in err and "\n" not in err


def test_training_another_model_than_the_one_elicited_fails(format_model_dir, tmp_path):
    from dca.config import ConfigError
    from dca.train.stage import TrainConfig, train_adapter

    run_dir = tmp_path / "run"
    assert cli_main(["extract", "profile=none", f"run_dir={run_dir}", f"model={format_model_dir}", "n_questions=4", "n_eval=2",
                     "k_shot=0", "max_new_tokens=10"]) == 0
    assert cli_main(["pairs", "profile=none", f"run_dir={run_dir}"]) == 0
    with pytest.raises(ConfigError, match="DPO must train the model that wrote them"):
        train_adapter(TrainConfig.from_dict({"run_dir": str(run_dir), "model": "embedded"}))


FAULT_POINTS = ("extract:before-write", "pairs:before-write", "train:step-3", "evaluate:before-write")


def _run(args: list[str], fault: str | None = None) -> int:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DCA_FAULT"}
    if fault:
        env["DCA_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "dca", *args], env=env, capture_output=True, text=True,
                          timeout=600).returncode


def test_a_run_killed_anywhere_reruns_to_the_same_tables(format_model_dir, tmp_path):
    """SIGKILL at several points of a whole run (before each artifact is written, in the middle of
    training); each rerun completes and ends with the same stage-1 and evaluation tables and the same
    losses as an uninterrupted run."""
    def args(run_dir):
        return ["run", "profile=none", f"run_dir={run_dir}", f"model={format_model_dir}", "n_questions=12", "n_eval=6",
                "k_shot=0", "max_new_tokens=10", "extract.batch_size=6", "train.max_steps=4", "train.batch_size=2",
                "train.save_steps=2", "train.lora_dropout=0", "train.max_length=256", "n_boot=20",
                f"results_store={run_dir}/results.csv", "device=cpu", "dtype=float32", "precision=fp32"]

    clean = tmp_path / "clean"
    assert _run(args(clean)) == 0
    want_stage1 = pd.read_parquet(clean / "stage1.parquet")
    want_eval = pd.read_parquet(clean / "eval.parquet")
    want_losses = [r["loss"] for r in map(json.loads, (clean / "train_log.jsonl").read_text().splitlines())
                   if "loss" in r]
    _check_fingerprint(clean)
    for point in FAULT_POINTS:
        run_dir = tmp_path / point.replace(":", "-")
        assert _run(args(run_dir), fault=point) == -9, point  # killed there
        assert not (run_dir / "metrics.json").exists()
        assert _run(args(run_dir)) == 0, f"rerun after a kill at {point}"
        got_stage1 = pd.read_parquet(run_dir / "stage1.parquet")
        pd.testing.assert_frame_equal(got_stage1, want_stage1, check_exact=False, atol=1e-5)
        got_eval = pd.read_parquet(run_dir / "eval.parquet")
        assert list(got_eval["response"]) == list(want_eval["response"]), point
        assert (got_eval["c_i"] - want_eval["c_i"]).abs().max() < 1e-4, point
        losses = [r["loss"] for r in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines())
                  if "loss" in r]
        assert losses == pytest.approx(want_losses, abs=1e-4), point


#: The recorded digests of a run's tables (stage 1, pairs, training losses, evaluation, metrics) from
#: the run above. A refactoring must leave them unchanged; a deliberate change of behaviour records them
#: again with ``DCA_RECORD_FINGERPRINT=1 pytest tests/test_pipeline.py -k killed_anywhere``.
FINGERPRINT = Path(__file__).parent / "fixtures" / "pipeline_fingerprint.json"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _table(path: Path, columns: list[str]) -> list:
    """The columns of a parquet table, floats rounded to 4 decimals (the last bits vary by CPU)."""
    frame = pd.read_parquet(path)[columns]
    return [[round(v, 4) if isinstance(v, float) else v for v in row] for row in frame.itertuples(index=False)]


def run_fingerprint(run_dir: Path) -> dict[str, str]:
    """A digest of every table a run writes that carries a result, without the times and folders."""
    stage_columns = ["id", "split", "response", "c_v", "c_i", "letter", "correct"]
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "questions": _digest((run_dir / "questions.jsonl").read_text()),
        "stage1": _digest(_table(run_dir / "stage1.parquet", stage_columns)),
        "pairs": _digest((run_dir / "pairs.jsonl").read_text()),
        "pairs_heldout": _digest((run_dir / "pairs_heldout.jsonl").read_text()),
        "losses": _digest([round(r["loss"], 4) for r in log if "loss" in r]),
        "eval": _digest(_table(run_dir / "eval.parquet", stage_columns)),
        "metrics": _digest(json.loads(json.dumps(
            {k: metrics[k] for k in ("before", "after", "paired", "n_eval")}, default=str),
            parse_float=lambda x: round(float(x), 4))),
    }


def _check_fingerprint(run_dir: Path) -> None:
    got = run_fingerprint(run_dir)
    if os.environ.get("DCA_RECORD_FINGERPRINT") == "1":
        FINGERPRINT.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(FINGERPRINT.read_text()), (
        "the run's tables changed; if that is meant, record them again (see FINGERPRINT)")


EVALUATE_FAULTS = ("evaluate:before-write", "evaluate:after-eval", "evaluate:after-metrics", "evaluate:after-store")
#: Columns that differ between two runs of the same evaluation by design (the folder, the day, the tree).
VARYING = ["run", "date", "commit"]


def _store_rows(store) -> pd.DataFrame:
    rows = pd.read_csv(store).drop(columns=VARYING)
    return rows.sort_values(["method", "metric"]).reset_index(drop=True)


def _copy_until_evaluate(clean, run_dir) -> None:
    """A copy of a finished run folder without its evaluation (the evaluate stage then has all to do)."""
    import shutil

    shutil.copytree(clean, run_dir)
    for name in ("eval.parquet", "metrics.json", "results.csv"):
        for path in (run_dir / name, run_dir / f"{name}.provenance.json"):
            path.unlink(missing_ok=True)


def test_evaluate_killed_between_any_two_writes_ends_with_the_rows_of_an_uninterrupted_run(format_model_dir, tmp_path):
    """SIGKILL between every pair of the evaluation's writes (its table, metrics.json, the store, the
    provenance that marks it done): the rerun ends with exactly the rows of an uninterrupted run; a
    store removed after a finished run, or one that could not be written, gets its rows back on the
    next run (the stage is done only when its rows are in the store)."""
    def args(run_dir):
        return ["evaluate", "profile=none", f"run_dir={run_dir}", "n_boot=20", f"results_store={run_dir}/results.csv",
                "device=cpu", "dtype=float32"]

    clean = tmp_path / "clean"
    assert _run(["run", "profile=none", f"run_dir={clean}", f"model={format_model_dir}", "n_questions=8", "n_eval=4", "k_shot=0",
                 "max_new_tokens=10", "train.max_steps=1", "train.batch_size=2", "train.max_length=256",
                 "n_boot=20", f"results_store={clean}/results.csv", "device=cpu", "dtype=float32",
                 "precision=fp32"]) == 0
    want = _store_rows(clean / "results.csv")
    assert len(want) > 0
    for point in EVALUATE_FAULTS:
        run_dir = tmp_path / point.replace(":", "-")
        _copy_until_evaluate(clean, run_dir)
        assert _run(args(run_dir), fault=point) == -9, point
        assert _run(args(run_dir)) == 0, f"rerun after a kill at {point}"
        pd.testing.assert_frame_equal(_store_rows(run_dir / "results.csv"), want, check_exact=False, atol=1e-9)
        assert set(pd.read_csv(run_dir / "results.csv")["run"]) == {results.run_key(run_dir)}

    # the store removed after a finished evaluation: the skipped stage writes the rows again
    run_dir = tmp_path / "evaluate-after-store"
    metrics_mtime = (run_dir / "metrics.json").stat().st_mtime_ns
    (run_dir / "results.csv").unlink()
    assert _run(args(run_dir)) == 0
    assert (run_dir / "metrics.json").stat().st_mtime_ns == metrics_mtime  # not evaluated again
    pd.testing.assert_frame_equal(_store_rows(run_dir / "results.csv"), want, check_exact=False, atol=1e-9)


def test_a_store_that_cannot_be_written_leaves_the_evaluation_undone(format_model_dir, tmp_path, monkeypatch, capsys):
    import errno

    run_dir = tmp_path / "run"
    store = tmp_path / "results.csv"
    common = ["profile=none", f"run_dir={run_dir}", f"results_store={store}", "n_boot=20", "device=cpu", "dtype=float32"]
    assert cli_main(["run", *common, f"model={format_model_dir}", "n_questions=8", "n_eval=4", "k_shot=0",
                     "max_new_tokens=10", "train.max_steps=1", "train.batch_size=2", "train.max_length=256",
                     "precision=fp32"]) == 0
    want = _store_rows(store)
    store.unlink()
    (run_dir / "metrics.json.provenance.json").unlink()  # evaluate again, this time onto a full disk

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(store))

    monkeypatch.setattr(results, "append", full)
    capsys.readouterr()
    assert cli_main(["evaluate", *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bars
    assert err.startswith("error: ") and "No space left" in err
    monkeypatch.undo()
    assert cli_main(["evaluate", *common]) == 0
    pd.testing.assert_frame_equal(_store_rows(store), want, check_exact=False, atol=1e-9)
