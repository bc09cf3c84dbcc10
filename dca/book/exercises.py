"""Student notebooks from the solution notebooks: one source, two audiences.

The chapter notebooks carry their exercises as ``sphinx-exercise`` gated directives in markdown
cells, with the solution's code in cells tagged ``solution`` and, after the solution, a *check* cell
(tagged ``exercise-check``) that the student runs to test an answer::

    ```{exercise-start} A title      <- markdown cell
    :label: ex-sigma
    ```
    *Objective:* ... *Time:* ~10 min
    Compute sigma_eps by hand ...
    ```{exercise-end}
    ```
    ```{solution-start} ex-sigma     <- markdown cell
    :class: dropdown
    ```
    sigma_eps = ...                   <- code cell tagged "solution"
    ```{solution-end}
    ```
    checks.ex_sigma(globals(), ...)   <- code cell tagged "exercise-check" (kept for students)

:func:`student_notebook` removes every solution: code cells tagged ``solution`` or lying between
``solution-start`` and ``solution-end`` become one stub cell ``# Your code here`` tagged
``exercise-stub``; markdown inside a solution, markdown cells tagged ``solution`` and the solution
directives themselves are dropped. Each exercise becomes a heading numbered as the book numbers it
(``Exercise 1.2: Title``: chapter number from the numbered part of ``_toc.yml``, then the
exercise's place in its chapter), and every other MyST role and directive becomes plain Markdown
(:mod:`dca.book.myst_plain`). Outputs are cleared.

>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[
...     nbformat.v4.new_markdown_cell("```{exercise-start}\\n:label: ex\\n```\\nAdd one."),
...     nbformat.v4.new_markdown_cell("```{exercise-end}\\n```\\n```{solution-start} ex\\n:class: dropdown\\n```"),
...     nbformat.v4.new_code_cell("x + 1", metadata={"tags": ["solution"]}),
...     nbformat.v4.new_markdown_cell("```{solution-end}\\n```\\nNext section, after {ref}`ex`."),
... ])
>>> [(c.cell_type, c.source) for c in student_notebook(nb, chapter=2).cells]
[('markdown', '### Exercise 2.1\\n\\nAdd one.'), ('code', '# Your code here'), ('markdown', 'Next section, after Exercise 2.1.')]

:func:`exercise_index` lists the exercises of the notebooks (number, title, objective, time) and
:func:`exercise_list_markdown` writes the listing of ``book/exercises.md`` from it
(``python -m dca.book exercises`` rewrites that part of the page).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dca.book.myst_plain import PlainMarkdown, label_titles, read_bibtex
from dca.paths import BOOK_DIR, ROOT

SOLUTION_TAG = "solution"
STUB_TAG = "exercise-stub"
CHECK_TAG = "exercise-check"
STUB_SOURCE = "# Your code here"

TOC = ROOT / "_toc.yml"
BIB = BOOK_DIR / "references.bib"
EXERCISES_PAGE = BOOK_DIR / "exercises.md"
STUDENTS_LINK_DIR = "_students"  # where the student notebooks lie, relative to book/
LIST_START = "<!-- exercise list: written by `python -m dca.book exercises` from the notebooks; do not edit -->"
LIST_END = "<!-- end of the exercise list -->"

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z-]+)\}\s*(?P<arg>.*)$")
_OBJECTIVE = re.compile(r"\*Objective:\*\s*(?P<objective>.+?)\s*\*Time:\*\s*(?P<time>[^*\n]+?)\s*(?:\n\n|$)", re.S)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _stub():
    return nbformat.v4.new_code_cell(STUB_SOURCE, metadata={"tags": [STUB_TAG]})


# --------------------------------------------------------------------------------------------------
# Numbering, as the book numbers exercises


def chapter_numbers(toc: Path = TOC) -> dict[str, int]:
    """``{notebook stem: chapter number}`` of the files in the numbered parts of a Jupyter Book toc.

    Sphinx numbers the chapters of a ``numbered: true`` part 1, 2, ... and, with ``numfig``, an
    exercise ``<chapter>.<n>``: its chapter's number, then its place in that chapter. Files are
    matched by their last path component (``book/_executed/01_x`` -> ``01_x``). A missing toc gives
    ``{}``.
    """
    import yaml

    toc = Path(toc)
    if not toc.exists():
        return {}
    data = yaml.safe_load(toc.read_text(encoding="utf-8")) or {}
    numbers: dict[str, int] = {}
    n = 0
    for part in data.get("parts", []) or [{"numbered": data.get("numbered"), "chapters": data.get("chapters", [])}]:
        if not part.get("numbered"):
            continue
        for chapter in part.get("chapters", []) or []:
            if "file" in chapter:
                n += 1
                numbers[Path(chapter["file"]).name] = n
    return numbers


def exercise_number(chapter: int | None, k: int) -> str:
    """The book's number of the ``k``-th exercise of a chapter.

    >>> exercise_number(3, 2), exercise_number(None, 2)
    ('3.2', '2')
    """
    return f"{chapter}.{k}" if chapter is not None else str(k)


# --------------------------------------------------------------------------------------------------
# The exercises of a notebook


@dataclass
class Exercise:
    """One exercise of a chapter notebook, as the book shows it."""

    label: str
    number: str
    title: str
    objective: str
    time: str
    notebook: str  # the notebook's stem, e.g. "01_confidence_extraction"
    chapter_label: str
    chapter_title: str

    @property
    def heading(self) -> str:
        """``Exercise 1.2: Title`` (or ``Exercise 1.2`` without a title)."""
        return f"Exercise {self.number}" + (f": {self.title}" if self.title else "")


def _directive_at(lines: list[str], i: int) -> tuple[str, str, dict[str, str], list[str], int] | None:
    """The directive whose opening fence is ``lines[i]``: ``(name, arg, options, body, next_i)``, where
    ``body`` is every line up to the closing fence and ``next_i`` the line after it; ``None`` when
    ``lines[i]`` opens no directive.

    >>> _directive_at(["```{note} Hi", ":class: x", "Text", "```", "after"], 0)
    ('note', 'Hi', {'class': 'x'}, [':class: x', 'Text'], 4)
    """
    m = _FENCE.match(lines[i].strip())
    if not m:
        return None
    j = i + 1  # the closing fence of this directive
    while j < len(lines) and lines[j].strip() != m.group("fence"):
        j += 1
    body = lines[i + 1:j]
    options = {}
    for line in body:
        opt = re.match(r"^:([a-z-]+):\s*(.*)$", line.strip())
        if opt:
            options[opt.group(1)] = opt.group(2)
    return m.group("name"), m.group("arg").strip(), options, body, j + 1


def _directives(text: str):
    """``(name, arg, options, body_lines, next_i)`` of the directives of a markdown text, in order."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        found = _directive_at(lines, i)
        if found is None:
            i += 1
            continue
        yield found
        i = found[-1]


