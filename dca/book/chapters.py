"""The chapters of the book, the folders the driver reads and writes, and each chapter's config class."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dca.config import StageConfig
from dca.paths import BOOK_DIR, NOTEBOOK_DIR, ROOT
from dca.pipeline import CHAPTERS, load

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
    """One chapter notebook: its file stem and its parameters' config (``"module:Class"``, from
    :data:`dca.pipeline.CHAPTERS`)."""

    name: str  # file stem in notebooks/ and book/_executed/
    config: str  # "module:Class" of the chapter's StageConfig
    source_dir: Path = NOTEBOOK_DIR
    executed_dir: Path = EXECUTED_DIR

    @property
    def module(self) -> str:
        """The module that defines the chapter's config."""
        return self.config.partition(":")[0]

    @property
    def stage(self) -> str:
        """The profile section of the chapter's parameters (its config's ``stage``)."""
        return config_class(self).stage

    @property
    def source(self) -> Path:
        return self.source_dir / f"{self.name}.py"

    @property
    def executed(self) -> Path:
        return self.executed_dir / f"{self.name}.ipynb"


#: The chapter notebooks, in the order they run (each reads the run folder of the ones before).
NOTEBOOKS: tuple[Notebook, ...] = tuple(Notebook(c.notebook, c.config) for c in CHAPTERS)


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
    """The :class:`~dca.config.StageConfig` subclass that holds the parameters of ``nb``.

    >>> config_class(chapter("04")).__name__
    'MetricsChapterConfig'
    """
    cls = load(nb.config)
    if not (isinstance(cls, type) and issubclass(cls, StageConfig)):
        raise BookError(f"{nb.config} is not a StageConfig (notebook {nb.name})")
    return cls
