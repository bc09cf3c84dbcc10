"""Stage 2: preference pairs that differ only in the confidence number.

For every training question whose reply parsed, ``rejected`` is the model's own reply, with its
verbalised confidence :math:`C_v`, and ``chosen`` is the *same* reply with the number's text replaced
by :math:`\\mathrm{round}(C_i)`, the model's internal confidence:

.. math::

    \\text{chosen} = r_{<s} \\,\\Vert\\, \\mathrm{fmt}(\\mathrm{round}(C_i)) \\,\\Vert\\, r_{\\ge e},
    \\qquad \\text{rejected} = r,

where :math:`r` is the response and :math:`[s, e)` the character span of the number (``cv_start``,
``cv_end`` in the stage-1 table). The number keeps the model's own notation: an integer when it wrote
a percentage (``80%``), a two-decimal fraction when it wrote a fraction (``0.8``).

Pairs whose two numbers are equal carry no signal and are dropped (and counted); so, optionally, are
wrong answers and pairs whose numbers differ by less than ``min_gap`` points.

Records use TRL's conversational preference format: ``prompt`` is the list of chat messages
(system, few-shot turns, the question); ``chosen`` and ``rejected`` are one assistant message each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from dca.config import ConfigError, StageConfig, positive
from dca.runs import artifacts, distributed, faults


@dataclasses.dataclass(frozen=True)
class PairsConfig(StageConfig):
    """Parameters of stage 2 (the preference pairs); the papermill parameters of notebook 02."""

    stage = "pairs"

    run_dir: str = dataclasses.field(
        default="runs/default",
        metadata={"help": "Run folder: reads stage1.parquet, writes pairs.jsonl and pairs_stats.json."})
    target: Literal["c_i", "c_i_norm"] = dataclasses.field(
        default="c_i",
        metadata={"help": "Which internal confidence the chosen reply states: 'c_i' (full-vocabulary softmax "
                          "probability of the emitted letter, the primary choice) or 'c_i_norm' (renormalised "
                          "over the option letters)."})
    correct_only: bool = dataclasses.field(
        default=False,
        metadata={"help": "Keep only questions the model answered correctly (the paper keeps wrong answers)."})
    min_gap: float = dataclasses.field(
        default=0.0,
        metadata={"help": "Drop pairs whose numbers differ by less than this many points, |C_v - round(C_i)| "
                          "< min_gap (0 to 100). Pairs with equal numbers are always dropped."})

    distractors: list[int] = dataclasses.field(
        default_factory=list,
        metadata={"help": "Beyond the paper: offsets in points (comma-separated, e.g. 20,40) of extra rejected "
                          "replies per training question, the chosen reply with round(C_i) +- each offset "
                          "(clipped to 0..100; a number equal to the chosen one or to the model's own is skipped). "
                          "They teach which number, not only 'not this one'. Empty (the paper): only the model's "
                          "own reply is rejected. The held-out pairs never get distractors."})

    def validate(self) -> None:
        positive(self, "min_gap", allow_zero=True)
        for offset in self.distractors:
            if not 0 < offset <= 100:
                raise ConfigError(f"distractors={self.distractors!r}: each offset must lie in 1..100 points")
        if self.min_gap > 100:
            raise ConfigError(f"min_gap={self.min_gap!r} must lie in [0, 100]")


# --------------------------------------------------------------------------------------------------
# The number


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves up (Python's ``round`` would send 0.5 to 0 and 2.5 to 2).

    >>> round_half_up(99.6), round_half_up(0.5), round_half_up(2.5), round_half_up(37.49)
    (100, 1, 3, 37)
    """
    return int(math.floor(value + 0.5))


def format_confidence(points: int, scale: float) -> str:
    """Write ``points`` (0-100) in the notation the model used: percentage (``scale=100``) or fraction.

    >>> format_confidence(37, 100.0), format_confidence(37, 1.0), format_confidence(100, 1.0)
    ('37', '0.37', '1.00')
    """
    if scale == 100:
        return str(int(points))
    if scale == 1:
        return f"{points / 100:.2f}"
    raise ValueError(f"cv_scale={scale!r} is not supported; expected 100.0 (percent) or 1.0 (fraction)")


def chosen_response(response: str, start: int, end: int, points: int, scale: float) -> str:
    """``response`` with the characters ``[start, end)`` (the confidence number) replaced by ``points``.

    >>> chosen_response("Answer: B\\nProbability: 80%", 23, 25, 37, 100.0)
    'Answer: B\\nProbability: 37%'
    >>> chosen_response("Answer: B\\nProbability: 0.8", 23, 26, 37, 1.0)
    'Answer: B\\nProbability: 0.37'
    """
    return response[:start] + format_confidence(points, scale) + response[end:]


