"""Reading the answer letter and the verbalized confidence ``C_v`` from a model's reply.

A reply that cannot be read is never a silent NaN and never an exception: each parse returns a
result with ``ok`` and a ``reason`` (``"ok"``, ``"no_letter"``, ``"letter_not_an_option"``,
``"no_probability"``, ``"negative"``, ``"above_100"``).

Rules for the confidence number:

* ``Probability: 80%``, ``80 %``, ``80.5%`` and ``probability 80`` are percentages;
* a number written with a decimal point and at most 1 without a ``%`` sign (``0.8``) is a fraction
  and is multiplied by 100; ``1`` alone is read as 1 %;
* the number after the word *probability* (or *confidence*) wins; without that word, the last number
  followed by ``%`` is taken;
* a negative number (``-0`` included, with an ASCII minus or a Unicode one: minus sign, en dash,
  hyphen, fullwidth hyphen-minus ...) or one above 100 is reported
  as such (``negative``, ``above_100``), with ``value`` NaN;
* a number followed by a word other than *percent* ("Probability: 18 days from now") is not a
  probability: ``number_not_a_probability``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Every whitespace run is matched possessively (``\s*+``) and a number may not start inside a run of
# digits (``(?<!\d)``): no pattern backtracks over a run, so parsing is linear in the reply's length
# (a reply of 32 000 spaces after "Probability" took 29 s with plain ``\s*``). The matches are the
# same as the plain patterns': what follows each run can never start with a space or a digit.
#: Signs read as a minus: ASCII hyphen-minus, hyphen, non-breaking hyphen, figure dash, en dash, minus
#: sign, small and fullwidth hyphen-minus ("Probability: –5%" is negative, not 5 %).
MINUS_SIGNS = "-\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"
_NUMBER = rf"[{MINUS_SIGNS}]?(?<!\d)(?:\d++(?:\.\d++)?+|\.\d++)"
_KEYWORD_NUMBER = re.compile(
    r"(?:probability|confidence)\s*+(?:of\s++(?:being\s++)?correct(?:ness)?\s*+)?(?:is\s*+)?[:=]?\s*+"
    rf"(?P<num>{_NUMBER})\s*+(?P<pct>%|percent)?",
    re.IGNORECASE,
)
_TO_ASCII_MINUS = str.maketrans({c: "-" for c in MINUS_SIGNS})
_WORD_AFTER = re.compile(r"[ \t]*+[A-Za-z]")
# The number before a "%", read backwards in the reversed reply (reversed: digits, "." digits, sign),
# so that a search costs one pass over the text instead of a regex attempt at every position.
_REVERSED_PERCENT_NUMBER = re.compile(rf"%\s*+(?P<num>\d++(?:\.\d++)?+[{MINUS_SIGNS}]?)")
# "A" and "I" followed by a lower-case word are the article and the pronoun ("Answer: A lot of people
# think B"), not an option letter.
_ANSWER_LETTER = re.compile(
    r"(?i:answer)\s*+(?:(?i:is)\s*+)?[:\-]?\s*+\(?\s*+(?P<letter>[A-Z])\b(?![a-z'])(?<![AI](?=[ \t]+[a-z]))")
_LEADING_LETTER = re.compile(r"^\s*+\(?(?P<letter>[A-Z])[\).:](?:\s|$)")


@dataclass(frozen=True)
class ConfidenceParse:
    """The verbalized confidence read from a reply.

    ``value`` is in percent (0-100) or NaN; ``start:end`` is the character span of the number's
    text in the reply (-1 when none); ``scale`` is 100.0 for a percentage, 1.0 for a fraction.
    """

    value: float
    ok: bool
    reason: str
    start: int = -1
    end: int = -1
    scale: float = 100.0


@dataclass(frozen=True)
class LetterParse:
    """The answer letter read from a reply, with the character offset of the letter (-1 if none)."""

    letter: str | None
    ok: bool
    reason: str
    start: int = -1


def parse_confidence(text: str) -> ConfidenceParse:
    """Parse ``C_v`` (percent) from a reply.

    >>> parse_confidence("Answer: B\\nProbability: 80%").value
    80.0
    >>> parse_confidence("I am 0.8 sure. Probability: 0.8").value
    80.0
    >>> parse_confidence("Probability: 80.5 %").value
    80.5
    >>> parse_confidence("Answer: B").reason
    'no_probability'
    >>> parse_confidence("Probability: 120%").reason
    'above_100'
    >>> parse_confidence("Probability: \u22120%").reason
    'negative'
    >>> parse_confidence("Probability: \u20135%").reason
    'negative'
    >>> parse_confidence("Probability: 18 days from now = 1").reason
    'number_not_a_probability'
    """
    match = _KEYWORD_NUMBER.search(text)
    if match is not None:
        (start, end), has_pct = match.span("num"), bool(match.group("pct"))
    else:
        span = _last_percent_number(text)
        if span is None:
            return ConfidenceParse(math.nan, False, "no_probability")
        (start, end), has_pct = span, True
    raw = text[start:end].translate(_TO_ASCII_MINUS)
    negative = raw.startswith("-")  # "-0%" too: its float, -0.0, is not below 0
    number = float(raw)
    scale = 100.0
    if not has_pct and "." in raw and 0 <= number <= 1:
        number *= 100.0
        scale = 1.0
    if not has_pct and _WORD_AFTER.match(text, end):
        return ConfidenceParse(math.nan, False, "number_not_a_probability", start, end, scale)
    if negative:
        return ConfidenceParse(math.nan, False, "negative", start, end, scale)
    if number > 100:
        return ConfidenceParse(math.nan, False, "above_100", start, end, scale)
    return ConfidenceParse(number, True, "ok", start, end, scale)


def _last_percent_number(text: str) -> tuple[int, int] | None:
    """Span of the last number followed by ``%`` (``12%``, ``-3.5 %``), or None.

    The number a left-to-right search for ``-?\\d+(\\.\\d+)?\\s*%`` finds last: the first match of
    the reversed pattern in the reversed reply.

    >>> _last_percent_number("about 40% or 1.5 %, not 7")
    (13, 16)
    """
    match = _REVERSED_PERCENT_NUMBER.search(text[::-1])
    if match is None:
        return None
    start = len(text) - match.end()
    return start, start + len(match.group("num"))


def parse_letter(text: str, letters: tuple[str, ...] | list[str]) -> LetterParse:
    """Parse the answer letter: after ``Answer:``, else a leading ``B)`` / ``B.``; must be an option.

    >>> parse_letter("Answer: C\\nProbability: 40%", "ABCD").letter
    'C'
    >>> parse_letter("B) 5", "ABCD").letter
    'B'
    >>> parse_letter("Answer: E", "ABCD").reason
    'letter_not_an_option'
    >>> parse_letter("I don't know", "ABCD").reason
    'no_letter'
    >>> parse_letter("Answer: A lot of people think B", "ABCD").reason
    'no_letter'
    """
    match = _ANSWER_LETTER.search(text) or _LEADING_LETTER.search(text)
    if match is None:
        return LetterParse(None, False, "no_letter")
    letter = match.group("letter").upper()
    if letter not in tuple(letters):
        return LetterParse(None, False, "letter_not_an_option", match.start("letter"))
    return LetterParse(letter, True, "ok", match.start("letter"))


def reply_complete(text: str) -> bool:
    """Whether more text appended to ``text`` can no longer change what the parsers read from it.

    True once the reply holds an answer letter after ``Answer`` and, after that letter, the keyword
    number that :func:`parse_confidence` reads, closed by ``%`` or ``percent``: both are the leftmost
    matches of their patterns and end inside the text, so appended text changes neither. Generation
    stops there (:func:`dca.extract.elicit.generate_replies`): a reply that runs on after its
    confidence line ("Probability: 30%\\n\\nExplanation: ...") costs no more tokens, and its letter and
    number are the same as those of the whole reply. Any other order (the number first, or a
    number without its percent sign) is not complete, and generation runs on as before.

    >>> reply_complete("Answer: B\\nProbability: 80%")
    True
    >>> reply_complete("Answer: B\\nProbability: 80"), reply_complete("Answer: B\\nProbability: 80.")
    (False, False)
    >>> reply_complete("Probability: 80%\\nAnswer: B")
    False
    """
    number = _KEYWORD_NUMBER.search(text)
    if number is None or not number.group("pct"):
        return False
    letter = _ANSWER_LETTER.search(text)
    return letter is not None and letter.end() <= number.start()


def combined_reason(letter: LetterParse, confidence: ConfidenceParse) -> str:
    """One reason for a reply: ``ok``, or the failures joined with ``+``.

    >>> combined_reason(LetterParse("A", True, "ok", 8), ConfidenceParse(float("nan"), False, "no_probability"))
    'no_probability'
    """
    reasons = [r.reason for r in (letter, confidence) if not r.ok]
    return "+".join(reasons) if reasons else "ok"
