"""Batched greedy generation of replies.

Prompts are sorted by length so that a batch holds prompts of similar length (less padding), padded
on the left, generated greedily, and the replies are put back into the original order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from dca.extract.prefix import PROMPTS_PER_BATCH, PrefixCache, batches, common_prefix_length, length_order, pad_batch

#: Reply length limit in tokens unless told otherwise (the default of ``ExtractConfig.max_new_tokens``):
#: the two-line reply needs about 10.
MAX_NEW_TOKENS = 16


@torch.inference_mode()
def generate_replies(model: Any, tokenizer: Any, prompts: list[str], *, batch_size: int = PROMPTS_PER_BATCH,
                     max_new_tokens: int = MAX_NEW_TOKENS, share_prefix: bool = True, progress: bool = True,
                     desc: str = "eliciting",
                     on_batch: Callable[[list[int], list[list[int]], torch.Tensor], None] | None = None,
                     keep_steps: int = 8) -> list[str]:
    """Greedy replies to rendered prompt texts, in the order of ``prompts``.

    Parameters
    ----------
    prompts : exact prompt texts (chat template already applied; no special tokens are added).
    max_new_tokens : the two-line reply needs about 10 tokens; 16 leaves room.
    share_prefix : compute the prompts' common token prefix once and reuse its key/value cache
        (:mod:`dca.extract.prefix`); the replies are the same as without it up to floating-point rounding.
    on_batch : called after each batch with the prompts' indices, the generated token ids of each
        row (pads after the end removed) and the next-token probabilities (softmax at temperature 1,
        float32) of the first ``keep_steps`` generated positions, ``(batch, steps, vocab)``. The
        extraction stage reads ``C_i`` from them instead of a second pass over the prompt.
    """
    if not prompts:
        return []
    device = next(model.parameters()).device
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    shared = common_prefix_length(encoded) if share_prefix else 0
    prefix = PrefixCache(model, encoded[0][:shared])
    order = length_order([len(e) for e in encoded])
    replies: list[str] = [""] * len(prompts)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for batch in tqdm(batches(order, batch_size), desc=desc, disable=not progress, unit="batch"):
        ids, mask, _ = pad_batch([encoded[i][shared:] for i in batch], shared, pad_id)
        full = torch.cat([torch.tensor([prefix.prefix_ids] * len(batch), dtype=torch.long).view(len(batch), shared), ids], 1)
        out = model.generate(
            input_ids=full.to(device), attention_mask=mask.to(device), past_key_values=prefix.for_batch(len(batch), reserve=ids.shape[1] + max_new_tokens),
            max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id,
            temperature=None, top_p=None, top_k=None,
            output_logits=on_batch is not None, return_dict_in_generate=True,
        )
        sequences = out.sequences  # (batch, shared + width + new)
        for row, i in enumerate(batch):
            replies[i] = tokenizer.decode(sequences[row, full.shape[1]:], skip_special_tokens=True).strip()
        if on_batch is not None:
            steps = out.logits[:keep_steps]  # tuple of (batch, vocab), one per generated position
            probs = torch.softmax(torch.stack(steps, dim=1).float(), dim=-1).cpu()
            generated = [_until_end(sequences[row, full.shape[1]:].tolist(), tokenizer, pad_id)
                         for row in range(len(batch))]
            on_batch(batch, generated, probs)
    return replies


def _until_end(ids: list[int], tokenizer: Any, pad_id: int) -> list[int]:
    """Generated ids up to and including the first end-of-sequence token (the padding after it dropped)."""
    ends = {t for t in (tokenizer.eos_token_id, pad_id) if t is not None}
    for k, t in enumerate(ids):
        if t in ends:
            return ids[:k + 1]
    return ids
