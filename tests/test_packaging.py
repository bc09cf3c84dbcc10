"""pyproject.toml and environment.yml name the same pinned versions; the pins that must be exact are."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_agrees_with_pyproject():
    project = _project()
    wanted = list(project["dependencies"]) + project["optional-dependencies"]["book"] + \
        project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert [p for p in pip if p != "-e ."] == wanted, "run: python scripts/sync_environment.py"


def test_exact_pins():
    deps = {re.split(r"[=<>!~ ]", d)[0].lower(): d for d in _project()["dependencies"]}
    for name in ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "gguf"):
        assert re.fullmatch(rf"{name}==[\w.]+", deps[name]), deps[name]
    assert deps["torch"] == "torch==2.13.0"
    book = {re.split(r"[=<>!~ ]", d)[0].lower(): d for d in _project()["optional-dependencies"]["book"]}
    version = book["jupyter-book"].split("==")[1]
    assert int(version.split(".")[0]) < 2
