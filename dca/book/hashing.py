"""What an executed notebook depends on, and whether its executed copy is current.

A notebook is executed again only when something it depends on changed: the executed copy records,
in its metadata (``dca_book.hash``), a hash of its source, its parameters, the profile name, every
file of the ``dca`` package and of ``book/data`` (the committed results), and the run ids of the
executions of every notebook before it (so when one notebook runs again, every notebook after it runs
again too, also past notebooks left out with ``--only``). Run twice with nothing changed, the second
run executes nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dca.book.chapters import PACKAGE_DIR, ROOT


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


def chained(upstream: str, run_id: str) -> str:
    """``upstream`` with one more notebook's run id folded in (the ``upstream`` of the next notebook).

    Every notebook's hash thus covers the run ids of *all* the notebooks before it, not only the one
    just before: when ``--only 03 05`` re-executes 03, 05 sees that even though 04 was skipped.

    >>> chained("", "r1") == chained("", "r1") != chained("", "r2")
    True
    """
    return _sha(upstream, run_id)


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
