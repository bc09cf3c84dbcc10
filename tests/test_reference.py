"""The reference experiment's bookkeeping: jobs, collecting results from run folders (baselines,
per-dataset and mean rows, paired differences), and the report tables and sentences built from them."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from dca import reference, report
from dca.paths import ROOT
from dca.reference import collect as reference_results
from dca.reference import jobs as reference_jobs


def stage1_rows(rng, source: str, split: str, n: int, c_v: float | None = None) -> list[dict]:
    rows = []
    for k in range(n):
        c_i = float(rng.uniform(20, 95))
        correct = bool(rng.random() < c_i / 100)
        letter = "ABCD"[k % 4]
        rows.append({"id": f"{source}-{split}-{k}", "split": split, "source": source, "correct": correct,
                     "c_i": c_i, "c_i_norm": c_i, "c_v": 70.0 if c_v is None else c_v, "parse_ok": True,
                     "letter": letter, "gold_letter": letter if correct else "A"})
    return rows


def fake_job(root, name: str, seed: int, shift: float) -> None:
    """A finished job: stage1 (train + eval, two sources) and eval.parquet where C_v = C_i + shift."""
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True)
    rows = []
    for source in ("alpha", "beta"):
        rows += stage1_rows(rng, source, "train", 12) + stage1_rows(rng, source, "eval", 10)
    stage1 = pd.DataFrame(rows)
    stage1.to_parquet(folder / "stage1.parquet")
    (folder / "stage1.parquet.provenance.json").write_text(json.dumps({
        "params": {"model": "fake-model", "dataset": "alpha+beta"},
        "data_origin": {"alpha": {"split": "validation"}, "beta": {"split": "test"}}}))
    after = stage1[stage1["split"] == "eval"].copy()
    after["c_v"] = np.clip(np.round(after["c_i"] + shift), 0, 100)
    after.to_parquet(folder / "eval.parquet")
    (folder / "metrics.json").write_text("{}")
    log = [{"loss": 0.69, "step": 1}, {"eval_loss": 0.69, "eval_rewards/accuracies": 0.5, "step": 0},
           {"train_runtime": 1.0, "step": 1}]
    (folder / "train_log.jsonl").write_text("\n".join(json.dumps(x) for x in log) + "\n")


@pytest.fixture()
def collected(tmp_path, monkeypatch):
    runs, data = tmp_path / "runs", tmp_path / "data"
    monkeypatch.setattr(reference, "RUNS", runs)
    monkeypatch.setattr(reference_jobs, "RUNS", runs)
    monkeypatch.setattr(reference_results, "RUNS", runs)
    for name, target in (("RESULTS", "reference_results.csv"), ("QUESTIONS", "reference_questions.csv"),
                         ("TRAINING", "reference_training.csv")):
        monkeypatch.setattr(reference_results, name, data / target)
    monkeypatch.setattr(reference_results, "DATA", data)
    for seed in (0, 1, 2):
        fake_job(runs, f"seed{seed}", seed, shift=3.0)
    fake_job(runs, "seed0-sft", 0, shift=-5.0)
    (runs / "jobs.jsonl").write_text(json.dumps({"job": "seed1", "wall_s": 12.5, "machine": "m", "commit": "abc",
                                                 "finished": "2026-11-29T10:00:00Z"}) + "\n")
    path = reference_results.collect(n_boot=50)
    return pd.read_csv(path), pd.read_csv(data / "reference_questions.csv"), pd.read_csv(data / "reference_training.csv")


def test_jobs_and_their_commands():
    names = [j.name for j in reference.JOBS]
    assert names[:4] == ["seed0", "seed1", "seed2", "seed0-sft"] and len(set(names)) == len(names)
    assert {"abl-beta0.5", "abl-beta0.05", "abl-ipo", "abl-target-cinorm", "abl-correct-only", "abl-epochs3"} <= set(names)
    cmd = reference.command(reference.job("abl-ipo"))
    assert "profile=reference" in cmd and "train.seed=0" in cmd and "train.loss_type=ipo" in cmd
    assert reference.command(reference.job("seed1"), "extract")[3:] == [
        "extract", "profile=reference", f"run_dir={reference.RUNS / 'seed1'}", "seed=1"]
    with pytest.raises(KeyError, match="unknown job 'nope'; jobs: seed0"):
        reference.job("nope")
    assert all(j.reuse in (None, *names) for j in reference.JOBS)


@pytest.mark.parametrize("stage", ["run", *reference.STAGES])
def test_every_job_command_is_one_the_cli_accepts(stage):
    from dca import cli
    from dca.config import parse_overrides

    for j in reference.JOBS:
        cmd = reference.command(j, stage)
        names = list(cli.PIPELINE) if stage == "run" else [stage]
        params = cli.stage_parameters(names, parse_overrides(cmd[4:]))
        for name in names:
            cli.stage_config(name).from_dict(params[name])
        assert all(params[n].get("seed") == str(j.seed) for n in names if "seed" in cli.stage_config(n).field_names())


def test_collect_writes_every_method_per_dataset_and_their_mean(collected):
    results, questions, training = collected
    seed_rows = results[results["kind"] == "seed"]
    assert set(seed_rows["method"]) == {"vanilla", "dca", "constant", "isotonic", "say_ci"}
    assert set(results[results["kind"] == "sft"]["method"]) == {"sft"}
    assert set(results["dataset"]) == {"alpha", "beta", "mean"}
    one = results[(results["job"] == "seed1") & (results["method"] == "dca") & (results["metric"] == "sigma_eps")]
    per = one[one["dataset"] != "mean"]["value"]
    assert math.isclose(float(one[one["dataset"] == "mean"]["value"].iloc[0]), per.mean(), rel_tol=1e-5)
    assert results[results["job"] == "seed1"]["wall_s"].iloc[0] == 12.5
    assert results[results["job"] == "seed1"]["split"].iloc[0] == "alpha:validation;beta:test"
    assert len(questions) == 4 * 20 and set(questions["job"]) == {"seed0", "seed1", "seed2", "seed0-sft"}
    assert list(training["heldout_loss"].dropna()) == [0.69] * 4


def test_baselines_and_paired_differences(collected):
    results, _, _ = collected

    def cell(method, metric, dataset="alpha", job="seed0"):
        r = results[(results["job"] == job) & (results["method"] == method) & (results["metric"] == metric)
                    & (results["dataset"] == dataset)]
        return r.iloc[0]

    say = cell("say_ci", "mean_abs_eps")
    assert say["value"] <= 0.5  # stating round(C_i) leaves only the rounding
    dca = cell("dca", "mean_eps")
    assert abs(dca["value"] - 3.0) < 0.6 and abs(dca["diff"] - (dca["value"] - cell("vanilla", "mean_eps")["value"])) < 1e-9
    assert dca["diff_low"] <= dca["diff"] <= dca["diff_high"]
    assert math.isnan(cell("vanilla", "rho")["diff"])  # vanilla has no difference to itself
    assert cell("vanilla", "distinct_cv")["value"] == 1 and cell("vanilla", "top_cv_share")["value"] == 100
    assert cell("constant", "rho")["value"] != cell("constant", "rho")["value"]  # a constant has no rank: NaN


def test_report_tables_and_verdict(collected, tmp_path):
    results, questions, _ = collected
    form = report.paper_form(results)
    assert list(form["dataset"]) == ["alpha", "beta", "mean of the datasets"]
    assert " ± " in form.iloc[0, 1] and " → " in form.iloc[0, 1]
    agree = report.sign_agreement(results, dataset="alpha")
    assert set(agree["same sign in all seeds"]) <= {"yes", "no"}
    row = agree[agree["key"] == "mean_abs_eps"].iloc[0]
    assert row["mean change"] == "fell" and row["same sign in all seeds"] == "yes"
    assert "seeds with interval excluding 0" in agree  # per dataset: the paired intervals
    assert "seeds with interval excluding 0" not in report.sign_agreement(results)  # the mean has none
    methods = report.method_table(results)
    assert list(methods["seeds"]) == [3, 3, 1, 3, 3, 3]
    versus = report.sft_versus_dpo(results)
    assert versus.startswith("On the 1 seed where both ran, SFT on the chosen replies reached")
    # the fake SFT run states C_i - 5, DPO C_i + 3: SFT's mean |eps| is the larger, so not better
    assert re.search(r"varepsilon\\vert }\$ 5\.\d+ against DPO's 2\.\d+ \(SFT better in 0 of 1\)", versus), versus
    assert "make reference" in report.sft_versus_dpo(results[results["kind"] != "sft"])
    sentence = report.verdict(results)
    assert "over 3 seeds" in sentence and "constant stated number" in sentence
    paper = pd.read_csv(ROOT / report.ReferenceChapterConfig().paper_results, comment="#")
    card = report.results_card(results, questions, tmp_path / "card.png", paper)
    assert (tmp_path / "card.png").stat().st_size > 1000 and "paper:" in card and "this book" in card


def test_report_without_results_says_what_to_run(tmp_path):
    empty = pd.DataFrame(columns=list(reference_results.COLUMNS))
    assert "make reference" in report.verdict(empty)
    assert "make reference" in report.results_card(empty, pd.DataFrame(), tmp_path / "x.png")
    assert report.paper_form(empty).empty and report.ablation_table(empty).empty


def test_a_job_whose_stage1_has_not_run_says_which_to_run_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reference, "RUNS", tmp_path)
    monkeypatch.setattr(reference_jobs, "RUNS", tmp_path)
    assert reference.main(["run", "--only", "seed0-sft"]) == 2
    assert "reuses seed0's stage 1, which has not run: run seed0 first" in capsys.readouterr().err
    assert reference.main(["run", "--only", "nope"]) == 2


def _rows(job, kind, factor, method, seed=0, **metrics):
    return [{"job": job, "kind": kind, "factor": factor, "seed": seed, "dataset": "mean", "method": method,
             "metric": k, "value": v} for k, v in metrics.items()]


def test_ablation_summary_sorts_each_factor_against_seed0_noise_and_constant():
    rows = []
    for seed, dca in ((0, 20.0), (1, 22.0), (2, 18.0)):  # DCA's mean |eps| over seeds: sd 2.0
        rows += _rows(f"seed{seed}", "seed", "", "dca", seed, mean_abs_eps=dca, mean_eps=1.0, parse_rate=100.0)
    rows += _rows("seed0", "seed", "", "constant", mean_abs_eps=17.0)
    rows += _rows("abl-a", "ablation", "loss A", "dca", mean_abs_eps=15.0, mean_eps=2.0, parse_rate=100.0,
                  rho=0.3, distinct_cv=7.0)
    rows += _rows("abl-e", "ablation", "epochs E", "dca", mean_abs_eps=14.0, mean_eps=-2.0, parse_rate=100.0,
                  rho=-0.2, distinct_cv=2.3)
    rows += _rows("abl-b", "ablation", "target B", "dca", mean_abs_eps=21.5, mean_eps=-3.0, parse_rate=99.0)
    rows += _rows("abl-c", "ablation", "beta C", "dca", mean_abs_eps=40.0, mean_eps=-39.0, parse_rate=100.0)
    rows += _rows("abl-d", "ablation", "lr D", "dca", mean_abs_eps=30.0, mean_eps=-30.0, parse_rate=0.7)
    text = report.ablation_summary(pd.DataFrame(rows))
    assert text.startswith("Mean |ε| after training, against seed 0's DCA run (20.0 points; seed-to-seed sd of DCA 2.0")
    assert ("- lower: loss A: 15.0; epochs E: 14.0 (collapsed: 2.3 distinct values per dataset; $C_v$ no longer "
            "follows $C_i$, ρ -0.20)\n") in text
    assert "- about the same (within one seed-to-seed sd): target B: 21.5\n" in text
    assert "- higher: beta C: 40.0 (states less than $C_i$ on average, ε̄ -39.0)\n" in text
    assert "- the reply format broke: lr D: 0.7 % of replies parsed" in text
    assert text.endswith("2 beat the constant baseline: loss A, epochs E (by stating nearly one number).")
    assert report.ablation_summary(pd.DataFrame(rows[:7])) == ""  # no ablation yet: nothing to say


def test_one_rule_for_collapse_and_one_word_for_a_change():
    """"Collapse", "better", "worse" and "no clear change" come from one function each."""
    assert report.collapsed([48.0] * 89 + [70.0] * 11) and not report.collapsed(range(0, 100, 10))
    assert report.collapse_sentence((2, 89.0), (5, 70.0)).startswith("The stated numbers were already collapsed")
    # better only when the interval excludes 0 on the good side and the constant is beaten
    assert report.change_word(-3.5, -5.0, -2.0, False, beats_constant=True) == "better"
    assert report.change_word(-3.5, -5.0, -2.0, False, beats_constant=False) == "no clear change"
    assert report.change_word(-3.5, -5.0, 1.0, False, beats_constant=True) == "no clear change"
    assert report.change_word(-0.16, -0.3, -0.05, True) == "worse"
    table = pd.DataFrame([{"metric": "mean_abs_eps", "label": "mean |e|", "source": "paper", "higher_is_better": False,
                           "before": 20.7, "after": 17.2, "diff": -3.5, "diff_low": -5.0, "diff_high": -2.0}])
    assert re.search(r"\| no clear change +\|", report.comparison_markdown(table, {"mean_abs_eps": 16.0}))
    assert re.search(r"\| better +\| paper", report.comparison_markdown(table, {"mean_abs_eps": 18.0}))
