"""Questions from local JSONL or CSV files.

Columns: ``question``, ``choices`` (a list; in CSV a JSON-encoded list string), ``answer`` (0-based
int), and optionally ``id`` (default: the 0-based row index), ``context``, ``subject``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from dca.data.questions import DataError, Question, check_question, validate_questions

LOCAL_SUFFIXES = (".jsonl", ".csv")
_FIELDS = {"id", "question", "choices", "answer", "context", "subject"}


def _rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs; ``where`` names the row for error messages."""
    rows: list[tuple[str, dict[str, Any]]] = []
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path.name} line {line_no}: not valid JSON ({exc})") from exc
                if not isinstance(row, dict):
                    raise DataError(f"{path.name} line {line_no}: expected a JSON object")
                rows.append((f"line {line_no}", row))
    else:
        with open(path, encoding="utf-8", newline="") as fh:
            for row_no, row in enumerate(csv.DictReader(fh), start=1):
                rows.append((f"row {row_no}", dict(row)))
    return rows


def _choices(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}: 'choices' must be a JSON list string, got {value!r}") from exc
    if not isinstance(value, list):
        raise DataError(f"{name}: 'choices' must be a list, got {type(value).__name__}")
    return tuple(str(c) for c in value)


def _answer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise DataError(f"{name}: 'answer' must be a 0-based int index, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise DataError(f"{name}: 'answer' must be a 0-based int index, got {value!r}") from exc


def _optional(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def row_to_question(row: dict[str, Any], index: int, where: str, source: str) -> Question:
    """Convert one file row; ``index`` (0-based) is the default id."""
    rid = row.get("id")
    rid = str(index) if rid is None or rid == "" else str(rid)
    name = f"{source} {where} (id {rid!r})"
    missing = {"question", "choices", "answer"} - {k for k, v in row.items() if v is not None}
    if missing:
        raise DataError(f"{name}: missing column(s) {sorted(missing)}")
    extra = set(row) - _FIELDS
    if extra:
        raise DataError(f"{name}: unknown column(s) {sorted(extra)}; allowed: {sorted(_FIELDS)}")
    q = Question(
        id=rid,
        question=str(row["question"]),
        choices=_choices(row["choices"], name),
        answer=_answer(row["answer"], name),
        context=_optional(row.get("context")),
        subject=_optional(row.get("subject")),
        source=source,
    )
    check_question(q, name)
    return q


def load_local(path: str | Path) -> list[Question]:
    """Read and validate a ``.jsonl`` or ``.csv`` question file.

    Raises
    ------
    DataError
        Unknown suffix, missing file, or a bad row (the message names the row and id).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = p.write_text('question,choices,answer\\n"2 + 3 = ?","[""4"", ""5""]",1\\n')
    >>> [(q.id, q.choices, q.answer_letter) for q in load_local(p)]
    [('0', ('4', '5'), 'B')]
    """
    path = Path(path)
    if path.suffix not in LOCAL_SUFFIXES:
        raise DataError(f"{path}: local question files must end in {' or '.join(LOCAL_SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    questions = [
        row_to_question(row, i, where, path.name) for i, (where, row) in enumerate(_rows(path))
    ]
    if not questions:
        raise DataError(f"{path}: contains no questions")
    try:
        validate_questions(questions)
    except DataError as exc:
        raise DataError(f"{path.name}: {exc}") from exc
    return questions
