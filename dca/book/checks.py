"""Checks that students run after each exercise: they recompute the answer and say what is wrong.

Every exercise of the chapter notebooks ends with a *check cell* (tagged ``exercise-check``), kept
in the student copies, that calls the function of this module named after the exercise's label::

    from dca.book import checks
    checks.ex_sigma_m_run(globals(), c_v=c_v, c_i=c_i)

The first argument is the notebook's namespace, where the check looks up the student's answers by
name: an answer still missing (or ``None``) fails with "define `sigma_eps` first", not with a
``NameError``. The other arguments are the notebook's own data the exercise starts from; the
check recomputes the expected answer from them, independently of the solution, so that it holds on
a run of any size. A wrong answer raises :class:`AssertionError` with a hint; a right one prints
one line.

Checks name the exercise by its number in the book (:func:`exercise_name`):

>>> ex_internal_confidence({"c_i": 49.2, "c_i_norm": 70.3})
Exercise 1.1: correct.
>>> ex_internal_confidence({"c_i": 49.2})
Traceback (most recent call last):
...
AssertionError: Exercise 1.1: define `c_i_norm` first (C_i^norm in %, renormalised over the four letters).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

CHECKS: dict[str, Callable[..., None]] = {}
"""``{exercise label: check function}``: every exercise of the book has one."""


def _check(label: str):
    def register(fn):
        CHECKS[label] = fn
        fn.label = label
        return fn
    return register


_NAMES: dict[str, str] = {}


def exercise_name(label: str) -> str:
    """``Exercise 5.2``: the number the book gives the exercise labelled ``label`` (read once from the
    chapter notebooks and ``_toc.yml``, as :mod:`dca.book.exercises` numbers them); the label itself when
    the notebooks are not at hand (a student copy opened alone).

    >>> exercise_name("ex-collapse"), exercise_name("ex-no-such-exercise")
    ('Exercise 5.2', 'ex-no-such-exercise')
    """
    if not _NAMES:
        try:
            from dca.book.exercises import exercise_index
            from dca.paths import ROOT

            _NAMES.update({ex.label: f"Exercise {ex.number}" for ex in
                           exercise_index(sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))) if ex.label})
        except Exception:  # noqa: BLE001 - without the sources the label still names the exercise
            _NAMES["?"] = "?"
    return _NAMES.get(label, label)


def _fail(label: str, message: str) -> None:
    raise AssertionError(f"{exercise_name(label)}: {message}")


def answer(ns: Mapping[str, Any], name: str, label: str, what: str) -> Any:
    """The student's ``name`` from namespace ``ns``; fail with "define `name` first" when missing.

    >>> answer({"x": 1}, "x", "ex", "a number")
    1
    >>> answer({"x": None}, "x", "ex", "a number")
    Traceback (most recent call last):
    ...
    AssertionError: ex: define `x` first (a number).
    """
    value = ns.get(name)
    if value is None:
        _fail(label, f"define `{name}` first ({what}).")
    return value


def number(ns: Mapping[str, Any], name: str, label: str, what: str) -> float:
    """The student's ``name`` as a float (see :func:`answer`)."""
    value = answer(ns, name, label, what)
    try:
        return float(value)
    except (TypeError, ValueError):
        _fail(label, f"`{name}` should be one number ({what}), not {type(value).__name__} {value!r:.60}.")


def close(label: str, name: str, got: float, expected: float, tol: float, hint: str = "") -> None:
    """Fail unless ``got`` is within ``tol`` of ``expected`` (both NaN counts as equal)."""
    if math.isnan(expected) and math.isnan(got):
        return
    if math.isnan(expected) or math.isnan(got) or abs(got - expected) > tol:
        _fail(label, f"`{name}` = {got:.4g} is not right{': ' + hint if hint else '.'}")


def text(ns: Mapping[str, Any], name: str, label: str, what: str, min_words: int = 15) -> str:
    """The student's written answer ``name``: a string of at least ``min_words`` words."""
    value = answer(ns, name, label, what)
    if not isinstance(value, str) or len(re.findall(r"\w+", value)) < min_words or "..." in value:
        _fail(label, f"write `{name}` as a sentence or two of at least {min_words} words ({what}).")
    return value


