"""Run folders: provenance records, content hashes, and "is this stage already done?".

A run folder holds every artifact of one run (:class:`RunFolder` names them). Each artifact is
written atomically (:mod:`dca.runs.atomic_io`) while the run folder's lock is held (:mod:`dca.runs.locking`);
both are re-exported here (``artifacts.write_json``, ``artifacts.run_lock`` ...). Beside each
artifact ``X`` lies ``X.provenance.json``: the stage's parameters, their fingerprint, the model,
data, seed, package versions and git commit.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from dca.runs.atomic_io import (  # noqa: F401 (re-exported: artifacts.write_json ...)
    atomic_path, read_json, read_jsonl, write_json, write_jsonl, write_parquet, write_text,
)
from dca.runs.locking import LOCK, LOCK_TOKEN_ENV, RunLockedError, holding_run_lock, run_lock  # noqa: F401 (re-exported)
from dca.paths import ROOT, hash_cache_file
from dca import pipeline

PACKAGES = ("dca", "torch", "transformers", "trl", "peft", "datasets", "accelerate", "numpy", "pandas")


class MissingArtifactError(FileNotFoundError):
    """An input artifact is missing; the message says which stage or notebook produces it."""


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that decide the numbers."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(cwd: str | Path | None = None) -> str:
    """The repository's HEAD commit, with ``-dirty`` if the tree has changes; ``unknown`` outside git."""
    cwd = Path(cwd) if cwd else ROOT
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    """A short description of this machine: CPU model, cores, memory.

    Returns
    -------
    str
        ``"<cpu model>, <n> cores, <m> GiB"``.
    """
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB"


def provenance(stage: str, params: dict[str, Any], fingerprint: str, **extra: Any) -> dict[str, Any]:
    """The provenance record of one artifact."""
    return {
        "stage": stage,
        "params": params,
        "fingerprint": fingerprint,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        **extra,
    }


def provenance_path(artifact: str | Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".provenance.json")


def write_provenance(artifact: str | Path, record: dict[str, Any]) -> Path:
    return write_json(provenance_path(artifact), record)


def is_done(artifact: str | Path, fingerprint: str) -> bool:
    """True when ``artifact`` exists and its provenance carries the same parameter fingerprint."""
    artifact = Path(artifact)
    prov = provenance_path(artifact)
    if not artifact.exists() or not prov.exists():
        return False
    try:
        return read_json(prov).get("fingerprint") == fingerprint
    except (OSError, json.JSONDecodeError):
        return False


def input_fingerprint(path: str | Path) -> str:
    """The fingerprint an input artifact's provenance records, or its content hash without one."""
    path = Path(path)
    prov = provenance_path(path)
    if prov.exists():
        fp = read_json(prov).get("fingerprint")
        if fp:
            return str(fp)
    return content_hash(path)[:16]


#: Files of a local model folder whose content decides the model: weights, configs, tokenizer.
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf", ".json", ".model", ".txt")
_HASHES: dict[tuple[str, int, int, int], str] = {}


def _hash_cache_path() -> Path:
    return hash_cache_file()


def content_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes, cached by (path, size, mtime, ctime) in memory and in a small JSON
    file (:func:`dca.paths.hash_cache_file`: ``content-hashes.json`` in ``$DCA_CACHE``, default ``~/.cache/dca``), so a multi-gigabyte model
    is read once, not at every run. The change time (``st_ctime``, which no program can set back) is
    in the key: an edit that keeps the size and restores the modification time is still seen.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if key in _HASHES:
        return _HASHES[key]
    cache_file = _hash_cache_path()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key[0], {})
    if (entry.get("size"), entry.get("mtime_ns"), entry.get("ctime_ns")) == key[1:]:
        _HASHES[key] = entry["sha256"]
        return entry["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    _HASHES[key] = digest.hexdigest()
    cache[key[0]] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
                     "sha256": _HASHES[key]}
    with contextlib.suppress(OSError):  # a read-only home only costs the re-hash next time
        write_json(cache_file, cache)
    return _HASHES[key]


