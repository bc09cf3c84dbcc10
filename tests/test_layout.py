"""The package's layout: one pipeline table that everything reads, no import cycle, the old names."""

from __future__ import annotations

import ast
import importlib

import pytest

from dca import cli, pipeline
from dca.book.chapters import NOTEBOOKS, config_class
from dca.paths import ROOT
from dca.reference import runner
from dca.runs.artifacts import PRODUCED_BY

PACKAGE = ROOT / "dca"


def test_every_stage_reads_only_what_an_earlier_stage_writes():
    written: set[str] = set()
    for stage in pipeline.PIPELINE:
        assert set(stage.reads) <= written, f"{stage.name} reads {set(stage.reads) - written} before it is written"
        written |= set(stage.writes)
    transfer = pipeline.STAGES["transfer"]
    assert set(transfer.reads) <= written and transfer.number is None
    writers = [a for s in pipeline.STAGES.values() for a in s.writes]
    assert sorted(writers) == sorted(pipeline.ARTIFACTS), "every artifact is written by exactly one stage"


def test_the_cli_the_book_the_run_folder_and_the_runner_read_the_table():
    assert cli.STAGES == tuple(pipeline.STAGES) and cli.PIPELINE == ("extract", "pairs", "train", "evaluate")
    assert runner.STAGES == cli.PIPELINE
    assert [nb.name for nb in NOTEBOOKS] == [c.notebook for c in pipeline.CHAPTERS]
    for stage in pipeline.STAGES.values():
        config = cli.stage_config(stage.name)
        assert config.stage == stage.name, f"{config.__name__}.stage is the stage's name"
        assert callable(cli.stage_runner(stage.name))
        if stage.chapter:
            nb = next(nb for nb in NOTEBOOKS if nb.name == stage.chapter)
            assert config_class(nb) is config, f"chapter {nb.name} shows the parameters of stage {stage.name}"
    assert PRODUCED_BY["adapter"] == "notebooks/03_dpo_training (or `python -m dca train`)"


def test_stage_numbers_follow_the_pipeline_and_the_chapters():
    assert [s.number for s in pipeline.PIPELINE] == [1, 2, 3, 4]
    chapters = [c.notebook for c in pipeline.CHAPTERS]
    positions = [chapters.index(s.chapter) for s in pipeline.PIPELINE]
    assert positions == sorted(positions)
    for stage in pipeline.PIPELINE[:3]:  # stage 4 is chapter 05: chapter 04 defines its metrics first
        assert stage.chapter.startswith(f"0{stage.number}_")


