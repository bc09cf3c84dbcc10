"""The chapters of the book, the folders the driver reads and writes, and each chapter's config class."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

from dca.config import StageConfig
from dca.paths import BOOK_DIR, NOTEBOOK_DIR, ROOT

EXECUTED_DIR = BOOK_DIR / "_executed"
STUDENTS_DIR = BOOK_DIR / "_students"
MATHJAX_DIR = BOOK_DIR / "_static" / "mathjax"
BUILD_DIR = ROOT / "_build"
HTML_DIR = BUILD_DIR / "html"
PACKAGE_DIR = ROOT / "dca"


class BookError(RuntimeError):
    """The book cannot be built; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Notebook:
    """One chapter notebook: its file stem, the stage whose config gives its parameters."""

    name: str  # file stem in notebooks/ and book/_executed/
    stage: str  # profile section and StageConfig.stage
    module: str  # module that defines the stage config
    source_dir: Path = NOTEBOOK_DIR
    executed_dir: Path = EXECUTED_DIR

    @property
    def source(self) -> Path:
        return self.source_dir / f"{self.name}.py"

    @property
    def executed(self) -> Path:
        return self.executed_dir / f"{self.name}.ipynb"


#: The chapter notebooks, in the order they run (each reads the run folder of the ones before).
NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("01_confidence_extraction", "extract", "dca.extract"),
    Notebook("02_preference_pairs", "pairs", "dca.pairs"),
    Notebook("03_dpo_training", "train", "dca.train"),
    Notebook("04_metrics", "metrics", "dca.bootstrap"),
    Notebook("05_results", "evaluate", "dca.evaluate"),
    Notebook("06_does_dca_work", "reference", "dca.report_reference"),
    Notebook("07_why_and_what_works", "study", "dca.study_results"),
)


def chapter(name: str) -> Notebook:
    """The chapter whose stem is ``name`` or starts with ``name_`` (e.g. ``"01"``).

    >>> chapter("04").name
    '04_metrics'
    """
    for nb in NOTEBOOKS:
        if nb.name == name or nb.name.startswith(f"{name}_"):
            return nb
    raise BookError(f"unknown notebook {name!r}; notebooks: {', '.join(nb.name for nb in NOTEBOOKS)}")


def config_class(nb: Notebook) -> type[StageConfig]:
    """The :class:`~dca.config.StageConfig` subclass in ``nb.module`` whose ``stage`` is ``nb.stage``.

    >>> config_class(chapter("04")).__name__
    'MetricsChapterConfig'
    """
    module = importlib.import_module(nb.module)
    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, StageConfig) and value is not StageConfig
                and getattr(value, "stage", None) == nb.stage):
            return value
    raise BookError(f"{nb.module} defines no StageConfig with stage {nb.stage!r} (notebook {nb.name})")
