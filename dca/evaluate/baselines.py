"""The no-training baselines every trained model is read against.

They use the untrained model's replies only: ``constant`` states the mean training ``C_i`` for every
question; ``isotonic`` maps ``C_v`` through a monotone (isotonic) fit of ``C_i`` on ``C_v`` over the
training questions; ``say_ci`` states ``round(C_i)``, the alignment ceiling. The reference
experiment's and the objectives study's collectors (:mod:`dca.reference.collect`,
:mod:`dca.reference.study_results`) and the results chapters import them from here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dca.evaluate.metrics import compute

__all__ = ["BASELINES", "baseline_cv", "constant_summary", "usable"]

#: The baselines, in the order the tables show them.
BASELINES = ("constant", "isotonic", "say_ci")


def usable(frame: pd.DataFrame) -> pd.Series:
    """Which rows can be scored: the reply parsed and both ``C_i`` and ``C_v`` are known.

    Parameters
    ----------
    frame : pandas.DataFrame
        A stage-1 or evaluation table (``parse_ok``, ``c_i``, ``c_v``).

    Returns
    -------
    pandas.Series
        A boolean mask over ``frame``'s rows.

    >>> usable(pd.DataFrame({"parse_ok": [True, False, True], "c_i": [1., 2., None], "c_v": [3., 4., 5.]})).tolist()
    [True, False, False]
    """
    return frame["parse_ok"].astype(bool) & frame["c_i"].notna() & frame["c_v"].notna()


def baseline_cv(train: pd.DataFrame, held: pd.DataFrame) -> dict[str, np.ndarray]:
    """The stated numbers of the three no-training baselines on the held-out rows ``held``.

    ``constant``: the mean ``C_i`` of the parsed training rows; ``isotonic``: an increasing isotonic
    regression of ``C_i`` on ``C_v`` fitted on the training rows (constant outside their range);
    ``say_ci``: ``round(C_i)``. Without a training row (no reply of a source parsed) there is nothing
    to fit: ``constant`` and ``isotonic`` are left out.

    Parameters
    ----------
    train : pandas.DataFrame
        The usable training rows (``c_v``, ``c_i``) the baselines are fitted on.
    held : pandas.DataFrame
        The held-out rows (``c_v``, ``c_i``) they state a number for.

    Returns
    -------
    dict of str to numpy.ndarray
        Per baseline (``constant``, ``isotonic``, ``say_ci``), one stated number per row of ``held``;
        only ``say_ci`` when ``train`` is empty.

    >>> tr = pd.DataFrame({"c_v": [70., 70., 90.], "c_i": [40., 60., 80.]})
    >>> out = baseline_cv(tr, pd.DataFrame({"c_v": [70., 90., 95.], "c_i": [33.3, 71.6, 99.]}))
    >>> out["constant"].tolist(), out["isotonic"].tolist(), out["say_ci"].tolist()
    ([60.0, 60.0, 60.0], [50.0, 80.0, 80.0], [33.0, 72.0, 99.0])
    >>> list(baseline_cv(tr.iloc[0:0], pd.DataFrame({"c_v": [70.], "c_i": [33.3]})))
    ['say_ci']
    """
    from sklearn.isotonic import IsotonicRegression

    say_ci = np.floor(held["c_i"].to_numpy(float) + 0.5)
    if len(train) == 0:
        return {"say_ci": say_ci}

    fit = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=100.0)
    fit.fit(train["c_v"].to_numpy(float), train["c_i"].to_numpy(float))
    n = len(held)
    return {"constant": np.full(n, float(train["c_i"].mean())),
            "isotonic": fit.predict(held["c_v"].to_numpy(float)),
            "say_ci": say_ci}


def constant_summary(stage1: pd.DataFrame) -> dict[str, float]:
    """The constant baseline of one run, pooled over its held-out questions: every usable held-out row
    states the mean ``C_i`` of the usable training rows (``c_v``); its ``mean_abs_eps`` and ``sigma_eps``
    against the untrained model's ``C_i`` (:func:`dca.evaluate.metrics.compute`).

    Parameters
    ----------
    stage1 : pandas.DataFrame
        The run's stage-1 table (``split``, ``parse_ok``, ``c_i``, ``c_v``, ``correct``).

    Returns
    -------
    dict of str to float
        ``c_v`` (the constant stated), ``mean_abs_eps`` and ``sigma_eps``; NaN where no training or
        no held-out reply is usable.

    >>> t = pd.DataFrame({"split": ["train", "train", "eval", "eval"], "parse_ok": [True] * 4,
    ...                   "c_i": [40., 60., 30., 80.], "c_v": [70.] * 4, "correct": [True, False, False, True]})
    >>> {k: round(v, 2) for k, v in constant_summary(t).items()}
    {'c_v': 50.0, 'mean_abs_eps': 25.0, 'sigma_eps': 35.36}
    """
    rows = stage1[usable(stage1)]
    train, held = rows[rows["split"] == "train"], rows[rows["split"] == "eval"]
    if train.empty or held.empty:  # nothing to fit, or nothing to state it for
        return {"c_v": float(train["c_i"].mean()) if len(train) else np.nan, "mean_abs_eps": np.nan,
                "sigma_eps": np.nan}
    c_v = baseline_cv(train, held)["constant"]
    got = compute(c_v, held["c_i"].to_numpy(float), held["correct"].to_numpy(bool))
    return {"c_v": float(train["c_i"].mean()), "mean_abs_eps": float(got["mean_abs_eps"]),
            "sigma_eps": float(got["sigma_eps"])}
