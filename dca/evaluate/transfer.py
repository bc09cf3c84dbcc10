"""Stage "transfer": a trained adapter asked questions of a dataset it was never trained on.

The held-out questions of stage 4 come from the datasets the pairs came from. Whether DCA taught the
model something about its own confidence, rather than the numbers that suit those datasets, shows on
questions from elsewhere: :func:`run` (``python -m dca transfer questions=commonsenseqa``) asks
``n_questions`` questions of any source (a dataset name or a local file, as in stage 1) with the base
model (*before*) and with the run's adapter (*after*), with stage 1's prompt and reply length, and
compares every metric on the questions parsed in both, with paired bootstrap intervals, exactly as
the evaluation stage does. Its rows go to the results store under their own run key
(``<run_dir>/transfer/<source>``, :func:`folder_name`), with ``dataset`` the transfer source.

A question is known by what it asks (:func:`dca.data.content_digest`: its context, text and choices),
not by its id: a transfer question that is one of the run's training questions is refused whatever
ids the two files give it, and a local file's folder carries a digest of its questions, so two files
of the same name do not share one.

The order of the writes is the contract, as in the evaluation stage: the metrics' provenance, which
marks the stage done, comes last, after the rows are in the store; a kill between any two writes
leaves the stage not done, and a skipped stage puts its rows back when the store lost them.

The questions are drawn with ``question_seed``, not the run's seed, so every run and every seed of an
experiment is judged on the same transfer questions, and the *before* table, which depends only on
the model, the prompt and the questions, can be computed once and reused (its fingerprint says so).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from dca.config import N_BOOT, SEED, ConfigError, StageConfig, at_most, check_device, check_dtype, positive
from dca.data import LOCAL_SUFFIXES, content_digest, load_local, load_questions, read_questions, set_digest
from dca.evaluate.stage import (
    check_answer_with,
    check_readout,
    compare,
    fingerprint_exclude,
    restore_rows,
    result_rows,
    run_objective,
)
from dca.extract.stage import ExtractConfig, load_stage1, summarize
from dca.runs import artifacts, distributed, faults, results
from dca.runs.artifacts import RunFolder


@dataclass(frozen=True)
class TransferConfig(StageConfig):
    """Parameters of the transfer stage (``python -m dca transfer``)."""

    stage: ClassVar[str] = "transfer"

    run_dir: str = field(default="runs/default", metadata={"help": "folder holding every artifact of the run"})
    questions: str = field(default="commonsenseqa", metadata={
        "help": "question source the adapter was not trained on: a dataset name (openbookqa, mmlu, arc_easy, "
                "commonsenseqa ...) or a .jsonl/.csv file, as stage 1's dataset"})
    n_questions: int = field(default=200, metadata={"help": "questions to ask (at most 1000000)"})
    question_seed: int = field(default=SEED, metadata={
        "help": "seed of the question subset: the same for every run, so runs are compared on the same questions"})
    n_boot: int = field(default=N_BOOT, metadata={"help": "bootstrap resamples for the 95 % intervals (at most 1000000)"})
    seed: int = field(default=SEED, metadata={"help": "seed of the bootstrap"})
    batch_size: int = field(default=ExtractConfig.batch_size, metadata={"help": "prompts per generation / forward batch (at most 4096)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available) | cpu | cuda | cuda:N"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA and on CPUs with AMX or AVX512-BF16, else fp32) | float32 | bfloat16"})
    results_store: str = field(default="runs/results.csv", metadata={
        "help": "CSV the tidy result rows are appended to"})
    profile: str = field(default="", metadata={"help": "profile name recorded with the results (set by the CLI)"})
    answer_with: str = field(default="adapter", metadata={
        "help": "adapter (the trained model writes the whole reply) | base (a confidence adapter: the base "
                "model's reply up to the number, so its answers and C_i, and the number from the adapter)"})
    readout: str = field(default="greedy", metadata={
        "help": "greedy (the number the model writes) | expected (the mean of the numbers 0-100 weighted by the "
                "probability the model gives each after 'Probability:', rounded to a whole number)"})

    def validate(self) -> None:
        check_answer_with(self)
        check_readout(self)
        positive(self, "n_questions", "n_boot", "batch_size")
        at_most(self, 1_000_000, "n_questions", "n_boot")
        at_most(self, 4096, "batch_size")
        check_device(self)
        check_dtype(self)
        if not self.questions.strip():
            raise ConfigError("questions= is empty; name a question source (e.g. commonsenseqa)")
        try:
            results.check_store(self.results_store)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def source_slug(source: str) -> str:
    """A file-name-safe name of a question source (a file's stem for local files).

    >>> source_slug("commonsenseqa"), source_slug("data/my questions.jsonl")
    ('commonsenseqa', 'my_questions')
    """
    name = Path(source).stem if source.endswith(LOCAL_SUFFIXES) else source
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "questions"


def folder_name(source: str) -> str:
    """The name of a source's transfer folder: a dataset's name as it is (``commonsenseqa``), a local
    file's :func:`source_slug` with a digest of its questions' contents (:func:`dca.data.set_digest`),
    so ``a/set.jsonl`` and ``b/set.jsonl`` get folders of their own unless they ask the same questions.

    >>> folder_name("commonsenseqa")
    'commonsenseqa'
    """
    if Path(source).suffix not in LOCAL_SUFFIXES:
        return source_slug(source)
    return f"{source_slug(source)}-{set_digest(load_local(source))[:10]}"


@dataclass(frozen=True)
class TransferFiles:
    """Where the transfer stage of one run writes, for one question source (see :data:`dca.pipeline.ARTIFACTS`)."""

    run: RunFolder
    source: str  # the source's slug

    @property
    def folder(self) -> Path:
        return self.before.parent

    @property
    def before(self) -> Path:
        """The base model's replies to the transfer questions (the stage-1 columns)."""
        return self.run.artifact("transfer_before", source=self.source)

    @property
    def after(self) -> Path:
        """The trained model's replies to the same questions."""
        return self.run.artifact("transfer_after", source=self.source)

    @property
    def metrics(self) -> Path:
        """Every metric before and after and their paired differences (JSON), as ``metrics.json``."""
        return self.run.artifact("transfer_metrics", source=self.source)


def transfer_files(run_dir: str | Path, source: str) -> TransferFiles:
    """The transfer artifacts of ``run_dir`` for ``source``: ``run_dir/transfer/<folder_name(source)>/``
    (a local file is read for its digest)."""
    return TransferFiles(RunFolder(run_dir), folder_name(source))


def before_fingerprint(config: TransferConfig, stage1_params: dict[str, Any]) -> str:
    """What the *before* table depends on: the model, stage 1's prompt and reply length, the dtype and
    the questions, not the run (so one table serves every run of the same model and questions)."""
    content = artifacts.local_content(config.questions, stage1_params["model"])
    payload = json.dumps({
        "model": stage1_params["model"], "k_shot": stage1_params["k_shot"],
        "max_new_tokens": stage1_params["max_new_tokens"], "dtype": config.dtype,
        "questions": config.questions, "n_questions": config.n_questions, "question_seed": config.question_seed,
        "content": content}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _ask(model_name: str, adapter: Path | None, questions: list[Any], params: dict[str, Any],
         config: TransferConfig, progress: bool, base: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stage-1 table of ``questions`` asked by the base model, or with ``adapter`` merged; with
    ``base`` (the base model's table) and ``answer_with="base"``, those replies with the number
    stated by the adapter (:func:`dca.evaluate.confidence_adapter.state_confidence`)."""
    from dca.models.loading import load_model

    from dca.evaluate.confidence_adapter import judged_table

    loaded = load_model(model_name, device=config.device, dtype=config.dtype, adapter=adapter)
    table = judged_table(loaded.model, loaded.tokenizer, questions, base,
                         answer_with=config.answer_with if base is not None else "adapter", k_shot=params["k_shot"],
                         batch_size=config.batch_size, max_new_tokens=params["max_new_tokens"], progress=progress,
                         readout=config.readout if adapter is not None else "greedy")
    del loaded
    return table


def training_overlap(questions: list[Any], run_folder: RunFolder, stage1: pd.DataFrame) -> list[Any]:
    """The ``questions`` that ask what one of the run's training questions asks (by
    :func:`dca.data.content_digest`, whatever their ids)."""
    train_ids = set(stage1.loc[stage1["split"] == "train", "id"].astype(str))
    trained = {content_digest(q) for q in read_questions(run_folder.require("questions")) if q.id in train_ids}
    return [q for q in questions if content_digest(q) in trained]


def store_rows(config: TransferConfig, files: TransferFiles, params: dict[str, Any],
               result: dict[str, Any]) -> pd.DataFrame:
    """The result rows of one transfer evaluation, keyed by the real path of its folder."""
    return result_rows(result, run=results.run_key(files.folder), model=params["model"], dataset=config.questions,
                       seed=params["seed"], profile=config.profile,
                       objective=run_objective(RunFolder(config.run_dir), config.answer_with, config.readout))


def ensure_rows(config: TransferConfig, files: TransferFiles, params: dict[str, Any]) -> bool:
    """Append a finished transfer's rows to the store when they are not there (the store was removed,
    replaced, or is another file than last time); True when rows were appended."""
    return restore_rows(config.results_store, files.folder,
                        store_rows(config, files, params, json.loads(files.metrics.read_text())))


@artifacts.holding_run_lock
def run(config: TransferConfig, *, progress: bool = True, force: bool = False) -> Path:
    """Ask the transfer questions before and after training and compare; returns the metrics file.

    Each of the two tables and the metrics is skipped when it exists for the same inputs (unless
    ``force``); a skipped stage whose rows the store lost writes them again. Fails naming the overlap,
    before any model work, when a transfer question asks what one of the run's training questions asks.
    """
    run_folder = artifacts.RunFolder(config.run_dir)
    stage1 = load_stage1(run_folder.path)
    adapter = run_folder.require("adapter")
    params = run_folder.stage1_params()
    files = transfer_files(run_folder.path, config.questions)
    fp_before = before_fingerprint(config, params)
    fp_after = fp_before + run_folder.provenance("adapter").get("fingerprint", "") + (
        "-answer-with-base" if config.answer_with == "base" else "") + (
        "-readout-expected" if config.readout == "expected" else "")
    fp_metrics = config.fingerprint(exclude=fingerprint_exclude(
        config, "run_dir", "batch_size", "device", "results_store", "profile")) + fp_after
    if not force and artifacts.is_done(files.metrics, fp_metrics):
        if distributed.is_main_process():
            ensure_rows(config, files, params)
        return files.metrics

    distributed.init_process_group()
    questions = load_questions(config.questions, n=config.n_questions, seed=config.question_seed)
    overlap = training_overlap(questions, run_folder, stage1)
    if overlap:
        first = overlap[0]
        raise ConfigError(f"questions={config.questions!r}: {len(overlap)} of its questions are training questions "
                          f"of {run_folder.path} (e.g. id {first.id!r}: {first.question[:60]!r}); transfer needs "
                          "questions the adapter never saw")
    timings: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {}
    for name, path, fingerprint, with_adapter in (("before", files.before, fp_before, None),
                                                   ("after", files.after, fp_after, adapter)):
        if not force and artifacts.is_done(path, fingerprint):
            tables[name] = pd.read_parquet(path)
            continue
        start = time.perf_counter()
        tables[name] = _ask(params["model"], with_adapter, questions, params, config, progress,
                            base=tables.get("before"))
        timings[name] = round(time.perf_counter() - start, 2)
        if distributed.is_main_process():
            faults.checkpoint(f"transfer:before-{name}")
            artifacts.write_parquet(path, tables[name])
            artifacts.write_provenance(path, artifacts.provenance(
                "transfer", config.to_dict(), fingerprint, model=params["model"], adapter=str(with_adapter or ""),
                questions=config.questions, seconds=timings[name]))
            faults.checkpoint(f"transfer:after-{name}")
    if distributed.is_main_process():
        # metrics.json, the rows, and last the provenance that marks the stage done
        result = compare(tables["before"], tables["after"], n_boot=config.n_boot, seed=config.seed)
        result["summary_before"], result["summary_after"] = summarize(tables["before"]), summarize(tables["after"])
        record = artifacts.provenance("transfer", config.to_dict(), fp_metrics, model=params["model"],
                                      trained_on=params["dataset"], questions=config.questions,
                                      seed=params["seed"], seconds=timings)
        artifacts.write_json(files.metrics, result)
        faults.checkpoint("transfer:after-metrics")
        results.append(config.results_store, store_rows(config, files, params, result))
        faults.checkpoint("transfer:after-store")
        artifacts.write_provenance(files.metrics, record)
    distributed.barrier()
    return files.metrics


def load_transfer(run_dir: str | Path, source: str = "commonsenseqa") -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The before and after tables and the metrics of a run's transfer questions (error naming the
    command to run first when missing)."""
    files = transfer_files(run_dir, source)
    produced = f"`python -m dca transfer run_dir={run_dir} questions={source}`"
    for path in (files.before, files.after, files.metrics):
        artifacts.require(path, produced)
    return pd.read_parquet(files.before), pd.read_parquet(files.after), json.loads(files.metrics.read_text())