def _check_span(row: Any) -> tuple[int, int, float]:
    """The number's span and scale of one parsed row; fail loudly when stage 1 broke its contract."""
    start, end, scale = int(row.cv_start), int(row.cv_end), float(row.cv_scale)
    text = row.response[start:end] if 0 <= start < end <= len(row.response) else ""
    try:
        written = float(text)
    except ValueError:
        written = math.nan
    if not math.isclose(written * 100.0 / scale, float(row.c_v), abs_tol=1e-6):
        raise ValueError(
            f"stage-1 row id={row.id!r}: response[{start}:{end}]={text!r} with cv_scale={scale} does not "
            f"read as c_v={row.c_v}; the confidence span is wrong (fix the extraction stage)")
    return start, end, scale


# --------------------------------------------------------------------------------------------------
# The pairs

STAT_KEYS = ("rows", "used", "dropped_unparsed", "dropped_wrong", "dropped_equal", "dropped_gap", "kept",
             "distractor_pairs")


def distractor_numbers(points: int, own: float, offsets: list[int] | tuple[int, ...]) -> list[int]:
    """The rejected numbers beside the model's own: ``points`` +- each offset, clipped to 0..100,
    without the chosen number, the model's own number or repeats, in the order of the offsets.

    >>> distractor_numbers(37, 80.0, [20, 40])
    [57, 17, 77, 0]
    >>> distractor_numbers(95, 80.0, [20])  # 115 clips to 100; 75
    [100, 75]
    >>> distractor_numbers(60, 80.0, [20])  # 80 is the model's own number
    [40]
    """
    out: list[int] = []
    for offset in offsets:
        for number in (points + offset, points - offset):
            number = min(100, max(0, number))
            if number != points and not math.isclose(number, own) and number not in out:
                out.append(number)
    return out


