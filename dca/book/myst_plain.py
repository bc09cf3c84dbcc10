"""MyST markup as plain Jupyter Markdown, for the student notebooks.

The book's Markdown uses MyST roles and directives that Jupyter does not know: a student notebook
would show ``{glue:text}`n_questions``` verbatim. :class:`PlainMarkdown` rewrites them:

- ``{glue:text}`name:.1f``` (and ``{glue}``, ``{glue:md}``, ``{glue:any}``) become the glued name
  as code, ``name``: the value is computed by the notebook (and printed in the book);
  ``{glue:figure}`name``` becomes a line saying the figure is in the book;
- ``(label)=`` target lines are dropped;
- ``{ref}`` and ``{numref}`` become the referenced title (``Exercise 1.2`` for an exercise) when it is
  known, else the label in words; an explicit text (``{ref}`text <label>```) is kept;
- ``{cite:p}`key``` becomes "(Author, Year)" and ``{cite:t}`key``` "Author (Year)", read from a
  BibTeX file; an unknown key stays as the key;
- ``{math}`x``` becomes ``$x$``; ``$...$`` and ``$$...$$`` math is left alone (Jupyter renders it);
- any other role (``{doc}``, ``{download}``, ``{term}``, ...) becomes its text;
- directives become blockquotes headed by their title in bold (``{note}``, ``{admonition}``, ...),
  ``{code-block}``/``{code}`` a plain code fence, ``{math}`` a ``$$`` block, ``{figure}`` an
  image and ``{glue:figure}`` a line saying the figure is in the book.

>>> plain = PlainMarkdown(titles={"chapter-metrics": "Measuring alignment"},
...                       citations={"zhang2025dca": ("Zhang et al.", "2025")})
>>> print(plain.convert("(intro)=\\n# Hi\\nSee {ref}`chapter-metrics` {cite:p}`zhang2025dca`: "
...                     "{glue:text}`acc:.1f` %."))
# Hi
See Measuring alignment (Zhang et al., 2025): `acc` %.
>>> print(plain.convert(":::{admonition} Careful\\n:class: warning\\nMind the gap.\\n:::"))
> **Careful**
>
> Mind the gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

TARGET = re.compile(r"^\s*\(([^()\s]+)\)=\s*$")
ROLE = re.compile(r"\{(?P<role>[a-zA-Z][\w:-]*)\}`(?P<content>[^`]*)`")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^\s*:([\w-]+):\s*(.*)$")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)

ADMONITIONS = {"note": "Note", "warning": "Warning", "important": "Important", "tip": "Tip", "hint": "Hint",
               "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
               "seealso": "See also"}


# --------------------------------------------------------------------------------------------------
# Bibliography


def _bib_text(value: str) -> str:
    """A BibTeX field value as plain text: accents and braces removed.

    >>> _bib_text(r"Munos, R{\\'e}mi")
    'Munos, Remi'
    """
    value = re.sub(r"\\[^a-zA-Z\s]\{?([a-zA-Z])\}?", r"\1", value)  # {\'e} -> e, \"o -> o
    return re.sub(r"\s+", " ", value.replace("{", "").replace("}", "")).strip()


def _last_name(author: str) -> str:
    author = author.strip()
    return author.split(",")[0].strip() if "," in author else author.split()[-1]


def author_year(authors: str, year: str) -> tuple[str, str]:
    """The author part and year of an author-year citation.

    >>> author_year("Hu, Edward J. and Shen, Yelong and Wallis, Phillip", "2021")
    ('Hu et al.', '2021')
    >>> author_year("Guo, Chuan and Pleiss, Geoff", "2017")
    ('Guo and Pleiss', '2017')
    """
    names = [_last_name(a) for a in re.split(r"\s+and\s+", _bib_text(authors)) if a.strip()]
    if not names:
        who = "?"
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return who, year.strip()


def read_bibtex(path: Path) -> dict[str, tuple[str, str]]:
    """``{key: (authors, year)}`` of the entries of a BibTeX file (a small parser: one field a line).

    Entries without an ``author`` field use their ``title``; a missing file gives ``{}``.
    """
    path = Path(path)
    if not path.exists():
        return {}
    out: dict[str, tuple[str, str]] = {}
    for entry in re.split(r"(?m)^@", path.read_text(encoding="utf-8"))[1:]:
        head = re.match(r"\w+\s*\{\s*([^,\s]+)\s*,", entry)
        if not head:
            continue
        fields = dict((k.lower(), v) for k, v in re.findall(r"(?m)^\s*(\w+)\s*=\s*\{(.*)\}\s*,?\s*$", entry))
        year = re.sub(r"\D", "", fields.get("year", "")) or "n.d."
        out[head.group(1)] = author_year(fields.get("author") or fields.get("title", head.group(1)), year)
    return out


# --------------------------------------------------------------------------------------------------
# Labels


def label_words(label: str) -> str:
    """A label read as words, for a reference whose title is unknown.

    >>> label_words("chapter-does-dca-work")
    'chapter does dca work'
    """
    return re.sub(r"[-_:]+", " ", label).strip()


def label_titles(texts: Iterable[str]) -> dict[str, str]:
    """``{label: title}`` of the ``(label)=`` targets followed by a heading in Markdown ``texts``.

    >>> label_titles(["(chapter-metrics)=\\n# Measuring alignment\\n"])
    {'chapter-metrics': 'Measuring alignment'}
    """
    titles: dict[str, str] = {}
    for text in texts:
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = TARGET.match(line)
            if not m:
                continue
            heading = next((x for x in lines[i + 1:] if x.strip()), "")
            h = re.match(r"^#+\s+(.*)$", heading.strip())
            if h:
                titles[m.group(1)] = h.group(1).strip()
    return titles


# --------------------------------------------------------------------------------------------------
# The converter


class PlainMarkdown:
    """Rewrite MyST roles and directives as Markdown that plain Jupyter renders (see the module doc).

    Parameters
    ----------
    titles : dict, optional
        ``{label: text}`` that a ``{ref}``/``{numref}`` to the label becomes (section titles, and
        ``"Exercise 1.2"`` for exercises).
    citations : dict, optional
        ``{key: (authors, year)}``, as :func:`read_bibtex` returns.
    directive : callable, optional
        ``directive(name, arg, options, body_lines) -> list[str] | None``: a hook tried first for
        every directive; ``None`` falls back to the conversions here.
    """

    def __init__(self, titles: dict[str, str] | None = None,
                 citations: dict[str, tuple[str, str]] | None = None,
                 directive: Callable[[str, str, dict[str, str], list[str]], list[str] | None] | None = None):
        self.titles = dict(titles or {})
        self.citations = dict(citations or {})
        self.hook = directive

    # roles ----------------------------------------------------------------------------------------

    def cite(self, keys: str, textual: bool) -> str:
        """``(Author, Year; ...)`` or, for ``cite:t``, ``Author (Year)``; unknown keys stay keys."""
        parts = []
        for key in (k.strip() for k in keys.split(",") if k.strip()):
            if key not in self.citations:
                parts.append(key)
                continue
            who, year = self.citations[key]
            parts.append(f"{who} ({year})" if textual else f"{who}, {year}")
        return ", ".join(parts) if textual else f"({'; '.join(parts)})"

    def reference(self, content: str, numbered: bool) -> str:
        m = EXPLICIT.match(content)
        if m:  # {ref}`text <label>` / {numref}`Figure %s <label>`
            text, label = m.group("text"), m.group("target")
            if "%s" in text or "{number}" in text:
                number = self.titles.get(label, "").rpartition(" ")[2]
                text = text.replace("%s", number).replace("{number}", number).strip()
            return text
        return self.titles.get(content, label_words(content))

    def role(self, match: re.Match) -> str:
        role, content = match.group("role"), match.group("content")
        if role in ("glue", "glue:text", "glue:md", "glue:any"):
            return f"`{content.split(':')[0]}`"
        if role == "glue:figure":
            return f"*(figure `{content.split(':')[0]}`: see the book)*"
        if role in ("ref", "numref", "eq"):
            return self.reference(content, numbered=role != "ref")
        if role.startswith("cite"):
            return self.cite(content, textual=role in ("cite:t", "cite:ts", "cite:author"))
        if role == "math":
            return f"${content}$"
        m = EXPLICIT.match(content)  # doc, download, term, ...: the text
        return m.group("text") if m else content

    def inline(self, line: str) -> str:
        """Convert the roles of one line (code spans are not protected: the book has no role in one)."""
        return ROLE.sub(self.role, line)

    # directives -----------------------------------------------------------------------------------

    def directive(self, name: str, arg: str, options: dict[str, str], body: list[str]) -> list[str]:
        """The Markdown lines of one directive (its body already converted)."""
        if self.hook is not None:
            out = self.hook(name, arg, options, body)
            if out is not None:
                return out
        if name in ("code-block", "code", "code-cell", "sourcecode"):
            return [f"```{arg}", *body, "```"]
        if name == "math":
            return ["$$", *body, "$$"]
        if name.startswith("glue"):  # {glue:figure} name, {glue:math} name, ...: computed by the notebook
            caption = [line for line in body if line.strip()]
            return [f"*(figure `{arg.split(':')[0]}`: see the book)*", *([""] + caption if caption else [])]
        if name in ("figure", "image"):
            caption = " ".join(line.strip() for line in body if line.strip())
            return [f"![{caption or options.get('alt', '')}]({arg})"]
        title = arg or ADMONITIONS.get(name, name.replace("-", " ").capitalize())
        while body and not body[0].strip():
            body = body[1:]
        quoted = [f"> {line}" if line.strip() else ">" for line in body]
        return [f"> **{self.inline(title)}**", *([">", *quoted] if quoted else [])]

    def convert(self, text: str) -> str:
        """``text`` with every role, target and directive rewritten (see the module docstring)."""
        return "\n".join(self._lines(text.split("\n")))

    def _lines(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        in_code = None  # the fence of a plain code block being copied verbatim
        while i < len(lines):
            line = lines[i]
            if in_code is not None:
                out.append(line)
                if line.strip() == in_code:
                    in_code = None
                i += 1
                continue
            m = FENCE.match(line)
            if m is None:
                plain = re.match(r"^\s*(`{3,}|~{3,})", line)
                if plain:
                    in_code = plain.group(1)
                    out.append(line)
                elif not TARGET.match(line):
                    out.append(self.inline(line))
                i += 1
                continue
            fence = m.group("fence")
            j = i + 1
            while j < len(lines) and lines[j].strip() != fence:
                j += 1
            raw = lines[i + 1:j]
            options = {}
            while raw and OPTION.match(raw[0]):
                key, value = OPTION.match(raw[0]).groups()
                options[key] = value
                raw = raw[1:]
            code_like = m.group("name") in ("code-block", "code", "code-cell", "sourcecode", "math")
            body = raw if code_like else self._lines(raw)
            out += self.directive(m.group("name"), m.group("arg").strip(), options, body)
            i = j + 1
        return out
