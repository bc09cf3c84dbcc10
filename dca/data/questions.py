"""The question record, its validation, option letters, and seeded train/eval splits.

Every source (Hub datasets, local files, the synthetic generator) produces :class:`Question`
records; everything downstream (prompts, extraction, pairs, evaluation) consumes only these.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dca.config import SEED
from dca.runs.artifacts import read_jsonl, write_jsonl


class DataError(ValueError):
    """A data source or record is unusable; the message names the record and the problem."""


def option_letters(n: int) -> tuple[str, ...]:
    """Return the option letters for ``n`` choices.

    Parameters
    ----------
    n : int
        Number of choices, 2 to 26.

    Returns
    -------
    tuple of str
        ``("A", "B", ...)`` of length ``n``.

    Raises
    ------
    DataError
        If ``n`` is below 2 or above 26.

    Examples
    --------
    >>> option_letters(4)
    ('A', 'B', 'C', 'D')
    >>> option_letters(1)
    Traceback (most recent call last):
    ...
    dca.data.questions.DataError: a multiple-choice question needs 2 to 26 options, got 1
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 26:
        raise DataError(f"a multiple-choice question needs 2 to 26 options, got {n!r}")
    return tuple(string.ascii_uppercase[:n])


@dataclass(frozen=True)
class Question:
    """One multiple-choice question.

    Attributes
    ----------
    id : str
        Unique within a question set.
    question : str
        The question text (without options).
    choices : tuple of str
        The options, in the order they are shown; lists are converted to tuples.
    answer : int
        0-based index of the correct option in ``choices``.
    context : str or None
        A passage the question is about (CosmosQA), if any.
    subject : str or None
        Topic or difficulty family (MMLU subject, ``"arithmetic-easy"``), if any.
    source : str
        Where it came from: ``"openbookqa"``, ``"synthetic/arithmetic"``, a file name.

    Examples
    --------
    >>> q = Question("q1", "2 + 2 = ?", ["3", "4", "5"], answer=1)
    >>> q.letters, q.answer_letter
    (('A', 'B', 'C'), 'B')
    >>> Question.from_dict(q.to_dict()) == q
    True
    """

    id: str
    question: str
    choices: tuple[str, ...]
    answer: int
    context: str | None = None
    subject: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        # Normalise types only; semantic checks live in validate_questions so bad records can be
        # built, reported together and named.
        object.__setattr__(self, "id", str(self.id))
        object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))

    @property
    def letters(self) -> tuple[str, ...]:
        """Option letters for this question's choices."""
        return option_letters(len(self.choices))

    @property
    def answer_letter(self) -> str:
        """Letter of the correct option."""
        return self.letters[self.answer]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``choices`` as a list)."""
        d = asdict(self)
        d["choices"] = list(self.choices)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Question:
        """Build from a dict as written by :meth:`to_dict`; unknown keys are an error."""
        missing = {"id", "question", "choices", "answer"} - d.keys()
        if missing:
            raise DataError(f"record {d.get('id', '?')!r}: missing field(s) {sorted(missing)}")
        extra = d.keys() - {f for f in cls.__dataclass_fields__}
        if extra:
            raise DataError(f"record {d.get('id')!r}: unknown field(s) {sorted(extra)}")
        return cls(**d)


def check_question(q: Question, where: str = "") -> None:
    """Raise :class:`DataError` if one question is malformed; ``where`` prefixes the message."""
    name = where or f"question {q.id!r}"
    if not isinstance(q.question, str) or not q.question.strip():
        raise DataError(f"{name}: empty question text")
    if len(q.choices) < 2:
        raise DataError(f"{name}: needs at least two choices, got {len(q.choices)}")
    if len(q.choices) > 26:
        raise DataError(f"{name}: at most 26 choices are supported, got {len(q.choices)}")
    if isinstance(q.answer, bool) or not isinstance(q.answer, int):
        raise DataError(f"{name}: answer must be an int index, got {q.answer!r}")
    if not 0 <= q.answer < len(q.choices):
        raise DataError(
            f"{name}: answer index {q.answer} out of range for {len(q.choices)} choices"
        )


def content_digest(q: Question) -> str:
    """A digest of what a question asks: its context, text and choices, not its id, answer or source.

    Two files hold the same question when its digest is the same, whatever ids they give it (a file
    without ids numbers its rows ``0``, ``1`` ...), so the digest, not the id, says whether a question
    was trained on.

    >>> a = Question("7", "2 + 2 = ?", ("3", "4"), 1)
    >>> content_digest(a) == content_digest(Question("q1", "2 + 2 = ?", ("3", "4"), 0, source="x.csv"))
    True
    >>> content_digest(a) == content_digest(Question("7", "2 + 3 = ?", ("3", "4"), 1))
    False
    """
    payload = json.dumps([q.context or "", q.question, list(q.choices)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def set_digest(questions: Sequence[Question]) -> str:
    """A digest of a question set's contents in order (:func:`content_digest` of each), ids left out.

    >>> qs = [Question("0", "x?", ("a", "b"), 0), Question("1", "y?", ("a", "b"), 1)]
    >>> set_digest(qs) == set_digest([Question("p", "x?", ("a", "b"), 0), Question("q", "y?", ("a", "b"), 1)])
    True
    """
    joined = "\n".join(content_digest(q) for q in questions)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def validate_questions(questions: Sequence[Question]) -> None:
    """Check a question set; raise :class:`DataError` naming the first bad record.

    Checks: non-empty question text, at least two choices, answer index in range, unique ids.

    Examples
    --------
    >>> validate_questions([Question("a", "x?", ("1", "2"), 0), Question("a", "y?", ("1", "2"), 1)])
    Traceback (most recent call last):
    ...
    dca.data.questions.DataError: question 'a' (record 2): duplicate id, first seen at record 1
    """
    seen: dict[str, int] = {}
    for i, q in enumerate(questions, start=1):
        check_question(q, f"question {q.id!r} (record {i})")
        if q.id in seen:
            raise DataError(
                f"question {q.id!r} (record {i}): duplicate id, first seen at record {seen[q.id]}"
            )
        seen[q.id] = i


def subset(questions: Sequence[Question], n: int | None, seed: int = SEED) -> list[Question]:
    """At most ``n`` questions: a seeded random subset, kept in source order.

    >>> qs = [Question(str(i), "q?", ("a", "b"), 0) for i in range(10)]
    >>> [q.id for q in subset(qs, 3, seed=1)] == [q.id for q in subset(qs, 3, seed=1)]
    True
    """
    if n is None or n >= len(questions):
        return list(questions)
    if n < 0:
        raise DataError(f"n must be >= 0, got {n}")
    keep = sorted(random.Random(seed).sample(range(len(questions)), n))
    return [questions[i] for i in keep]


def split_questions(
    questions: Sequence[Question],
    n_eval: int | None = None,
    eval_fraction: float = 0.5,
    seed: int = SEED,
) -> tuple[list[Question], list[Question]]:
    """Split into disjoint ``(train, eval)`` lists with a seeded shuffle.

    Pairs are built from the training questions; metrics are computed on the held-out ones.

    Parameters
    ----------
    questions : sequence of Question
    n_eval : int, optional
        Exact size of the eval part; overrides ``eval_fraction``.
    eval_fraction : float
        Fraction held out for evaluation when ``n_eval`` is None (rounded).
    seed : int
        The same seed gives the same split.

    Returns
    -------
    (train, eval) : tuple of lists
        Each keeps the input order; together they cover every question exactly once.

    Examples
    --------
    >>> qs = [Question(f"q{i}", "x?", ("a", "b"), 0) for i in range(6)]
    >>> train, held = split_questions(qs, n_eval=2, seed=0)
    >>> len(train), len(held), set(train).isdisjoint(held)
    (4, 2, True)
    """
    total = len(questions)
    if n_eval is None:
        if not 0.0 < eval_fraction < 1.0:
            raise DataError(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
        n_eval = round(total * eval_fraction)
    if n_eval <= 0 or n_eval >= total:
        raise DataError(
            f"cannot split {total} questions into non-empty train and eval parts "
            f"(eval would have {n_eval}, train {total - n_eval})"
        )
    order = list(range(total))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    train = [q for i, q in enumerate(questions) if i not in held]
    evaluation = [q for i, q in enumerate(questions) if i in held]
    return train, evaluation


def save_questions(path: str | Path, questions: Sequence[Question]) -> Path:
    """Write questions as JSONL atomically (via :func:`dca.runs.artifacts.write_jsonl`)."""
    return write_jsonl(path, [q.to_dict() for q in questions])


def read_questions(path: str | Path) -> list[Question]:
    """Read questions written by :func:`save_questions`, and validate them.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.jsonl"
    >>> qs = [Question("q1", "2 + 2 = ?", ("3", "4"), 1, subject="arithmetic-easy")]
    >>> _ = save_questions(p, qs)
    >>> read_questions(p) == qs
    True
    """
    out = []
    for i, rec in enumerate(read_jsonl(path), start=1):
        try:
            out.append(Question.from_dict(rec))
        except (TypeError, DataError) as exc:
            raise DataError(f"{Path(path).name} line {i}: {exc}") from exc
    validate_questions(out)
    return out
