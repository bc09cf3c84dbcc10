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

from pathlib import Path

from dca.data.hub import HUB_SOURCES, hub_questions, load_hub_rows
from dca.data.local import LOCAL_SUFFIXES, load_local
from dca.data.questions import (
    DataError,
    Question,
    option_letters,
    read_questions,
    save_questions,
    split_questions,
    subset,
    validate_questions,
)
from dca.data.synthetic import FAMILIES, synthetic_questions

DEFAULT_SYNTHETIC_N = 500
SOURCES = (*HUB_SOURCES, "synthetic")

__all__ = [
    "DEFAULT_SYNTHETIC_N", "FAMILIES", "HUB_SOURCES", "SOURCES", "DataError", "Question",
    "hub_questions", "load_hub_rows", "load_local", "load_questions", "option_letters",
    "read_questions", "save_questions", "split_questions", "synthetic_questions",
    "validate_questions",
]


def load_questions(
    source: str, n: int | None = None, seed: int = 0, split: str | None = None
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
        Hub split (default per source: test, validation, validation, test). Ignored for
        synthetic and local sources.

    Raises
    ------
    DataError
        Unknown source (listing the valid ones), unreadable data, or a malformed record.

    Examples
    --------
    >>> load_questions("nope")
    Traceback (most recent call last):
    ...
    dca.data.questions.DataError: unknown question source 'nope'; use one of openbookqa, truthfulqa, cosmosqa, mmlu, synthetic, or a path ending in .jsonl or .csv
    """
    if n is not None and n < 0:
        raise DataError(f"n must be >= 0, got {n}")
    if source == "synthetic":
        return synthetic_questions(DEFAULT_SYNTHETIC_N if n is None else n, seed=seed)
    if source in HUB_SOURCES:
        return subset(hub_questions(source, split=split, seed=seed), n, seed)
    if Path(source).suffix in LOCAL_SUFFIXES:
        return subset(load_local(source), n, seed)
    raise DataError(
        f"unknown question source {source!r}; use one of {', '.join(SOURCES)}, "
        f"or a path ending in {' or '.join(LOCAL_SUFFIXES)}"
    )
