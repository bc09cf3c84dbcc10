"""Student notebooks from the solution notebooks: one source, two audiences.

The chapter notebooks carry their exercises as ``sphinx-exercise`` gated directives in markdown
cells, with the solution's code in cells tagged ``solution``::

    ```{exercise-start}            <- markdown cell
    :label: ex-sigma
    ```
    Compute sigma_eps by hand ...
    ```{exercise-end}
    ```
    ```{solution-start} ex-sigma   <- markdown cell
    :class: dropdown
    ```
    eps = cv - ci                   <- code cell tagged "solution"
    ```{solution-end}
    ```

:func:`student_notebook` removes every solution: code cells tagged ``solution`` or lying between
``solution-start`` and ``solution-end`` become one stub cell ``# Your code here`` tagged
``exercise-stub``; markdown inside a solution, markdown cells tagged ``solution`` and the solution
directives themselves are dropped. Exercise directives become plain headings, which read better
in Jupyter than raw fences. Outputs are cleared.

>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[
...     nbformat.v4.new_markdown_cell("```{exercise-start}\\n:label: ex\\n```\\nAdd one."),
...     nbformat.v4.new_markdown_cell("```{exercise-end}\\n```\\n```{solution-start} ex\\n:class: dropdown\\n```"),
...     nbformat.v4.new_code_cell("x + 1", metadata={"tags": ["solution"]}),
...     nbformat.v4.new_markdown_cell("```{solution-end}\\n```\\nNext section."),
... ])
>>> [(c.cell_type, c.source) for c in student_notebook(nb).cells]
[('markdown', '**Exercise (ex).**\\n\\nAdd one.'), ('code', '# Your code here'), ('markdown', 'Next section.')]
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

SOLUTION_TAG = "solution"
STUB_TAG = "exercise-stub"
STUB_SOURCE = "# Your code here"

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z-]+)\}\s*(?P<arg>.*)$")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _stub():
    return nbformat.v4.new_code_cell(STUB_SOURCE, metadata={"tags": [STUB_TAG]})


class _Stripper:
    """Line-level state machine over the markdown of a notebook (state spans cells)."""

    def __init__(self) -> None:
        self.in_solution = False

    def markdown(self, text: str) -> str:
        out: list[str] = []
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            m = _FENCE.match(lines[i].strip())
            if not m:
                if not self.in_solution:
                    out.append(lines[i])
                i += 1
                continue
            fence, name, arg = m.group("fence"), m.group("name"), m.group("arg").strip()
            j = i + 1  # find the closing fence of this directive
            while j < len(lines) and lines[j].strip() != fence:
                j += 1
            body = lines[i + 1 : j]
            options = {}
            for line in body:
                opt = re.match(r"^:([a-z-]+):\s*(.*)$", line.strip())
                if opt:
                    options[opt.group(1)] = opt.group(2)
            content = [line for line in body if not re.match(r"^:[a-z-]+:", line.strip())]
            i = j + 1
            if name == "solution-start":
                self.in_solution = True
            elif name == "solution-end":
                self.in_solution = False
            elif name == "solution":
                pass  # a whole (non-gated) solution block: drop it
            elif self.in_solution:
                pass
            elif name in ("exercise-start", "exercise"):
                label = options.get("label")
                title = f"Exercise{': ' + arg if arg else ''}{f' ({label})' if label else ''}"
                out += [f"**{title}.**", ""] + content
            elif name == "exercise-end":
                pass
            else:  # any other directive is kept as written
                out += lines[i - (len(body) + 2) : i]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with every solution removed (see the module docstring)."""
    nb = copy.deepcopy(nb)
    stripper = _Stripper()
    cells = []
    for cell in nb.cells:
        tagged = SOLUTION_TAG in _tags(cell)
        if cell.cell_type == "markdown":
            if tagged:
                continue
            text = stripper.markdown(cell.source)
            if text.strip():
                cell.source = text
                cells.append(cell)
            continue
        if cell.cell_type == "code":
            if tagged or stripper.in_solution:
                if not (cells and STUB_TAG in _tags(cells[-1])):
                    cells.append(_stub())
                continue
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
            cell.metadata.pop("papermill", None)
        elif stripper.in_solution:
            continue
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("jupytext", None)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("dca_book", None)
    return nb


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook from a jupytext text source or an ``.ipynb``."""
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    import jupytext

    return jupytext.read(path)


def write_student_notebooks(sources: Iterable[Path], out_dir: Path) -> list[Path]:
    """Write one validated student ``.ipynb`` per source into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        nb = student_notebook(read_notebook(Path(source)))
        for cell in nb.cells:  # nbformat 4.5 wants ids; jupytext text sources have none
            cell.setdefault("id", nbformat.corpus.words.generate_corpus_id())
        nbformat.validate(nb)
        path = out_dir / f"{Path(source).stem}.ipynb"
        nbformat.write(nb, path)
        written.append(path)
    return written
