"""Internal confidence ``C_i``: the probability the model gives the answer letter it emits.

For a reply such as ``"Answer: B\\nProbability: 80%"`` the letter is emitted after the context
``prompt + "Answer:"``. One forward pass over that context gives the next-token distribution

.. math::

    p(t \\mid \\text{context}) = \\operatorname{softmax}(z)_t, \\qquad z \\in \\mathbb{R}^{|V|}

(temperature 1), and

.. math::

    C_i = 100\\, p(\\ell \\mid \\text{context}), \\qquad
    C_i^{\\text{norm}} = 100\\, \\frac{p(\\ell \\mid \\text{context})}{\\sum_{o \\in O} p(o \\mid \\text{context})}

where :math:`\\ell` is the emitted letter's token and :math:`O` the tokens of the question's own option
letters. Which token a letter is (``"B"`` or ``" B"``) depends on the tokenizer and on the text
before it; it is found by tokenizing the context with each letter appended, never hard-coded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from dca.extract.prefix import (
    PROMPTS_PER_BATCH,
    PrefixCache,
    batches,
    common_prefix_length,
    length_order,
    pack_batch,
    packable,
    pad_batch,
)


class LetterTokenError(ValueError):
    """A letter does not form one token after the context, so its probability is not defined."""


@dataclass(frozen=True)
class LetterQuery:
    """What to score: the context before the letter, the emitted letter, the question's letters."""

    context: str
    letter: str
    options: tuple[str, ...]


def query_from_reply(prompt: str, reply: str, letter_start: int, letter: str,
                     options: tuple[str, ...]) -> LetterQuery:
    """The :class:`LetterQuery` for a reply whose letter starts at character ``letter_start``."""
    return LetterQuery(context=prompt + reply[:letter_start], letter=letter, options=tuple(options))


def letter_token_ids(tokenizer: Any, context: str, options: tuple[str, ...]) -> tuple[list[int], dict[str, int]]:
    """Token ids of the context (trailing spaces moved into the letter) and of each option letter.

    Trailing spaces of the context belong to the letter's token in most tokenizers (``"Answer:" + " B"``),
    so they are stripped from the context and prepended to the letter.

    Returns
    -------
    context_ids, {letter: token_id}
    """
    stripped = context.rstrip(" ")
    spaces = context[len(stripped):]
    ctx_ids = tokenizer(stripped, add_special_tokens=False)["input_ids"]
    ids: dict[str, int] = {}
    for option in options:
        full = tokenizer(stripped + spaces + option, add_special_tokens=False)["input_ids"]
        if full[: len(ctx_ids)] != ctx_ids or len(full) != len(ctx_ids) + 1:
            # Fall back to the letter's token as tokenized on its own, with its spaces.
            alone = tokenizer(spaces + option, add_special_tokens=False)["input_ids"]
            if len(alone) != 1:
                raise LetterTokenError(f"letter {option!r} after {stripped[-20:]!r} is not a single token")
            ids[option] = alone[0]
        else:
            ids[option] = full[-1]
    return ctx_ids, ids


@dataclass(frozen=True)
class InternalConfidence:
    """``c_i`` and ``c_i_norm`` in percent, NaN when the letter could not be scored (``reason``)."""

    c_i: float
    c_i_norm: float
    reason: str = "ok"


