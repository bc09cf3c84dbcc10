"""The confidence adapter in the objectives study: what its jobs found, or that they have not run.

A *confidence adapter* (:mod:`dca.evaluate.confidence_adapter`) is an inference choice, not an
objective: the base model writes the reply up to the number and a trained adapter writes the number.
Its study jobs (``seedN-<objective>-base``, :func:`dca.reference.study.recipe_job`) evaluate an
objective's adapter that way, so their accuracy and C_i are the base model's by construction and only
the stated numbers can differ. Computed from the committed ``book/data/study_results.csv``.
"""

from __future__ import annotations

import math

import pandas as pd

from dca.reference.study import JOBS, PRECISION_SUFFIX, RECIPE_SUFFIX, SECOND_MODELS
from dca.report.study_rule import _cell, dtype_of


def recipe_jobs(results: pd.DataFrame) -> list[str]:
    """The confidence-adapter jobs of the study's model that have rows, in the study's job order."""
    if "job" not in results.columns:
        return []
    second = tuple(f"{prefix}-" for prefix in SECOND_MODELS.values())
    return [j for j in _in_study_order(results, RECIPE_SUFFIX) if not j.startswith(second)]


def _in_study_order(results: pd.DataFrame, suffix: str) -> list[str]:
    """The jobs with rows whose names end in ``suffix``: the study's in its job order (seed 0 first), then
    any other."""
    have = list(dict.fromkeys(j for j in results["job"].astype(str) if j.endswith(suffix)))
    known = [j.name for j in JOBS if j.name in have]
    return known + [j for j in have if j not in known]


def precision_table(results: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """Where a confidence-adapter job's base replies come from another stage 1 than its source job's
    (the same seed rerun, for example in float32 on a machine without bf16 units), how far the two agree
    on the held-out questions both answered, one row per job: the same answer letter, accuracy of each,
    and the mean distance and Spearman ρ of their C_i. Empty where they are the same replies.

    >>> q = pd.DataFrame({"job": ["seed0-x"] * 2 + ["seed0-x-base"] * 2, "split": "heldout", "id": ["a", "b"] * 2,
    ...                   "letter_before": list("ABAC"), "correct_before": [1, 0, 1, 0],
    ...                   "c_i_before": [60.0, 40.0, 61.0, 42.0]})
    >>> precision_table(pd.DataFrame({"job": ["seed0-x-base"], "dtype": ["float32"]}), q).iloc[0].tolist()
    ['seed0-x-base', '50.0', '50.0 / 50.0', '1.5', '1.000']
    """
    from dca.evaluate.metrics import spearman_rho

    columns = ["job", "same answer letter (%)", "accuracy (%)", "C_i apart (points, mean)", "Spearman ρ of C_i"]
    if questions.empty or "job" not in results.columns:
        return pd.DataFrame(columns=columns)
    held = questions[questions["split"] == "heldout"]
    rows = []
    for job in _in_study_order(results, RECIPE_SUFFIX):
        source = job.removesuffix(RECIPE_SUFFIX).removesuffix(PRECISION_SUFFIX)  # the committed run's stage 1
        mine = held[held["job"] == job].set_index("id")
        theirs = held[held["job"] == source].set_index("id")
        both = mine.index.intersection(theirs.index)
        if both.empty:
            continue
        a, b = mine.loc[both], theirs.loc[both]
        same = (a["letter_before"].astype(str) == b["letter_before"].astype(str)).mean()
        ci = pd.concat([a["c_i_before"], b["c_i_before"]], axis=1, keys=["a", "b"]).dropna()
        if same == 1.0 and (ci["a"] == ci["b"]).all():
            continue
        rows.append([job, f"{100 * same:.1f}",
                     f"{100 * a['correct_before'].mean():.1f} / {100 * b['correct_before'].mean():.1f}",
                     f"{(ci['a'] - ci['b']).abs().mean():.1f}",
                     f"{spearman_rho(ci['a'].to_numpy(), ci['b'].to_numpy()):.3f}"])
    return pd.DataFrame(rows, columns=columns)


def rerun_table(results: pd.DataFrame) -> pd.DataFrame:
    """Each rerun in another float type (``seedN-<objective>-fp32``) beside the committed run of the same
    job, two rows per pair (both under the committed job's name): held-out ρ, mean |ε|, accuracy (all
    replies) and the answer letters training changed (%), each the mean over the held-out datasets, with
    the float type and commit of each. Empty where no rerun has rows.

    >>> r = pd.DataFrame({"job": ["seed0-x", "seed0-x-fp32"] * 2, "dataset": "mean", "method": "x",
    ...                   "metric": ["rho", "rho", "accuracy_all", "accuracy_all"], "value": [0.5, 0.7, 40.0, 52.0],
    ...                   "dtype": ["bfloat16", "float32"] * 2, "commit": ["aaaaaaa1", "bbbbbbb2"] * 2})
    >>> for row in rerun_table(r).values.tolist():
    ...     print(row)
    ['seed0-x', 'rerun, float32', 'bbbbbbb', '0.70', '–', '52.0', '–']
    ['seed0-x', 'committed, bfloat16', 'aaaaaaa', '0.50', '–', '40.0', '–']
    """
    columns = ["job", "run", "commit", "ρ held out", "mean abs ε", "accuracy (%)", "letters changed (%)"]
    if "job" not in results.columns:
        return pd.DataFrame(columns=columns)
    rows, committed = [], set(results["job"])
    for rerun in _in_study_order(results, PRECISION_SUFFIX):
        job = rerun.removesuffix(PRECISION_SUFFIX)
        if job not in committed:
            continue
        objective = job.split("-", 1)[1]
        for name, run in ((rerun, "rerun"), (job, "committed")):
            eps, letters = (_cell(results, name, "mean", objective, m) for m in ("mean_abs_eps", "letter_changed"))
            commits = results.loc[results["job"] == name, "commit"] if "commit" in results.columns else pd.Series()
            dtype = dtype_of(results, name)
            rows.append([job, f"{run}, {dtype}" if dtype else run,
                         str(commits.iloc[0])[:7] if not commits.empty else "–",
                         f"{_cell(results, name, 'mean', objective, 'rho'):.2f}",
                         f"{eps:.1f}" if math.isfinite(eps) else "–",
                         f"{_cell(results, name, 'mean', objective, 'accuracy_all'):.1f}",
                         f"{letters:.1f}" if math.isfinite(letters) else "–"])
    return pd.DataFrame(rows, columns=columns)


__all__ = ["precision_table", "recipe_jobs", "rerun_table"]
