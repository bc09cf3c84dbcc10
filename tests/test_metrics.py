"""Tests of dca.evaluate.metrics: independent cross-checks, edge cases, properties (dca.evaluate.bootstrap: test_bootstrap.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import brier_score_loss, roc_auc_score
from torchmetrics.functional.classification import binary_calibration_error

from dca.evaluate import metrics as M
from dca.evaluate.bootstrap import bootstrap
from dca.evaluate.metrics import METRICS, MetricInputError, compute

KEYS = ["n", "accuracy", "rho", "mean_eps", "sigma_eps", "mean_abs_eps", "sigma_m", "ece_verbal",
        "ece_internal", "brier_verbal", "brier_internal", "auroc_verbal", "auroc_internal"]


def torchmetrics_ece(conf_percent, correct) -> float:
    p = torch.tensor(np.asarray(conf_percent) / 100.0, dtype=torch.float64)
    y = torch.tensor(np.asarray(correct, dtype=np.int64))
    return float(binary_calibration_error(p, y, n_bins=10, norm="l1"))


# ------------------------------------------------------------------------------ independent checks
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy_sklearn_torchmetrics_on_random_data(seed, random_run):
    c_v, c_i, y = random_run(400, seed, integers=True)  # integer C_v: many ties for the ranks
    m = compute(c_v, c_i, y)
    assert m["rho"] == pytest.approx(spearmanr(c_v, c_i).statistic, abs=1e-12)
    assert m["auroc_verbal"] == pytest.approx(roc_auc_score(y, c_v), abs=1e-12)
    assert m["auroc_internal"] == pytest.approx(roc_auc_score(y, c_i), abs=1e-12)
    assert m["brier_verbal"] == pytest.approx(brier_score_loss(y, c_v / 100), abs=1e-12)
    assert m["brier_internal"] == pytest.approx(brier_score_loss(y, c_i / 100), abs=1e-12)
    # C_i is continuous (no value on a bin edge): torchmetrics bins it exactly as we do
    assert m["ece_internal"] == pytest.approx(torchmetrics_ece(c_i, y), abs=1e-12)
    eps = c_v - c_i
    assert m["sigma_eps"] == pytest.approx(np.std(eps, ddof=1))
    assert m["sigma_m"] == pytest.approx(np.std(eps, ddof=1) / math.sqrt(400))
    assert m["mean_abs_eps"] == pytest.approx(np.mean(np.abs(eps)))
    assert m["accuracy"] == pytest.approx(100 * np.mean(y))


def test_ece_matches_torchmetrics_away_from_bin_edges():
    conf = np.array([3.0, 17.5, 44.0, 45.0, 61.2, 99.9, 99.5, 12.0])
    y = np.array([0, 1, 0, 1, 1, 1, 0, 0], dtype=bool)
    assert M.ece(conf, y) == pytest.approx(torchmetrics_ece(conf, y), abs=1e-12)


def test_ece_edge_rule_hand_computed_where_torchmetrics_differs():
    # Our rule: 100 % joins the last bin [90, 100]; 30 % opens bin [30, 40).
    # torchmetrics puts exactly 1.0 in an extra 11th bin, and with float boundaries
    # linspace(0, 1, 11)[3] = 0.30000000000000004 it puts 0.3 in [0.2, 0.3).
    conf = np.array([100.0, 90.0, 30.0, 35.0])
    y = np.array([False, True, True, False])
    table = M.reliability_table(conf, y)
    assert table["count"].tolist() == [0, 0, 0, 2, 0, 0, 0, 0, 0, 2]
    # bin 9: mean conf 0.95, acc 0.5; bin 3: mean conf 0.325, acc 0.5
    ours = 0.5 * abs(0.5 - 0.95) + 0.5 * abs(0.5 - 0.325)
    assert M.ece(conf, y) == pytest.approx(ours, abs=1e-12)
    # torchmetrics: {1.0}: |0-1|/4, {0.9}: |1-0.9|/4, {0.3}: |1-0.3|/4, {0.35}: |0-0.35|/4
    theirs = (1.0 + 0.1 + 0.7 + 0.35) / 4
    assert torchmetrics_ece(conf, y) == pytest.approx(theirs, abs=1e-12)


def test_bin_index_edges():
    assert M.bin_index([0, 0.001, 9.999, 10, 20, 30, 70, 89.99, 90, 99.99, 100]).tolist() == \
        [0, 0, 0, 1, 2, 3, 7, 8, 9, 9, 9]
    assert M.bin_index(np.arange(0, 101, 10), n_bins=5).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4]


def test_reliability_table_empty_bins_are_nan():
    t = M.reliability_table([5, 95], [False, True])
    assert t["count"].sum() == 2 and t["count"].tolist()[1:9] == [0] * 8
    assert t["accuracy"].isna().sum() == 8 and t["mean_confidence"].isna().sum() == 8


def test_confidences_exactly_0_and_100():
    m = compute([0, 100, 100, 0], [0, 100, 50, 50], [False, True, True, False])
    assert m["ece_verbal"] == 0.0 and m["brier_verbal"] == 0.0 and m["auroc_verbal"] == 1.0
    assert m["mean_eps"] == 0.0 and m["mean_abs_eps"] == 25.0


# ------------------------------------------------------------------------------ keys and registry
def test_keys_and_registry(random_run):
    m = compute(*random_run(50))
    assert list(m) == KEYS and list(METRICS) == KEYS
    assert isinstance(m["n"], int) and all(isinstance(v, float) for k, v in m.items() if k != "n")
    for key, info in METRICS.items():
        assert info.key == key and info.label.startswith("$") and info.description
        assert info.higher_is_better in (True, False, None)
        assert info.source in ("paper", "beyond the paper", "paper (Kumar et al. 2024)")
    assert METRICS["rho"].source == "paper (Kumar et al. 2024)"
    assert {k for k, i in METRICS.items() if i.source == "paper"} == \
        {"n", "accuracy", "sigma_eps", "mean_abs_eps", "sigma_m"}
    assert [k for k, i in METRICS.items() if i.higher_is_better] == \
        ["accuracy", "rho", "auroc_verbal", "auroc_internal"]


# ------------------------------------------------------------------------------ edge cases
def nan_keys(m):
    return {k for k, v in m.items() if isinstance(v, float) and math.isnan(v)}


def test_n_zero_every_metric_undefined():
    m, reasons = compute([], [], [], return_reasons=True)
    assert m["n"] == 0 and nan_keys(m) == set(KEYS) - {"n"}
    assert set(reasons) == set(KEYS) - {"n"} and reasons["rho"] == "N = 0: no questions"


def test_n_one():
    m, reasons = compute([80], [60], [True], return_reasons=True)
    assert m["accuracy"] == 100.0 and m["mean_eps"] == 20.0 and m["mean_abs_eps"] == 20.0
    assert m["ece_verbal"] == pytest.approx(0.2) and m["brier_internal"] == pytest.approx(0.16)
    assert nan_keys(m) == {"sigma_eps", "sigma_m", "rho", "auroc_verbal", "auroc_internal"}
    assert set(reasons) == nan_keys(m)
    assert "ddof = 1" in reasons["sigma_eps"] and "all 1 answers are correct" in reasons["auroc_verbal"]


@pytest.mark.parametrize("c_v, c_i, name", [([70, 70, 70], [10, 50, 90], "C_v"),
                                            ([10, 50, 90], [33, 33, 33], "C_i")])
def test_constant_confidence_rho_undefined(c_v, c_i, name):
    m, reasons = compute(c_v, c_i, [True, False, True], return_reasons=True)
    assert nan_keys(m) == {"rho"} and reasons["rho"].startswith(f"{name} is constant")
    assert m["sigma_eps"] > 0  # ε itself still varies


@pytest.mark.parametrize("y, word", [([1, 1, 1], "correct"), ([0, 0, 0], "wrong")])
def test_one_class_auroc_undefined(y, word):
    m, reasons = compute([90, 50, 20], [80, 60, 10], y, return_reasons=True)
    assert nan_keys(m) == {"auroc_verbal", "auroc_internal"}
    assert reasons["auroc_internal"] == \
        f"all 3 answers are {word}: AUROC needs both correct and wrong answers"


def test_defined_metrics_have_no_reason(random_run):
    assert compute(*random_run(30), return_reasons=True)[1] == {}


@pytest.mark.parametrize("args, message", [
    (([1, np.nan, 3, 4, 5, 6, 7, np.nan], [1] * 8, [1] * 8), "c_v has 2 NaN values at positions [1, 7]"),
    (([1, 2], [np.nan, 2], [1, 0]), "c_i has 1 NaN value at positions [0]"),
    (([1, 2], [1, 2], [1.0, np.nan]), "correct has 1 NaN value at positions [1]"),
    (([1, 2, 3], [1, 2], [1, 0, 1]), "inputs differ in length: c_v has 3 values, c_i has 2, correct has 3"),
    (([50, 101, -1], [1, 2, 3], [1, 0, 1]),
     "c_v has 2 values outside [0, 100] (confidences are percentages): [101.0, -1.0] at positions [1, 2]"),
    (([50, 60], [1, np.inf], [1, 0]), "c_i has 1 value outside [0, 100]"),
    (([50, 60], [1, 2], [1, 2]), "correct must be True/False (or 1/0); 1 value [2.0] at positions [1]"),
    (([[50, 60]], [[1, 2]], [[1, 0]]), "c_v must be 1-D (one value per question); got shape (1, 2)"),
    ((["a", "b"], [1, 2], [1, 0]), "c_v must be numeric"),
])
def test_invalid_inputs_raise_metric_input_error(args, message):
    with pytest.raises(MetricInputError) as err:
        compute(*args)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_many_nan_positions_are_truncated():
    with pytest.raises(MetricInputError, match=r"c_v has 15 NaN values at positions \[0, 1, .*9\] "
                                               r"\(first 10 of 15 shown\)"):
        compute([np.nan] * 15, [1] * 15, [1] * 15)


def test_no_warnings_on_degenerate_inputs(recwarn):
    compute([], [], [])
    compute([50], [50], [True])
    compute([50, 50], [50, 50], [True, True])
    bootstrap([50, 50], [50, 50], [True, True], n_boot=20)
    assert len(recwarn) == 0


# ------------------------------------------------------------------------------ properties
def runs(max_n: int = 40):
    conf = st.floats(0, 100, allow_nan=False)
    return st.integers(0, max_n).flatmap(lambda n: st.tuples(
        st.lists(conf, min_size=n, max_size=n), st.lists(conf, min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n)))


@settings(max_examples=50, deadline=None)
@given(runs(), st.randoms(use_true_random=False))
def test_properties(run, rnd):
    c_v, c_i, y = (np.array(x, dtype=float) for x in run)
    m, reasons = compute(c_v, c_i, y.astype(bool), return_reasons=True)
    assert nan_keys(m) == set(reasons)
    n = m["n"]
    if n:
        assert m["mean_abs_eps"] >= abs(m["mean_eps"]) - 1e-9
        assert 0 <= m["accuracy"] <= 100 and -100 <= m["mean_eps"] <= 100
        for key in ("ece_verbal", "ece_internal", "brier_verbal", "brier_internal"):
            assert -1e-12 <= m[key] <= 1 + 1e-12
    if n >= 2:
        assert m["sigma_m"] == pytest.approx(m["sigma_eps"] / math.sqrt(n))
        assert m["sigma_eps"] >= 0
    for key in ("rho", "auroc_verbal", "auroc_internal"):
        if key not in reasons:
            assert (-1 if key == "rho" else 0) - 1e-9 <= m[key] <= 1 + 1e-9
    order = list(range(n))
    rnd.shuffle(order)
    shuffled = compute(c_v[order], c_i[order], y[order].astype(bool))
    for key in KEYS:
        assert shuffled[key] == pytest.approx(m[key], abs=1e-9, nan_ok=True), key


@settings(max_examples=50, deadline=None)
@given(runs(30))
def test_rho_and_auroc_agree_with_scipy_sklearn(run):
    c_v, c_i, y = (np.array(x, dtype=float) for x in run)
    m, reasons = compute(c_v, c_i, y, return_reasons=True)
    if "rho" not in reasons:
        assert m["rho"] == pytest.approx(spearmanr(c_v, c_i).statistic, abs=1e-9)
    if "auroc_verbal" not in reasons:
        assert m["auroc_verbal"] == pytest.approx(roc_auc_score(y, c_v), abs=1e-9)
