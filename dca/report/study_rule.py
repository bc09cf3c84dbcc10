"""The objectives study's pre-stated rule: what an objective must do to be said to *work*
(:func:`criteria`), the verdict per objective over the seeds (:func:`verdict_table`), the ranking of
the objectives closest to working, and which rows the rule reads (the dose-response jobs and the second
models' probes left out).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dca.reference.study import JOBS, PRECISION_SUFFIX, TRANSFER

#: What an objective must do, in every seed and as the mean over the three held-out datasets, to be
#: said to work (the study's pre-stated rule; the book glues these numbers).
MAX_ACCURACY_DROP = 2.0  # points of accuracy below vanilla


MIN_WHOLE_PERCENT = 95.0  # % of replies that parse as a whole-number percentage


RHO_GOAL = 0.5  # the goal to aim for (the paper's best model reaches 0.42)
#: ... together with a verbal AUROC at least this share of the same run's internal AUROC (the ceiling:
#: stated confidence that follows C_i can separate right from wrong answers at most as well as C_i does).
AUROC_SHARE_GOAL = 0.9


def share_percent(share: float) -> str:
    """The verbal AUROC as a share of the internal one, in per cent with one decimal, cut (not rounded) at
    the decimal, so that a share just under the goal never reads as the goal; "–" where undefined.

    >>> share_percent(0.8963), share_percent(0.9445), share_percent(0.9), share_percent(float("nan"))
    ('89.6', '94.4', '90.0', '–')
    """
    if not math.isfinite(share):
        return "–"
    return f"{math.floor(1000 * share + 1e-9) / 10:.1f}"


#: mean abs eps is measured on the replies that state a number; on fewer than this % of them it is not
#: a measurement of the model (a run that stopped writing numbers would pass on a handful of replies).
MIN_PARSED_FOR_EPS = 50.0


#: The dose-response jobs (seed 0, an objective trained on part of the training questions): job -> fraction.
DOSE: dict[str, float] = {j.name: float(j.params["train.pair_fraction"]) for j in JOBS
                          if "train.pair_fraction" in j.params}
#: The reruns of an objective's job in another float type (:data:`dca.reference.study.PRECISION_OBJECTIVES`).
RERUNS = frozenset(j.name for j in JOBS if j.name.endswith(PRECISION_SUFFIX))


def without_dose(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows of the dose-response jobs and of the reruns in another float type: they
    train an objective on part of the pairs, or again in another precision, so they are not that
    objective's run of the seed and stay out of its means and verdict.

    >>> without_dose(pd.DataFrame({"job": ["seed0-dca", "seed0-dca-q25", "seed0-sft-num-fp32"]}))["job"].tolist()
    ['seed0-dca']
    """
    return frame[~frame["job"].isin(DOSE.keys() | RERUNS)] if "job" in frame.columns else frame


#: The jobs that read an adapter's number as the expected one (:data:`dca.reference.study.READOUT_SUFFIX`).
READOUT_JOBS = frozenset(j.name for j in JOBS if j.params.get("evaluate.readout") == "expected")


