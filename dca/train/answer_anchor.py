"""Holding the answer letter in place while the number trains: a KL term at the answer position (or line).

With ``loss_tokens="number"`` the loss sees only the stated number, so nothing holds the answer letter
and training moves it (in the study's seed 0, SFT on the number changed 30 % of the answer letters
and cost 12.7 points of accuracy). ``answer_kl_weight`` adds, for each training reply, the KL divergence of the policy's
next-token distribution at the answer letter's position from the reference model's (the base model,
adapter switched off):

.. math::

    \\mathcal{L} = \\mathcal{L}_\\mathrm{SFT}(\\text{number tokens})
        + w \\cdot \\frac{1}{B} \\sum_{b=1}^{B} \\sum_{t \\in V}
          p_\\mathrm{ref}(t \\mid x_b) \\big[\\log p_\\mathrm{ref}(t \\mid x_b) - \\log \\pi_\\theta(t \\mid x_b)\\big]

where :math:`x_b` is the context before the letter (``... Answer:``). That distribution is the one
the internal confidence :math:`C_i = 100\\, p(\\ell \\mid x)` is read from, so the term holds both the
answer and the pairs' target :math:`C_i` to where they were. The reference's distribution does not
change during training: it is computed once per training reply and kept.

With ``answer_kl_span="line"`` the term holds every fixed token of the reply's start that the loss does
not see: the positions :math:`k = 0, \\dots, K-1` that predict the letter, the line break and
``Probability:`` (:math:`K` is :func:`letter_offset`), each with its teacher-forced context
:math:`x_{b,k}`, the divergences summed per reply (the KL divergence of the line's joint distribution
along the trained path, by the chain rule):

.. math::

    w \\cdot \\frac{1}{B} \\sum_{b=1}^{B} \\sum_{k=0}^{K-1} \\mathrm{KL}\\big(p_\\mathrm{ref}(\\cdot \\mid x_{b,k})
        \\,\\|\\, \\pi_\\theta(\\cdot \\mid x_{b,k})\\big)

The policy's hidden state at that position comes from the SFT forward pass itself (a hook on the
decoder), so the term costs one projection through the LM head per reply, plus one reference forward
pass of each prompt the first time it is seen.
"""

from __future__ import annotations

from typing import Any

ANSWER_LABEL = "Answer:"


def answer_kl(policy_logits: Any, reference_log_probs: Any) -> Any:
    """Per row, the KL divergence :math:`\\mathrm{KL}(p_\\mathrm{ref} \\,\\|\\, \\pi_\\theta)` over the vocabulary.

    .. math::

        \\mathrm{KL} = \\sum_t p_\\mathrm{ref}(t) \\big[\\log p_\\mathrm{ref}(t) - \\log \\operatorname{softmax}(z)_t\\big]

    ``policy_logits`` (rows x vocabulary) are the policy's logits :math:`z`; ``reference_log_probs``
    the reference's log-probabilities. Zero when the two agree.

    >>> import torch
    >>> ref = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    >>> float(answer_kl(ref.clone(), ref))
    0.0
    >>> round(float(answer_kl(torch.zeros(1, 3), ref)), 4)  # 0.5 log 1.5 + 2 * 0.25 log 0.75
    0.0589
    """
    import torch.nn.functional as F

    log_policy = F.log_softmax(policy_logits.float(), dim=-1)
    return (reference_log_probs.exp() * (reference_log_probs - log_policy)).sum(dim=-1)


def letter_offset(prompts: list[str], tokenizer: Any) -> int:
    """How many prompt tokens the answer letter and what follows it take: the same for every prompt.

    Each prompt of :func:`dca.train.data.number_only` ends with the reply's shared start
    (``"Answer: B\\nProbability:"``). The context before the letter (up to ``Answer:``) tokenizes to
    the first tokens of the prompt, and the letter's distribution is read at the last of them, so
    the position is ``len(prompt tokens) - offset - 1``.

    Raises ``ValueError`` naming the prompt when a prompt has no ``Answer:`` letter, when the context's
    tokens are not the first tokens of the prompt's, or when the offset differs between prompts.
    """
    from dca.data.questions import option_letters
    from dca.extract.confidence import letter_token_ids
    from dca.extract.parsing import parse_letter

    offsets = set()
    for prompt in prompts:
        head = prompt.rfind(ANSWER_LABEL)
        letter = parse_letter(prompt[head:], option_letters(26)) if head >= 0 else None
        if letter is None or not letter.ok:
            raise ValueError(f"answer_kl_weight: the prompt does not end with an '{ANSWER_LABEL} <letter>' reply "
                             f"start, so the answer position is unknown: ...{prompt[-80:]!r}")
        context = prompt[: head + letter.start]
        # tokenized as C_i's context is: the space before the letter goes with the letter (" B")
        context_ids, _ = letter_token_ids(tokenizer, context, (str(letter.letter),))
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if ids[: len(context_ids)] != context_ids:
            raise ValueError("answer_kl_weight: the text before the answer letter does not tokenize to the first "
                             f"tokens of the prompt, so the letter's position is unknown: ...{context[-60:]!r}")
        offsets.add(len(ids) - len(context_ids))
    if len(offsets) != 1:
        raise ValueError(f"answer_kl_weight: the answer letter sits {sorted(offsets)} tokens before the number in "
                         "different prompts; the term needs one offset")
    return offsets.pop()


