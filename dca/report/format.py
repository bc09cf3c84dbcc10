"""The book's formatting of numbers and text from data: metric labels and digits, escaped Markdown
tables and text, ``mean ± sd`` over seeds, and glue for the prose.

Every report module (:mod:`dca.report.reference`, :mod:`dca.report.run`) formats through these, so a
metric prints with the same digits and label on every page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from dca.evaluate.metrics import METRICS

__all__ = ["CALIBRATION_KEYS", "DATASET_TITLES", "EXTRA_LABELS", "METHOD_TITLES", "PAPER_KEYS", "better_side",
           "compact_table", "fmt", "glue_all", "label", "markdown_table", "markdown_text", "math_label", "math_text", "mean_sd", "model_title", "pm"]


PAPER_KEYS = ("rho", "sigma_eps", "mean_abs_eps", "sigma_m", "accuracy")
CALIBRATION_KEYS = ("mean_eps", "ece_verbal", "ece_internal", "brier_verbal", "brier_internal",
                    "auroc_verbal", "auroc_internal")
DATASET_TITLES = {"openbookqa": "OpenBookQA", "mmlu": "MMLU", "arc_challenge": "ARC-Challenge",
                  "arc_easy": "ARC-Easy", "commonsenseqa": "CommonsenseQA", "truthfulqa": "TruthfulQA",
                  "cosmosqa": "CosmosQA", "mean": "mean of the datasets"}
METHOD_TITLES = {"vanilla": "vanilla (no training)", "dca": "DCA (DPO)", "sft": "SFT on the chosen replies",
                 "constant": "constant: mean training C_i", "isotonic": "post-hoc isotonic map C_v → C_i",
                 "say_ci": "say round(C_i) (ceiling)"}
EXTRA_LABELS = {"distinct_cv": "distinct C_v", "top_cv_share": "most common C_v (%)",
                "letter_changed": "letter changed (%)", "parse_rate": "parsed (%)",
                "accuracy_all": "accuracy, all (%)"}


def math_label(label: str) -> str:
    """A registry label ready for a Markdown table cell (a bare ``|`` would end the cell).

    >>> math_label(r"mean $|\\varepsilon|$")
    'mean $\\\\vert \\\\varepsilon\\\\vert $'
    """
    return label.replace("|", r"\vert ")


def math_text(text: str) -> str:
    """Plain ``C_i``, ``C_v`` and ``C_i^norm`` in a job's description, typeset for Markdown; the rest of
    the text (it comes from a results file) is escaped by :func:`markdown_text`.

    >>> math_text("target C_i^norm (default C_i)")
    'target $C_i^{norm}$ \\\\(default $C_i$\\\\)'
    """
    pattern = re.compile(r"\bC_([iv])(\^norm)?\b")
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [markdown_text(text[last:m.start()]), f"$C_{m[1]}{'^{norm}' if m[2] else ''}$"]
        last = m.end()
    return "".join(out) + markdown_text(text[last:])


#: ASCII punctuation: CommonMark (and MyST) let a backslash make any of it a literal character.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_text(value: Any) -> str:
    """A string from data (a results file, a dataset or model name, a question) as Markdown that shows
    it literally: every ASCII punctuation character backslash-escaped, so ``<script>``, ``<svg ...>``,
    a MyST role (``{glue:text}`x```), ``$`` math, a link or emphasis stay text, and a ``|`` does not
    end a table cell; line breaks (which would end a table row) become spaces, while a no-break space
    (which keeps a short cell on one line) stays.

    >>> print(markdown_text("<b>x</b> | {glue:text}`y`"))
    \\<b\\>x\\<\\/b\\> \\| \\{glue\\:text\\}\\`y\\`
    >>> markdown_text("84\\u00a0pc\\nx") == "84\\u00a0pc x"
    True
    """
    return _PUNCTUATION.sub(r"\\\1", re.sub(r"[^\S\u00a0]+", " ", str(value)))


def markdown_table(frame: pd.DataFrame, markup: Iterable[str] = ()) -> str:
    """``frame`` as a Markdown table whose cells are escaped by :func:`markdown_text`, except the
    columns named in ``markup`` (Markdown this module wrote: math labels). The headers are ours."""
    markup = set(markup)
    shown = frame.copy()
    for column in shown.columns:
        if column not in markup:
            shown[column] = [markdown_text(v) for v in shown[column]]
    return shown.to_markdown(index=False, disable_numparse=True)


def compact_table(frame: pd.DataFrame, classes: str = "") -> str:
    """``frame`` as a Markdown table (:func:`markdown_table`) in a MyST ``div`` of class ``dca-compact``
    (the book's CSS: small type, short rows), plus any other ``classes``.

    >>> print(compact_table(pd.DataFrame({"a": [1]}), "dca-marks"))
    :::{div} dca-compact dca-marks
    | a   |
    |:----|
    | 1   |
    :::
    """
    return f":::{{div}} {' '.join(['dca-compact', *classes.split()])}\n{markdown_table(frame)}\n:::"


def fmt(value: float, key: str) -> str:
    """A metric value with the digits its unit deserves (pp: 2, %: 1, else 3); ``undefined`` for NaN.

    >>> fmt(12.345, "sigma_eps"), fmt(61.25, "accuracy"), fmt(0.4231, "rho"), fmt(-0.0001, "rho")
    ('12.35', '61.2', '0.423', '0.000')
    >>> fmt(float("nan"), "rho")
    'undefined'
    """
    unit = METRICS[key].unit if key in METRICS else "%" if key in EXTRA_LABELS else ""
    digits = 2 if unit == "pp" else 1 if unit == "%" else 3
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def label(key: str) -> str:
    """The metric's label for a table (its registry label, or the key)."""
    return math_label(METRICS[key].label) if key in METRICS else key


def better_side(higher_is_better: bool | None) -> str:
    """Which way a metric is better, for a table's *better* column.

    Parameters
    ----------
    higher_is_better : bool or None
        The metric's registry entry (:attr:`dca.evaluate.metrics.MetricInfo.higher_is_better`); None for a metric
        with no better direction.

    Returns
    -------
    str
        ``higher``, ``lower`` or ``—``.

    >>> better_side(True), better_side(False), better_side(None)
    ('higher', 'lower', '—')
    """
    return {True: "higher", False: "lower", None: "—"}[higher_is_better]


def mean_sd(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and count of the finite values.

    >>> mean_sd([1.0, 2.0, 3.0])
    (2.0, 1.0, 3)
    >>> mean_sd([4.0, float("nan")])[1:]
    (nan, 1)
    """
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan, 0
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan, int(arr.size)


def pm(values: Iterable[float], key: str) -> str:
    """``mean ± sd`` over seeds (just the value for one seed).

    >>> pm([10.0, 12.0, 14.0], "sigma_eps"), pm([0.5], "rho")
    ('12.00 ± 2.00', '0.500')
    """
    m, s, n = mean_sd(values)
    if n == 0:
        return "—"
    return fmt(m, key) if n == 1 or math.isnan(s) else f"{fmt(m, key)} ± {fmt(s, key)}"


def glue_all(values: dict[str, Any]) -> None:
    """Glue every ``name: value`` for the prose (``{glue:text}`name```), shown nowhere else."""
    from myst_nb import glue

    for name, v in values.items():
        glue(name, v, display=False)


def model_title(model: str) -> str:
    """The name a reader knows a model by: a packaged model's title up to its first parenthesis, else
    the name as given (a Hub id or a folder).

    >>> model_title("embedded"), model_title("google/gemma-2-9b-it")
    ('SmolLM2-135M-Instruct', 'google/gemma-2-9b-it')
    """
    from dca.models.embedded import PACKAGED_MODELS

    spec = PACKAGED_MODELS.get(model)
    return spec.title.split(" (")[0] if spec else model
