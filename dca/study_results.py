"""The objectives study's results: from its run folders to small committed files the book reads.

:func:`collect` reads every finished job of :mod:`dca.study` and writes, under ``book/data/``:

``study_results.csv``
    Tidy rows, one per (job, dataset, method, metric), with the bootstrap 95 % interval, the paired
    difference to vanilla on the same questions with its interval, and ``mde``, the smallest change
    of that metric the comparison could detect (:func:`min_detectable`). ``dataset`` is each held-out
    source, ``mean`` (the mean over the three), and ``commonsenseqa``, the transfer questions (``split``
    says ``transfer``). ``method`` is ``vanilla``, the job's objective, or (in the seed jobs) one of
    the no-training baselines of :mod:`dca.baselines` (``constant``, ``isotonic``,
    ``say_ci``). Provenance columns: model, seed, parameters, commit, date, machine, wall time.
``study_questions.csv``
    Every held-out and transfer question of every objective job, before and after: stated number,
    ``C_i``, letter, correctness and the reply itself (what the diagnosis shows).
``study_training.csv``
    The training logs: loss, reward accuracy and margin, and the policy's log-probabilities of the
    chosen and rejected replies, on the training batch and on the held-out pairs, per step.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dca import artifacts
from dca.config import N_BOOT, SEED, StageConfig
from dca.metrics import METRICS
from dca.paths import ROOT
from dca.artifacts import machine
from dca.baselines import baseline_cv, usable as _usable
from dca.reference_results import _metric_rows, _triple, distinct_share
from dca.study import JOBS, RUNS, TRANSFER, Job, is_finished

DATA = ROOT / "book" / "data"
RESULTS = DATA / "study_results.csv"
QUESTIONS = DATA / "study_questions.csv"
TRAINING = DATA / "study_training.csv"
NUMBER_TOKENS = DATA / "study_number_tokens.csv"
COLUMNS = ("job", "objective", "seed", "dataset", "split", "method", "metric", "value", "low", "high", "diff",
           "diff_low", "diff_high", "mde", "n", "model", "params", "commit", "date", "machine", "wall_s")


@dataclasses.dataclass(frozen=True)
class StudyChapterConfig(StageConfig):
    """Parameters of the chapter on the objectives study (``07_why_and_what_works``): the files it reads."""

    stage: ClassVar[str] = "study"

    run_dir: str = dataclasses.field(default="runs/default", metadata={
        "help": "this build's run folder (its replies after training are counted beside the study's)"})
    results: str = dataclasses.field(default="book/data/study_results.csv", metadata={
        "help": "the committed study results (python -m dca.study collect writes it)"})
    questions: str = dataclasses.field(default="book/data/study_questions.csv", metadata={
        "help": "per-question replies before and after of the study's jobs"})
    training: str = dataclasses.field(default="book/data/study_training.csv", metadata={
        "help": "training logs of the study's jobs (log-probabilities of chosen and rejected per step)"})
    number_tokens: str = dataclasses.field(default="book/data/study_number_tokens.csv", metadata={
        "help": "next-token tables at the number's positions (python -m dca.diagnosis writes it)"})


def min_detectable(low: float, high: float, z_alpha: float = 1.959964, z_power: float = 0.841621) -> float:
    """The smallest true change a paired comparison detects with 80 % power at the 5 % level.

    The standard error is read from the paired 95 % interval, :math:`\\mathrm{SE} = (h - l) / (2 \\cdot
    1.96)`, and the detectable change is :math:`(z_{0.975} + z_{0.8})\\,\\mathrm{SE} \\approx 2.8\\,
    \\mathrm{SE}`.

    >>> round(min_detectable(-0.1, 0.1), 4)
    0.1429
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return math.nan
    return (z_alpha + z_power) * (high - low) / (2 * z_alpha)


def exact_share(table: pd.DataFrame) -> float:
    """The share (%) of parsed replies that state exactly ``round(C_i)`` (the chosen replies' number).

    >>> exact_share(pd.DataFrame({"c_v": [37.0, 80.0], "c_i": [36.6, 20.0], "parse_ok": [True, True]}))
    50.0
    """
    ok = table[_usable(table)]
    if ok.empty:
        return math.nan
    return float(100.0 * (ok["c_v"].to_numpy(float) == np.floor(ok["c_i"].to_numpy(float) + 0.5)).mean())


