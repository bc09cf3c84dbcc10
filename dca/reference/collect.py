"""The reference experiment's results: from the run folders to small committed files the book reads.

:func:`collect` reads every finished job of :mod:`dca.reference.runner` and writes, under ``book/data/``:

``reference_results.csv``
    Tidy rows, one per (job, dataset, method, metric): the value with its bootstrap 95 % interval and,
    for every method but ``vanilla``, the paired difference to vanilla on the same held-out questions
    with its interval. ``dataset`` is each source and ``mean`` (the mean over sources of the
    per-source values, the paper's summary). Provenance columns: model, data (sources and split),
    seed, the job's parameters, commit, date, machine, wall time.
``reference_questions.csv``
    The held-out questions of every job, before and after: ``C_v``, ``C_i``, letter, correctness
    (what the figures draw).
``reference_training.csv``
    The training logs: loss, held-out DPO loss and reward accuracy per step.

Methods. ``vanilla``: the base model (stage 1), on every held-out question whose reply parsed.
``dca``: after DPO (a seed job or an ablation), and ``sft``: after SFT on the chosen replies, both on
the held-out questions parsed before *and* after (their ``diff`` columns are paired differences to
vanilla on exactly those questions). The three no-training baselines of :mod:`dca.evaluate.baselines`
(``constant``, ``isotonic``, ``say_ci``) are computed from the vanilla replies of the same held-out
questions (every parsed one).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from dca.config import N_BOOT, SEED
from dca.evaluate.baselines import BASELINES, baseline_cv, constant_summary
from dca.evaluate.baselines import usable as _usable
from dca.paths import ROOT, at_root
from dca.reference.jobs import JOBS, RUNS, Job, is_finished, job
from dca.reference.rows import chosen_jobs, collect_jobs, distinct_share, last_record, metric_rows, triple
from dca.runs import artifacts
from dca.runs.artifacts import machine

__all__ = ["COLUMNS", "DATA", "QUESTIONS", "RESULTS", "TRAINING", "baseline_cv", "collect", "constant_summary",
           "distinct_share", "job_frames", "job_rows", "read_results", "training_rows"]

DATA = ROOT / "book" / "data"
RESULTS = DATA / "reference_results.csv"
QUESTIONS = DATA / "reference_questions.csv"
TRAINING = DATA / "reference_training.csv"
COLUMNS = ("job", "kind", "factor", "seed", "dataset", "method", "metric", "value", "low", "high", "diff",
           "diff_low", "diff_high", "n", "model", "data", "split", "params", "commit", "date", "machine",
           "wall_s")


def job_frames(j: Job) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The job's training rows, held-out rows before, and held-out rows after (eval.parquet)."""
    run = artifacts.RunFolder(j.run_dir)
    stage1 = pd.read_parquet(run.stage1)
    after = pd.read_parquet(run.eval)
    return stage1[stage1["split"] == "train"], stage1[stage1["split"] == "eval"], after