def folder_hash(folder: str | Path) -> str:
    """Hash of a model folder: the names and content hashes of its weight, config and tokenizer files."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in MODEL_FILE_SUFFIXES)
    payload = json.dumps([[str(p.relative_to(folder)), content_hash(p)] for p in files])
    return hashlib.sha256(payload.encode()).hexdigest()


def local_content(dataset: str, model: str) -> dict[str, str]:
    """Content hashes of the local inputs of stage 1: question files named in ``dataset`` and a model
    folder, or the weights recorded for a packaged model (``embedded``; converted first if needed).
    Registry names (``openbookqa+mmlu``, ``synthetic``) and Hub ids give ``{}``, so their
    fingerprints stay what they were.
    """
    out = {}
    for name in (n.strip() for n in dataset.split("+")):
        if Path(name).suffix in (".jsonl", ".csv") and Path(name).is_file():
            out[f"dataset:{name}"] = content_hash(name)
    from dca.models import embedded

    if embedded.packaged(model) is not None:  # the converted weights, checked (and rebuilt when damaged)
        out[f"model:{model}"] = embedded.weights_digest(embedded.install(name=model))
    elif Path(model).is_dir():
        out[f"model:{model}"] = folder_hash(model)
    return out


def with_content(fingerprint: str, content: dict[str, str]) -> str:
    """``fingerprint`` unchanged without local content; else a hash of both."""
    if not content:
        return fingerprint
    payload = json.dumps({"config": fingerprint, "content": content}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def require(artifact: str | Path, produced_by: str) -> Path:
    """Return ``artifact`` or raise :class:`MissingArtifactError` naming the notebook/stage to run first."""
    artifact = Path(artifact)
    if not artifact.exists():
        raise MissingArtifactError(
            f"{artifact} does not exist: run {produced_by} first (same run_dir={artifact.parent})"
        )
    return artifact


#: Who writes each artifact of a run folder: named in the error when it is missing.
PRODUCED_BY = {name: pipeline.producer(name) for name in pipeline.ARTIFACTS}


class RunFolder:
    """The artifacts of one run folder by name, as :data:`dca.pipeline.ARTIFACTS` declares them.

    >>> run = RunFolder("runs/x")
    >>> run.stage1.as_posix(), run.adapter.name, run.produced_by("pairs")
    ('runs/x/stage1.parquet', 'adapter', 'notebooks/02_preference_pairs (or `python -m dca pairs`)')
    >>> run.artifact("transfer_metrics", source="commonsenseqa").as_posix()
    'runs/x/transfer/commonsenseqa/metrics.json'
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __getattr__(self, name: str) -> Path:
        """``run.stage1``, ``run.adapter`` ...: the path of the artifact ``name`` (see :meth:`artifact`)."""
        if name.startswith("_") or name not in pipeline.ARTIFACTS or "{" in pipeline.ARTIFACTS[name].file:
            raise AttributeError(f"a run folder has no artifact {name!r}; artifacts: "
                                 f"{', '.join(n for n, a in pipeline.ARTIFACTS.items() if '{' not in a.file)}")
        return self.artifact(name)

    def artifact(self, name: str, **fields: str) -> Path:
        """The path of the artifact ``name``, with ``fields`` filled in (``source=`` for transfer's files)."""
        return self.path / pipeline.ARTIFACTS[name].file.format(**fields)

    @staticmethod
    def produced_by(name: str) -> str:
        """The notebook and command that write the artifact ``name`` (``"stage1"``, ``"adapter"`` ...)."""
        return PRODUCED_BY[name]

    def require(self, name: str) -> Path:
        """The artifact ``name``, or :class:`MissingArtifactError` naming what writes it."""
        return require(getattr(self, name), PRODUCED_BY[name])

    def provenance(self, name: str) -> dict[str, Any]:
        """The provenance record beside the artifact ``name`` (``{}`` when there is none)."""
        path = provenance_path(getattr(self, name))
        return read_json(path) if path.exists() else {}

    def stage1_params(self) -> dict[str, Any]:
        """The parameters stage 1 ran with (model, dataset, k_shot ...), from its provenance."""
        return self.provenance("stage1").get("params", {})


def enter_repo_root() -> Path:
    """Work from the repository root, as papermill does: a notebook opened in Jupyter from ``notebooks/``
    changes there, so that run folders (``runs/...``) mean the same in both. Returns the new folder."""
    here = Path.cwd()
    if not (here / "notebooks").is_dir() and (here.parent / "notebooks").is_dir():
        os.chdir(here.parent)
    return Path.cwd()
