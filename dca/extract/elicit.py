"""Batched greedy generation of replies.

Prompts are sorted by length so that a batch holds prompts of similar length (less padding), padded
on the left, generated greedily, and the replies are put back into the original order. A row stops
as soon as its reply is complete (:func:`dca.extract.parsing.reply_complete`: the answer letter and
the confidence with its percent sign are written), so a reply that runs on after its confidence line
does not run to ``max_new_tokens``; what the parsers read from it is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from dca.extract.parsing import reply_complete
from dca.extract.prefix import PROMPTS_PER_BATCH, PrefixCache, batches, common_prefix_length, length_order, pad_batch

#: Reply length limit in tokens unless told otherwise (the default of ``ExtractConfig.max_new_tokens``):
#: the two-line reply needs about 10.
MAX_NEW_TOKENS = 16


@torch.inference_mode()
def generate_replies(model: Any, tokenizer: Any, prompts: list[str], *, batch_size: int = PROMPTS_PER_BATCH,
                     max_new_tokens: int = MAX_NEW_TOKENS, share_prefix: bool = True, progress: bool = True,
                     desc: str = "eliciting",
                     on_batch: Callable[[list[int], list[list[int]], torch.Tensor], None] | None = None,
                     keep_steps: int = 8, stop_when_complete: bool = True, heads: list[str] | None = None,
                     strip: bool = True) -> list[str]:
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
    stop_when_complete : end a row once its reply is complete (:func:`~dca.extract.parsing.reply_complete`).
    heads : reply text each prompt already ends with (a prompt that continues a reply), read together
        with the generated text by the stop rule; ``None``: no such text.
    strip : strip whitespace around each generated reply.
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
    heads = heads if heads is not None else [""] * len(prompts)
    for batch in tqdm(batches(order, batch_size), desc=desc, disable=not progress, unit="batch"):
        ids, mask, _ = pad_batch([encoded[i][shared:] for i in batch], shared, pad_id)
        full = torch.cat([torch.tensor([prefix.prefix_ids] * len(batch), dtype=torch.long).view(len(batch), shared), ids], 1)
        out = model.generate(
            input_ids=full.to(device), attention_mask=mask.to(device), past_key_values=prefix.for_batch(len(batch), reserve=ids.shape[1] + max_new_tokens),
            max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id,
            temperature=None, top_p=None, top_k=None,
            output_logits=on_batch is not None, return_dict_in_generate=True,
            stopping_criteria=[ReplyComplete(tokenizer, full.shape[1], [heads[i] for i in batch])]
            if stop_when_complete else None,
        )
        sequences = out.sequences  # (batch, shared + width + new)
        for row, i in enumerate(batch):
            reply = tokenizer.decode(sequences[row, full.shape[1]:], skip_special_tokens=True)
            replies[i] = reply.strip() if strip else reply
        if on_batch is not None:
            steps = out.logits[:keep_steps]  # tuple of (batch, vocab), one per generated position
            probs = torch.softmax(torch.stack(steps, dim=1).float(), dim=-1).cpu()
            generated = [_until_end(sequences[row, full.shape[1]:].tolist(), tokenizer, pad_id)
                         for row in range(len(batch))]
            on_batch(batch, generated, probs)
    return replies


class ReplyComplete:
    """Stopping criterion of ``generate``: a row is done once ``head + generated text`` is a complete reply.

    ``start`` is the column where generation began; ``heads`` the reply text each row's prompt
    already ends with. Decoding a row's few generated tokens at each step costs far less than the
    step's forward pass. (A plain callable: ``generate`` calls each criterion with the ids and the
    scores, so transformers need not be imported with this module.)
    """

    def __init__(self, tokenizer: Any, start: int, heads: list[str]) -> None:
        self.tokenizer, self.start, self.heads = tokenizer, start, heads

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = [reply_complete(head + self.tokenizer.decode(row[self.start:], skip_special_tokens=True))
                for head, row in zip(self.heads, input_ids)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _until_end(ids: list[int], tokenizer: Any, pad_id: int) -> list[int]:
    """Generated ids up to and including the first end-of-sequence token (the padding after it dropped)."""
    ends = {t for t in (tokenizer.eos_token_id, pad_id) if t is not None}
    for k, t in enumerate(ids):
        if t in ends:
            return ids[:k + 1]
    return ids