def held_positions(first: Any, offset: int, span: str = "letter") -> Any:
    """The positions the term holds in each row (rows x positions), from the index of each row's first
    label the loss sees: the letter's (``first - offset - 1``) alone, or with ``span="line"`` it and the
    ``offset - 1`` positions after it, up to the one before the number's.

    >>> import torch
    >>> held_positions(torch.tensor([10, 12]), 4).tolist()
    [[5], [7]]
    >>> held_positions(torch.tensor([10]), 4, "line").tolist()
    [[5, 6, 7, 8]]
    """
    import torch

    if span not in ("letter", "line"):
        raise ValueError(f"answer_kl_span={span!r}: expected 'letter' or 'line'")
    steps = torch.arange(offset if span == "line" else 1, device=first.device)
    return (first - offset - 1)[:, None] + steps[None, :]


def anchored_sft_trainer_class(weight: float, offset: int, span: str = "letter") -> type:
    """TRL's ``SFTTrainer`` with ``weight`` times :func:`answer_kl` added to its loss (logged as
    ``answer_kl``), at the positions of :func:`held_positions`: the letter's, found ``offset`` tokens
    (:func:`letter_offset`) before the first label the loss sees, or with ``span="line"`` every fixed
    token of the reply's start (the divergences summed per row).

    The reference's log-probabilities at each prompt's held positions are computed once (adapter
    off, no gradient) and kept, keyed by the prompt's tokens up to the last of them.
    """
    import torch
    from trl import SFTTrainer

    held_positions(torch.zeros(1, dtype=torch.long), offset, span)  # a bad span is named now, not at step 1

    reference_cache: dict[bytes, Any] = {}  # the prompt's tokens up to the last held position -> its log-probabilities

    class AnswerAnchoredSFTTrainer(SFTTrainer):
        def _answer_positions(self, labels: Any) -> Any:
            seen = labels != -100
            if not bool(seen.any(dim=1).all()):
                raise ValueError("answer_kl_weight: a training row has no token the loss sees")
            first = seen.int().argmax(dim=1)  # the first completion token's index
            positions = held_positions(first, offset, span)
            if bool((positions < 0).any()):
                raise ValueError(f"answer_kl_weight: the answer letter would sit before the start of a row "
                                 f"(offset {offset})")
            return positions

        def _reference_log_probs(self, model: Any, input_ids: Any, positions: Any) -> Any:
            n = positions.size(1)
            keys = [input_ids[b, : int(p[-1]) + 1].cpu().numpy().tobytes() for b, p in enumerate(positions)]
            missing = [b for b, k in enumerate(keys) if k not in reference_cache]
            if missing:
                peft_model = self.accelerator.unwrap_model(model)
                base = peft_model.get_base_model()
                with torch.no_grad(), peft_model.disable_adapter():
                    for b in missing:  # one prompt at a time: no padding, each once per run
                        context = input_ids[b: b + 1, : int(positions[b, -1]) + 1]
                        hidden = base.get_decoder()(input_ids=context, use_cache=False).last_hidden_state[0, -n:]
                        logits = base.get_output_embeddings()(hidden).float()
                        reference_cache[keys[b]] = torch.log_softmax(logits, dim=-1).cpu()  # positions x vocabulary
            return torch.stack([reference_cache[k] for k in keys]).to(input_ids.device)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            base = self.accelerator.unwrap_model(model).get_base_model()
            hidden: list[Any] = []
            handle = base.get_decoder().register_forward_hook(
                lambda _module, _args, output: hidden.append(output.last_hidden_state if hasattr(
                    output, "last_hidden_state") else output[0]))
            try:
                out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                           num_items_in_batch=num_items_in_batch)
            finally:
                handle.remove()
            positions = self._answer_positions(inputs["labels"])
            rows = torch.arange(positions.size(0), device=positions.device)
            logits = base.get_output_embeddings()(hidden[0][rows[:, None], positions])  # rows x positions x vocabulary
            kl = answer_kl(logits, self._reference_log_probs(model, inputs["input_ids"], positions)).sum(dim=1).mean()
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["answer_kl"].append(float(self.accelerator.gather_for_metrics(kl.detach()).mean()))
            if isinstance(out, tuple):
                return (out[0] + weight * kl, *out[1:])
            return out + weight * kl

    return AnswerAnchoredSFTTrainer