def confidence_from_generation(tokenizer: Any, query: LetterQuery, reply_prefix: str, generated: list[int],
                               step_probs: torch.Tensor) -> InternalConfidence | None:
    """``C_i`` read from the generation pass itself, or None when it cannot be (then score separately).

    ``generated`` holds the reply's token ids and ``step_probs`` (``(steps, vocab)``) the next-token
    probabilities at each generated position. The letter's probability is the one at the position
    where it was generated, provided the generated tokens before it are exactly the tokens the
    separate pass would feed (``reply_prefix``, the reply up to the letter, tokenized after the prompt)
    and the letter was generated as its own token: then both ways compute the same conditional
    probability, and one prefill per question suffices.
    """
    try:
        ctx_ids, ids = letter_token_ids(tokenizer, query.context, query.options)
    except LetterTokenError:
        return None
    stripped = reply_prefix.rstrip(" ")
    before = tokenizer(stripped, add_special_tokens=False)["input_ids"] if stripped else []
    step = len(before)
    if (step >= step_probs.shape[0] or step >= len(generated) or generated[:step] != before
            or generated[step] != ids[query.letter] or ctx_ids[len(ctx_ids) - step:] != before):
        return None
    probs = step_probs[step]
    p = probs[ids[query.letter]].item()
    total = probs[[ids[o] for o in query.options]].sum().item()
    return InternalConfidence(100.0 * p, 100.0 * p / total if total > 0 else math.nan)


@torch.inference_mode()
def internal_confidence(model: Any, tokenizer: Any, queries: list[LetterQuery | None], *,
                        batch_size: int = PROMPTS_PER_BATCH, share_prefix: bool = True, pack: bool = True,
                        progress: bool = True) -> list[InternalConfidence]:
    """``C_i`` and ``C_i^norm`` for each query, from batched forward passes (``None`` -> NaN).

    Contexts are sorted by length and taken ``batch_size`` at a time. With ``share_prefix`` the
    contexts' common token prefix is computed once (:mod:`dca.extract.prefix`). With ``pack`` (and an
    attention implementation that takes a 4-D mask: ``sdpa`` or ``eager``) each batch's remainders
    run end to end in one row with a block mask (:func:`dca.extract.prefix.pack_batch`): no padding token is
    computed. Otherwise they are left-padded (:func:`dca.extract.prefix.pad_batch`). Either way every context
    sees exactly its own tokens at their own positions, so the result equals a one-at-a-time
    computation up to floating-point rounding.
    """
    results: list[InternalConfidence] = [InternalConfidence(math.nan, math.nan, "no_letter")] * len(queries)
    prepared: dict[int, tuple[list[int], int, list[int]]] = {}
    for i, q in enumerate(queries):
        if q is None:
            continue
        try:
            ctx_ids, ids = letter_token_ids(tokenizer, q.context, q.options)
        except LetterTokenError as err:
            results[i] = InternalConfidence(math.nan, math.nan, f"letter_token: {err}")
            continue
        prepared[i] = (ctx_ids, ids[q.letter], [ids[o] for o in q.options])
    if not prepared:
        return results
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    keys = list(prepared)
    shared = common_prefix_length([prepared[k][0] for k in keys]) if share_prefix else 0
    prefix = PrefixCache(model, prepared[keys[0]][0][:shared])
    order = [keys[j] for j in length_order([len(prepared[k][0]) for k in keys])]
    packed = pack and packable(model)
    for batch in tqdm(batches(order, batch_size), desc="C_i", disable=not progress, unit="batch"):
        remainders = [prepared[i][0][shared:] for i in batch]
        if packed:  # one row; the logits of each remainder's last column
            ids, mask, positions, keep = pack_batch(remainders, shared)
            rows, keep = 1, keep.to(device)
        else:  # one row per remainder; the logits of its last position
            ids, mask, positions = pad_batch(remainders, shared, pad_id)
            rows, keep = len(batch), 1
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                    past_key_values=prefix.for_batch(rows), use_cache=shared > 0, logits_to_keep=keep).logits
        logits = out[0] if packed else out[:, -1, :]  # (batch, vocab)
        probs = torch.softmax(logits.float(), dim=-1).cpu()
        for row, i in enumerate(batch):
            _, target, option_ids = prepared[i]
            p = probs[row, target].item()
            total = probs[row, option_ids].sum().item()
            results[i] = InternalConfidence(100.0 * p, 100.0 * p / total if total > 0 else math.nan)
    return results
