"""Shared-prefix key/value caching: compute the common start of all prompts once.

Every k-shot prompt starts with the same system turn and worked examples (about 200 of the ~250
tokens of a 3-shot prompt on SmolLM2's tokenizer). The longest common token prefix of a set of
prompts is run through the model once; each batch then starts from a copy of that cache and only
computes its own remainders. The remainders are left-padded *after* the prefix::

    [ prefix (shared, cached) ][ pad pad | question tokens ]

The attention mask hides the pads and the position ids count only real tokens, so every question
sees exactly the positions it would see alone.
"""

from __future__ import annotations

import copy
from typing import Any

import torch


def common_prefix_length(sequences: list[list[int]], keep: int = 1) -> int:
    """Length of the longest common prefix, leaving at least ``keep`` tokens in every sequence.

    >>> common_prefix_length([[1, 2, 3, 4], [1, 2, 5]])
    2
    >>> common_prefix_length([[1, 2], [1, 2]])
    1
    >>> common_prefix_length([])
    0
    """
    if not sequences:
        return 0
    first = sequences[0]
    n = min(len(s) for s in sequences) - keep
    n = max(n, 0)
    for s in sequences[1:]:
        j = 0
        while j < n and s[j] == first[j]:
            j += 1
        n = j
    return n


class PrefixCache:
    """The key/value cache of a shared token prefix, copied out per batch."""

    def __init__(self, model: Any, prefix_ids: list[int]):
        self.model = model
        self.prefix_ids = list(prefix_ids)
        self.device = next(model.parameters()).device
        self.cache = None
        if self.prefix_ids:
            with torch.inference_mode():
                ids = torch.tensor([self.prefix_ids], device=self.device)
                self.cache = model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values

    def __len__(self) -> int:
        return len(self.prefix_ids)

    def for_batch(self, batch_size: int) -> Any:
        """A fresh cache holding the prefix for ``batch_size`` rows (``None`` without a prefix)."""
        if self.cache is None:
            return None
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(batch_size)
        return cache


def pad_batch(remainders: list[list[int]], prefix_len: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad remainders; return ``(ids, attention_mask, position_ids)`` for the remainder part.

    ``attention_mask`` covers prefix + remainder (``(batch, prefix_len + width)``); ``ids`` and
    ``position_ids`` cover the remainder only (``(batch, width)``).

    >>> ids, mask, pos = pad_batch([[7, 8], [9]], prefix_len=3, pad_id=0)
    >>> ids.tolist(), mask.tolist(), pos.tolist()
    ([[7, 8], [0, 9]], [[1, 1, 1, 1, 1], [1, 1, 1, 0, 1]], [[3, 4], [2, 3]])
    """
    width = max(len(r) for r in remainders)
    batch = len(remainders)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    rem_mask = torch.zeros((batch, width), dtype=torch.long)
    for row, seq in enumerate(remainders):
        ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        rem_mask[row, width - len(seq):] = 1
    mask = torch.cat([torch.ones((batch, prefix_len), dtype=torch.long), rem_mask], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
    return ids, mask, positions
