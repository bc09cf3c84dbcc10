"""Property-based fuzzing of the reply parser: never an exception, never an inconsistent result.

The generators are adversarial: runs of whitespace and digits, Unicode digits and minus signs,
repeated keywords, mixed with the fragments of well-formed replies.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dca.extract.parsing import parse_confidence, parse_letter

LETTERS = ("A", "B", "C", "D")
FRAGMENTS = st.sampled_from([
    "Probability", "probability", "Confidence", "of being correct", "is", ":", "=", "%", " percent",
    "Answer", "answer", "(", ")", ".", "-", "\u2212", "\u0663", "\uff15", "0.", "1", "100", "\n",
    "A", "B", "E", "days",
])
RUNS = st.builds(lambda ch, n: ch * n, st.sampled_from([" ", "\t", "\n", "0", "9", "\u0663", "-", ".", "%"]),
                 st.integers(0, 300))
REPLIES = st.lists(st.one_of(FRAGMENTS, RUNS, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REPLIES)
def test_confidence_parse_is_total_and_consistent(reply):
    result = parse_confidence(reply)
    if result.ok:
        assert result.reason == "ok"
        assert 0.0 <= result.value <= 100.0 and math.copysign(1.0, result.value) > 0
    else:
        assert math.isnan(result.value) and result.reason != "ok"
    if result.reason != "no_probability":
        assert 0 <= result.start < result.end <= len(reply)
        float(reply[result.start:result.end].replace("\u2212", "-"))  # the span is the number's text
        assert result.scale in (1.0, 100.0)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REPLIES)
def test_letter_parse_is_total_and_points_at_the_letter(reply):
    result = parse_letter(reply, LETTERS)
    if result.ok:
        assert result.letter in LETTERS and reply[result.start] == result.letter
    else:
        assert result.letter is None and result.reason in ("no_letter", "letter_not_an_option")
