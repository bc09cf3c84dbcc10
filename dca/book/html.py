"""The HTML book: MathJax served offline, the landing page's results card, the student notebooks,
and ``jupyter-book build`` over the executed chapters."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import dca.book.sphinx_hooks as sphinx_hooks
from dca.book.chapters import (
    BOOK_DIR,
    BUILD_DIR,
    HTML_DIR,
    MATHJAX_DIR,
    NOTEBOOKS,
    ROOT,
    STUDENTS_DIR,
    BookError,
    Notebook,
)
from dca.book.hashing import _sha, recorded


def install_mathjax(dest: Path = MATHJAX_DIR) -> Path:
    """Copy MathJax 3's ``es5`` build from the ``django-static-mathjax`` wheel into ``dest``.

    The book then serves math offline (``mathjax_path`` in ``_config.yml`` points here); the copy
    is generated, gitignored, and refreshed only when the package version changes.
    """
    dist = metadata.distribution("django-static-mathjax")
    src = Path(dist.locate_file("mathjax/static/mathjax/es5"))
    if not (src / "tex-mml-chtml.js").exists():
        raise BookError(f"MathJax es5 build not found at {src}; run `make setup`")
    stamp = dest / ".version"
    if stamp.exists() and stamp.read_text() == dist.version and (dest / "tex-mml-chtml.js").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    stamp.write_text(dist.version)
    return dest


def write_results_card(dest: Path | None = None) -> Path:
    """Write the landing page's results card (``book/_generated/results_card.md`` and its figure) from
    the committed reference results; ``book/intro.md`` includes it. Rewritten only when it changes."""
    from dca.reference.collect import QUESTIONS, RESULTS, read_results
    from dca.report import ReferenceChapterConfig, results_card

    dest = dest or BOOK_DIR / "_generated"
    dest.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    questions = pd.read_csv(QUESTIONS) if QUESTIONS.exists() else pd.DataFrame()
    paper_path = ROOT / ReferenceChapterConfig().paper_results
    paper = pd.read_csv(paper_path, comment="#") if paper_path.exists() else None
    markdown = results_card(read_results(RESULTS), questions, dest / "results_card.png", paper)
    from dca.reference import study_results
    from dca.report import study as study_report

    study_rows = study_report.without_second_models(study_results.read(study_results.RESULTS))
    # the study's answer as chapter 07 opens with it: one entry per adapter (no second readout of one)
    markdown += "\n" + study_report.card_note(study_report.without_readouts(study_rows),
                                               study_results.read(study_results.TRAINING))
    card = dest / "results_card.md"
    if not card.exists() or card.read_text() != markdown:
        card.write_text(markdown)
    # the reproduction report that opens the landing page, from the same rows
    from dca.book.parameters import DECISIONS
    from dca.report.front import reproduction_report

    reference = read_results(RESULTS)
    model = ", ".join(dict.fromkeys(reference["model"].dropna().astype(str))) if not reference.empty else "?"
    _write_if_changed(dest / "report.md", reproduction_report(
        reference, study_rows, study_results.read(study_results.TRAINING), len(DECISIONS), model_title(model)))
    return card


def _write_if_changed(path: Path, text: str) -> Path:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def model_title(model: str) -> str:
    """:func:`dca.report.format.model_title` (the report's, imported when used: this module stays light)."""
    from dca.report.format import model_title as title

    return title(model)


def write_build_notes(notebooks: Sequence[Notebook] = NOTEBOOKS, dest: Path | None = None) -> list[Path]:
    """Write what this build ran, read from the executed chapters' records and run folder, never typed:

    - ``book/_generated/decisions.md``: the decisions page's table, defaults read from the configs and
      profiles (:func:`dca.book.parameters.decisions_markdown`);
    - ``book/_generated/build_model.md``: the profile, model, device and number type the chapters ran
      with (the page *Run it at paper scale* includes it);
    - ``book/_generated/this_build.md``: how this build's run relates to the reference verdict
      (:func:`dca.report.this_build_note`; the landing page includes it under the results card).
    """
    from dca.evaluate.baselines import constant_summary
    from dca.evaluate.bootstrap import paired_table
    from dca.evaluate.stage import load_eval, load_metrics, paired_rows
    from dca.extract.stage import load_stage1
    from dca.reference.collect import RESULTS, read_results
    from dca.report import this_build_note, verdict
    from dca.runs.artifacts import RunFolder

    dest = dest or BOOK_DIR / "_generated"
    dest.mkdir(parents=True, exist_ok=True)
    by_stage = {nb.stage: recorded(nb.executed) for nb in notebooks}
    extract, evaluate = by_stage.get("extract", {}), by_stage.get("evaluate", {})
    profile = str(extract.get("profile", "?"))
    model = str(extract.get("parameters", {}).get("model", "?"))
    run_dir = str(evaluate.get("parameters", {}).get("run_dir") or extract.get("parameters", {}).get("run_dir", ""))
    run = RunFolder(ROOT / run_dir) if run_dir else None
    origin = run.provenance("stage1") if run else {}
    device, dtype = str(origin.get("device", "?")), str(origin.get("dtype", "?")).replace("torch.", "")
    from dca.book.parameters import decisions_markdown

    paths = [_write_if_changed(dest / "decisions.md", decisions_markdown() + "\n")]
    paths += [_write_if_changed(dest / "build_model.md", (
        f"The chapters of this build were executed with profile `{profile}` on **{model_title(model)}** "
        f"(`model={model}`), on a {device} device in {dtype}.\n"))]
    try:
        comparison = paired_table(load_metrics(ROOT / run_dir)["paired"])
        stage1 = load_stage1(ROOT / run_dir)
        before, after = paired_rows(stage1[stage1["split"] == "eval"], load_eval(ROOT / run_dir))
        note = this_build_note(profile, model_title(model), comparison, constant_summary(stage1),
                               before["c_v"], after["c_v"], verdict(read_results(RESULTS)))
    except Exception as err:  # noqa: BLE001 - the landing page still renders without this build's run
        note = f"*This build's own run could not be read from `{run_dir}` ({type(err).__name__}).*"
    from dca.report.study_answer import recorded_protocol, three_protocols

    try:  # which prompt, questions, seeds and model each protocol used, and why their "before" differs
        note += "\n\n" + three_protocols(recorded_protocol(str(ROOT / run_dir)) if run_dir else None)
    except Exception as err:  # noqa: BLE001 - the landing page still renders without the committed rows
        note += f"\n\n*The protocols could not be described ({type(err).__name__}).*"
    paths.append(_write_if_changed(dest / "this_build.md", note + "\n"))
    return paths


def write_students(notebooks: Sequence[Notebook] = NOTEBOOKS, dest: Path = STUDENTS_DIR) -> list[Path]:
    """Write the student notebooks (every solution removed) that the exercises page links for download,
    each with the parameters its chapter ran with in this build (its executed copy's record)."""
    from dca.book.exercises import write_student_notebooks

    ran = {nb.name: recorded(nb.executed).get("parameters", {}) for nb in notebooks}  # the book's run
    return write_student_notebooks([nb.source for nb in notebooks], dest, parameters=ran)


def html_inputs_digest(notebooks: Sequence[Notebook] = NOTEBOOKS) -> str:
    """Hash of everything the HTML is built from (so an unchanged book is not rebuilt)."""
    files = [ROOT / "_config.yml", ROOT / "_toc.yml", *sorted(BOOK_DIR.glob("*.md"))]
    files += sorted(BOOK_DIR.glob("*.bib")) + sorted((BOOK_DIR / "_static").glob("*.*"))
    files += sorted((BOOK_DIR / "_generated").glob("*.*")) + sorted(STUDENTS_DIR.glob("*.ipynb"))
    files += [nb.executed for nb in notebooks]
    parts = [f"{p.relative_to(ROOT)}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in files if p.exists()]
    parts.append(hashlib.sha256(Path(sphinx_hooks.__file__).read_bytes()).hexdigest())  # the launch-button hook
    return _sha(*parts)


def build_html(force: bool = False, notebooks: Sequence[Notebook] = NOTEBOOKS) -> float:
    """Run ``jupyter-book build`` (warnings are errors, nitpicky); return the wall time."""
    missing = [nb.name for nb in notebooks if recorded(nb.executed).get("status") != "ok"]
    if missing:
        raise BookError(
            "not executed successfully yet: " + ", ".join(missing)
            + "; run `python -m dca.book build --profile NAME` without --only"
        )
    install_mathjax()
    write_results_card()
    write_build_notes(notebooks)
    write_students(notebooks)
    digest = html_inputs_digest(notebooks)
    stamp = BUILD_DIR / ".dca-book-html"
    if not force and stamp.exists() and stamp.read_text() == digest and (HTML_DIR / "index.html").exists():
        print("[book] HTML up to date: _build/html/index.html", flush=True)
        return 0.0
    stamp.unlink(missing_ok=True)
    shutil.rmtree(HTML_DIR, ignore_errors=True)  # no stale pages from an earlier toc
    start = time.perf_counter()
    cmd = [
        sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
        "build", str(ROOT), "--builder", "html", "-W", "-n", "--keep-going", "--all",
    ]
    print("[book] jupyter-book build . -W -n --keep-going --all", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}); every warning above is an error")
    stamp.write_text(digest)
    print(f"[book] HTML built in {wall:.1f} s: {HTML_DIR / 'index.html'}", flush=True)
    return wall
