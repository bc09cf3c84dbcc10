"""One rule, one word: the collapse rule comes before "better" on chapter 05 and on the landing page."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dca import report
from dca.paths import ROOT

#: The default build's state the rule was written for: 10 paired held-out questions, the trained model
#: states 48 % on 8 of them (80 %); mean |ε| fell with an interval that excludes zero and beats the
#: constant baseline, so that without the collapse rule the word would be "better".
BEFORE = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
COLLAPSED_AFTER = [48.0] * 8 + [70.0, 30.0]
SPREAD_AFTER = [15.0, 25.0, 35.0, 45.0, 48.0, 55.0, 65.0, 75.0, 85.0, 95.0]
COMPARISON = pd.DataFrame([
    {"metric": "mean_abs_eps", "label": "mean |e|", "source": "paper", "higher_is_better": False,
     "before": 20.70, "after": 17.17, "diff": -3.53, "diff_low": -5.0, "diff_high": -2.0},
    {"metric": "rho", "label": "rho", "source": "paper", "higher_is_better": True,
     "before": 0.18, "after": 0.30, "diff": 0.12, "diff_low": 0.02, "diff_high": 0.25},
])
CONSTANT = {"mean_abs_eps": 25.0, "sigma_eps": 30.0}
RESULT = {"n_eval": 10, "n_paired": 10, "parse_rate": {"before": 1.0, "after": 1.0},
          "accuracy_all": {"before": 50.0, "after": 50.0}}


def _words(after: list[float]) -> dict[str, str]:
    summary = report.evaluation_summary(RESULT, COMPARISON, CONSTANT, after)
    table = report.comparison_markdown(COMPARISON, CONSTANT, after)
    note = report.this_build_note("default", "qwen", COMPARISON, CONSTANT, BEFORE, after,
                                  "DCA did not do what the paper hopes for here: ...")
    return {"chapter sentence": summary["r_mae_sentence"], "chapter table": table, "landing page": note}


def test_the_collapsed_state_is_a_collapse_by_the_one_rule():
    assert report.collapsed(COLLAPSED_AFTER) and report.stated_counts(COLLAPSED_AFTER) == (3, 80.0)
    assert not report.collapsed(SPREAD_AFTER)


def test_a_collapsed_run_is_not_called_better_on_chapter_05_or_the_landing_page():
    words = _words(COLLAPSED_AFTER)
    assert words["chapter sentence"] == ("fell from 20.70 to 17.17 points: no clear change (the paired interval "
                                         "excludes zero, but the trained model states 48 % on 80 % of the "
                                         "questions: a collapse)")
    rows = words["chapter table"].splitlines()[2:]  # mean |ε|, then ρ
    assert len(rows) == 2 and all(re.search(r"\| no clear change +\| paper", row) for row in rows)
    assert "points: no clear change (the paired interval excludes zero, but the trained model states 48 % on " \
           "80 %" in words["landing page"]
    assert "ρ 0.180 → 0.300: no clear change" in words["landing page"]
    assert ": better" not in words["landing page"]
    assert "shows no change the book calls better" in words["landing page"]


def test_the_same_change_without_a_collapse_is_better_everywhere():
    words = _words(SPREAD_AFTER)
    assert words["chapter sentence"].startswith("fell from 20.70 to 17.17 points: better")
    assert re.search(r"\| better +\| paper", words["chapter table"])
    assert "points: better" in words["landing page"] and "shows DCA working" not in words["landing page"]


def test_a_page_never_says_better_for_one_metric_and_no_better_change_in_the_same_note():
    only_mae = COMPARISON.copy()
    only_mae.loc[only_mae["metric"] == "rho", ["diff_low", "diff_high"]] = [-0.05, 0.25]
    note = report.this_build_note("default", "qwen", only_mae, CONSTANT, BEFORE, SPREAD_AFTER,
                                  "DCA did not do what the paper hopes for here: ...")
    assert "points: better" in note and "no change the book calls better" not in note
    assert "The book calls the change of mean |ε| better but not the other" in note


@pytest.mark.parametrize("call", ["evaluation_summary(result, comparison, constant, c_v_after)",
                                  "comparison_markdown(comparison, constant, c_v_after)",
                                  "collapsed=report.collapsed(after[\"c_v\"])"])
def test_chapter_05_passes_the_stated_numbers_to_every_word(call):
    """Chapter 05 builds its words from the run's state with the collapse rule: the calls above are its own."""
    assert call in (ROOT / "notebooks" / "05_results.py").read_text()