def job_rows(j: Job, n_boot: int = N_BOOT, seed: int = SEED) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The tidy metric rows of one finished job, and its per-question table."""
    train, before, after = job_frames(j)
    prov = artifacts.RunFolder(j.run_dir).provenance("stage1")
    params = prov["params"]
    origin = prov.get("data_origin", {})
    wall = last_record(RUNS, j.name)
    common = {"job": j.name, "kind": j.kind, "factor": j.factor, "seed": j.seed, "model": params["model"],
              "data": params["dataset"],
              "split": ";".join(f"{k}:{v.get('split')}" for k, v in origin.items()),
              "params": json.dumps(j.params, sort_keys=True), "commit": wall.get("commit", artifacts.git_commit()),
              "date": wall.get("finished", "")[:10], "machine": wall.get("machine", machine()),
              "wall_s": wall.get("wall_s", math.nan)}
    method = {"seed": "dca", "ablation": "dca", "sft": "sft"}[j.kind]
    rows: list[dict[str, Any]] = []
    b = before.set_index("id")
    a = after.set_index("id")
    ids = [i for i in b.index if i in a.index and _usable(b.loc[[i]]).iloc[0] and _usable(a.loc[[i]]).iloc[0]]
    per_dataset: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    questions = []
    vanilla_ok = before[_usable(before)].set_index("id")
    for source in sorted(before["source"].unique()):
        src_ids = [i for i in ids if b.at[i, "source"] == source]
        bb, aa = b.loc[src_ids].reset_index(), a.loc[src_ids].reset_index()
        vv = vanilla_ok[vanilla_ok["source"] == source].reset_index()  # every parsed vanilla reply
        tr = train[(train["source"] == source) & _usable(train)]
        results = {"vanilla": metric_rows(triple(vv), None, n_boot, seed),
                   method: metric_rows(triple(bb), triple(aa), n_boot, seed)}
        if j.kind == "seed":  # the baselines need no training: once per seed, on every parsed vanilla reply
            stated = baseline_cv(tr, vv)
            for name in BASELINES:  # one with no training reply to fit on: NaN rows with n 0
                results[name] = (metric_rows(triple(vv), (stated[name], *triple(vv)[1:]), n_boot, seed)
                                 if name in stated else metric_rows(triple(vv.iloc[0:0]), None, n_boot, seed))
        extra = {"vanilla": vv, method: aa}
        for m, res in results.items():
            frame = extra.get(m)
            if frame is not None:
                k, share = distinct_share(frame["c_v"].to_numpy(float))
                all_rows = before[before["source"] == source] if m == "vanilla" else after[after["source"] == source]
                res["distinct_cv"] = {"value": k, "n": len(frame)}
                res["top_cv_share"] = {"value": share, "n": len(frame)}
                res["parse_rate"] = {"value": 100.0 * float(all_rows["parse_ok"].mean()), "n": len(all_rows)}
                res["accuracy_all"] = {"value": 100.0 * float(all_rows["correct"].mean()), "n": len(all_rows)}
            if m != "vanilla" and m in extra:
                res["letter_changed"] = {"value": 100.0 * float((bb["letter"].to_numpy() != aa["letter"].to_numpy()).mean())
                                         if len(bb) else math.nan, "n": len(bb)}
        per_dataset[source] = results
        questions.append(pd.DataFrame({
            "job": j.name, "id": src_ids, "source": source, "gold": bb["gold_letter"],
            "c_v_before": bb["c_v"], "c_i_before": bb["c_i"], "letter_before": bb["letter"],
            "correct_before": bb["correct"], "c_v_after": aa["c_v"], "c_i_after": aa["c_i"],
            "letter_after": aa["letter"], "correct_after": aa["correct"]}))
    for source, results in per_dataset.items():
        for m, res in results.items():
            if j.kind != "seed" and m == "vanilla":
                continue  # vanilla is reported once per seed job
            for metric, cell in res.items():
                rows.append({**common, "dataset": source, "method": m, "metric": metric,
                             **{k: cell.get(k, math.nan) for k in ("value", "low", "high", "diff", "diff_low",
                                                                   "diff_high", "n")}})
    frame = pd.DataFrame(rows)
    if not frame.empty:  # the paper's summary: the mean over datasets of the per-dataset values
        means = (frame.groupby(["method", "metric"], sort=False)[["value", "diff"]].mean().reset_index())
        for r in means.itertuples(index=False):
            rows.append({**common, "dataset": "mean", "method": r.method, "metric": r.metric, "value": r.value,
                         "low": math.nan, "high": math.nan, "diff": r.diff, "diff_low": math.nan,
                         "diff_high": math.nan, "n": math.nan})
    return rows, pd.concat(questions, ignore_index=True) if questions else pd.DataFrame()


def training_rows(j: Job) -> pd.DataFrame:
    """The job's training log: step, loss, held-out loss and reward accuracy (NaN where not logged)."""
    path = artifacts.RunFolder(j.run_dir).train_log
    if not path.exists():
        return pd.DataFrame()
    log = artifacts.read_jsonl(path)
    out = []
    for entry in log:
        if "step" not in entry or "train_runtime" in entry:
            continue
        out.append({"job": j.name, "step": entry["step"], "loss": entry.get("loss", math.nan),
                    "train_reward_accuracy": entry.get("rewards/accuracies", math.nan),
                    "heldout_loss": entry.get("eval_loss", math.nan),
                    "heldout_reward_accuracy": entry.get("eval_rewards/accuracies", math.nan),
                    "heldout_margin": entry.get("eval_rewards/margins", math.nan)})
    frame = pd.DataFrame(out)
    return frame.groupby(["job", "step"], as_index=False).first() if not frame.empty else frame


def collect(n_boot: int = N_BOOT, only: Iterable[str] | None = None) -> Path | None:
    """Write the three results files from every finished job, or from the finished jobs named by
    ``only`` (unfinished ones are skipped; every other job's committed rows are kept); the run folders
    are read from the repository root, wherever this is called from. An unknown name raises KeyError."""
    with at_root():
        return collect_jobs(chosen_jobs(only, JOBS, job), finished=is_finished, job_rows=job_rows,
                            training_rows=training_rows, files=(RESULTS, QUESTIONS, TRAINING), columns=COLUMNS,
                            n_boot=n_boot)


def read_results(path: str | Path = RESULTS) -> pd.DataFrame:
    """The committed reference results (an empty table with the columns when none exist yet)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.read_csv(path)
