"""The first code cell of every notebook installs `dca` in Colab and Binder, and does nothing elsewhere."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.py"))


def _install_cell(source: Path) -> str:
    code = [c for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert "DCA_REPOSITORY" in code[0].source, f"{source.name}: the first code cell is not the install cell"
    assert "remove-cell" in code[0].metadata.get("tags", []), f"{source.name}: the install cell shows in the book"
    return code[0].source


def test_every_notebook_begins_with_the_same_install_cell():
    cells = {s.name: _install_cell(s) for s in SOURCES}
    assert len(cells) >= 6 and len(set(cells.values())) == 1, "the install cells differ"


def test_the_install_cell_names_the_repository_of_the_launch_buttons():
    repository = re.search(r'^DCA_REPOSITORY = "(.*)"', _install_cell(SOURCES[0]), re.M).group(1)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert repository == (config["repository"]["url"] or ""), "set both to the same URL"


class _Calls(list):
    def __call__(self, cmd, check=False):
        self.append(cmd)
        if cmd[:2] == ["git", "clone"]:  # what a clone would leave behind
            (Path(cmd[-1]) / "dca").mkdir(parents=True)
            (Path(cmd[-1]) / "dca" / "__init__.py").write_text("")
        return subprocess.CompletedProcess(cmd, 0)


def _run_cell(monkeypatch, cwd: Path, installed: bool, repository: str = "") -> _Calls:
    calls = _Calls()
    monkeypatch.setattr(subprocess, "run", calls)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if installed else None)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    source = _install_cell(SOURCES[0]).replace('DCA_REPOSITORY = ""', f'DCA_REPOSITORY = "{repository}"')
    exec(compile(source, "install-cell", "exec"), {})
    return calls


def test_installed_package_means_nothing_to_do(monkeypatch, tmp_path):
    assert _run_cell(monkeypatch, tmp_path, installed=True) == []


def test_binder_installs_the_checkout_it_runs_in(monkeypatch, tmp_path):
    (tmp_path / "dca").mkdir()
    (tmp_path / "dca" / "__init__.py").write_text("")
    (tmp_path / "notebooks").mkdir()
    calls = _run_cell(monkeypatch, tmp_path / "notebooks", installed=False)
    assert calls == [[__import__("sys").executable, "-m", "pip", "install", "-q", "-e", str(tmp_path)]]
    assert Path.cwd() == tmp_path  # the notebooks work from the repository root


def test_colab_clones_the_repository_then_installs_it(monkeypatch, tmp_path):
    calls = _run_cell(monkeypatch, tmp_path, installed=False, repository="https://example.org/dca-book.git")
    assert calls[0] == ["git", "clone", "--depth", "1", "https://example.org/dca-book.git", "dca-book"]
    assert calls[1][-2:] == ["-e", str(tmp_path / "dca-book")]


def test_colab_without_a_repository_url_says_what_to_set(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match="set DCA_REPOSITORY"):
        _run_cell(monkeypatch, tmp_path, installed=False)
