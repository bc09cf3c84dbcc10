"""The paper's alignment metrics and, beyond the paper, calibration against correctness.

Every statistic is one small function on arrays whose **last axis runs over questions**, so the same
code gives one value for inputs of shape ``(N,)`` and one value per row for ``(B, N)`` (the
bootstrap in :mod:`dca.evaluate.bootstrap`). As in torchmetrics the work is split in three steps:
:func:`validate` (inputs) → one statistic per function → :func:`compute` (the reduction into a
dict, driven by the :data:`METRICS` registry that the book also prints as its metric table).

Units: ``C_v`` and ``C_i`` are percentages in [0, 100]; ε = C_v − C_i and its summaries are in
percentage points; accuracy is a percentage (0–100, as in the paper's tables); ECE, Brier and AUROC
are fractions in [0, 1]; ρ is in [−1, 1].

Undefined values: a metric that the data cannot define (any metric at N = 0; σ_ε and σ_M at N = 1;
ρ when C_v or C_i is constant; AUROC without both correct and wrong answers) is ``nan``, never an
exception; :func:`undefined_reasons` or ``compute(..., return_reasons=True)`` says why in words.
Invalid inputs (NaN, values outside [0, 100], unequal lengths) raise :class:`MetricInputError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

Value = float | NDArray[np.float64]  # a float for (N,) inputs, an array of shape (B,) for (B, N)
N_BINS = 10


class MetricInputError(ValueError):
    """Inputs to a metric are invalid; the message names the input, the values and the positions."""


# ---------------------------------------------------------------------------------------- validation
def _positions(mask: NDArray[np.bool_], limit: int = 10) -> str:
    """Positions where ``mask`` is true, as ``[3, 7]`` (the first ``limit`` of them)."""
    where = np.flatnonzero(mask)
    more = f" (first {limit} of {where.size} shown)" if where.size > limit else ""
    return f"{where[:limit].tolist()}{more}"


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _as_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """``values`` as a 1-D float array, or a :class:`MetricInputError` naming ``name``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MetricInputError(f"{name} must be 1-D (one value per question); got shape {arr.shape}")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise MetricInputError(f"{name} must be numeric; got dtype {arr.dtype}") from None


def _check_no_nan(name: str, arr: NDArray[np.float64]) -> None:
    nan = np.isnan(arr)
    if nan.any():
        raise MetricInputError(
            f"{name} has {_plural(int(nan.sum()), 'NaN value')} at positions {_positions(nan)}")


def _check_percent(name: str, arr: NDArray[np.float64]) -> None:
    bad = (arr < 0) | (arr > 100)
    if bad.any():
        raise MetricInputError(
            f"{name} has {_plural(int(bad.sum()), 'value')} outside [0, 100] (confidences are "
            f"percentages): {arr[bad][:10].tolist()} at positions {_positions(bad)}")


def _check_binary(name: str, arr: NDArray[np.float64]) -> None:
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise MetricInputError(
            f"{name} must be True/False (or 1/0); {_plural(int(bad.sum()), 'value')} "
            f"{arr[bad][:10].tolist()} at positions {_positions(bad)}")


