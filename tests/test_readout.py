"""Each expected-number job beside its greedy twin (dca.report.readout)."""

from __future__ import annotations

import pandas as pd

from dca.report import readout

METRICS = ("rho", "auroc_verbal", "auroc_internal", "distinct_cv", "mean_abs_eps")


def _rows(job: str, values: tuple[float, ...], transfer_rho: float = 0.6) -> list[dict]:
    objective = job.split("-", 1)[1]
    rows = [{"job": job, "objective": objective, "method": objective, "dataset": "mean", "metric": m, "value": v,
             "seed": int(job[4])} for m, v in zip(METRICS, values)]
    rows.append({"job": job, "objective": objective, "method": objective, "dataset": "commonsenseqa",
                 "metric": "rho", "value": transfer_rho, "seed": int(job[4])})
    return rows


def _results(*, twin: bool = True) -> pd.DataFrame:
    rows = _rows("seed2-sft-num-kl1-expected-base", (0.66, 0.66, 0.69, 31.0, 11.2))
    rows += _rows("seed2-sft-num-kl1-expected", (0.62, 0.64, 0.69, 27.0, 12.5))
    if twin:
        rows += _rows("seed2-sft-num-kl1", (0.56, 0.60, 0.69, 6.0, 14.1))
    return pd.DataFrame(rows)


def test_each_expected_job_follows_its_greedy_twin_and_a_missing_twin_says_not_run():
    table = readout.readout_table(_results())
    assert table.columns.tolist() == readout.COLUMNS
    assert table[["answers", "readout"]].values.tolist() == [
        ["base model's", "greedy"], ["base model's", "expected"], ["adapter's", "greedy"], ["adapter's", "expected"]]
    assert table.iloc[0]["ρ held out"] == "not run"  # seed2-sft-num-kl1-base has no rows here
    assert table.iloc[2]["AUROC share"] == "86.9 %"  # cut at the decimal, not rounded up
    assert table.iloc[3]["distinct numbers"] == "27.0" and table.iloc[3]["ρ transfer"] == "0.60"


def test_the_sentence_compares_with_the_twin_where_it_ran_and_says_where_it_did_not():
    said = readout.readout_sentence(_results())
    assert said == ("Read as the expected number instead of the greedy one, on seed 2, as a confidence adapter, it "
                    "states 31.0 distinct numbers per dataset, with an AUROC share of 95.6 % and ρ 0.66 (the greedy "
                    "readout of the same adapter as a confidence adapter has not run); on seed 2, answering itself, "
                    "the distinct numbers go from 6.0 to 27.0 per dataset, the AUROC share from 86.9 % to 92.7 % and ρ "
                    "from 0.56 to 0.62.")
    assert "go from" not in readout.readout_sentence(_results(twin=False))
    assert readout.readout_sentence(pd.DataFrame(_rows("seed2-sft-num-kl1", (0.5, 0.6, 0.7, 6.0, 14.0)))) == ""


def test_no_expected_job_gives_an_empty_table():
    assert readout.readout_table(pd.DataFrame(_rows("seed2-sft-num-kl1", (0.5, 0.6, 0.7, 6.0, 14.0)))).empty
    assert readout.readout_table(pd.DataFrame()).empty
