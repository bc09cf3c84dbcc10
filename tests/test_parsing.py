"""Reading the letter and C_v from replies: formats, failures with reasons, never a silent NaN."""

import math

import pytest

from dca.extract.parsing import combined_reason, parse_confidence, parse_letter


@pytest.mark.parametrize("text, expected", [
    ("Answer: B\nProbability: 80%", 80.0),
    ("Answer: B\nProbability: 80 %", 80.0),
    ("Probability: 0.8", 80.0),
    ("Probability: 80.5%", 80.5),
    ("I think so. Probability: 80% because it is likely.", 80.0),
    ("My confidence: 65%", 65.0),
    ("Answer: C (about 40% sure)", 40.0),
    ("Probability: 0%", 0.0),
    ("Probability: 100%", 100.0),
    ("Probability: 1", 1.0),
    ("probability = 55", 55.0),
    ("Probability: 80 (fairly sure)", 80.0),
    ("Probability: 80 percent", 80.0),
    ("Probability: 7\nProbability: 80", 7.0),
])
def test_confidence_formats(text, expected):
    result = parse_confidence(text)
    assert result.ok and result.reason == "ok"
    assert result.value == pytest.approx(expected)


@pytest.mark.parametrize("text, reason", [
    ("Answer: B", "no_probability"),
    ("", "no_probability"),
    ("Probability: -5%", "negative"),
    ("Probability: 120%", "above_100"),
    ("Probability: 240", "above_100"),
    ("Probability: 18 days from now = 1", "number_not_a_probability"),
])
def test_confidence_failures_have_reasons(text, reason):
    result = parse_confidence(text)
    assert not result.ok and result.reason == reason
    assert math.isnan(result.value)


def test_confidence_span_points_at_number():
    text = "Answer: B\nProbability: 80.5 %"
    result = parse_confidence(text)
    assert text[result.start:result.end] == "80.5" and result.scale == 100.0
    frac = parse_confidence("Probability: 0.25")
    assert frac.scale == 1.0 and frac.value == pytest.approx(25.0)


@pytest.mark.parametrize("text, letter", [
    ("Answer: C\nProbability: 40%", "C"),
    ("answer: d", None),  # a lowercase letter is not an answer letter
    ("The answer is B.", "B"),
    ("Answer: (A)", "A"),
    ("B) 5", "B"),
    ("Answer:B", "B"),
])
def test_letter(text, letter):
    result = parse_letter(text, ("A", "B", "C", "D"))
    assert result.letter == letter
    if letter:
        assert text[result.start] == letter


def test_letter_failures():
    assert parse_letter("I don't know", "ABCD").reason == "no_letter"
    assert parse_letter("Answer: E", "ABCD").reason == "letter_not_an_option"
    assert parse_letter("A model that never follows the format", "ABCD").reason == "no_letter"


def test_combined_reason():
    letter, conf = parse_letter("nothing", "AB"), parse_confidence("nothing")
    assert combined_reason(letter, conf) == "no_letter+no_probability"


@pytest.mark.parametrize("text", ["Probability: \u22120%", "Probability: -0%", "Probability: -0.0", "about -0 %"])
def test_negative_zero_is_a_failure_not_a_zero(text):
    result = parse_confidence(text)
    assert not result.ok and result.reason == "negative" and math.isnan(result.value)


#: Replies that made the old patterns backtrack (seconds each at k = 100,000): whitespace and digit
#: runs after keywords, long fractions, repeated keywords; each about k characters.
ADVERSARIAL = {
    "spaces after keyword": lambda k: "Probability" + " " * k + "x",
    "spaces around 'is'": lambda k: "Answer" + " " * (k // 2) + "is" + " " * (k // 2),
    "long fraction": lambda k: "0." + "0" * k + "1",
    "digit run": lambda k: "1" * k,
    "digit run then %": lambda k: "7" * k + " %",
    "minus signs": lambda k: "-\u2212" * (k // 2),
    "repeated keyword": lambda k: "probability " * (k // 12),
    "repeated answer": lambda k: "Answer is " * (k // 10),
    "dotted digits": lambda k: "1." * (k // 2),
    "percent signs": lambda k: "% " * (k // 2),
    "spaces between numbers": lambda k: ("1" + " " * 999) * (k // 1000),
    "unicode digits": lambda k: "\u0663" * k + "%",
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_parsing_is_linear_on_adversarial_replies(name):
    """Ten times the reply, at most about ten times the time: a pattern that backtracks takes a
    hundred times (quadratic) or more. Complexity, not speed, so a busy machine cannot fail it: the
    two sizes are timed interleaved, best of seven, in this thread's CPU time (time spent waiting
    for a core while other processes run is not counted), and a cap of 1 s catches a pattern that
    is slow at both sizes."""
    import time

    small, large = ADVERSARIAL[name](10_000), ADVERSARIAL[name](100_000)
    best = {len(small): math.inf, len(large): math.inf}
    for _ in range(7):
        for text in (small, large):
            start = time.thread_time()
            parse_confidence(text)
            parse_letter(text, "ABCD")
            best[len(text)] = min(best[len(text)], time.thread_time() - start)
    t_small, t_large = best[len(small)], best[len(large)]
    assert t_large < 1.0, f"{name}: {t_large * 1000:.1f} ms at {len(large)} characters"
    assert t_large < 30 * max(t_small, 1e-4), f"{name}: {t_small * 1000:.2f} ms -> {t_large * 1000:.2f} ms for 10x the text"


@pytest.mark.parametrize("sign", ["\u2013", "\u2010", "\u2011", "\u2012", "\u2212", "\ufe63", "\uff0d"])
def test_unicode_dashes_before_a_number_are_a_minus(sign):
    assert parse_confidence(f"Probability: {sign}5%").reason == "negative"
    assert parse_confidence(f"I am about {sign}5 % sure").reason == "negative"


@pytest.mark.parametrize("reply", ["Answer: A lot of people think B", "Answer: I think it is C"])
def test_the_article_and_the_pronoun_are_not_answer_letters(reply):
    assert parse_letter(reply, "ABCDEFGHIJ").letter is None


def test_a_letter_on_its_own_line_still_parses():
    assert parse_letter("Answer: A\nProbability: 80%", "ABCD").letter == "A"
    assert parse_letter("Answer: I\nProbability: 80%", "ABCDEFGHIJ").letter == "I"
