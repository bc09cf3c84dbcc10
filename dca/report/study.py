"""What chapter 07 (*Why DCA fails here, and what works*) and the landing page show of the objectives
study: the pre-stated rule for an objective that *works*, the verdict table and sentence, the objective
x metric summary, the displacement sentence, the number-token table, and the landing page's note.
Computed from the committed ``book/data/study_*.csv`` (:mod:`dca.reference.study_results` writes them).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, ClassVar

import pandas as pd

from dca.config import StageConfig
from dca.reference.study import DOSE_OBJECTIVES, JOBS, OBJECTIVES, TRANSFER
from dca.reference.study_results import read  # noqa: F401 (the chapter reads the files with it)


@dataclasses.dataclass(frozen=True)
class StudyChapterConfig(StageConfig):
    """Parameters of the chapter on the objectives study (``07_why_and_what_works``): the files it reads."""

    stage: ClassVar[str] = "study"

    results: str = dataclasses.field(default="book/data/study_results.csv", metadata={
        "help": "the committed study results (python -m dca.reference.study collect writes it)"})
    questions: str = dataclasses.field(default="book/data/study_questions.csv", metadata={
        "help": "per-question replies before and after of the study's jobs"})
    training: str = dataclasses.field(default="book/data/study_training.csv", metadata={
        "help": "training logs of the study's jobs (log-probabilities of chosen and rejected per step)"})
    number_tokens: str = dataclasses.field(default="book/data/study_number_tokens.csv", metadata={
        "help": "next-token tables at the number's positions (python -m dca.reference.diagnosis writes it)"})
    paper_results: str = dataclasses.field(default="book/data/paper_results.csv", metadata={
        "help": "the paper's reported numbers (typed from its tables, not measured here)"})



#: What an objective must do, in every seed and as the mean over the three held-out datasets, to be
#: said to work (the study's pre-stated rule; the book glues these numbers).
MAX_ACCURACY_DROP = 2.0  # points of accuracy below vanilla
MIN_WHOLE_PERCENT = 95.0  # % of replies that parse as a whole-number percentage
RHO_GOAL = 0.5  # the goal to aim for (the paper's best model reaches 0.42)
#: mean abs eps is measured on the replies that state a number; on fewer than this % of them it is not
#: a measurement of the model (a run that stopped writing numbers would pass on a handful of replies).
MIN_PARSED_FOR_EPS = 50.0


#: The dose-response jobs (seed 0, an objective trained on part of the training questions): job -> fraction.
DOSE: dict[str, float] = {j.name: float(j.params["train.pair_fraction"]) for j in JOBS
                          if "train.pair_fraction" in j.params}


def without_dose(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows of the dose-response jobs: they train an objective on part of the
    pairs, so they are not that objective's run of the seed and stay out of its means and verdict.

    >>> without_dose(pd.DataFrame({"job": ["seed0-dca", "seed0-dca-q25"]}))["job"].tolist()
    ['seed0-dca']
    """
    return frame[~frame["job"].isin(DOSE)] if "job" in frame.columns else frame


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
    return float(rows[column].iloc[0]) if not rows.empty else math.nan


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
        all_hold = all(all(bool(v) for v in c.values()) for c in ran.values())
        row["works"] = ("yes" if all_hold else "no") if len(ran) == len(seeds) else (
            "not judged (no)" if not all_hold else "not judged")
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["objective", "seeds run", "works"])


#: What the chapter's tables call the metrics (words and symbols that wrap, so that tables fit the page).
LABELS = {"rho": "ρ", "mean_abs_eps": "mean abs ε", "sigma_eps": "σ ε", "accuracy_all": "accuracy, all replies (%)",
          "whole_percent": "whole-% replies (%)", "distinct_cv": "distinct numbers",
          "exact_round_ci": "states round(C_i) (%)", "top_cv_share": "most common number (%)"}


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the metric columns renamed to :data:`LABELS` (other columns kept).

    >>> list(labelled(pd.DataFrame(columns=["job", "rho", "sigma_eps"])).columns)
    ['job', 'ρ', 'σ ε']
    """
    return frame.rename(columns=LABELS)


def objective_summary(results: pd.DataFrame, metrics: tuple[str, ...] = ("rho", "mean_abs_eps", "sigma_eps",
                                                                           "accuracy_all", "whole_percent")
                      ) -> pd.DataFrame:
    """Objective x metric, mean +- sd over the seeds that ran, on the held-out mean and the transfer
    questions; vanilla and the baselines from the seed jobs. Values are ``after`` values. Rows: the
    held-out questions first, then the transfer questions; in each, the model before training and
    the baselines, then the objectives in the study's order."""
    results = without_dose(results)
    if results.empty:
        return pd.DataFrame()
    order = {m: k for k, m in enumerate(["vanilla", "constant", "isotonic", "say_ci", *OBJECTIVES])}
    shown = results[results["dataset"].isin(["mean", TRANSFER])]
    keys = sorted(shown.groupby(["dataset", "method"]).groups,
                  key=lambda k: (k[0] != "mean", order.get(k[1], len(order)), k[1]))
    rows = []
    for split, method in keys:
        group = shown[(shown["dataset"] == split) & (shown["method"] == method)]
        row = {"questions": "held out" if split == "mean" else "transfer", "method": method}
        for metric in metrics:
            values = group[group["metric"] == metric]["value"].dropna()
            row[metric] = (f"{values.mean():.3g} ± {values.std(ddof=1):.2g}" if len(values) > 1
                           else f"{values.mean():.3g}" if len(values) else "—")
        row["seeds"] = group["seed"].nunique()
        rows.append(row)
    return pd.DataFrame(rows)


