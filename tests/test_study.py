"""The objectives study's bookkeeping: jobs and their commands, collecting results (held-out datasets,
their mean, the transfer questions, baselines, detectable changes) and the verdict rule."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from dca.evaluate.transfer import transfer_files
from dca.reference import study, study_results
from dca.report import study as study_report
from dca.report import study_sentences
from dca.runs import artifacts


def test_jobs_their_order_and_commands_the_cli_accepts():
    from dca import cli
    from dca.config import parse_overrides

    names = [j.name for j in study.JOBS]
    assert names[:2] == ["seed0", "seed0-dca"] and len(set(names)) == len(names)
    assert {f"seed{s}-{o}" for s in (0, 1, 2) for o in study.OBJECTIVES} <= set(names)
    assert study.job("seed2-sft-dpo").after == "seed2-sft"
    assert study.job("seed2-sft-dpo").params["train.init_adapter"].endswith("seed2-sft/adapter")
    for j in study.JOBS:
        for stage in j.stages:
            cmd = study.command(j, stage)
            params = cli.stage_parameters([stage], parse_overrides(cmd[4:]))
            if stage == "train" and "train.init_adapter" in j.params:
                params[stage].pop("init_adapter")  # the SFT adapter exists only once its job ran
            cli.stage_config(stage).from_dict(params[stage])
    assert "questions=commonsenseqa" in study.command(study.job("seed1-rpo"), "transfer")
    assert not any(a.startswith("seed=") for a in study.command(study.job("seed1-rpo"), "transfer"))


def _rows(rng, source, split, n, shift=None):
    rows = []
    for k in range(n):
        c_i = float(rng.uniform(10, 95))
        c_v = 80.0 if shift is None else float(np.clip(round(c_i + shift), 0, 100))
        correct = bool(rng.random() < c_i / 100)
        rows.append({"id": f"{source}-{split}-{k}", "split": split, "source": source, "c_i": c_i, "c_i_norm": c_i,
                     "c_v": c_v, "parse_ok": True, "cv_scale": 100.0, "correct": correct, "letter": "A",
                     "gold_letter": "A" if correct else "B", "prompt": "Q", "response": f"Answer: A\nProbability: {c_v:g}%"})
    return rows


@pytest.fixture()
def finished(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setattr(study, "RUNS", runs)
    monkeypatch.setattr(study, "SHARED_BEFORE", runs / "transfer-before")
    monkeypatch.setattr(study_results, "RUNS", runs)
    rng = np.random.default_rng(0)
    stage1 = pd.DataFrame([r for s in ("alpha", "beta") for r in _rows(rng, s, "train", 20) + _rows(rng, s, "eval", 30)])
    transfer_before = pd.DataFrame(_rows(rng, "csqa", "eval", 25))
    for seed in (0, 1, 2):
        seed_dir = runs / f"seed{seed}"
        seed_dir.mkdir(parents=True)
        stage1.to_parquet(seed_dir / "stage1.parquet")
        (seed_dir / "stage1.parquet.provenance.json").write_text(json.dumps({"params": {"model": "fake"}}))
        for objective, shift in (("dca", 30.0), ("rpo", 1.0)):
            d = runs / f"seed{seed}-{objective}"
            d.mkdir()
            stage1.to_parquet(d / "stage1.parquet")
            (d / "stage1.parquet.provenance.json").write_text(json.dumps({"params": {"model": "fake"}}))
            after = pd.DataFrame([r for s in ("alpha", "beta") for r in _rows(np.random.default_rng(1), s, "eval", 30, shift)])
            after["c_i"] = stage1[stage1["split"] == "eval"]["c_i"].to_numpy()
            after["c_v"] = np.clip(np.round(after["c_i"] + shift), 0, 100)
            after.to_parquet(d / "eval.parquet")
            (d / "metrics.json").write_text("{}")
            if seed == 0:  # the precision its evaluation ran in (the other jobs record none)
                (d / "eval.parquet.provenance.json").write_text(json.dumps({"dtype": "torch.float32"}))
            files = transfer_files(d, study.TRANSFER)
            files.folder.mkdir(parents=True)
            transfer_before.to_parquet(files.before)
            t_after = transfer_before.copy()
            t_after["c_v"] = np.clip(np.round(t_after["c_i"] + shift), 0, 100)
            t_after.to_parquet(files.after)
            files.metrics.write_text("{}")
            log = [{"loss": 0.69, "step": 1, "logps/chosen": -9.0, "logps/rejected": -2.0},
                   {"eval_loss": 0.6, "eval_logps/chosen": -8.0, "eval_logps/rejected": -3.0, "step": 1}]
            (d / "train_log.jsonl").write_text("\n".join(json.dumps(x) for x in log) + "\n")
    shared = transfer_files(runs / "transfer-before", study.TRANSFER)
    shared.folder.mkdir(parents=True)
    transfer_before.to_parquet(shared.before)
    return runs


def collect_into(data, monkeypatch):
    """Collect the study's files from the fake run folders into ``data`` (r.csv, q.csv, t.csv)."""
    monkeypatch.setattr(study_results, "DATA", data)
    for name, file in (("RESULTS", "r.csv"), ("QUESTIONS", "q.csv"), ("TRAINING", "t.csv")):
        monkeypatch.setattr(study_results, name, data / file)
    study_results.collect(n_boot=50)
    return data


