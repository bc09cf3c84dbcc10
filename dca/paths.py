"""Where the repository is: the one root every path to a committed file starts from.

The package lives in ``ROOT/dca``; profiles, the book's pages and data, the notebooks and committed
results sit beside it. Run folders (``runs/...``) are relative to the working directory instead, which
the book and the notebooks set to :data:`ROOT` (:func:`dca.artifacts.enter_repo_root`).
"""

from __future__ import annotations

from pathlib import Path

#: The repository root (the folder holding ``dca/``, ``profiles/``, ``book/``, ``notebooks/``).
ROOT = Path(__file__).resolve().parent.parent
