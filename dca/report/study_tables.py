"""The tables chapter 07 shows of the objectives study, each built from the committed
``book/data/study_*.csv``: the objective x metric summary, seed by seed, the dose-response, the
number-token tables, what training did to the target, to the answer letters, to the replies and to
their format.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from dca.reference.study import DOSE_OBJECTIVES, OBJECTIVES, TRANSFER
from dca.report.study_rule import DOSE, _cell, _objective, goal_values, objectives_of, share_percent, without_dose

#: What the chapter's tables call the metrics (words and symbols that wrap, so that tables fit the page).
LABELS = {"rho": "ρ", "mean_abs_eps": "mean abs ε", "sigma_eps": "σ ε", "accuracy_all": "accuracy, all replies (%)",
          "whole_percent": "whole-% replies (%)", "distinct_cv": "distinct numbers",
          "exact_round_ci": "states round(C_i) (%)", "top_cv_share": "most common number (%)"}


def goal_table(results: pd.DataFrame, seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    """How far each objective got against the goal beyond the rule (:func:`~dca.report.study_rule.goal_values`):
    one row per objective that holds every condition on at least one seed, one column per seed, each cell
    the held-out ρ and the verbal AUROC as a share of the internal one, ``✓`` where both reach the goal; ``–``
    where the rule fails on that seed, ``·`` where the seed did not run. Objectives that reach the goal on
    more seeds first, then higher mean ρ. Raw objective names (:func:`dca.report.study_names.readable`
    names them for a reader).

    >>> goal_table(pd.DataFrame()).empty
    True
    """
    rows = []
    for objective in objectives_of(results) if "objective" in results.columns else []:
        ran = set(int(s) for s in results.loc[results["objective"] == objective, "seed"])
        goals = {seed: goal_values(results, objective, seed) for seed in seeds}
        held = [g for g in goals.values() if g is not None]
        if not held:
            continue
        row: dict[str, Any] = {"objective": objective}
        for seed, g in goals.items():
            # no-break spaces: a cell stays on one line
            cell = "" if g is None else (f"{g['rho']:.2f},\u00a0{share_percent(g['share'])}\u00a0%"
                                         + ("" if g["short"] else "\u00a0✓"))
            row[f"seed {seed}"] = "·" if seed not in ran else "–" if g is None else cell
        rows.append((-sum(not g["short"] for g in held), -sum(float(g["rho"]) for g in held) / len(held), row))
    return pd.DataFrame([r for *_, r in sorted(rows, key=lambda r: r[:2])],
                        columns=["objective", *(f"seed {s}" for s in seeds)])


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the metric columns renamed to :data:`LABELS` (other columns kept).

    >>> list(labelled(pd.DataFrame(columns=["job", "rho", "sigma_eps"])).columns)
    ['job', 'ρ', 'σ ε']
    """
    return frame.rename(columns=LABELS)


def objective_summary(results: pd.DataFrame, metrics: tuple[str, ...] = ("rho", "mean_abs_eps", "sigma_eps",
                                                                           "accuracy_all", "whole_percent")
                      ) -> pd.DataFrame:
    """Objective x metric, mean +- sd over the seeds that ran, on the held-out mean and the transfer
    questions; vanilla and the baselines from the seed jobs. Values are ``after`` values. Rows: the
    held-out questions first, then the transfer questions; in each, the model before training and
    the baselines, then the objectives in the study's order."""
    results = without_dose(results)
    if results.empty:
        return pd.DataFrame()
    order = {m: k for k, m in enumerate(["vanilla", "constant", "isotonic", "say_ci", *OBJECTIVES])}
    shown = results[results["dataset"].isin(["mean", TRANSFER])]
    keys = sorted(shown.groupby(["dataset", "method"]).groups,
                  key=lambda k: (k[0] != "mean", order.get(k[1], len(order)), k[1]))
    rows = []
    for split, method in keys:
        group = shown[(shown["dataset"] == split) & (shown["method"] == method)]
        row = {"questions": "held out" if split == "mean" else "transfer", "method": method}
        for metric in metrics:
            values = group[group["metric"] == metric]["value"].dropna()
            row[metric] = (f"{values.mean():.3g} ± {values.std(ddof=1):.2g}" if len(values) > 1
                           else f"{values.mean():.3g}" if len(values) else "—")
        row["seeds"] = group["seed"].nunique()
        rows.append(row)
    return pd.DataFrame(rows)


