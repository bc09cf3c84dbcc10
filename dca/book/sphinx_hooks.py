"""A tiny Sphinx extension (``sphinx.extra_extensions: [dca.book.sphinx_hooks]`` in ``_config.yml``).

- Launch buttons (Colab, Binder) and the repository button appear only when ``repository.url`` in
  ``_config.yml`` names a repository; left empty, the book has none (a button that opens a
  placeholder repository is worse than no button).
- The launch buttons of an executed page open its paired notebook in ``notebooks/``, which exists in
  the repository, instead of ``book/_executed/``, which does not. Only the launch buttons' absolute
  URLs are rewritten: the ``.ipynb`` download button keeps pointing at the executed copy that
  Sphinx serves under ``_sources/``.
- A script that sphinx-thebe adds twice is dropped (a console error otherwise).

>>> buttons = [{"type": "group", "buttons": [
...     {"url": "../../_sources/book/_executed/01_x.ipynb"},
...     {"url": "https://colab.research.google.com/github/o/r/blob/main/book/_executed/01_x.ipynb"}]}]
>>> [b["url"] for b in _rewrite_launch_urls(buttons, "book/_executed/", "notebooks/")[0]["buttons"]]
['../../_sources/book/_executed/01_x.ipynb', 'https://colab.research.google.com/github/o/r/blob/main/notebooks/01_x.ipynb']
"""

from __future__ import annotations

import json
from typing import Any

from dca.book.chapters import EXECUTED_DIR, NOTEBOOK_DIR, ROOT


def _rewrite_launch_urls(obj: Any, old: str, new: str) -> Any:
    """Replace ``old`` by ``new`` in every absolute ``url`` of the header buttons (the launch buttons)."""
    if isinstance(obj, dict):
        return {k: (v.replace(old, new) if k == "url" and isinstance(v, str) and v.startswith("http")
                    else _rewrite_launch_urls(v, old, new))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rewrite_launch_urls(v, old, new) for v in obj]
    return obj


def _buttons_need_a_repository(app: Any, config: Any) -> None:
    """Without ``repository.url`` there is nothing to launch: no launch buttons. With it, the
    repository button too (Jupyter Book refuses ``use_repository_button: true`` without a URL, so
    ``_config.yml`` leaves it off and it is switched on here)."""
    options = config.html_theme_options
    has_repository = bool(str(options.get("repository_url") or "").strip())
    if not has_repository:
        options.pop("repository_url", None)
        options["launch_buttons"] = {}
    options["use_repository_button"] = has_repository


def _launch_to_sources(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    executed = EXECUTED_DIR.relative_to(ROOT).as_posix() + "/"
    if pagename.startswith(executed) and "header_buttons" in context:
        context["header_buttons"] = _rewrite_launch_urls(
            context["header_buttons"], executed, NOTEBOOK_DIR.relative_to(ROOT).as_posix() + "/"
        )


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Drop repeated ``<script>`` entries: sphinx-thebe 0.3.1 registers its inline config twice
    under Jupyter Book 1.0.4, and the second ``const THEBE_JS_URL`` is a SyntaxError in the console."""
    seen, kept = set(), []
    for js in context.get("script_files", []):
        key = (str(getattr(js, "filename", js) or ""), json.dumps(getattr(js, "attributes", {}), sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    if "script_files" in context:
        context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point (``sphinx.extra_extensions: [dca.book.sphinx_hooks]``)."""
    app.connect("config-inited", _buttons_need_a_repository, priority=100)  # before sphinx-book-theme reads them
    app.connect("html-page-context", _launch_to_sources, priority=900)  # after sphinx-book-theme's 501
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
