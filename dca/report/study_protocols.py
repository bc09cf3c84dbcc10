"""The protocols whose numbers the book shows side by side (this build's run, the reference experiment,
the objectives study): prompt, held-out questions, seeds and model of each, in one line.
"""

from __future__ import annotations

from typing import Any

from dca.report.study_figures import _seeds
from dca.report.study_names import _list

def protocol_of(where: str | dict[str, Any]) -> str:
    """The prompt and the held-out questions of a profile's runs (read from its configuration), or of
    one run (``where``: the ``k_shot`` and ``n_eval`` its stage 1 recorded).

    >>> protocol_of("study"), protocol_of({"k_shot": 3, "n_eval": 12})
    ('zero-shot prompt, 200 held-out questions per dataset', '3-shot prompt, 12 held-out questions per dataset')
    """
    from dca.extract import ExtractConfig

    if isinstance(where, str):
        config = ExtractConfig.from_profile(where)
        k_shot, n_eval = config.k_shot, config.n_eval
    else:
        k_shot, n_eval = int(where["k_shot"]), int(where["n_eval"])
    prompt = "zero-shot prompt" if k_shot == 0 else f"{k_shot}-shot prompt"
    return f"{prompt}, {n_eval} held-out questions per dataset"


def _seed_list(seeds: list[int]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {_list([str(s) for s in seeds])}" if seeds else "no seed yet"


def protocols_sentence(runs: list[tuple[str, str | dict[str, Any], list[int], str]]) -> str:
    """One line on the runs whose numbers stand side by side: for each ``(name, profile or recorded
    parameters, seeds, model)`` its model, prompt, held-out questions and seeds (:func:`protocol_of`),
    and why their numbers before training differ.

    >>> print(protocols_sentence([("the reference experiment", "reference", [0, 1, 2], "qwen"),
    ...                           ("the objectives study", "study", [0, 1, 2], "qwen")]))  # doctest: +NORMALIZE_WHITESPACE
    Side by side: the reference experiment (qwen; profile `reference`: 3-shot prompt, 48 held-out questions
    per dataset, seeds 0, 1 and 2) and the objectives study (qwen; profile `study`: zero-shot prompt, 200
    held-out questions per dataset, seeds 0, 1 and 2). Their numbers before training differ because the
    prompts differ (a k-shot prompt first shows k worked replies, each stating a probability; a zero-shot
    prompt none) and so do the questions: compare a change only with the model before training of its own
    protocol.
    """
    described = [f"{name} ({model}; {f'profile `{where}`: ' if isinstance(where, str) else ''}{protocol_of(where)}, "
                 f"{_seed_list(seeds)})" for name, where, seeds, model in runs]
    models = len({model for *_, model in runs}) > 1
    return ("Side by side: " + _list(described) + ". Their numbers before training differ because "
            + ("the models differ, " if models else "")
            + "the prompts differ (a k-shot prompt first shows k worked replies, each stating a probability; a "
            "zero-shot prompt none) and so do the questions: compare a change only with the model before training "
            "of its own protocol.")


def three_protocols(build: dict[str, Any] | None = None) -> str:
    """:func:`protocols_sentence` for the book's three protocols: this build's run (``build``: the
    parameters its stage 1 recorded, with its ``seed``; left out when ``None``), the reference
    experiment and the objectives study, with the seeds of their committed rows."""
    from dca.report.format import model_title
    from dca.reference.collect import RESULTS, read_results
    from dca.reference.study_results import RESULTS as STUDY_RESULTS
    from dca.reference.study_results import read as read_study
    from dca.report.reference import seeds as reference_seeds

    runs: list[tuple[str, str | dict[str, Any], list[int], str]] = []
    if build:
        runs.append(("this build's run", build, [int(build.get("seed", 0))], str(build.get("model", "?"))))
    for name, rows, profile in (("the reference experiment", read_results(RESULTS), "reference"),
                                ("the objectives study", read_study(STUDY_RESULTS), "study")):
        if rows.empty:
            continue
        if profile == "study":  # the study's own model: its seed jobs (second models' probes left out)
            rows = rows[rows["job"].astype(str).str.fullmatch(r"seed\d+(-.+)?")]
        seeds = sorted(int(x) for x in reference_seeds(rows)) if profile == "reference" else _seeds(rows)
        runs.append((name, profile, seeds, ", ".join(dict.fromkeys(
            model_title(m) for m in rows["model"].dropna().astype(str)))))
    return protocols_sentence(runs)


def recorded_protocol(run_dir: str) -> dict[str, Any] | None:
    """What a run's stage 1 recorded of its protocol (``k_shot``, ``n_eval``, ``seed``, and the model by
    the name a reader knows it), for :func:`three_protocols`; ``None`` where the run has no stage 1."""
    from dca.report.format import model_title
    from dca.runs.artifacts import RunFolder

    try:
        origin = RunFolder(run_dir).provenance("stage1")
    except Exception:  # noqa: BLE001 - a chapter still renders without this build's run
        return None
    params = origin.get("params", {}) if origin else {}
    if not {"k_shot", "n_eval"} <= set(params):
        return None
    return {**params, "model": model_title(str(params.get("model", origin.get("model", "?"))))}
