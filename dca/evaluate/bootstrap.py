"""Bootstrap percentile intervals for every metric of :data:`dca.evaluate.metrics.METRICS`.

Resampling questions with replacement, ``B`` times, gives ``B`` values of each metric; the interval
at level ``1 − α`` is their ``α/2`` and ``1 − α/2`` percentiles (the percentile bootstrap). The
metric functions work on the last axis, so all resamples are computed at once on arrays of shape
``(B, N)`` (in chunks that keep memory bounded): 1000 resamples of N = 1000 take well under a second.

Undefined resamples: a resample can leave a metric undefined (all answers correct, so no AUROC; a
constant C_v, so no ρ). Those resamples are left out of that metric's interval; when none is
defined the interval is ``(nan, nan)``. :func:`summary_table` reports how many were used.

A *paired* bootstrap (:func:`paired_bootstrap`) compares a model before and after DCA on the same
questions: each resample draws the same question indices for both, so the interval of the
difference accounts for the correlation between the two runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dca.config import N_BOOT, SEED, ConfigError, StageConfig
from dca.evaluate.metrics import METRICS, MetricInputError, compute, validate

Triple = tuple[ArrayLike, ArrayLike, ArrayLike]  # (c_v, c_i, correct)
CHUNK_VALUES = 2_000_000  # resampled values per array per chunk (~16 MB of float64)


def _check_args(n_boot: int, level: float) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot={n_boot!r} must be a positive integer")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level!r} must lie strictly between 0 and 1 (e.g. 0.95)")


def resample_indices(n: int, n_boot: int, seed: int) -> NDArray[np.int64]:
    """Question indices of ``n_boot`` resamples with replacement, shape ``(n_boot, n)``.

    >>> resample_indices(3, 2, seed=0).shape
    (2, 3)
    """
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n)) if n else \
        np.zeros((n_boot, 0), dtype=np.int64)


def resampled_metrics(c_v: NDArray[np.float64], c_i: NDArray[np.float64],
                      correct: NDArray[np.bool_], indices: NDArray[np.int64]) -> dict[str, NDArray]:
    """Every metric on every resample: ``{key: array of shape (B,)}`` (``nan`` where undefined).

    Inputs must already be validated; ``indices`` has shape ``(B, N)``.
    """
    y = correct.astype(np.float64)
    rows = max(1, CHUNK_VALUES // max(1, indices.shape[1]))
    chunks: dict[str, list[NDArray]] = {key: [] for key in METRICS}
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in range(0, indices.shape[0], rows):
            idx = indices[start:start + rows]  # (b, N)
            v, i, t = c_v[idx], c_i[idx], y[idx]  # each (b, N)
            for key, info in METRICS.items():
                chunks[key].append(np.asarray(info.fn(v, i, t), dtype=np.float64).reshape(-1))
    return {key: np.concatenate(parts) for key, parts in chunks.items()}


def percentile_interval(samples: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """The ``(1 − level)/2`` and ``(1 + level)/2`` percentiles of the defined (non-NaN) samples.

    >>> percentile_interval(np.arange(101.0), level=0.5)
    (25.0, 75.0)
    >>> percentile_interval([np.nan, np.nan])
    (nan, nan)
    """
    x = np.asarray(samples, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (float("nan"), float("nan"))
    low, high = np.percentile(x, [50.0 * (1.0 - level), 50.0 * (1.0 + level)])
    return (float(low), float(high))


def bootstrap(c_v: ArrayLike, c_i: ArrayLike, correct: ArrayLike, n_boot: int = N_BOOT,
              seed: int = SEED, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of every metric.

    Parameters
    ----------
    c_v, c_i : array_like of shape (N,)
        Verbalized and internal confidence in percent.
    correct : array_like of shape (N,)
        Whether each answer is correct.
    n_boot : int, default 1000
        Number of resamples.
    seed : int, default 0
        Seed of the resampling.
    level : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    dict
        ``{key: (low, high)}`` for every key of :data:`dca.evaluate.metrics.METRICS` (``n`` gives ``(N, N)``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> c_i = rng.uniform(0, 100, 500)
    >>> c_v = np.clip(c_i + rng.normal(10, 5, 500), 0, 100)
    >>> low, high = bootstrap(c_v, c_i, c_i > 50)["mean_eps"]
    >>> bool(low < compute(c_v, c_i, c_i > 50)["mean_eps"] < high)
    True
    """
    _check_args(n_boot, level)
    c_v, c_i, correct = validate(c_v, c_i, correct)
    samples = resampled_metrics(c_v, c_i, correct, resample_indices(c_v.size, n_boot, seed))
    return {key: percentile_interval(s, level) for key, s in samples.items()}


def _validate_pair(before: Triple, after: Triple) -> tuple[tuple, tuple]:
    """Validate both triples and insist that they cover the same number of questions."""
    b, a = validate(*before), validate(*after)
    if b[0].size != a[0].size:
        raise MetricInputError(
            f"before has {b[0].size} questions, after has {a[0].size}: a paired bootstrap needs the "
            "same questions, in the same order, in both")
    return b, a