def notebook_exercises(nb: nbformat.NotebookNode, stem: str, chapter: int | None) -> list[Exercise]:
    """The exercises of one notebook with their number, title, objective and time.

    The objective and time are read from the exercise's text, ``*Objective:* ... *Time:* ...``.
    """
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    chapter_label, chapter_title = next(iter(label_titles([text]).items()), ("", stem))
    found: list[Exercise] = []
    k = 0
    lines = text.split("\n")
    for name, arg, options, body, end in _directives(text):
        if name not in ("exercise", "exercise-start"):
            continue
        if "nonumber" not in options:
            k += 1
        if name == "exercise-start":  # the statement runs to exercise-end
            rest = "\n".join(lines[end:])
            body = rest.split("{exercise-end}")[0].split("\n")
        m = _OBJECTIVE.search("\n".join(body))
        objective = re.sub(r"\s+", " ", m.group("objective")).strip() if m else ""
        time = re.sub(r"\s+", " ", m.group("time")).strip().rstrip(".") if m else ""
        found.append(Exercise(label=options.get("label", ""),
                              number="" if "nonumber" in options else exercise_number(chapter, k),
                              title=arg, objective=objective, time=time, notebook=stem,
                              chapter_label=chapter_label, chapter_title=chapter_title))
    return found


# --------------------------------------------------------------------------------------------------
# The student copy


