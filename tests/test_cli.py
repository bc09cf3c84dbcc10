"""The command line's failure modes: one-line errors (status 2), Ctrl-C (130), the run-folder lock,
and parameters of every stage checked before any work. No model is loaded here."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from dca import cli
from dca.cli import main
from dca.config import ConfigError
from dca.evaluate.stage import EvalConfig
from dca.extract.stage import ExtractConfig
from dca.pairs import PairsConfig
from dca.runs import artifacts
from dca.train.stage import TrainConfig


def one_line_error(capsys, argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert needle in err


@pytest.mark.parametrize("args, needle", [
    (["extract", "dataset=nope"], "unknown question source 'nope'"),
    (["extract", "device=tpu"], "device='tpu' is not valid"),
    (["extract", "dtype=int8"], "dtype='int8' is not valid"),
    (["evaluate", "device=cuda:x"], "device='cuda:x' is not valid"),
    (["run", "profile="], "profile= is empty"),
])
def test_user_errors_are_one_line_with_status_2(args, needle, capsys, tmp_path):
    one_line_error(capsys, [*args, f"run_dir={tmp_path}"], needle)


def test_pairs_on_an_empty_run_folder_is_one_line(capsys, tmp_path):
    one_line_error(capsys, ["pairs", f"run_dir={tmp_path}"], "stage1.parquet does not exist")


def test_non_utf8_data_file_is_one_line(capsys, tmp_path):
    data = tmp_path / "q.csv"
    data.write_bytes("question,choices,answer\nd\u00e9j\u00e0?,\"[\"\"a\"\", \"\"b\"\"]\",0\n".encode("latin-1"))
    one_line_error(capsys, ["extract", f"dataset={data}", f"run_dir={tmp_path}", "n_questions=2", "n_eval=1"],
                   "q.csv line 2: not UTF-8")


def test_debug_switch_shows_the_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("DCA_DEBUG", "1")
    with pytest.raises(ConfigError, match="device='tpu'"):
        main(["extract", "device=tpu", f"run_dir={tmp_path}"])


def test_every_stage_is_validated_before_any_work(monkeypatch, capsys, tmp_path):
    ran: list[str] = []
    monkeypatch.setattr(cli, "stage_runner", lambda n: lambda *a, **k: ran.append(n))
    one_line_error(capsys, ["run", f"run_dir={tmp_path}", "evaluate.dtype=int8"], "dtype='int8'")
    assert ran == []


def test_ctrl_c_is_one_line_with_status_130(monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "stage_runner", lambda n: interrupted)
    assert main(["pairs", f"run_dir={tmp_path}"]) == 130
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "the pairs stage stopped" in err and "rerun the same command to resume" in err
    assert not (tmp_path / artifacts.LOCK).exists()  # the lock is released


def test_a_second_run_into_the_same_folder_fails_naming_the_first(capsys, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / artifacts.LOCK).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        one_line_error(capsys, ["pairs", f"run_dir={tmp_path}"], f"in use by process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over(capsys, tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / artifacts.LOCK).write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname()}))
    with artifacts.run_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


@pytest.mark.parametrize("cls, key, value", [
    (TrainConfig, "beta", "nan"),
    (TrainConfig, "learning_rate", "inf"),
    (TrainConfig, "batch_size", 1e22),
    (TrainConfig, "epochs", "1e9"),
    (TrainConfig, "warmup_ratio", "nan"),
    (PairsConfig, "min_gap", "nan"),
    (ExtractConfig, "max_new_tokens", 1e9),
    (ExtractConfig, "batch_size", 1e22),
    (EvalConfig, "n_boot", 1e12),
])
def test_nan_inf_and_absurd_values_are_rejected(cls, key, value):
    with pytest.raises(ConfigError, match=key):
        cls.from_dict({key: value})


def test_help_states_the_upper_bounds():
    assert "at most 4096" in ExtractConfig.help() and "At most 10." in TrainConfig.help()
    for cls in (ExtractConfig, PairsConfig, TrainConfig, EvalConfig):
        import dataclasses

        assert all("=" not in f.metadata.get("help", "") for f in dataclasses.fields(cls))


def test_the_dtype_names_are_the_loaders():
    from dca.config import DTYPE_NAMES
    from dca.models.loading import DTYPES

    assert set(DTYPE_NAMES) == set(DTYPES)


def test_every_stage_module_keeps_the_stage_contract():
    import inspect

    for name in cli.STAGES:
        config, run = cli.stage_config(name), cli.stage_runner(name)
        assert config.stage == name
        params = inspect.signature(run).parameters
        assert list(params) == ["config", "progress", "force"], name
        assert params["progress"].kind is params["force"].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert (params["progress"].default, params["force"].default) == (True, False), name


def test_pairs_are_built_by_the_main_process_only(monkeypatch, tmp_path):
    import dca.pairs
    from dca.runs import distributed

    built: list[str] = []
    monkeypatch.setattr(dca.pairs, "_build", lambda config, force: built.append(config.run_dir))
    monkeypatch.setattr(distributed, "is_main_process", lambda: False)
    assert dca.pairs.run(PairsConfig(run_dir=str(tmp_path))) == tmp_path / "pairs.jsonl"
    assert built == []


@pytest.mark.parametrize("key, stages", [("batch_size", ["extract", "train", "evaluate"]),
                                         ("seed", ["extract", "train", "evaluate"])])
def test_a_plain_key_with_several_meanings_names_the_stage_qualified_choices(key, stages, capsys, tmp_path):
    assert main(["run", f"run_dir={tmp_path}", f"{key}=8"]) == 2
    err = capsys.readouterr().err
    assert f"{key}= means something else in each stage" in err
    for stage in stages:
        assert f"{stage}.{key}=" in err
    assert "pairs." not in err


def test_a_stage_qualified_or_single_stage_key_goes_to_its_stage():
    params = cli.stage_parameters(list(cli.STAGES), {"train.batch_size": "8", "extract.seed": "1", "run_dir": "r",
                                                     "device": "cpu", "model": "m", "profile": "none"})
    assert params["train"]["batch_size"] == "8" and "batch_size" not in params["extract"]
    assert params["extract"]["seed"] == "1" and "seed" not in params["train"]
    assert all(params[n]["run_dir"] == "r" for n in cli.STAGES)
    assert params["extract"]["device"] == params["evaluate"]["device"] == "cpu"
    assert params["extract"]["model"] == params["train"]["model"] == "m"
    assert cli.stage_parameters(["train"], {"batch_size": "8", "profile": "none"})["train"] == {"batch_size": "8"}


@pytest.mark.parametrize("stage", cli.STAGES)
def test_a_command_without_a_profile_runs_every_field_as_the_default_profile(stage):
    """One default per parameter: ``python -m dca <stage>`` without ``profile=`` runs what the book runs
    (profile default), field by field; ``profile=none`` runs the config's own defaults."""
    cls = cli.stage_config(stage)
    book = cls.from_profile("default")
    command = cls.from_dict(cli.stage_parameters([stage], {})[stage])
    for name in cls.field_names():
        assert getattr(command, name) == getattr(book, name), (
            f"{stage}.{name}: {getattr(command, name)!r} without profile=, {getattr(book, name)!r} in profile default")
    assert cls.from_dict(cli.stage_parameters([stage], {"profile": "none"})[stage]) == cls()
    # each field the default profile changes is one whose default `help` names beside the value that runs
    changed = [n for n in cls.field_names() if getattr(book, n) != getattr(cls(), n)]
    text = cli.help_text([stage], {})
    for name in changed:
        line = next(line for line in text.splitlines() if line.startswith(f"  {name} = "))
        assert f"  {name} = {getattr(book, name)!r}  (without a profile: " in line, line


