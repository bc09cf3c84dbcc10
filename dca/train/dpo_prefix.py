"""Shared-prefix DPO forward: compute each prompt token once per batch, not once per sequence.

A DPO batch of :math:`B` pairs is :math:`2B` sequences (TRL's collator: the :math:`B` prompts +
chosen replies, then the same prompts + rejected replies), right-padded to length :math:`L`. With
k-shot prompts every sequence starts with the same system turn and worked examples (207 of the ~261
tokens of a 3-shot pair on SmolLM2's tokenizer), and the chosen and rejected sequence of a pair
share their whole prompt. TRL runs all :math:`2B` sequences whole, for the policy and again for the
reference, at every step. This forward runs the batch as a tree, in three stages on one key/value
cache::

    stage 1: [ prefix common to the batch ]                       1 row,   P tokens
    stage 2:                               [ rest of prompt i ]    B rows,  Q_i tokens
    stage 3:                                                   [ reply i, chosen | rejected ]  2B rows

Stage 1's cache is handed to stage 2 as expanded views (:func:`dca.extract.prefix.expand_cache`) and stage
2's to both sequences of each pair (concatenated twice), so autograd sums the rows' gradients into
the one computation of each shared token: the loss and its gradient are those of the full forward,
up to float rounding (a test compares both). Tokens through the model per forward fall from
:math:`2BL` to

.. math::

    P + \\sum_{i=1}^{B} Q_i + \\sum_{i=1}^{2B} R_i,

e.g. 207 + 4 x 41 + 8 x 14 = 483 instead of 8 x 261 = 2088 for 4 pairs of 3-shot prompts (stage 3
starts at the last prompt token, whose output predicts the first reply token). One difference
remains with LoRA dropout: a shared token draws one dropout mask for all the rows that share it
instead of one per row (each row's dropout is still unbiased; the noise is correlated).

The wrapper sits on top of TRL's fused LM-head forward (``trl.trainer.utils.add_fused_lm_head``,
installed by ``DPOTrainer``), calls it for stage 3, and scatters its per-token outputs back to the
:math:`L - 1` columns ``DPOTrainer`` expects, with zeros where the label is ``-100`` anyway. It steps
aside (the full forward runs) when sharing would save under :data:`MIN_SAVED` tokens, for a batch
that is not right-padded, when gradient checkpointing is active (it drops any cache) and when the
model's cache is not a plain growing one (e.g. sliding-window layers).
"""

from __future__ import annotations

import copy
import functools
import types
from typing import Any

import torch

from dca.extract.prefix import expand_cache, shareable

#: Fewest tokens the shared path must save over the full forward to be taken.
MIN_SAVED = 64

#: The keyword arguments the shared path passes on; any other one that is not ``None`` runs the full forward.
_KNOWN_KWARGS = frozenset({"input_ids", "attention_mask", "use_cache"})


def shared_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> int:
    """Columns every row shares and that predict no label: the prefix that can be run once.

    The prefix holds the leading columns where all rows have the same token, no padding and label
    ``-100``, and stops one column before the first label, because the last prefix position
    predicts the first token after it.

    >>> ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 4, 0]])
    >>> mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    >>> labels = torch.tensor([[-100, -100, -100, 8, 9], [-100, -100, -100, 4, -100]])
    >>> shared_prefix_length(ids, mask, labels)  # column 2 predicts the first label, at column 3
    2
    >>> shared_prefix_length(ids, mask, torch.tensor([[-100, -100, 7, 8, 9], [-100, -100, 7, 4, -100]]))
    1
    """
    if input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        return 0
    unlabelled = (labels == -100).all(dim=0)
    same = (input_ids == input_ids[:1]).all(dim=0) & (attention_mask == 1).all(dim=0) & unlabelled
    common = int(same.long().cumprod(dim=0).sum())
    before_first_label = int(unlabelled.long().cumprod(dim=0).sum())
    return max(0, min(common, before_first_label - 1))


def pair_prompt_ends(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                     prefix: int = 0) -> torch.Tensor | None:
    """Where the part that row ``i`` shares with row ``i + B`` ends (exclusive), for each pair ``i``.

    DPOTrainer's batches hold the chosen sequences in rows ``0..B-1`` and the rejected ones in rows
    ``B..2B-1``; a pair shares its prompt. The shared part has equal tokens, no padding and no label
    in both rows, and stops one column before the first label; it is at least ``prefix`` long.
    ``None`` for an odd number of rows.

    >>> ids = torch.tensor([[1, 2, 3, 4], [1, 5, 6, 7], [1, 2, 3, 8], [1, 5, 9, 9]])
    >>> labels = torch.tensor([[-100, -100, -100, 4], [-100, -100, 6, 7],
    ...                        [-100, -100, -100, 8], [-100, -100, 9, 9]])
    >>> pair_prompt_ends(ids, torch.ones_like(ids), labels, prefix=1).tolist()
    [2, 1]
    """
    rows = input_ids.shape[0]
    if rows % 2:
        return None
    half = rows // 2
    unlabelled = (labels[:half] == -100) & (labels[half:] == -100)
    same = (input_ids[:half] == input_ids[half:]) & (attention_mask[:half] == 1) & (attention_mask[half:] == 1)
    common = (same & unlabelled).long().cumprod(dim=1).sum(dim=1)
    before_first_label = unlabelled.long().cumprod(dim=1).sum(dim=1)
    return torch.minimum(common, before_first_label - 1).clamp(min=prefix)


