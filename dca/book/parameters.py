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
from dca.config import ConfigError, StageConfig, load_profile


def field_default(f: dataclasses.Field) -> Any:
    """The default of a dataclass field, from ``default`` or ``default_factory``."""
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


def write_notebook(nb: Any, path: Path) -> None:
    """Write ``nb`` to ``path`` atomically (:func:`dca.artifacts.atomic_path`)."""
    import nbformat

    from dca import artifacts

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

    >>> from dca.bootstrap import MetricsChapterConfig
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
    data = load_profile(profile)
    section = data.get(nb.stage, {})
    common = data.get("common", {})
    cls = config_class(nb)
    names = cls.field_names()
    for key in section:
        if key not in names:
            raise ConfigError(
                f"profile {str(profile)!r}: unknown parameter {key!r} for stage {nb.stage!r} "
                f"(notebook {nb.name}); valid: {', '.join(names)}"
            )
    merged = {k: v for k, v in common.items() if k in names}
    merged.update(section)
    if "profile" in names and "profile" not in merged:  # stages that record which profile made a result
        merged["profile"] = Path(profile).stem
    try:
        return cls.from_dict(merged).to_dict()
    except ConfigError as err:
        raise ConfigError(f"profile {str(profile)!r}, notebook {nb.name}: {err}") from None


def parameters_table(cls: type[StageConfig], parameters: dict[str, Any]) -> str:
    """A Markdown table of every parameter that ran: name, value, default, meaning (changed ones bold).

    >>> from dca.bootstrap import MetricsChapterConfig
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
