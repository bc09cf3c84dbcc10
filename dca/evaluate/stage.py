"""Stage 4: before/after evaluation on the held-out questions.

The trained adapter is loaded on top of the base model; the held-out questions (``split == "eval"``
in the stage-1 table, disjoint from the training questions the pairs came from) are asked again and
``C_i`` is re-extracted *from the trained model*. Every metric of :func:`dca.evaluate.metrics.compute` is
reported before (the stage-1 rows) and after, on the questions whose replies parsed in both, with a
paired bootstrap interval for each difference. One tidy row per (model, dataset, method, metric)
goes to the results store: ``method`` names the objective the run trained
(:func:`dca.train.objective.objective_name`: ``dca``, ``sft``, ``rpo-num`` ..., as the objectives study's
files do), and a run on several datasets gets rows per dataset and their mean (``dataset`` ``mean``, the
paper's summary) beside the pooled ones.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dca.config import N_BOOT, SEED, ConfigError, StageConfig, at_most, check_device, check_dtype, positive
from dca.data import read_questions
from dca.evaluate.bootstrap import bootstrap, paired_bootstrap
from dca.evaluate.metrics import compute
from dca.extract.stage import ExtractConfig, load_stage1, summarize
from dca.runs import artifacts, distributed, faults, results


@dataclass(frozen=True)
class EvalConfig(StageConfig):
    """Parameters of stage 4 (notebook ``05_results``; ``python -m dca evaluate``).

    The model, prompt (``k_shot``) and reply length are those of stage 1, read from its provenance,
    so that before and after differ only by the adapter.
    """

    stage: ClassVar[str] = "evaluate"

    run_dir: str = field(default="runs/default", metadata={"help": "folder holding every artifact of the run"})
    n_boot: int = field(default=N_BOOT, metadata={"help": "bootstrap resamples for the 95 % intervals (at most 1000000)"})
    seed: int = field(default=SEED, metadata={"help": "seed of the bootstrap"})
    batch_size: int = field(default=ExtractConfig.batch_size, metadata={"help": "prompts per generation / forward batch (at most 4096)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available) | cpu | cuda | cuda:N"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA and on CPUs with AMX or AVX512-BF16, else fp32) | float32 | bfloat16"})
    results_store: str = field(default="runs/results.csv", metadata={
        "help": "CSV the tidy result rows are appended to (the results chapter reads it)"})
    profile: str = field(default="", metadata={"help": "profile name recorded with the results (set by the CLI/book)"})
    answer_with: str = field(default="adapter", metadata={
        "help": "adapter (the trained model writes the whole reply) | base (a confidence adapter: the base "
                "model's reply up to the number, so its answers and C_i, and the number from the adapter)"})
    readout: str = field(default="greedy", metadata={
        "help": "greedy (the number the model writes) | expected (the mean of the numbers 0-100 weighted by the "
                "probability the model gives each after 'Probability:', rounded to a whole number)"})

    def validate(self) -> None:
        check_answer_with(self)
        check_readout(self)
        positive(self, "n_boot", "batch_size")
        at_most(self, 1_000_000, "n_boot")
        at_most(self, 4096, "batch_size")
        positive(self, "seed", allow_zero=True)
        check_device(self)
        check_dtype(self)
        try:
            results.check_store(self.results_store)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def check_answer_with(config: Any) -> None:
    """Raise :class:`ConfigError` unless ``config.answer_with`` is one of
    :data:`~dca.evaluate.confidence_adapter.ANSWER_WITH`."""
    from dca.evaluate.confidence_adapter import ANSWER_WITH

    if config.answer_with not in ANSWER_WITH:
        raise ConfigError(f"answer_with={config.answer_with!r} is not one of {', '.join(ANSWER_WITH)}")


def check_readout(config: Any) -> None:
    """Raise :class:`ConfigError` unless ``config.readout`` is one of
    :data:`~dca.evaluate.expected_number.READOUTS`."""
    from dca.evaluate.expected_number import READOUTS

    if config.readout not in READOUTS:
        raise ConfigError(f"readout={config.readout!r} is not one of {', '.join(READOUTS)}")


def fingerprint_exclude(config: Any, *names: str) -> tuple[str, ...]:
    """``names`` plus ``answer_with`` and ``readout`` at their defaults, which stay out of the fingerprint
    so that the evaluations made before the parameters existed are still found done."""
    return (*names, *(("answer_with",) if config.answer_with == "adapter" else ()),
            *(("readout",) if config.readout == "greedy" else ()))


def triples(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(c_v, c_i, correct)`` arrays of a table's rows."""
    return (table["c_v"].to_numpy(float), table["c_i"].to_numpy(float), table["correct"].to_numpy(bool))