def validate(c_v: ArrayLike, c_i: ArrayLike, correct: ArrayLike) -> tuple[
        NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Check and convert the three per-question inputs of every metric.

    Parameters
    ----------
    c_v, c_i : array_like of shape (N,)
        Verbalized and internal confidence in percent, each in [0, 100], no NaN.
    correct : array_like of shape (N,)
        Whether each answer is correct (bool, or 0/1).

    Returns
    -------
    c_v, c_i : ndarray of float64
    correct : ndarray of bool

    Raises
    ------
    MetricInputError
        On unequal lengths, NaN, values outside [0, 100], or a non-binary ``correct``.

    Examples
    --------
    >>> try:
    ...     validate([50, float("nan"), 70, float("nan")], [1, 2, 3, 4], [1, 0, 1, 0])
    ... except MetricInputError as err:
    ...     print(err)
    c_v has 2 NaN values at positions [1, 3]
    >>> try:
    ...     validate([50, 0.8], [1, 2, 3], [True, False])
    ... except MetricInputError as err:
    ...     print(err)
    inputs differ in length: c_v has 2 values, c_i has 3, correct has 2
    """
    arrays = {"c_v": _as_1d("c_v", c_v), "c_i": _as_1d("c_i", c_i),
              "correct": _as_1d("correct", correct)}
    lengths = {name: arr.size for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise MetricInputError("inputs differ in length: c_v has {c_v} values, c_i has {c_i}, "
                               "correct has {correct}".format(**lengths))
    for name, arr in arrays.items():
        _check_no_nan(name, arr)
    _check_percent("c_v", arrays["c_v"])
    _check_percent("c_i", arrays["c_i"])
    _check_binary("correct", arrays["correct"])
    return arrays["c_v"], arrays["c_i"], arrays["correct"].astype(bool)


# ---------------------------------------------------------------------------------------- statistics
def _f(x: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64)


def _scalar(x: NDArray[np.float64]) -> Value:
    """A 0-d result as a plain ``float``; batched results stay arrays."""
    return float(x) if np.ndim(x) == 0 else x


def _nan_like(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``nan`` in the shape of ``x`` without its last (question) axis."""
    return np.full(x.shape[:-1], np.nan)


def _mean(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean over questions; ``nan`` (without a warning) when there are none."""
    return _nan_like(x) if x.shape[-1] == 0 else x.mean(axis=-1)


def epsilon(c_v: ArrayLike, c_i: ArrayLike) -> NDArray[np.float64]:
    r"""Per-question calibration error :math:`\varepsilon_j = C_{v,j} - C_{i,j}` (percentage points).

    >>> epsilon([90, 40], [70, 55]).tolist()
    [20.0, -15.0]
    """
    return _f(c_v) - _f(c_i)


def accuracy(correct: ArrayLike) -> Value:
    r"""Accuracy in percent, :math:`100 \cdot \frac{1}{N}\sum_j y_j`.

    >>> accuracy([True, True, False, True])
    75.0
    """
    return _scalar(100.0 * _mean(_f(correct)))


def mean_eps(c_v: ArrayLike, c_i: ArrayLike) -> Value:
    r"""Mean signed error (bias) :math:`\bar\varepsilon = \frac{1}{N}\sum_j \varepsilon_j` (pp).

    >>> mean_eps([90, 40], [70, 55])
    2.5
    """
    return _scalar(_mean(epsilon(c_v, c_i)))


def mean_abs_eps(c_v: ArrayLike, c_i: ArrayLike) -> Value:
    r"""Mean absolute error :math:`\frac{1}{N}\sum_j |\varepsilon_j|` (pp); always :math:`\ge |\bar\varepsilon|`.

    >>> mean_abs_eps([90, 40], [70, 55])
    17.5
    """
    return _scalar(_mean(np.abs(epsilon(c_v, c_i))))


def sigma_eps(c_v: ArrayLike, c_i: ArrayLike) -> Value:
    r"""Spread of ε, :math:`\sigma_\varepsilon = \sqrt{\frac{1}{N-1}\sum_j (\varepsilon_j-\bar\varepsilon)^2}`.

    Sample standard deviation (``ddof = 1``) in pp; ``nan`` for N < 2.

    >>> sigma_eps([90, 40, 60], [70, 20, 40])  # every answer 20 points over: no spread
    0.0
    >>> sigma_eps([90, 40], [70, 55])
    24.748737341529164
    """
    eps = epsilon(c_v, c_i)
    return _scalar(_nan_like(eps) if eps.shape[-1] < 2 else eps.std(axis=-1, ddof=1))


def sigma_m(c_v: ArrayLike, c_i: ArrayLike) -> Value:
    r"""Standard error of the mean ε, :math:`\sigma_M = \sigma_\varepsilon / \sqrt{N}` (pp).

    >>> sigma_m([45, 83, 63, 33], [50, 80, 60, 30])  # ε = -5, 3, 3, 3: σ_ε = 4, N = 4
    2.0
    """
    n = np.shape(c_v)[-1]
    return _scalar(_f(sigma_eps(c_v, c_i)) / math.sqrt(n) if n else _nan_like(_f(c_v)))


def _pearson(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson correlation along the last axis; ``nan`` where either row is constant."""
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((dx * dx).sum(axis=-1) * (dy * dy).sum(axis=-1))
    num = (dx * dy).sum(axis=-1)
    r = np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)
    return np.clip(r, -1.0, 1.0)


def spearman_rho(c_v: ArrayLike, c_i: ArrayLike) -> Value:
    r"""Spearman rank correlation :math:`\rho = \operatorname{corr}(\operatorname{rank} C_v, \operatorname{rank} C_i)`.

    Pearson correlation of the ranks (ties get their average rank, as in ``scipy.stats.spearmanr``).
    ``nan`` when N < 2 or either confidence is constant.

    >>> spearman_rho([10, 20, 30, 40], [15, 5, 50, 60])
    0.8
    >>> spearman_rho([80, 80, 80], [10, 20, 30])
    nan
    """
    x, y = _f(c_v), _f(c_i)
    if x.shape[-1] < 2:
        return _scalar(_nan_like(x))
    return _scalar(_pearson(rankdata(x, axis=-1), rankdata(y, axis=-1)))


def bin_index(confidence: ArrayLike, n_bins: int = N_BINS) -> NDArray[np.int64]:
    r"""Calibration bin of each confidence (percent): ``n_bins`` equal-width bins on [0, 1].

    Bin :math:`k` holds :math:`p = C/100 \in [k/K, (k+1)/K)`, except the last bin, which is closed,
    :math:`[(K-1)/K, 1]`: so 0 % falls in the first bin and 100 % in the last, with no extra bin at
    1.0. Computed from the percentage, :math:`k = \min(\lfloor C K / 100 \rfloor, K-1)`, so a bin edge
    such as 30 % lands exactly in the bin that starts there. Shared by :func:`ece` and the plots.

    >>> bin_index([0, 9.99, 10, 30, 95, 100]).tolist()
    [0, 0, 1, 3, 9, 9]
    """
    k = np.floor(_f(confidence) * n_bins / 100.0)
    return np.clip(k, 0, n_bins - 1).astype(np.int64)


def _per_bin_sums(bins: NDArray[np.int64], values: NDArray[np.float64], n_bins: int
                  ) -> NDArray[np.float64]:
    """Sum ``values`` within each bin along the last axis: shape (..., N) -> (..., n_bins)."""
    lead = bins.shape[:-1]
    rows = int(np.prod(lead))
    offsets = (np.arange(rows) * n_bins).reshape(lead + (1,))
    sums = np.bincount((bins + offsets).ravel(), weights=np.broadcast_to(values, bins.shape).ravel(),
                       minlength=rows * n_bins)
    return sums.reshape(lead + (n_bins,))


def ece(confidence: ArrayLike, correct: ArrayLike, n_bins: int = N_BINS) -> Value:
    r"""Expected calibration error of a confidence (percent) against correctness, in [0, 1].

    .. math:: \mathrm{ECE} = \sum_{k} \frac{n_k}{N}\,\bigl|\mathrm{acc}_k - \mathrm{conf}_k\bigr|
              = \frac{1}{N}\sum_k \Bigl|\sum_{j \in B_k} (y_j - p_j)\Bigr|, \quad p_j = C_j/100,

    over the bins :math:`B_k` of :func:`bin_index` (empty bins add nothing); ``nan`` for N = 0.

    >>> ece([75, 75, 25, 25], [True, False, False, False])  # |0.5 - 0.75|/2 + |0 - 0.25|/2
    0.25
    """
    p = _f(confidence) / 100.0
    if p.shape[-1] == 0:
        return _scalar(_nan_like(p))
    bins = bin_index(confidence, n_bins)
    gap = _per_bin_sums(bins, _f(correct) - p, n_bins)
    return _scalar(np.abs(gap).sum(axis=-1) / p.shape[-1])


def reliability_table(confidence: ArrayLike, correct: ArrayLike, n_bins: int = N_BINS) -> pd.DataFrame:
    """Per-bin counts, mean confidence and accuracy (both in percent) with the bins of :func:`bin_index`.

    Empty bins have ``count`` 0 and ``nan`` means. Used by :func:`dca.report.plots.plot_reliability`.

    >>> reliability_table([5, 95, 100, 90, 95], [False, True, True, False, True], n_bins=2)
        low   high  count  mean_confidence  accuracy
    0   0.0   50.0      1              5.0       0.0
    1  50.0  100.0      4             95.0      75.0
    """
    conf, y = _f(confidence), _f(correct)
    bins = bin_index(conf, n_bins)
    count = _per_bin_sums(bins, np.ones_like(conf), n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = _per_bin_sums(bins, conf, n_bins) / count
        acc = 100.0 * _per_bin_sums(bins, y, n_bins) / count
    edges = np.linspace(0.0, 100.0, n_bins + 1)
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "count": count.astype(int),
                         "mean_confidence": mean_conf, "accuracy": acc})


