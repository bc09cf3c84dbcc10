"""Student notebooks are generated from the solution notebooks and hold no solution; every exercise
is listed in book/exercises.md, numbered as the book numbers it, and has a check that its solution
passes and a blank answer fails."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest

from dca.book import NOTEBOOKS, checks, main
from dca.book.exercises import (
    CHECK_TAG,
    EXERCISES_PAGE,
    LIST_END,
    LIST_START,
    STUB_SOURCE,
    STUB_TAG,
    TOC,
    chapter_numbers,
    exercise_index,
    exercise_list_markdown,
    read_notebook,
    student_notebook,
    write_student_notebooks,
)
from dca.book.myst_plain import PlainMarkdown, read_bibtex

SOLUTION_MARKERS = ("solution-start", "solution-end", "{solution}")
SOURCES = [nb.source for nb in NOTEBOOKS]
RAW_ROLE = re.compile(r"\{[\w:-]+\}`")


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _assert_no_solution(nb) -> None:
    for cell in nb.cells:
        assert "solution" not in _tags(cell), cell.source
        for marker in SOLUTION_MARKERS:
            assert marker not in cell.source, cell.source


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    out = tmp_path_factory.mktemp("students")
    return write_student_notebooks(SOURCES, out)


def test_student_notebooks_of_the_book_are_valid_and_hold_no_solution(students):
    assert [p.name for p in students] == [f"{nb.name}.ipynb" for nb in NOTEBOOKS]
    n_exercises = 0
    for source, path in zip(SOURCES, students):
        student = nbformat.read(path, as_version=4)
        nbformat.validate(student)
        _assert_no_solution(student)
        solution = read_notebook(source)
        had_solution = any("solution" in _tags(c) for c in solution.cells)
        stubs = [c for c in student.cells if STUB_TAG in _tags(c)]
        assert bool(stubs) == had_solution, path.name
        assert all(c.source == STUB_SOURCE and c.cell_type == "code" for c in stubs)
        # everything that is not a solution survives: the parameters cell and the check cells
        assert any("parameters" in _tags(c) for c in student.cells), path.name
        n_checks = sum(CHECK_TAG in _tags(c) for c in solution.cells)
        assert sum(CHECK_TAG in _tags(c) for c in student.cells) == n_checks, path.name
        n_exercises += sum("exercise-start" in c.source for c in solution.cells)
    assert n_exercises >= 11, "the book carries eleven exercises"


def test_student_notebooks_hold_no_myst_markup(students):
    for path in students:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            assert not RAW_ROLE.search(cell.source), f"{path.name}: raw role in\n{cell.source}"
            assert not re.search(r"(?m)^\s*\([\w-]+\)=\s*$", cell.source), f"{path.name}: target in\n{cell.source}"
            assert not re.search(r"(?m)^\s*(```|:::)\{", cell.source), f"{path.name}: directive in\n{cell.source}"


def test_student_exercise_headings_carry_the_book_numbers(students):
    index = exercise_index(SOURCES)
    headings = [line[4:] for path in students for cell in nbformat.read(path, as_version=4).cells
                if cell.cell_type == "markdown" for line in cell.source.splitlines() if line.startswith("### Exercise")]
    assert headings == [ex.heading for ex in index]
    assert headings[0] == "Exercise 1.1: Both internal confidences by hand"
    assert [ex.number for ex in index if ex.notebook.startswith("05")] == ["5.1", "5.2", "5.3"]


def test_chapters_are_numbered_as_in_the_toc():
    """The numbered part of _toc.yml numbers the chapters 1-6; sphinx-exercise then numbers
    exercises <chapter>.<n> (numfig, one section level)."""
    numbers = chapter_numbers(TOC)
    assert numbers == {nb.name: i for i, nb in enumerate(NOTEBOOKS, start=1)}
    assert chapter_numbers(Path("no/such/_toc.yml")) == {}


def test_references_to_exercises_and_chapters_become_their_titles(students):
    text = "\n".join(c.source for c in nbformat.read(students[0], as_version=4).cells)
    assert "defined in *Measuring alignment*" in text  # {ref}`chapter-metrics`
    student3 = "\n".join(c.source for c in nbformat.read(students[2], as_version=4).cells)
    assert "(Rafailov et al., 2023)" in student3 and "pairs of *Preference pairs" in student3 and "> **Paper scale needs a GPU**" in student3


# --------------------------------------------------------------------------------------------------
# (a) the conversions, one by one


@pytest.fixture
def plain(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@article{smith2020x,\n  title = {A {Title}},\n  author = {Smith, Ann and Jones, Bob},\n"
                   "  year = {2020}\n}\n\n@book{solo1999,\n  author = {R{\\'e}nyi, Alfr{\\'e}d},\n  year = {1999},\n}\n"
                   "@misc{many2021,\n  author = {A, B and C, D and E, F},\n  year = {2021}\n}\n")
    return PlainMarkdown(titles={"chapter-x": "The X chapter", "ex-a": "Exercise 2.1"}, citations=read_bibtex(bib))


@pytest.mark.parametrize("myst, plain_text", [
    ("{glue:text}`acc:.1f` %", "`acc` %"),
    ("{glue}`n`, {glue:md}`table`, {glue:any}`x`", "`n`, `table`, `x`"),
    ("{glue:figure}`fig_a`", "*(figure `fig_a`: see the book)*"),
    ("see {ref}`chapter-x`", "see The X chapter"),
    ("see {ref}`chapter-unknown-one`", "see chapter unknown one"),
    ("see {ref}`this part <chapter-x>`", "see this part"),
    ("{numref}`ex-a` and {ref}`ex-a`", "Exercise 2.1 and Exercise 2.1"),
    ("{numref}`Ex. %s <ex-a>`", "Ex. 2.1"),
    ("{cite:p}`smith2020x`", "(Smith and Jones, 2020)"),
    ("{cite:t}`smith2020x`", "Smith and Jones (2020)"),
    ("{cite:p}`solo1999,many2021`", "(Renyi, 1999; A et al., 2021)"),
    ("{cite:p}`nobody2000`", "(nobody2000)"),
    ("{math}`x^2` and $y$ and $$z$$", "$x^2$ and $y$ and $$z$$"),
    ("{doc}`the intro <intro>`, {download}`data <a.csv>`, {doc}`intro`", "the intro, data, intro"),
    ("(some-label)=\n# Title", "# Title"),
])
def test_roles_and_targets_become_plain_markdown(plain, myst, plain_text):
    assert plain.convert(myst) == plain_text


@pytest.mark.parametrize("myst, plain_text", [
    ("```{note}\nKeep me.\n```", "> **Note**\n>\n> Keep me."),
    (":::{admonition} Careful, {ref}`chapter-x`\n:class: warning\nLine one.\n\nLine two.\n:::",
     "> **Careful, The X chapter**\n>\n> Line one.\n>\n> Line two."),
    ("```{warning}\n```", "> **Warning**"),
    ("````{tip}\n```{note}\ninner\n```\n````", "> **Tip**\n>\n> > **Note**\n> >\n> > inner"),
    ("```{code-block} python\nx = {ref}`a`\n```", "```python\nx = {ref}`a`\n```"),
    ("```{math}\na = b\n```", "$$\na = b\n$$"),
    ("```{glue:figure} fig_a\n:name: f\nThe caption.\n```", "*(figure `fig_a`: see the book)*\n\nThe caption."),
    ("```{figure} img.png\n:width: 50%\nA cat.\n```", "![A cat.](img.png)"),
    ("```python\n{ref}`kept in code`\n```", "```python\n{ref}`kept in code`\n```"),
])
def test_directives_become_quotes_or_fences(plain, myst, plain_text):
    assert plain.convert(myst) == plain_text


def test_the_books_bibliography_is_read():
    refs = read_bibtex(Path(__file__).resolve().parent.parent / "book" / "references.bib")
    assert refs["zhang2025dca"] == ("Zhang et al.", "2025")
    assert refs["rafailov2023dpo"] == ("Rafailov et al.", "2023")


# --------------------------------------------------------------------------------------------------
# the stripping itself


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
        _code("check(y)", tags=[CHECK_TAG]),
        _md(":::{solution} ex-a\n:class: dropdown\nA non-gated solution.\n:::\nKept text."),
        _md("A markdown answer.", tags=["solution"]),
        _code("z = 3", tags=["solution"]),
        _md("```{exercise} Unnumbered\n:nonumber:\nText.\n```\n```{exercise} Cubes\nCube x.\n```"),
        _code("print('end')"),
    ])
    out = student_notebook(nb, chapter=4)
    _assert_no_solution(out)
    sources = [c.source for c in out.cells]
    assert sources == [
        "x = 1",
        "Intro.\n\n### Exercise 4.1: Squares\n\nSquare x.",
        STUB_SOURCE,  # one stub for the two code cells of the gated solution
        "After the solution.",
        "check(y)",
        "Kept text.",
        STUB_SOURCE,
        "### Exercise: Unnumbered\n\nText.\n### Exercise 4.2: Cubes\n\nCube x.",
        "print('end')",
    ]
    assert "We square it" not in json.dumps(nbformat.writes(out))
    assert nb.cells[3].source == "y = x ** 2", "the input notebook is not modified"
    assert student_notebook(nb).cells[1].source.splitlines()[2] == "### Exercise 1: Squares"


def test_outputs_are_cleared():
    cell = _code("1 + 1")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]
    cell.execution_count = 1
    out = student_notebook(nbformat.v4.new_notebook(cells=[cell]))
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None


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


# --------------------------------------------------------------------------------------------------
# (c) the list of book/exercises.md


def _page_labels() -> list[str]:
    return re.findall(r"\{ref\}`(ex-[\w-]+)`", EXERCISES_PAGE.read_text(encoding="utf-8"))


def test_every_exercise_is_listed_once_and_every_listed_one_exists():
    labels = [ex.label for ex in exercise_index(SOURCES)]
    assert len(labels) == len(set(labels))
    assert sorted(_page_labels()) == sorted(labels)


def test_the_exercise_list_is_up_to_date():
    """Run `python -m dca.book exercises` after changing an exercise."""
    text = EXERCISES_PAGE.read_text(encoding="utf-8")
    block = text[text.index(LIST_START) + len(LIST_START):text.index(LIST_END)].strip()
    assert block == exercise_list_markdown(exercise_index(SOURCES))


def test_every_exercise_has_a_title_objective_and_time():
    for ex in exercise_index(SOURCES):
        assert ex.title and ex.objective and re.match(r"~\d+ min", ex.time), ex


def test_each_chapter_links_its_student_notebook():
    text = EXERCISES_PAGE.read_text(encoding="utf-8")
    for stem in sorted({ex.notebook for ex in exercise_index(SOURCES)}):
        assert f"{{download}}`{stem}.ipynb <_students/{stem}.ipynb>`" in text


# --------------------------------------------------------------------------------------------------
# (e, f) every solution passes its check; every blank copy fails it


def _exercise_cells(source: Path) -> dict[str, dict[str, object]]:
    """``{label: {"solution": [code], "check": code, "before": [code of the cells before]}}``."""
    out: dict[str, dict[str, object]] = {}
    label = None
    last_closed = None
    before: list[str] = []
    for cell in read_notebook(source).cells:
        if cell.cell_type == "markdown":
            m = re.search(r"\{solution-start\}\s*([\w-]+)", cell.source)
            if m:
                label = m.group(1)
                out[label] = {"solution": [], "check": None, "before": list(before)}
            if "{solution-end}" in cell.source:
                last_closed, label = label, None
            continue
        if label is not None:
            out[label]["solution"].append(cell.source)
        elif CHECK_TAG in _tags(cell):
            assert last_closed is not None and out[last_closed]["check"] is None, cell.source
            assert "solution" not in _tags(cell)
            out[last_closed]["check"] = cell.source
            last_closed = None
        else:
            before.append(cell.source)
    return out


EXERCISES = {label: (source, cells) for source in SOURCES for label, cells in _exercise_cells(source).items()}


def test_every_exercise_has_one_check_cell_calling_its_check():
    assert sorted(EXERCISES) == sorted(ex.label for ex in exercise_index(SOURCES))
    assert sorted(checks.CHECKS) == sorted(EXERCISES)
    for label, (source, cells) in EXERCISES.items():
        assert cells["check"], f"{source.name}: {label} has no cell tagged {CHECK_TAG} after its solution"
        assert f"checks.{checks.CHECKS[label].__name__}(globals()" in cells["check"], label


def _frames(n: int, seed: int, collapse: bool) -> dict[str, pd.DataFrame]:
    """Synthetic stage-1 and paired before/after tables with the notebooks' columns."""
    rng = np.random.default_rng(seed)
    c_i = rng.uniform(1, 99, 2 * n).round(2)
    c_v = rng.choice([60.0, 70.0, 80.0, 90.0, 95.0], 2 * n)
    responses = [f"Answer: A\nProbability: {v:g}%" for v in c_v]
    stage1 = pd.DataFrame({
        "id": [f"q{i}" for i in range(2 * n)], "split": ["train"] * n + ["eval"] * n,
        "parse_ok": rng.random(2 * n) > 0.1, "c_v": c_v, "c_i": c_i, "correct": rng.random(2 * n) > 0.5,
        "response": responses, "cv_start": [r.index("y: ") + 3 for r in responses],
        "cv_end": [r.index("%") for r in responses], "cv_scale": 100.0, "letter": "A"})
    stage1.loc[[0, n], "parse_ok"] = True
    stage1.loc[[0, n], "c_i"] = np.nan  # a parsed reply without an internal confidence, in each split
    before = stage1[(stage1["split"] == "eval") & stage1["parse_ok"] & stage1["c_i"].notna()].reset_index(drop=True)
    after = before.copy()
    after["c_i"] = (after["c_i"] + rng.normal(0, 5, len(after))).clip(0, 100)
    after["c_v"] = 40.0 if collapse else (after["c_i"] + rng.normal(3, 8, len(after))).round().clip(0, 100)
    return {"stage1": stage1, "before": before, "after": after}