def whole_percent(table: pd.DataFrame) -> float:
    """The share (%) of all replies that parse and state a whole-number percentage ("37%", not "58.8%"
    or "0.37").

    >>> whole_percent(pd.DataFrame({"parse_ok": [True, True, False], "c_v": [37.0, 58.8, float("nan")],
    ...                             "cv_scale": [100.0, 100.0, float("nan")]}))
    33.33333333333333
    """
    if table.empty:
        return math.nan
    c_v = table["c_v"].to_numpy(float)
    whole = table["parse_ok"].to_numpy(bool) & (table["cv_scale"].to_numpy(float) == 100.0) & (np.floor(c_v) == c_v)
    return float(100.0 * whole.mean())


def stage_seconds(j: Job) -> dict[str, float]:
    """The seconds each of a job's stages took, read from the provenance of what it wrote.

    A job resumed after an interruption records in ``jobs.jsonl`` only the time of its last attempt;
    every artifact's provenance keeps the time of the run that made it, so the sum over stages is the
    job's cost whatever the interruptions. A seed's stage-1 job is its extraction; an objective job is
    its training, its evaluation and its transfer evaluation (the base model's transfer replies are
    computed once and counted in the first job that needed them).
    """
    def recorded(path: Path, key: str) -> float:
        prov = Path(f"{path}.provenance.json")
        if not prov.exists():
            return 0.0
        value = json.loads(prov.read_text()).get(key) or 0.0
        return float(sum(value.values())) if isinstance(value, dict) else float(value)

    run = j.run_dir
    if not j.objective:
        return {"extract": recorded(run / "stage1.parquet", "seconds")}
    return {"train": recorded(run / "adapter", "wall_time_s"),
            "evaluate": recorded(run / "eval.parquet", "seconds"),
            "transfer": sum(recorded(p.parent / "metrics.json", "seconds")
                            for p in sorted((run / "transfer").glob("*/metrics.json.provenance.json")))}


def _wall(j: Job) -> dict[str, Any]:
    """Provenance of a job: commit, date and machine of its last attempt (``jobs.jsonl``), or of its
    newest artifact when the runner did not record it, and its wall time summed over its stages."""
    path = RUNS / "jobs.jsonl"
    walls = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    wall = dict(next((w for w in reversed(walls) if w["job"] == j.name), {}))
    if "commit" not in wall:
        provs = [json.loads(p.read_text()) for p in j.run_dir.glob("*.provenance.json")]
        newest = max(provs, key=lambda d: d.get("created", ""), default={})
        wall.update({k: v for k, v in (("commit", newest.get("git_commit")), ("finished", newest.get("created")))
                     if v})
    wall["wall_s"] = round(sum(stage_seconds(j).values()), 1) or wall.get("wall_s", math.nan)
    return wall


def _rows_for(common: dict[str, Any], dataset: str, split: str, results: dict[str, dict[str, dict[str, float]]]
              ) -> list[dict[str, Any]]:
    rows = []
    for method, res in results.items():
        for metric, cell in res.items():
            row = {**common, "dataset": dataset, "split": split, "method": method, "metric": metric,
                   **{k: cell.get(k, math.nan) for k in ("value", "low", "high", "diff", "diff_low", "diff_high", "n")}}
            row["mde"] = min_detectable(row["diff_low"], row["diff_high"])
            rows.append(row)
    return rows


