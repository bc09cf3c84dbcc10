"""The two routes to keeping the base model's answers, side by side, one row per job.

*Decoding:* a confidence adapter (:mod:`dca.evaluate.confidence_adapter`; study jobs
``seedN-<objective>-base``) lets the base model write the reply up to the number, so the answers are the
base model's by construction. *Training:* an anchored objective (:data:`ANCHORED`; stage-3 parameter
``answer_kl_weight``) trains the number while a KL term holds the answer letter's next-token distribution
to the base model's, so the adapter answers and the letters may still move. Computed from the committed
``book/data/study_results.csv``.
"""

from __future__ import annotations

import math

import pandas as pd

from dca.reference.study import OBJECTIVES, PRECISION_SUFFIX, RECIPE_SUFFIX, TRANSFER
from dca.report.recipes import recipe_jobs
from dca.report.study_names import CONDITION_WORDS, _list, objective_name
from dca.report.study_rule import _cell, criteria, dtype_of, objectives_of, share_percent, value_before

#: The objectives that hold the answer with a KL term while training the number (the training route to
#: keeping the answers), in the study's order.
ANCHORED = tuple(o for o, (params, _) in OBJECTIVES.items() if "train.answer_kl_weight" in params)
#: The anchored objectives that hold every fixed token of the answer line (``answer_kl_span=line``).
LINE_ANCHORED = tuple(o for o in ANCHORED if OBJECTIVES[o][0].get("train.answer_kl_span") == "line")

#: The objective the anchored ones add their KL term to: their letters changed are compared with its.
UNANCHORED = "sft-num"

#: The columns of :func:`keeping_table`, in order.
COLUMNS = ("route", "objective", "seed", "letters changed % (no anchor)", "accuracy change",
           "ρ held out", "ρ transfer", "mean abs ε (constant / isotonic)", "verbal AUROC, % of internal",
           "conditions held")


