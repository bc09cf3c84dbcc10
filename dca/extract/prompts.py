"""Chat prompts that ask for the answer letter and a verbalized confidence.

The reply format we ask for is two lines::

    Answer: B
    Probability: 80%

Zero-shot prompts give only the instruction; k-shot prompts put ``k`` worked examples before the
question as earlier user/assistant turns. A small model (SmolLM2-135M) follows the format only with
examples, so the default is ``k_shot=3``. The example confidences vary (not all 90 %) so that the
examples do not teach one number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dca.data.questions import option_letters

SYSTEM_PROMPT = (
    "You answer multiple-choice questions. Reply with exactly two lines: the letter of the best "
    "option after 'Answer:', then your probability (0-100%) that this answer is correct after "
    "'Probability:'."
)


@dataclass(frozen=True)
class Example:
    """A worked few-shot example: question, options, the answer index, the stated probability."""

    question: str
    choices: tuple[str, ...]
    answer: int
    probability: int


#: The few-shot pool: general facts, none from a paper dataset or the synthetic families. Answer
#: positions and stated probabilities are spread so the examples favour no letter and no number.
FEW_SHOT_POOL: tuple[Example, ...] = (
    Example("Which planet is known as the Red Planet?", ("Venus", "Mars", "Jupiter", "Saturn"), 1, 95),
    Example("What do bees make?", ("Milk", "Silk", "Honey", "Wax paper"), 2, 80),
    Example("Which of these is a prime number?", ("21", "27", "33", "31"), 3, 60),
    Example("What is the boiling point of water at sea level in degrees Celsius?",
            ("100", "90", "120", "80"), 0, 85),
    Example("Which animal is the largest?", ("Elephant", "Blue whale", "Giraffe", "Hippo"), 1, 70),
    Example("Which gas do plants take in for photosynthesis?",
            ("Oxygen", "Nitrogen", "Carbon dioxide", "Helium"), 2, 75),
    Example("How many legs does a spider have?", ("Six", "Ten", "Four", "Eight"), 3, 65),
    Example("Which metal is liquid at room temperature?", ("Mercury", "Iron", "Copper", "Tin"), 0, 55),
)


#: Worked examples before each question unless told otherwise (the default of ``ExtractConfig.k_shot``).
K_SHOT = 3
#: The most worked examples a prompt can have: the size of :data:`FEW_SHOT_POOL`.
MAX_K_SHOT = len(FEW_SHOT_POOL)


def format_question(question: str, choices: tuple[str, ...] | list[str], context: str | None = None) -> str:
    """The user turn for one question: optional context, the question, lettered options.

    >>> print(format_question("2 + 2?", ["3", "4"]))
    Question: 2 + 2?
    A) 3
    B) 4
    """
    parts = []
    if context:
        parts.append(f"Context: {context.strip()}")
    parts.append(f"Question: {question.strip()}")
    parts.extend(f"{letter}) {choice}" for letter, choice in zip(option_letters(len(choices)), choices))
    return "\n".join(parts)


def format_reply(letter: str, probability: int | float | str) -> str:
    """The assistant reply in the requested format.

    >>> format_reply("B", 80)
    'Answer: B\\nProbability: 80%'
    """
    return f"Answer: {letter}\nProbability: {probability}%"


def build_messages(question: str, choices: tuple[str, ...] | list[str], *, context: str | None = None,
                   k_shot: int = K_SHOT, system: bool = True) -> list[dict[str, str]]:
    """Chat messages for one question: system instruction, ``k_shot`` examples, the question.

    Parameters
    ----------
    k_shot : number of worked examples taken in order from :data:`FEW_SHOT_POOL` (0 = zero-shot).
    system : put the instruction in a system turn (``False`` folds it into the first user turn, for
        chat templates without a system role such as Gemma's).
    """
    if not 0 <= k_shot <= len(FEW_SHOT_POOL):
        raise ValueError(f"k_shot={k_shot} must lie in [0, {len(FEW_SHOT_POOL)}]")
    messages: list[dict[str, str]] = []
    turns: list[tuple[str, str]] = []
    for ex in FEW_SHOT_POOL[:k_shot]:
        turns.append(("user", format_question(ex.question, ex.choices)))
        turns.append(("assistant", format_reply(option_letters(len(ex.choices))[ex.answer], ex.probability)))
    turns.append(("user", format_question(question, choices, context)))
    if system:
        messages.append({"role": "system", "content": SYSTEM_PROMPT})
    else:
        role, content = turns[0]
        turns[0] = (role, f"{SYSTEM_PROMPT}\n\n{content}")
    messages.extend({"role": r, "content": c} for r, c in turns)
    return messages


def supports_system_role(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template accepts a system turn (Gemma's raises)."""
    try:
        tokenizer.apply_chat_template([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}],
                                      tokenize=False, add_generation_prompt=True)
        return True
    except Exception:  # noqa: BLE001 - templates raise TemplateError or ValueError
        return False


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The exact prompt text given to the model: the chat template with the generation prompt."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # A base model without a template: plain turns, ending where the assistant's reply starts.
    text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in messages)
    return text + "Assistant:"


def messages_json(messages: list[dict[str, str]]) -> str:
    """Messages as a JSON string (how the stage-1 table stores them)."""
    return json.dumps(messages, ensure_ascii=False)