def choice(ns: Mapping[str, Any], name: str, label: str, options: tuple[str, ...], expected: str, hint: str) -> None:
    """Check a multiple-choice answer ``name`` (one of ``options``, case-insensitive) against ``expected``."""
    value = answer(ns, name, label, f"one of {', '.join(repr(o) for o in options)}")
    if str(value).strip().lower() not in options:
        _fail(label, f"`{name}` should be one of {', '.join(repr(o) for o in options)}, not {value!r}.")
    if str(value).strip().lower() != expected:
        _fail(label, f"`{name}` = {value!r} is not right: {hint}")


def boolean(ns: Mapping[str, Any], name: str, label: str, expected: bool, hint: str) -> None:
    """Check a yes/no answer ``name`` (``True`` or ``False``) against ``expected``."""
    value = answer(ns, name, label, "True or False")
    if not isinstance(value, (bool, np.bool_)):
        _fail(label, f"`{name}` should be True or False, not {value!r}.")
    if bool(value) != expected:
        _fail(label, f"`{name}` = {value!r} is not right: {hint}")


def _passed(label: str) -> None:
    print(f"{exercise_name(label)}: correct.")


def _usable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose reply parsed and that have both confidences."""
    keep = frame["parse_ok"].astype(bool) & frame["c_i"].notna() & frame["c_v"].notna()
    return frame[keep]


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else math.nan


# --------------------------------------------------------------------------------------------------
# Chapter 1


@_check("ex-internal-confidence")
def ex_internal_confidence(ns: Mapping[str, Any]) -> None:
    """``c_i`` and ``c_i_norm`` (in %) for the logits and mass given in the exercise."""
    label = "ex-internal-confidence"
    z = np.array([2.0, 0.5, 0.1, -1.0])
    letters_mass = 1.0 - 0.30
    norm = 100.0 * math.exp(z[0]) / float(np.sum(np.exp(z)))
    got_i = number(ns, "c_i", label, "C_i in %, full-vocabulary softmax")
    got_norm = number(ns, "c_i_norm", label, "C_i^norm in %, renormalised over the four letters")
    if got_norm <= 1 and got_i <= 1:
        _fail(label, "give both confidences in percent (0-100), not as fractions.")
    close(label, "c_i_norm", got_norm, norm, 0.1, "softmax the four logits alone and take the first letter's share.")
    close(label, "c_i", got_i, norm * letters_mass, 0.1,
          "the four letters hold only 70 % of the full-vocabulary mass: scale C_i^norm by that share.")
    _passed(label)


@_check("ex-overconfidence")
def ex_overconfidence(ns: Mapping[str, Any], table: pd.DataFrame) -> None:
    """``share_over`` (% of parsed replies with C_v > C_i) and Spearman ``rho`` on this run's ``table``.

    The rows are the parsed replies with a known ``c_i``.
    """
    label = "ex-overconfidence"
    ok = table[table["parse_ok"].astype(bool) & table["c_i"].notna()]
    over = 100.0 * float((ok["c_v"] > ok["c_i"]).mean()) if len(ok) else math.nan
    ranks_v, ranks_i = ok["c_v"].rank(), ok["c_i"].rank()  # Spearman: Pearson's r of the ranks
    rho = float(ranks_v.corr(ranks_i)) if len(ok) > 1 else math.nan
    got = number(ns, "share_over", label, "the share, in %, of parsed replies with C_v > C_i")
    if 0 < over and math.isclose(got, over / 100, abs_tol=1e-6):
        _fail(label, "give `share_over` in percent (0-100), not as a fraction.")
    close(label, "share_over", got, over, 0.05, "count the parsed replies (parse_ok, c_i known) with c_v > c_i.")
    close(label, "rho", number(ns, "rho", label, "the Spearman correlation of C_v and C_i"), rho, 1e-3,
          "use scipy.stats.spearmanr on the parsed replies' c_v and c_i.")
    _passed(label)


# --------------------------------------------------------------------------------------------------
# Chapter 2


@_check("ex-chosen-response")
def ex_chosen_response(ns: Mapping[str, Any]) -> None:
    """``chosen``: the reply of the exercise with its number replaced by round(C_i)."""
    from dca.pairs import round_half_up

    label = "ex-chosen-response"
    rejected, c_i = "The answer is B.\nAnswer: B\nProbability: 95%", 41.6
    start = rejected.index("95")
    expected = rejected[:start] + str(round_half_up(c_i)) + rejected[start + 2:]
    got = answer(ns, "chosen", label, "the chosen response, a string")
    if not isinstance(got, str):
        _fail(label, f"`chosen` should be a string, not {type(got).__name__}.")
    if str(c_i) in got:
        _fail(label, "the pairs state whole percentages: round C_i first.")
    if got != expected:
        _fail(label, "only the number changes: keep every other character of the reply as it is "
                     f"(expected {expected!r}, got {got!r}).")
    _passed(label)


@_check("ex-pair-by-hand")
def ex_pair_by_hand(ns: Mapping[str, Any], stage1: pd.DataFrame, pairs: list[dict[str, Any]]) -> None:
    """``by_hand``: the chosen reply of the first parsed training row of ``stage1``, built by hand."""
    label = "ex-pair-by-hand"
    rows = stage1[(stage1["split"] == "train") & stage1["parse_ok"].astype(bool) & stage1["c_i"].notna()]
    if rows.empty:
        _fail(label, "this run has no parsed training row: there is nothing to build.")
    row = rows.iloc[0]
    points = int(math.floor(float(row["c_i"]) + 0.5))  # round half up
    written = str(points) if float(row["cv_scale"]) == 100 else f"{points / 100:.2f}"
    start, end = int(row["cv_start"]), int(row["cv_end"])
    expected = row["response"][:start] + written + row["response"][end:]
    got = answer(ns, "by_hand", label, "the chosen response you built, a string")
    if got != expected:
        _fail(label, f"expected {expected!r}, got {got!r}: replace response[cv_start:cv_end] by round(c_i) "
                     "(half up), written as the model wrote it (a fraction when cv_scale is 1).")
    kept = {r["id"]: r for r in pairs}
    if row["id"] in kept and kept[row["id"]]["chosen"][0]["content"] != expected:
        _fail(label, "your reply differs from the pair's chosen reply for this question.")
    _passed(label)


# --------------------------------------------------------------------------------------------------
# Chapter 3


def dpo_loss(loss_type: str, beta: float, h: float) -> float:
    """The preference loss of one pair with log-ratio difference ``h`` (see the training chapter).

    >>> round(dpo_loss("sigmoid", 0.1, 0.0), 4), dpo_loss("ipo", 0.5, 1.0), dpo_loss("hinge", 0.5, 1.0)
    (0.6931, 0.0, 0.5)
    """
    if loss_type == "sigmoid":
        return float(np.logaddexp(0.0, -beta * h))
    if loss_type == "ipo":
        return float((h - 1.0 / (2.0 * beta)) ** 2)
    if loss_type == "hinge":
        return float(max(0.0, 1.0 - beta * h))
    raise ValueError(f"unknown loss_type {loss_type!r}")


def h_for_loss(loss_type: str, beta: float, loss: float) -> float:
    """The smallest ``h >= 0`` with ``dpo_loss(loss_type, beta, h) <= loss`` (0 < ``loss``).

    >>> round(h_for_loss("sigmoid", 0.1, 0.3), 3), round(h_for_loss("sigmoid", 0.5, 0.3), 3)
    (10.502, 2.1)
    >>> h_for_loss("hinge", 0.5, 0.5), h_for_loss("ipo", 0.5, 0.25), h_for_loss("ipo", 0.1, 0.25)
    (1.0, 0.5, 4.5)
    """
    if loss_type == "sigmoid":
        return max(0.0, -math.log(math.expm1(loss)) / beta)
    if loss_type == "hinge":
        return max(0.0, (1.0 - loss) / beta)
    if loss_type == "ipo":
        return max(0.0, 1.0 / (2.0 * beta) - math.sqrt(loss))
    raise ValueError(f"unknown loss_type {loss_type!r}")


@_check("ex-beta")
def ex_beta(ns: Mapping[str, Any], margin: float, beta: float) -> None:
    """``h``, ``losses`` ({beta': loss}) and ``larger_beta_loss`` from the last logged ``margin``."""
    label = "ex-beta"
    h = float(margin) / float(beta)
    close(label, "h", number(ns, "h", label, "h_theta = margin / beta"), h, 1e-6 + 1e-6 * abs(h),
          "the logged margin is beta * h, so divide it by this run's beta.")
    losses = answer(ns, "losses", label, "a dict {beta': loss} for beta' in 0.01, 0.1, 0.5, 1")
    if not isinstance(losses, Mapping):
        _fail(label, "`losses` should be a dict {beta': loss}.")
    for b in (0.01, 0.1, 0.5, 1.0):
        key = next((k for k in losses if math.isclose(float(k), b)), None)
        if key is None:
            _fail(label, f"`losses` has no entry for beta' = {b}.")
        close(label, f"losses[{b}]", float(losses[key]), dpo_loss("sigmoid", b, h), 1e-4,
              "the DPO loss is -log sigmoid(beta' * h) = log(1 + exp(-beta' * h)).")
    small, large = dpo_loss("sigmoid", 0.1, h), dpo_loss("sigmoid", 1.0, h)
    truth = "lower" if large < small else "higher" if large > small else "same"
    choice(ns, "larger_beta_loss", label, ("lower", "higher", "same"), truth,
           f"with h = {h:.3g}, compare your losses at beta' = 0.1 and beta' = 1.")
    _passed(label)


@_check("ex-beta-rerun")
def ex_beta_rerun(ns: Mapping[str, Any], beta: float, loss_type: str) -> None:
    """The rerun at another beta: ``beta_rerun``, the prediction ``rerun_prediction``, ``rerun_answer``.

    ``rerun_prediction``: to reach the same training loss, does the policy at ``beta_rerun`` have to
    move (a) further from the reference than at ``beta``, (b) less far, or (c) the same? The check
    fails until ``rerun_dir`` holds the rerun's training log (unless the namespace switched the rerun
    off explicitly, ``run_exercise_reruns = False``, as the book's own solution does: then it says so
    instead of passing); ``rerun_last_margin`` must be its last logged margin.
    """
    label = "ex-beta-rerun"
    new = number(ns, "beta_rerun", label, "the beta of your rerun")
    if not 0 < new <= 10 or math.isclose(new, float(beta)):
        _fail(label, f"`beta_rerun` should be a beta in (0, 10] other than this run's {beta}.")
    target = 0.5 * dpo_loss(loss_type, float(beta), 0.0)  # half the loss at the start (policy = reference)
    h_old, h_new = h_for_loss(loss_type, float(beta), target), h_for_loss(loss_type, new, target)
    truth = "a" if h_new > h_old * (1 + 1e-9) else "b" if h_new < h_old * (1 - 1e-9) else "c"
    choice(ns, "rerun_prediction", label, ("a", "b", "c"), truth,
           "the loss depends on h only through beta * h (for IPO through h - 1/(2 beta)): which h does the "
           "new beta need for the same loss?")
    text(ns, "rerun_answer", label, "what changed in the loss, the margin and the held-out metrics, and why",
         min_words=25)
    run = answer(ns, "rerun_dir", label, "the run folder of your rerun")
    from dca.runs.artifacts import RunFolder

    train_log = RunFolder(run).train_log
    if not train_log.exists() and ns.get("run_exercise_reruns") is False:
        print(f"{exercise_name(label)}: right so far; the rerun is switched off, so not checked.")
        return
    if not train_log.exists():
        _fail(label, f"`rerun_dir` = {str(run)!r} holds no training log yet: rerun the training at beta_rerun "
                     "into it first (the commands of the exercise), then run this check again.")
    from dca.train.stage import read_train_log

    steps = [row for row in read_train_log(run) if "rewards/margins" in row]
    if steps:
        close(label, "rerun_last_margin", number(ns, "rerun_last_margin", label,
                                                 f"the last logged reward margin in {run}"),
              float(steps[-1]["rewards/margins"]), 1e-6, f"read it from {run}/train_log.jsonl.")
    _passed(label)


# --------------------------------------------------------------------------------------------------
# Chapter 4


@_check("ex-sigma-m-run")
def ex_sigma_m_run(ns: Mapping[str, Any], c_v: np.ndarray, c_i: np.ndarray) -> None:
    """``sigma_eps``, ``mean_abs_eps``, ``sigma_m`` of this run's held-out rows, and ``sigma_m_4x``."""
    label = "ex-sigma-m-run"
    eps = np.asarray(c_v, float) - np.asarray(c_i, float)
    sd = _sd(eps)
    got = number(ns, "sigma_eps", label, "the sample standard deviation of eps = c_v - c_i")
    if eps.size > 1 and math.isclose(got, float(np.std(eps)), rel_tol=1e-9) and not math.isclose(got, sd):
        _fail(label, "`sigma_eps` divides by N; the chapter's formula divides by N - 1 (ddof=1).")
    close(label, "sigma_eps", got, sd, 1e-6, "eps = c_v - c_i, then its standard deviation with ddof=1.")
    close(label, "mean_abs_eps", number(ns, "mean_abs_eps", label, "the mean of |eps|"),
          float(np.abs(eps).mean()) if eps.size else math.nan, 1e-6, "the mean of the absolute gaps.")
    sigma_m = sd / math.sqrt(eps.size) if eps.size else math.nan
    close(label, "sigma_m", number(ns, "sigma_m", label, "sigma_eps / sqrt(N)"), sigma_m, 1e-6,
          "sigma_M is sigma_eps divided by the square root of the number of questions.")
    close(label, "sigma_m_4x", number(ns, "sigma_m_4x", label, "sigma_M with four times the questions, same spread"),
          sd / math.sqrt(4 * eps.size) if eps.size else math.nan, 1e-6, "N is four times larger; sigma_eps stays.")
    _passed(label)


@_check("ex-metrics-by-hand")
def ex_metrics_by_hand(ns: Mapping[str, Any], seed: int) -> None:
    """``synthetic_sigma_eps``, ``synthetic_mean_abs_eps``, ``synthetic_sigma_m`` of the drawn pairs."""
    label = "ex-metrics-by-hand"
    rng = np.random.default_rng(seed)
    c_i = rng.uniform(0, 100, 200)
    c_v = np.minimum(100, c_i + 20 + rng.normal(0, 10, 200))
    eps = c_v - c_i
    hint = ("draw with rng = np.random.default_rng(seed): first the 200 C_i = rng.uniform(0, 100, 200), "
            "then the 200 eta = rng.normal(0, 10, 200).")
    close(label, "synthetic_sigma_eps", number(ns, "synthetic_sigma_eps", label, "sigma_eps of the synthetic pairs"),
          _sd(eps), 1e-6, hint)
    close(label, "synthetic_mean_abs_eps", number(ns, "synthetic_mean_abs_eps", label, "mean |eps| of the synthetic pairs"),
          float(np.abs(eps).mean()), 1e-6, hint)
    close(label, "synthetic_sigma_m", number(ns, "synthetic_sigma_m", label, "sigma_M of the synthetic pairs"),
          _sd(eps) / math.sqrt(eps.size), 1e-6, "sigma_eps / sqrt(200).")
    _passed(label)


# --------------------------------------------------------------------------------------------------
# Chapter 5


def _gaps(frame: pd.DataFrame) -> np.ndarray:
    return np.abs(frame["c_v"].to_numpy(float) - frame["c_i"].to_numpy(float))


def top_share(c_v: np.ndarray) -> float:
    """The share (%) of the stated numbers equal to the most common one.

    >>> top_share(np.array([70., 70., 80., 70.]))
    75.0
    """
    c_v = np.asarray(c_v, float)
    c_v = c_v[~np.isnan(c_v)]
    if c_v.size == 0:
        return math.nan
    return float(100.0 * pd.Series(c_v).value_counts().iloc[0] / c_v.size)


@_check("ex-who-moved")
def ex_who_moved(ns: Mapping[str, Any], before: pd.DataFrame, after: pd.DataFrame) -> None:
    """``n_shrank``, ``n_grew`` and ``mean_abs_change`` on the paired questions."""
    label = "ex-who-moved"
    gb, ga = _gaps(before), _gaps(after)
    for name, truth in (("n_shrank", int((ga < gb).sum())), ("n_grew", int((ga > gb).sum()))):
        close(label, name, number(ns, name, label, "a count of paired questions"), truth, 0,
              "compare |c_v - c_i| after with before, question by question.")
    close(label, "mean_abs_change", number(ns, "mean_abs_change", label, "mean |eps| after minus before"),
          float(ga.mean() - gb.mean()) if gb.size else math.nan, 1e-6, "after minus before, not the reverse.")
    _passed(label)


@_check("ex-collapse")
def ex_collapse(ns: Mapping[str, Any], before: pd.DataFrame, after: pd.DataFrame) -> None:
    """``top_share_before``/``_after``, ``collapsed`` (the book's criterion) and ``collapse_answer``."""
    label = "ex-collapse"
    tb, ta = top_share(before["c_v"].to_numpy(float)), top_share(after["c_v"].to_numpy(float))
    what = "the share (%) of the paired questions whose stated C_v equals the most common value"
    close(label, "top_share_before", number(ns, "top_share_before", label, what), tb, 0.05, what + ".")
    close(label, "top_share_after", number(ns, "top_share_after", label, what), ta, 0.05, what + ".")
    from dca.report import COLLAPSE_MAX_DISTINCT, COLLAPSE_TOP_SHARE, collapsed

    distinct = int(after["c_v"].dropna().nunique())
    boolean(ns, "collapsed", label, collapsed(after["c_v"]),
            f"after training {distinct} distinct numbers remain and the most common covers {ta:.0f} %; "
            f"the book calls it a collapse at {COLLAPSE_MAX_DISTINCT} or fewer distinct numbers or a share of "
            f"{COLLAPSE_TOP_SHARE:.0f} % or more (dca.report.collapsed).")
    text(ns, "collapse_answer", label, "what the histograms show, and what it means for sigma_eps and mean |eps|")
    _passed(label)


@_check("ex-constant-baseline")
def ex_constant_baseline(ns: Mapping[str, Any], train: pd.DataFrame, before: pd.DataFrame,
                         after: pd.DataFrame) -> None:
    """The constant baseline against DCA on the paired questions.

    ``constant_cv``: the mean C_i of the usable training rows; ``constant_mean_abs_eps`` and
    ``constant_sigma_eps``: its gap to the vanilla model's C_i (``before``); ``dca_mean_abs_eps``
    and ``dca_sigma_eps``: the trained model's gap (``after``); ``constant_wins``: whether the
    constant's mean |eps| is lower than DCA's; ``constant_answer``: the judgement in words.
    """
    label = "ex-constant-baseline"
    const = float(_usable(train)["c_i"].mean())
    close(label, "constant_cv", number(ns, "constant_cv", label, "the mean training C_i"), const, 1e-6,
          "the mean c_i of the training rows (split 'train') whose reply parsed.")
    eps_const = const - before["c_i"].to_numpy(float)
    eps_dca = after["c_v"].to_numpy(float) - after["c_i"].to_numpy(float)
    for name, truth, what in (
            ("constant_mean_abs_eps", float(np.abs(eps_const).mean()), "mean |constant_cv - C_i before|"),
            ("constant_sigma_eps", _sd(eps_const), "sigma_eps of constant_cv - C_i before (ddof=1)"),
            ("dca_mean_abs_eps", float(np.abs(eps_dca).mean()), "mean |C_v - C_i| after training"),
            ("dca_sigma_eps", _sd(eps_dca), "sigma_eps of C_v - C_i after training (ddof=1)")):
        close(label, name, number(ns, name, label, what), truth if eps_dca.size else math.nan, 1e-6, what + ".")
    wins = bool(np.abs(eps_const).mean() < np.abs(eps_dca).mean())
    boolean(ns, "constant_wins", label, wins, "compare constant_mean_abs_eps with dca_mean_abs_eps.")
    text(ns, "constant_answer", label, "what the comparison says about what DCA learnt")
    _passed(label)


def _by_seed(ns: Mapping[str, Any], name: str, label: str, what: str) -> dict[int, float]:
    """The student's ``name``: a mapping seed -> number."""
    value = answer(ns, name, label, what)
    try:
        return {int(k): float(v) for k, v in dict(value).items()}
    except (TypeError, ValueError):
        _fail(label, f"`{name}` should map each seed (0, 1, ...) to {what}; got {value!r}.")
        return {}


@_check("ex-seeds-against-constant")
def ex_seeds_against_constant(ns: Mapping[str, Any], R: pd.DataFrame) -> None:
    """``dca_mean_abs_eps``: per seed, DCA's mean |eps| after training (mean of the held-out datasets);
    ``constant_mean_abs_eps``: the constant baseline's on the same seed; ``seeds_beating_constant``:
    on how many seeds DCA's is the lower; ``seeds_answer``: what that says."""
    label = "ex-seeds-against-constant"
    rows = R[(R["kind"] == "seed") & (R["dataset"] == "mean") & (R["metric"] == "mean_abs_eps")]
    truth = {m: {int(s): float(v) for s, v in zip(g["seed"], g["value"])}
             for m, g in rows.groupby("method") if m in ("dca", "constant")}
    for name, method in (("dca_mean_abs_eps", "dca"), ("constant_mean_abs_eps", "constant")):
        got = _by_seed(ns, name, label, f"{method}'s mean |eps| after training, mean of the datasets")
        if sorted(got) != sorted(truth.get(method, {})):
            _fail(label, f"`{name}` should have one value per seed of the rows: {sorted(truth.get(method, {}))}.")
        for seed, value in truth.get(method, {}).items():
            close(label, f"{name}[{seed}]", got[seed], value, 1e-6,
                  f"the row with kind 'seed', dataset 'mean', method '{method}', metric 'mean_abs_eps' of seed {seed}.")
    dca, const = truth.get("dca", {}), truth.get("constant", {})
    close(label, "seeds_beating_constant", number(ns, "seeds_beating_constant", label, "a count of seeds"),
          float(sum(dca[s] < const[s] for s in dca if s in const)), 0, "count the seeds where DCA's value is lower.")
    text(ns, "seeds_answer", label, "what the seeds say about DCA against the constant baseline")
    _passed(label)


@_check("ex-apply-the-rule")
def ex_apply_the_rule(ns: Mapping[str, Any], S: pd.DataFrame) -> None:
    """``accuracy_change``: per seed, the accuracy (all replies) of SFT on the number minus the same
    seed's model before training (mean of the held-out datasets); ``seeds_accuracy_kept``: on how
    many seeds it stays within the rule's bound; ``sft_num_works``: whether it works by the whole
    rule (:func:`dca.report.study.criteria`, every condition on every seed); ``rule_answer``: why."""
    from dca.report.study import MAX_ACCURACY_DROP, criteria

    label = "ex-apply-the-rule"
    mean = S[(S["dataset"] == "mean") & (S["metric"] == "accuracy_all")]
    seeds = sorted(int(s) for s in set(S[S["job"].str.endswith("-sft-num")]["seed"]))
    truth = {}
    for seed in seeds:
        after = mean[(mean["job"] == f"seed{seed}-sft-num") & (mean["method"] == "sft-num")]["value"]
        before = mean[(mean["job"] == f"seed{seed}") & (mean["method"] == "vanilla")]["value"]
        truth[seed] = float(after.iloc[0] - before.iloc[0]) if len(after) and len(before) else math.nan
    got = _by_seed(ns, "accuracy_change", label, "the change of accuracy in points")
    if sorted(got) != seeds:
        _fail(label, f"`accuracy_change` should have one value per seed SFT on the number ran on: {seeds}.")
    for seed, value in truth.items():
        close(label, f"accuracy_change[{seed}]", got[seed], value, 1e-6,
              "accuracy_all of the job seed<k>-sft-num minus accuracy_all of vanilla in job seed<k>, dataset 'mean'.")
    close(label, "seeds_accuracy_kept", number(ns, "seeds_accuracy_kept", label, "a count of seeds"),
          float(sum(v >= -MAX_ACCURACY_DROP for v in truth.values())), 0,
          f"a seed keeps accuracy when the change is at least -{MAX_ACCURACY_DROP:g} points.")
    works = bool(len(seeds) == 3 and all(all(criteria(S, "sft-num", s).values()) for s in seeds))
    boolean(ns, "sft_num_works", label, works, "the rule asks for every condition on each of the three seeds.")
    text(ns, "rule_answer", label, "which conditions fail, and what SFT on the number costs")
    _passed(label)


def check(label: str, ns: Mapping[str, Any], **inputs: Any) -> None:
    """Run the check of exercise ``label`` (see :data:`CHECKS`)."""
    if label not in CHECKS:
        raise KeyError(f"no check for exercise {label!r}; known: {', '.join(sorted(CHECKS))}")
    CHECKS[label](ns, **inputs)