def test_collect_rows_baselines_transfer_and_detectable_change(finished, tmp_path, monkeypatch):
    data = collect_into(tmp_path / "data", monkeypatch)
    results = pd.read_csv(data / "r.csv")
    assert set(results["dataset"]) == {"alpha", "beta", "mean", "commonsenseqa"}
    seed = results[results["job"] == "seed0"]
    assert set(seed["method"]) == {"vanilla", "constant", "isotonic", "say_ci"}
    rpo = results[(results["job"] == "seed0-rpo") & (results["metric"] == "mean_abs_eps")]
    assert set(rpo["method"]) == {"rpo"}  # vanilla only once, in the seed's job
    alpha = rpo[rpo["dataset"] == "alpha"].iloc[0]
    assert alpha["value"] < 1.0 and alpha["mde"] == pytest.approx(rel=1e-4, expected=
        study_results.min_detectable(alpha["diff_low"], alpha["diff_high"]))
    exact = results[(results["job"] == "seed0-rpo") & (results["metric"] == "exact_round_ci")]
    assert (exact["value"] < 100).all()  # shift 1: round(C_i) + 1, never exactly round(C_i)
    questions = pd.read_csv(data / "q.csv")
    assert set(questions["split"]) == {"heldout", "transfer"} and questions["reply_after"].notna().all()
    training = pd.read_csv(data / "t.csv")
    assert list(training["train_logp_chosen"]) == [-9.0] * 6 and list(training["heldout_logp_rejected"]) == [-3.0] * 6
    verdict = study_report.verdict_table(results).set_index("objective")
    assert verdict.loc["dca", "works"] == "no" and verdict.loc["dca", "seeds run"] == 3
    assert verdict.loc["rpo", "mean abs ε below both baselines"] == "3/3"
    assert verdict.loc["rpo", "whole-% replies ≥ 95 %"] == "3/3"


def test_min_detectable_is_2_8_standard_errors():
    assert study_results.min_detectable(-1.959964, 1.959964) == pytest.approx(1.959964 + 0.841621, rel=1e-6)
    assert math.isnan(study_results.min_detectable(float("nan"), 1.0))


def test_verdict_sentence_and_card_name_the_closest_objective(finished, tmp_path, monkeypatch):
    data = collect_into(tmp_path / "data", monkeypatch)
    results = pd.read_csv(data / "r.csv")
    table = study_report.verdict_table(results)
    best, held, total = study_report.closest_objective(table)
    assert best == "rpo" and total == 6 and held >= 4  # rpo states round(C_i) + 1: close to the ceiling
    sentence = study_report.verdict_sentence(results)
    assert ("DPO + NLL (RPO) works" in sentence) or ("highest ρ first: DPO + NLL (RPO) (3 seeds; misses: " in sentence)
    assert "rpo" not in sentence.replace("RPO", "")  # a reader's names, not the job's
    assert study_report.closest_objective(table, results)[0] == "rpo"
    card = study_report.card_note(results)
    assert card.startswith("```{admonition} Beyond the paper") and "DCA (as published): ρ" in card and "DPO + NLL (RPO): ρ" in card


