"""The module names of the flat layout this package had before its subpackages, still importable.

``import dca.metrics`` gives the module ``dca.evaluate.metrics`` itself (the same object, so a patch
of one is a patch of the other): code and notebooks written for the flat layout keep working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

#: Old module -> where it lives now.
MOVED = {
    "dca.embedded": "dca.models.embedded", "dca.tiny": "dca.models.tiny", "dca.memory": "dca.models.memory",
    "dca.prompts": "dca.extract.prompts", "dca.prefix": "dca.extract.prefix", "dca.elicit": "dca.extract.elicit",
    "dca.parsing": "dca.extract.parsing", "dca.confidence": "dca.extract.confidence",
    "dca.train_config": "dca.train.config", "dca.train_log": "dca.train.log", "dca.dpo_prefix": "dca.train.dpo_prefix",
    "dca.lora_dropout": "dca.train.lora_dropout",
    "dca.metrics": "dca.evaluate.metrics", "dca.bootstrap": "dca.evaluate.bootstrap",
    "dca.baselines": "dca.evaluate.baselines", "dca.transfer": "dca.evaluate.transfer",
    "dca.artifacts": "dca.runs.artifacts", "dca.atomic_io": "dca.runs.atomic_io", "dca.locking": "dca.runs.locking",
    "dca.results": "dca.runs.results", "dca.distributed": "dca.runs.distributed", "dca.faults": "dca.runs.faults",
    "dca.reference_jobs": "dca.reference.jobs", "dca.reference_results": "dca.reference.collect",
    "dca.study": "dca.reference.study", "dca.study_results": "dca.reference.study_results",
    "dca.diagnosis": "dca.reference.diagnosis",
    "dca.report_format": "dca.report.format", "dca.report_rules": "dca.report.rules",
    "dca.report_reference": "dca.report.reference", "dca.report_run": "dca.report.run", "dca.plots": "dca.report.plots",
    "dca.exercises": "dca.book.exercises", "dca.checks": "dca.book.checks", "dca.myst_plain": "dca.book.myst_plain",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old name of :data:`MOVED` and loads it as the module it now is."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - the finder protocol
        if name in MOVED:
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):  # noqa: ANN001, ANN201
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__  # the module's own spec, which the import system overwrites next
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        own = module.__spec__.loader_state  # module.__spec__ is now the old name's spec
        module.__spec__, module.__loader__ = own, own.loader


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
