"""Shared-prefix key/value caching: compute the common start of all prompts once.

Every k-shot prompt starts with the same system turn and worked examples (about 200 of the ~250
tokens of a 3-shot prompt on SmolLM2's tokenizer). The longest common token prefix of a set of
prompts is run through the model once; each batch then starts from a copy of that cache and only
computes its own remainders. The remainders are left-padded *after* the prefix::

    [ prefix (shared, cached) ][ pad pad | question tokens ]

The attention mask hides the pads and the position ids count only real tokens, so every question
sees exactly the positions it would see alone. Batches are consecutive chunks of the prompts sorted by
length (:func:`length_order`, :func:`batches`), so a batch pads little.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

#: Prompts per generation / forward batch unless told otherwise (the default of ``ExtractConfig.batch_size``).
PROMPTS_PER_BATCH = 32


def length_order(lengths: list[int]) -> list[int]:
    """Indices that sort by length, longest first (so the first batch shows the worst-case memory).

    >>> length_order([3, 9, 5])
    [1, 2, 0]
    """
    return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))


def batches(indices: list[int], batch_size: int) -> list[list[int]]:
    """Consecutive chunks of ``batch_size``.

    >>> batches([4, 1, 0, 2, 3], 2)
    [[4, 1], [0, 2], [3]]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    return [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]


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

    def for_batch(self, batch_size: int, reserve: int = 0) -> Any:
        """A fresh cache holding the prefix for ``batch_size`` rows (``None`` without a prefix).

        ``reserve`` > 0 (the tokens still to come: remainder width + new tokens) makes every layer
        write into one buffer allocated at its first update, instead of concatenating a longer copy
        of the whole cache at every generated token (:class:`ReservedLayer`).
        """
        if self.cache is None:
            return None
        if shareable(self.cache):
            return expand_cache(self.cache, batch_size, reserve)
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(batch_size)
        return cache


def expand_cache(cache: Any, batch_size: int, reserve: int = 0) -> Any:
    """A shallow copy of a one-row :func:`shareable` cache whose layers read ``batch_size`` rows.

    Views, not copies: every row reads the same prefix tensors (``expand``), and the first update
    writes them into a new tensor, so the stored prefix is never written to. This saves a deep copy
    plus a ``batch_size``-fold repeat of the prefix per batch, and autograd sees the expansion: the
    gradient reaching the prefix is the sum over the rows.
    """
    out = copy.copy(cache)
    out.layers = [_expanded(layer, batch_size, reserve) for layer in cache.layers]
    return out