def _jobs(results: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(route, job, objective) of every job of either route that has rows: confidence adapters first."""
    rows = [("decoding", job, job.split("-", 1)[1]) for job in recipe_jobs(results)]
    ran = objectives_of(results)
    for objective in (o for o in ANCHORED if o in ran):
        seeds = sorted(int(s) for s in set(results.loc[results["objective"] == objective, "seed"]))
        rows += [("training", f"seed{seed}-{objective}", objective) for seed in seeds]
    return rows


def _unanchored_letters(results: pd.DataFrame, seed: int, dtype: str) -> float:
    """The letters :data:`UNANCHORED` changed on ``seed``: its rerun in float type ``dtype`` where there is
    one (a rerun's rows record its float type), else its committed job."""
    twins = [f"seed{seed}-{UNANCHORED}{PRECISION_SUFFIX}", f"seed{seed}-{UNANCHORED}"]
    twin = next((t for t in twins if dtype and dtype_of(results, t) == dtype), twins[-1])
    return _cell(results, twin, "mean", UNANCHORED, "letter_changed")


def _number(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def _letters(changed: float, route: str, unanchored: float) -> str:
    """The letters a job changed, and for the training route those the unanchored loss changed: "4.2 (13.2)"."""
    if route == "decoding" or not (math.isfinite(changed) and math.isfinite(unanchored)):
        return _number(changed)
    return f"{_number(changed)} ({unanchored:.1f})"


def _arrow(before: float, after: float, digits: int) -> str:
    return f"{before:.{digits}f}→{after:.{digits}f}" if math.isfinite(before) else f"{after:.{digits}f}"


def keeping_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per job of either route to keeping the answers: the route (``decoding`` or ``training``), the
    objective's name (with the float type its rows record), the seed, the answer letters changed (none, by
    construction, for a confidence adapter) and, for an anchored objective, those :data:`UNANCHORED`
    changed on the same seed (its rerun in the same float type where there is one), the change in accuracy
    over all replies (points, against the seed's model before training; the rule allows a fall of
    :data:`~dca.report.study_rule.MAX_ACCURACY_DROP`), held-out and transfer ρ(C_v, C_i) before
    (:func:`~dca.report.study_rule.value_before`) → after, mean |ε| with the seed's two no-training
    baselines, the verbal AUROC as a share of the internal one (the goal asks for 90 %), and how many of
    the rule's conditions hold (:func:`~dca.report.study_rule.criteria`) with the ones that fail.
    Empty (with :data:`COLUMNS`) where no job of either route ran.

    >>> list(keeping_table(pd.DataFrame()).columns) == list(COLUMNS)
    True
    """
    return _table(results).drop(columns=_RHO_AFTER)


#: A column :func:`_table` adds to :func:`keeping_table`'s: the held-out ρ after training as a number, which
#: :func:`keeping_tables` ranks by.
_RHO_AFTER = "_rho_after"


def _table(results: pd.DataFrame) -> pd.DataFrame:
    """:func:`keeping_table` with one more column, :data:`_RHO_AFTER`."""
    out = []
    for route, job, objective in _jobs(results) if "job" in results.columns else []:
        seed = int(job.split("-", 1)[0].removeprefix("seed"))
        held = criteria(results, objective, seed)
        if not held:
            continue

        def value(metric: str, dataset: str = "mean", of: str = job, method: str = objective) -> float:
            return _cell(results, of, dataset, method, metric)

        base = f"seed{seed}"
        dtype = dtype_of(results, job)
        name = objective_name(objective)
        share = value("auroc_verbal") / value("auroc_internal")
        failed = [CONDITION_WORDS[c] for c, ok in held.items() if not ok]
        out.append({
            "route": route,
            "objective": name + (f", {dtype}" if dtype and dtype not in name else ""),
            "seed": str(seed),
            "letters changed % (no anchor)": _letters(value("letter_changed"), route,
                                                      _unanchored_letters(results, seed, dtype)),
            "accuracy change": f"{value('accuracy_all') - value('accuracy_all', of=base, method='vanilla'):+.1f}",
            "ρ held out": _arrow(value_before(results, job, objective, "rho"), value("rho"), 2),
            "ρ transfer": _arrow(value_before(results, job, objective, "rho", TRANSFER), value("rho", TRANSFER), 2),
            "mean abs ε (constant / isotonic)": (
                f"{value('mean_abs_eps'):.1f} ({value('mean_abs_eps', of=base, method='constant'):.1f}/"
                f"{value('mean_abs_eps', of=base, method='isotonic'):.1f})"),
            "verbal AUROC, % of internal": share_percent(share),
            "conditions held": f"{sum(bool(v) for v in held.values())} of {len(held)}"
                               + (f" (short on {', '.join(failed)})" if failed else ""),
            _RHO_AFTER: value("rho"),
        })
    return pd.DataFrame(out, columns=[*COLUMNS, _RHO_AFTER])


def keeping_tables(results: pd.DataFrame, leading: bool | None = None) -> list[tuple[str, pd.DataFrame]]:
    """:func:`keeping_table` split by route and objective: (label, its rows without those two columns),
    in the table's order. A confidence adapter's rows leave out the letters column (its answers are the base
    model's, so none change).

    Each route *leads* with one objective: the one that ran on the most seeds, and of those the highest mean
    held-out ρ after training. ``leading=True`` keeps only those tables, ``False`` only the others (the
    sweep's points, the other confidence adapters), ``None`` all of them.

    >>> keeping_tables(pd.DataFrame())
    []
    """
    table = _table(results)
    groups = list(table.groupby(["route", "objective"], sort=False))
    rank = {key: (len(rows), rows[_RHO_AFTER].mean()) for key, rows in groups}
    leads = {route: max((k for k in rank if k[0] == route), key=rank.__getitem__) for route, _ in rank}
    out = []
    for (route, objective), rows in groups:
        if leading is not None and ((route, objective) in leads.values()) != leading:
            continue
        rows = rows.drop(columns=["route", "objective", _RHO_AFTER]).reset_index(drop=True)
        label = f"{str(route).capitalize()} route: {objective}"
        if route == "decoding":  # the base model answers: no letter changes
            rows = rows.drop(columns="letters changed % (no anchor)")
        out.append((label, rows))
    return out


def anchor_cost_sentence(results: pd.DataFrame) -> str:
    """Where the anchor's cost in ρ comes from: per seed on which an anchored adapter ran both ways, its
    held-out ρ(C_v, C_i) after training when it answers itself (training route) and when the base model
    answers and it states only the number (decoding route, ``…-base``). Values within 0.05 of each other
    on every seed mean the cost is not in the answers it moves but in the numbers it learned. Empty where
    no seed has both.

    >>> rows = pd.DataFrame({"job": ["seed0-sft-num-kl", "seed0-sft-num-kl-base"], "seed": 0, "dataset": "mean",
    ...                      "objective": ["sft-num-kl", "sft-num-kl-base"], "method": ["sft-num-kl", "sft-num-kl-base"],
    ...                      "metric": "rho", "value": [0.46, 0.45]})
    >>> print(anchor_cost_sentence(rows))
    An anchored adapter's held-out ρ, answering itself and then stating only the number after the base model's answers: SFT on the number + KL on the letter, 0.46 and 0.45 on seed 0. Within 0.05 on every seed: what the anchor costs in ρ lies in the numbers the adapter learned, not in the answers it moves.
    """
    if "objective" not in results.columns:
        return ""
    clauses, gaps = [], []
    for objective in ANCHORED:
        recipe = f"{objective}{RECIPE_SUFFIX}"
        pairs = []
        for seed in sorted(int(s) for s in set(results.loc[results["objective"] == recipe, "seed"])):
            job = f"seed{seed}-{objective}"
            own = _cell(results, job, "mean", objective, "rho")
            base = _cell(results, f"{job}{RECIPE_SUFFIX}", "mean", recipe, "rho")
            if math.isfinite(own) and math.isfinite(base):
                pairs.append(f"{own:.2f} and {base:.2f} on seed {seed}")
                gaps.append(abs(own - base))
        if pairs:
            clauses.append(f"{objective_name(objective)}, {', '.join(pairs)}")
    if not clauses:
        return ""
    verdict = ("Within 0.05 on every seed: what the anchor costs in ρ lies in the numbers the adapter learned, "
               "not in the answers it moves" if max(gaps) < 0.05 else
               f"Up to {max(gaps):.2f} apart: part of the anchor's cost in ρ goes through the answers it moves")
    return ("An anchored adapter's held-out ρ, answering itself and then stating only the number after the base "
            f"model's answers: {'; '.join(clauses)}. {verdict}.")


def _weight(objective: str) -> float:
    """The KL weight of an anchored objective that holds the letter only (``nan`` for one that holds more)."""
    params = OBJECTIVES[objective][0]
    if params.get("train.answer_kl_span", "letter") != "letter":
        return math.nan
    return float(params["train.answer_kl_weight"])


def sweep_sentence(results: pd.DataFrame) -> str:
    """The anchor's weight against what it buys: per seed on which more than one weight of the KL term on the
    letter ran (:data:`ANCHORED`), lightest first, the held-out ρ(C_v, C_i) after training and the answer
    letters changed, beside those :data:`UNANCHORED` changed (in the same float type where it reran). Where
    on every such seed ρ falls as the weight grows while the letters changed stay within 2 points of each
    other, it says so. Empty where no seed has two weights.

    >>> rows = pd.DataFrame([{"job": f"seed0-{o}", "seed": 0, "dataset": "mean", "objective": o, "method": o,
    ...                       "metric": m, "value": v} for o, rho, letters in (("sft-num-kl1", 0.67, 4.8),
    ...                       ("sft-num-kl", 0.46, 4.2)) for m, v in (("rho", rho), ("letter_changed", letters))])
    >>> print(sweep_sentence(rows))
    The anchor's weight, lightest first, on seed 0: weights 1 and 10, held-out ρ 0.67 and 0.46, answer letters changed 4.8 and 4.2 %. The lighter the anchor, the higher ρ, while the share of letters it changes stays within 2 points.
    """
    if "objective" not in results.columns:
        return ""
    weighted = sorted((w, o) for o in ANCHORED if math.isfinite(w := _weight(o)))
    clauses, monotone, flat = [], True, True
    for seed in sorted(int(s) for s in set(results["seed"])) if "seed" in results.columns else []:
        points = [(w, _cell(results, f"seed{seed}-{o}", "mean", o, "rho"),
                   _cell(results, f"seed{seed}-{o}", "mean", o, "letter_changed"), o) for w, o in weighted]
        points = [p for p in points if math.isfinite(p[1]) and math.isfinite(p[2])]
        if len(points) < 2:
            continue
        rhos, letters = [p[1] for p in points], [p[2] for p in points]
        monotone = monotone and all(a > b for a, b in zip(rhos, rhos[1:]))
        flat = flat and max(letters) - min(letters) <= 2.0
        unanchored = _unanchored_letters(results, seed, dtype_of(results, f"seed{seed}-{points[0][3]}"))
        clauses.append(
            f"on seed {seed}: weights {_list([f'{p[0]:g}' for p in points])}, held-out ρ "
            f"{_list([f'{r:.2f}' for r in rhos])}, answer letters changed {_list([f'{x:.1f}' for x in letters])} %"
            + (f" ({unanchored:.1f} % without the anchor)" if math.isfinite(unanchored) else ""))
    if not clauses:
        return ""
    text = "The anchor's weight, lightest first, " + "; ".join(clauses) + "."
    if monotone and flat:
        text += (" The lighter the anchor, the higher ρ, while the share of letters it changes stays within 2 "
                 "points.")
    return text
