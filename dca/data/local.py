"""Questions from local JSONL or CSV files.

Columns: ``question``, ``choices`` (a list of distinct, non-empty strings; in CSV a JSON-encoded list
string), ``answer`` (0-based int), and optionally ``id`` (default: the 0-based row index),
``context``, ``subject``. Files are UTF-8, with or without a byte-order mark.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from dca.data.questions import DataError, Question, check_question, validate_questions

LOCAL_SUFFIXES = (".jsonl", ".csv")
_FIELDS = {"id", "question", "choices", "answer", "context", "subject"}


def _text(path: Path) -> str:
    """The file's text: UTF-8, a leading byte-order mark dropped; a bad byte is named by file and line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(f"{path.name} line {line}: not UTF-8 (byte {data[exc.start]:#04x} at offset "
                        f"{exc.start}); save the file as UTF-8") from None


def _rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs; ``where`` names the row for error messages."""
    text = _text(path)
    return _jsonl_rows(path, text) if path.suffix == ".jsonl" else _csv_rows(path, text)


def _jsonl_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path.name} line {line_no}: not valid JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise DataError(f"{path.name} line {line_no}: expected a JSON object")
        rows.append((f"line {line_no}", row))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path.name} header: column(s) {repeated} appear more than once")
    return [(f"row {row_no}", dict(row)) for row_no, row in enumerate(reader, start=1)]


def _choices(value: Any, name: str) -> tuple[str, ...]:
    """The choices of one row: a list of distinct, non-empty strings."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}: 'choices' must be a JSON list string, got {value!r}") from exc
    if not isinstance(value, list):
        raise DataError(f"{name}: 'choices' must be a list, got {type(value).__name__}")
    for i, choice in enumerate(value):
        if not isinstance(choice, str):
            raise DataError(f"{name}: choice {i} is {choice!r}; every choice must be a string")
        if not choice.strip():
            raise DataError(f"{name}: choice {i} is empty")
    repeated = sorted({c for c in value if value.count(c) > 1})
    if repeated:
        raise DataError(f"{name}: choice(s) {repeated} appear more than once")
    return tuple(value)


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
        Unknown suffix, missing file (or a link to none), or a bad row (the message names the row and id).

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
    if path.is_symlink() and not path.exists():
        raise DataError(f"{path}: a symbolic link that leads to no file (a loop of links, or a missing target)")
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
