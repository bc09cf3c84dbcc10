"""What the chapters and the landing page show: tables and sentences built from result rows.

Every number the book prints about a run or the reference experiment is computed from result rows —
never typed. The chapter notebooks call these functions; their cells are removed from the rendered
page. This package gathers most of them under one name (``report.X``); each lives in the module of
its job:

:mod:`dca.report.format`
    labels, digits, escaped Markdown, ``mean ± sd``, glue (shared by every chapter);
:mod:`dca.report.rules`
    the book's words: when stated numbers have collapsed, when a change is better;
:mod:`dca.report.reference`
    the reference experiment (chapter 06) and the landing page's results card;
:mod:`dca.report.run`
    the results chapter of one run (chapter 05) and the note on this build's run;
:mod:`dca.report.study`
    the objectives study (chapter 07), imported as a module (``from dca.report import study``: its names
    are not gathered here); it hands out the names of :mod:`~dca.report.study_rule` (the rule, the
    verdict, the ranking), :mod:`~dca.report.study_tables` (the chapter's tables) and
    :mod:`~dca.report.study_sentences` (its sentences and the landing page's note);
:mod:`dca.report.study_answer`
    the answer that opens chapter 07 (sentences and check table), with the reader's names
    (:mod:`~dca.report.study_names`), the figures (:mod:`~dca.report.study_figures`) and the protocols
    line (:mod:`~dca.report.study_protocols`);
:mod:`dca.report.models`, :mod:`dca.report.recipes` and :mod:`dca.report.keeping`
    the second models' probes, the confidence-adapter recipes and the two routes to keeping the answers
    (one table per route and objective) of chapter 07;
:mod:`dca.report.plots`
    the figures of every chapter, in the book's style;
:mod:`dca.train.log`
    the training chapter's figures from the training log (chapter 03).
"""

from __future__ import annotations

from dca.report.format import (
    CALIBRATION_KEYS,
    DATASET_TITLES,
    EXTRA_LABELS,
    METHOD_TITLES,
    PAPER_KEYS,
    better_side,
    compact_table,
    fmt,
    glue_all,
    label,
    markdown_table,
    markdown_text,
    math_label,
    math_text,
    mean_sd,
    pm,
)
from dca.report.reference import (
    ReferenceChapterConfig,
    ablation_summary,
    ablation_table,
    datasets,
    method_table,
    paper_form,
    per_seed,
    results_card,
    rows_of,
    seeds,
    sft_versus_dpo,
    sign_agreement,
    stated_number_shares,
    value,
    verdict,
)
from dca.report.rules import (
    COLLAPSE_MAX_DISTINCT,
    COLLAPSE_TOP_SHARE,
    beats_constant,
    change_word,
    collapse_sentence,
    collapsed,
    direction,
    interval_change,
    is_collapsed,
    stated_counts,
)
from dca.report.run import (
    comparison_markdown,
    evaluation_summary,
    moved,
    replies_side_by_side,
    stated_strings,
    stated_text,
    store_markdown,
    this_build_note,
)
from dca.train.log import heldout_summary, training_summary

__all__ = [
    "CALIBRATION_KEYS", "COLLAPSE_MAX_DISTINCT", "COLLAPSE_TOP_SHARE", "DATASET_TITLES", "EXTRA_LABELS", "METHOD_TITLES",
    "PAPER_KEYS", "ReferenceChapterConfig", "ablation_summary", "ablation_table", "beats_constant", "better_side",
    "change_word", "compact_table",
    "collapse_sentence", "collapsed", "comparison_markdown", "datasets", "direction", "evaluation_summary", "fmt",
    "glue_all", "heldout_summary", "interval_change", "is_collapsed", "label", "markdown_table", "markdown_text",
    "math_label", "math_text", "mean_sd", "method_table", "moved", "paper_form", "per_seed", "pm",
    "replies_side_by_side", "results_card", "rows_of", "seeds", "sft_versus_dpo", "sign_agreement", "stated_counts",
    "stated_number_shares", "stated_strings", "stated_text", "store_markdown", "this_build_note", "training_summary",
    "value", "verdict",
]
