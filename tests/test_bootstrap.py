"""Tests of dca.evaluate.bootstrap: percentile intervals, paired differences, the tables."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from dca.evaluate.bootstrap import (
    bootstrap,
    paired_bootstrap,
    paired_table,
    percentile_interval,
    resample_indices,
    resampled_metrics,
    summary_table,
)
from dca.evaluate.metrics import METRICS, MetricInputError, compute

KEYS = list(METRICS)  # n, accuracy, rho, ... (the order tests/test_metrics.py checks)


def test_batched_functions_match_one_row_at_a_time(random_run):
    c_v, c_i, y = random_run(60, 3, integers=True)
    idx = resample_indices(60, 7, seed=1)
    batched = resampled_metrics(c_v, c_i, y, idx)
    for b in range(7):
        single = compute(c_v[idx[b]], c_i[idx[b]], y[idx[b]])
        for key in KEYS:
            assert batched[key][b] == pytest.approx(single[key], abs=1e-12, nan_ok=True), key


def test_bootstrap_intervals_contain_estimate_and_are_reproducible(random_run):
    c_v, c_i, y = random_run(300, 5)
    m = compute(c_v, c_i, y)
    ci = bootstrap(c_v, c_i, y, n_boot=300, seed=7)
    assert list(ci) == KEYS and ci["n"] == (300.0, 300.0)
    for key in KEYS[1:]:
        low, high = ci[key]
        assert low <= high, key
        if not key.startswith("ece"):  # binned ECE is biased upward under resampling
            assert low - 1e-9 <= m[key] <= high + 1e-9, key
    assert bootstrap(c_v, c_i, y, n_boot=300, seed=7) == ci
    assert bootstrap(c_v, c_i, y, n_boot=300, seed=8) != ci
    wide, narrow = bootstrap(c_v, c_i, y, n_boot=300, seed=7, level=0.99), ci
    assert wide["sigma_eps"][0] <= narrow["sigma_eps"][0] <= narrow["sigma_eps"][1] <= wide["sigma_eps"][1]


def test_bootstrap_is_fast(random_run):
    c_v, c_i, y = random_run(1000, 0)
    start = time.perf_counter()
    bootstrap(c_v, c_i, y, n_boot=1000)
    assert time.perf_counter() - start < 5.0  # about 1 s on a laptop


def test_bootstrap_edge_cases():
    assert all(math.isnan(lo) and math.isnan(hi) for k, (lo, hi) in bootstrap([], [], [], 10).items()
               if k != "n")
    one = bootstrap([80], [60], [True], n_boot=10)
    assert one["mean_eps"] == (20.0, 20.0) and all(map(math.isnan, one["rho"]))
    with pytest.raises(ValueError, match="level"):
        bootstrap([1], [1], [1], level=95)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap([1], [1], [1], n_boot=0)
    with pytest.raises(MetricInputError, match="NaN"):
        bootstrap([np.nan], [1], [1])


def test_percentile_interval_ignores_undefined_resamples():
    assert percentile_interval([np.nan, 1.0, 2.0, 3.0], level=0.5) == (1.5, 2.5)


def test_paired_bootstrap_uses_the_same_questions(random_run):
    c_v, c_i, y = random_run(200, 2)
    same = paired_bootstrap((c_v, c_i, y), (c_v, c_i, y), n_boot=100)
    assert all(r["diff"] == 0 and r["low"] == 0 and r["high"] == 0
               for k, r in same.items() if not math.isnan(r["low"]))
    shifted = paired_bootstrap((c_v * 0.5, c_i, y), (c_v * 0.5 + 3, c_i, y), n_boot=100)
    # a constant shift of C_v moves mean ε by exactly 3 on every paired resample
    assert shifted["mean_eps"]["diff"] == pytest.approx(3)
    assert shifted["mean_eps"]["low"] == pytest.approx(3) and shifted["mean_eps"]["high"] == pytest.approx(3)
    assert shifted["rho"]["low"] == pytest.approx(0, abs=1e-12)  # ranks unchanged
    assert set(shifted["accuracy"]) == {"before", "after", "diff", "low", "high"}


def test_paired_bootstrap_rejects_different_question_counts():
    with pytest.raises(MetricInputError, match="before has 3 questions, after has 2"):
        paired_bootstrap(([1, 2, 3], [1, 2, 3], [1, 0, 1]), ([1, 2], [1, 2], [1, 0]))


def test_tables(random_run):
    c_v, c_i, y = random_run(100, 4)
    t = summary_table(c_v, c_i, y, n_boot=100)
    assert t["metric"].tolist() == KEYS[1:]
    assert (t["low"] <= t["high"]).all() and (t["note"] == "").all()
    t1 = summary_table([80, 70], [60, 50], [True, True], n_boot=50)
    notes = dict(zip(t1["metric"], t1["note"]))
    assert notes["auroc_verbal"].startswith("all 2 answers are correct")
    assert "resamples (others undefined)" in notes["rho"]
    p = paired_table(paired_bootstrap((c_v, c_i, y), (c_i, c_i, y), n_boot=50), keys=["mean_abs_eps", "rho"])
    assert p.columns.tolist() == ["metric", "label", "source", "higher_is_better", "before", "after", "diff",
                                  "diff_low", "diff_high"]
    assert p["after"].tolist()[0] == 0.0 and p["higher_is_better"].tolist() == [False, True]