def per_seed(results: pd.DataFrame, metrics: tuple[str, ...] = ("rho", "mean_abs_eps", "sigma_eps",
                                                                 "accuracy_all", "whole_percent")) -> pd.DataFrame:
    """Seed by seed, for every objective that ran on more than one seed: the held-out values after
    training (mean of the three datasets), the same seed's vanilla values, and the transfer
    questions' :math:`\\rho` -- whether a result replicates, which a mean +- sd hides.

    >>> r = pd.DataFrame({"job": ["seed0", "seed0-rpo", "seed1", "seed1-rpo"], "seed": [0, 0, 1, 1],
    ...                   "objective": ["none", "rpo", "none", "rpo"], "method": ["vanilla", "rpo", "vanilla", "rpo"],
    ...                   "dataset": "mean", "metric": "rho", "value": [0.2, 0.6, 0.3, 0.1]})
    >>> per_seed(r, metrics=("rho",)).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'vanilla', 'seed': 0, 'rho': 0.2, 'transfer ρ': nan},
     {'objective': 'rpo', 'seed': 0, 'rho': 0.6, 'transfer ρ': nan},
     {'objective': 'vanilla', 'seed': 1, 'rho': 0.3, 'transfer ρ': nan},
     {'objective': 'rpo', 'seed': 1, 'rho': 0.1, 'transfer ρ': nan}]
    """
    results = without_dose(results)
    if results.empty:
        return pd.DataFrame()
    jobs = results[results["objective"].isin(objectives_of(results))].drop_duplicates("job")
    repeated = [o for o, n in jobs.groupby("objective", sort=False)["seed"].nunique().items() if n > 1]
    rows = []
    for seed in sorted(set(jobs[jobs["objective"].isin(repeated)]["seed"])):
        for objective in ["vanilla", *repeated]:
            job = f"seed{seed}" if objective == "vanilla" else f"seed{seed}-{objective}"
            if job not in set(results["job"]):
                continue
            row: dict[str, Any] = {"objective": objective, "seed": int(seed)}
            for metric in metrics:
                row[metric] = round(_cell(results, job, "mean", objective, metric), 3)
            row["transfer ρ"] = round(_cell(results, job, TRANSFER, objective, "rho"), 3)
            rows.append(row)
    return pd.DataFrame(rows)


def dose_response(results: pd.DataFrame, metrics: tuple[str, ...] = ("rho", "mean_abs_eps", "sigma_eps",
                                                                      "accuracy_all")) -> pd.DataFrame:
    """The dose-response (seed 0): per objective that has a dose-response job, one row per share of the
    training questions it trained on (the quarter and half of :data:`DOSE`, and the objective's full
    job), with the held-out values after training (mean of the three datasets) and the transfer
    questions' :math:`\\rho` with its 95 % interval. Objectives none of whose dose jobs ran are left out.

    >>> r = pd.DataFrame({"job": ["seed0-dca", "seed0-dca-q25"], "method": "dca", "dataset": "mean",
    ...                   "metric": "rho", "value": [0.2, 0.1], "low": math.nan, "high": math.nan})
    >>> dose_response(r, metrics=("rho",)).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'dca', 'training questions (%)': 25, 'rho': 0.1, 'transfer ρ [95 % interval]': '—'},
     {'objective': 'dca', 'training questions (%)': 100, 'rho': 0.2, 'transfer ρ [95 % interval]': '—'}]
    """
    if results.empty:
        return pd.DataFrame()
    ran = set(results["job"])
    rows = []
    for objective in DOSE_OBJECTIVES:
        points = sorted([(f, j) for j, f in DOSE.items() if j.startswith(f"seed0-{objective}-q") and j in ran]
                        + [(1.0, f"seed0-{objective}")])
        if len(points) == 1 or points[-1][1] not in ran:
            continue
        for fraction, job in points:
            row: dict[str, Any] = {"objective": objective, "training questions (%)": round(100 * fraction)}
            for metric in metrics:
                row[metric] = round(_cell(results, job, "mean", objective, metric), 3 if metric == "rho" else 1)
            t = [_cell(results, job, TRANSFER, objective, "rho", c) for c in ("value", "low", "high")]
            row["transfer ρ [95 % interval]"] = "—" if math.isnan(t[0]) else f"{t[0]:.2f} [{t[1]:.2f}, {t[2]:.2f}]"
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# What the chapter says (sentences and tables built from the committed files)


