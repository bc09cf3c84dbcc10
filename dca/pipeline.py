"""The pipeline, declared once: its stages, their configs and chapters, and the files of a run folder.

    questions ─extract─► stage1 ─pairs─► pairs ─train─► adapter ─evaluate─► eval, metrics ─► results store
                                                              └─transfer─► transfer/<source>/…

The command line (:mod:`dca.cli`), the book driver (:mod:`dca.book.chapters`), the run folder
(:class:`dca.runs.artifacts.RunFolder`) and the reference runner (:mod:`dca.reference.runner`) read
these tables; nothing else names a stage's module or an artifact's file.

Stage numbers and chapter numbers agree for stages 1–3. Stage 4 (``evaluate``) is chapter 05: chapter
04 defines the metrics the evaluation computes, so it comes first and runs no stage. Chapters 06 and
07 run no stage either: they read the committed results of the experiments (:mod:`dca.reference`).
``transfer`` runs outside the pipeline, on a trained run folder (``python -m dca transfer``).

>>> [s.name for s in PIPELINE]
['extract', 'pairs', 'train', 'evaluate']
>>> STAGES["evaluate"].number, STAGES["evaluate"].chapter
(4, '05_results')
>>> ARTIFACTS["stage1"].file, producer("pairs")
('stage1.parquet', 'notebooks/02_preference_pairs (or `python -m dca pairs`)')
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One file (or folder) of a run folder: its name, its path inside the folder and what it holds.

    ``file`` may contain ``{source}``: the transfer stage writes one folder per question source.
    """

    name: str
    file: str
    doc: str


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: its command name (also its profile section), its place, where it lives, what it reads
    and writes.

    ``module`` defines ``run(config, *, progress=True, force=False)``; ``config`` is ``"module:Class"``
    of its :class:`~dca.config.StageConfig`; ``number`` is the stage's number in the book's prose
    (``None`` outside the pipeline); ``chapter`` is the notebook that runs it.
    """

    name: str
    number: int | None
    module: str
    config: str
    chapter: str | None
    reads: tuple[str, ...]
    writes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Chapter:
    """One chapter notebook: its file stem and its parameters' config (``"module:Class"``), whose
    ``stage`` attribute names the chapter's profile section."""

    notebook: str
    config: str


ARTIFACTS: dict[str, Artifact] = {a.name: a for a in (
    Artifact("questions", "questions.jsonl", "The questions of stage 1, train then held out (JSON lines)."),
    Artifact("stage1", "stage1.parquet", "Stage 1's table: one row per question with the reply, C_v and C_i."),
    Artifact("pairs", "pairs.jsonl", "The preference pairs training uses (JSON lines)."),
    Artifact("pairs_heldout", "pairs_heldout.jsonl",
             "Pairs built the same way from the held-out questions (monitoring only, never trained on)."),
    Artifact("pairs_stats", "pairs_stats.json", "How many rows became pairs and why the others did not."),
    Artifact("adapter", "adapter", "The trained LoRA adapter (a folder)."),
    Artifact("checkpoints", "checkpoints", "Resumable training checkpoints (a folder)."),
    Artifact("train_log", "train_log.jsonl", "The trainer's log history (JSON lines)."),
    Artifact("train_config", "train_config.json", "The training parameters (JSON)."),
    Artifact("eval", "eval.parquet", "The trained model's replies on the held-out questions (the stage-1 columns)."),
    Artifact("metrics", "metrics.json",
             "The evaluation: every metric before and after, and their paired differences (JSON)."),
    Artifact("transfer", "transfer", "The transfer stage's folders, one per question source (a dataset's name, or "
             "a local file's stem and a digest of its questions)."),
    Artifact("transfer_before", "transfer/{source}/before.parquet",
             "The base model's replies to another source's questions (the stage-1 columns)."),
    Artifact("transfer_after", "transfer/{source}/after.parquet", "The trained model's replies to the same questions."),
    Artifact("transfer_metrics", "transfer/{source}/metrics.json",
             "Every metric before and after on those questions and their paired differences (JSON)."),
)}

STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("extract", 1, "dca.extract.stage", "dca.extract.stage:ExtractConfig", "01_confidence_extraction",
          reads=(), writes=("questions", "stage1")),
    Stage("pairs", 2, "dca.pairs", "dca.pairs:PairsConfig", "02_preference_pairs",
          reads=("stage1",), writes=("pairs", "pairs_heldout", "pairs_stats")),
    Stage("train", 3, "dca.train.stage", "dca.train.config:TrainConfig", "03_dpo_training",
          reads=("stage1", "pairs", "pairs_heldout"), writes=("adapter", "checkpoints", "train_log", "train_config")),
    Stage("evaluate", 4, "dca.evaluate.stage", "dca.evaluate.stage:EvalConfig", "05_results",
          reads=("stage1", "adapter"), writes=("eval", "metrics")),
    Stage("transfer", None, "dca.evaluate.transfer", "dca.evaluate.transfer:TransferConfig", None,
          reads=("stage1", "adapter"), writes=("transfer", "transfer_before", "transfer_after", "transfer_metrics")),
)}

#: The stages ``python -m dca run`` takes, in order.
PIPELINE: tuple[Stage, ...] = tuple(s for s in STAGES.values() if s.number is not None)

#: The chapters, in the order the book driver executes them (each reads the run folder of the ones before).
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01_confidence_extraction", STAGES["extract"].config),
    Chapter("02_preference_pairs", STAGES["pairs"].config),
    Chapter("03_dpo_training", STAGES["train"].config),
    Chapter("04_metrics", "dca.evaluate.bootstrap:MetricsChapterConfig"),
    Chapter("05_results", STAGES["evaluate"].config),
    Chapter("06_does_dca_work", "dca.report.reference:ReferenceChapterConfig"),
    Chapter("07_why_and_what_works", "dca.report.study:StudyChapterConfig"),
)


def load(path: str) -> Any:
    """The object ``"module:name"`` names (imported on use: a stage's module only when it runs).

    >>> load("dca.pairs:PairsConfig").__name__
    'PairsConfig'
    """
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def producer(artifact: str) -> str:
    """The notebook and command that write ``artifact``: named when it is missing."""
    stage = next(s for s in STAGES.values() if artifact in s.writes)
    command = f"`python -m dca {stage.name}`"
    return f"notebooks/{stage.chapter} (or {command})" if stage.chapter else command
