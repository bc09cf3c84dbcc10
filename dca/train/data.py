"""The training data: the pairs as TRL's datasets (preference pairs for DPO, prompt and completion for
SFT), the pairs of a fraction of the questions, the held-out pairs, and the number of optimiser steps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dca.runs import artifacts
from dca.train.config import TrainConfig


def pairs_dataset(records: list[dict[str, Any]]):
    """A ``datasets.Dataset`` of the conversational preference columns TRL reads."""
    from datasets import Dataset

    if not records:
        raise ValueError("pairs.jsonl holds no pairs: nothing to train on (see pairs_stats.json for why)")
    return Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in records])


def total_steps(config: TrainConfig, n_pairs: int, world_size: int = 1) -> int:
    """Optimiser steps of a run: ``max_steps``, or ``ceil(epochs * ceil(n / (batch * processes)) / accum)``.

    >>> total_steps(TrainConfig(batch_size=4), 94)
    24
    """
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = math.ceil(n_pairs / (config.batch_size * world_size))
    return max(1, math.ceil(config.epochs * per_epoch / config.grad_accum))


def subset_by_question(records: list[dict[str, Any]], fraction: float, seed: int) -> list[dict[str, Any]]:
    """The pairs of a seeded ``fraction`` of the questions (``ceil(fraction * questions)`` of them),
    every pair of a chosen question kept, in their order; all of them when ``fraction`` is 1.

    >>> recs = [{"id": i} for i in "aabcd"]
    >>> [r["id"] for r in subset_by_question(recs, 0.5, seed=2)]
    ['a', 'a', 'd']
    """
    if fraction >= 1.0:
        return records
    import random

    ids = sorted({str(r["id"]) for r in records})
    keep = set(random.Random(seed).sample(ids, math.ceil(fraction * len(ids))))
    return [r for r in records if str(r["id"]) in keep]


def sft_dataset(records: list[dict[str, Any]]):
    """The SFT baseline's data: each pair's prompt and its *chosen* reply as the completion."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in records])


def heldout_records(config: TrainConfig, run_dir: Path) -> list[dict[str, Any]]:
    """The first ``heldout_pairs`` held-out pairs (DPO only; none when off or not built)."""
    path = artifacts.RunFolder(run_dir).pairs_heldout
    if config.method != "dpo" or config.heldout_pairs == 0 or not path.exists():
        return []
    return artifacts.read_jsonl(path)[: config.heldout_pairs]