def _compare(train: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame | None, method: str,
             n_boot: int, seed: int) -> tuple[dict[str, dict[str, dict[str, float]]], pd.DataFrame, pd.DataFrame]:
    """Metrics of vanilla (every parsed reply) and, with ``after``, of the method on the questions
    parsed in both with paired differences; without it, the baselines."""
    vanilla = before[_usable(before)]
    results = {"vanilla": _metric_rows(_triple(vanilla), None, n_boot, seed)}
    frames = {"vanilla": (vanilla, before)}
    b, a = before.iloc[0:0], before.iloc[0:0]
    if after is not None:
        bi, ai = before.set_index("id"), after.set_index("id")
        ids = [i for i in bi.index if i in ai.index and _usable(bi.loc[[i]]).iloc[0] and _usable(ai.loc[[i]]).iloc[0]]
        b, a = bi.loc[ids].reset_index(), ai.loc[ids].reset_index()
        results[method] = _metric_rows(_triple(b), _triple(a), n_boot, seed)
        frames[method] = (a, after)
        results[method]["letter_changed"] = {"value": 100.0 * float((b["letter"].to_numpy() != a["letter"].to_numpy()).mean())
                                             if len(b) else math.nan, "n": len(b)}
    else:
        for name, c_v in baseline_cv(train[_usable(train)], vanilla).items():
            results[name] = _metric_rows(_triple(vanilla), (c_v, *_triple(vanilla)[1:]), n_boot, seed)
    for m, (parsed, every) in frames.items():
        k, share = distinct_share(parsed["c_v"].to_numpy(float))
        results[m]["distinct_cv"] = {"value": k, "n": len(parsed)}
        results[m]["top_cv_share"] = {"value": share, "n": len(parsed)}
        results[m]["exact_round_ci"] = {"value": exact_share(every), "n": len(parsed)}
        results[m]["parse_rate"] = {"value": 100.0 * float(every["parse_ok"].mean()) if len(every) else math.nan,
                                    "n": len(every)}
        results[m]["whole_percent"] = {"value": whole_percent(every), "n": len(every)}
        results[m]["accuracy_all"] = {"value": 100.0 * float(every["correct"].mean()) if len(every) else math.nan,
                                      "n": len(every)}
    return results, b, a


def job_rows(j: Job, n_boot: int = N_BOOT, seed: int = SEED) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The tidy rows of one finished job (a seed's stage-1 job: vanilla and the baselines), and, for an
    objective job, its per-question table."""
    from dca.transfer import transfer_files

    run = artifacts.RunFolder(j.run_dir)
    stage1 = pd.read_parquet(run.stage1)
    train, held = stage1[stage1["split"] == "train"], stage1[stage1["split"] == "eval"]
    wall = _wall(j)
    common = {"job": j.name, "objective": j.objective or "none", "seed": j.seed,
              "model": run.stage1_params().get("model", ""), "params": json.dumps(j.params, sort_keys=True),
              "commit": wall.get("commit", artifacts.git_commit()), "date": wall.get("finished", "")[:10],
              "machine": wall.get("machine", machine()), "wall_s": wall.get("wall_s", math.nan)}
    method = j.objective or "vanilla"
    after_all = pd.read_parquet(run.eval) if j.objective else None
    rows: list[dict[str, Any]] = []
    questions = []
    for source in sorted(held["source"].unique()):
        after = after_all[after_all["source"] == source] if after_all is not None else None
        results, b, a = _compare(train[train["source"] == source], held[held["source"] == source], after, method,
                                 n_boot, seed)
        if j.objective:
            results.pop("vanilla")  # reported once per seed, by the seed's stage-1 job
        rows += _rows_for(common, source, "heldout", results)
        questions.append(_question_table(j, source, "heldout", b, a))
    frame = pd.DataFrame(rows)
    if not frame.empty:  # the paper's summary: the mean over datasets of the per-dataset values
        means = frame.groupby(["method", "metric"], sort=False)[["value", "diff"]].mean().reset_index()
        rows += [{**common, "dataset": "mean", "split": "heldout", "method": r.method, "metric": r.metric,
                  "value": r.value, "low": math.nan, "high": math.nan, "diff": r.diff, "diff_low": math.nan,
                  "diff_high": math.nan, "mde": math.nan, "n": math.nan} for r in means.itertuples(index=False)]
    files = transfer_files(j.run_dir, TRANSFER)
    before_t = pd.read_parquet(files.before) if files.before.exists() else None
    if j.objective and before_t is not None and files.after.exists():
        results, b, a = _compare(train, before_t, pd.read_parquet(files.after), method, n_boot, seed)
        results.pop("vanilla")
        rows += _rows_for(common, TRANSFER, "transfer", results)
        questions.append(_question_table(j, TRANSFER, "transfer", b, a))
    elif not j.objective:  # the seed job: vanilla and the baselines on the transfer questions
        shared = transfer_files(RUNS / "transfer-before", TRANSFER).before
        if shared.exists():
            results, _, _ = _compare(train, pd.read_parquet(shared), None, method, n_boot, seed)
            rows += _rows_for(common, TRANSFER, "transfer", results)
    kept = [x for x in questions if not x.empty]
    return rows, pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()


def _question_table(j: Job, source: str, split: str, b: pd.DataFrame, a: pd.DataFrame) -> pd.DataFrame:
    if not j.objective or b.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "job": j.name, "objective": j.objective, "seed": j.seed, "split": split, "id": b["id"], "source": source,
        "gold": b["gold_letter"], "c_v_before": b["c_v"], "c_i_before": b["c_i"], "letter_before": b["letter"],
        "correct_before": b["correct"], "reply_before": b["response"], "c_v_after": a["c_v"], "c_i_after": a["c_i"],
        "letter_after": a["letter"], "correct_after": a["correct"], "reply_after": a["response"]})


#: Training-log keys -> columns of ``study_training.csv``.
TRAINING_KEYS = {
    "loss": "loss", "rewards/accuracies": "train_reward_accuracy", "rewards/margins": "train_margin",
    "logps/chosen": "train_logp_chosen", "logps/rejected": "train_logp_rejected",
    "eval_loss": "heldout_loss", "eval_rewards/accuracies": "heldout_reward_accuracy",
    "eval_rewards/margins": "heldout_margin", "eval_logps/chosen": "heldout_logp_chosen",
    "eval_logps/rejected": "heldout_logp_rejected",
}


def training_rows(j: Job) -> pd.DataFrame:
    """The job's training log, one row per step (NaN where a value was not logged)."""
    path = artifacts.RunFolder(j.run_dir).train_log
    if not j.objective or not path.exists():
        return pd.DataFrame()
    out = [{"job": j.name, "objective": j.objective, "seed": j.seed, "step": e["step"],
            **{col: e.get(key, math.nan) for key, col in TRAINING_KEYS.items()}}
           for e in artifacts.read_jsonl(path) if "step" in e and "train_runtime" not in e]
    frame = pd.DataFrame(out)
    return frame.groupby(["job", "objective", "seed", "step"], as_index=False).first() if not frame.empty else frame


def collect(n_boot: int = N_BOOT) -> Path:
    """Write the three results files from every finished job (unfinished ones are skipped)."""
    rows: list[dict[str, Any]] = []
    questions, training = [], []
    for j in JOBS:
        if not is_finished(j):
            continue
        r, q = job_rows(j, n_boot=n_boot)
        rows += r
        questions.append(q)
        training.append(training_rows(j))
    DATA.mkdir(parents=True, exist_ok=True)
    for path, frames, digits in ((RESULTS, [pd.DataFrame(rows, columns=list(COLUMNS))], "%.6g"),
                                 (QUESTIONS, questions, "%.4f"), (TRAINING, training, "%.5g")):
        kept = [f for f in frames if not f.empty]
        frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(COLUMNS) if path == RESULTS else [])
        with artifacts.atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, float_format=digits)
    return RESULTS