def verdict_sentence(results: pd.DataFrame) -> str:
    """The study's verdict in one or two sentences, from :func:`verdict_table` (never more than it says):
    which objectives work, or else the closest ones and the conditions each of them misses.

    >>> verdict_sentence(pd.DataFrame())
    'The objectives study has not produced results yet (`make study`); nothing is claimed.'
    """
    table = verdict_table(results)
    if table.empty:
        return "The objectives study has not produced results yet (`make study`); nothing is claimed."
    works = table[table["works"] == "yes"]["objective"].tolist()
    seeds_run = sorted(set(results["seed"]))
    scope = (f"on seed{'s' if len(seeds_run) > 1 else ''} {', '.join(str(s) for s in seeds_run)} "
             f"({len(table)} objective{'s' if len(table) > 1 else ''} trained so far)")
    if works:
        return (f"By the study's rule, {', '.join(works)} works {scope}: every condition holds in every seed. "
                f"DCA as published does {'' if 'dca' in works else 'not '}meet it.")
    ranked = rank_objectives(table, results)
    top = ranked[ranked["held"] == ranked["held"].iloc[0]]
    named = "; ".join(f"{r['objective']} ({int(r['seeds run'])} seed{'s' if r['seeds run'] > 1 else ''}; misses: "
                      f"{', '.join(r['misses'])})" for _, r in top.iterrows())
    judged = ranked[ranked["works"] == "no"]
    full = "; ".join(f"{r['objective']} (" + ", ".join(f"{c} {r[c]}" for c in conditions_of(table)) + ")"
                     for _, r in judged.iterrows())
    return (f"No objective works by the study's rule yet {scope}. Closest, with {int(top['held'].iloc[0])} of the "
            f"{len(conditions_of(table))} conditions holding in every seed it ran, highest ρ first: {named}."
            + (f" Judged on all three seeds, in how many each condition holds: {full}." if full else ""))


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


def displacement_sentence(training: pd.DataFrame, job: str) -> str:
    """How the policy's log-probabilities of the chosen and rejected replies moved over a job's
    training, on the held-out pairs (first and last measurement), and what that shows.

    >>> t = pd.DataFrame({"job": ["j", "j"], "step": [0, 8], "heldout_logp_chosen": [-9.5, -12.0],
    ...                   "heldout_logp_rejected": [-2.2, -20.0]})
    >>> displacement_sentence(t, "j")
    'On the held-out pairs, log p(chosen) went from -9.50 to -12.00 and log p(rejected) from -2.20 to -20.00 over 8 steps: the preference was won by pushing both down, the chosen reply became less likely (likelihood displacement).'
    """
    rows = training[(training["job"] == job)].dropna(subset=["heldout_logp_chosen", "heldout_logp_rejected"]) \
        if not training.empty else training
    if rows.empty or len(rows) < 2:
        return f"No held-out log-probabilities were measured for {job}."
    first, last = rows.sort_values("step").iloc[[0, -1]].itertuples(index=False)
    moved = (f"On the held-out pairs, log p(chosen) went from {first.heldout_logp_chosen:.2f} to "
             f"{last.heldout_logp_chosen:.2f} and log p(rejected) from {first.heldout_logp_rejected:.2f} to "
             f"{last.heldout_logp_rejected:.2f} over {int(last.step - first.step)} steps: ")
    if last.heldout_logp_chosen < first.heldout_logp_chosen:
        return moved + ("the preference was won by pushing both down, the chosen reply became less likely "
                        "(likelihood displacement).")
    return moved + "the chosen reply became more likely (no displacement of the chosen reply)."


