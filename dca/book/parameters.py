"""A chapter's parameters: from a profile to papermill, and from papermill to the reader's table.

Papermill receives every field of the chapter's stage config (the profile's stage section plus its
``common`` section, defaults filled in, converted and validated). In the executed copy the
parameters cell and papermill's injected cell are removed from the page, and one folded table of
the parameters that ran (name, value, default, meaning) takes their place.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dca.book.chapters import NOTEBOOKS, BookError, Notebook, config_class
from dca.config import StageConfig


def field_default(f: dataclasses.Field) -> Any:
    """The default of a dataclass field, from ``default`` or ``default_factory``."""
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


def write_notebook(nb: Any, path: Path) -> None:
    """Write ``nb`` to ``path`` atomically (:func:`dca.runs.artifacts.atomic_path`)."""
    import nbformat

    from dca.runs import artifacts

    with artifacts.atomic_path(path) as tmp:
        nbformat.write(nb, tmp)


def parameters_source(source: Path) -> str:
    """Source of the cell tagged ``parameters`` of a jupytext source."""
    import jupytext

    for cell in jupytext.read(source).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell.source
    raise BookError(f"{source}: no code cell tagged 'parameters'")


def notebook_parameter_names(source: Path) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` of a jupytext source."""
    import ast

    names = []
    for node in ast.parse(parameters_source(source)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def parameters_cell(cls: type[StageConfig]) -> str:
    """Source of a ``parameters`` cell holding every field of ``cls`` with its default and help.

    >>> from dca.evaluate.bootstrap import MetricsChapterConfig
    >>> print(parameters_cell(MetricsChapterConfig))
    run_dir = 'runs/default'  # run folder to read (relative to the repository root)
    n_boot = 1000  # bootstrap resamples for the 95 % intervals
    seed = 0  # seed of the bootstrap
    """
    lines = []
    for f in dataclasses.fields(cls):
        default = field_default(f)
        if isinstance(default, tuple):
            default = list(default)
        help_text = f.metadata.get("help", "")
        lines.append(f"{f.name} = {default!r}" + (f"  # {help_text}" if help_text else ""))
    return "\n".join(lines)


def notebook_parameters(nb: Notebook, profile: str | Path) -> dict[str, Any]:
    """The papermill parameters of ``nb`` under ``profile``: its stage section plus ``common``.

    Unknown keys in the stage section fail with a :class:`ConfigError` naming the key, the
    notebook and the valid names. With the stage config available, every field is passed
    (defaults filled in, values converted and validated), so the executed notebook shows them all.
    """
    return config_class(nb).from_profile(profile, where=f" (notebook {nb.name})").to_dict()


def parameters_table(cls: type[StageConfig], parameters: dict[str, Any]) -> str:
    """A Markdown table of every parameter that ran: name, value, default, meaning (changed ones bold).

    >>> from dca.evaluate.bootstrap import MetricsChapterConfig
    >>> print(parameters_table(MetricsChapterConfig, {"n_boot": 200}).splitlines()[3])
    | `n_boot` | **`200`** | `1000` | bootstrap resamples for the 95 % intervals |
    """
    rows = ["| name | value | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        default = field_default(f)
        value = parameters.get(f.name, default)
        shown = f"`{value!r}`" if value == default else f"**`{value!r}`**"
        meaning = f.metadata.get("help", "").replace("|", "\\|")
        rows.append(f"| `{f.name}` | {shown} | `{default!r}` | {meaning} |")
    return "\n".join(rows)


def fold_parameters(output: Path, parameters: dict[str, Any]) -> None:
    """Hide the parameters cell and papermill's injected cell of an executed notebook; show instead
    one folded table of the parameters that ran (what the reader needs, once)."""
    import nbformat

    nb = nbformat.read(output, as_version=4)
    stage = next((n for n in NOTEBOOKS if n.name == output.stem), None)
    cls = config_class(stage) if stage else None
    last = None
    for k, cell in enumerate(nb.cells):
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            if "remove-cell" not in tags:
                tags.append("remove-cell")
            last = k
    if last is None or cls is None or any("dca-parameters" in c.metadata.get("tags", []) for c in nb.cells):
        return
    changed = sum(1 for f in dataclasses.fields(cls) if f.name in parameters
                  and parameters[f.name] != field_default(f))
    text = (f"```{{admonition}} Parameters of this run ({len(dataclasses.fields(cls))}; {changed} differ from the "
            f"defaults, in bold)\n:class: dropdown\n{parameters_table(cls, parameters)}\n```")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["dca-parameters"]
    nb.cells.insert(last + 1, cell)
    write_notebook(nb, output)


#: The decisions page's rows: the decision, its parameters as ``stage.field`` (``""`` for a choice that
#: is no parameter), the chapter where it acts, what a choice without a parameter is, and alternatives.
DECISIONS: tuple[tuple[str, tuple[str, ...], str, str, str], ...] = (
    ("internal confidence $C_i$: full-vocabulary softmax probability (temperature 1) of the emitted letter "
     "token, at the position where it is emitted", ("pairs.target",), "chapter-pairs", "",
     "`c_i_norm`: renormalised over the option letters (Kumar et al.'s way) {cite:p}`kumar2024confidence`"),
    ("which token a letter is (`\" A\"` or `\"A\"`)", (), "chapter-extraction", "resolved from the tokenizer",
     "never hard-coded"),
    ("$C_i$ read from the generation pass itself, where the letter was generated; a second forward only "
     "when it cannot be", (), "chapter-extraction", "one pass", "—"),
    ("prompt: worked examples before each question", ("extract.k_shot",), "chapter-extraction", "", "0–8"),
    ("reply length in tokens", ("extract.max_new_tokens",), "chapter-extraction", "", ""),
    ("a reply ends as soon as it is complete (the answer letter, then the confidence with its percent sign): "
     "text after it could not change what is read", (), "chapter-extraction", "stop once complete", "—"),
    ("pairs whose two numbers are equal carry no signal: dropped (smaller gaps too above 0)",
     ("pairs.min_gap",), "chapter-pairs", "", ""),
    ("wrong answers kept, as the paper does", ("pairs.correct_only",), "chapter-pairs", "", "`true`"),
    ("pairs from training questions, metrics on disjoint held-out ones (per dataset)",
     ("extract.n_questions", "extract.n_eval"), "chapter-extraction", "", ""),
    ("TruthfulQA mc1 lists the correct option first: options shuffled with a fixed seed",
     ("extract.seed",), "chapter-extraction", "", ""),
    ("preference loss", ("train.loss_type",), "chapter-training", "",
     "`ipo` (one secondary source says IPO was used), `hinge`"),
    ("DPO β", ("train.beta",), "chapter-training", "", ""),
    ("LoRA", ("train.lora_r", "train.lora_alpha", "train.lora_dropout", "train.target_modules"),
     "chapter-training", "", ""),
    ("reference model", (), "chapter-training", "the base model with the adapter switched off", ""),
    ("learning rate, schedule, warm-up", ("train.learning_rate", "train.lr_scheduler", "train.warmup_ratio"),
     "chapter-training", "", "5e-6 … 2e-5 on GPUs"),
    ("epochs, pairs per forward pass, accumulated passes per step",
     ("train.epochs", "train.batch_size", "train.grad_accum"), "chapter-training", "", ""),
    ("number type", ("extract.dtype", "train.precision"), "chapter-extraction",
     "", "`float32`, `bfloat16`; `auto`: bfloat16 on CUDA and on CPUs with bfloat16 matrix units, float32 elsewhere"),
    ("$\\sigma_\\varepsilon$ denominator", (), "chapter-metrics", "$N - 1$", ""),
    ("95 % percentile bootstrap intervals, paired for differences: resamples", ("evaluate.n_boot",),
     "chapter-results", "", ""),
    ("who writes the evaluated reply: the trained model, or the base model up to the number and the adapter "
     "the number (a confidence adapter; the answers and $C_i$ stay the base model's)", ("evaluate.answer_with",),
     "chapter-results", "", "`base`"),
    ("how the stated number is read: the one the model writes (greedy), or the mean of 0–100 weighted by the "
     "probability the model gives each number, rounded", ("evaluate.readout",), "chapter-results", "", "`expected`"),
)


def _shown(value: Any) -> str:
    """A parameter value as the decisions page shows it (small floats in scientific notation).

    >>> _shown(0.0005), _shown(0.1), _shown(["q_proj", "k_proj"]), _shown(True)
    ('`5e-04`', '`0.1`', '`q_proj, k_proj`', '`true`')
    """
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value != 0 and abs(value) < 1e-2:
        return f"`{value:.0e}`"
    if isinstance(value, (list, tuple)):
        return "`" + ", ".join(str(v) for v in value) + "`"
    return f"`{value}`"


PROFILE_TITLES = {"default": "the book's run (profile `default`)", "paper": "profile `paper`"}


def decisions_markdown(profiles: tuple[str, ...] = ("default", "paper")) -> str:
    """The decisions page's table (:data:`DECISIONS`): every default read from the stage configs, and
    beside it each of ``profiles`` where it sets another value (``default`` is the book's own run), so
    that no default on the page is typed.

    >>> table = decisions_markdown()
    >>> [line for line in table.splitlines() if "learning_rate" in line][0].count("`1e-04`")
    1
    """
    from dca.book.chapters import NOTEBOOKS

    by_stage = {nb.stage: nb for nb in NOTEBOOKS}
    defaults = {stage: {f.name: field_default(f) for f in dataclasses.fields(config_class(nb))}
                for stage, nb in by_stage.items()}
    ran = {p: {stage: notebook_parameters(nb, p) for stage, nb in by_stage.items()} for p in profiles}
    rows = ["| decision | parameter (chapter) | default (configs), and where a profile differs | alternatives |",
            "|---|---|---|---|"]
    for decision, params, ref, fixed, alternatives in DECISIONS:
        names = ", ".join(f"`{p.split('.')[1]}`" for p in params) or "—"
        if params:
            cells = []
            for p in params:
                stage, name = p.split(".")
                cell = _shown(defaults[stage][name])
                others = [f"{PROFILE_TITLES.get(prof, prof)}: **{_shown(ran[prof][stage][name])}**" for prof in profiles
                          if ran[prof][stage][name] != defaults[stage][name]]
                cells.append(cell + (f" ({'; '.join(others)})" if others else ""))
            default = "; ".join(cells)
        else:
            default = fixed
        rows.append(f"| {decision} | {names} ({{ref}}`{ref}`) | {default} | {alternatives or '—'} |")
    return "\n".join(rows)
