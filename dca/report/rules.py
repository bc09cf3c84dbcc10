"""The book's rules for words about numbers: when the stated numbers have *collapsed*, and when a
change is *better*, *worse* or *no clear change*.

Every page, sentence and exercise check uses these functions, so each word means the same thing
everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from dca.evaluate.metrics import METRICS

__all__ = ["COLLAPSE_MAX_DISTINCT", "COLLAPSE_TOP_SHARE", "beats_constant", "change_word", "collapse_sentence",
           "collapsed", "comparison_words", "direction", "interval_change", "is_collapsed", "stated_counts"]


#: The book's one rule for a collapse of the stated numbers: at most this many distinct values ...
COLLAPSE_MAX_DISTINCT = 3
#: ... or the most common value stated for at least this share (%) of the questions.
COLLAPSE_TOP_SHARE = 60.0


def stated_counts(c_v: Iterable[float]) -> tuple[int, float]:
    """How many distinct stated numbers there are, and the share (%) of the most common one
    (NaN values, unparsed replies, left out).

    >>> stated_counts([48.0, 48.0, 70.0, float("nan"), 48.0])
    (2, 75.0)
    >>> stated_counts([])
    (0, nan)
    """
    values = pd.Series(np.asarray(list(c_v), dtype=float)).dropna()
    if values.empty:
        return 0, math.nan
    return int(values.nunique()), float(100.0 * values.value_counts().iloc[0] / len(values))


def is_collapsed(distinct: float, top_share: float) -> bool:
    """The book's rule, from the counts: a collapse when at most :data:`COLLAPSE_MAX_DISTINCT` distinct
    numbers are stated or the most common one covers :data:`COLLAPSE_TOP_SHARE` % or more.

    >>> is_collapsed(2, 89.0), is_collapsed(12, 61.0), is_collapsed(12, 40.0)
    (True, True, False)
    """
    return bool(distinct <= COLLAPSE_MAX_DISTINCT or (not math.isnan(top_share) and top_share >= COLLAPSE_TOP_SHARE))


def collapsed(c_v: Iterable[float]) -> bool:
    """Whether the stated numbers ``c_v`` have collapsed: (nearly) one number whatever the question.

    Every page and exercise solution of the book uses this one function (through
    :func:`collapse_sentence` where it speaks), so "collapse" means the same thing everywhere.

    >>> collapsed([48.0] * 9 + [70.0]), collapsed([10.0, 20.0, 30.0, 40.0, 50.0])
    (True, False)
    """
    return is_collapsed(*stated_counts(c_v))


def collapse_sentence(before: tuple[float, float], after: tuple[float, float], *, unit: str = "") -> str:
    """One sentence on the stated numbers before and after training, from ``(distinct, top share %)``
    each: whether they collapsed, and whether that was already so before training.

    >>> collapse_sentence((2, 89.0), (9, 70.0))
    'The stated numbers were already collapsed before training (2 distinct numbers, the most common on 89 % of the questions) and still are after it (9 distinct, the most common on 70 %).'
    >>> collapse_sentence((12, 30.0), (2, 95.0))
    'Training collapsed the stated numbers: 12 distinct numbers before (the most common on 30 % of the questions), 2 after (the most common on 95 %).'
    >>> collapse_sentence((12, 30.0), (10, 35.0), unit=" per dataset")
    'The stated numbers did not collapse: 12 distinct numbers before (the most common on 30 % of the questions), 10 after (the most common on 35 %), per dataset.'
    """
    (k_b, t_b), (k_a, t_a) = before, after
    c_b, c_a = is_collapsed(k_b, t_b), is_collapsed(k_a, t_a)
    b = f"{k_b:.0f} distinct numbers before (the most common on {t_b:.0f} % of the questions)"
    a = f"{k_a:.0f} after (the most common on {t_a:.0f} %)"
    where = f",{unit}" if unit else ""
    if c_b and c_a:
        return (f"The stated numbers were already collapsed before training ({k_b:.0f} distinct numbers, the most "
                f"common on {t_b:.0f} % of the questions{where}) and still are after it ({k_a:.0f} distinct, the "
                f"most common on {t_a:.0f} %).")
    if c_a:
        return f"Training collapsed the stated numbers: {b}, {a}{where}."
    if c_b:
        return f"Training undid a collapse of the stated numbers: {b}, {a}{where}."
    return f"The stated numbers did not collapse: {b}, {a}{where}."


def direction(diff: float, key: str) -> str:
    """``better``, ``worse`` or ``rose``/``fell`` (for metrics with no better direction) for one change.

    >>> direction(-2.0, "sigma_eps"), direction(0.1, "rho"), direction(-1.0, "mean_eps")
    ('better', 'better', 'fell')
    """
    if not np.isfinite(diff) or diff == 0:
        return "no change"
    better = METRICS[key].higher_is_better if key in METRICS else None
    if better is None:
        return "rose" if diff > 0 else "fell"
    return "better" if (diff > 0) == bool(better) else "worse"


def change_word(diff: float, low: float, high: float, higher_is_better: bool | None,
                beats_constant: bool | None = None, collapsed: bool = False) -> str:
    """The book's one word for a change after − before: ``better``, ``worse`` or ``no clear change``.

    *better* only when the paired 95 % interval ``[low, high]`` excludes 0 on the metric's good side
    **and** the trained model beats the constant baseline on that metric (``beats_constant``; ``None``
    where the metric has no such baseline, e.g. ρ) **and** its stated numbers have not collapsed
    (``collapsed``, :func:`collapsed`: the collapse rule takes precedence, since a model that states
    one number on most questions can shrink a gap without following its confidence). *worse* when the
    interval excludes 0 on the bad side. Metrics with no better direction (``higher_is_better`` None)
    say ``rose`` or ``fell``.

    >>> change_word(-3.5, -5.0, -2.0, False, beats_constant=True, collapsed=True)
    'no clear change'

    >>> change_word(-2.0, -3.0, -1.0, False), change_word(0.5, -0.1, 1.0, True)
    ('better', 'no clear change')
    >>> change_word(-3.5, -5.0, -2.0, False, beats_constant=False)
    'no clear change'
    >>> change_word(-0.16, -0.3, -0.05, True), change_word(1.0, 0.5, 2.0, None)
    ('worse', 'rose')
    >>> change_word(float("nan"), float("nan"), 1.0, True)
    'undefined'
    """
    if math.isnan(low) or math.isnan(high):
        return "undefined"
    if low <= 0 <= high:
        return "no clear change"
    if higher_is_better is None:
        return "rose" if diff > 0 else "fell"
    if (diff > 0) != bool(higher_is_better):
        return "worse"
    return "no clear change" if beats_constant is False or collapsed else "better"


def comparison_words(comparison: pd.DataFrame, constant: dict[str, float] | None,
                     c_v_after: Iterable[float] | None = None) -> dict[str, str]:
    """The book's word (:func:`change_word`) for every metric of a paired comparison
    (:func:`dca.evaluate.bootstrap.paired_table`), against the constant baseline ``constant`` and with
    the collapse rule applied to the trained model's stated numbers ``c_v_after``: the one function
    the results chapter, its exercise and the landing page take their words from.

    >>> t = pd.DataFrame([{"metric": "mean_abs_eps", "after": 17.2, "diff": -3.5, "diff_low": -5.0,
    ...                    "diff_high": -2.0, "higher_is_better": False}])
    >>> comparison_words(t, {"mean_abs_eps": 20.0}), comparison_words(t, {"mean_abs_eps": 20.0}, [48.0] * 8 + [70, 30])
    ({'mean_abs_eps': 'better'}, {'mean_abs_eps': 'no clear change'})
    """
    wins = beats_constant(comparison, constant)
    down = collapsed(c_v_after) if c_v_after is not None else False
    return {r.metric: change_word(float(r.diff), float(r.diff_low), float(r.diff_high), r.higher_is_better,
                                  wins.get(r.metric), down) for r in comparison.itertuples()}


def interval_change(diff: float, low: float, high: float, higher_is_better: bool | None,
                    beats_constant: bool | None = None) -> str:
    """:func:`change_word` (the name the chapters used first).

    >>> interval_change(-2.0, -3.0, -1.0, False), interval_change(float("nan"), float("nan"), 1.0, True)
    ('better', 'undefined')
    """
    return change_word(diff, low, high, higher_is_better, beats_constant)


def beats_constant(comparison: pd.DataFrame, constant: dict[str, float] | None) -> dict[str, bool | None]:
    """Per metric of ``comparison`` (:func:`dca.evaluate.bootstrap.paired_table`): whether the value after
    training beats the constant baseline's (:func:`dca.evaluate.baselines.constant_summary`), for the
    metrics it has (σ_ε, mean |ε|, lower is better); ``None`` for the others.

    >>> t = pd.DataFrame({"metric": ["mean_abs_eps", "rho"], "after": [17.2, 0.02]})
    >>> beats_constant(t, {"mean_abs_eps": 16.0, "sigma_eps": 20.0})
    {'mean_abs_eps': False, 'rho': None}
    """
    out: dict[str, bool | None] = {}
    for row in comparison.itertuples():
        base = (constant or {}).get(row.metric)
        out[row.metric] = None if base is None or math.isnan(float(base)) else bool(float(row.after) < float(base))
    return out
