"""Shared-prefix DPO forward: run the start common to a whole batch once.

A DPO batch of :math:`B` pairs is :math:`2B` sequences (TRL's collator: the :math:`B` prompts +
chosen replies, then the same prompts + rejected replies), right-padded to length :math:`L`. With
k-shot prompts every sequence starts with the same system turn and worked examples (about 200 of
the ~260 tokens of a 3-shot pair on SmolLM2's tokenizer), and TRL runs all of them, for the policy
and again for the reference, at every step. This forward instead runs the common prefix of length
:math:`P` once, in one row, and the :math:`2B` remainders on top of its key/value cache::

    [ prefix: 1 row, computed once ][ remainder of row i (question + reply), right-padded ]

The cache is handed to the remainders as expanded views (:func:`dca.prefix.expand_cache`), so
autograd sums the rows' gradients into the one prefix computation: the loss and its gradient are
those of the full forward, up to float rounding (a test compares both). One difference remains
with LoRA dropout: the prefix positions draw one dropout mask for the whole batch instead of one
per row (each row's dropout is still unbiased; the noise is correlated across the batch). Tokens through the model
per forward fall from :math:`2BL` to

.. math::

    P + 2B\\,(L - P),

e.g. 200 + 8 x 60 = 680 instead of 8 x 260 = 2080 for 4 pairs of 3-shot prompts.

The wrapper sits on top of TRL's fused LM-head forward (``trl.trainer.utils.add_fused_lm_head``,
installed by ``DPOTrainer``), calls it on the remainders, and pads its per-token outputs back to
:math:`L - 1` columns with zeros at the prefix positions, where every label is ``-100`` anyway, so
``DPOTrainer`` sees the outputs it expects. It steps aside (the full forward runs) when there is no
prefix worth sharing (under :data:`MIN_PREFIX` tokens, a single row, a label inside the common
start), when gradient checkpointing is active (it drops any cache) and when the model's cache is
not a plain growing one (e.g. sliding-window layers).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch

from dca.prefix import expand_cache, shareable

#: Shortest common prefix (tokens) worth a separate forward.
MIN_PREFIX = 16

#: The keyword arguments the shared path passes on; any other one that is not ``None`` runs the full forward.
_KNOWN_KWARGS = frozenset({"input_ids", "attention_mask", "use_cache"})


def shared_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> int:
    """Columns every row shares and that predict no label: the prefix that can be run once.

    The prefix holds the leading columns where all rows have the same token, no padding and label
    ``-100``, and stops one column before the first label, because the last prefix position
    predicts the first remainder token.

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


def _checkpointing(model: Any) -> bool:
    """Whether activation checkpointing is on in any module (it drops key/value caches in training)."""
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def _padded(x: torch.Tensor | None, prefix: int) -> torch.Tensor | None:
    """``x`` with ``prefix`` zero (``False``) columns in front."""
    if x is None:
        return None
    return torch.cat([x.new_zeros((x.shape[0], prefix)), x], dim=1)


def install(model: Any, min_prefix: int = MIN_PREFIX) -> Any:
    """Wrap ``model.forward`` (a causal LM already patched by TRL's ``add_fused_lm_head``) with the
    shared-prefix forward; return ``model``.

    Only calls with ``fused_lm_head=True`` and ``labels`` (DPOTrainer's policy and reference passes)
    take the shared path; generation and every other call reach TRL's forward unchanged. The
    attribute ``model.dca_shared_prefix_calls`` counts the calls that took the shared path.
    """
    inner = model.forward
    model.dca_shared_prefix_calls = 0
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
        input_ids, attention_mask = kwargs["input_ids"], kwargs["attention_mask"]
        rows = input_ids.shape[0]
        prefix = shared_prefix_length(input_ids, attention_mask, labels)
        if rows < 2 or prefix < min_prefix:
            return full()
        head = self.base_model(input_ids=input_ids[:1, :prefix], attention_mask=attention_mask[:1, :prefix],
                               use_cache=True)
        cache = head.past_key_values
        if cache is None or not shareable(cache):
            self.dca_shared_prefix_ok = False  # e.g. sliding-window layers: full forwards from now on
            return full()
        length = input_ids.shape[1]
        positions = torch.arange(prefix, length, device=input_ids.device).unsqueeze(0).expand(rows, -1)
        out = inner(input_ids=input_ids[:, prefix:], attention_mask=attention_mask, position_ids=positions,
                    past_key_values=expand_cache(cache, rows), labels=labels[:, prefix:],
                    fused_lm_head=True, use_cache=False)
        self.dca_shared_prefix_calls += 1
        fields = {name: (_padded(value, prefix) if name != "loss" and name != "aux_loss"
                         and isinstance(value, torch.Tensor) else value)
                  for name, value in out.items()}
        return type(out)(**fields)

    model.forward = types.MethodType(forward, model)
    return model
