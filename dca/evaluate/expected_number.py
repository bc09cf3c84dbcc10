"""The expected number: read a stated confidence from the whole distribution the model gives it.

Greedy decoding writes the single most likely number. A number-only adapter spreads its probability
over many numbers (the most likely whole number often holds a few per cent of it), yet greedy decoding
collapses onto the few numbers that win the argmax, and questions that state the same number tie. An
AUROC counts a tied pair of a right and a wrong answer as one half, so ties cap how well the stated
numbers can rank answers. The *expected* readout states instead

.. math::

    \\hat C_v = \\sum_{N=0}^{100} N \\, p(N \\mid \\text{reply head}),
    \\qquad p(N) = \\frac{q(N)}{\\sum_{M=0}^{100} q(M)},

where :math:`q(N)` is the probability the model gives to the continuation ``" N"`` after the reply head
(``... Probability:``), ending there. The tokens of the 101 continuations form a trie (on Qwen2.5 a
space, then one token per digit); one forward pass per trie level, on the head's cached keys and
values, scores all of them:

* :math:`q(N) = \\prod_t p(\\text{token}_t \\mid \\text{head}, \\text{tokens}_{<t}) \\cdot e(N)`;
* :math:`e(N) = 1 - \\sum_c p(c \\mid \\text{head}, N)` over the tokens ``c`` that extend ``" N"`` into
  another candidate (``" 1"`` into ``" 10"`` … ``" 19"``, ``" 10"`` into ``" 100"``): the number ends
  there. A candidate that no other extends is taken to end (the token after it is not scored, which
  saves a forward pass per two-digit number).

On Qwen2.5 that is a prefill and three small passes (1 + 9 × 2 + 3 tokens) per question. Each context
is prefilled on its own (greedy stating shares the prompts' common prefix across a batch), so on a
2-core CPU it took about three times as long per question as greedy stating. The reply then states :math:`\\hat C_v` rounded to a whole number, as the
prompt asks: it is still a reply a reader could see.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

#: The numbers the expected readout weighs: the whole percentages.
NUMBERS = tuple(range(101))

#: The values of the ``readout`` parameter of the evaluation and transfer stages.
READOUTS = ("greedy", "expected")


def continuation_ids(tokenizer: Any, head: str = "Probability:", numbers: tuple[int, ...] = NUMBERS) -> dict[int, tuple[int, ...]]:
    """The token ids of ``" N"`` as the tokenizer writes it after ``head``, for each number ``N``.

    The ids are those of ``head + " N"`` past the ids of ``head``; a tokenizer that merges across that
    boundary (so that the head's own ids change) raises ``ValueError``.
    """
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    out = {}
    for n in numbers:
        ids = tokenizer(f"{head} {n}", add_special_tokens=False)["input_ids"]
        if ids[:len(head_ids)] != head_ids:
            raise ValueError(f"the tokenizer writes {head!r} differently before ' {n}'; the expected readout "
                             "needs the number's tokens to follow the head's")
        out[n] = tuple(ids[len(head_ids):])
    return out


def trie_levels(sequences: dict[int, tuple[int, ...]]) -> list[list[tuple[int, ...]]]:
    """The trie's inner nodes (the proper prefixes of the sequences, the empty one included), grouped by
    length, shortest first: the paths a forward pass has to score.

    >>> trie_levels({1: (7, 1), 10: (7, 1, 0), 2: (7, 2)})
    [[()], [(7,)], [(7, 1)]]
    """
    inner = {seq[:k] for seq in sequences.values() for k in range(len(seq))}
    # a candidate that another extends is inner too (its end probability needs its next token)
    inner |= {seq for seq in sequences.values() if any(o != seq and o[:len(seq)] == seq for o in sequences.values())}
    by_length: dict[int, list[tuple[int, ...]]] = {}
    for path in sorted(inner):
        by_length.setdefault(len(path), []).append(path)
    return [by_length[k] for k in sorted(by_length)]


def number_distribution(next_logprobs: dict[tuple[int, ...], np.ndarray],
                        sequences: dict[int, tuple[int, ...]]) -> tuple[np.ndarray, float]:
    """``(p, mass)``: the normalised probability of each number (in the order of ``sequences``) and the
    probability mass the candidates held before normalising, from the next-token log-probabilities at
    each inner node of the trie (:func:`trie_levels`).

    >>> import numpy as np
    >>> lp = {(): np.log([0.5, 0.5, 1e-12]), (0,): np.log([1e-12, 1e-12, 1.0])}
    >>> p, mass = number_distribution(lp, {0: (0,), 1: (1,), 2: (0, 2)})
    >>> np.round(p, 3).tolist(), round(mass, 3)
    ([0.0, 0.5, 0.5], 1.0)
    """
    children: dict[tuple[int, ...], set[int]] = {}
    for seq in sequences.values():
        for other in sequences.values():
            if len(other) > len(seq) and other[:len(seq)] == seq:
                children.setdefault(seq, set()).add(other[len(seq)])
    q = []
    for seq in sequences.values():
        logp = sum(float(next_logprobs[seq[:t]][tok]) for t, tok in enumerate(seq))
        end = 1.0
        if seq in children:
            end = max(0.0, 1.0 - float(np.exp(next_logprobs[seq][sorted(children[seq])]).sum()))
        q.append(np.exp(logp) * end)
    q_arr = np.asarray(q, dtype=float)
    mass = float(q_arr.sum())
    if not mass > 0:
        return np.full(len(q_arr), 1.0 / len(q_arr)), 0.0
    return q_arr / mass, mass


def expected_numbers(model: Any, tokenizer: Any, contexts: list[str], *, progress: bool = True,
                     numbers: tuple[int, ...] = NUMBERS) -> list[tuple[float, float]]:
    """For each context (a prompt plus reply head ending in ``Probability:``), ``(expected number,
    candidate mass)``: :math:`\\sum_N N\\,p(N)` and how much probability the whole numbers held before
    normalising (see the module's docstring). One context at a time: its prefill, then one pass per
    trie level on copies of its cache.
    """
    import torch

    from tqdm.auto import tqdm

    sequences = continuation_ids(tokenizer, numbers=numbers)
    levels = trie_levels(sequences)
    values = np.asarray(list(sequences), dtype=float)
    device = next(model.parameters()).device
    out = []
    for context in tqdm(contexts, desc="expected number", disable=not progress, unit="question"):
        ids = tokenizer(context, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
        with torch.no_grad():
            first = model(input_ids=ids, use_cache=True)
            logprobs = {(): torch.log_softmax(first.logits[0, -1].float(), -1).cpu().numpy()}
            for level in levels:
                paths = [p for p in level if p]
                if not paths:
                    continue
                cache = copy.deepcopy(first.past_key_values)
                cache.batch_repeat_interleave(len(paths))
                step = torch.tensor(paths, device=device)
                mask = torch.ones(len(paths), ids.shape[1] + step.shape[1], dtype=torch.long, device=device)
                logits = model(input_ids=step, past_key_values=cache, attention_mask=mask, use_cache=True).logits
                for path, row in zip(paths, torch.log_softmax(logits[:, -1].float(), -1).cpu().numpy()):
                    logprobs[path] = row
        p, mass = number_distribution(logprobs, sequences)
        out.append((float(values @ p), mass))
    return out


__all__ = ["NUMBERS", "READOUTS", "continuation_ids", "expected_numbers", "number_distribution", "trie_levels"]