def per_seed(results: pd.DataFrame, metrics: tuple[str, ...] = ("rho", "mean_abs_eps", "sigma_eps",
                                                                 "accuracy_all", "whole_percent")) -> pd.DataFrame:
    """Seed by seed, for every objective that ran on more than one seed: the held-out values after
    training (mean of the three datasets), the same seed's vanilla values, and the transfer
    questions' :math:`\\rho` -- whether a result replicates, which a mean +- sd hides.

    >>> r = pd.DataFrame({"job": ["seed0", "seed0-rpo", "seed1", "seed1-rpo"], "seed": [0, 0, 1, 1],
    ...                   "objective": ["none", "rpo", "none", "rpo"], "method": ["vanilla", "rpo", "vanilla", "rpo"],
    ...                   "dataset": "mean", "metric": "rho", "value": [0.2, 0.6, 0.3, 0.1]})
    >>> per_seed(r, metrics=("rho",)).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'vanilla', 'seed': 0, 'rho': 0.2, 'transfer ρ': nan},
     {'objective': 'rpo', 'seed': 0, 'rho': 0.6, 'transfer ρ': nan},
     {'objective': 'vanilla', 'seed': 1, 'rho': 0.3, 'transfer ρ': nan},
     {'objective': 'rpo', 'seed': 1, 'rho': 0.1, 'transfer ρ': nan}]
    """
    results = without_dose(results)
    if results.empty:
        return pd.DataFrame()
    jobs = results[results["objective"].isin(objectives_of(results))].drop_duplicates("job")
    repeated = [o for o, n in jobs.groupby("objective", sort=False)["seed"].nunique().items() if n > 1]
    rows = []
    for seed in sorted(set(jobs[jobs["objective"].isin(repeated)]["seed"])):
        for objective in ["vanilla", *repeated]:
            job = f"seed{seed}" if objective == "vanilla" else f"seed{seed}-{objective}"
            if job not in set(results["job"]):
                continue
            row: dict[str, Any] = {"objective": objective, "seed": int(seed)}
            for metric in metrics:
                row[metric] = round(_cell(results, job, "mean", objective, metric), 3)
            row["transfer ρ"] = round(_cell(results, job, TRANSFER, objective, "rho"), 3)
            rows.append(row)
    return pd.DataFrame(rows)


def dose_response(results: pd.DataFrame, metrics: tuple[str, ...] = ("rho", "mean_abs_eps", "sigma_eps",
                                                                      "accuracy_all")) -> pd.DataFrame:
    """The dose-response (seed 0): per objective that has a dose-response job, one row per share of the
    training questions it trained on (the quarter and half of :data:`DOSE`, and the objective's full
    job), with the held-out values after training (mean of the three datasets) and the transfer
    questions' :math:`\\rho` with its 95 % interval. Objectives none of whose dose jobs ran are left out.

    >>> r = pd.DataFrame({"job": ["seed0-dca", "seed0-dca-q25"], "method": "dca", "dataset": "mean",
    ...                   "metric": "rho", "value": [0.2, 0.1], "low": math.nan, "high": math.nan})
    >>> dose_response(r, metrics=("rho",)).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'dca', 'training questions (%)': 25, 'rho': 0.1, 'transfer ρ [95 % interval]': '—'},
     {'objective': 'dca', 'training questions (%)': 100, 'rho': 0.2, 'transfer ρ [95 % interval]': '—'}]
    """
    if results.empty:
        return pd.DataFrame()
    ran = set(results["job"])
    rows = []
    for objective in DOSE_OBJECTIVES:
        points = sorted([(f, j) for j, f in DOSE.items() if j.startswith(f"seed0-{objective}-q") and j in ran]
                        + [(1.0, f"seed0-{objective}")])
        if len(points) == 1 or points[-1][1] not in ran:
            continue
        for fraction, job in points:
            row: dict[str, Any] = {"objective": objective, "training questions (%)": round(100 * fraction)}
            for metric in metrics:
                row[metric] = round(_cell(results, job, "mean", objective, metric), 3 if metric == "rho" else 1)
            t = [_cell(results, job, TRANSFER, objective, "rho", c) for c in ("value", "low", "high")]
            row["transfer ρ [95 % interval]"] = "—" if math.isnan(t[0]) else f"{t[0]:.2f} [{t[1]:.2f}, {t[2]:.2f}]"
            rows.append(row)
    return pd.DataFrame(rows)