def test_a_resumed_jobs_wall_time_is_summed_from_its_artifacts_provenance(tmp_path, monkeypatch):
    """jobs.jsonl holds only the last attempt of a resumed job (here: no training time); the provenance
    of each artifact keeps what its stage took, and a job without a jobs.jsonl line takes its commit
    and date from its newest artifact, not from whoever collects."""
    monkeypatch.chdir(tmp_path)
    job = study.job("seed0-dca")
    run = job.run_dir
    (run / "transfer" / "commonsenseqa").mkdir(parents=True)

    def provenance(path, **fields):
        path.with_name(path.name + ".provenance.json").write_text(json.dumps(fields))

    provenance(run / "adapter", wall_time_s=3000.0, git_commit="a" * 40, created="2026-01-01T10:00:00+00:00")
    provenance(run / "eval.parquet", seconds=1200.0, git_commit="b" * 40, created="2026-01-02T10:00:00+00:00")
    provenance(run / "transfer" / "commonsenseqa" / "metrics.json", seconds={"before": 300.0, "after": 80.0})
    assert study_results.stage_seconds(job) == {"train": 3000.0, "evaluate": 1200.0, "transfer": 380.0}
    wall = study_results._wall(job)
    assert wall["wall_s"] == 4580.0 and wall["commit"] == "b" * 40 and wall["finished"].startswith("2026-01-02")

    study.RUNS.mkdir(parents=True, exist_ok=True)
    (study.RUNS / "jobs.jsonl").write_text(json.dumps({"job": "seed0-dca", "wall_s": 1600.0, "commit": "c" * 40,
                                                       "finished": "2026-01-03T00:00:00Z"}) + "\n")
    wall = study_results._wall(job)
    assert wall["wall_s"] == 4580.0 and wall["commit"] == "c" * 40


def test_the_question_file_keeps_a_reply_that_no_longer_parses():
    """What a collapsed model writes is shown: its replies are kept, with no number where none parses."""
    def table(replies, c_v, ok):
        return pd.DataFrame({"id": ["a", "b"], "gold_letter": "A", "c_v": c_v, "c_i": [40.0, 60.0], "letter": "A",
                             "correct": True, "response": replies, "parse_ok": ok})

    before = table(["Answer: A\nProbability: 80%", "Answer: A\nProbability: 90%"], [80.0, 90.0], [True, True])
    after = table(["Answer: A\nProbability: 40%", "Answer: AQ34six"], [40.0, float("nan")], [True, False])
    job = study.job("seed0-rpo")
    q = study_results._question_table(job, "alpha", "heldout", before, after)
    assert list(q["reply_after"]) == ["Answer: A\nProbability: 40%", "Answer: AQ34six"]
    assert q["c_v_after"].isna().tolist() == [False, True]
    assert study_report.top_replies(q)["replies stating a number (%)"].iloc[0] == 50.0