def paired_rows(before: pd.DataFrame, after: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The questions parsed in both tables, in the same order (what the paired comparison uses)."""
    b = before.set_index("id")
    a = after.set_index("id")
    ids = [i for i in b.index if i in a.index and b.at[i, "parse_ok"] and a.at[i, "parse_ok"]
           and not math.isnan(b.at[i, "c_i"]) and not math.isnan(a.at[i, "c_i"])]
    return b.loc[ids].reset_index(), a.loc[ids].reset_index()


def compare(before: pd.DataFrame, after: pd.DataFrame, n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, Any]:
    """Metrics before and after with intervals, the paired differences, and parse rates.

    ``before``/``after`` hold every metric on the questions parsed in *both* (so the numbers compare
    like with like); ``parse_rate`` and ``accuracy_all`` (an unparsed reply counts as wrong) use all
    held-out questions.
    """
    b, a = paired_rows(before, after)
    out: dict[str, Any] = {"n_eval": int(len(before)), "n_paired": int(len(b))}
    for name, table in (("before", b), ("after", a)):
        values, reasons = compute(*triples(table), return_reasons=True)
        intervals = bootstrap(*triples(table), n_boot=n_boot, seed=seed) if len(table) else {}
        out[name] = {k: {"value": v, "low": intervals.get(k, (math.nan, math.nan))[0],
                         "high": intervals.get(k, (math.nan, math.nan))[1], "reason": reasons.get(k, "")}
                     for k, v in values.items()}
    out["paired"] = paired_bootstrap(triples(b), triples(a), n_boot=n_boot, seed=seed) if len(b) else {}
    out["parse_rate"] = {"before": float(before["parse_ok"].mean()), "after": float(after["parse_ok"].mean())}
    out["accuracy_all"] = {"before": 100 * float(before["correct"].mean()), "after": 100 * float(after["correct"].mean())}
    return out


def compare_by_dataset(before: pd.DataFrame, after: pd.DataFrame, n_boot: int = N_BOOT,
                       seed: int = SEED) -> dict[str, dict[str, Any]]:
    """:func:`compare` on each dataset of the held-out questions (``{}`` for a single one).

    A question's dataset is its ``source`` up to the first ``/`` (the synthetic generator's sources
    name their family, ``synthetic/arithmetic``: one dataset).
    """
    if "source" not in before:
        return {}
    dataset = before["source"].astype(str).str.split("/").str[0]
    names = sorted(dataset.unique())
    if len(names) < 2:
        return {}
    out = {}
    for name in names:
        b = before[dataset == name]
        out[name] = compare(b.reset_index(drop=True), after[after["id"].isin(b["id"])].reset_index(drop=True),
                            n_boot=n_boot, seed=seed)
    return out


def result_rows(result: dict[str, Any], *, run: str, model: str, dataset: str, seed: int,
                profile: str, objective: str = "dca") -> pd.DataFrame:
    """Tidy rows for the results store: one per (method, metric) and dataset.

    ``method`` is ``vanilla`` before training and ``objective`` after it. With ``result["by_dataset"]``
    (a run on several datasets), each dataset's rows follow the pooled ones (``dataset``), then their
    mean over the datasets (``dataset`` ``mean``; no interval, ``n`` their sum), as the objectives
    study's files give them.
    """
    stamp = _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    common = {"run": run, "model": model, "seed": seed, "profile": profile, "commit": artifacts.git_commit(),
              "date": stamp, "source": "this repository"}

    def rows_of(res: dict[str, Any], name_of_dataset: str) -> list[dict[str, Any]]:
        rows = []
        for method, name in (("vanilla", "before"), (objective, "after")):
            n = res[name]["n"]["value"]
            for metric, cell in res[name].items():
                if metric == "n":
                    continue
                rows.append({**common, "dataset": name_of_dataset, "method": method, "metric": metric,
                             "value": cell["value"], "low": cell["low"], "high": cell["high"], "n": n})
            rows.append({**common, "dataset": name_of_dataset, "method": method, "metric": "parse_rate",
                         "value": 100 * res["parse_rate"][name], "low": math.nan, "high": math.nan,
                         "n": res["n_eval"]})
        return rows

    rows = rows_of(result, dataset)
    per_dataset = [r for source, res in result.get("by_dataset", {}).items() for r in rows_of(res, source)]
    if per_dataset:
        frame = pd.DataFrame(per_dataset)
        means = frame.groupby(["method", "metric"], sort=False).agg(value=("value", "mean"), n=("n", "sum"))
        rows += per_dataset + [{**common, "dataset": "mean", "method": method, "metric": metric, "value": r.value,
                                "low": math.nan, "high": math.nan, "n": r.n}
                               for (method, metric), r in means.iterrows()]
    return pd.DataFrame(rows, columns=list(results.COLUMNS))


def run_objective(run: artifacts.RunFolder, answer_with: str = "adapter", readout: str = "greedy") -> str:
    """The objective a run's adapter trained (from the provenance of its adapter and pairs), with the
    suffix ``-expected`` when its number is read as the expected one (``readout="expected"``) and then
    ``-base`` when it is used as a confidence adapter (``answer_with="base"``), as the study names those
    jobs (:data:`dca.reference.study.READOUT_SUFFIX`, :data:`dca.reference.study.RECIPE_SUFFIX`)."""
    from dca.train.objective import objective_name

    name = objective_name(run.provenance("adapter").get("params", {}), run.provenance("pairs").get("params", {}))
    name += "-expected" if readout == "expected" else ""
    return f"{name}-base" if answer_with == "base" else name


@artifacts.holding_run_lock
def run(config: EvalConfig, *, progress: bool = True, force: bool = False) -> Path:
    """Stage 4: re-elicit the held-out questions with the trained model and compare; returns metrics.json.

    Skips when the metrics exist for the same parameters, stage-1 table and adapter (unless ``force``).
    Every process of a torchrun / accelerate launch asks its share; the main one writes."""
    run = artifacts.RunFolder(config.run_dir)
    before_all = load_stage1(run.path)
    adapter = run.require("adapter")
    stage1_prov = run.provenance("stage1")
    params = stage1_prov["params"]
    upstream = stage1_prov["fingerprint"] + run.provenance("adapter").get("fingerprint", "")
    fingerprint = config.fingerprint(exclude=fingerprint_exclude(
        config, "run_dir", "batch_size", "device", "results_store", "profile")) + upstream
    out = run.metrics
    if not force and artifacts.is_done(out, fingerprint):
        if distributed.is_main_process():
            ensure_rows(config, run, params)
        return out

    distributed.init_process_group()
    before = before_all[before_all["split"] == "eval"].reset_index(drop=True)
    by_id = {q.id: q for q in read_questions(run.require("questions"))}
    questions = [by_id[i] for i in before["id"]]

    from dca.models.loading import load_model

    loaded = load_model(params["model"], device=config.device, dtype=config.dtype, adapter=adapter)
    start = time.perf_counter()
    from dca.evaluate.confidence_adapter import judged_table

    # with answer_with="base" the base model's replies are stage 1's, and the adapter states the number
    after = judged_table(loaded.model, loaded.tokenizer, questions, before, answer_with=config.answer_with,
                         k_shot=params["k_shot"], batch_size=config.batch_size,
                         max_new_tokens=params["max_new_tokens"], progress=progress, readout=config.readout)
    seconds = time.perf_counter() - start
    if distributed.is_main_process():
        # The order of the writes is the contract: the metrics' provenance, which marks the stage
        # done, comes last, after the rows are in the store; a kill between any two writes leaves
        # the stage not done, and the rerun writes everything again.
        faults.checkpoint("evaluate:before-write")
        artifacts.write_parquet(run.eval, after)
        result = compare(before, after, n_boot=config.n_boot, seed=config.seed)
        result["by_dataset"] = compare_by_dataset(before, after, n_boot=config.n_boot, seed=config.seed)
        result["summary_before"], result["summary_after"] = summarize(before), summarize(after)
        record = artifacts.provenance("evaluate", config.to_dict(), fingerprint, model=params["model"],
                                      dataset=params["dataset"], seed=params["seed"], seconds=round(seconds, 2))
        artifacts.write_provenance(run.eval, record)
        faults.checkpoint("evaluate:after-eval")
        artifacts.write_json(out, result)
        faults.checkpoint("evaluate:after-metrics")
        results.append(config.results_store, store_rows(config, run, params, result))
        faults.checkpoint("evaluate:after-store")
        artifacts.write_provenance(out, record)
    distributed.barrier()
    return out


def store_rows(config: EvalConfig, run: artifacts.RunFolder, params: dict[str, Any],
               result: dict[str, Any]) -> pd.DataFrame:
    """The result rows of one evaluation, keyed by the run folder's real path."""
    return result_rows(result, run=results.run_key(run.path), model=params["model"], dataset=params["dataset"],
                       seed=params["seed"], profile=config.profile,
                       objective=run_objective(run, config.answer_with, config.readout))