def test_help_shows_the_value_that_will_run(capsys):
    assert main(["help", "train"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("train (profile default):")
    assert "  learning_rate = 0.0001  (without a profile: 0.0005)" in out
    assert main(["help", "train", "profile=none"]) == 0
    assert "  learning_rate = 0.0005\n" in capsys.readouterr().out
    one_line_error(capsys, ["help", "train", "beta=1"], "help takes stage names and profile=NAME, not beta")


@pytest.mark.parametrize("args, needle", [
    (["evaluate.results_store="], "results_store= is empty"),
    (["train.seed=-5"], "seed=-5 must be >= 0"),
    (["evaluate.seed=-1"], "seed=-1 must be >= 0"),
    (["extract.seed=-1"], "seed=-1 must be >= 0"),
    (["train.epochs=1e-300"], "epochs=1e-300 is below"),
    (["train.lora_dropout=1"], "lora_dropout=1.0"),
    (["model=/nonexistent"], "model='/nonexistent' is not a folder"),
    (["model=some/hub-id"], "model='some/hub-id' is not in the local Hub cache"),
])
def test_bad_values_of_later_stages_fail_before_any_work(args, needle, monkeypatch, capsys, tmp_path):
    ran: list[str] = []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(cli, "stage_runner", lambda n: lambda *a, **k: ran.append(n))
    one_line_error(capsys, ["run", f"run_dir={tmp_path}", *args], needle)
    assert ran == []


def test_a_results_store_that_is_not_one_fails_before_any_work(monkeypatch, capsys, tmp_path):
    ran: list[str] = []
    monkeypatch.setattr(cli, "stage_runner", lambda n: lambda *a, **k: ran.append(n))
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    one_line_error(capsys, ["run", f"run_dir={tmp_path}", f"results_store={bad}"], "is not a results store")
    one_line_error(capsys, ["run", f"run_dir={tmp_path}", f"results_store={tmp_path}"], "is a folder")
    assert ran == []


@pytest.mark.parametrize("run_dir, needle", [
    ("", "run_dir='' is empty"),
    ("/", "run_dir='/' is the root of the file system"),
    ("FILE", "is a file, not a folder"),
])
def test_empty_root_and_file_run_folders_are_rejected(run_dir, needle, capsys, tmp_path):
    if run_dir == "FILE":
        run_dir = str(tmp_path / "a-file")
        (tmp_path / "a-file").write_text("x")
    one_line_error(capsys, ["pairs", f"run_dir={run_dir}"], needle)


def test_a_bad_profile_yaml_is_one_line(capsys, tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("extract:\n  n_questions: [1\n")
    one_line_error(capsys, ["run", f"profile={profile}", f"run_dir={tmp_path}"], "is not valid YAML")
    profile.write_text("- a\n- b\n")
    one_line_error(capsys, ["run", f"profile={profile}", f"run_dir={tmp_path}"], "must be a mapping")


@pytest.mark.parametrize("args, needle", [
    (["train.lora_layers=1000"], "lora_layers=1000 but the model has only"),
    (["train.target_modules=nope"], "nope is not a linear layer"),
])
def test_lora_placement_is_checked_against_the_model_before_any_work(args, needle, tiny_model_dir, monkeypatch,
                                                                      capsys, tmp_path):
    ran: list[str] = []
    monkeypatch.setattr(cli, "stage_runner", lambda n: lambda *a, **k: ran.append(n))
    one_line_error(capsys, ["run", f"run_dir={tmp_path}", f"model={tiny_model_dir}", *args], needle)
    assert ran == []


def test_a_full_disk_is_one_line(monkeypatch, capsys, tmp_path):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "stage1.parquet"))

    monkeypatch.setattr(cli, "stage_runner", lambda n: full)
    one_line_error(capsys, ["pairs", f"run_dir={tmp_path}"], "No space left on device")

    def stream(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0 iostream error")

    monkeypatch.setattr(cli, "stage_runner", lambda n: stream)
    one_line_error(capsys, ["pairs", f"run_dir={tmp_path}"], "could not be written")


def _contend(run_dir: str, barrier, results) -> None:
    barrier.wait()
    try:
        with artifacts.run_lock(run_dir):
            results.put(os.getpid())
            barrier.wait()  # hold it until both have tried
    except artifacts.RunLockedError:
        results.put(None)
        barrier.wait()


def test_two_commands_started_at_the_same_instant_never_both_hold_the_lock(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_ in range(100):  # the lock created empty and filled afterwards: both held it in ~20 of 100
        run_dir = str(tmp_path / f"r{round_}")
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_contend, args=(run_dir, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        got = [results.get(timeout=5) for _ in procs]
        assert sum(g is not None for g in got) == 1, f"round {round_}: {got}"
        assert not (tmp_path / f"r{round_}" / artifacts.LOCK).exists()


def test_an_empty_lock_file_is_not_taken_as_free(tmp_path):
    (tmp_path / artifacts.LOCK).write_text("")
    with pytest.raises(artifacts.RunLockedError, match="cannot be read"):
        with artifacts.run_lock(tmp_path):
            pass


def test_a_stage_called_as_the_notebooks_call_it_takes_the_lock(tmp_path):
    from dca import pairs

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / artifacts.LOCK).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        with pytest.raises(artifacts.RunLockedError, match=f"in use by process {holder.pid}"):
            pairs.run(PairsConfig(run_dir=str(tmp_path)))
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_works_on_a_file_system_without_hard_links(tmp_path, monkeypatch):
    import errno

    def no_links(*args):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(artifacts.os, "link", no_links)
    with artifacts.run_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        os.environ.pop(artifacts.LOCK_TOKEN_ENV)  # as another process would see it
        with pytest.raises(artifacts.RunLockedError, match="in use by process"):
            with artifacts.run_lock(tmp_path):
                pass
    assert not lock.exists()