def shareable(cache: Any) -> bool:
    """Whether every layer of ``cache`` is a plain growing cache (``DynamicLayer``, updated by ``cat``)."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # pragma: no cover - older transformers
        return False
    layers = getattr(cache, "layers", None)
    return (type(cache) is DynamicCache and bool(layers)
            and all(type(layer) is DynamicLayer and layer.keys is not None for layer in layers))


def _expanded(layer: Any, batch_size: int, reserve: int = 0) -> Any:
    """A shallow copy of a one-row ``DynamicLayer`` whose keys/values are expanded to ``batch_size`` rows
    (a :class:`ReservedLayer` when ``reserve`` > 0)."""
    out = copy.copy(layer)
    if reserve > 0:
        out.__class__ = _reserved_layer_class()
        out.reserve = reserve
        out.buffers = None
    out.keys = layer.keys.expand(batch_size, *layer.keys.shape[1:])
    out.values = layer.values.expand(batch_size, *layer.values.shape[1:])
    return out


_RESERVED: Any = None


def _reserved_layer_class() -> Any:
    """:class:`ReservedLayer`, defined on first use (so importing this module does not import transformers)."""
    global _RESERVED
    if _RESERVED is None:
        from transformers.cache_utils import DynamicLayer

        class ReservedLayer(DynamicLayer):
            """A ``DynamicLayer`` that writes new keys/values into a preallocated buffer.

            ``DynamicLayer.update`` concatenates, copying the whole cache of the layer at every
            generated token (a quadratic amount of copying; ~30 % of CPU generation time with a
            250-token prompt). This layer allocates ``current + new + reserve`` positions once and
            writes each update in place; ``keys``/``values`` are views of the filled part, so the
            values the attention reads are exactly those a ``DynamicLayer`` would hold.
            """

            reserve: int = 0
            buffers: Any = None

            def update(self, key_states, value_states, *args, **kwargs):
                if not self.is_initialized:
                    self.lazy_initialization(key_states, value_states)
                n = self.get_seq_length()
                need = n + key_states.shape[-2]
                bufs = self.buffers
                if (bufs is None or need > bufs[0].shape[-2] or bufs[0].shape[0] != key_states.shape[0]
                        or (n and self.keys.data_ptr() != bufs[0].data_ptr())):
                    shape = (key_states.shape[0], key_states.shape[1], need + self.reserve, key_states.shape[-1])
                    bufs = (key_states.new_empty(shape), value_states.new_empty(value_states.shape[:2] + shape[2:]))
                    if n:
                        bufs[0][:, :, :n] = self.keys
                        bufs[1][:, :, :n] = self.values
                    self.buffers = bufs
                bufs[0][:, :, n:need] = key_states
                bufs[1][:, :, n:need] = value_states
                self.keys, self.values = bufs[0][:, :, :need], bufs[1][:, :, :need]
                return self.keys, self.values

            def reset(self) -> None:
                self.buffers = None
                super().reset()

        _RESERVED = ReservedLayer
    return _RESERVED


def pack_batch(remainders: list[list[int]], prefix_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pack remainders into one row after the prefix; return ``(ids, mask, position_ids, last)``.

    Instead of left-padding every remainder to the longest (:func:`pad_batch`), the remainders are
    laid end to end in a single row of ``T = sum(len(r))`` tokens, and a 4-D boolean mask
    ``(1, 1, T, prefix_len + T)`` lets token ``t`` of remainder ``s`` (which starts at column
    :math:`o_s` of the row) see key ``k`` iff

    .. math::

        k < P \\quad\\text{or}\\quad o_s \\le k - P \\le t, \\qquad P = \\text{prefix\\_len},

    i.e. the shared prefix and its own earlier tokens, never another remainder's. Its position id is
    :math:`P + t - o_s`, the position it would have alone. ``last`` holds each remainder's last column,
    the one whose logits predict what follows it. No token is padding, so none is computed in vain;
    the price is attention scores against every other remainder, masked out (cheap next to the
    matrix products while ``T`` stays a few hundred tokens).

    >>> ids, mask, pos, last = pack_batch([[7, 8], [9]], prefix_len=2)
    >>> ids.tolist(), pos.tolist(), last.tolist()
    ([[7, 8, 9]], [[2, 3, 2]], [1, 2])
    >>> mask[0, 0].int().tolist()
    [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 0, 0, 1]]
    """
    lengths = torch.tensor([len(r) for r in remainders], dtype=torch.long)
    if not len(lengths) or int(lengths.min()) < 1:
        raise ValueError("every remainder needs at least one token")
    total = int(lengths.sum())
    segment = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    starts = lengths.cumsum(0) - lengths
    columns = torch.arange(total)
    own = (segment[:, None] == segment[None, :]) & (columns[None, :] <= columns[:, None])
    mask = torch.cat([torch.ones((total, prefix_len), dtype=torch.bool), own], dim=1)[None, None]
    ids = torch.tensor([t for r in remainders for t in r], dtype=torch.long)[None]
    positions = (prefix_len + columns - starts[segment])[None]
    return ids, mask, positions, starts + lengths - 1


def packable(model: Any) -> bool:
    """Whether ``model``'s attention takes the custom 4-D mask of :func:`pack_batch` (``sdpa`` and
    ``eager`` do; flash-attention kernels take none)."""
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) in ("sdpa", "eager")


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
