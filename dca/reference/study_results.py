"""The objectives study's results: from its run folders to small committed files the book reads.

:func:`collect` reads every finished job of :mod:`dca.reference.study` and writes, under ``book/data/``:

``study_results.csv``
    Tidy rows, one per (job, dataset, method, metric), with the bootstrap 95 % interval, the paired
    difference to vanilla on the same questions with its interval, and ``mde``, the smallest change
    of that metric the comparison could detect (:func:`min_detectable`). ``dataset`` is each held-out
    source, ``mean`` (the mean over the three), and ``commonsenseqa``, the transfer questions (``split``
    says ``transfer``). ``method`` is ``vanilla``, the job's objective, or (in the seed jobs) one of
    the no-training baselines of :mod:`dca.evaluate.baselines` (``constant``, ``isotonic``,
    ``say_ci``). Provenance columns: model, seed, parameters, commit, date, machine, wall time.
``study_questions.csv``
    Every held-out and transfer question of every objective job, before and after: stated number,
    ``C_i``, letter, correctness and the reply itself (what the diagnosis shows).
``study_training.csv``
    The training logs: loss, reward accuracy and margin, and the policy's log-probabilities of the
    chosen and rejected replies, on the training batch and on the held-out pairs, per step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from dca.config import N_BOOT, SEED
from dca.evaluate.baselines import BASELINES, baseline_cv
from dca.evaluate.baselines import usable as _usable
from dca.evaluate.metrics import METRICS
from dca.paths import ROOT, at_root
from dca.reference.rows import chosen_jobs, collect_jobs, distinct_share, last_record, metric_rows, triple
from dca.reference.study import JOBS, RUNS, TRANSFER, Job, is_finished, job
from dca.runs import artifacts
from dca.runs.artifacts import RunFolder, machine

DATA = ROOT / "book" / "data"
RESULTS = DATA / "study_results.csv"
QUESTIONS = DATA / "study_questions.csv"
TRAINING = DATA / "study_training.csv"
NUMBER_TOKENS = DATA / "study_number_tokens.csv"
COLUMNS = ("job", "objective", "seed", "dataset", "split", "method", "metric", "value", "low", "high", "diff",
           "diff_low", "diff_high", "mde", "n", "model", "params", "commit", "date", "machine", "dtype", "wall_s")


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

    run = RunFolder(j.run_dir)
    if not j.objective:
        return {"extract": recorded(run.stage1, "seconds")}
    return {"train": 0.0 if j.adapter_from else recorded(run.adapter, "wall_time_s"),  # a recipe trains nothing
            "evaluate": recorded(run.eval, "seconds"),
            "transfer": sum(recorded(run.artifact("transfer_metrics", source=folder.name), "seconds")
                            for folder in sorted(run.transfer.glob("*")) if folder.is_dir())}


def _wall(j: Job) -> dict[str, Any]:
    """Provenance of a job: commit, date and machine of its last attempt (``jobs.jsonl``), or of its
    newest artifact when the runner did not record it, and its wall time summed over its stages."""
    wall = last_record(RUNS, j.name)
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
             n_boot: int, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics of vanilla (every parsed reply) and, with ``after``, of the method on the questions
    parsed in both with paired differences; without it, the baselines."""
    vanilla = before[_usable(before)]
    results = {"vanilla": metric_rows(triple(vanilla), None, n_boot, seed)}
    frames = {"vanilla": (vanilla, before)}
    b, a = before.iloc[0:0], before.iloc[0:0]
    if after is not None:
        bi, ai = before.set_index("id"), after.set_index("id")
        ids = [i for i in bi.index if i in ai.index and _usable(bi.loc[[i]]).iloc[0] and _usable(ai.loc[[i]]).iloc[0]]
        b, a = bi.loc[ids].reset_index(), ai.loc[ids].reset_index()
        results[method] = metric_rows(triple(b), triple(a), n_boot, seed)
        frames[method] = (a, after)
        results[method]["letter_changed"] = {"value": 100.0 * float((b["letter"].to_numpy() != a["letter"].to_numpy()).mean())
                                             if len(b) else math.nan, "n": len(b)}
    else:
        stated = baseline_cv(train[_usable(train)], vanilla)
        for name in BASELINES:  # one with no training reply to fit on: NaN rows with n 0
            results[name] = (metric_rows(triple(vanilla), (stated[name], *triple(vanilla)[1:]), n_boot, seed)
                             if name in stated else metric_rows(triple(vanilla.iloc[0:0]), None, n_boot, seed))
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
    return results