def number_token_table(tokens: pd.DataFrame, position: int, top: int = 3) -> pd.DataFrame:
    """Per question, the ``top`` next tokens (with probabilities) at ``position`` of the number, for
    the base model (on its own reply) and the trained model (on its reply), side by side.

    >>> t = pd.DataFrame({"run": "r", "id": "q", "model": ["before", "after"], "position": 0, "rank": 1,
    ...                   "token": ["8", "5"], "prob": [0.9, 0.6], "context": "Probability:", "round_c_i": 41,
    ...                   "written": ["8", "5"]})
    >>> number_token_table(t, 0).to_dict("records")
    [{'question': 'q', 'round(C_i)': 41, 'before: wrote': '8', 'before: most probable next tokens': "'8' 0.90", 'after: wrote': '5', 'after: most probable next tokens': "'5' 0.60"}]
    """
    if tokens.empty:
        return pd.DataFrame()
    at = tokens[(tokens["position"] == position) & (tokens["rank"] <= top)]
    rows = []
    for (run, qid), group in at.groupby(["run", "id"], sort=False):
        row: dict[str, Any] = {"question": qid, "round(C_i)": int(group["round_c_i"].iloc[0])}
        for model in ("before", "after"):
            g = group[group["model"] == model].sort_values("rank")
            row[f"{model}: wrote"] = str(g["written"].iloc[0]) if not g.empty else ""
            row[f"{model}: most probable next tokens"] = " · ".join(
                f"{t!r} {p:.2f}" for t, p in zip(g["token"], g["prob"]))
        rows.append(row)
    return pd.DataFrame(rows)


def first_digit_summary(tokens: pd.DataFrame) -> pd.DataFrame:
    """Per model (the base model, then each diagnosed objective): on its diagnosed held-out questions,
    how often each first digit is the most probable one where the number starts, the mean probability
    of that most probable digit, and the numbers the model wrote.

    >>> t = pd.DataFrame({"run": "seed0-rpo", "id": ["a", "a", "b", "b"] * 2,
    ...                   "model": ["before"] * 4 + ["after"] * 4, "position": [0, 1] * 4, "rank": 1,
    ...                   "token": ["1", "0", "8", "0", "3", "7", "4", "2"], "prob": [.3, .9, .2, .9, .3, .2, .25, .2],
    ...                   "written": ["1", "0", "8", "0", "3", "7", "4", "2"]})
    >>> first_digit_summary(t).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'model': 'base', 'most probable first digit': "'1' ×1, '8' ×1", 'its mean probability': 0.25,
      'numbers written': '10, 80'},
     {'model': 'rpo', 'most probable first digit': "'3' ×1, '4' ×1", 'its mean probability': 0.275,
      'numbers written': '37, 42'}]
    """
    if tokens.empty:
        return pd.DataFrame()
    top = tokens[tokens["rank"] == 1].sort_values("position", kind="stable")
    rows = []
    for (run, model), group in top.groupby(["run", "model"], sort=False):
        name = "base" if model == "before" else _objective(run)
        if name == "base" and any(r["model"] == "base" for r in rows):
            continue  # the base model is the same in every run: shown once
        first = group[group["position"] == 0]
        counts = first["token"].astype(str).value_counts()
        written = []
        for _, q in group.groupby("id", sort=False):
            text = ""
            for token in q["written"].astype(str):
                if not (token.isdigit() or token == "."):
                    break
                text += token
            written.append(text or "—")
        rows.append({"model": name,
                     "most probable first digit": ", ".join(f"{t!r} ×{n}" for t, n in counts.items()),
                     "its mean probability": round(float(first["prob"].mean()), 3),
                     "numbers written": ", ".join(written)})
    return pd.DataFrame(rows)