def brier(confidence: ArrayLike, correct: ArrayLike) -> Value:
    r"""Brier score :math:`\frac{1}{N}\sum_j (C_j/100 - y_j)^2` in [0, 1] (lower is better).

    >>> brier([100, 0, 50], [True, True, False])
    0.4166666666666667
    """
    return _scalar(_mean((_f(confidence) / 100.0 - _f(correct)) ** 2))


def auroc(confidence: ArrayLike, correct: ArrayLike) -> Value:
    r"""Area under the ROC curve of a confidence for telling correct from wrong answers.

    The Mann–Whitney form with average ranks :math:`r_j` (ties count one half):

    .. math:: \mathrm{AUROC} = \frac{\sum_{j: y_j=1} r_j - n_+(n_+ + 1)/2}{n_+\, n_-}

    ``nan`` unless there are both correct (:math:`n_+`) and wrong (:math:`n_-`) answers.

    >>> auroc([90, 80, 70, 20], [True, False, True, False])
    0.75
    >>> auroc([90, 80], [True, True])
    nan
    """
    c, y = _f(confidence), _f(correct)
    if c.shape[-1] == 0:
        return _scalar(_nan_like(c))
    n_pos = y.sum(axis=-1)
    n_neg = y.shape[-1] - n_pos
    u = (rankdata(c, axis=-1) * y).sum(axis=-1) - n_pos * (n_pos + 1) / 2
    den = n_pos * n_neg
    return _scalar(np.divide(u, den, out=np.full(np.shape(u), np.nan), where=den > 0))


