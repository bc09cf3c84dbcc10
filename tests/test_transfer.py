"""Stage "transfer": a trained adapter on questions of a dataset it was not trained on."""

import pandas as pd
import pytest

from dca.cli import main as cli_main
from dca.evaluate.metrics import METRICS
from dca.evaluate.transfer import load_transfer, transfer_files

pytestmark = pytest.mark.slow


def test_transfer_rows_before_after_and_a_shared_before_table(format_model_dir, tmp_path, capsys):
    store = tmp_path / "results.csv"
    common = [f"model={format_model_dir}", "device=cpu"]
    runs = []
    for seed in (0, 1):  # two runs with other training questions: the same transfer questions
        run_dir = tmp_path / f"run{seed}"
        args = ["run", f"run_dir={run_dir}", *common, "dataset=synthetic", "n_questions=16", "n_eval=8",
                "k_shot=0", "max_new_tokens=10", "extract.batch_size=8", f"extract.seed={seed}",
                "train.max_steps=1", "train.batch_size=2", "train.max_length=256", "evaluate.n_boot=20",
                f"results_store={store}"]
        assert cli_main(args) == 0
        questions = tmp_path / "other.jsonl"
        pd.DataFrame([{"id": f"o{i}", "question": f"Which number is {i}?",
                       "choices": [str(i), str(i + 1), str(i + 2), str(i + 3), str(i + 4)], "answer": 0}
                      for i in range(10)]).to_json(questions, orient="records", lines=True)
        transfer = ["transfer", f"run_dir={run_dir}", f"questions={questions}", "n_questions=6", "n_boot=20",
                    f"results_store={store}", "batch_size=4", "device=cpu"]
        assert cli_main(transfer) == 0
        runs.append((run_dir, transfer))
    before0, after0, result = load_transfer(runs[0][0], str(tmp_path / "other.jsonl"))
    before1, _, _ = load_transfer(runs[1][0], str(tmp_path / "other.jsonl"))
    assert len(before0) == len(after0) == 6 and set(before0["source"]) == {"other.jsonl"}
    assert list(before0["id"]) == list(before1["id"])  # the same questions for every run
    assert set(result["before"]) == set(METRICS) and result["n_eval"] == 6
    rows = pd.read_csv(store)
    files = transfer_files(runs[0][0], str(tmp_path / "other.jsonl"))
    mine = rows[rows["run"] == str(files.folder)]
    assert set(mine["method"]) == {"vanilla", "dca"} and set(mine["dataset"]) == {str(tmp_path / "other.jsonl")}
    assert (rows["run"] == str(runs[0][0])).any()  # the held-out rows of the run stay beside them
    # done: a rerun skips; the before table copied into a fresh run of the same model is reused
    mtime = files.metrics.stat().st_mtime_ns
    assert cli_main(runs[0][1]) == 0
    assert files.metrics.stat().st_mtime_ns == mtime
    assert len(pd.read_csv(store)) == len(rows)


def test_transfer_refuses_training_questions_and_needs_an_adapter(format_model_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert cli_main(["transfer", f"run_dir={run_dir}"]) == 2
    assert "does not exist: run notebooks/01" in capsys.readouterr().err
    args = ["run", f"run_dir={run_dir}", f"model={format_model_dir}", "device=cpu", "n_questions=12", "n_eval=4",
            "k_shot=0", "max_new_tokens=10", "extract.batch_size=8", "train.max_steps=1", "train.batch_size=2",
            "train.max_length=256", "evaluate.n_boot=20", f"results_store={tmp_path / 'r.csv'}"]
    assert cli_main(args) == 0
    capsys.readouterr()
    assert cli_main(["transfer", f"run_dir={run_dir}", "questions=synthetic", "n_questions=12", "device=cpu",
                     f"results_store={tmp_path / 'r.csv'}"]) == 2
    assert "training questions" in capsys.readouterr().err
