"""The objectives study's second models: does their internal confidence carry information?

Before a model is given the whole protocol (DCA and the best method on three seeds, with transfer),
its stage 1 is probed (:data:`dca.reference.study.SECOND_MODELS`): the answers' accuracy, how many
replies keep the two-line format, and the AUROC of ``C_i`` — how well the probability of the answer
letter separates right answers from wrong ones (0.5 is chance). A model whose ``C_i`` carries no
information gives DCA nothing to align the stated number with; one that loses the format gives it no
number. Computed from the committed ``book/data/study_results.csv``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dca.reference.study import JOBS

#: A second model qualifies for the whole protocol when C_i separates right from wrong answers at least
#: this well (AUROC, the mean over the held-out datasets) ...
MIN_PROBE_AUROC = 0.6
#: ... and at least this share (%) of its held-out replies parse.
MIN_PROBE_PARSE = 95.0

#: The study's stage-1 jobs, one per model: the study's own model first (``seed0``), then the probes.
MODEL_JOBS = ("seed0", *(j.name for j in JOBS if not j.objective and "model" in j.params))


def _mean_row(results: pd.DataFrame, job: str, metric: str, column: str = "value") -> float:
    rows = results[(results["job"] == job) & (results["dataset"] == "mean") & (results["method"] == "vanilla")
                   & (results["metric"] == metric)]
    return float(rows[column].iloc[0]) if not rows.empty else math.nan


def probe_rows(results: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per model whose stage-1 job has rows: the mean over the held-out datasets of
    accuracy (unparsed replies count as wrong), parse rate, AUROC of C_i and of the stated number,
    and Spearman's rho between them, with whether it qualifies (:data:`MIN_PROBE_AUROC`,
    :data:`MIN_PROBE_PARSE`).

    >>> rows = pd.DataFrame({"job": ["seed0"] * 3, "dataset": ["mean"] * 3, "method": ["vanilla"] * 3,
    ...                      "metric": ["auroc_internal", "parse_rate", "accuracy_all"], "value": [0.7, 100, 52.0],
    ...                      "model": ["m"] * 3, "n": [float("nan")] * 3})
    >>> probe_rows(rows)[0]["qualifies"]
    True
    """
    out = []
    if results.empty:
        return out
    for job in MODEL_JOBS:
        mine = results[(results["job"] == job) & (results["method"] == "vanilla")]
        if "split" in mine.columns:
            mine = mine[mine["split"] == "heldout"]
        if mine.empty:
            continue
        held = mine[(mine["dataset"] != "mean") & (mine["metric"] == "parse_rate")]
        record = {"job": job, "model": str(mine["model"].iloc[0]),
                  "held-out questions": int(held["n"].sum()) if not held.empty else math.nan}
        for metric in ("accuracy_all", "parse_rate", "auroc_internal", "auroc_verbal", "rho"):
            record[metric] = _mean_row(results, job, metric)
        record["qualifies"] = bool(record["auroc_internal"] >= MIN_PROBE_AUROC
                                   and record["parse_rate"] >= MIN_PROBE_PARSE)
        out.append(record)
    return out


def probe_table(results: pd.DataFrame) -> pd.DataFrame:
    """:func:`probe_rows` as a narrow table (it must fit the page): model, held-out questions, accuracy,
    parse rate, AUROC of C_i (two decimals) and whether the model qualifies."""
    headers = {"model": "model", "held-out questions": "held out", "accuracy_all": "accuracy (%)",
               "parse_rate": "parsed (%)", "auroc_internal": "AUROC of C_i", "qualifies": "qualifies"}
    frame = pd.DataFrame(probe_rows(results), columns=["job", *headers])
    if frame.empty:
        return frame.drop(columns="job").rename(columns=headers)
    for col, digits in (("accuracy_all", 1), ("parse_rate", 1), ("auroc_internal", 2)):
        frame[col] = frame[col].round(digits)
    frame["qualifies"] = frame["qualifies"].map({True: "yes", False: "no"})
    return frame.drop(columns="job").rename(columns=headers)


def probe_summary(results: pd.DataFrame) -> str:
    """One short sentence: which second models qualify, of how many probed.

    >>> probe_summary(pd.DataFrame())
    'No second model has been probed yet.'
    """
    rows = [r for r in probe_rows(results) if r["job"] != "seed0"]
    if not rows:
        return "No second model has been probed yet."
    good = [r["model"] for r in rows if r["qualifies"]]
    return (f"{', '.join(good) if good else 'No second model'} qualif{'ies' if len(good) < 2 else 'y'} "
            f"({len(rows)} probed).")


def probe_sentence(results: pd.DataFrame) -> str:
    """What the probes found, in one or two sentences (which models qualify, and why the others do not).

    >>> probe_sentence(pd.DataFrame())
    'No second model has been probed yet (`python -m dca.reference.study run --only qwen05-seed0 gemma270-seed0`).'
    """
    rows = [r for r in probe_rows(results) if r["job"] != "seed0"]
    if not rows:
        names = " ".join(MODEL_JOBS[1:])
        return f"No second model has been probed yet (`python -m dca.reference.study run --only {names}`)."
    parts = []
    for r in rows:
        misses = []
        if math.isnan(r["auroc_internal"]):
            misses.append("no reply states both a letter and a number, so its C_i cannot be scored")
        elif r["auroc_internal"] < MIN_PROBE_AUROC:
            misses.append(f"the AUROC of its C_i is {r['auroc_internal']:.2f} (needs {MIN_PROBE_AUROC:.2f}; "
                          "0.5 is chance)")
        if not r["parse_rate"] >= MIN_PROBE_PARSE:
            misses.append(f"{r['parse_rate']:.1f} % of its replies parse (needs {MIN_PROBE_PARSE:.0f} %)")
        verdict = "qualifies for the whole protocol" if not misses else "does not qualify: " + " and ".join(misses)
        auroc = "" if math.isnan(r["auroc_internal"]) else f", AUROC of C_i {r['auroc_internal']:.2f}"
        parts.append(f"{r['model']} (accuracy {r['accuracy_all']:.1f} %{auroc}, {r['parse_rate']:.1f} % of "
                     f"replies parsed) {verdict}")
    return "; ".join(parts) + "."


__all__ = ["MIN_PROBE_AUROC", "MIN_PROBE_PARSE", "MODEL_JOBS", "probe_rows", "probe_sentence", "probe_summary",
           "probe_table"]