def test_dose_jobs_stay_out_of_their_objectives_means_and_have_their_own_table(finished, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(finished / "seed0-rpo", finished / "seed0-dca-q25")  # states round(C_i) + 1, as rpo
    data = collect_into(tmp_path / "data", monkeypatch)
    results = pd.read_csv(data / "r.csv")
    assert set(results[results["job"] == "seed0-dca-q25"]["method"]) == {"dca"}
    without = results[results["job"] != "seed0-dca-q25"]
    summary = study_report.objective_summary(results)
    assert summary.equals(study_report.objective_summary(without))
    assert study_report.card_note(results) == study_report.card_note(without)
    assert study_report.verdict_table(results).equals(study_report.verdict_table(without))
    dose = study_report.dose_response(results)
    assert dose["training questions (%)"].tolist() == [25, 100] and set(dose["objective"]) == {"dca"}
    assert dose["mean_abs_eps"].iloc[0] < 2.0 < 20.0 < dose["mean_abs_eps"].iloc[1]  # rpo's replies vs dca's (shift 30)
    assert dose["transfer ρ [95 % interval]"].str.match(r"^-?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\]$").all()
    assert study_report.dose_response(without).empty  # no dose job ran: no table


def test_further_seeds_sentence_says_why_an_objective_stopped_before_three_seeds(finished, tmp_path, monkeypatch):
    import shutil

    shutil.rmtree(finished / "seed2-rpo")
    results = pd.read_csv(collect_into(tmp_path / "data", monkeypatch) / "r.csv")
    assert study_report.below_baselines(results) == ["rpo"]  # dca states round(C_i) + 30
    missed = [k for k, v in study_report.criteria(results, "rpo", 1).items() if not v]
    assert missed  # the fake rows miss some condition on every seed (see the verdict test)
    names = " and ".join(f"“{k}”" for k in missed) if len(missed) < 3 else None
    sentence = study_report.further_seeds_sentence(results)
    assert sentence.startswith("On seed 0, mean |ε| fell below both no-training baselines for rpo only; further "
                               "seeds ran for dca and rpo. rpo missed ")
    assert sentence.endswith("on seed 1, so by the rule it cannot work; its seed 2 has not run.")
    assert names is None or names in sentence
    # Every condition holds on seed 1: the objective is only waiting for its remaining seed.
    # further_seeds_sentence reads the rule through the sentences module's names
    monkeypatch.setattr(study_sentences, "criteria", lambda r, o, s: {"c": True} if (o, s) != ("rpo", 2) and
                        f"seed{s}-{o}" in set(r["job"]) else {})
    monkeypatch.setattr(study_sentences, "below_baselines", lambda r, seed=0: ["rpo"])
    assert study_report.further_seeds_sentence(results).endswith("rpo has not run on seed 2 yet.")


def test_mean_abs_eps_on_few_parsed_replies_does_not_count(finished, tmp_path, monkeypatch):
    results = pd.read_csv(collect_into(tmp_path / "data", monkeypatch) / "r.csv")
    key = "mean abs ε below both baselines"
    assert study_report.criteria(results, "rpo", 0)[key]
    few = results.copy()  # the model stopped writing numbers: 1 % of the replies parse
    few.loc[(few["job"] == "seed0-rpo") & (few["dataset"] == "mean") & (few["metric"] == "parse_rate"), "value"] = 1.0
    assert not study_report.criteria(few, "rpo", 0)[key]
    assert "rpo" not in study_report.below_baselines(few)


def test_collect_merges_by_job_and_keeps_other_jobs_rows(finished, tmp_path, monkeypatch):
    """A machine that finished some jobs replaces those jobs' rows and keeps every other job's (committed
    rows from other machines); with no finished job nothing is written."""
    data = tmp_path / "data"
    data.mkdir()
    elsewhere = pd.DataFrame([{**{c: "" for c in study_results.COLUMNS}, "job": "seed7-elsewhere", "value": 1.5}])
    elsewhere.to_csv(data / "r.csv", index=False)
    stale = pd.DataFrame([{"job": "seed0-rpo", "objective": "rpo", "step": 99, "loss": 9.0},
                          {"job": "seed7-elsewhere", "objective": "x", "step": 1, "loss": 0.5}])
    stale.to_csv(data / "t.csv", index=False)
    collect_into(data, monkeypatch)
    results, training = pd.read_csv(data / "r.csv"), pd.read_csv(data / "t.csv")
    assert "seed7-elsewhere" in set(results["job"]) and results["job"].iloc[-1] == "seed7-elsewhere"
    assert results["job"].iloc[0] == "seed0"  # the study's job order first
    assert 99 not in set(training.loc[training["job"] == "seed0-rpo", "step"])  # the job's old rows replaced
    assert set(training.loc[training["job"] == "seed7-elsewhere", "loss"]) == {0.5}
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    collect_into(data, monkeypatch)  # collecting again changes nothing
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    monkeypatch.setattr(study_results, "is_finished", lambda j: False)
    assert study_results.collect(n_boot=50) is None
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_collect_with_no_finished_job_says_so_and_leaves_the_files(tmp_path, monkeypatch, capsys):
    from dca.reference import study_cli

    monkeypatch.setattr(study_results, "collect", lambda n_boot=0, only=None: None)
    assert study_cli.main(["collect"]) == 0
    assert "no finished job" in capsys.readouterr().out


def test_each_job_row_names_the_float_type_its_model_ran_in(finished, tmp_path, monkeypatch):
    results = pd.read_csv(collect_into(tmp_path / "data", monkeypatch) / "r.csv", keep_default_na=False)
    by_job = results.groupby("job")["dtype"].agg(set)
    assert by_job["seed0-dca"] == {"float32"} and by_job["seed0-rpo"] == {"float32"}
    assert by_job["seed1-dca"] == {""} and by_job["seed0"] == {""}  # not recorded: left blank, never guessed


def test_collect_only_named_jobs_keeps_every_other_jobs_rows(finished, tmp_path, monkeypatch, capsys):
    """``collect --only``: the named jobs' rows are written, every other job's rows stay as committed even
    where that job has finished here too (a rerun on another machine or precision is not merged unasked)."""
    from dca.reference import study_cli

    data = collect_into(tmp_path / "data", monkeypatch)
    before = pd.read_csv(data / "r.csv")
    committed = before.assign(value=before["value"].where(before["job"] != "seed0-rpo", -1.0))
    committed.to_csv(data / "r.csv", index=False)
    assert study_cli.main(["collect", "--only", "seed0-dca"]) == 0
    after = pd.read_csv(data / "r.csv")
    assert (after[after["job"] == "seed0-rpo"]["value"] == -1.0).all()  # a finished job not named: kept as it was
    named = ["dataset", "method", "metric", "value"]  # the bootstrap intervals differ (the CLI's n_boot)
    pd.testing.assert_frame_equal(after[after["job"] == "seed0-dca"][named].reset_index(drop=True),
                                  before[before["job"] == "seed0-dca"][named].reset_index(drop=True))
    assert sorted(set(after["job"])) == sorted(set(before["job"]))
    assert study_cli.main(["collect", "--only", "seed0-nope"]) == 2
    assert "unknown job 'seed0-nope'" in capsys.readouterr().err


def test_collect_reads_the_runs_from_the_repository_root_wherever_it_is_started(finished, tmp_path, monkeypatch):
    """The study's run folders are relative to the repository root (here a temporary one); collect
    started from another folder still finds them."""
    from pathlib import Path

    from dca import paths

    monkeypatch.setattr(paths, "ROOT", tmp_path)
    for module in (study, study_results):
        monkeypatch.setattr(module, "RUNS", Path("runs"))
    monkeypatch.setattr(study, "SHARED_BEFORE", Path("runs/transfer-before"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = collect_into(tmp_path / "data", monkeypatch)
    assert Path.cwd() == elsewhere  # back where it started
    results = pd.read_csv(data / "r.csv")
    assert {"seed0", "seed0-dca", "seed2-rpo"} <= set(results["job"])


def test_a_job_that_cannot_be_read_is_named_and_the_others_are_collected(finished, tmp_path, monkeypatch, capsys):
    """A cut-short table, a corrupt provenance, cut-short and job-less lines in jobs.jsonl: one line
    per damaged job, every other job collected."""
    runs = finished
    (runs / "seed0-rpo" / "eval.parquet").write_bytes((runs / "seed0-rpo" / "eval.parquet").read_bytes()[:300])
    (runs / "seed1-dca" / "stage1.parquet.provenance.json").write_text('{"params": {"mod')
    (runs / "jobs.jsonl").write_text(json.dumps({"job": "seed2-dca", "wall_s": 5.0, "commit": "c" * 40}) + "\n"
                                     + json.dumps({"wall_s": 1.0}) + "\n" + '{"job": "seed2-rp\n')
    data = tmp_path / "data"
    data.mkdir()
    committed = pd.DataFrame([{**{c: "" for c in study_results.COLUMNS}, "job": "seed0-rpo", "value": 1.5}])
    committed.to_csv(data / "r.csv", index=False)
    capsys.readouterr()
    collect_into(data, monkeypatch)
    err = capsys.readouterr().err.strip().splitlines()
    skipped = [line for line in err if line.startswith("collect: job ")]
    assert len(skipped) == 2 and "seed0-rpo" in skipped[0] and "seed1-dca" in skipped[1]
    assert sum("jobs.jsonl: line(s) 2, 3 are not job records" in line for line in err) == 1
    results = pd.read_csv(data / "r.csv")
    jobs = set(results["job"])
    assert "seed1-dca" not in jobs and {"seed0", "seed0-dca", "seed1-rpo", "seed2-dca", "seed2-rpo"} <= jobs
    assert list(results.loc[results["job"] == "seed0-rpo", "value"]) == [1.5]  # its committed rows kept
    assert (results.loc[results["job"] == "seed2-dca", "commit"] == "c" * 40).all()


def test_a_source_without_usable_training_replies_gives_nan_baselines(finished, tmp_path, monkeypatch):
    runs = finished
    stage1 = pd.read_parquet(runs / "seed0" / "stage1.parquet")
    stage1.loc[(stage1["source"] == "beta") & (stage1["split"] == "train"), "parse_ok"] = False
    stage1.to_parquet(runs / "seed0" / "stage1.parquet")
    data = collect_into(tmp_path / "data", monkeypatch)
    results = pd.read_csv(data / "r.csv")
    seed = results[(results["job"] == "seed0") & (results["dataset"] == "beta") & (results["split"] == "heldout")]
    constant = seed[seed["method"] == "constant"]
    assert len(constant) and constant["value"].isna().all() and (constant["n"] == 0).all()
    say_ci = seed[(seed["method"] == "say_ci") & (seed["metric"] == "mean_abs_eps")]
    assert say_ci["value"].notna().all()  # round(C_i) needs no training
    alpha = results[(results["job"] == "seed0") & (results["dataset"] == "alpha") & (results["method"] == "isotonic")]
    assert alpha["value"].notna().any()


def test_the_probe_table_and_sentence_from_the_committed_rows():
    """The second models' probes, read from the committed study rows: a model qualifies only with an AUROC
    of C_i of at least 0.6 and 95 % of its replies parsed; the sentence names what each one misses."""
    from dca.report import models

    rows = pd.read_csv(study_results.RESULTS)
    table = models.probe_table(rows)
    assert table["model"].iloc[0] == "qwen2.5-coder-1.5b" and table["qualifies"].iloc[0] == "yes"
    for record in models.probe_rows(rows):
        auroc, parse = record["auroc_internal"], record["parse_rate"]
        assert record["qualifies"] == (auroc >= models.MIN_PROBE_AUROC and parse >= models.MIN_PROBE_PARSE)
    sentence = models.probe_sentence(rows)
    for record in models.probe_rows(rows)[1:]:
        assert record["model"] in sentence
        assert ("does not qualify" in sentence) or record["qualifies"]
    assert "nan" not in sentence


def test_a_job_evaluating_an_adapter_needs_the_adapter_not_its_jobs_evaluation(tmp_path, monkeypatch):
    """The expected-number jobs can start once the objective's adapter is trained; a job that trains
    still waits for its stage 1."""
    monkeypatch.setattr(study, "RUNS", tmp_path / "runs")
    readout_job = study.job("seed2-sft-num-kl1-expected")
    assert not study.ready_after(readout_job)
    adapter = artifacts.RunFolder(study.job("seed2-sft-num-kl1").run_dir).adapter
    adapter.mkdir(parents=True)
    assert not study.ready_after(readout_job)  # a folder without its provenance is a half-written adapter
    artifacts.provenance_path(adapter).write_text("{}")
    assert study.ready_after(readout_job)
    assert not study.ready_after(study.job("seed2-sft-num-kl1"))  # seed2's stage 1 has not run
    assert study.ready_after(study.job("seed0"))


def test_run_until_train_gives_the_adapter_back_without_evaluating_or_recording(tmp_path, monkeypatch, capsys):
    """``run --until train``: for an objective whose rows are committed, only its pairs and training run (a
    readout job then finds the adapter); no ``jobs.jsonl`` record, which would restate the rows' provenance."""
    from dca.reference import study_cli

    monkeypatch.setattr(study, "RUNS", tmp_path / "runs")
    seed_run = artifacts.RunFolder(study.job("seed1").run_dir)
    seed_run.stage1.parent.mkdir(parents=True)
    seed_run.stage1.write_text("table")
    ran = []

    def fake_run(cmd, check, cwd):
        stage = cmd[3]
        ran.append(stage)
        if stage == "train":
            adapter = artifacts.RunFolder(study.job("seed1-sft-num-kl1").run_dir).adapter
            adapter.mkdir(parents=True)
            artifacts.provenance_path(adapter).write_text("{}")

    monkeypatch.setattr(study.subprocess, "run", fake_run)
    assert study_cli.main(["run", "--only", "seed1-sft-num-kl1", "--until", "train"]) == 0
    assert ran == ["pairs", "train"]
    assert not (study.RUNS / "jobs.jsonl").exists()
    assert study.ready_after(study.job("seed1-sft-num-kl1-expected-base"))
    assert study_cli.main(["run", "--only", "seed1-sft-num-kl1", "--until", "train"]) == 0
    assert ran == ["pairs", "train"] and "seed1-sft-num-kl1: done" in capsys.readouterr().out  # nothing again
    assert study_cli.main(["run", "--only", "seed1-sft-num-kl1-base", "--until", "train"]) == 2
    err = capsys.readouterr().err
    assert "job seed1-sft-num-kl1-base has no stage 'train'" in err  # a readout trains nothing
    assert "rerun `python -m dca.reference.study run` to resume" in err  # the module that exists
