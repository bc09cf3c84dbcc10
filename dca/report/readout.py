"""The expected readout in the objectives study: each expected-number job beside its greedy twin.

A job named ``seedN-<objective>-expected`` (or ``…-expected-base``, as a confidence adapter) evaluates the
same adapter as ``seedN-<objective>`` (``…-base``) with ``readout=expected``: the stated number is the mean of
0–100 under the adapter's own distribution (:mod:`dca.evaluate.expected_number`), not its greedy number.
Everything else is the same replies, so the pair isolates what the readout changes: how many distinct
numbers are stated, and with them the share of the internal AUROC the stated numbers reach (ties count
one half in an AUROC; :mod:`dca.report.spread`). Computed from the committed ``book/data/study_results.csv``.
"""

from __future__ import annotations

import math

import pandas as pd

from dca.reference.study import JOBS, READOUT_SUFFIX, RECIPE_SUFFIX, TRANSFER
from dca.report.study_rule import _cell, _objective, criteria, holds_all, share_percent

#: The columns of :func:`readout_table`.
COLUMNS = ["answers", "seed", "readout", "ρ held out", "AUROC share", "distinct numbers", "mean abs ε",
           "ρ transfer", "conditions held"]


def greedy_twin(job: str) -> str:
    """The job that evaluates the same adapter with the greedy readout.

    >>> greedy_twin("seed2-sft-num-kl1-expected-base"), greedy_twin("seed2-sft-num-kl1-expected")
    ('seed2-sft-num-kl1-base', 'seed2-sft-num-kl1')
    """
    if job.endswith(READOUT_SUFFIX + RECIPE_SUFFIX):
        return job.removesuffix(READOUT_SUFFIX + RECIPE_SUFFIX) + RECIPE_SUFFIX
    return job.removesuffix(READOUT_SUFFIX)


def expected_jobs(results: pd.DataFrame) -> list[str]:
    """The expected-number jobs that have rows, in the study's job order."""
    if "job" not in results.columns:
        return []
    have = set(results["job"].astype(str))
    return [j.name for j in JOBS if j.params.get("evaluate.readout") == "expected" and j.name in have]


def _seed(job: str) -> int:
    return int(job.split("-", 1)[0].removeprefix("seed"))


def _spread(results: pd.DataFrame, job: str) -> tuple[float, float, float]:
    """A job's distinct numbers per held-out dataset, AUROC share (verbal / internal) and ρ (means over the datasets)."""
    objective = _objective(job)
    verbal, internal, rho, distinct = (_cell(results, job, "mean", objective, m)
                                       for m in ("auroc_verbal", "auroc_internal", "rho", "distinct_cv"))
    return distinct, verbal / internal if internal else math.nan, rho


def _row(results: pd.DataFrame, job: str, readout: str) -> list[str]:
    objective, seed = _objective(job), _seed(job)

    def cell(metric: str, dataset: str = "mean") -> float:
        return _cell(results, job, dataset, objective, metric)

    answers = "base model's" if job.endswith(RECIPE_SUFFIX) else "adapter's"
    if job not in set(results["job"]):
        return [answers, str(seed), readout, *["not run"] + ["–"] * (len(COLUMNS) - 4)]
    distinct, share, rho = _spread(results, job)
    conditions = criteria(results, objective, seed)
    held = sum(bool(v) for v in conditions.values())
    return [answers, str(seed), readout, f"{rho:.2f}",
            f"{share_percent(share)} %" if math.isfinite(share) else "–",
            f"{distinct:.1f}" if math.isfinite(distinct) else "–",
            f"{cell('mean_abs_eps'):.1f}", f"{cell('rho', TRANSFER):.2f}",
            f"{held} of {len(conditions)}" + (" ✓" if holds_all(conditions) else "")]


def readout_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per expected-number job, two rows: its greedy twin (:func:`greedy_twin`; "not run" where it has no
    rows) and the job, each with held-out ρ, the verbal AUROC as a share of the internal one, the distinct
    numbers stated per held-out dataset and mean abs ε (means over the datasets), transfer ρ, and how many
    of the rule's conditions hold (✓ all). Empty where no expected-number job has rows.

    >>> readout_table(pd.DataFrame({"job": ["seed0"]})).empty
    True
    """
    rows = []
    for job in expected_jobs(results):
        rows.append(_row(results, greedy_twin(job), "greedy"))
        rows.append(_row(results, job, "expected"))
    return pd.DataFrame(rows, columns=COLUMNS)


def readout_sentence(results: pd.DataFrame) -> str:
    """What the expected readout changed, per expected-number job: the distinct numbers, the AUROC share and ρ,
    greedy → expected where its greedy twin has rows, the expected readout's alone (and that the twin has not
    run) where it has none. Empty where no expected-number job has rows.

    >>> readout_sentence(pd.DataFrame({"job": ["seed0"]}))
    ''
    """
    said = []
    for job in expected_jobs(results):
        seed = _seed(job)
        who = "as a confidence adapter" if job.endswith(RECIPE_SUFFIX) else "answering itself"
        d1, s1, r1 = _spread(results, job)
        twin = greedy_twin(job)
        if twin in set(results["job"]):
            d0, s0, r0 = _spread(results, twin)
            said.append(f"on seed {seed}, {who}, the distinct numbers go from {d0:.1f} to {d1:.1f} per dataset, the "
                        f"AUROC share from {share_percent(s0)} % to {share_percent(s1)} % and ρ from {r0:.2f} to {r1:.2f}")
        else:
            said.append(f"on seed {seed}, {who}, it states {d1:.1f} distinct numbers per dataset, with an AUROC share "
                        f"of {share_percent(s1)} % and ρ {r1:.2f} (the greedy readout of the same adapter {who} has not "
                        "run)")
    if not said:
        return ""
    return "Read as the expected number instead of the greedy one, " + "; ".join(said) + "."


__all__ = ["COLUMNS", "expected_jobs", "greedy_twin", "readout_sentence", "readout_table"]