def _top_level_imports(path) -> set[str]:
    """The dca modules a module imports when it is imported (imports inside functions left out)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dca")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dca") and not node.level:
            for a in node.names:  # ``from dca.x import y``: y may be a module of the package x
                sub = f"{node.module}.{a.name}"
                found.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                          or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else node.module)
    return found


def _module_name(path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk of the import ``graph`` meets, each as the modules it passes
    (the first repeated at the end); modules outside the package are left out."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                found.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_import_cycle_between_the_modules():
    graph = {_module_name(p): _top_level_imports(p) for p in PACKAGE.rglob("*.py")}
    for cycle in _circles(graph):
        pytest.fail(f"import cycle: {' -> '.join(cycle)}")


@pytest.mark.parametrize("old,new", sorted(importlib.import_module("dca._moved").MOVED.items()))
def test_the_flat_names_of_earlier_versions_still_import_the_same_module(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)
    assert importlib.import_module(new).__spec__.name == new


def test_a_stage_package_hands_out_its_stage_names_without_importing_the_stage_first():
    from dca.extract import ExtractConfig, parsing
    from dca.extract.stage import ExtractConfig as direct

    assert ExtractConfig is direct and parsing.__name__ == "dca.extract.parsing"
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        importlib.import_module("dca.train").nope


def test_the_light_modules_import_without_torch():
    """A package's lazy names keep ``import dca.extract.parsing`` (or the CLI's help) free of torch."""
    import subprocess
    import sys

    code = ("import sys, dca.extract.parsing, dca.evaluate.metrics, dca.cli, dca.pipeline, dca.book.checks; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_a_module_run_with_python_m_is_not_imported_by_its_package_first():
    """``python -m dca.data.bundled install`` (``make setup``) and the other runnable modules: runpy warns
    ("found in sys.modules ... prior to execution") when importing the package already imported the module."""
    import subprocess
    import sys

    runnable = sorted(_module_name(p) for p in PACKAGE.rglob("*.py")
                      if p.name != "__main__.py" and 'if __name__ == "__main__":' in p.read_text())
    assert "dca.data.bundled" in runnable and "dca.models.embedded" in runnable
    for module in runnable:
        package = module.rpartition(".")[0]
        code = f"import sys, {package}; print({module!r} in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        assert out.stdout.split() == ["False"], f"importing {package} imports {module}: `python -m {module}` warns"


def _all_imports(path) -> set[str]:
    """The dca modules a module can import: at module level, inside functions (lazy imports),
    ``importlib.import_module("dca...")`` and a package's lazy re-exports (``reexport(__name__, "dca...")``).

    Left out: the ``if __name__ == "__main__":`` block, which runs only when the file is the program
    (``python -m``); runpy executes it as the module ``__main__``, another module object, so what it
    imports cannot come back round to the module that imports it.
    """
    tree = ast.parse(path.read_text())
    main_blocks = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    skipped = {id(n) for block in main_blocks for n in ast.walk(block)}
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {known(a.name) for a in node.names if a.name.startswith("dca")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dca") and not node.level:
            for a in node.names:  # ``from dca.x import y``: y may be a module of the package x
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else known(node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[-1], ast.Constant):
            called = getattr(node.func, "attr", getattr(node.func, "id", ""))
            target = node.args[-1].value
            if called in ("import_module", "reexport") and isinstance(target, str) and target.startswith("dca"):
                found.add(known(target))
    found.discard("")
    return found


#: Circles known and left for now, each with its reason; the test fails when one of them is gone (then
#: strike it here) as well as on any other circle. None is left.
KNOWN_CIRCLES: set[frozenset[str]] = set()


def test_no_import_cycle_lazy_imports_included():
    """No circle of imports anywhere in the package, counting the imports inside functions: a circle
    through a lazy import breaks as soon as someone moves that import to the top."""
    graph = {_module_name(p): _all_imports(p) - {_module_name(p)} for p in PACKAGE.rglob("*.py")}
    assert "dca.evaluate.stage" in graph["dca.evaluate"], "a package's lazy re-export is an edge"
    assert "dca.models.embedded" in graph["dca.config"], "an import inside a function is an edge"
    seen: set[frozenset[str]] = set()
    for circle in _circles(graph):
        if frozenset(circle) not in KNOWN_CIRCLES:
            pytest.fail(f"import cycle: {' -> '.join(circle)}")
        seen.add(frozenset(circle))
    assert seen == KNOWN_CIRCLES, f"a known circle is gone: strike {KNOWN_CIRCLES - seen} from KNOWN_CIRCLES"


def test_the_study_report_stays_split_by_job():
    """The study's report is split by job (rule, tables, sentences; names, figures, protocols, answer):
    no module of it grows past about 400 lines, and the names of the modules before the split still work."""
    from dca.report import study, study_answer

    modules = sorted((PACKAGE / "report").glob("study*.py"))
    assert len(modules) >= 8
    for path in modules:
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} has grown past 400 lines: split it by job"
    for name in ("criteria", "verdict_table", "card_note", "further_seeds_sentence", "objective_summary", "_cell",
                 "_objective", "MAX_ACCURACY_DROP", "StudyChapterConfig", "read"):
        assert hasattr(study, name), f"dca.report.study.{name} is gone"
    for name in ("answer_sentences", "check_table", "plot_summary", "readable", "named", "objective_name",
                 "three_protocols", "recorded_protocol", "plot_displacement", "dose_sentence"):
        assert hasattr(study_answer, name), f"dca.report.study_answer.{name} is gone"
