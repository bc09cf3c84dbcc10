"""What chapter 07 (*Why DCA fails here, and what works*) and the landing page show of the objectives
study, computed from the committed ``book/data/study_*.csv`` (:mod:`dca.reference.study_results` writes
them). The chapter's parameters live here (:class:`StudyChapterConfig`); the work is split by job:

- :mod:`dca.report.study_rule`: the pre-stated rule for an objective that *works*, the verdict table and
  the ranking of the objectives closest to working;
- :mod:`dca.report.study_tables`: the objective x metric summary, seed by seed, the dose-response, the
  number-token tables and what training did to the target, the letters, the replies and their format;
- :mod:`dca.report.study_sentences`: the sentences built from those (verdict, displacement, seeds,
  letters, format) and the landing page's note.

Every name of the three is also a name of this module (``study.criteria``, ``study.card_note``, ...),
as it was before the split.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from dca.config import StageConfig
from dca.reference.study_results import read  # noqa: F401 (the chapter reads the files with it)
from dca.report.study_rule import (  # noqa: F401 (this module's names before the split)
    DOSE, MAX_ACCURACY_DROP, MIN_PARSED_FOR_EPS, MIN_WHOLE_PERCENT, RHO_GOAL, SECOND_MODEL_JOBS, _cell, _objective,
    below_baselines, closest_objective, conditions_of, criteria, objectives_of, rank_objectives, verdict_table,
    without_dose, without_readouts, without_second_models)
from dca.report.study_sentences import (  # noqa: F401
    NUMBER_ONLY_TWINS, WHOLE_REPLY_LIKELIHOOD, _and, card_note, displacement_sentence, format_sentence,
    further_seeds_sentence, goal_sentence, letter_sentence, loss_tokens_sentence, seeds_sentence, verdict_sentence)
from dca.report.study_tables import (  # noqa: F401
    LABELS, PROMPTED_FORMAT, dose_response, first_digit_summary, format_kept, goal_table, labelled, letter_changes,
    number_token_table, objective_summary, per_seed, target_shift, top_replies)


@dataclasses.dataclass(frozen=True)
class StudyChapterConfig(StageConfig):
    """Parameters of the chapter on the objectives study (``07_why_and_what_works``): the files it reads."""

    stage: ClassVar[str] = "study"

    results: str = dataclasses.field(default="book/data/study_results.csv", metadata={
        "help": "the committed study results (python -m dca.reference.study collect writes it)"})
    questions: str = dataclasses.field(default="book/data/study_questions.csv", metadata={
        "help": "per-question replies before and after of the study's jobs"})
    training: str = dataclasses.field(default="book/data/study_training.csv", metadata={
        "help": "training logs of the study's jobs (log-probabilities of chosen and rejected per step)"})
    number_tokens: str = dataclasses.field(default="book/data/study_number_tokens.csv", metadata={
        "help": "next-token tables at the number's positions (python -m dca.reference.diagnosis writes it)"})
    paper_results: str = dataclasses.field(default="book/data/paper_results.csv", metadata={
        "help": "the paper's reported numbers (typed from its tables, not measured here)"})
