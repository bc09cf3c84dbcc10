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
        args = ["run", "profile=none", f"run_dir={run_dir}", *common, "dataset=synthetic", "n_questions=16", "n_eval=8",
                "k_shot=0", "max_new_tokens=10", "extract.batch_size=8", f"extract.seed={seed}",
                "train.max_steps=1", "train.batch_size=2", "train.max_length=256", "evaluate.n_boot=20",
                f"results_store={store}"]
        assert cli_main(args) == 0
        questions = tmp_path / "other.jsonl"
        pd.DataFrame([{"id": f"o{i}", "question": f"Which number is {i}?",
                       "choices": [str(i), str(i + 1), str(i + 2), str(i + 3), str(i + 4)], "answer": 0}
                      for i in range(10)]).to_json(questions, orient="records", lines=True)
        transfer = ["transfer", "profile=none", f"run_dir={run_dir}", f"questions={questions}", "n_questions=6", "n_boot=20",
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
    assert cli_main(["transfer", "profile=none", f"run_dir={run_dir}"]) == 2
    assert "does not exist: run notebooks/01" in capsys.readouterr().err
    args = ["run", "profile=none", f"run_dir={run_dir}", f"model={format_model_dir}", "device=cpu", "n_questions=12", "n_eval=4",
            "k_shot=0", "max_new_tokens=10", "extract.batch_size=8", "train.max_steps=1", "train.batch_size=2",
            "train.max_length=256", "evaluate.n_boot=20", f"results_store={tmp_path / 'r.csv'}"]
    assert cli_main(args) == 0
    capsys.readouterr()
    assert cli_main(["transfer", "profile=none", f"run_dir={run_dir}", "questions=synthetic", "n_questions=12", "device=cpu",
                     f"results_store={tmp_path / 'r.csv'}"]) == 2
    assert "training questions" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# A run trained on a local file without ids (built once), copied into each test


def _questions(path, start: int, n: int, *, ids: bool = False) -> str:
    rows = [{**({"id": f"new{i}"} if ids else {}), "question": f"Which number comes after {i}?",
             "choices": [str(i + 1), str(i + 2), str(i + 3), str(i)], "answer": 0} for i in range(start, start + n)]
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    return str(path)


@pytest.fixture(scope="module")
def trained_run(format_model_dir, tmp_path_factory):
    """A run whose stage 1 read a local file without ids (its questions are "0", "1" ...), trained one step."""
    base = tmp_path_factory.mktemp("trained")
    data = _questions(base / "train.jsonl", 0, 12)
    run_dir = base / "run"
    assert cli_main(["run", "profile=none", f"run_dir={run_dir}", f"model={format_model_dir}", "device=cpu", f"dataset={data}",
                     "n_questions=12", "n_eval=4", "k_shot=0", "max_new_tokens=10", "extract.batch_size=8",
                     "train.max_steps=1", "train.batch_size=2", "train.max_length=256", "evaluate.n_boot=20",
                     f"results_store={base / 'r.csv'}", "dtype=float32", "precision=fp32"]) == 0
    return run_dir


def _copy_run(trained_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    return run_dir


def _transfer(run_dir, questions, store, *extra):
    return ["transfer", f"run_dir={run_dir}", f"questions={questions}", "n_questions=4", "n_boot=20",
            f"results_store={store}", "batch_size=4", "device=cpu", "dtype=float32", *extra]


def test_a_store_that_is_a_folder_is_refused_before_any_model_work(trained_run, tmp_path, capsys):
    run_dir = _copy_run(trained_run, tmp_path)
    other = _questions(tmp_path / "other.jsonl", 100, 6)
    capsys.readouterr()
    assert cli_main(_transfer(run_dir, other, tmp_path)) == 2  # the store names a folder
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: results_store=") and "is a folder" in err and "\n" not in err
    assert not (run_dir / "transfer").exists()  # nothing asked, nothing written
    store = tmp_path / "r.csv"
    assert cli_main(_transfer(run_dir, other, store)) == 0  # with a good store: the rows are there
    assert set(pd.read_csv(store)["method"]) == {"vanilla", "dca"}


def test_a_skipped_transfer_puts_back_the_rows_the_store_lost(trained_run, tmp_path):
    run_dir = _copy_run(trained_run, tmp_path)
    other = _questions(tmp_path / "other.jsonl", 100, 6)
    store = tmp_path / "r.csv"
    assert cli_main(_transfer(run_dir, other, store)) == 0
    want = pd.read_csv(store)
    metrics = transfer_files(run_dir, other).metrics
    mtime = metrics.stat().st_mtime_ns
    store.unlink()
    assert cli_main(_transfer(run_dir, other, store)) == 0
    assert metrics.stat().st_mtime_ns == mtime  # not asked again
    def ordered(frame):
        return frame.sort_values(["method", "metric"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(pd.read_csv(store)), ordered(want))
    moved = tmp_path / "elsewhere.csv"  # another store: the rows go there too
    assert cli_main(_transfer(run_dir, other, moved)) == 0
    assert len(pd.read_csv(moved)) == len(want)


def test_questions_are_known_by_content_not_by_id(trained_run, tmp_path, capsys):
    """Stage 1 read a file without ids; another file without ids is not its training set (its ids are
    "0", "1" ... too), and the training questions under new ids are refused."""
    run_dir = _copy_run(trained_run, tmp_path)
    store = tmp_path / "r.csv"
    other = _questions(tmp_path / "other.jsonl", 100, 6)
    assert cli_main(_transfer(run_dir, other, store)) == 0
    renamed = _questions(tmp_path / "renamed.jsonl", 0, 12, ids=True)  # the run's questions, other ids
    capsys.readouterr()
    assert cli_main(_transfer(run_dir, renamed, store)) == 2
    err = capsys.readouterr().err.strip()
    assert "of its questions are training questions" in err and "\n" not in err
    assert not transfer_files(run_dir, renamed).folder.exists()


def test_two_files_of_the_same_name_get_folders_and_rows_of_their_own(trained_run, tmp_path):
    run_dir = _copy_run(trained_run, tmp_path)
    store = tmp_path / "r.csv"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _questions(tmp_path / "a" / "set.jsonl", 100, 6)
    b = _questions(tmp_path / "b" / "set.jsonl", 200, 6)
    local = _questions(tmp_path / "commonsenseqa.jsonl", 300, 6)
    folders = []
    for source in (a, b, local):
        assert cli_main(_transfer(run_dir, source, store)) == 0
        folders.append(transfer_files(run_dir, source).folder)
    assert len(set(folders)) == 3 and all(f.name.startswith(("set-", "commonsenseqa-")) for f in folders)
    assert transfer_files(run_dir, "commonsenseqa").folder.name == "commonsenseqa"  # the dataset's stays
    rows = pd.read_csv(store)
    assert set(rows["dataset"]) == {a, b, local} and rows.groupby("dataset").size().nunique() == 1
    assert all(transfer_files(run_dir, s).metrics.exists() for s in (a, b, local))


TRANSFER_FAULTS = ("transfer:before-before", "transfer:after-before", "transfer:before-after",
                   "transfer:after-after", "transfer:after-metrics", "transfer:after-store")


def test_transfer_killed_between_any_two_writes_ends_with_the_rows_of_an_uninterrupted_run(trained_run, tmp_path):
    """SIGKILL between every pair of the stage's writes (each table, metrics.json, the store, the
    provenance that marks it done): the rerun ends with exactly the rows and tables of an uninterrupted run."""
    import shutil

    from tests.test_pipeline import VARYING, _run

    other = _questions(tmp_path / "other.jsonl", 100, 6)

    def rows(store):
        return pd.read_csv(store).drop(columns=VARYING).sort_values(["method", "metric"]).reset_index(drop=True)

    clean = tmp_path / "clean"
    shutil.copytree(trained_run, clean)
    assert cli_main(_transfer(clean, other, clean / "results.csv")) == 0
    want, want_after = rows(clean / "results.csv"), pd.read_parquet(transfer_files(clean, other).after)
    for point in TRANSFER_FAULTS:
        run_dir = tmp_path / point.replace(":", "-")
        shutil.copytree(trained_run, run_dir)
        store = run_dir / "results.csv"
        assert _run(_transfer(run_dir, other, store), fault=point) == -9, point  # killed there (its own process)
        assert cli_main(_transfer(run_dir, other, store)) == 0, f"rerun after a kill at {point}"
        pd.testing.assert_frame_equal(rows(store), want, check_exact=False, atol=1e-9)
        assert set(pd.read_csv(store)["run"]) == {str(transfer_files(run_dir, other).folder)}
        got_after = pd.read_parquet(transfer_files(run_dir, other).after)
        assert list(got_after["response"]) == list(want_after["response"]), point


def test_a_transfer_file_that_is_a_loop_of_links_is_one_line(trained_run, tmp_path, capsys):
    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    capsys.readouterr()
    assert cli_main(_transfer(trained_run, tmp_path / "a.jsonl", tmp_path / "r.csv")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "symbolic link" in err and "\n" not in err