def _checkpointing(model: Any) -> bool:
    """Whether activation checkpointing is on in any module (it drops key/value caches in training)."""
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def _twice(cache: Any) -> Any:
    """A shallow copy of a :func:`shareable` cache whose rows are its own rows followed by them again."""
    out = copy.copy(cache)
    out.layers = []
    for layer in cache.layers:
        twin = copy.copy(layer)
        twin.keys = torch.cat([layer.keys, layer.keys])
        twin.values = torch.cat([layer.values, layer.values])
        out.layers.append(twin)
    return out


def install(model: Any, min_saved: int = MIN_SAVED) -> Any:
    """Wrap ``model.forward`` (a causal LM already patched by TRL's ``add_fused_lm_head``) with the
    shared-prefix forward; return ``model``.

    Only calls with ``fused_lm_head=True`` and ``labels`` (DPOTrainer's policy and reference passes)
    take the shared path; generation and every other call reach TRL's forward unchanged. Counters on
    ``model``: ``dca_shared_prefix_calls`` (calls that took the shared path), ``dca_tokens_full`` (real
    tokens of those calls' sequences, what the full forward runs) and ``dca_tokens_run`` (tokens the
    shared path ran). Setting ``model.dca_shared_prefix_ok = False`` turns the shared path off.
    """
    inner = model.forward
    model.dca_shared_prefix_calls = 0
    model.dca_tokens_full = 0
    model.dca_tokens_run = 0
    model.dca_shared_prefix_ok = True

    @functools.wraps(type(model).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, **kwargs):
        def full():
            return inner(*args, fused_lm_head=fused_lm_head, labels=labels, **kwargs)

        unknown = [k for k, v in kwargs.items() if k not in _KNOWN_KWARGS and v is not None]  # PEFT passes Nones
        if (args or not fused_lm_head or labels is None or not self.dca_shared_prefix_ok
                or unknown or kwargs.get("attention_mask") is None or kwargs.get("input_ids") is None
                or (self.training and torch.is_grad_enabled() and _checkpointing(self))):
            return full()
        out = _tree_forward(self, inner, kwargs["input_ids"], kwargs["attention_mask"], labels, min_saved)
        if out is None:
            return full()
        self.dca_shared_prefix_calls += 1
        return out

    model.forward = types.MethodType(forward, model)
    return model


def _tree_forward(model: Any, inner: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  labels: torch.Tensor, min_saved: int) -> Any:
    """The three-stage forward of the module docstring; ``None`` where the full forward must run."""
    rows, length = input_ids.shape
    device = input_ids.device
    columns = torch.arange(length, device=device)
    lengths = attention_mask.sum(dim=1)
    if rows < 2 or not torch.equal(attention_mask.bool(), columns < lengths[:, None]):
        return None  # one row, or not right-padded
    prefix = shared_prefix_length(input_ids, attention_mask, labels)
    ends = pair_prompt_ends(input_ids, attention_mask, labels, prefix)
    half = rows // 2
    pair_shared = int((ends - prefix).sum()) if ends is not None else 0  # prompt tokens a pair runs once
    paired = pair_shared > 0
    saved = (rows - 1) * prefix + pair_shared  # tokens not run again
    if saved < min_saved or (prefix == 0 and (not paired or int(ends.min()) == 0)):
        return None  # (a row with no token before stage 3 and nothing cached would attend to nothing)
    total = int(lengths.sum())

    cache = None
    if prefix:
        cache = model.base_model(input_ids=input_ids[:1, :prefix], attention_mask=attention_mask[:1, :prefix],
                                 use_cache=True).past_key_values
        if cache is None or not shareable(cache):
            model.dca_shared_prefix_ok = False  # e.g. sliding-window layers: full forwards from now on
            return None
    if paired:
        width = int((ends - prefix).max())
        prompt_cols = prefix + torch.arange(width, device=device)
        prompt_mask = torch.cat([attention_mask.new_ones((half, prefix)),
                                 (prompt_cols < ends[:, None]).to(attention_mask.dtype)], dim=1)
        if cache is None:
            from transformers import DynamicCache

            cache = DynamicCache(config=model.config)
        else:
            cache = expand_cache(cache, half)
        cache = model.base_model(input_ids=input_ids[:half, prefix:prefix + width], attention_mask=prompt_mask,
                                 position_ids=prompt_cols.expand(half, -1), past_key_values=cache,
                                 use_cache=True).past_key_values
        if not shareable(cache):
            model.dca_shared_prefix_ok = False
            return None
        cache, past_mask, starts = _twice(cache), torch.cat([prompt_mask, prompt_mask]), torch.cat([ends, ends])
    else:
        cache = expand_cache(cache, rows)
        past_mask = attention_mask.new_ones((rows, prefix))
        starts = torch.full((rows,), prefix, device=device, dtype=lengths.dtype)

    width = int((lengths - starts).max())
    cols = starts[:, None] + torch.arange(width, device=device)
    real = cols < lengths[:, None]
    cols = cols.clamp(max=length - 1)
    out = inner(input_ids=input_ids.gather(1, cols), attention_mask=torch.cat([past_mask, real.long()], dim=1),
                position_ids=cols, past_key_values=cache, labels=labels.gather(1, cols).masked_fill(~real, -100),
                fused_lm_head=True, use_cache=False)
    # out's column j (of width - 1) predicts the token at cols[:, j + 1], from the output at column
    # starts + j: put it in column starts + j of the full (length - 1)-column layout
    produced = real[:, 1:]
    target = (columns[None, :-1] >= starts[:, None]) & (columns[None, :-1] < lengths[:, None] - 1)

    def scattered(x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((rows, length - 1)).masked_scatter(target, x[produced])

    fields = {name: scattered(value) if isinstance(value, torch.Tensor) and value.dim() == 2 else value
              for name, value in out.items()}
    model.dca_tokens_full += total
    model.dca_tokens_run += total - saved
    return type(out)(**fields)