def without_readouts(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows of the expected-number jobs (:data:`READOUT_JOBS`): another readout of an
    adapter that has its own rows, judged beside its greedy twin (:mod:`dca.report.readout`), so the
    chapter's opening table and figure keep one entry per adapter.

    >>> without_readouts(pd.DataFrame({"job": ["seed2-sft-num-kl1", "seed2-sft-num-kl1-expected"]}))["job"].tolist()
    ['seed2-sft-num-kl1']
    """
    return frame[~frame["job"].isin(READOUT_JOBS)] if "job" in frame.columns else frame


def objectives_of(results: pd.DataFrame) -> list[str]:
    """The trained objectives of study rows, in the order they first appear (dose-response jobs and the
    seeds' own rows, objective ``none``, left out): every table and sentence of the study covers the
    objectives that ran, whether or not :data:`~dca.reference.study.OBJECTIVES` lists them.

    >>> objectives_of(pd.DataFrame({"job": ["seed0", "seed0-b", "seed0-a", "seed1-b", "seed0-a-q25"],
    ...                             "objective": ["none", "b", "a", "b", "a"]}))
    ['b', 'a']
    """
    rows = without_dose(results)
    if rows.empty or "objective" not in rows.columns:
        return []
    return [o for o in dict.fromkeys(rows["objective"].dropna().astype(str)) if o not in ("none", "vanilla")]


#: The second models' jobs (their probes): every table of the study's model leaves them out.
SECOND_MODEL_JOBS = frozenset(j.name for j in JOBS if j.prefix)


def without_second_models(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows of the second models' jobs (:data:`SECOND_MODEL_JOBS`): the study's
    tables, verdict and notes are about its own model; the probes have a table of their own
    (:mod:`dca.report.models`).

    >>> without_second_models(pd.DataFrame({"job": ["seed0", "qwen05-seed0"]}))["job"].tolist()
    ['seed0']
    """
    return frame[~frame["job"].isin(SECOND_MODEL_JOBS)] if "job" in frame.columns else frame


def _cell(results: pd.DataFrame, job: str, dataset: str, method: str, metric: str, column: str = "value") -> float:
    rows = results[(results["job"] == job) & (results["dataset"] == dataset) & (results["method"] == method)
                   & (results["metric"] == metric)]
    return float(rows[column].iloc[0]) if not rows.empty and column in rows.columns else math.nan


def value_before(results: pd.DataFrame, job: str, method: str, metric: str, dataset: str = "mean") -> float:
    """A job's own value before training: its value minus its paired change (``value - diff``), so that a
    job run in another float type than its seed's stage 1 is compared with its own base model; the seed's
    vanilla row where the job has no paired change.

    >>> rows = pd.DataFrame({"job": ["seed0", "seed0-x"], "dataset": "mean", "method": ["vanilla", "x"],
    ...                      "metric": "rho", "value": [0.2, 0.6], "diff": [None, 0.35]})
    >>> round(value_before(rows, "seed0-x", "x", "rho"), 2)
    0.25
    >>> value_before(rows.assign(diff=float("nan")), "seed0-x", "x", "rho")
    0.2
    """
    after, diff = (_cell(results, job, dataset, method, metric, c) for c in ("value", "diff"))
    if math.isfinite(after) and math.isfinite(diff):
        return after - diff
    return _cell(results, job.split("-", 1)[0], dataset, "vanilla", metric)


def dtype_of(results: pd.DataFrame, job: str) -> str:
    """The float type a job's rows say it ran in (column ``dtype``); "" where not recorded.

    >>> dtype_of(pd.DataFrame({"job": ["seed0", "seed0-x"], "dtype": [None, "float32"]}), "seed0-x")
    'float32'
    """
    if "dtype" not in results.columns:
        return ""
    recorded = results.loc[results["job"] == job, "dtype"].dropna().astype(str)
    return recorded.iloc[0] if not recorded.empty and recorded.iloc[0] not in ("", "nan") else ""


def _objective(run: str) -> str:
    """The objective of a study job's name (``seed0-rpo`` -> ``rpo``; a seed's stage 1 -> ``vanilla``)."""
    return run.split("-", 1)[1] if "-" in run else "vanilla"


def criteria(results: pd.DataFrame, objective: str, seed: int) -> dict[str, bool | float]:
    """The rule's conditions for one objective on one seed (``nan`` where a job has not run).

    On the mean over the held-out datasets: rho rises (paired difference > 0); mean abs eps falls
    below both the constant and the isotonic baselines of the same seed, measured on at least
    :data:`MIN_PARSED_FOR_EPS` % of the replies; sigma_eps falls; accuracy
    (unparsed replies counted wrong) within :data:`MAX_ACCURACY_DROP` points of vanilla; at least
    :data:`MIN_WHOLE_PERCENT` % of replies parse as a whole-number percentage. On the transfer
    questions: no fall of rho whose paired interval excludes 0.
    """
    job, base = f"seed{seed}-{objective}", f"seed{seed}"
    if results.empty or job not in set(results["job"]):
        return {}
    after_mae = _cell(results, job, "mean", objective, "mean_abs_eps")
    baselines = [_cell(results, base, "mean", m, "mean_abs_eps") for m in ("constant", "isotonic")]
    accuracy = _cell(results, job, "mean", objective, "accuracy_all") - _cell(results, base, "mean", "vanilla",
                                                                               "accuracy_all")
    transfer_high = _cell(results, job, TRANSFER, objective, "rho", "diff_high")
    return {
        "ρ rises": _cell(results, job, "mean", objective, "rho", "diff") > 0,
        "mean abs ε below both baselines": (all(after_mae < b for b in baselines) and _cell(
            results, job, "mean", objective, "parse_rate") >= MIN_PARSED_FOR_EPS),
        "σ ε falls": _cell(results, job, "mean", objective, "sigma_eps", "diff") < 0,
        "accuracy kept": accuracy >= -MAX_ACCURACY_DROP,
        "whole-% replies ≥ 95 %": _cell(results, job, "mean", objective, "whole_percent") >= MIN_WHOLE_PERCENT,
        "transfer ρ not lower": (transfer_high >= 0) if math.isfinite(transfer_high) else False,
    }


def holds_all(conditions: dict[str, bool | float]) -> bool:
    """Whether a job ran and every condition of :func:`criteria` holds for it (an empty dict: not run).

    >>> holds_all({"ρ rises": True, "accuracy kept": True}), holds_all({"ρ rises": True, "accuracy kept": False})
    (True, False)
    >>> holds_all({})
    False
    """
    return bool(conditions) and all(bool(v) for v in conditions.values())


def goal_values(results: pd.DataFrame, objective: str, seed: int) -> dict[str, float | list[str]] | None:
    """The goal beyond the rule for one objective on one seed, where every condition of :func:`criteria`
    holds (``None`` elsewhere): held-out ρ, the verbal and internal AUROC and the share
    ``auroc_verbal / auroc_internal`` (means over the held-out datasets), and ``short``, what misses the
    goal of ρ ≥ :data:`RHO_GOAL` and share ≥ :data:`AUROC_SHARE_GOAL` (``[]``: the goal is reached).

    >>> goal_values(pd.DataFrame(), "sft-num", 0) is None
    True
    """
    if not holds_all(criteria(results, objective, seed)):
        return None
    job = f"seed{seed}-{objective}"
    rho, verbal, internal = (_cell(results, job, "mean", objective, m) for m in ("rho", "auroc_verbal", "auroc_internal"))
    share = verbal / internal if internal else float("nan")
    short = [what for what, ok in (("ρ", rho >= RHO_GOAL), ("the AUROC", share >= AUROC_SHARE_GOAL)) if not ok]
    return {"rho": rho, "auroc_verbal": verbal, "auroc_internal": internal, "share": share, "short": short}


def verdict_table(results: pd.DataFrame, seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    """One row per objective: for each condition of :func:`criteria`, in how many of the seeds that
    ran it holds ("2/3"), and ``works`` ("yes" only when every condition holds in all three seeds;
    "not judged" while fewer seeds ran).

    >>> verdict_table(pd.DataFrame())
    Empty DataFrame
    Columns: [objective, seeds run, works]
    Index: []
    """
    rows = []
    for objective in objectives_of(results):
        per_seed = {s: criteria(results, objective, s) for s in seeds}
        ran = {s: c for s, c in per_seed.items() if c}
        if not ran:
            continue
        row: dict[str, Any] = {"objective": objective, "seeds run": len(ran)}
        names = next(iter(ran.values())).keys()
        for name in names:
            row[name] = f"{sum(bool(c[name]) for c in ran.values())}/{len(ran)}"
        all_hold = all(holds_all(c) for c in ran.values())
        row["works"] = ("yes" if all_hold else "no") if len(ran) == len(seeds) else (
            "not judged (no)" if not all_hold else "not judged")
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["objective", "seeds run", "works"])


def conditions_of(table: pd.DataFrame) -> list[str]:
    """The condition columns of a :func:`verdict_table`."""
    return [c for c in table.columns if c not in ("objective", "seeds run", "works")]


def rank_objectives(table: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """The objectives of a :func:`verdict_table`, closest to working first: most conditions holding in
    every seed each ran (``held``), then most seeds, then (with ``results``) the highest held-out
    :math:`\\rho` after training, mean over its seeds. Adds ``held``, ``misses`` (the conditions that
    fail in some seed) and ``rho``.

    >>> t = pd.DataFrame({"objective": ["a", "b"], "seeds run": [1, 1], "ρ rises": ["1/1", "1/1"],
    ...                   "accuracy kept": ["1/1", "0/1"], "works": ["no", "no"]})
    >>> rank_objectives(t)[["objective", "held", "misses"]].to_dict("records")
    [{'objective': 'a', 'held': 2, 'misses': []}, {'objective': 'b', 'held': 1, 'misses': ['accuracy kept']}]
    """
    conditions = conditions_of(table)

    def misses(row: pd.Series) -> list[str]:
        return [c for c in conditions if int(str(row[c]).split("/")[0]) != int(row["seeds run"])]

    def rho(objective: str) -> float:
        if results is None or results.empty:
            return math.nan
        rows = without_dose(results)
        rows = rows[(rows["dataset"] == "mean") & (rows["method"] == objective) & (rows["metric"] == "rho")]
        return float(rows["value"].mean()) if not rows.empty else math.nan

    ranked = table.assign(misses=[misses(r) for _, r in table.iterrows()])
    ranked = ranked.assign(held=[len(conditions) - len(m) for m in ranked["misses"]],
                           rho=[rho(o) for o in ranked["objective"]])
    return ranked.sort_values(["held", "seeds run", "rho"], ascending=False, kind="stable",
                              na_position="last").reset_index(drop=True)


def closest_objective(table: pd.DataFrame, results: pd.DataFrame | None = None) -> tuple[str, int, int]:
    """The first objective of :func:`rank_objectives`: its name, how many conditions it meets in every
    seed it ran, and how many there are."""
    first = rank_objectives(table, results).iloc[0]
    return str(first["objective"]), int(first["held"]), len(conditions_of(table))


def below_baselines(results: pd.DataFrame, seed: int = 0) -> list[str]:
    """The objectives whose mean abs eps after training fell below both no-training baselines on
    ``seed`` (the condition of :func:`criteria` that separates the objectives of the screen)."""
    return [o for o in objectives_of(results) if criteria(results, o, seed).get("mean abs ε below both baselines")]
