"""Questions: the paper's datasets, local files, and an offline synthetic generator.

Everything downstream consumes :class:`Question` records from :func:`load_questions`, split into
disjoint training (pairs are built from these) and held-out evaluation questions by
:func:`split_questions`.

>>> qs = load_questions("synthetic", n=10, seed=0)
>>> train, held = split_questions(qs, n_eval=4, seed=0)
>>> len(train), len(held)
(6, 4)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dca.config import SEED
from dca.data.hub import HUB_SOURCES, PAPER_DATASETS, default_split, hub_questions, load_hub_rows
from dca.data.local import LOCAL_SUFFIXES, load_local
from dca.data.questions import (
    DataError,
    Question,
    content_digest,
    option_letters,
    read_questions,
    save_questions,
    set_digest,
    split_questions,
    subset,
    validate_questions,
)
from dca.data.synthetic import FAMILIES, synthetic_questions

DEFAULT_SYNTHETIC_N = 500
SOURCES = (*HUB_SOURCES, "synthetic")

__all__ = [
    "BUNDLED", "DEFAULT_SYNTHETIC_N", "FAMILIES", "HUB_SOURCES", "PAPER_DATASETS", "SOURCES", "DataError",
    "Question", "content_digest", "dataset_names", "default_split", "hub_offline", "hub_questions",
    "load_hub_rows", "load_local", "load_questions", "load_split_questions", "option_letters", "read_questions",
    "save_questions", "set_digest", "split_questions", "synthetic_questions", "validate_questions",
]


def __getattr__(name: str) -> Any:
    """``BUNDLED`` and ``hub_offline``, imported from :mod:`dca.data.bundled` on first use (PEP 562).

    Lazily, so that ``python -m dca.data.bundled install`` (``make setup``) runs that module once:
    runpy warns when the package has already imported the module it is asked to run.
    """
    if name in ("BUNDLED", "hub_offline"):
        from dca.data import bundled

        return getattr(bundled, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dataset_names(dataset: str) -> list[str]:
    """The sources of a ``dataset`` parameter: one name, or several joined by ``+``.

    >>> dataset_names("openbookqa+mmlu+arc_challenge")
    ['openbookqa', 'mmlu', 'arc_challenge']
    >>> dataset_names("synthetic")
    ['synthetic']
    """
    names = [n.strip() for n in dataset.split("+")]
    if not dataset.strip() or any(not n for n in names):
        raise DataError(f"dataset={dataset!r}: give a source name, or several joined by '+'")
    if len(set(names)) != len(names):
        raise DataError(f"dataset={dataset!r} names a source twice")
    return names


def load_split_questions(dataset: str, n: int, n_eval: int, seed: int = SEED, split: str | None = None,
                         origins: dict[str, Any] | None = None) -> tuple[list[Question], list[Question]]:
    """Load ``dataset`` (one source or several joined by ``+``) and split it into train / held-out.

    With several sources each contributes ``n`` questions, ``n_eval`` of them held out (a
    stratified split), so that every dataset is evaluated on the same number of questions.
    ``origins`` (optional) is filled with each source's provenance record.
    """
    train: list[Question] = []
    held: list[Question] = []
    for name in dataset_names(dataset):
        origin: dict[str, Any] = {}
        questions = load_questions(name, n=n, seed=seed, split=split, origin=origin)
        if len(questions) <= n_eval:
            raise DataError(f"dataset {name!r} gave {len(questions)} questions, not more than n_eval={n_eval}; "
                            "lower n_eval or raise n_questions")
        t, h = split_questions(questions, n_eval=n_eval, seed=seed)
        train += t
        held += h
        if origins is not None:
            origins[name] = {**origin, "n_loaded": len(questions), "n_train": len(t), "n_eval": len(h)}
    ids = [q.id for q in train + held]
    if len(set(ids)) != len(ids):
        raise DataError(f"dataset={dataset!r}: question ids repeat across sources")
    return train, held


def load_questions(
    source: str, n: int | None = None, seed: int = SEED, split: str | None = None,
    origin: dict[str, Any] | None = None,
) -> list[Question]:
    """Load questions from any supported source.

    Parameters
    ----------
    source : str
        ``"openbookqa"``, ``"truthfulqa"``, ``"cosmosqa"``, ``"mmlu"`` (Hub, via ``datasets``),
        ``"synthetic"`` (offline generator), or a path ending in ``.jsonl`` / ``.csv``.
    n : int, optional
        At most ``n`` questions: a seeded random subset (kept in source order) when the source
        has more; None = all. For ``"synthetic"``: generate ``n`` (default 500).
    seed : int
        Seeds the subset, TruthfulQA's option shuffle, and the generator.
    split : str, optional
        Hub split (default per source: test, validation, validation, test online; offline the
        bundled split, validation or MMLU's test). Ignored for synthetic and local sources.
    origin : dict, optional
        Filled with where the questions came from (for provenance).

    Raises
    ------
    DataError
        Unknown source (listing the valid ones), unreadable data, or a malformed record.

    Examples
    --------
    >>> load_questions("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dca.data.questions.DataError: unknown question source 'nope'; use one of openbookqa, ..., synthetic, or a path ending in .jsonl or .csv
    """
    if n is not None and n < 0:
        raise DataError(f"n must be >= 0, got {n}")
    origin = {} if origin is None else origin
    if source == "synthetic":
        origin.update(source="synthetic", seed=seed)
        return synthetic_questions(DEFAULT_SYNTHETIC_N if n is None else n, seed=seed)
    if source in HUB_SOURCES:
        return subset(hub_questions(source, split=split, seed=seed, origin=origin), n, seed)
    if Path(source).suffix in LOCAL_SUFFIXES:
        questions = load_local(source)  # first: it names a missing file or a loop of links in one line
        origin.update(source="file", path=os.path.realpath(source))
        return subset(questions, n, seed)
    raise DataError(
        f"unknown question source {source!r}; use one of {', '.join(SOURCES)}, "
        f"or a path ending in {' or '.join(LOCAL_SUFFIXES)}"
    )
