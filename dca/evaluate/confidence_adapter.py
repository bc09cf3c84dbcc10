"""A confidence adapter: the base model answers, the adapter states the number.

An adapter trained with the loss on the stated number only (``loss_tokens="number"``) learns to write
the confidence that follows ``Answer: X\\nProbability:``. Used as the whole model it also changes the
answers (nothing in its loss holds the answer letter). Used as a *confidence adapter* it cannot: the
base model writes the reply up to the number, so the answer letter, the accuracy and the internal
confidence ``C_i`` (the probability of that letter) are the base model's by construction, and the
adapter writes only the number, continuing the base model's reply. That costs one prefill of prompt
+ reply head with the adapter and a few decoding steps per question.

This is an inference choice, not a training result: the adapter is judged only on what it states.
``python -m dca evaluate answer_with=base`` and ``python -m dca transfer answer_with=base`` apply it
to any run's adapter; the base model's replies are the ones the stage already has (stage 1's held-out
rows, the transfer stage's *before* table: the same prompts, greedy), so no second base generation
is needed. :func:`answer_then_state` does both steps for any PEFT model and questions.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dca.data.questions import option_letters
from dca.evaluate.expected_number import READOUTS, expected_numbers
from dca.extract.elicit import generate_replies
from dca.extract.parsing import combined_reason, parse_confidence, parse_letter

#: The values of the ``answer_with`` parameter of the evaluation and transfer stages.
ANSWER_WITH = ("adapter", "base")

#: Tokens the adapter may write after the reply head: a number, a point, decimals and the percent sign.
STATE_TOKENS = 8


def reply_head(response: str, number_start: int) -> str | None:
    """The reply up to the stated number, without the whitespace before it; None when the reply
    states no number (``number_start`` is -1).

    The head ends where a number-only adapter's training prompt ends (``... Probability:``; see
    :func:`dca.train.data.number_start`), so the adapter continues from the text it was trained on.

    >>> reply_head("Answer: B\\nProbability: 80%", 23)
    'Answer: B\\nProbability:'
    >>> reply_head("Answer: B", -1) is None
    True
    """
    if number_start < 0:
        return None
    return response[:number_start].rstrip()


def state_confidence(model: Any, tokenizer: Any, base: pd.DataFrame, *, batch_size: int = 8,
                     max_new_tokens: int = STATE_TOKENS, progress: bool = True, readout: str = "greedy") -> pd.DataFrame:
    """The base model's replies with their stated number rewritten by ``model`` (the adapter on).

    Parameters
    ----------
    model : the model with the adapter (merged or not) that states the number.
    base : a stage-1 table of the base model's replies (columns of
        :data:`dca.extract.stage.COLUMNS`): ``prompt`` (the rendered chat prompt), ``response``,
        ``letter``, ``c_i`` and ``cv_start``.
    readout : ``"greedy"`` (the adapter's greedy continuation) or ``"expected"`` (the number the
        adapter expects, :func:`dca.evaluate.expected_number.expected_numbers`, rounded to a whole
        number and written as `` N%``).

    Returns
    -------
    A table with the same rows and columns. Where the base reply states a number after a parsed
    letter, ``response`` is its head (:func:`reply_head`) plus the adapter's continuation, and
    ``c_v``, ``cv_*``, ``parse_ok`` and ``parse_reason`` are read from that reply; ``letter``,
    ``correct``, ``c_i`` and ``c_i_norm`` stay the base model's. Any other row (no letter, or no
    number to replace) is the base row unchanged.
    """
    out = base.copy()
    if out.empty:
        return out
    heads = {k: reply_head(r, int(s)) for k, (r, s, letter) in
             enumerate(zip(out["response"], out["cv_start"], out["letter"])) if isinstance(letter, str) and letter}
    asked = [k for k, h in heads.items() if h is not None]
    contexts = [out["prompt"].iat[k] + heads[k] for k in asked]
    if readout == "expected":
        tails = [f" {round(value)}%" for value, _ in expected_numbers(model, tokenizer, contexts, batch_size=batch_size,
                                                                                  progress=progress)]
    elif readout == "greedy":
        tails = generate_replies(model, tokenizer, contexts, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                 progress=progress, desc="stating", heads=[heads[k] for k in asked], strip=False)
    else:
        raise ValueError(f"readout={readout!r} is not one of {', '.join(READOUTS)}")
    for k, tail in zip(asked, tails):
        response = (heads[k] + tail).strip()
        letter = parse_letter(response, option_letters(len(out["choices"].iat[k])))
        conf = parse_confidence(response)
        row = out.index[k]
        out.loc[row, ["response", "c_v", "parse_reason", "cv_start", "cv_end", "cv_scale"]] = [
            response, conf.value, combined_reason(letter, conf), conf.start, conf.end, conf.scale]
        out.loc[row, "parse_ok"] = bool(letter.ok and letter.letter == out["letter"].iat[k] and conf.ok)
    return out


def judged_table(model: Any, tokenizer: Any, questions: list[Any], base: pd.DataFrame | None, *,
                 answer_with: str = "adapter", k_shot: int = 0, batch_size: int = 8, max_new_tokens: int = 16,
                 progress: bool = True, readout: str = "greedy") -> pd.DataFrame:
    """The replies an evaluation judges: ``model``'s own replies to ``questions`` (``answer_with="adapter"``),
    or the base model's replies ``base`` with the number stated by ``model`` (``"base"``,
    :func:`state_confidence`). With ``readout="expected"`` the stated number is the one ``model``
    expects after the reply's head (its own reply's, or the base model's), not its greedy one."""
    if answer_with == "base":
        if base is None:
            raise ValueError("answer_with='base' needs the base model's replies (base=)")
        return state_confidence(model, tokenizer, base, batch_size=batch_size, progress=progress, readout=readout)
    from dca.extract.stage import extract_table

    table = extract_table(model, tokenizer, questions, ["eval"] * len(questions), k_shot=k_shot,
                          batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress)
    if readout == "greedy":
        return table
    return state_confidence(model, tokenizer, table, batch_size=batch_size, progress=progress, readout=readout)


def answer_then_state(model: Any, tokenizer: Any, questions: list[Any], *, k_shot: int = 0,
                      batch_size: int = 8, max_new_tokens: int = 16, progress: bool = True
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ask ``questions`` with the adapter of the PEFT ``model`` off, then state each number with it on.

    Returns ``(base, stated)``: the base model's stage-1 table and the same replies with the number
    written by the adapter (:func:`state_confidence`). ``model`` must be a ``peft.PeftModel`` (not
    merged), so that its adapter can be switched off for the answers.
    """
    from dca.extract.stage import extract_table

    if not hasattr(model, "disable_adapter"):
        raise TypeError(f"answer_then_state needs a peft.PeftModel with its adapter unmerged, not {type(model).__name__}")
    with model.disable_adapter():
        base = extract_table(model, tokenizer, questions, ["eval"] * len(questions), k_shot=k_shot,
                             batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress)
    return base, state_confidence(model, tokenizer, base, batch_size=batch_size, progress=progress)


__all__ = ["ANSWER_WITH", "READOUTS", "STATE_TOKENS", "answer_then_state", "judged_table", "reply_head", "state_confidence"]