def dtype_of(run: artifacts.RunFolder) -> str:
    """The float type the job's model computed in (``float32``, ``bfloat16``), from the provenance of its
    last model stage (evaluation for an objective job, stage 1 for a seed's job); ``""`` where not recorded.
    ``dtype=auto`` picks it by machine, so two machines can run the same job in different precisions."""
    for name in ("eval", "stage1"):
        recorded = run.provenance(name).get("dtype") if getattr(run, name).exists() else None
        if recorded:
            return str(recorded).removeprefix("torch.")
    return ""


def job_rows(j: Job, n_boot: int = N_BOOT, seed: int = SEED) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The tidy rows of one finished job (a seed's stage-1 job: vanilla and the baselines), and, for an
    objective job, its per-question table."""
    from dca.evaluate.transfer import transfer_files

    run = artifacts.RunFolder(j.run_dir)
    stage1 = pd.read_parquet(run.stage1)
    train, held = stage1[stage1["split"] == "train"], stage1[stage1["split"] == "eval"]
    wall = _wall(j)
    common = {"job": j.name, "objective": j.objective or "none", "seed": j.seed,
              "model": run.stage1_params().get("model", ""), "params": json.dumps(j.params, sort_keys=True),
              "commit": wall.get("commit", artifacts.git_commit()), "date": wall.get("finished", "")[:10],
              "machine": wall.get("machine", machine()), "dtype": dtype_of(run), "wall_s": wall.get("wall_s", math.nan)}
    method = j.objective or "vanilla"
    after_all = pd.read_parquet(run.eval) if j.objective else None
    rows: list[dict[str, Any]] = []
    questions = []
    for source in sorted(held["source"].unique()):
        after = after_all[after_all["source"] == source] if after_all is not None else None
        before = held[held["source"] == source]
        results = _compare(train[train["source"] == source], before, after, method, n_boot, seed)
        if j.objective:
            results.pop("vanilla")  # reported once per seed, by the seed's stage-1 job
        rows += _rows_for(common, source, "heldout", results)
        if after is not None:
            questions.append(_question_table(j, source, "heldout", before, after))
    frame = pd.DataFrame(rows)
    if not frame.empty:  # the paper's summary: the mean over datasets of the per-dataset values
        means = frame.groupby(["method", "metric"], sort=False)[["value", "diff"]].mean().reset_index()
        rows += [{**common, "dataset": "mean", "split": "heldout", "method": r.method, "metric": r.metric,
                  "value": r.value, "low": math.nan, "high": math.nan, "diff": r.diff, "diff_low": math.nan,
                  "diff_high": math.nan, "mde": math.nan, "n": math.nan} for r in means.itertuples(index=False)]
    files = transfer_files(j.run_dir, TRANSFER)
    before_t = pd.read_parquet(files.before) if files.before.exists() else None
    if j.objective and before_t is not None and files.after.exists():
        after_t = pd.read_parquet(files.after)
        results = _compare(train, before_t, after_t, method, n_boot, seed)
        results.pop("vanilla")
        rows += _rows_for(common, TRANSFER, "transfer", results)
        questions.append(_question_table(j, TRANSFER, "transfer", before_t, after_t))
    elif not j.objective:  # the seed job: vanilla and the baselines on its model's transfer *before* table
        shared = transfer_files(j.shared_before, TRANSFER).before
        if shared.exists():
            results = _compare(train, pd.read_parquet(shared), None, method, n_boot, seed)
            rows += _rows_for(common, TRANSFER, "transfer", results)
    kept = [x for x in questions if not x.empty]
    return rows, pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()


def _question_table(j: Job, source: str, split: str, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per question whose reply parsed before training: both replies and their values. The reply after
    training is kept whatever it is (its values are NaN where it no longer parses): what the model
    writes, not only what parses."""
    if not j.objective or before.empty:
        return pd.DataFrame()
    b = before[_usable(before)]
    asked_after = set(after["id"])
    ids = [i for i in b["id"] if i in asked_after]
    b = b.set_index("id").loc[ids].reset_index()
    a = after.set_index("id").loc[ids].reset_index()
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


def collect(n_boot: int = N_BOOT, only: Iterable[str] | None = None) -> Path | None:
    """Write the three results files from every finished job, or from the finished jobs named by
    ``only`` (unfinished ones are skipped; every other job's committed rows are kept); the run folders
    are read from the repository root, wherever this is called from. An unknown name raises KeyError."""
    with at_root():
        return collect_jobs(chosen_jobs(only, JOBS, job), finished=is_finished, job_rows=job_rows,
                            training_rows=training_rows, files=(RESULTS, QUESTIONS, TRAINING), columns=COLUMNS,
                            n_boot=n_boot)


def read(path: str | Path = RESULTS) -> pd.DataFrame:
    """A committed study file (an empty table when the study has not produced it yet)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path)


__all__ = ["COLUMNS", "METRICS", "collect", "dtype_of", "exact_share", "job_rows", "min_detectable", "read", "training_rows"]
