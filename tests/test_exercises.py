"""Student notebooks are generated from the solution notebooks and hold no solution."""

from __future__ import annotations

import json

import nbformat
import pytest

from dca.book import NOTEBOOKS, main
from dca.exercises import STUB_SOURCE, STUB_TAG, read_notebook, student_notebook, write_student_notebooks

SOLUTION_MARKERS = ("solution-start", "solution-end", "{solution}")


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _assert_no_solution(nb) -> None:
    for cell in nb.cells:
        assert "solution" not in _tags(cell), cell.source
        for marker in SOLUTION_MARKERS:
            assert marker not in cell.source, cell.source


def test_student_notebooks_of_the_book_are_valid_and_hold_no_solution(tmp_path):
    sources = [nb.source for nb in NOTEBOOKS]
    paths = write_student_notebooks(sources, tmp_path)
    assert [p.name for p in paths] == [f"{nb.name}.ipynb" for nb in NOTEBOOKS]
    n_exercises = 0
    for source, path in zip(sources, paths):
        student = nbformat.read(path, as_version=4)
        nbformat.validate(student)
        _assert_no_solution(student)
        solution = read_notebook(source)
        had_solution = any("solution" in _tags(c) for c in solution.cells)
        stubs = [c for c in student.cells if STUB_TAG in _tags(c)]
        assert bool(stubs) == had_solution, path.name
        assert all(c.source == STUB_SOURCE and c.cell_type == "code" for c in stubs)
        # everything that is not a solution survives: the parameters cell first of all
        assert any("parameters" in _tags(c) for c in student.cells), path.name
        n_exercises += sum("exercise-start" in c.source for c in solution.cells)
    assert n_exercises >= 1, "the book should carry at least one exercise"


def _md(text, **meta):
    return nbformat.v4.new_markdown_cell(text, metadata=meta)


def _code(text, tags=()):
    return nbformat.v4.new_code_cell(text, metadata={"tags": list(tags)})


def test_every_form_of_solution_is_removed():
    nb = nbformat.v4.new_notebook(cells=[
        _code("x = 1", tags=["parameters"]),
        _md("Intro.\n\n````{exercise-start} Squares\n:label: ex-a\n````\nSquare x.\n````{exercise-end}\n````"),
        _md("````{solution-start} ex-a\n:class: dropdown\n````\nWe square it:"),
        _code("y = x ** 2"),  # untagged but inside the gate
        _code("print(y)", tags=["solution"]),
        _md("More explanation inside the solution."),
        _md("```{solution-end}\n```\nAfter the solution."),
        _md(":::{solution} ex-a\n:class: dropdown\nA non-gated solution.\n:::\nKept text."),
        _md("A markdown answer.", tags=["solution"]),
        _code("z = 3", tags=["solution"]),
        _code("print('end')"),
    ])
    out = student_notebook(nb)
    _assert_no_solution(out)
    sources = [c.source for c in out.cells]
    assert sources == [
        "x = 1",
        "Intro.\n\n**Exercise: Squares (ex-a).**\n\nSquare x.",
        STUB_SOURCE,  # one stub for the two code cells of the gated solution
        "After the solution.",
        "Kept text.",
        STUB_SOURCE,
        "print('end')",
    ]
    assert "We square it" not in json.dumps(nbformat.writes(out))
    assert nb.cells[3].source == "y = x ** 2", "the input notebook is not modified"


def test_outputs_are_cleared():
    cell = _code("1 + 1")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]
    cell.execution_count = 1
    out = student_notebook(nbformat.v4.new_notebook(cells=[cell]))
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None


def test_other_directives_are_kept_verbatim():
    text = "```{note}\nKeep me.\n```"
    out = student_notebook(nbformat.v4.new_notebook(cells=[_md(text)]))
    assert out.cells[0].source == text


def test_cli_writes_student_notebooks(tmp_path, capsys):
    assert main(["students", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert written == sorted(f"{nb.name}.ipynb" for nb in NOTEBOOKS)
    assert str(tmp_path) in capsys.readouterr().out


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.name)
def test_solution_cells_sit_inside_a_solution_block(nb):
    """A cell tagged ``solution`` outside ``solution-start``/``-end`` would show unfolded in the book."""
    inside = False
    for cell in read_notebook(nb.source).cells:
        if cell.cell_type == "markdown":
            if "{solution-start}" in cell.source:
                inside = True
            if "{solution-end}" in cell.source:
                inside = False
        elif "solution" in _tags(cell):
            assert inside, f"{nb.name}: solution cell outside a solution block:\n{cell.source}"