def number_token_table(tokens: pd.DataFrame, position: int, top: int = 3) -> pd.DataFrame:
    """Per question, the ``top`` next tokens (with probabilities) at ``position`` of the number, for
    the base model (on its own reply) and the trained model (on its reply), side by side.

    >>> t = pd.DataFrame({"run": "r", "id": "q", "model": ["before", "after"], "position": 0, "rank": 1,
    ...                   "token": ["8", "5"], "prob": [0.9, 0.6], "context": "Probability:", "round_c_i": 41,
    ...                   "written": ["8", "5"]})
    >>> number_token_table(t, 0).to_dict("records")
    [{'question': 'q', 'round(C_i)': 41, 'before: wrote': '8', 'before: most probable next tokens': "'8' 0.90", 'after: wrote': '5', 'after: most probable next tokens': "'5' 0.60"}]
    """
    if tokens.empty:
        return pd.DataFrame()
    at = tokens[(tokens["position"] == position) & (tokens["rank"] <= top)]
    rows = []
    for (run, qid), group in at.groupby(["run", "id"], sort=False):
        row: dict[str, Any] = {"question": qid, "round(C_i)": int(group["round_c_i"].iloc[0])}
        for model in ("before", "after"):
            g = group[group["model"] == model].sort_values("rank")
            row[f"{model}: wrote"] = str(g["written"].iloc[0]) if not g.empty else ""
            row[f"{model}: most probable next tokens"] = " · ".join(
                f"{t!r} {p:.2f}" for t, p in zip(g["token"], g["prob"]))
        rows.append(row)
    return pd.DataFrame(rows)


def _objective(run: str) -> str:
    """The objective of a study job's name (``seed0-rpo`` -> ``rpo``; a seed's stage 1 -> ``vanilla``)."""
    return run.split("-", 1)[1] if "-" in run else "vanilla"


def first_digit_summary(tokens: pd.DataFrame) -> pd.DataFrame:
    """Per model (the base model, then each diagnosed objective): on its diagnosed held-out questions,
    how often each first digit is the most probable one where the number starts, the mean probability
    of that most probable digit, and the numbers the model wrote.

    >>> t = pd.DataFrame({"run": "seed0-rpo", "id": ["a", "a", "b", "b"] * 2,
    ...                   "model": ["before"] * 4 + ["after"] * 4, "position": [0, 1] * 4, "rank": 1,
    ...                   "token": ["1", "0", "8", "0", "3", "7", "4", "2"], "prob": [.3, .9, .2, .9, .3, .2, .25, .2],
    ...                   "written": ["1", "0", "8", "0", "3", "7", "4", "2"]})
    >>> first_digit_summary(t).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'model': 'base', 'most probable first digit': "'1' ×1, '8' ×1", 'its mean probability': 0.25,
      'numbers written': '10, 80'},
     {'model': 'rpo', 'most probable first digit': "'3' ×1, '4' ×1", 'its mean probability': 0.275,
      'numbers written': '37, 42'}]
    """
    if tokens.empty:
        return pd.DataFrame()
    top = tokens[tokens["rank"] == 1].sort_values("position", kind="stable")
    rows = []
    for (run, model), group in top.groupby(["run", "model"], sort=False):
        name = "base" if model == "before" else _objective(run)
        if name == "base" and any(r["model"] == "base" for r in rows):
            continue  # the base model is the same in every run: shown once
        first = group[group["position"] == 0]
        counts = first["token"].astype(str).value_counts()
        written = []
        for _, q in group.groupby("id", sort=False):
            text = ""
            for token in q["written"].astype(str):
                if not (token.isdigit() or token == "."):
                    break
                text += token
            written.append(text or "—")
        rows.append({"model": name,
                     "most probable first digit": ", ".join(f"{t!r} ×{n}" for t, n in counts.items()),
                     "its mean probability": round(float(first["prob"].mean()), 3),
                     "numbers written": ", ".join(written)})
    return pd.DataFrame(rows)


