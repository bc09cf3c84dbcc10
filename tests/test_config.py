"""Tests of dca.config: building a config from a mapping, bounds, profiles, command-line words."""

from __future__ import annotations

import pytest

from dca.config import ConfigError, load_profile, parse_overrides, profile_path
from dca.evaluate.stage import EvalConfig
from dca.extract.stage import ExtractConfig
from dca.pairs import PairsConfig
from dca.train.stage import TrainConfig


def test_from_dict_names_an_unknown_key_and_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown parameter 'lr' for stage 'train'; valid: run_dir, model, beta"):
        TrainConfig.from_dict({"lr": 1e-4})


def test_from_dict_converts_strings_to_the_field_types():
    config = TrainConfig.from_dict({"beta": "0.2", "epochs": "2", "resume": "false", "target_modules": "q_proj,v_proj"})
    assert (config.beta, config.epochs, config.resume, config.target_modules) == (0.2, 2.0, False, ["q_proj", "v_proj"])
    assert ExtractConfig.from_dict({"data_split": "none"}).data_split is None
    with pytest.raises(ConfigError, match=r"batch_size='abc' is not an integer"):
        ExtractConfig.from_dict({"batch_size": "abc"})
    with pytest.raises(ConfigError, match=r"target='c_v' is not valid; choose one of \['c_i', 'c_i_norm'\]"):
        PairsConfig.from_dict({"target": "c_v"})


@pytest.mark.parametrize("cls, values, needle", [
    (ExtractConfig, {"n_questions": 0}, "n_questions=0 must be > 0"),
    (ExtractConfig, {"k_shot": 9}, "k_shot=9 must lie in [0, 8]"),
    (ExtractConfig, {"n_questions": 10, "n_eval": 10}, "n_eval=10 must be smaller than n_questions=10"),
    (ExtractConfig, {"batch_size": 5000}, "batch_size=5000 is above the limit of 4096"),
    (PairsConfig, {"min_gap": 101}, "min_gap=101.0 must lie in [0, 100]"),
    (TrainConfig, {"warmup_ratio": 1.0}, "warmup_ratio=1.0 must lie in [0, 1)"),
    (TrainConfig, {"max_steps": 0}, "max_steps=0 must be > 0, or -1"),
    (TrainConfig, {"lora_dropout": 1.5}, "lora_dropout=1.5 must lie in [0.0, 1.0]"),
    (EvalConfig, {"n_boot": 0}, "n_boot=0 must be > 0"),
])
def test_validate_rejects_values_out_of_bounds(cls, values, needle):
    with pytest.raises(ConfigError) as err:
        cls.from_dict(values)
    assert needle in str(err.value)


def test_the_defaults_are_valid():
    for cls in (ExtractConfig, PairsConfig, TrainConfig, EvalConfig):
        cls().validate()


def test_profiles_load_by_name_or_path(tmp_path):
    assert load_profile("smoke")["common"]["run_dir"] == "runs/smoke"
    own = tmp_path / "own.yaml"
    own.write_text("common:\n  run_dir: runs/own\ntrain:\n  beta: 0.3\n")
    assert load_profile(own) == {"common": {"run_dir": "runs/own"}, "train": {"beta": 0.3}}
    assert profile_path("default").name == "default.yaml"
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'; available: .*default.*smoke"):
        load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_profile(bad)


def test_parse_overrides_keeps_values_as_written():
    assert parse_overrides(["a=b=c", "train.beta=0.2", "dataset="]) == {"a": "b=c", "train.beta": "0.2", "dataset": ""}
    assert parse_overrides([" beta =0.2"]) == {"beta": "0.2"}
    for bad in (["beta"], ["=1"]):
        with pytest.raises(ConfigError, match="expected key=value"):
            parse_overrides(bad)


def test_a_run_dir_that_is_a_loop_of_links_is_one_line(tmp_path, capsys):
    from dca.cli import main as cli_main

    (tmp_path / "r1").symlink_to(tmp_path / "r2")
    (tmp_path / "r2").symlink_to(tmp_path / "r1")
    assert cli_main(["pairs", "profile=none", f"run_dir={tmp_path / 'r1'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a symbolic link that leads nowhere" in err and "\n" not in err
