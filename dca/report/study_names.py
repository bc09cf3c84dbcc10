"""The study's raw names (objectives, methods, metrics, conditions, jobs) as a reader says them, for the
tables, sentences and figures of chapter 07.
"""

from __future__ import annotations

import re

import pandas as pd

from dca.report.study_tables import LABELS

#: What a reader calls each objective of the study (the raw name is shown where this has none).
NAMES = {
    "vanilla": "the model before training",
    "dca": "DCA",
    "rpo": "DPO + NLL (RPO)",
    "dpop": "DPO-Positive (DPOP)",
    "apo": "APO-zero",
    "sft": "SFT on the whole reply",
    "sft-dpo": "SFT, then DPO",
    "distract": "DPO + distractors",
    "rpo-num": "RPO on the number",
    "sft-num": "SFT on the number",
    "sft-num-kl": "SFT on the number + KL on the letter",
    "sft-num-kl1": "SFT on the number + KL (weight 1)",
    "sft-num-kl3": "SFT on the number + KL (weight 3)",
    "sft-num-kl-line": "SFT on the number + KL on the line",
    "sft-num-kl1-line": "SFT on the number + KL on the line (weight 1)",
    # the confidence adapters: an inference choice (the base model answers, the adapter states the number)
    "sft-num-base": "confidence adapter (SFT on the number)",
    "sft-num-kl-base": "confidence adapter (SFT on the number + KL)",
    "sft-num-kl1-base": "confidence adapter (SFT on the number + KL, weight 1)",
    "rpo-num-base": "confidence adapter (RPO on the number)",
    "rpo-base": "confidence adapter (RPO)",
    "sft-num-fp32-base": "confidence adapter (SFT on the number, float32)",
    "rpo-num-fp32-base": "confidence adapter (RPO on the number, float32)",
    "rpo-fp32-base": "confidence adapter (RPO, float32)",
    # the expected readout: the number read as the mean of 0-100 under the adapter's distribution
    "sft-num-kl1-expected": "SFT on the number + KL (weight 1), expected number",
    "sft-num-kl1-expected-base": "confidence adapter (SFT on the number + KL, weight 1), expected number",
}


#: The rule's conditions (the keys of :func:`dca.report.study.criteria`) as a table header says them.
CONDITION_LABELS = {
    "ρ rises": "ρ rises",
    "mean abs ε below both baselines": r"mean $\vert\varepsilon\vert$ below baselines",
    "σ ε falls": r"$\sigma_\varepsilon$ falls",
    "accuracy kept": "accuracy kept",
    "whole-% replies ≥ 95 %": "whole-% replies ≥ 95 %",
    "transfer ρ not lower": "transfer ρ kept",
}


#: The same conditions in a sentence (plain text: no Markdown, no math).
CONDITION_WORDS = {
    "ρ rises": "ρ",
    "mean abs ε below both baselines": "mean |ε|",
    "σ ε falls": "σ_ε",
    "accuracy kept": "accuracy",
    "whole-% replies ≥ 95 %": "replies stating a whole-number percentage",
    "transfer ρ not lower": "ρ on the transfer questions",
}


def objective_name(objective: str) -> str:
    """The objective's name for a reader (:data:`NAMES`), or its raw name where the mapping has none.

    >>> objective_name("rpo"), objective_name("sft-num"), objective_name("new-recipe")
    ('DPO + NLL (RPO)', 'SFT on the number', 'new-recipe')
    """
    return NAMES.get(objective, objective)


#: What a table says for the raw names of methods, metrics and splits in the study rows (cell values).
VALUE_NAMES = {**NAMES, "vanilla": "before training", "constant": "constant baseline",
               "isotonic": "isotonic baseline", "say_ci": "stating round(C_i) (oracle)", "heldout": "held out",
               "rho": "ρ", "mean_abs_eps": "mean |ε|", "sigma_eps": "σ_ε", "accuracy_all": "accuracy, all replies",
               "whole_percent": "whole-% replies", "base": "base model"}


#: Column headers for a reader (Markdown: headers are not escaped by the table writer).
HEADER_NAMES = {"mde": "smallest detectable change", "split": "questions", "method": "model", "job": "job",
                "n": "questions"}


def _header(column: str) -> str:
    text = LABELS.get(column, HEADER_NAMES.get(column, column))
    text = re.sub(r"\bC_([vi])\b", r"$C_\1$", text)
    return text.replace("σ ε", r"$\sigma_\varepsilon$").replace("mean abs ε", r"mean $\vert\varepsilon\vert$")


def _job_name(job: str) -> str:
    """A study job for a reader: ``seed1-rpo`` -> the objective's name and the seed; any other job (a
    second model's probe, ``gemma270-seed0``) as it is named.

    >>> _job_name("seed1-rpo"), _job_name("seed0"), _job_name("gemma270-seed0")
    ('DPO + NLL (RPO), seed 1', 'before training, seed 0', 'gemma270-seed0')
    """
    m = re.fullmatch(r"seed(\d+)(?:-(.+))?", str(job))
    if not m:
        return str(job)
    objective = m.group(2) or "vanilla"
    return f"{VALUE_NAMES.get(objective, objective)}, seed {m.group(1)}"


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a reader should see it: metric and symbol headers in words and math (``sigma_eps``
    -> $\\sigma_\\varepsilon$, ``C_v`` -> $C_v$), and the raw names in the cells of the ``objective``,
    ``method``, ``model``, ``metric``, ``split``/``questions`` and ``job`` columns in words.

    >>> f = pd.DataFrame({"job": ["seed1-rpo"], "method": ["say_ci"], "sigma_eps": [1.0], "C_i after": [2.0]})
    >>> readable(f).to_dict("records")
    [{'job': 'DPO + NLL (RPO), seed 1', 'model': 'stating round(C_i) (oracle)', '$\\\\sigma_\\\\varepsilon$': 1.0, '$C_i$ after': 2.0}]
    """
    out = frame.copy()
    for column in out.columns:
        if column == "job":
            out[column] = [_job_name(j) for j in out[column]]
        elif column in ("objective", "method", "model", "metric", "split", "questions"):
            out[column] = [VALUE_NAMES.get(v, v) if isinstance(v, str) else v for v in out[column]]
    return out.rename(columns={c: _header(c) for c in out.columns})


def named(text: str, names: dict[str, str] | None = None) -> str:
    """``text`` (a sentence the study's functions wrote) with every raw objective name replaced by its
    name for a reader (:data:`NAMES`; longest names first, whole names only); a name that opens a
    sentence opens with a capital.

    >>> named("sft-num (seeds 0, 1); sft (seed 0); rpo-num missed it; not dca-q25")
    'SFT on the number (seeds 0, 1); SFT on the whole reply (seed 0); RPO on the number missed it; not dca-q25'
    >>> named("It ran. sft-num-base has not run on seed 2.")
    'It ran. Confidence adapter (SFT on the number) has not run on seed 2.'
    """
    names = {k: v for k, v in (names or NAMES).items() if k != "vanilla"}
    pattern = re.compile(r"(^|[.!?] )?(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))
                         + r")(?![\w-])")

    def replace(m: re.Match) -> str:
        name = names[m.group(2)]
        return (m.group(1) + name[:1].upper() + name[1:]) if m.group(1) is not None else name

    return pattern.sub(replace, text)


def _list(names: list[str], last: str = "and") -> str:
    return ", ".join(names[:-1]) + f" {last} " + names[-1] if len(names) > 1 else "".join(names)