def target_shift(questions: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """What training did to the number it was asked to state, per objective job.

    Pairs are built from the *base* model's internal confidence: the chosen reply states
    round(:math:`C_i^\\mathrm{before}`). Training changes the model, and with it :math:`C_i`. Per job,
    on the questions whose replies parsed before and after: the mean stated number :math:`C_v` and
    the mean :math:`C_i` before and after, and the stated number after training measured against both
    -- the target it was trained toward (:math:`C_i^\\mathrm{before}`) and the model's own confidence
    after training (:math:`C_i^\\mathrm{after}`, what the book's metrics use): mean
    :math:`|C_v^\\mathrm{after} - C_i|` (the *gap*) and Spearman's :math:`\\rho`.

    >>> q = pd.DataFrame({"job": "seed0-rpo", "split": "heldout", "c_v_before": [90., 80., 100.],
    ...                   "c_i_before": [40., 60., 50.], "c_v_after": [40., 45., 42.], "c_i_after": [80., 95., 90.]})
    >>> target_shift(q).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'objective': 'rpo', 'n': 3, 'C_v before': 90.0, 'C_v after': 42.3, 'C_i before': 50.0, 'C_i after': 88.3,
     'mean abs gap to C_i before': 7.7, 'mean abs gap to C_i after': 46.0,
     'ρ(C_v after, C_i before)': 1.0, 'ρ(C_v after, C_i after)': 1.0}
    """
    from dca.evaluate.metrics import spearman_rho

    if questions.empty:
        return pd.DataFrame()
    cols = ["c_v_before", "c_i_before", "c_v_after", "c_i_after"]
    rows = []
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        g = g.dropna(subset=cols)
        if g.empty:
            continue
        cv = g["c_v_after"].to_numpy(float)
        rows.append({"objective": _objective(job), "n": len(g),
                     "C_v before": round(g["c_v_before"].mean(), 1), "C_v after": round(cv.mean(), 1),
                     "C_i before": round(g["c_i_before"].mean(), 1), "C_i after": round(g["c_i_after"].mean(), 1),
                     "mean abs gap to C_i before": round(float(abs(cv - g["c_i_before"]).mean()), 1),
                     "mean abs gap to C_i after": round(float(abs(cv - g["c_i_after"]).mean()), 1),
                     "ρ(C_v after, C_i before)": round(float(spearman_rho(cv, g["c_i_before"])), 3),
                     "ρ(C_v after, C_i after)": round(float(spearman_rho(cv, g["c_i_after"])), 3)})
    return pd.DataFrame(rows)


def letter_changes(questions: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """What training did to the answers, per objective job: the share of questions whose greedy answer
    letter changed, accuracy before and after, among the changed ones the share correct before and
    after, and the most common letter's share before and after (a letter-position bias grows when it
    rises).

    >>> q = pd.DataFrame({"job": "seed0-x", "split": "heldout", "letter_before": list("ABCB"),
    ...                   "letter_after": list("BBCB"), "correct_before": [1, 0, 1, 1], "correct_after": [0, 0, 1, 1]})
    >>> letter_changes(q).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'objective': 'x', 'letters changed (%)': 25.0, 'accuracy before (%)': 75.0, 'accuracy after (%)': 50.0,
     'changed: correct before (%)': 100.0, 'changed: correct after (%)': 0.0, 'top letter before': 'B 50 %',
     'top letter after': 'B 75 %'}
    """
    if questions.empty:
        return pd.DataFrame()

    def top(letters: pd.Series) -> str:
        share = letters.value_counts(normalize=True)
        return f"{share.index[0]} {100 * share.iloc[0]:.0f} %" if not share.empty else "—"

    def pct(values: pd.Series) -> float:
        return round(100.0 * float(values.mean()), 1) if len(values) else math.nan

    rows = []
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        changed = g[g["letter_before"] != g["letter_after"]]
        rows.append({"objective": _objective(job), "letters changed (%)": pct(g["letter_before"] != g["letter_after"]),
                     "accuracy before (%)": pct(g["correct_before"]), "accuracy after (%)": pct(g["correct_after"]),
                     "changed: correct before (%)": pct(changed["correct_before"]),
                     "changed: correct after (%)": pct(changed["correct_after"]),
                     "top letter before": top(g["letter_before"]), "top letter after": top(g["letter_after"])})
    return pd.DataFrame(rows)


def top_replies(questions: pd.DataFrame, split: str = "heldout", width: int = 60) -> pd.DataFrame:
    """Per objective job: the most common reply after training (its first ``width`` characters, line
    breaks shown as ``·``) and its share, and the share of replies that still state a number.

    >>> q = pd.DataFrame({"job": "seed0-x", "split": "heldout", "c_v_after": [34., None, None],
    ...                   "reply_after": ["Answer: B\\nProbability: 34%", "Answer: BQ34", "Answer: BQ34"]})
    >>> top_replies(q).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'x', 'most common reply after training': 'Answer: BQ34', 'its share (%)': 66.7,
      'replies stating a number (%)': 33.3}]
    """
    if questions.empty:
        return pd.DataFrame()
    rows = []
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        replies = g["reply_after"].fillna("").astype(str).str.replace(r"\s*\n\s*", " · ", regex=True).str[:width]
        counts = replies.value_counts()
        rows.append({"objective": _objective(job), "most common reply after training": counts.index[0],
                     "its share (%)": round(100.0 * counts.iloc[0] / len(g), 1),
                     "replies stating a number (%)": round(100.0 * float(g["c_v_after"].notna().mean()), 1)})
    return pd.DataFrame(rows)


#: A reply in exactly the format the prompt asks for: the answer line, then a whole-number percentage.
PROMPTED_FORMAT = re.compile(r"Answer: [A-Z]\nProbability: \d{1,3}%")


def format_kept(questions: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """Per objective job (every seed; dose-response jobs left out): the share of replies in exactly
    the prompted format (:data:`PROMPTED_FORMAT`, surrounding blanks ignored) before and after
    training, and the share whose answer line holds more than ``Answer: X`` after (the option's text,
    a comma, a sentence) -- the part of the reply that a number-only loss no longer trains.

    >>> q = pd.DataFrame({"job": "seed1-sft-num", "split": "heldout",
    ...                   "reply_before": ["Answer: A\\nProbability: 90%"] * 2,
    ...                   "reply_after": ["Answer: A\\nProbability: 40%", "Answer: A) a cat\\nProbability: 40%"]})
    >>> format_kept(q).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'objective': 'sft-num', 'seed': 1, 'prompted format before (%)': 100.0, 'prompted format after (%)': 50.0,
      'answer line longer after (%)': 50.0}]
    """
    rows = []
    questions = without_dose(questions)
    for job, g in questions[questions["split"] == split].groupby("job", sort=False):
        def share(replies: pd.Series) -> float:
            kept = replies.fillna("").str.strip().map(lambda r: bool(PROMPTED_FORMAT.fullmatch(r)))
            return round(100 * float(kept.mean()), 1)

        first_line = g["reply_after"].fillna("").str.strip().str.split("\n").str[0]
        rows.append({"objective": _objective(job), "seed": int(job.split("-")[0].removeprefix("seed")),
                     "prompted format before (%)": share(g["reply_before"]),
                     "prompted format after (%)": share(g["reply_after"]),
                     "answer line longer after (%)": round(100 * float(
                         (first_line.str.startswith("Answer:") & ~first_line.str.fullmatch(r"Answer: [A-Z]")).mean()), 1)})
    return pd.DataFrame(rows)