def _inputs(label: str, frames: dict[str, pd.DataFrame], tmp_path: Path) -> dict[str, object]:
    """What the notebook holds when the exercise starts (the names its solution and check read)."""
    stage1, before, after = frames["stage1"], frames["before"], frames["after"]
    import dca.evaluate.metrics

    common = {"np": np, "pd": pd}
    if label in ("ex-internal-confidence", "ex-overconfidence"):
        return {**common, "table": stage1}
    if label in ("ex-chosen-response", "ex-pair-by-hand"):
        stage1.to_parquet(tmp_path / "stage1.parquet")
        train = stage1[(stage1["split"] == "train") & stage1["parse_ok"] & stage1["c_i"].notna()]
        pairs = [{"id": r.id, "chosen": [{"content": r.response[:r.cv_start] + str(int(np.floor(r.c_i + 0.5)))
                                          + r.response[r.cv_end:]}]} for r in train.itertuples()]
        return {**common, "run_dir": str(tmp_path), "pairs": pairs[1:]}  # the first question gave no pair
    if label in ("ex-beta", "ex-beta-rerun"):
        from dca.train.stage import read_train_log

        if label == "ex-beta-rerun":  # the check fails until a rerun wrote its log: give it one
            rerun = tmp_path / "runs" / "beta05"
            rerun.mkdir(parents=True, exist_ok=True)
            (rerun / "train_log.jsonl").write_text(json.dumps({"step": 1, "loss": 0.6, "rewards/margins": 0.25}) + "\n")

        return {**common, "last": pd.Series({"rewards/margins": float(before["c_i"].iloc[0]) / 100 - 0.3}),
                "config": SimpleNamespace(beta=0.1, loss_type="sigmoid", run_dir=str(tmp_path), model="embedded"),
                "read_train_log": read_train_log}
    if label in ("ex-sigma-m-run", "ex-metrics-by-hand"):
        return {**common, "c_v": before["c_v"].to_numpy(float), "c_i": before["c_i"].to_numpy(float),
                "correct": before["correct"].to_numpy(bool), "compute": dca.evaluate.metrics.compute, "seed": 3}
    if label == "ex-seeds-against-constant":  # the committed rows of the reference experiment
        from dca.reference.collect import RESULTS, read_results

        return {**common, "R": read_results(RESULTS)}
    if label == "ex-apply-the-rule":  # the committed rows of the objectives study
        from dca.reference import study_results
        from dca.report import study as study_report

        return {**common, "S": study_report.without_dose(study_results.read(study_results.RESULTS)),
                "study_report": study_report}
    diff = float(np.abs(after["c_v"] - after["c_i"]).mean() - np.abs(before["c_v"] - before["c_i"]).mean())
    return {**common, "before": before, "after": after, "before_all": stage1,
            "paired": {"mean_abs_eps": SimpleNamespace(diff=diff, diff_low=diff - 1.0, diff_high=diff + 1.0)}}