def paired_bootstrap(before: Triple, after: Triple, n_boot: int = N_BOOT, seed: int = SEED,
                     level: float = 0.95) -> dict[str, dict[str, float]]:
    """Before-vs-after differences with a paired percentile bootstrap on the same questions.

    Parameters
    ----------
    before, after : tuple (c_v, c_i, correct)
        The same N questions, in the same order, evaluated before and after DCA.
    n_boot, seed, level
        As in :func:`bootstrap`.

    Returns
    -------
    dict
        ``{key: {"before", "after", "diff", "low", "high"}}``: the two point values, their
        difference ``after − before``, and the interval of that difference. Both runs use the same
        resampled indices; resamples where either value is undefined are left out.

    Examples
    --------
    >>> c_i = np.linspace(5, 95, 200)
    >>> right = c_i > 40
    >>> out = paired_bootstrap((np.full(200, 95.0), c_i, right), (c_i + 2, c_i, right), n_boot=200)
    >>> out["mean_abs_eps"]["diff"] < out["mean_abs_eps"]["high"] < 0
    True
    """
    _check_args(n_boot, level)
    b, a = _validate_pair(before, after)
    indices = resample_indices(b[0].size, n_boot, seed)
    sb, sa = resampled_metrics(*b, indices), resampled_metrics(*a, indices)
    vb, va = compute(*b), compute(*a)
    out: dict[str, dict[str, float]] = {}
    for key in METRICS:
        low, high = percentile_interval(sa[key] - sb[key], level)
        out[key] = {"before": vb[key], "after": va[key], "diff": va[key] - vb[key],
                    "low": low, "high": high}
    return out


def _defined_note(samples: NDArray, n_boot: int) -> str:
    used = int((~np.isnan(samples)).sum())
    return "" if used == n_boot else f"interval from {used} of {n_boot} resamples (others undefined)"


def summary_table(c_v: ArrayLike, c_i: ArrayLike, correct: ArrayLike, n_boot: int = N_BOOT,
                  seed: int = SEED, level: float = 0.95,
                  keys: Sequence[str] | None = None) -> pd.DataFrame:
    """A tidy table, one row per metric: ``metric, label, value, low, high, unit, source, note``.

    ``note`` says why a value is undefined, or how many resamples an interval rests on when some
    were undefined. ``keys`` selects and orders rows (default: all of the registry but ``n``).

    >>> t = summary_table([90, 80, 60, 30], [70, 80, 40, 50], [1, 1, 0, 0], n_boot=50)
    >>> t.columns.tolist()
    ['metric', 'label', 'value', 'low', 'high', 'unit', 'source', 'note']
    """
    _check_args(n_boot, level)
    v, i, y = validate(c_v, c_i, correct)
    values, reasons = compute(v, i, y, return_reasons=True)
    samples = resampled_metrics(v, i, y, resample_indices(v.size, n_boot, seed))
    rows = []
    for key in keys or [k for k in METRICS if k != "n"]:
        info = METRICS[key]
        low, high = percentile_interval(samples[key], level)
        rows.append({"metric": key, "label": info.label, "value": values[key], "low": low,
                     "high": high, "unit": info.unit, "source": info.source,
                     "note": reasons.get(key) or _defined_note(samples[key], n_boot)})
    return pd.DataFrame(rows)


def paired_table(paired: dict[str, dict[str, float]], keys: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`paired_bootstrap`'s result (``compare(...)["paired"]`` in :mod:`dca.evaluate.stage`) as one row
    per metric: ``metric, label, source, higher_is_better, before, after, diff, diff_low, diff_high``.

    Metrics missing from ``paired`` are left out (a run whose paired set was empty has none).

    >>> c_i = np.linspace(5, 95, 50)
    >>> paired_table(paired_bootstrap((c_i, c_i, c_i > 50), (c_i, c_i, c_i > 50), n_boot=20)).shape
    (12, 9)
    """
    rows = []
    for key in keys or [k for k in METRICS if k != "n"]:
        if key not in paired:
            continue
        p, info = paired[key], METRICS[key]
        rows.append({"metric": key, "label": info.label, "source": info.source,
                     "higher_is_better": info.higher_is_better, "before": p["before"], "after": p["after"],
                     "diff": p["diff"], "diff_low": p["low"], "diff_high": p["high"]})
    return pd.DataFrame(rows, columns=["metric", "label", "source", "higher_is_better", "before", "after",
                                       "diff", "diff_low", "diff_high"])


@dataclasses.dataclass(frozen=True)
class MetricsChapterConfig(StageConfig):
    """Parameters of the metrics chapter (``04_metrics``): which run to read, bootstrap settings."""

    stage: ClassVar[str] = "metrics"

    run_dir: str = dataclasses.field(
        default="runs/default", metadata={"help": "run folder to read (relative to the repository root)"}
    )
    n_boot: int = dataclasses.field(default=N_BOOT, metadata={"help": "bootstrap resamples for the 95 % intervals"})
    seed: int = dataclasses.field(default=SEED, metadata={"help": "seed of the bootstrap"})

    def validate(self) -> None:
        if self.n_boot < 1:
            raise ConfigError(f"n_boot={self.n_boot!r} must be > 0")
