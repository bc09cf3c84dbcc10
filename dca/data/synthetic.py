"""An offline, seeded multiple-choice question generator with known answers.

Families of different difficulty for a small model (recorded in ``Question.subject``):

==================  ===================  ========================================================
family              subject              example
==================  ===================  ========================================================
``arithmetic``      arithmetic-easy      What is 23 + 41?
``comparison``      comparison-easy      Which of these numbers is the largest?
``capitals``        capitals-easy        What is the capital of Kenya?
``units``           units-medium         How many minutes are in 2.5 hours?
``multiplication``  multiplication-hard  What is 37 × 48?
``weekday``         weekday-hard         Today is Monday. What day of the week will it be in ...?
``letters``         letters-hard         How many times does the letter "r" appear in ...?
==================  ===================  ========================================================

Families are interleaved round-robin so any prefix mixes them; the correct option's position is
uniform (seeded); distractors are distinct and plausible (near misses, wrong conversion factors,
neighbouring days, other capitals). Question texts do not repeat within one call, so a train/eval
split of the output never leaks a question.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import count

from dca.config import SEED
from dca.data.questions import DataError, Question, option_letters

Made = tuple[str, str, list[str]]  # question text, correct option, distractors


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _choose(rng: random.Random, correct: str, cands: Iterable[str], k: int,
            fallback: Iterable[str]) -> list[str]:
    """``k`` distinct distractors: a random pick of the plausible ``cands``, then ``fallback``."""
    pool = list(dict.fromkeys(c for c in cands if c != correct))
    rng.shuffle(pool)
    picked = pool[:k]
    for c in fallback:
        if len(picked) >= k:
            break
        if c != correct and c not in picked:
            picked.append(c)
    if len(picked) < k:
        raise DataError(f"cannot make {k} distinct distractors for {correct!r}")
    return picked


def _near_ints(rng: random.Random, c: int, offsets: Iterable[int], k: int, step: int = 1,
               lo: int = 0) -> list[str]:
    cands = [str(c + o) for o in offsets if c + o >= lo]
    fallback = (str(c + s * d * step) for d in count(1) for s in (1, -1) if c + s * d * step >= lo)
    return _choose(rng, str(c), cands, k, fallback)


def _arithmetic(rng: random.Random, k: int) -> Made:
    a, b = rng.randint(2, 60), rng.randint(2, 60)
    return f"What is {a} + {b}?", str(a + b), _near_ints(rng, a + b, (-11, -10, -2, -1, 1, 2, 9, 10), k)


def _multiplication(rng: random.Random, k: int) -> Made:
    a, b = rng.randint(12, 99), rng.randint(12, 99)
    offs = (10, -10, 20, -20, 100, -100, a, -a, b, -b)
    return f"What is {a} × {b}?", str(a * b), _near_ints(rng, a * b, offs, k, step=10)


def _comparison(rng: random.Random, k: int) -> Made:
    nums = rng.sample(range(10, 1000), k + 1)
    which = rng.choice(("largest", "smallest"))
    best = max(nums) if which == "largest" else min(nums)
    return (f"Which of these numbers is the {which}?", str(best),
            [str(x) for x in nums if x != best])


# (larger unit, smaller unit, factor, plausible wrong factors)
UNITS: tuple[tuple[str, str, int, tuple[int, ...]], ...] = (
    ("kilometers", "meters", 1000, (100, 10000)),
    ("meters", "centimeters", 100, (1000, 10)),
    ("centimeters", "millimeters", 10, (100,)),
    ("hours", "minutes", 60, (100, 30, 24)),
    ("minutes", "seconds", 60, (100, 30)),
    ("kilograms", "grams", 1000, (100, 10000)),
    ("liters", "milliliters", 1000, (100,)),
    ("days", "hours", 24, (12, 60)),
    ("weeks", "days", 7, (5, 10)),
    ("years", "months", 12, (10, 52)),
)
_UNIT_VALUES = tuple(range(2, 16)) + tuple(x + 0.5 for x in range(1, 10))


def _units(rng: random.Random, k: int) -> Made:
    big, small, f, wrong = rng.choice(UNITS)
    v = rng.choice(_UNIT_VALUES)
    ans = v * f
    cands = [ans * 10, ans / 10, ans + f, ans - f] + [v * w for w in wrong]
    fallback = (_fmt(ans + s * d * f) for d in count(2) for s in (1, -1) if ans + s * d * f > 0)
    distractors = _choose(rng, _fmt(ans), [_fmt(c) for c in cands if c > 0], k, fallback)
    return f"How many {small} are in {_fmt(v)} {big}?", _fmt(ans), distractors


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _weekday(rng: random.Random, k: int) -> Made:
    start, n = rng.randrange(7), rng.randint(2, 60)
    if rng.random() < 0.5:
        text = f"Today is {DAYS[start]}. What day of the week will it be {n} days from now?"
        ans = (start + n) % 7
    else:
        text = f"Today is {DAYS[start]}. What day of the week was it {n} days ago?"
        ans = (start - n) % 7
    others = [DAYS[(ans + d) % 7] for d in (1, -1, 2, -2, 3, -3)]
    return text, DAYS[ans], _choose(rng, DAYS[ans], others, k, ())


WORDS = (
    "strawberry", "banana", "mississippi", "committee", "bookkeeper", "balloon", "parallel",
    "necessary", "occurrence", "accommodate", "assessment", "coffee", "engineer", "possession",
    "successful", "tomorrow", "vacuum", "giraffe", "address", "embarrass", "millennium", "referee",
    "pepper", "letter", "happiness", "hippopotamus", "assistant", "cinnamon", "entertainment",
    "independence", "programming", "pineapple", "butterfly", "elephant", "chocolate", "umbrella",
    "calendar", "mathematics", "dictionary", "raspberry",
)


def _letters(rng: random.Random, k: int) -> Made:
    word = rng.choice(WORDS)
    present = sorted(set(word))
    if rng.random() < 0.85:
        letter = rng.choice(present)
    else:
        letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c not in word])
    c = word.count(letter)
    text = f'How many times does the letter "{letter}" appear in the word "{word}"?'
    return text, str(c), _near_ints(rng, c, (1, -1, 2, -2, 3), k)


CAPITALS = (
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Portugal", "Lisbon"), ("Japan", "Tokyo"), ("China", "Beijing"), ("India", "New Delhi"),
    ("Russia", "Moscow"), ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Brazil", "Brasília"),
    ("Argentina", "Buenos Aires"), ("Mexico", "Mexico City"), ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"), ("Nigeria", "Abuja"), ("Turkey", "Ankara"), ("Greece", "Athens"),
    ("Sweden", "Stockholm"), ("Norway", "Oslo"), ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"), ("Poland", "Warsaw"), ("Austria", "Vienna"),
    ("Hungary", "Budapest"), ("Ireland", "Dublin"), ("United Kingdom", "London"),
    ("South Korea", "Seoul"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("Peru", "Lima"),
    ("Chile", "Santiago"), ("Colombia", "Bogotá"), ("Cuba", "Havana"), ("Iran", "Tehran"),
    ("Iraq", "Baghdad"), ("Saudi Arabia", "Riyadh"), ("Pakistan", "Islamabad"),
    ("Ethiopia", "Addis Ababa"), ("Morocco", "Rabat"), ("Philippines", "Manila"),
    ("New Zealand", "Wellington"), ("Czech Republic", "Prague"), ("Belgium", "Brussels"),
    ("Ukraine", "Kyiv"), ("Romania", "Bucharest"), ("Ghana", "Accra"), ("Venezuela", "Caracas"),
)


def _capitals(rng: random.Random, k: int) -> Made:
    i = rng.randrange(len(CAPITALS))
    country, capital = CAPITALS[i]
    rest = [c for j, c in enumerate(CAPITALS) if j != i]
    if rng.random() < 0.5:
        return f"What is the capital of {country}?", capital, _choose(
            rng, capital, [c[1] for c in rest], k, ())
    return f"{capital} is the capital of which country?", country, _choose(
        rng, country, [c[0] for c in rest], k, ())


@dataclass(frozen=True)
class Family:
    """A question family: its id key, difficulty, generator, and the most options it supports."""

    name: str
    key: str
    difficulty: str
    make: Callable[[random.Random, int], Made]
    max_choices: int = 26
    key_on_choices: bool = False  # the text alone does not identify the question

    @property
    def subject(self) -> str:
        return f"{self.name}-{self.difficulty}"


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("arithmetic", "arith", "easy", _arithmetic),
    Family("comparison", "compare", "easy", _comparison, key_on_choices=True),
    Family("capitals", "capital", "easy", _capitals, max_choices=len(CAPITALS)),
    Family("units", "units", "medium", _units),
    Family("multiplication", "mult", "hard", _multiplication),
    Family("weekday", "weekday", "hard", _weekday, max_choices=7),
    Family("letters", "letters", "hard", _letters),
)}


def synthetic_questions(n: int, seed: int = SEED, families: Sequence[str] | None = None,
                        n_choices: int = 4) -> list[Question]:
    """Generate ``n`` questions with known answers.

    Parameters
    ----------
    n : int
        How many questions.
    seed : int
        The same seed gives the same questions; a longer call extends a shorter one (prefixes agree).
    families : sequence of str, optional
        Names from :data:`FAMILIES`, in interleaving order; None = all that support ``n_choices``.
    n_choices : int
        Options per question, 2 to 26 (``weekday`` allows at most 7).

    Returns
    -------
    list of Question
        Ids like ``"syn-arith-0007"`` (family key and position), subject ``"<family>-<difficulty>"``,
        source ``"synthetic/<family>"``.

    Examples
    --------
    >>> qs = synthetic_questions(3, seed=0)
    >>> [q.subject for q in qs]
    ['arithmetic-easy', 'comparison-easy', 'capitals-easy']
    >>> q = qs[0]
    >>> q.id, len(q.choices), q.choices[q.answer] == str(eval(q.question[8:-1]))
    ('syn-arith-0000', 4, True)
    """
    option_letters(n_choices)
    if n < 0:
        raise DataError(f"n must be >= 0, got {n}")
    if families is None:
        fams = [f for f in FAMILIES.values() if f.max_choices >= n_choices]
    else:
        unknown = [f for f in families if f not in FAMILIES]
        if unknown or not families:
            raise DataError(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
        fams = [FAMILIES[f] for f in dict.fromkeys(families)]
        too_many = [f.name for f in fams if f.max_choices < n_choices]
        if too_many:
            raise DataError(f"families {too_many} cannot make {n_choices} distinct options")
    rng = random.Random(seed)
    seen: set[object] = set()
    out: list[Question] = []
    turn = 0
    while len(out) < n:
        if not fams:
            raise DataError(f"the requested families have fewer than {n} distinct questions")
        fam = fams[turn % len(fams)]
        for _ in range(200):
            text, correct, distractors = fam.make(rng, n_choices - 1)
            key = (text, frozenset(distractors + [correct])) if fam.key_on_choices else text
            if key not in seen:
                break
        else:  # this family has run out of distinct questions: continue with the others
            fams.remove(fam)
            continue
        seen.add(key)
        pos = rng.randrange(n_choices)
        choices = distractors[:pos] + [correct] + distractors[pos:]
        i = len(out)
        out.append(Question(id=f"syn-{fam.key}-{i:04d}", question=text, choices=tuple(choices),
                            answer=pos, subject=fam.subject, source=f"synthetic/{fam.name}"))
        turn += 1
    return out