class _Recording(dict):
    """A namespace that records the names a check looks up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)


def _run(code: list[str], ns: dict) -> None:
    for source in code:
        exec(compile(source, "<cell>", "exec"), ns)  # noqa: S102 - the notebooks' own cells


CASES = [(60, 0, False), (6, 1, True), (200, 2, False)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("n, seed, collapse", CASES)
@pytest.mark.parametrize("label", sorted(EXERCISES))
def test_the_solution_passes_its_check_and_a_blank_copy_fails_it(label, n, seed, collapse, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    frames = _frames(n, seed, collapse)
    source, cells = EXERCISES[label]
    ns = _Recording(_inputs(label, frames, tmp_path))
    _run(cells["solution"] + [cells["check"]], ns)
    assert f"{checks.exercise_name(label)}: correct." in capsys.readouterr().out
    assert checks.exercise_name(label).startswith("Exercise ")
    blank = _Recording(_inputs(label, frames, tmp_path))
    with pytest.raises(AssertionError, match=rf"^{checks.exercise_name(label)}: define `\w+` first"):
        _run([STUB_SOURCE, cells["check"]], blank)


def _assigned(code: str) -> set[str]:
    """Names a cell binds at module level (assignments, imports, definitions, loop targets)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:  # a cell of IPython magics
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