def read(path: str | Path = RESULTS) -> pd.DataFrame:
    """A committed study file (an empty table when the study has not produced it yet)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path)


__all__ = ["COLUMNS", "METRICS", "collect", "exact_share", "job_rows", "min_detectable", "read", "training_rows"]


# --------------------------------------------------------------------------------------------------
# The verdict

#: What an objective must do, in every seed and as the mean over the three held-out datasets, to be
#: said to work (the study's pre-stated rule; the book glues these numbers).
MAX_ACCURACY_DROP = 2.0  # points of accuracy below vanilla
MIN_WHOLE_PERCENT = 95.0  # % of replies that parse as a whole-number percentage
RHO_GOAL = 0.5  # the goal to aim for (the paper's best model reaches 0.42)


def _cell(results: pd.DataFrame, job: str, dataset: str, method: str, metric: str, column: str = "value") -> float:
    rows = results[(results["job"] == job) & (results["dataset"] == dataset) & (results["method"] == method)
                   & (results["metric"] == metric)]
    return float(rows[column].iloc[0]) if not rows.empty else math.nan


def criteria(results: pd.DataFrame, objective: str, seed: int) -> dict[str, bool | float]:
    """The rule's conditions for one objective on one seed (``nan`` where a job has not run).

    On the mean over the held-out datasets: rho rises (paired difference > 0); mean abs eps falls
    below both the constant and the isotonic baselines of the same seed; sigma_eps falls; accuracy
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
        "mean abs ε below both baselines": all(after_mae < b for b in baselines),
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
    from dca.study import OBJECTIVES

    rows = []
    for objective in OBJECTIVES:
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
    questions; vanilla and the baselines from the seed jobs. Values are ``after`` values (``diff`` is
    in :func:`objective_differences`)."""
    if results.empty:
        return pd.DataFrame()
    rows = []
    for (split, method), group in results[results["dataset"].isin(["mean", TRANSFER])].groupby(["dataset", "method"]):
        row = {"questions": "held out (mean of 3)" if split == "mean" else "transfer", "method": method}
        for metric in metrics:
            values = group[group["metric"] == metric]["value"].dropna()
            row[metric] = (f"{values.mean():.3g} ± {values.std(ddof=1):.2g}" if len(values) > 1
                           else f"{values.mean():.3g}" if len(values) else "—")
        row["seeds"] = group["seed"].nunique()
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# What the chapter says (sentences and tables built from the committed files)


def verdict_sentence(results: pd.DataFrame) -> str:
    """The study's verdict in one or two sentences, from :func:`verdict_table` (never more than it says).

    >>> verdict_sentence(pd.DataFrame())
    'The objectives study has not produced results yet (`make study`); nothing is claimed.'
    """
    table = verdict_table(results)
    if table.empty:
        return "The objectives study has not produced results yet (`make study`); nothing is claimed."
    works = table[table["works"] == "yes"]["objective"].tolist()
    best, held, conditions = closest_objective(table)
    seeds_run = sorted(set(results["seed"]))
    scope = (f"on seed{'s' if len(seeds_run) > 1 else ''} {', '.join(str(s) for s in seeds_run)} "
             f"({len(table)} objective{'s' if len(table) > 1 else ''} trained so far)")
    if works:
        return (f"By the study's rule, {', '.join(works)} works {scope}: every condition holds in every seed. "
                f"DCA as published does {'' if 'dca' in works else 'not '}meet it.")
    return (f"No objective works by the study's rule yet {scope}. The closest is {best}: "
            f"{held} of the {conditions} conditions hold in every seed it ran.")


def closest_objective(table: pd.DataFrame) -> tuple[str, int, int]:
    """The objective of a :func:`verdict_table` that meets the most conditions in every seed it ran
    (more seeds first on a tie): its name, how many conditions it meets, and how many there are."""
    conditions = [c for c in table.columns if c not in ("objective", "seeds run", "works")]

    def held(row: pd.Series) -> int:
        return sum(int(str(row[c]).split("/")[0]) == int(row["seeds run"]) for c in conditions)

    ranked = table.assign(held=[held(r) for _, r in table.iterrows()]).sort_values(
        ["held", "seeds run"], ascending=False, kind="stable")
    return str(ranked.iloc[0]["objective"]), int(ranked.iloc[0]["held"]), len(conditions)


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


def card_note(results: pd.DataFrame) -> str:
    """The landing page's note on the objectives study, under the results card: the verdict, and
    DCA as published beside the closest objective (mean over the seeds that ran, held-out mean),
    labelled as beyond the paper.

    >>> print(card_note(pd.DataFrame()))  # doctest: +NORMALIZE_WHITESPACE
    ```{admonition} Beyond the paper: other training objectives
    :class: note
    The objectives study has not produced results yet (`make study`); nothing is claimed. Details:
    {ref}`chapter-why-and-what-works`.
    ```
    """
    lines = [verdict_sentence(results)]
    table = verdict_table(results)
    if not table.empty:
        def mean_of(method: str, metric: str) -> str:
            rows = results[(results["dataset"] == "mean") & (results["method"] == method) & (results["metric"] == metric)]
            return f"{rows['value'].mean():.3g}" if not rows.empty else "—"

        best = closest_objective(table)[0]
        shown = ["dca"] + ([best] if best != "dca" else [])
        lines.append("After training, mean over the seeds that ran (held-out questions): " + "; ".join(
            f"{o}{' (as published)' if o == 'dca' else ''}: ρ {mean_of(o, 'rho')}, mean |ε| {mean_of(o, 'mean_abs_eps')}"
            for o in shown if o in set(results["method"])) + f" (vanilla: ρ {mean_of('vanilla', 'rho')}, "
            f"mean |ε| {mean_of('vanilla', 'mean_abs_eps')}).")
    return ("```{admonition} Beyond the paper: other training objectives\n:class: note\n"
            + " ".join(lines) + " Details: {ref}`chapter-why-and-what-works`.\n```\n")