def build_pairs(table: pd.DataFrame, config: PairsConfig,
                split: str = "train") -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Preference records from a stage-1 table, and the counts of what was kept and why not.

    Only ``split == "train"`` rows are used (``split="eval"`` builds the held-out pairs whose DPO loss
    training monitors; they are never trained on). Filters, in order: reply not parsed (or no target
    confidence) -> ``dropped_unparsed``; wrong answer when ``correct_only`` -> ``dropped_wrong``;
    both numbers equal -> ``dropped_equal``; gap below ``min_gap`` -> ``dropped_gap``. So
    ``used == kept + dropped_unparsed + dropped_wrong + dropped_equal + dropped_gap``.

    >>> row = dict(id="q1", split="train", messages='[{"role": "user", "content": "Q?"}]',
    ...            response="Answer: B\\nProbability: 80%", correct=True, c_i=36.6, c_i_norm=50.0,
    ...            c_v=80.0, parse_ok=True, cv_start=23, cv_end=25, cv_scale=100.0)
    >>> pairs, stats = build_pairs(pd.DataFrame([row]), PairsConfig())
    >>> pairs[0]["chosen"], pairs[0]["rejected"]
    ([{'role': 'assistant', 'content': 'Answer: B\\nProbability: 37%'}], [{'role': 'assistant', 'content': 'Answer: B\\nProbability: 80%'}])
    >>> stats["kept"], stats["dropped_equal"]
    (1, 0)
    """
    stats = dict.fromkeys(STAT_KEYS, 0)
    stats["rows"] = len(table)
    if len(table) == 0:
        return [], stats
    train = table[table["split"] == split]
    stats["used"] = len(train)
    records = []
    for row in train.itertuples(index=False):
        target = getattr(row, config.target)
        if not bool(row.parse_ok) or target is None or pd.isna(target) or pd.isna(row.c_v):
            stats["dropped_unparsed"] += 1
            continue
        if config.correct_only and not bool(row.correct):
            stats["dropped_wrong"] += 1
            continue
        start, end, scale = _check_span(row)
        points = min(100, max(0, round_half_up(float(target))))
        chosen = chosen_response(row.response, start, end, points, scale)
        if chosen == row.response or math.isclose(float(row.c_v), points, abs_tol=1e-9):
            stats["dropped_equal"] += 1
            continue
        if abs(float(row.c_v) - points) < config.min_gap:
            stats["dropped_gap"] += 1
            continue
        messages = json.loads(row.messages) if isinstance(row.messages, str) else list(row.messages)
        base = {
            "prompt": [{"role": m["role"], "content": m["content"]} for m in messages],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": row.response}],
            "id": str(row.id),
            "c_v": float(row.c_v),
            "c_i_target": points,
            "correct": bool(row.correct),
            "source": str(getattr(row, "source", "") or ""),
            "rejected_value": float(row.c_v),
            "rejected_kind": "own",
        }
        records.append(base)
        stats["kept"] += 1
        for number in distractor_numbers(points, float(row.c_v), config.distractors if split == "train" else []):
            rejected = chosen_response(row.response, start, end, number, scale)
            records.append({**base, "rejected": [{"role": "assistant", "content": rejected}],
                            "rejected_value": float(number), "rejected_kind": "distractor"})
            stats["distractor_pairs"] += 1
    return records, stats


def token_diff(tokenizer: Any, record: dict[str, Any]) -> dict[str, Any]:
    """Where the tokenised chosen and rejected conversations differ (what DPO actually sees).

    Returns the common prefix and suffix lengths (in tokens) and the decoded differing middles. For a
    well-formed pair, the middles are the two numbers' texts (possibly with a neighbouring character
    when the tokenizer merges it into the number's token).
    """
    chosen = tokenizer.apply_chat_template(record["prompt"] + record["chosen"], tokenize=False)
    rejected = tokenizer.apply_chat_template(record["prompt"] + record["rejected"], tokenize=False)
    a = tokenizer(chosen, add_special_tokens=False)["input_ids"]
    b = tokenizer(rejected, add_special_tokens=False)["input_ids"]
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return {
        "prefix": prefix, "suffix": suffix, "chosen_len": len(a), "rejected_len": len(b),
        "chosen_middle": tokenizer.decode(a[prefix:len(a) - suffix]),
        "rejected_middle": tokenizer.decode(b[prefix:len(b) - suffix]),
    }


# --------------------------------------------------------------------------------------------------
# The stage


def pairs_fingerprint(config: PairsConfig, stage1: Path) -> str:
    """Fingerprint of the pairs: the parameters that decide them plus the stage-1 table's fingerprint."""
    payload = json.dumps({"config": config.fingerprint(exclude=("run_dir",)),
                          "stage1": artifacts.input_fingerprint(stage1)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@artifacts.holding_run_lock
def run(config: PairsConfig, *, progress: bool = True, force: bool = False) -> Path:
    """Stage 2: ``run_dir/pairs.jsonl``, ``pairs_heldout.jsonl`` and ``pairs_stats.json`` from the stage-1 table.

    Skips (and returns the existing path) when the pairs exist for the same parameters and the same
    stage-1 table, unless ``force``. Building them is cheap and written once: under several processes
    the main one builds while the others wait for it. ``progress`` is accepted for the stage contract
    (there is no progress bar).
    """
    main = distributed.is_main_process()
    out = _build(config, force=force) if main else artifacts.RunFolder(config.run_dir).pairs
    distributed.barrier()
    return out


def _build(config: PairsConfig, *, force: bool) -> Path:
    """Build and write the pairs of :func:`run` (one process)."""
    run = artifacts.RunFolder(config.run_dir)
    stage1 = run.require("stage1")
    out, stats_path = run.pairs, run.pairs_stats
    heldout = run.pairs_heldout  # the held-out questions' pairs: training monitors its loss on them
    fingerprint = pairs_fingerprint(config, stage1)
    if (not force and artifacts.is_done(out, fingerprint) and artifacts.is_done(stats_path, fingerprint)
            and artifacts.is_done(heldout, fingerprint)):
        return out
    table = pd.read_parquet(stage1)
    records, stats = build_pairs(table, config)
    heldout_records, heldout_stats = build_pairs(table, config, split="eval")
    record = artifacts.provenance(config.stage, config.to_dict(), fingerprint,
                                  inputs={"stage1": str(stage1), "stage1_fingerprint": artifacts.input_fingerprint(stage1)},
                                  stats=stats, heldout_stats=heldout_stats)
    artifacts.write_jsonl(heldout, heldout_records)
    artifacts.write_provenance(heldout, record)
    faults.checkpoint("pairs:before-write")
    artifacts.write_jsonl(out, records)
    artifacts.write_provenance(out, record)
    artifacts.write_json(stats_path, stats)
    artifacts.write_provenance(stats_path, record)
    return out


def load_pairs(run_dir: str | Path) -> list[dict[str, Any]]:
    """Read ``run_dir/pairs.jsonl`` (MissingArtifactError naming notebook 02 when absent)."""
    return artifacts.read_jsonl(artifacts.RunFolder(run_dir).require("pairs"))
