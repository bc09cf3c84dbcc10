"""The training data: the pairs as TRL's datasets (preference pairs for DPO, prompt and completion for
SFT), the pairs of a fraction of the questions, the held-out pairs, and the number of optimiser steps.

With ``loss_tokens="number"`` the datasets are rendered to text and the start every reply of a pair
shares (``"Answer: B\\nProbability:"``) moves into the prompt (:func:`number_only`), so a loss sees only
the stated number onwards.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dca.runs import artifacts
from dca.train.config import TrainConfig


def pairs_dataset(records: list[dict[str, Any]], tokenizer: Any = None, loss_tokens: str = "reply"):
    """A ``datasets.Dataset`` of the preference columns TRL reads: conversational, or with
    ``loss_tokens="number"`` the text records of :func:`number_only` (which needs the ``tokenizer``)."""
    from datasets import Dataset

    if not records:
        raise ValueError("pairs.jsonl holds no pairs: nothing to train on (see pairs_stats.json for why)")
    rows = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in records]
    if loss_tokens == "number":
        rows = [number_only(r, tokenizer) for r in rows]
    return Dataset.from_list(rows)


def number_start(chosen: str, rejected: str) -> int:
    """Where the stated number starts in a pair's replies: the end of the text both replies share, moved
    back over the digits and point of a number both begin with and over the whitespace before it.

    Everything before it is the same in the chosen and the rejected reply (for DCA's pairs: the answer
    letter and the ``Probability:`` label), so a preference loss cancels it anyway; a likelihood term
    (SFT, RPO) would train it, and with it the answer letter's probability, which is the internal
    confidence C_i the pairs target.

    >>> number_start("Answer: B\\nProbability: 95%", "Answer: B\\nProbability: 90%")
    22
    >>> "Answer: B\\nProbability: 95%"[:22]
    'Answer: B\\nProbability:'
    >>> number_start("Answer: B\\nProbability: 0.37", "Answer: B\\nProbability: 0.8")
    22
    """
    same = 0
    while same < min(len(chosen), len(rejected)) and chosen[same] == rejected[same]:
        same += 1
    while same and (chosen[same - 1].isdigit() or chosen[same - 1] == "."):
        same -= 1
    while same and chosen[same - 1].isspace():
        same -= 1
    return same


def number_only(row: dict[str, Any], tokenizer: Any) -> dict[str, str]:
    """A conversational pair as text, with the replies' shared start moved into the prompt.

    ``prompt`` is the chat template's rendering of the prompt turns with the assistant's turn opened,
    plus the reply up to :func:`number_start`; ``chosen`` and ``rejected`` are the rest of each reply as
    the template renders it, up to and including the end-of-sequence token (TRL appends that token to a
    text completion that does not end with it). Prompt + chosen is the same text as the conversational
    pair's, so the model trains on the same sequence; only the tokens the loss sees change.

    Raises ``ValueError`` when the template renders a reply's turn differently from the opened turn
    followed by the reply (such a template cannot split a reply this way).
    """
    (chosen,), (rejected,) = row["chosen"], row["rejected"]
    head = chosen["content"][: number_start(chosen["content"], rejected["content"])]
    prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True) + head
    eos = tokenizer.eos_token or ""
    tails = {}
    for side, reply in (("chosen", chosen), ("rejected", rejected)):
        full = tokenizer.apply_chat_template(row["prompt"] + [reply], tokenize=False)
        if not full.startswith(prompt):
            raise ValueError("loss_tokens='number': the chat template does not render the reply's turn as the "
                             f"opened turn followed by the reply, so the reply cannot be split; prompt {prompt!r}, "
                             f"rendered {full!r}. Use loss_tokens='reply'.")
        tail = full[len(prompt):]
        tails[side] = tail[: tail.rindex(eos) + len(eos)] if eos and eos in tail else tail
    return {"prompt": prompt, **tails}


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


def sft_dataset(records: list[dict[str, Any]], tokenizer: Any = None, loss_tokens: str = "reply"):
    """The SFT baseline's data: each pair's prompt and its *chosen* reply as the completion (with
    ``loss_tokens="number"``, the text prompt and chosen completion of :func:`number_only`)."""
    from datasets import Dataset

    rows = [number_only(r, tokenizer) for r in records] if loss_tokens == "number" else records
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in rows])


def heldout_records(config: TrainConfig, run_dir: Path) -> list[dict[str, Any]]:
    """The first ``heldout_pairs`` held-out pairs (DPO only; none when off or not built)."""
    path = artifacts.RunFolder(run_dir).pairs_heldout
    if config.method != "dpo" or config.heldout_pairs == 0 or not path.exists():
        return []
    return artifacts.read_jsonl(path)[: config.heldout_pairs]
