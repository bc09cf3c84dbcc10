"""A package that hands out its main module's public names, imported on first use (PEP 562).

``dca.extract`` is a package (prompts, parsing, confidence ... and ``stage``); ``from dca.extract import
ExtractConfig`` still works, and importing ``dca.extract.parsing`` alone does not import torch.
"""

from __future__ import annotations

import importlib
import types
from typing import Any, Callable


def reexport(package: str, module: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: the public names of ``module``, imported lazily."""

    def public(mod: types.ModuleType) -> list[str]:
        return [n for n, v in vars(mod).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)]

    def __getattr__(name: str) -> Any:
        if not name.startswith("_"):
            mod = importlib.import_module(module)
            if name in public(mod):
                return getattr(mod, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(public(importlib.import_module(module)))

    return __getattr__, __dir__
