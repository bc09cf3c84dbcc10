"""The landing page's opening: a reproduction report (scope, what we ran, results, what was easy, what
was hard) glued from the committed rows of the reference experiment and the objectives study.
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["reproduction_report"]


def _value(rows: pd.DataFrame, method: str, metric: str, kind: str | None = "seed") -> float:
    """Mean over the seed jobs of one method's metric, on the mean of the held-out datasets."""
    sub = rows[(rows["dataset"] == "mean") & (rows["method"] == method) & (rows["metric"] == metric)]
    if kind is not None and "kind" in sub.columns:
        sub = sub[sub["kind"] == kind]
    return float(sub["value"].mean()) if sub["value"].notna().any() else math.nan


def _hours(rows: pd.DataFrame) -> float:
    return float(rows.drop_duplicates("job")["wall_s"].sum() / 3600) if "wall_s" in rows.columns else math.nan


def reproduction_report(reference: pd.DataFrame, study: pd.DataFrame, study_training: pd.DataFrame | None,
                        decisions: int, model: str) -> str:
    """The landing page's reproduction report as a MyST admonition, every number from the rows:
    *scope* (the paper's method on ``model``, on the datasets of the rows), *what we ran* (jobs, seeds
    and hours of each experiment), *results* (the reference verdict's numbers and chapter 07's answer),
    *what was easy* (the reply format parses; the pipeline runs on a CPU) and *what was hard* (the
    ``decisions`` where the paper is silent, the few numbers the model states, displacement).

    >>> print(reproduction_report(pd.DataFrame(), pd.DataFrame(), None, 18, "m"))  # doctest: +ELLIPSIS
    ```{admonition} Reproduction report
    ...
    **Results.** The reference experiment has not run yet (`make reference`)...
    """
    from dca.report.study_answer import answer_sentences

    lines = ["```{admonition} Reproduction report\n:class: tip"]
    datasets = "OpenBookQA, MMLU and ARC-Challenge"
    lines.append(f"**Scope.** The paper's method, DCA: preference training (DPO) that asks a model to state, "
                 f"as its confidence, the probability it gives its own answer. The paper's models need a GPU; "
                 f"here one small model, {model}, on {datasets} questions, with the paper's metrics, baselines "
                 f"it does not have, and other training objectives. Terms: {{ref}}`below <intro>` and in each "
                 f"chapter.")
    if reference.empty:
        lines.append("**Results.** The reference experiment has not run yet (`make reference`); nothing is claimed.")
        lines.append("```")
        return "\n\n".join(lines) + "\n"
    seeds = sorted(int(s) for s in set(reference[reference["kind"] == "seed"]["seed"]))
    ablations = reference[reference["kind"] == "ablation"]["job"].nunique()
    ran = (f"**What we ran.** A reference experiment: DCA on {len(seeds)} seeds, a supervised baseline and "
           f"{ablations} one-factor ablations ({reference['job'].nunique()} jobs, {_hours(reference):.1f} hours of "
           f"a 2-core CPU).")
    if not study.empty:
        from dca.reference.study import RECIPE_SUFFIX
        from dca.report.study import objectives_of, without_dose, without_readouts

        rows = without_readouts(without_dose(study))  # the jobs' count and hours below keep every job
        objectives = objectives_of(rows)
        recipes = sum(o.endswith(RECIPE_SUFFIX) for o in objectives)  # confidence adapters train nothing
        ran += (f" An objectives study on a larger protocol: {len(objectives) - recipes} training objectives"
                + (f" and {recipes} confidence adapter{'s' if recipes > 1 else ''}" if recipes else "")
                + f", up to {rows['seed'].nunique()} seeds ({study['job'].nunique()} jobs, {_hours(study):.1f} hours).")
    lines.append(ran)
    before, after = _value(reference, "vanilla", "mean_abs_eps"), _value(reference, "dca", "mean_abs_eps")
    constant = _value(reference, "constant", "mean_abs_eps")
    rho_b, rho_a = _value(reference, "vanilla", "rho"), _value(reference, "dca", "rho")
    results = (f"**Results.** DCA did not make the stated confidence follow the internal one: over {len(seeds)} "
               f"seeds their mean gap went from {before:.1f} to {after:.1f} points (a constant stated number "
               f"reaches {constant:.1f}) and their rank correlation from {rho_b:.2f} to {rho_a:.2f}.")
    if not study.empty:
        from dca.report.study import without_readouts

        sentences = answer_sentences(without_readouts(study), study_training)
        results += (" The objectives study judges each objective by six conditions fixed before it ran (the rule "
                    "of {ref}`chapter-why-and-what-works`). " + " ".join(s for s in sentences[2:]))
    lines.append(results)
    parsed = _value(reference, "vanilla", "parse_rate")
    lines.append(f"**What was easy.** Every stage the paper describes, from asking the questions to the "
                 f"metrics, runs offline on a CPU from packaged models and question sets; the model follows the "
                 f"two-line reply format ({parsed:.0f} % of its held-out replies state a number before training).")
    distinct = _value(reference, "vanilla", "distinct_cv")
    lines.append(f"**What was hard.** The paper publishes no code: {decisions} decisions where it is silent are "
                 f"parameters with stated defaults ({{ref}}`decisions`). Before training the model states "
                 f"{distinct:.0f} distinct numbers per dataset on average, so the paper's metrics have little room "
                 f"to move; and DPO on these pairs makes the taught reply less likely too (chapter "
                 f"{{ref}}`chapter-why-and-what-works`).")
    lines.append("```")
    return "\n\n".join(lines) + "\n"