def target_shift(questions: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """What training did to the number it was asked to state, per objective job.

    Pairs are built from the *base* model's internal confidence: the chosen reply states
    round(:math:`C_i^\\mathrm{before}`). Training changes the model, and with it :math:`C_i`. Per job,
    on the questions whose replies parsed before and after: the mean stated number :math:`C_v` and
    the mean :math:`C_i` before and after, and the stated number after training measured against both
    -- the target it was trained toward (:math:`C_i^\\mathrm{before}`) and the model's own confidence
    after training (:math:`C_i^\\mathrm{after}`, what the book's metrics use): mean
    :math:`|C_v^\\mathrm{after} - C_i|` (the *gap*) and Spearman's :math:`\\rho`.

    >>> q = pd.DataFrame({"job": "seed0-rpo", "split": "heldout", "c_v_before": [90., 80., 100.],
    ...                   "c_i_before": [40., 60., 50.], "c_v_after": [40., 45., 42.], "c_i_after": [80., 95., 90.]})
    >>> target_shift(q).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'objective': 'rpo', 'n': 3, 'C_v before': 90.0, 'C_v after': 42.3, 'C_i before': 50.0, 'C_i after': 88.3,
     'mean abs gap to C_i before': 7.7, 'mean abs gap to C_i after': 46.0,
     'ρ(C_v after, C_i before)': 1.0, 'ρ(C_v after, C_i after)': 1.0}
    """
    from dca.evaluate.metrics import spearman_rho

    if questions.empty:
        return pd.DataFrame()
    cols = ["c_v_before", "c_i_before", "c_v_after", "c_i_after"]
    rows = []
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        g = g.dropna(subset=cols)
        if g.empty:
            continue
        cv = g["c_v_after"].to_numpy(float)
        rows.append({"objective": _objective(job), "n": len(g),
                     "C_v before": round(g["c_v_before"].mean(), 1), "C_v after": round(cv.mean(), 1),
                     "C_i before": round(g["c_i_before"].mean(), 1), "C_i after": round(g["c_i_after"].mean(), 1),
                     "mean abs gap to C_i before": round(float(abs(cv - g["c_i_before"]).mean()), 1),
                     "mean abs gap to C_i after": round(float(abs(cv - g["c_i_after"]).mean()), 1),
                     "ρ(C_v after, C_i before)": round(float(spearman_rho(cv, g["c_i_before"])), 3),
                     "ρ(C_v after, C_i after)": round(float(spearman_rho(cv, g["c_i_after"])), 3)})
    return pd.DataFrame(rows)


#: Objectives whose loss sees the stated number only, each with its twin whose loss sees the whole reply.
NUMBER_ONLY_TWINS = {"rpo-num": "rpo", "sft-num": "sft"}


def loss_tokens_sentence(shift: pd.DataFrame) -> str:
    """What leaving the answer letter out of the loss did to the target, from :func:`target_shift`:
    per number-only objective that ran beside its whole-reply twin, the mean :math:`C_i` after
    training and the stated number's gap to it, each beside the twin's.

    >>> shift = pd.DataFrame({"objective": ["rpo", "rpo-num"], "C_i before": [55.0, 55.0],
    ...                       "C_i after": [88.4, 60.1], "C_v after": [40.0, 52.0],
    ...                       "mean abs gap to C_i after": [44.4, 20.3], "ρ(C_v after, C_i after)": [0.3, 0.5]})
    >>> print(loss_tokens_sentence(shift))
    rpo-num (the loss on the number only): mean C_i 55.0 before training, 60.1 after (rpo, the whole reply: 88.4); stated numbers off by 20.3 points from the model's own C_i, ρ = 0.50 (rpo: 44.4, ρ = 0.30).
    >>> loss_tokens_sentence(shift.iloc[:1])
    'No objective with the loss on the number only has run yet.'
    """
    # one row per objective (the first job of each, as the table lists them)
    by_objective = shift.drop_duplicates("objective").set_index("objective") if not shift.empty else shift
    parts = []
    for number_only, twin in NUMBER_ONLY_TWINS.items():
        if number_only not in by_objective.index or twin not in by_objective.index:
            continue
        n, t = by_objective.loc[number_only], by_objective.loc[twin]
        rho = "ρ(C_v after, C_i after)"
        parts.append(f"{number_only} (the loss on the number only): mean C_i {n['C_i before']:.1f} before training, "
                     f"{n['C_i after']:.1f} after ({twin}, the whole reply: {t['C_i after']:.1f}); stated numbers "
                     f"off by {n['mean abs gap to C_i after']:.1f} points from the model's own C_i, ρ = {n[rho]:.2f} "
                     f"({twin}: {t['mean abs gap to C_i after']:.1f}, ρ = {t[rho]:.2f}).")
    return " ".join(parts) if parts else "No objective with the loss on the number only has run yet."


def letter_changes(questions: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """What training did to the answers, per objective job: the share of questions whose greedy answer
    letter changed, accuracy before and after, among the changed ones the share correct before and
    after, and the most common letter's share before and after (a letter-position bias grows when it
    rises).

    >>> q = pd.DataFrame({"job": "seed0-x", "split": "heldout", "letter_before": list("ABCB"),
    ...                   "letter_after": list("BBCB"), "correct_before": [1, 0, 1, 1], "correct_after": [0, 0, 1, 1]})
    >>> letter_changes(q).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'objective': 'x', 'letters changed (%)': 25.0, 'accuracy before (%)': 75.0, 'accuracy after (%)': 50.0,
     'changed: correct before (%)': 100.0, 'changed: correct after (%)': 0.0, 'top letter before': 'B 50 %',
     'top letter after': 'B 75 %'}
    """
    if questions.empty:
        return pd.DataFrame()

    def top(letters: pd.Series) -> str:
        share = letters.value_counts(normalize=True)
        return f"{share.index[0]} {100 * share.iloc[0]:.0f} %" if not share.empty else "—"

    def pct(values: pd.Series) -> float:
        return round(100.0 * float(values.mean()), 1) if len(values) else math.nan

    rows = []
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        changed = g[g["letter_before"] != g["letter_after"]]
        rows.append({"objective": _objective(job), "letters changed (%)": pct(g["letter_before"] != g["letter_after"]),
                     "accuracy before (%)": pct(g["correct_before"]), "accuracy after (%)": pct(g["correct_after"]),
                     "changed: correct before (%)": pct(changed["correct_before"]),
                     "changed: correct after (%)": pct(changed["correct_after"]),
                     "top letter before": top(g["letter_before"]), "top letter after": top(g["letter_after"])})
    return pd.DataFrame(rows)


#: Objectives whose loss includes the likelihood of the whole chosen reply, answer letter included.
WHOLE_REPLY_LIKELIHOOD = ("rpo", "sft", "apo", "dpop")


def seeds_sentence(results: pd.DataFrame) -> str:
    """Which objectives ran on more than the screening seed, and on which seeds (from the committed
    rows, dose-response jobs left out).

    >>> r = pd.DataFrame({"job": ["seed0-dca", "seed0-sft-num", "seed1-sft-num", "seed0-dca-q25"],
    ...                   "objective": ["dca", "sft-num", "sft-num", "dca"], "seed": [0, 0, 1, 0]})
    >>> seeds_sentence(r)  # doctest: +ELLIPSIS
    'Seed 0 screens the objectives; beyond it so far: sft-num (seeds 0, 1). Not run yet: rpo, ...'
    """
    rows = without_dose(results)
    rows = rows[rows["objective"].isin(OBJECTIVES)] if not rows.empty else rows
    if rows.empty:
        return "No objective has run yet."
    seeds = rows.groupby("objective", sort=False)["seed"].agg(lambda s: sorted(set(int(x) for x in s)))
    more = [f"{o} (seeds {', '.join(str(x) for x in v)})" for o, v in seeds.items() if len(v) > 1]
    missing = [o for o in OBJECTIVES if o not in seeds.index]
    return (("Seed 0 screens the objectives; beyond it so far: " + "; ".join(more) + "." if more
             else "Only seed 0 has run: a screen.")
            + (f" Not run yet: {', '.join(missing)}." if missing else ""))


def below_baselines(results: pd.DataFrame, seed: int = 0) -> list[str]:
    """The objectives whose mean abs eps after training fell below both no-training baselines on
    ``seed`` (the condition of :func:`criteria` that separates the objectives of the screen)."""
    return [o for o in objectives_of(results) if criteria(results, o, seed).get("mean abs ε below both baselines")]


def _and(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def further_seeds_sentence(results: pd.DataFrame, seeds: tuple[int, ...] = (0, 1, 2)) -> str:
    """Why the further seeds went where they went, and why an objective stopped before all of
    ``seeds``: the objectives whose mean abs eps fell below both baselines on seed 0
    (:func:`below_baselines`), those that ran beyond seed 0, and for each of those that has not run on
    every seed, the conditions of :func:`criteria` it already missed on a later seed (then by the
    rule it cannot work, whatever its remaining seeds show).

    >>> r = pd.DataFrame({"job": ["seed0-x"], "objective": ["x"], "seed": [0], "dataset": "mean", "method": "x",
    ...                   "metric": "mean_abs_eps", "value": 40.0})
    >>> further_seeds_sentence(r)
    "On seed 0, no objective's mean |ε| fell below both no-training baselines."
    """
    rows = without_dose(results)
    below = below_baselines(rows, seeds[0])
    if not below:
        return "On seed 0, no objective's mean |ε| fell below both no-training baselines."
    judged = {o: {s: c for s in seeds if (c := criteria(rows, o, s))} for o in objectives_of(rows)}  # seed -> conditions
    further = [o for o in judged if len(judged[o]) > 1]
    text = f"On seed 0, mean |ε| fell below both no-training baselines for {_and(below)} only"
    if further == below:
        text += f", so the further seeds went to {'it' if len(below) == 1 else 'them'}."
    elif further:
        text += f"; further seeds ran for {_and(further)}."
    else:
        text += "; no further seed has run yet."
    for o in further:
        missing = [s for s in seeds if s not in judged[o]]
        if not missing:
            continue
        later = list(judged[o].items())[1:]  # the seeds after the first that ran
        missed = {s: m for s, c in later if (m := [k for k, v in c.items() if not v])}
        left = f"seed{'s' if len(missing) > 1 else ''} {_and([str(s) for s in missing])}"
        if missed:
            s, m = next(iter(missed.items()))
            text += (f" {o} missed {_and(['“' + k + '”' for k in m])} on seed {s}, so by the rule it cannot work; "
                     f"its {left} has not run.")
        else:
            text += f" {o} has not run on {left} yet."
    return text


def letter_sentence(changes: pd.DataFrame) -> str:
    """DCA's share of changed answer letters beside the objectives that train the whole reply's
    likelihood, from :func:`letter_changes`.

    >>> c = pd.DataFrame({"objective": ["dca", "rpo", "sft"], "letters changed (%)": [48.3, 10.3, 11.5]})
    >>> print(letter_sentence(c))
    DCA as published changed 48.3 % of the answer letters, more than any objective that trains the whole reply's likelihood (at most 11.5 %).
    """
    if changes.empty or "dca" not in set(changes["objective"]):
        return ""
    dca = float(changes.loc[changes["objective"] == "dca", "letters changed (%)"].iloc[0])
    others = changes[changes["objective"].isin(WHOLE_REPLY_LIKELIHOOD)]["letters changed (%)"]
    if others.empty:
        return f"DCA as published changed {dca:.1f} % of the answer letters."
    most = float(others.max())
    if dca > most:
        return (f"DCA as published changed {dca:.1f} % of the answer letters, more than any objective that trains "
                f"the whole reply's likelihood (at most {most:.1f} %).")
    return (f"DCA as published changed {dca:.1f} % of the answer letters; the objectives that train the whole "
            f"reply's likelihood changed up to {most:.1f} %.")


def top_replies(questions: pd.DataFrame, split: str = "heldout", width: int = 60) -> pd.DataFrame:
    """Per objective job: the most common reply after training (its first ``width`` characters, line
    breaks shown as ``·``) and its share, and the share of replies that still state a number.

    >>> q = pd.DataFrame({"job": "seed0-x", "split": "heldout", "c_v_after": [34., None, None],
    ...                   "reply_after": ["Answer: B\\nProbability: 34%", "Answer: BQ34", "Answer: BQ34"]})
    >>> top_replies(q).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'x', 'most common reply after training': 'Answer: BQ34', 'its share (%)': 66.7,
      'replies stating a number (%)': 33.3}]
    """
    if questions.empty:
        return pd.DataFrame()
    rows = []
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        replies = g["reply_after"].fillna("").astype(str).str.replace(r"\s*\n\s*", " · ", regex=True).str[:width]
        counts = replies.value_counts()
        rows.append({"objective": _objective(job), "most common reply after training": counts.index[0],
                     "its share (%)": round(100.0 * counts.iloc[0] / len(g), 1),
                     "replies stating a number (%)": round(100.0 * float(g["c_v_after"].notna().mean()), 1)})
    return pd.DataFrame(rows)


def card_note(results: pd.DataFrame, training: pd.DataFrame | None = None) -> str:
    """The landing page's note on the objectives study, under the results card: the answer that opens
    chapter 07 (:func:`dca.report.study_answer.answer_sentences`, the same sentences), then DCA as
    published beside the closest objective and every objective judged on all three seeds (mean over
    the seeds that ran, held-out mean, names for a reader), labelled as beyond the paper.

    >>> print(card_note(pd.DataFrame()))  # doctest: +NORMALIZE_WHITESPACE
    ```{admonition} Beyond the paper: other training objectives
    :class: note
    The objectives study has not produced results yet (`make study`); nothing is claimed. Details:
    {ref}`chapter-why-and-what-works`.
    ```
    """
    from dca.report.study_answer import answer_sentences, objective_name

    results = without_dose(results)
    lines = answer_sentences(results, training)
    table = verdict_table(results)
    if not table.empty:
        lines.insert(0, "**Did DCA work in the objectives study, and does another objective?** The study runs a "
                        "larger protocol than the card above and judges every objective by six conditions fixed "
                        "before it ran, on the Spearman ρ between stated and internal confidence, mean |ε|, σ_ε, "
                        "accuracy, the reply format and questions of an unseen dataset ({ref}`chapter 07 "
                        "<chapter-why-and-what-works>` defines them).")
    if not table.empty:
        def mean_of(method: str, metric: str) -> str:
            rows = results[(results["dataset"] == "mean") & (results["method"] == method) & (results["metric"] == metric)]
            return f"{rows['value'].mean():.3g}" if not rows.empty else "—"

        best = closest_objective(table, results)[0]
        # DCA, the closest objective by the rule, and every objective judged on all three seeds
        shown = list(dict.fromkeys(["dca", best, *table[table["works"].isin(["yes", "no"])]["objective"]]))
        lines.append("After training, mean over the seeds that ran (held-out questions): " + "; ".join(
            f"{objective_name(o)}{' (as published)' if o == 'dca' else ''}: ρ {mean_of(o, 'rho')}, mean |ε| "
            f"{mean_of(o, 'mean_abs_eps')}, accuracy {mean_of(o, 'accuracy_all')} %"
            for o in shown if o in set(results["method"]))
            + f" (before training: ρ {mean_of('vanilla', 'rho')}, mean |ε| {mean_of('vanilla', 'mean_abs_eps')}, "
            f"accuracy {mean_of('vanilla', 'accuracy_all')} %).")
    return ("```{admonition} Beyond the paper: other training objectives\n:class: note\n"
            + "\n\n".join(lines) + " Details: {ref}`chapter-why-and-what-works`.\n```\n")


#: A reply in exactly the format the prompt asks for: the answer line, then a whole-number percentage.
PROMPTED_FORMAT = re.compile(r"Answer: [A-Z]\nProbability: \d{1,3}%")


def format_kept(questions: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """Per objective job (every seed; dose-response jobs left out): the share of replies in exactly
    the prompted format (:data:`PROMPTED_FORMAT`, surrounding blanks ignored) before and after
    training, and the share whose answer line holds more than ``Answer: X`` after (the option's text,
    a comma, a sentence) -- the part of the reply that a number-only loss no longer trains.

    >>> q = pd.DataFrame({"job": "seed1-sft-num", "split": "heldout",
    ...                   "reply_before": ["Answer: A\\nProbability: 90%"] * 2,
    ...                   "reply_after": ["Answer: A\\nProbability: 40%", "Answer: A) a cat\\nProbability: 40%"]})
    >>> format_kept(q).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'sft-num', 'seed': 1, 'prompted format before (%)': 100.0, 'prompted format after (%)': 50.0,
      'answer line longer after (%)': 50.0}]
    """
    rows = []
    questions = without_dose(questions)
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        def share(replies: pd.Series) -> float:
            kept = replies.fillna("").str.strip().map(lambda r: bool(PROMPTED_FORMAT.fullmatch(r)))
            return round(100 * float(kept.mean()), 1)

        first_line = g["reply_after"].fillna("").str.strip().str.split("\n").str[0]
        rows.append({"objective": _objective(job), "seed": int(job.split("-")[0].removeprefix("seed")),
                     "prompted format before (%)": share(g["reply_before"]),
                     "prompted format after (%)": share(g["reply_after"]),
                     "answer line longer after (%)": round(100 * float(
                         (first_line.str.startswith("Answer:") & ~first_line.str.fullmatch(r"Answer: [A-Z]")).mean()), 1)})
    return pd.DataFrame(rows)


def format_sentence(kept: pd.DataFrame) -> str:
    """Which objective jobs kept the prompted format and which left it (from :func:`format_kept`),
    then the objectives whose loss sees the number only, seed by seed.

    >>> k = pd.DataFrame({"objective": ["sft", "dca", "sft-num", "sft-num"], "seed": [0, 0, 0, 1],
    ...                   "prompted format after (%)": [100.0, 0.0, 99.0, 20.0]})
    >>> print(format_sentence(k))
    In the prompted format after training in at least 95 % of the replies: sft (seed 0), sft-num (seed 0); in fewer than half: dca (seed 0), sft-num (seed 1). With the loss on the number only, seed by seed: sft-num 99 % (seed 0), 20 % (seed 1).
    """
    if kept.empty:
        return ""
    after = kept["prompted format after (%)"]

    def jobs(rows: pd.DataFrame) -> str:
        return ", ".join(f"{o} (seed {s})" for o, s in zip(rows["objective"], rows["seed"])) or "none"

    text = (f"In the prompted format after training in at least 95 % of the replies: {jobs(kept[after >= 95])}; "
            f"in fewer than half: {jobs(kept[after < 50])}.")
    shown = kept[kept["objective"].isin(NUMBER_ONLY_TWINS)]
    if not shown.empty:
        text += " With the loss on the number only, seed by seed: " + "; ".join(
            f"{o} " + ", ".join(f"{v:g} % (seed {s})" for s, v in zip(g["seed"], g["prompted format after (%)"]))
            for o, g in shown.groupby("objective", sort=False)) + "."
    return text
