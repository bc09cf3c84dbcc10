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
    BOOK_DIR, BUILD_DIR, HTML_DIR, MATHJAX_DIR, NOTEBOOKS, ROOT, STUDENTS_DIR, BookError, Notebook,
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
    from dca.reference_results import QUESTIONS, RESULTS, read_results
    from dca.report import results_card

    dest = dest or BOOK_DIR / "_generated"
    dest.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    questions = pd.read_csv(QUESTIONS) if QUESTIONS.exists() else pd.DataFrame()
    markdown = results_card(read_results(RESULTS), questions, dest / "results_card.png")
    card = dest / "results_card.md"
    if not card.exists() or card.read_text() != markdown:
        card.write_text(markdown)
    return card


def write_students(notebooks: Sequence[Notebook] = NOTEBOOKS, dest: Path = STUDENTS_DIR) -> list[Path]:
    """Write the student notebooks (every solution removed) that the exercises page links for download."""
    from dca.exercises import write_student_notebooks

    return write_student_notebooks([nb.source for nb in notebooks], dest)


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