@pytest.mark.parametrize("label", sorted(EXERCISES))
def test_a_blank_answer_is_not_shadowed_by_an_earlier_variable(label, tmp_path, monkeypatch):
    """The answers a check reads are not defined by the notebook before the exercise, so that a
    student who skipped the exercise gets "define ... first", not a check of some other value."""
    monkeypatch.chdir(tmp_path)
    source, cells = EXERCISES[label]
    ns = _Recording(_inputs(label, _frames(30, 0, False), tmp_path))
    _run(cells["solution"], ns)
    ns.asked.clear()
    _run([cells["check"]], ns)
    earlier = set().union(*(_assigned(code) for code in cells["before"]))
    assert ns.asked, label
    assert not ns.asked & earlier, f"{source.name}: {sorted(ns.asked & earlier)} defined before {label}"


# --------------------------------------------------------------------------------------------------
# the checks catch wrong answers, not only missing ones


def test_checks_catch_wrong_answers():
    with pytest.raises(AssertionError, match="70 %"):
        checks.ex_internal_confidence({"c_i": 70.3, "c_i_norm": 70.3})
    with pytest.raises(AssertionError, match="round C_i"):
        checks.ex_chosen_response({"chosen": "The answer is B.\nAnswer: B\nProbability: 41.6%"})
    c_v, c_i = np.array([10.0, 50.0, 90.0]), np.array([20.0, 40.0, 60.0])
    eps = c_v - c_i
    good = {"sigma_eps": eps.std(ddof=1), "mean_abs_eps": np.abs(eps).mean(),
            "sigma_m": eps.std(ddof=1) / np.sqrt(3), "sigma_m_4x": eps.std(ddof=1) / np.sqrt(12)}
    checks.ex_sigma_m_run(good, c_v=c_v, c_i=c_i)
    with pytest.raises(AssertionError, match="ddof=1"):
        checks.ex_sigma_m_run({**good, "sigma_eps": eps.std()}, c_v=c_v, c_i=c_i)
    with pytest.raises(AssertionError, match="sentence"):
        checks.ex_beta_rerun({"beta_rerun": 0.5, "rerun_prediction": "b", "rerun_answer": "..."},
                             beta=0.1, loss_type="sigmoid")
    for loss_type in ("sigmoid", "ipo", "hinge"):  # a larger beta reaches the same loss closer to the reference
        with pytest.raises(AssertionError, match="`rerun_prediction` = 'a' is not right"):
            checks.ex_beta_rerun({"beta_rerun": 0.5, "rerun_prediction": "a"}, beta=0.1, loss_type=loss_type)
        with pytest.raises(AssertionError, match="`rerun_prediction` = 'b' is not right"):
            checks.ex_beta_rerun({"beta_rerun": 0.05, "rerun_prediction": "b"}, beta=0.1, loss_type=loss_type)


