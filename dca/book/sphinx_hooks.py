"""A tiny Sphinx extension (``sphinx.extra_extensions: [dca.book.sphinx_hooks]`` in ``_config.yml``).

It points the Colab and Binder launch buttons of an executed page at its paired notebook in
``notebooks/``, which exists in the repository, instead of at ``book/_executed/``, which does not;
and it drops a script that sphinx-thebe adds twice (a console error otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from dca.book.chapters import EXECUTED_DIR, NOTEBOOK_DIR, ROOT


def _rewrite_urls(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, dict):
        return {k: (v.replace(old, new) if k == "url" and isinstance(v, str) else _rewrite_urls(v, old, new))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rewrite_urls(v, old, new) for v in obj]
    return obj


def _launch_to_sources(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    executed = EXECUTED_DIR.relative_to(ROOT).as_posix() + "/"
    if pagename.startswith(executed) and "header_buttons" in context:
        context["header_buttons"] = _rewrite_urls(
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
    """Sphinx entry point (``sphinx.extra_extensions: [dca.book]``)."""
    app.connect("html-page-context", _launch_to_sources, priority=900)  # after sphinx-book-theme's 501
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