def ensure_rows(config: EvalConfig, run: artifacts.RunFolder, params: dict[str, Any]) -> bool:
    """Append a finished evaluation's rows to the store when they are not there (the store was
    removed, replaced, or is another file than last time); True when rows were appended.

    The rows are compared by (dataset, method, metric, value): rows of an older evaluation of the same
    run are replaced (rows written before the store named the objective, or before a run on several
    datasets had per-dataset rows: those come with its next evaluation, e.g. ``force``).
    """
    want = store_rows(config, run, params, json.loads(run.metrics.read_text()))
    return restore_rows(config.results_store, run.path, want)


def restore_rows(store: str | Path, folder: str | Path, want: pd.DataFrame) -> bool:
    """Append ``want``, the rows a finished stage wrote for ``folder``, to ``store`` unless the store
    already holds exactly those rows for it (:func:`_row_set`); True when rows were appended."""
    have = results.read_store(store)
    have = have[have["run"].map(results.run_key) == results.run_key(folder)]
    if _row_set(have) == _row_set(want):
        return False
    results.append(store, want)
    return True


def _row_set(rows: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    """(dataset, method, metric, value rounded to 9 significant digits) of each row; NaN as 'nan'."""
    return {(str(d), str(m), str(k), f"{float(v):.9g}")
            for d, m, k, v in zip(rows["dataset"], rows["method"], rows["metric"], rows["value"])}


def load_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The evaluation result of a run (error naming the notebook to run first when missing)."""
    return json.loads(artifacts.RunFolder(run_dir).require("metrics").read_text())


def load_eval(run_dir: str | Path) -> pd.DataFrame:
    """The table of the trained model's replies on the held-out questions."""
    return pd.read_parquet(artifacts.RunFolder(run_dir).require("eval"))
