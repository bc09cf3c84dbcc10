"""The book driver: execute the notebooks with papermill, then render them with Jupyter Book 1.

    notebooks/NN_name.py ──jupytext──► tmp .ipynb ──papermill(profile)──► book/_executed/NN_name.ipynb
    book/*.md + book/_executed/*.ipynb ──jupyter-book build (execute off, -W -n)──► _build/html

Command line (``make book`` runs the first)::

    python -m dca.book build --profile default      # execute what changed, then build the HTML
    python -m dca.book build --profile smoke --only 01_confidence_extraction --no-html
    python -m dca.book students                     # student notebooks (solutions removed)

One module a job, imported in this order (no cycle; no notebook imports any of them):

- :mod:`dca.book.chapters` -- the chapter list, the repository's folders, each chapter's config class;
- :mod:`dca.book.parameters` -- a chapter's papermill parameters from a profile, the parameters cell
  a notebook must begin with, and the folded parameters table the reader sees;
- :mod:`dca.book.hashing` -- what an executed notebook depends on, and whether it is current;
- :mod:`dca.book.execution` -- papermill execution of the chapters that changed;
- :mod:`dca.book.html` -- MathJax, the results card, the student notebooks and ``jupyter-book build``;
- :mod:`dca.book.sphinx_hooks` -- a tiny Sphinx extension (listed in ``_config.yml``);
- :mod:`dca.book.cli` -- the command line.

Beside the driver, the student side: :mod:`dca.book.exercises` (student notebooks from the solution
notebooks), :mod:`dca.book.checks` (the checks students run) and :mod:`dca.book.myst_plain` (MyST
markup as plain Markdown). The names below are imported on first use, so that a notebook importing
``dca.book.checks`` does not import papermill.

Each notebook's parameters are its stage config's fields (``dca.extract.stage.ExtractConfig`` for
``01_confidence_extraction`` ...): the profile's section for that stage, plus its ``common``
section filtered to the fields the stage has. An unknown key fails, naming the key and the notebook.
"""

import importlib
from typing import Any

#: Public name -> the module that defines it.
_NAMES = {
    **dict.fromkeys(["BOOK_DIR", "EXECUTED_DIR", "HTML_DIR", "NOTEBOOKS", "ROOT", "STUDENTS_DIR", "BookError",
                     "Notebook", "config_class"], "dca.book.chapters"),
    "main": "dca.book.cli",
    **dict.fromkeys(["execute", "execute_all"], "dca.book.execution"),
    **dict.fromkeys(["fold_parameters", "notebook_parameter_names", "notebook_parameters", "parameters_cell",
                     "parameters_source", "parameters_table"], "dca.book.parameters"),
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