# ---------------------------------------------------------------------------------------- registry
MetricFn = Callable[[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]], Value]


@dataclass(frozen=True)
class MetricInfo:
    """One row of the metric table: what a key of :func:`compute` means and how it is computed.

    ``higher_is_better`` is ``None`` where neither direction is better (``n``; ``mean_eps``, whose
    ideal is 0). ``fn(c_v, c_i, correct)`` works on arrays of shape (N,) or (B, N).
    """

    key: str
    name: str
    label: str
    unit: str
    description: str
    higher_is_better: bool | None
    source: str
    fn: MetricFn = field(repr=False, compare=False)


def _info(key, name, label, unit, description, higher, source, fn) -> tuple[str, MetricInfo]:
    return key, MetricInfo(key, name, label, unit, description, higher, source, fn)


_PAPER, _BEYOND = "paper", "beyond the paper"
METRICS: dict[str, MetricInfo] = dict([
    _info("n", "N", r"$N$", "questions", "number of evaluated questions", None, _PAPER,
          lambda v, i, y: np.full(np.shape(v)[:-1], float(np.shape(v)[-1]))),
    _info("accuracy", "accuracy", r"$\mathrm{acc}$", "%", "share of correct answers", True, _PAPER,
          lambda v, i, y: accuracy(y)),
    _info("rho", "Spearman ρ", r"$\rho$", "", "rank correlation between C_v and C_i", True,
          "paper (Kumar et al. 2024)", lambda v, i, y: spearman_rho(v, i)),
    _info("mean_eps", "mean ε", r"$\bar\varepsilon$", "pp",
          "mean signed C_v − C_i: overconfidence (> 0) or underconfidence (< 0)", None, _BEYOND,
          lambda v, i, y: mean_eps(v, i)),
    _info("sigma_eps", "σ_ε", r"$\sigma_\varepsilon$", "pp", "standard deviation of ε (ddof = 1)",
          False, _PAPER, lambda v, i, y: sigma_eps(v, i)),
    _info("mean_abs_eps", "mean |ε|", r"$\overline{|\varepsilon|}$", "pp",
          "mean absolute gap between C_v and C_i", False, _PAPER, lambda v, i, y: mean_abs_eps(v, i)),
    _info("sigma_m", "σ_M", r"$\sigma_M$", "pp", "standard error of the mean ε, σ_ε/√N", False,
          _PAPER, lambda v, i, y: sigma_m(v, i)),
    _info("ece_verbal", "ECE of C_v", r"$\mathrm{ECE}(C_v)$", "",
          "expected calibration error of C_v against correctness (10 bins)", False, _BEYOND,
          lambda v, i, y: ece(v, y)),
    _info("ece_internal", "ECE of C_i", r"$\mathrm{ECE}(C_i)$", "",
          "expected calibration error of C_i against correctness (10 bins)", False, _BEYOND,
          lambda v, i, y: ece(i, y)),
    _info("brier_verbal", "Brier of C_v", r"$\mathrm{BS}(C_v)$", "",
          "mean squared error of C_v/100 against correctness", False, _BEYOND,
          lambda v, i, y: brier(v, y)),
    _info("brier_internal", "Brier of C_i", r"$\mathrm{BS}(C_i)$", "",
          "mean squared error of C_i/100 against correctness", False, _BEYOND,
          lambda v, i, y: brier(i, y)),
    _info("auroc_verbal", "AUROC of C_v", r"$\mathrm{AUROC}(C_v)$", "",
          "how well C_v separates correct from wrong answers", True, _BEYOND,
          lambda v, i, y: auroc(v, y)),
    _info("auroc_internal", "AUROC of C_i", r"$\mathrm{AUROC}(C_i)$", "",
          "how well C_i separates correct from wrong answers", True, _BEYOND,
          lambda v, i, y: auroc(i, y)),
])


