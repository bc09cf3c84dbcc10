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


# --------------------------------------------------------------------------------------------
# What a trained run's rows say: its objective, and per-dataset rows as the objectives study's files


def test_each_objective_of_the_study_is_named_in_the_store_as_in_the_studys_files(tmp_path):
    """The store's ``method`` of a trained run comes from its parameters (:func:`objective_name`); for each
    objective job of the study, its parameters over the study profile give the name the study writes."""
    import json

    from dca import cli
    from dca.config import parse_overrides
    from dca.reference import study
    from dca.train.objective import adapter_objective, objective_name

    sft = tmp_path / "sft" / "adapter"  # an SFT adapter, as the SFT-then-DPO job starts from
    sft.mkdir(parents=True)
    (sft / "adapter_config.json").write_text("{}")
    sft_params = cli.stage_config("train").from_dict(cli.stage_parameters(
        ["train"], parse_overrides(["profile=study", "method=sft"]))["train"]).to_dict()
    (tmp_path / "sft" / "adapter.provenance.json").write_text(json.dumps({"params": sft_params}))
    assert adapter_objective(sft) == "sft"
    named = set()
    for j in study.JOBS:
        if not j.objective:
            continue
        trained = study.job(j.adapter_from) if j.adapter_from else j  # a recipe job uses another job's adapter
        fields = set(cli.stage_config("train").field_names()) | set(cli.stage_config("pairs").field_names())
        args = {k: v for k, v in trained.params.items() if k.split(".")[0] in ("train", "pairs") or k in fields}
        if "train.init_adapter" in args:
            args["train.init_adapter"] = str(sft)
        params = cli.stage_parameters(["pairs", "train"], {"profile": "study", **args})
        train = cli.stage_config("train").from_dict(params["train"]).to_dict()
        pairs = cli.stage_config("pairs").from_dict(params["pairs"]).to_dict()
        name = objective_name(train, pairs)
        if j.params.get("evaluate.readout") == "expected":  # what run_objective adds for the expected number
            name += "-expected"
        if j.params.get("evaluate.answer_with") == "base":  # what run_objective adds for a confidence adapter
            name += "-base"
        # a rerun in another float type trains the same objective: the study's name says the precision
        # (``sft-num-fp32-base``), the store's names the objective only (the precision is in the run's provenance)
        assert name == j.objective.replace(study.PRECISION_SUFFIX, ""), (j.name, j.params)
        named.add(j.objective)
    assert set(study.OBJECTIVES) <= named


def _replies(rng, source: str, n: int, stated=None):
    import numpy as np

    c_i = rng.uniform(10, 95, n)
    c_v = np.full(n, 80.0) if stated is None else np.clip(np.round(c_i + stated(n)), 0, 100)
    correct = rng.random(n) < c_i / 100
    return pd.DataFrame({"id": [f"{source}-{k}" for k in range(n)], "source": source, "c_i": c_i, "c_v": c_v,
                         "parse_ok": True, "cv_scale": 100.0, "correct": correct, "letter": "A",
                         "response": [f"Answer: A\nProbability: {v:g}%" for v in c_v]})


def test_a_run_on_several_datasets_stores_per_dataset_rows_and_their_mean_as_the_study_computes_them():
    import math

    import numpy as np

    from dca.evaluate import stage
    from dca.evaluate.metrics import METRICS
    from dca.reference import study_results

    rng = np.random.default_rng(0)
    before = pd.concat([_replies(rng, "alpha", 40), _replies(rng, "beta", 30)], ignore_index=True)
    after = before.copy()
    after["c_v"] = np.clip(np.round(after["c_i"] + rng.normal(0, 8, len(after))), 0, 100)
    after.loc[[3, 50], "parse_ok"] = False  # an unparsed reply leaves the paired comparison
    result = stage.compare(before, after, n_boot=50, seed=0)
    result["by_dataset"] = stage.compare_by_dataset(before, after, n_boot=50, seed=0)
    rows = stage.result_rows(result, run="r", model="m", dataset="alpha+beta", seed=0, profile="p",
                             objective="rpo-num")
    assert list(rows["dataset"].unique()) == ["alpha+beta", "alpha", "beta", "mean"]
    assert set(rows["method"]) == {"vanilla", "rpo-num"}
    value = rows.set_index(["dataset", "method", "metric"])["value"]
    keys = [k for k in METRICS if k != "n"]
    for source in ("alpha", "beta"):
        b, a = before[before["source"] == source], after[after["source"] == source]
        study = study_results._compare(b, b, a, "rpo-num", 50, 0)["rpo-num"]
        for key in keys:
            want, have = study[key]["value"], value[(source, "rpo-num", key)]
            assert (math.isnan(want) and math.isnan(have)) or math.isclose(want, have, rel_tol=1e-12), (source, key)
    for key in keys:
        per = [value[(s, "rpo-num", key)] for s in ("alpha", "beta")]
        assert math.isclose(value[("mean", "rpo-num", key)], np.mean(per), rel_tol=1e-12) or np.isnan(per).any()
    families = pd.concat([_replies(rng, "synthetic/arithmetic", 10), _replies(rng, "synthetic/capitals", 10)])
    assert stage.compare_by_dataset(families, families, n_boot=10) == {}  # one dataset, two families
    one = stage.result_rows({k: v for k, v in result.items() if k != "by_dataset"}, run="r", model="m",
                            dataset="alpha+beta", seed=0, profile="p")
    assert set(one["dataset"]) == {"alpha+beta"} and set(one["method"]) == {"vanilla", "dca"}


def test_a_run_folder_names_its_objective_from_its_adapters_and_pairs_provenance(tmp_path):
    import json

    from dca.evaluate.stage import run_objective
    from dca.runs import artifacts

    run = artifacts.RunFolder(tmp_path)
    assert run_objective(run) == "dca"  # no provenance: the trainer's defaults, sigmoid DPO
    artifacts.provenance_path(run.adapter).write_text(json.dumps({"params": {"method": "sft", "loss_tokens": "number"}}))
    assert run_objective(run) == "sft-num" and run_objective(run, "base") == "sft-num-base"
    artifacts.provenance_path(run.adapter).write_text(json.dumps({"params": {"method": "dpo", "loss_type": "sigmoid"}}))
    artifacts.provenance_path(run.pairs).write_text(json.dumps({"params": {"distractors": [30]}}))
    assert run_objective(run) == "distract"
