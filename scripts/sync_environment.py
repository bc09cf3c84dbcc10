"""Write environment.yml from pyproject.toml so the two name the same versions.

Run ``python scripts/sync_environment.py``; ``tests/test_packaging.py`` fails when they disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for group in ("book", "dev"):
        reqs += project["optional-dependencies"][group]
    return reqs


def render() -> str:
    lines = [
        "# Conda environment for the DCA book. Generated from pyproject.toml by scripts/sync_environment.py:",
        "# the versions are the same pins (tests/test_packaging.py checks). torch comes from pip (CPU build",
        "# on a machine without CUDA); on a GPU machine install the matching CUDA build of torch==2.13.0.",
        "name: dca-book",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {r}" for r in requirements()]
    lines.append("      - -e .")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = ROOT / "environment.yml"
    target.write_text(render())
    print(f"wrote {target}", file=sys.stderr)
