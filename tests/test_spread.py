"""The AUROC share against the distinct numbers a job states (dca.report.spread)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from scipy.stats import spearmanr

from dca.report import spread


def _rows(job: str, objective: str, method: str, distinct: float, verbal: float, internal: float) -> list[dict]:
    return [{"job": job, "objective": objective, "method": method, "dataset": "mean", "metric": m, "value": v}
            for m, v in (("distinct_cv", distinct), ("auroc_verbal", verbal), ("auroc_internal", internal))]


def _results() -> pd.DataFrame:
    rows = _rows("seed0", "none", "vanilla", 4.0, 0.55, 0.66)
    rows += _rows("seed0-a", "a", "a", 5.0, 0.52, 0.69)
    rows += _rows("seed0-a", "a", "vanilla", 4.0, 0.55, 0.66)  # the job's paired base: not a point
    rows += _rows("seed0-a", "a", "constant", 1.0, 0.50, 0.66)  # a baseline: not a point
    rows += _rows("seed0-b", "b", "b", 13.0, 0.62, 0.65)
    rows += _rows("seed0-c", "c", "c", 10.0, 0.58, 0.66)
    rows += _rows("seed0-d", "d", "d", 20.0, 0.64, 0.66)
    return pd.DataFrame(rows)


def test_one_point_per_job_after_training_and_before():
    points = spread.spread_points(_results())
    assert points["job"].tolist() == ["seed0", "seed0-a", "seed0-b", "seed0-c", "seed0-d"]
    assert points["objective"].tolist() == ["vanilla", "a", "b", "c", "d"]
    assert points.loc[points["job"] == "seed0-a", "share"].item() == pytest.approx(0.52 / 0.69)


def test_the_sentence_counts_trained_jobs_and_matches_scipy():
    points = spread.spread_points(_results())
    trained = points[points["objective"] != "vanilla"]
    said = spread.spread_sentence(points)
    expected = spearmanr(trained["distinct"], trained["share"]).statistic
    assert said.startswith("Over the 4 jobs after training")
    assert f"Spearman ρ {expected:.2f}" in said
    # b (13 distinct, 95 %) and d (20, 97 %) reach the goal; a and c state fewer than 13 and reach at most 88 %
    assert "at least 13.0 distinct numbers" in said
    assert "the 2 jobs that state fewer reach at most 88 %" in said


def test_no_job_reaching_the_goal_says_so():
    rows = _rows("seed0-a", "a", "a", 5.0, 0.52, 0.69) + _rows("seed0-c", "c", "c", 10.0, 0.58, 0.66)
    rows += _rows("seed0-e", "e", "e", 3.0, 0.50, 0.70)
    said = spread.spread_sentence(spread.spread_points(pd.DataFrame(rows)))
    assert "none reaches the goal's 90 %, the highest share is 88 %." in said


@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame(_rows("seed0-a", "a", "a", 5.0, 0.52, 0.69))])
def test_too_few_jobs_give_no_sentence(frame):
    assert spread.spread_sentence(spread.spread_points(frame)) == ""


def test_a_job_stating_no_number_is_left_out():
    rows = _rows("seed0-a", "a", "a", 0.0, float("nan"), 0.69)  # every reply lost the number
    assert spread.spread_points(pd.DataFrame(rows)).empty


def test_the_figure_draws_every_point_and_the_goal():
    points = spread.spread_points(_results())
    fig = spread.plot_spread(points)
    try:
        ax = fig.axes[0]
        drawn = sum(len(c.get_offsets()) for c in ax.collections)
        assert drawn == len(points)
        assert any(line.get_ydata()[0] == pytest.approx(90) for line in ax.get_lines())
        assert "; 4 jobs after training, 1 point before training." in spread.spread_alt_text(points)
    finally:
        plt.close(fig)
