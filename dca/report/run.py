"""The results chapter of one run (``05_results``) and the landing page's note on this build's run:
the before/after comparison in the book's words, the stated strings and replies, the results store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from dca.evaluate.metrics import METRICS
from dca.paths import ROOT
from dca.report.format import better_side, fmt, markdown_table, math_label
from dca.report.rules import (COLLAPSE_TOP_SHARE, beats_constant, change_word, collapse_sentence, collapsed,
                              comparison_words, stated_counts)

__all__ = ["comparison_markdown", "evaluation_summary", "moved", "replies_side_by_side", "stated_strings",
           "stated_text", "store_markdown", "this_build_note"]


def comparison_markdown(comparison: pd.DataFrame, constant: dict[str, float] | None = None,
                        c_v_after: Iterable[float] | None = None) -> str:
    """:func:`dca.evaluate.bootstrap.paired_table` as the chapter's Markdown table: each metric, which way is
    better, before, after, the difference with its paired 95 % interval in one cell, and the book's
    word for the change (:func:`comparison_words`: against the ``constant`` baseline where it has the
    metric, and never *better* when the trained model's stated numbers ``c_v_after`` collapsed)."""
    words = comparison_words(comparison, constant, c_v_after)
    shown = pd.DataFrame({
        "metric": [math_label(x) for x in comparison["label"]],
        "better": [better_side(h) for h in comparison["higher_is_better"]],
        "before": [fmt(v, k) for v, k in zip(comparison["before"], comparison["metric"])],
        "after": [fmt(v, k) for v, k in zip(comparison["after"], comparison["metric"])],
        "after − before [95 % interval]": [f"{fmt(d, k)} [{fmt(lo, k)}, {fmt(hi, k)}]" for d, lo, hi, k in
                                           zip(comparison["diff"], comparison["diff_low"], comparison["diff_high"],
                                               comparison["metric"])],
        "change": [words[m] for m in comparison["metric"]],
        "source": comparison["source"],
    })
    return markdown_table(shown, markup=["metric"])


def moved(comparison: pd.DataFrame, key: str, constant: dict[str, float] | None = None,
          c_v_after: Iterable[float] | None = None) -> str:
    """A clause saying how one metric moved, and the book's word for it (:func:`comparison_words`, with
    the collapse rule on the trained model's stated numbers ``c_v_after``).

    >>> table = pd.DataFrame([{"metric": "sigma_eps", "before": 30.0, "after": 20.0, "diff": -10.0,
    ...                        "diff_low": -12.0, "diff_high": -8.0, "higher_is_better": False}])
    >>> moved(table, "sigma_eps")
    'fell from 30.00 to 20.00 points: better (the paired interval excludes zero)'
    >>> moved(table, "sigma_eps", {"sigma_eps": 15.0})
    'fell from 30.00 to 20.00 points: no clear change (the paired interval excludes zero, but the constant baseline reaches 15.00)'
    >>> moved(table, "sigma_eps", c_v_after=[48.0] * 8 + [70.0, 30.0])
    'fell from 30.00 to 20.00 points: no clear change (the paired interval excludes zero, but the trained model states 48 % on 80 % of the questions: a collapse)'
    """
    rows = comparison[comparison["metric"] == key]
    if rows.empty or math.isnan(float(rows["diff"].iloc[0])):
        return "could not be computed"
    row = rows.iloc[0]
    way = "fell" if row["diff"] < 0 else "rose" if row["diff"] > 0 else "did not change"
    higher = row["higher_is_better"] if "higher_is_better" in row else (METRICS[key].higher_is_better if key in METRICS else None)
    wins = beats_constant(rows, constant).get(key)
    after = list(c_v_after) if c_v_after is not None else None
    down = collapsed(after) if after is not None else False
    word = change_word(float(row["diff"]), float(row["diff_low"]), float(row["diff_high"]), higher, wins, down)
    sure = ("the paired interval excludes zero" if not row["diff_low"] <= 0 <= row["diff_high"]
            else "the paired interval includes zero")
    if wins is False and sure.endswith("excludes zero"):
        sure += f", but the constant baseline reaches {float(constant[key]):.2f}"  # type: ignore[index]
    elif down and sure.endswith("excludes zero") and word != "worse":
        sure += f", but {collapse_clause(after)}"  # type: ignore[arg-type]
    return f"{way} from {row['before']:.2f} to {row['after']:.2f} points: {word} ({sure})"


def collapse_clause(c_v: Iterable[float]) -> str:
    """Why a collapse: the most common stated number and its share, or how few distinct numbers there are.

    >>> collapse_clause([48.0] * 8 + [70.0, 30.0]), collapse_clause([40.0, 50.0] * 3)
    ('the trained model states 48 % on 80 % of the questions: a collapse', 'the trained model states only 2 distinct numbers: a collapse')
    """
    values = pd.Series(list(c_v), dtype=float).dropna()
    distinct, top = stated_counts(values)
    if top >= COLLAPSE_TOP_SHARE:
        return (f"the trained model states {values.value_counts().index[0]:g} % on {top:.0f} % of the questions: "
                "a collapse")
    return f"the trained model states only {distinct} distinct numbers: a collapse"


def evaluation_summary(result: dict[str, Any], comparison: pd.DataFrame,
                       constant: dict[str, float] | None = None,
                       c_v_after: Iterable[float] | None = None) -> dict[str, Any]:
    """The results chapter's figures for the prose: held-out and paired counts, parse rates and
    accuracy before and after (%), and how σ_ε and mean |ε| moved (against the ``constant`` baseline,
    and with the collapse rule on the trained model's stated numbers ``c_v_after``)."""
    after = list(c_v_after) if c_v_after is not None else None
    return {
        "r_n_eval": int(result["n_eval"]),
        "r_n_paired": int(result["n_paired"]),
        "r_parse_before": float(100 * result["parse_rate"]["before"]),
        "r_parse_after": float(100 * result["parse_rate"]["after"]),
        "r_acc_before": float(result["accuracy_all"]["before"]),
        "r_acc_after": float(result["accuracy_all"]["after"]),
        "r_sigma_sentence": moved(comparison, "sigma_eps", constant, after),
        "r_mae_sentence": moved(comparison, "mean_abs_eps", constant, after),
    }


def shown_run(run: str) -> str:
    """A run folder as a reader wants to see it: relative to the repository when inside it (the store
    keys runs by their absolute path, which says more about the machine than about the run).

    >>> shown_run(str(ROOT / "runs" / "smoke"))
    'runs/smoke'
    >>> shown_run("/elsewhere/runs/x")
    '/elsewhere/runs/x'
    """
    path = Path(str(run))
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(run)


def store_markdown(store: pd.DataFrame,
                   keys: Iterable[str] = ("accuracy", "rho", "sigma_eps", "mean_abs_eps", "sigma_m")) -> str:
    """Every run of the results store as Markdown: one table of where each run comes from (model, data,
    objective, profile, commit, date) and one of its paper metrics, ``vanilla → after training`` with
    the run's objective (``dca``, ``sft`` ...), each narrow enough for the page. A run on several
    datasets has a line per dataset and for their mean beside the pooled one."""
    if store.empty:
        return "*No results in the store yet.*"
    keys = list(keys)
    rows = store[store["metric"].isin(keys)].copy()
    rows["side"] = ["before" if m == "vanilla" else "after" for m in rows["method"]]
    trained = rows[rows["side"] == "after"].groupby(["run", "dataset"])["method"].first()
    rows["objective"] = [trained.get((r, d), "") for r, d in zip(rows["run"], rows["dataset"])]
    where_columns = ["run", "model", "dataset", "objective", "profile", "n", "commit", "date", "source"]
    wide = rows.pivot_table(index=where_columns, columns=["metric", "side"], values="value", aggfunc="first",
                            sort=False)
    cells = {math_label(METRICS[k].label): [f"{v:.2f} → {d:.2f}" for v, d in zip(wide[(k, "before")], wide[(k, "after")])]
             for k in keys if (k, "before") in wide and (k, "after") in wide}
    runs = pd.DataFrame(cells, index=wide.index).reset_index()
    runs["commit"] = runs["commit"].astype(str).str[:8] + " (" + runs["date"].astype(str) + ")"
    runs["run"] = runs["run"].map(shown_run)
    # two tables of few columns, so that both fit the page: where each run comes from, then its metrics
    where = runs[[c for c in where_columns if c not in ("date", "n")]].rename(columns={"commit": "commit (date)"})
    metrics = runs[["run", "dataset", "n", *cells]]
    return (markdown_table(where) + "\n\nTheir metrics of the paper, vanilla → after training:\n\n"
            + markdown_table(metrics))


def stated_text(response: str, start: float | None = None, end: float | None = None) -> str:
    """What a reply states as its confidence: the line holding the parsed number (``cv_start``/``cv_end``
    of the stage-1 table), or the line with "Probability"; ``(no number)`` when there is none.

    >>> stated_text("Answer: B\\nProbability: 48%", 21, 23)
    'Probability: 48%'
    >>> stated_text("Answer: B")
    '(no number)'
    """
    response = str(response or "")
    if start is not None and not pd.isna(start):
        begin = response.rfind("\n", 0, int(start)) + 1
        stop = response.find("\n", int(end if end is not None and not pd.isna(end) else start))
        return response[begin:stop if stop >= 0 else None].strip() or "(no number)"
    line = next((ln for ln in response.splitlines() if "probab" in ln.lower()), "")
    return line.strip() or "(no number)"


def stated_strings(*tables: tuple[str, pd.DataFrame], top: int = 5) -> pd.DataFrame:
    """The most common stated strings (:func:`stated_text`) of each ``(name, replies table)`` and their
    shares (%) of that table's replies, side by side: one row per rank.

    >>> t = pd.DataFrame({"response": ["Probability: 48%", "Probability: 48%", "Probability: 70%"]})
    >>> stated_strings(("before", t), top=2).to_dict("records")
    [{'rank': 1, 'before': 'Probability: 48%', 'before (%)': '66.7'}, {'rank': 2, 'before': 'Probability: 70%', 'before (%)': '33.3'}]
    """
    columns: dict[str, list[str]] = {"rank": list(range(1, top + 1))}
    for name, table in tables:
        texts = pd.Series([stated_text(r.response, getattr(r, "cv_start", None), getattr(r, "cv_end", None))
                           for r in table.itertuples()], dtype=object)
        counts = texts.value_counts().head(top)
        shares = [f"{100 * c / len(texts):.1f}" for c in counts]
        columns[name] = list(counts.index) + [""] * (top - len(counts))
        columns[f"{name} (%)"] = shares + [""] * (top - len(counts))
    out = pd.DataFrame(columns)
    filled = [c for c in out.columns if c != "rank"]
    return out[(out[filled] != "").any(axis=1)].reset_index(drop=True)


def replies_side_by_side(before: pd.DataFrame, after: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    """The first ``n`` held-out questions that both tables hold, with the reply before and after
    training side by side (question cut to 90 characters, replies on one line).

    >>> b = pd.DataFrame({"id": ["q1"], "question": ["Why?"], "response": ["Answer: A\\nProbability: 80%"]})
    >>> a = pd.DataFrame({"id": ["q1"], "response": ["Answer: A\\nProbability: 48%"]})
    >>> replies_side_by_side(b, a).to_dict("records")
    [{'question': 'Why?', 'reply before training': 'Answer: A · Probability: 80%', 'reply after training': 'Answer: A · Probability: 48%'}]
    """
    def one_line(text: Any) -> str:
        return " · ".join(part.strip() for part in str(text).splitlines() if part.strip())

    a = after.set_index("id")
    rows = []
    for row in before.itertuples():
        if row.id not in a.index:
            continue
        question = str(getattr(row, "question", "") or _question_of(getattr(row, "prompt", "")))
        rows.append({"question": question if len(question) <= 90 else question[:89] + "…",
                     "reply before training": one_line(row.response),
                     "reply after training": one_line(a.at[row.id, "response"])})
        if len(rows) == n:
            break
    return pd.DataFrame(rows, columns=["question", "reply before training", "reply after training"])


def _question_of(prompt: Any) -> str:
    """The last question of a prompt (the text after its last "Question:"), on one line."""
    text = str(prompt or "")
    tail = text.rsplit("Question:", 1)[-1]
    return " ".join(tail.split("\n")[0].split())


def this_build_note(profile: str, model: str, comparison: pd.DataFrame, constant: dict[str, float] | None,
                    c_v_before: Iterable[float], c_v_after: Iterable[float], reference_verdict: str) -> str:
    r"""How this build's own run relates to the reference verdict (the landing page, under the card):
    its mean |ε| and ρ in the book's words (:func:`change_word`), whether its stated numbers collapsed
    (:func:`collapse_sentence`), and whether it tells the reference's story or too small a run to say.

    >>> t = pd.DataFrame([{"metric": "mean_abs_eps", "before": 20.7, "after": 17.2, "diff": -3.5, "diff_low": -5.0,
    ...                    "diff_high": -2.0, "higher_is_better": False}, {"metric": "rho", "before": 0.18,
    ...                    "after": 0.02, "diff": -0.16, "diff_low": -0.4, "diff_high": 0.1, "higher_is_better": True}])
    >>> print(this_build_note("default", "qwen", t, {"mean_abs_eps": 16.0}, [48] * 9 + [70], [48] * 10,
    ...                       "DCA did not do what the paper hopes for here: ..."))  # doctest: +NORMALIZE_WHITESPACE
    **This build's own run** (profile `default`, model `qwen`, 10 paired held-out questions; chapters 1–5):
    mean $|\varepsilon|$ fell from 20.70 to 17.20 points: no clear change (the paired interval excludes zero,
    but the constant baseline reaches 16.00); Spearman ρ 0.180 → 0.020: no clear change. The stated numbers
    were already collapsed before training (2 distinct numbers, the most common on 90 % of the questions)
    and still are after it (1 distinct, the most common on 100 %). Like the reference experiment, this run
    shows no change the book calls better (a paired interval excluding 0 on the good side, the constant
    baseline beaten, and stated numbers that did not collapse).

    The collapse rule comes first: a run that states 48 % on 80 % of its questions is not *better*,
    even where the interval and the constant baseline would allow the word.

    >>> print(this_build_note("default", "qwen", t, {"mean_abs_eps": 25.0}, list(range(10, 101, 10)),
    ...                       [48] * 8 + [70, 30], "DCA did not ..."))  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
    **This build's own run** ... mean $|\varepsilon|$ fell from 20.70 to 17.20 points: no clear change (the
    paired interval excludes zero, but the trained model states 48 % on 80 % of the questions: a collapse);
    ... Training collapsed the stated numbers: ... Like the reference experiment, this run shows no change
    the book calls better ...
    """
    before, after = list(c_v_before), list(c_v_after)
    n = len(after)
    word = comparison_words(comparison, constant, after)  # the one word of every page, collapse rule first
    rho = comparison[comparison["metric"] == "rho"]
    rho_text = "could not be computed"
    if len(rho):
        r = rho.iloc[0]
        rho_text = f"{fmt(float(r['before']), 'rho')} → {fmt(float(r['after']), 'rho')}: {word['rho']}"
    mae = moved(comparison, "mean_abs_eps", constant, after)
    words = [word[k] for k in ("mean_abs_eps", "rho") if k in word]
    gained = bool(words) and all(w == "better" for w in words)
    reference_worked = reference_verdict.startswith("DCA worked")
    some = [k for k in ("mean_abs_eps", "rho") if word.get(k) == "better"]
    if some and not gained:
        tail = (f"The book calls the change of {'mean |ε|' if some == ['mean_abs_eps'] else 'ρ'} better but not "
                f"the other, so this run does not show DCA working; "
                + ("nor does the reference experiment." if not reference_worked else
                   "the reference experiment's seeds do."))
    elif gained == reference_worked:
        tail = ("Like the reference experiment, this run " + ("shows DCA working." if gained else
                "shows no change the book calls better (a paired interval excluding 0 on the good side, the "
                "constant baseline beaten, and stated numbers that did not collapse)."))
    else:
        tail = ("Unlike the reference experiment's seeds, this one small run " + ("shows a gain; one run of this "
                "size is not evidence against the seeds." if gained else "shows no clear gain; one run of this "
                "size is not evidence against the seeds."))
    return (f"**This build's own run** (profile `{profile}`, model `{model}`, {n} paired held-out questions; "
            f"chapters 1–5): mean $|\\varepsilon|$ {mae}; Spearman ρ {rho_text}. "
            f"{collapse_sentence(stated_counts(before), stated_counts(after))} {tail}")