# ---------------------------------------------------------------------------------------- reduction
def undefined_reasons(c_v: NDArray[np.float64], c_i: NDArray[np.float64],
                      correct: NDArray[np.bool_]) -> dict[str, str]:
    """Why each metric that these (validated) inputs cannot define is undefined; others are absent.

    >>> undefined_reasons(np.array([80.0]), np.array([60.0]), np.array([True]))["sigma_eps"]
    'N = 1: the standard deviation with ddof = 1 needs N >= 2'
    """
    n = c_v.size
    if n == 0:
        return {key: "N = 0: no questions" for key in METRICS if key != "n"}
    reasons: dict[str, str] = {}
    if n == 1:
        why = "N = 1: the standard deviation with ddof = 1 needs N >= 2"
        reasons.update(sigma_eps=why, sigma_m=why, rho="N = 1: a correlation needs N >= 2")
    else:
        for name, arr in (("C_v", c_v), ("C_i", c_i)):
            if np.all(arr == arr[0]):
                reasons.setdefault("rho", f"{name} is constant ({arr[0]:g} for all {n} questions): "
                                          "Spearman ρ is undefined")
    if correct.all() or not correct.any():
        which = "correct" if correct.all() else "wrong"
        why = f"all {n} answers are {which}: AUROC needs both correct and wrong answers"
        reasons.update(auroc_verbal=why, auroc_internal=why)
    return reasons


def compute(c_v: ArrayLike, c_i: ArrayLike, correct: ArrayLike, *, return_reasons: bool = False
            ) -> dict[str, float] | tuple[dict[str, float], dict[str, str]]:
    """All metrics of :data:`METRICS` for one set of questions.

    Parameters
    ----------
    c_v, c_i : array_like of shape (N,)
        Verbalized and internal confidence in percent (0–100).
    correct : array_like of shape (N,)
        Whether each answer is correct.
    return_reasons : bool, default False
        Also return ``{key: reason}`` for every metric that is ``nan`` because it is undefined.

    Returns
    -------
    dict
        ``n`` (int) and the twelve metrics (float, ``nan`` when undefined), keys in registry order;
        with ``return_reasons=True`` the tuple ``(values, reasons)``.

    Raises
    ------
    MetricInputError
        From :func:`validate`.

    Examples
    --------
    >>> m = compute([90, 80, 60, 30], [70, 80, 40, 50], [True, True, False, False])
    >>> m["n"], m["accuracy"], m["mean_eps"], m["mean_abs_eps"], m["auroc_verbal"]
    (4, 50.0, 5.0, 15.0, 1.0)
    >>> values, reasons = compute([90, 90], [70, 60], [True, True], return_reasons=True)
    >>> values["rho"], reasons["rho"]
    (nan, 'C_v is constant (90 for all 2 questions): Spearman ρ is undefined')
    """
    c_v, c_i, correct = validate(c_v, c_i, correct)
    reasons = undefined_reasons(c_v, c_i, correct)
    y = correct.astype(np.float64)
    values: dict[str, float] = {
        key: math.nan if key in reasons else float(info.fn(c_v, c_i, y))
        for key, info in METRICS.items()}
    values["n"] = int(c_v.size)
    return (values, reasons) if return_reasons else values
