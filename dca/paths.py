"""Where things are: the repository root every path to a committed file starts from, and the cache.

The package lives in ``ROOT/dca``; profiles, the book's pages and data, the notebooks and committed
results sit beside it. Run folders (``runs/...``) are relative to the working directory instead, which
the book and the notebooks set to :data:`ROOT` (:func:`dca.runs.artifacts.enter_repo_root`), as do the
experiments' runners and collectors wherever they are started (:func:`at_root`). What is computed once per machine (converted models, offline datasets, content hashes) lies in
:func:`cache_dir`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

#: The repository root (the folder holding ``dca/``, ``profiles/``, ``book/``, ``notebooks/``).
ROOT = Path(__file__).resolve().parent.parent
#: The book's hand-written pages, bibliography and committed data.
BOOK_DIR = ROOT / "book"
#: The chapter notebooks (jupytext ``.py`` sources and their paired ``.ipynb``).
NOTEBOOK_DIR = ROOT / "notebooks"

#: The environment variable naming the cache folder (:func:`cache_dir`).
CACHE_ENV = "DCA_CACHE"
#: Deprecated: the environment variable that named the content-hash cache file itself; use
#: :data:`CACHE_ENV` (:func:`hash_cache_file`).
HASH_CACHE_ENV = "DCA_HASH_CACHE"


def cache_dir() -> Path:
    """The folder of what dca computes once per machine: converted models, offline datasets, content hashes.

    Returns
    -------
    pathlib.Path
        ``$DCA_CACHE`` when set (and not empty), else ``~/.cache/dca``. It need not exist yet.

    >>> cache_dir() == Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dca")
    True
    """
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dca")


def hash_cache_file() -> Path:
    """The file that caches content hashes of large files (:func:`dca.runs.artifacts.content_hash`).

    Returns
    -------
    pathlib.Path
        ``content-hashes.json`` in :func:`cache_dir`. ``$DCA_HASH_CACHE``, when set, names the file
        instead: a deprecated alias, still accepted (set ``DCA_CACHE`` to move the whole cache).
    """
    return Path(os.environ.get(HASH_CACHE_ENV) or cache_dir() / "content-hashes.json")


@contextlib.contextmanager
def at_root() -> Iterator[Path]:
    """Work from :data:`ROOT` while the block runs, then go back to the folder it started in.

    The experiments name their run folders relative to the repository root (``runs/study/...``):
    their runners and collectors read them from there, wherever the command was started.

    Yields
    ------
    pathlib.Path
        :data:`ROOT`.

    >>> here = Path.cwd()
    >>> with at_root() as root:
    ...     Path.cwd() == root
    True
    >>> Path.cwd() == here
    True
    """
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        yield ROOT
    finally:
        os.chdir(here)
