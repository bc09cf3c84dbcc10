"""Tests of dca.runs.artifacts' run folder: the artifacts' names, who writes them, the repository root."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dca import pipeline
from dca.paths import ROOT
from dca.runs import artifacts
from dca.runs.artifacts import PRODUCED_BY, MissingArtifactError, RunFolder, enter_repo_root


def test_run_folder_names_every_artifact_inside_it(tmp_path):
    run = RunFolder(tmp_path)
    paths = {name: run.artifact(name, source="src") for name in pipeline.ARTIFACTS}
    assert all(tmp_path in p.parents for p in paths.values())
    assert len(set(paths.values())) == len(paths)  # no two artifacts share a file
    assert set(PRODUCED_BY) == set(pipeline.ARTIFACTS)
    assert run.stage1 == tmp_path / "stage1.parquet" and run.transfer == tmp_path / "transfer"
    with pytest.raises(AttributeError, match="no artifact 'stage_1'; artifacts: questions, stage1"):
        run.stage_1


def test_require_names_the_notebook_and_the_command(tmp_path):
    run = RunFolder(tmp_path)
    with pytest.raises(MissingArtifactError, match=r"run notebooks/03_dpo_training \(or `python -m dca train`\)"):
        run.require("adapter")
    run.stage1.write_text("x")
    assert run.require("stage1") == run.stage1
    assert run.stage1_params() == {}
    artifacts.write_provenance(run.stage1, {"params": {"model": "m", "k_shot": 2}})
    assert run.stage1_params() == {"model": "m", "k_shot": 2}


def test_enter_repo_root_from_the_notebooks_folder(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    assert enter_repo_root() == ROOT and os.getcwd() == str(ROOT)
    assert enter_repo_root() == ROOT  # already there: stays


def test_no_notebook_or_module_writes_an_artifact_file_name():
    """A run folder's file names are written once, in :data:`dca.pipeline.ARTIFACTS`."""
    names = {Path(a.file).name for a in pipeline.ARTIFACTS.values() if "." in a.file}
    sources = [*sorted((ROOT / "notebooks").glob("*.py")), *sorted((ROOT / "dca").rglob("*.py"))]
    for source in sources:
        if source == ROOT / "dca" / "pipeline.py":
            continue
        code = "\n".join(line for line in source.read_text().splitlines() if not line.lstrip().startswith("#"))
        found = [n for n in names if re.search(rf"""["']{re.escape(n)}["']""", code)]
        assert not found, f"{source.name} builds a path from {found}: use dca.runs.artifacts.RunFolder"


def test_every_cache_lies_under_one_folder(tmp_path, monkeypatch):
    """``DCA_CACHE`` moves the converted models, the offline datasets and the content hashes at once;
    the deprecated ``DCA_HASH_CACHE`` still names the hash file itself."""
    from dca import paths
    from dca.data import bundled
    from dca.models import embedded

    monkeypatch.delenv("DCA_HASH_CACHE", raising=False)
    monkeypatch.setenv("DCA_CACHE", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c"
    assert paths.hash_cache_file() == tmp_path / "c" / "content-hashes.json"
    assert bundled.cache_root().parent == tmp_path / "c"
    assert embedded.PACKAGED_MODELS["embedded"].cache_dir().parent == tmp_path / "c"
    monkeypatch.setenv("DCA_HASH_CACHE", str(tmp_path / "h.json"))
    assert paths.hash_cache_file() == tmp_path / "h.json"
    monkeypatch.delenv("DCA_CACHE")
    assert paths.cache_dir() == paths.Path.home() / ".cache" / "dca"
