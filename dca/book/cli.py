"""``python -m dca.book``: build the book, write the student notebooks and the exercise list, print a parameters cell."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dca.book.chapters import NOTEBOOKS, STUDENTS_DIR, BookError, chapter, config_class
from dca.book.execution import execute_all
from dca.book.html import build_html, install_mathjax, write_students
from dca.book.parameters import parameters_cell
from dca.config import ConfigError
from dca.runs.artifacts import RunLockedError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dca.book", description="Build the book: execute the notebooks with papermill, then render them with Jupyter Book 1.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute the notebooks that changed, then build the HTML book")
    b.add_argument("--profile", default="default", help="profile name in profiles/ or a .yaml path")
    b.add_argument("--only", nargs="+", default=(), metavar="NB", help="execute only these notebooks (e.g. 01 03)")
    b.add_argument("--force", action="store_true", help="execute and rebuild even if nothing changed")
    b.add_argument("--skip-execute", action="store_true", help="build the HTML from the executed copies as they are")
    b.add_argument("--no-html", action="store_true", help="execute only; do not run jupyter-book")
    b.add_argument("--log-output", action="store_true", help="stream the notebooks' output to the terminal")
    s = sub.add_parser("students", help="write student notebooks (solution cells removed)")
    s.add_argument("--out", default=str(STUDENTS_DIR), help="output folder (default book/_students)")
    sub.add_parser("exercises", help="rewrite the exercise list of book/exercises.md from the notebooks")
    sub.add_parser("mathjax", help="copy MathJax into book/_static/mathjax")
    pc = sub.add_parser("parameters", help="print the parameters cell a notebook must begin with")
    pc.add_argument("notebook", help="notebook stem or its NN prefix, e.g. 01")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            start = time.perf_counter()
            if not args.skip_execute:
                report = execute_all(args.profile, args.only, args.force, args.log_output)
                for name, what, wall in report:
                    print(f"[book]   {name:<28} {what:<11} {wall:7.1f} s")
            if not args.no_html and not args.only:
                build_html(force=args.force)
            print(f"[book] done in {time.perf_counter() - start:.1f} s", flush=True)
        elif args.command == "students":
            for path in write_students(NOTEBOOKS, Path(args.out)):
                print(path)
        elif args.command == "exercises":
            from dca.book.exercises import EXERCISES_PAGE, update_exercises_page

            sources = [nb.source for nb in NOTEBOOKS]
            print(f"{EXERCISES_PAGE}: {'updated' if update_exercises_page(sources) else 'unchanged'}")
        elif args.command == "mathjax":
            print(install_mathjax())
        elif args.command == "parameters":
            print(parameters_cell(config_class(chapter(args.notebook))))
    except (BookError, ConfigError, RunLockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
