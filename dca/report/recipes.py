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

from dca.reference.study import JOBS


def recipe_jobs(results: pd.DataFrame) -> list[str]:
    """The confidence-adapter jobs of the study's model that have rows, in the study's job order."""
    have = set(results["job"]) if "job" in results.columns else set()
    return [j.name for j in JOBS if j.adapter_from and not j.prefix and j.name in have]


def _mean(results: pd.DataFrame, job: str, method: str, metric: str, dataset: str = "mean") -> float:
    rows = results[(results["job"] == job) & (results["dataset"] == dataset) & (results["method"] == method)
                   & (results["metric"] == metric)]
    return float(rows["value"].iloc[0]) if not rows.empty else math.nan


def recipe_sentence(results: pd.DataFrame, transfer: str = "commonsenseqa") -> str:
    """What the confidence-adapter jobs found, one clause per job, or how to run them.

    >>> recipe_sentence(pd.DataFrame())
    'The confidence adapter has not run yet.'
    """
    jobs = recipe_jobs(results)
    if not jobs:
        return "The confidence adapter has not run yet."
    clauses = []
    for job in jobs:
        objective = job.split("-", 1)[1]
        seed = job.split("-", 1)[0]
        before = _mean(results, seed, "vanilla", "rho")
        after = _mean(results, job, objective, "rho")
        eps = _mean(results, job, objective, "mean_abs_eps")
        whole = _mean(results, job, objective, "whole_percent")
        t_before = _mean(results, seed, "vanilla", "rho", transfer)
        t_after = _mean(results, job, objective, "rho", transfer)
        clauses.append(f"{job}: ρ {before:.2f} → {after:.2f} (transfer {t_before:.2f} → {t_after:.2f}), "
                       f"mean |ε| {eps:.1f}, {whole:.0f} % whole-number replies")
    return "The confidence adapter, with the base model's answers and C_i: " + "; ".join(clauses) + "."


__all__ = ["recipe_jobs", "recipe_sentence"]
