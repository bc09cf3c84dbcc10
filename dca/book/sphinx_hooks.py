"""A tiny Sphinx extension (``sphinx.extra_extensions: [dca.book.sphinx_hooks]`` in ``_config.yml``).

- Launch buttons (Colab, Binder) and the repository button appear only when ``repository.url`` in
  ``_config.yml`` names a repository; left empty, the book has none (a button that opens a
  placeholder repository is worse than no button).
- The launch buttons of an executed page open its paired notebook in ``notebooks/``, which exists in
  the repository, instead of ``book/_executed/``, which does not. Only the launch buttons' absolute
  URLs are rewritten: the ``.ipynb`` download button keeps pointing at the executed copy that
  Sphinx serves under ``_sources/``.
- A script that sphinx-thebe adds twice is dropped (a console error otherwise).
- The download menu is labelled: the chapter's ``.ipynb`` "with solutions", its student copy beside
  it, and no ``.pdf`` entry (it only opened the print dialog; no PDF is built).

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


def _label_downloads(buttons: list[dict[str, Any]], student_url: str | None) -> list[dict[str, Any]]:
    """The download menu of a page, labelled: the executed notebook says it holds the solutions, the
    student copy (solutions removed) sits beside it where there is one, and the ``.pdf`` entry, which
    only opened the browser's print dialog (no PDF is built), is gone.

    >>> menu = [{"type": "group", "label": "download-buttons", "buttons": [
    ...     {"label": "download-notebook-button", "text": ".ipynb", "url": "a.ipynb"},
    ...     {"label": "download-source-button", "text": ".ipynb", "url": "a.ipynb"},
    ...     {"label": "download-pdf-button", "text": ".pdf"}]}]
    >>> [b["text"] for b in _label_downloads(menu, "s.ipynb")[0]["buttons"]]
    ['.ipynb, with solutions', '.ipynb, student copy (no solutions)']
    """
    out = []
    for group in buttons:
        if not (isinstance(group, dict) and group.get("label") == "download-buttons"):
            out.append(group)
            continue
        kept, notebook = [], False
        for b in group.get("buttons", []):
            if b.get("label") == "download-pdf-button":
                continue
            if b.get("text") == ".ipynb":
                if notebook:  # the source of an executed page is the same notebook: one button
                    continue
                notebook = True
                b = dict(b, text=".ipynb, with solutions",
                         tooltip="Download this chapter's executed notebook, every solution included")
            kept.append(b)
        if notebook and student_url:
            kept.append({"type": "link", "url": student_url, "text": ".ipynb, student copy (no solutions)",
                         "tooltip": "Download the student notebook: solutions removed, check cells kept",
                         "icon": "fas fa-graduation-cap", "label": "download-student-button"})
        out.append(dict(group, buttons=kept))
    return out


def _downloads(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if "header_buttons" not in context:
        return
    stem = pagename.rsplit("/", 1)[-1]
    student_url = None
    for filename, (_docs, dest) in getattr(app.env, "dlfiles", {}).items():
        if filename.replace("\\", "/").endswith(f"_students/{stem}.ipynb"):
            student_url = f"{context['pathto']('_downloads', 1)}/{dest}"
    context["header_buttons"] = _label_downloads(context["header_buttons"], student_url)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point (``sphinx.extra_extensions: [dca.book.sphinx_hooks]``)."""
    app.connect("config-inited", _buttons_need_a_repository, priority=100)  # before sphinx-book-theme reads them
    app.connect("html-page-context", _launch_to_sources, priority=900)  # after sphinx-book-theme's 501
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _downloads, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