def test_the_rerun_check_reads_the_rerun_log_when_there_is_one(tmp_path):
    (tmp_path / "train_log.jsonl").write_text(json.dumps({"step": 1, "loss": 0.6, "rewards/margins": 0.25}) + "\n")
    answer = {"beta_rerun": 0.05, "rerun_prediction": "a", "rerun_dir": str(tmp_path),
              "rerun_answer": " ".join(["word"] * 30)}
    with pytest.raises(AssertionError, match="define `rerun_last_margin` first"):
        checks.ex_beta_rerun(answer, beta=0.1, loss_type="sigmoid")
    checks.ex_beta_rerun({**answer, "rerun_last_margin": 0.25}, beta=0.1, loss_type="sigmoid")


def test_the_check_registry_lookup():
    assert isinstance(checks.CHECKS, Mapping)
    with pytest.raises(KeyError, match="no check"):
        checks.check("ex-none", {})


def test_student_notebooks_are_written_identically_twice(tmp_path):
    sources = [nb.source for nb in NOTEBOOKS]
    first = {p.name: p.read_bytes() for p in write_student_notebooks(sources, tmp_path)}
    second = {p.name: p.read_bytes() for p in write_student_notebooks(sources, tmp_path)}
    assert first == second


def test_the_rerun_exercise_fails_until_it_was_rerun(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = {"beta_rerun": 0.5, "rerun_prediction": "b", "rerun_dir": "runs/beta05",
          "rerun_answer": " ".join(["word"] * 30)}
    with pytest.raises(AssertionError, match=r"^Exercise 3\.\d: `rerun_dir` = 'runs/beta05' holds no training log"):
        checks.ex_beta_rerun(ns, beta=0.1, loss_type="sigmoid")
