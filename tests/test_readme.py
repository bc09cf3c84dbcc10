"""The README: short, its summary's claim read from the committed results, its commands accepted by the
command line, and every measured figure it used to hold kept in benchmarks/README.md."""

from __future__ import annotations

import re
import shlex

import pandas as pd
import pytest

from dca import cli
from dca.config import parse_overrides
from dca.paths import ROOT

README = ROOT / "README.md"
BENCHMARKS = ROOT / "benchmarks" / "README.md"
FIGURES = ROOT / "tests" / "fixtures" / "readme_benchmark_figures.txt"
#: Names and quoted examples in the summary whose digits are not results.
NAMES = ("ACL 2025", "arXiv 2512.11998", "2512.11998", "Qwen2.5-Coder-1.5B-Instruct", '"Probability: 80%"')


def _summary() -> str:
    """The README's first paragraphs: from the title to the first section."""
    return README.read_text().split("\n## ", 1)[0]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_is_read_in_five_minutes():
    assert len(README.read_bytes()) <= 12 * 1024
    heads = re.findall(r"^## (.+)$", README.read_text(), flags=re.M)
    assert heads[0] == "The two commands"
    assert "make book" in _summary() + README.read_text().split("## The two commands", 1)[1][:400]


def test_the_summarys_finding_is_the_committed_reference_verdict():
    """The one result the summary states (DCA did not do what the paper hopes for, over 3 seeds) is the
    verdict computed from book/data/reference_results.csv; any other number there fails."""
    from dca.report.reference import verdict

    summary = _words(_summary())
    claim = "DCA did not do what the paper hopes for over 3 seeds"
    assert claim in summary
    computed = verdict(pd.read_csv(ROOT / "book" / "data" / "reference_results.csv"))
    assert computed.startswith("DCA did not do what the paper hopes for here: over 3 seeds,"), computed
    rest = summary.replace(claim, "")
    for name in NAMES:
        rest = rest.replace(name, "")
    assert not re.findall(r"\d", rest), f"a number in the README's summary that no test reads: {rest}"
    assert "landing page" in summary


def test_every_measured_figure_the_readme_held_is_in_the_benchmarks_readme():
    bench = _words(BENCHMARKS.read_text())
    figures = [line for line in FIGURES.read_text().splitlines() if line and not line.startswith("#")]
    assert len(figures) > 300
    missing = [f for f in figures if f not in bench]
    assert not missing, f"figures no longer in benchmarks/README.md: {missing}"
    for section in ("## Measured on this machine", "## Performance", "## Limits of this reproduction"):
        assert section in BENCHMARKS.read_text()


def test_the_readmes_paths_exist():
    text = README.read_text()
    paths = set(re.findall(r"`((?:book|benchmarks|dca|profiles|\.github)/[\w./-]+\.(?:md|py|yml))`", text))
    paths |= set(re.findall(r"\]\(([\w./-]+)\)", text))
    assert {"book/decisions.md", "benchmarks/README.md"} <= paths
    for path in paths:
        assert (ROOT / path).exists(), path


def _commands() -> list[list[str]]:
    block = README.read_text().split("## Running pieces", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    out = []
    for line in block.splitlines():
        words = shlex.split(line.split("  #", 1)[0])
        if words[:3] == [".venv/bin/python", "-m", "dca"]:
            out.append(words[3:])
    return out


@pytest.mark.parametrize("words", _commands(), ids=lambda w: " ".join(w))
def test_each_command_of_running_pieces_builds_its_configs(words):
    """The README's `python -m dca` lines are ones the command line accepts (parameters checked, nothing run)."""
    command = words[0]
    if command == "help":
        assert cli.help_text([w for w in words[1:] if "=" not in w], parse_overrides([w for w in words[1:] if "=" in w]))
        return
    args = parse_overrides(words[1:])
    names = list(cli.PIPELINE) if command == "run" else [command]
    params = cli.stage_parameters(names, args)
    for name in names:
        cli.stage_config(name).from_dict(params[name])