class _Stripper:
    """Line-level state machine over the markdown of a notebook (state spans cells)."""

    def __init__(self, chapter: int | None = None) -> None:
        self.in_solution = False
        self.chapter = chapter
        self.k = 0

    def heading(self, arg: str, options: dict[str, str]) -> str:
        if "nonumber" in options:
            return f"### Exercise{': ' + arg if arg else ''}"
        self.k += 1
        return f"### Exercise {exercise_number(self.chapter, self.k)}{': ' + arg if arg else ''}"

    def markdown(self, text: str) -> str:
        out: list[str] = []
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            found = _directive_at(lines, i)
            if found is None:
                if not self.in_solution:
                    out.append(lines[i])
                i += 1
                continue
            name, arg, options, body, i = found
            content = [line for line in body if not re.match(r"^:[a-z-]+:", line.strip())]
            if name == "solution-start":
                self.in_solution = True
            elif name == "solution-end":
                self.in_solution = False
            elif name == "solution":
                pass  # a whole (non-gated) solution block: drop it
            elif self.in_solution:
                pass
            elif name in ("exercise-start", "exercise"):
                out += [self.heading(arg, options), ""] + content
            elif name == "exercise-end":
                pass
            else:  # any other directive: left for the plain-Markdown pass
                out += lines[i - (len(body) + 2) : i]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def default_converter(sources: Iterable[Path] = (), bib: Path = BIB, book_dir: Path = BOOK_DIR,
                      toc: Path = TOC) -> PlainMarkdown:
    """A :class:`~dca.book.myst_plain.PlainMarkdown` that knows the book's labels, exercises and citations.

    Section titles come from the ``(label)=`` targets of ``sources`` and of ``book_dir/*.md``,
    exercise labels become ``Exercise 1.2`` and citations come from ``bib``.
    """
    sources = [Path(s) for s in sources]
    texts = [p.read_text(encoding="utf-8") for p in sorted(Path(book_dir).glob("*.md"))] if Path(book_dir).is_dir() else []
    numbers = chapter_numbers(toc)
    titles: dict[str, str] = {}
    for source in sources:
        nb = read_notebook(source)
        texts.append("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
        for ex in notebook_exercises(nb, source.stem, numbers.get(source.stem)):
            if ex.label:
                titles[ex.label] = f"Exercise {ex.number}".strip()
    sections = {label: f"*{title}*" for label, title in label_titles(texts).items()}
    return PlainMarkdown(titles={**sections, **titles}, citations=read_bibtex(bib))


def student_notebook(nb: nbformat.NotebookNode, chapter: int | None = None,
                     plain: PlainMarkdown | None = None) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with every solution removed (see the module docstring).

    Parameters
    ----------
    nb : NotebookNode
        The solution notebook; it is not modified.
    chapter : int, optional
        The chapter's number in the book: exercises are numbered ``<chapter>.<n>`` as in the book
        (``<n>`` alone without it).
    plain : PlainMarkdown, optional
        The converter of the remaining MyST markup; by default one that knows this notebook's own
        labels and exercise numbers.
    """
    nb = copy.deepcopy(nb)
    if plain is None:
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        own = {ex.label: f"Exercise {ex.number}" for ex in notebook_exercises(nb, "", chapter) if ex.label}
        sections = {label: f"*{title}*" for label, title in label_titles([text]).items()}
        plain = PlainMarkdown(titles={**sections, **own})
    stripper = _Stripper(chapter)
    cells = []
    for cell in nb.cells:
        tagged = SOLUTION_TAG in _tags(cell)
        if cell.cell_type == "markdown":
            if tagged:
                continue
            text = plain.convert(stripper.markdown(cell.source)).strip("\n")
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


def with_parameters(nb: nbformat.NotebookNode, values: dict) -> nbformat.NotebookNode:
    """``nb`` with the values of its cell tagged ``parameters`` set to ``values`` (the book's run), each
    line's comment kept; names not in ``values`` keep their default.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     "model = 'embedded'  # model name\\nn_questions = 400", metadata={"tags": ["parameters"]})])
    >>> print(with_parameters(nb, {"model": "qwen2.5-coder-1.5b", "n_questions": 48}).cells[0].source)
    model = 'qwen2.5-coder-1.5b'  # model name
    n_questions = 48
    """
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" not in _tags(cell):
            continue
        lines = []
        for line in cell.source.splitlines():
            match = re.match(r"^(\w+) = .*?(  # .*)?$", line)
            if match and match[1] in values:
                value = values[match[1]]
                value = list(value) if isinstance(value, tuple) else value
                line = f"{match[1]} = {value!r}{match[2] or ''}"
            lines.append(line)
        cell.source = "\n".join(lines)
    return nb


STUDENT_NOTE = ("*Student copy: the solutions are removed. Under each exercise, write your answer in "
                "the cell `# Your code here`, then run the check cell below it: it says what is still "
                "missing or wrong. Where the book prints a computed value inside the text, this copy "
                "shows, in code font, the name the notebook stores it under; run the notebook to "
                "compute it.*")


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook from a jupytext text source or an ``.ipynb``."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    import jupytext

    return jupytext.read(path)


def write_student_notebooks(sources: Iterable[Path], out_dir: Path, toc: Path = TOC,
                            bib: Path = BIB, book_dir: Path = BOOK_DIR,
                            parameters: dict[str, dict] | None = None) -> list[Path]:
    """Write one validated student ``.ipynb`` per source into ``out_dir``; return their paths.

    Parameters
    ----------
    sources : iterable of Path
        The chapter notebooks (jupytext ``.py`` or ``.ipynb``).
    out_dir : Path
        The folder written (``book/_students`` in the book build).
    toc, bib, book_dir : Path
        The book's table of contents (chapter numbers), bibliography (citations) and page folder
        (section titles); the repository's by default.
    parameters : dict, optional
        ``{notebook stem: {name: value}}``: the parameters the book's chapters ran with; each student
        copy's parameters cell carries them (:func:`with_parameters`), so that it reruns the book's run.
    """
    sources = [Path(s) for s in sources]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    numbers = chapter_numbers(toc)
    plain = default_converter(sources, bib=bib, book_dir=book_dir, toc=toc)
    written = []
    for source in sources:
        nb = student_notebook(read_notebook(source), chapter=numbers.get(source.stem), plain=plain)
        nb = with_parameters(nb, (parameters or {}).get(source.stem, {}))
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(STUDENT_NOTE))
        for k, cell in enumerate(nb.cells):  # nbformat 4.5 wants ids: fixed ones, so a rebuild is identical
            cell["id"] = f"cell-{k:03d}"
        nbformat.validate(nb)
        path = out_dir / f"{source.stem}.ipynb"
        text = nbformat.writes(nb) + "\n"
        if not path.exists() or path.read_text() != text:  # unchanged notebooks keep their time stamp
            path.write_text(text)
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------------
# The list of exercises of book/exercises.md


def exercise_index(sources: Iterable[Path], toc: Path = TOC) -> list[Exercise]:
    """Every exercise of the notebooks ``sources``, in book order."""
    numbers = chapter_numbers(toc)
    out: list[Exercise] = []
    for source in (Path(s) for s in sources):
        out += notebook_exercises(read_notebook(source), source.stem, numbers.get(source.stem))
    return out


def exercise_list_markdown(exercises: Iterable[Exercise], students: str = STUDENTS_LINK_DIR) -> str:
    """The MyST listing of ``exercises``, grouped by chapter, with each chapter's student notebook.

    >>> ex = Exercise("ex-a", "1.1", "Squares", "square a number", "~5 min", "01_x", "chapter-x", "X")
    >>> print(exercise_list_markdown([ex]))
    ## Chapter 1: X
    <BLANKLINE>
    {ref}`chapter-x` · student notebook: {download}`01_x.ipynb <_students/01_x.ipynb>`
    <BLANKLINE>
    | exercise | objective | time |
    |---|---|---|
    | {ref}`ex-a`: Squares | square a number | ~5 min |
    """
    out: list[str] = []
    notebook = None
    for ex in exercises:
        if ex.notebook != notebook:
            notebook = ex.notebook
            chapter = ex.number.split(".")[0] if "." in ex.number else ""
            out += ["" if out else None, f"## Chapter {chapter}: {ex.chapter_title}" if chapter
                    else f"## {ex.chapter_title}", "",
                    (f"{{ref}}`{ex.chapter_label}` · " if ex.chapter_label else "")
                    + f"student notebook: {{download}}`{notebook}.ipynb <{students}/{notebook}.ipynb>`", "",
                    "| exercise | objective | time |", "|---|---|---|"]
        title = f": {ex.title}" if ex.title else ""
        out.append(f"| {{ref}}`{ex.label}`{title} | {ex.objective.replace('|', '/')} | {ex.time} |")
    return "\n".join(line for line in out if line is not None)


def update_exercises_page(sources: Iterable[Path], page: Path = EXERCISES_PAGE, toc: Path = TOC) -> bool:
    """Rewrite the listing between the markers of ``page``; return whether the page changed."""
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    start, end = text.index(LIST_START) + len(LIST_START), text.index(LIST_END)
    new = text[:start] + "\n\n" + exercise_list_markdown(exercise_index(sources, toc)) + "\n\n" + text[end:]
    if new != text:
        page.write_text(new, encoding="utf-8")
    return new != text
