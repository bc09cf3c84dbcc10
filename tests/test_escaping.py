"""Hostile strings from data and results files (HTML, MyST roles, Markdown table syntax) reach the
book's pages as text: every Markdown table and sentence the chapters build from data escapes them.

The Markdown is rendered to HTML by MyST's own parser (the one the book's pages go through) with the
book's extensions, and the HTML is checked for tags and roles that must not be there."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dca import report
from dca.evaluate.bootstrap import paired_table
from dca.runs.results import COLUMNS

HOSTILE = ["<script>alert(1)</script>", "<svg onload=alert(2)>", "{glue:text}`r_n_eval`", "a | b | c",
           "[click](javascript:alert(3))", "$\\input{/etc/passwd}$", "*bold* _it_ `code`", "{{ sub }}",
           "line\nbreak <img src=x onerror=alert(4)>"]


def render(markdown: str) -> str:
    """HTML of MyST Markdown, as the book's pages parse it (``_config.yml``'s extensions)."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = MdParserConfig(enable_extensions={"amsmath", "colon_fence", "dollarmath", "substitution"})
    return create_md_parser(config, RendererHTML).render(markdown)


def assert_inert(html: str) -> None:
    """No tag, role, math, link or substitution came from the hostile strings; their text is there."""
    for bad in ("<script", "<svg", "<img", "myst role", "<a href", "substitution"):
        assert bad not in html, (bad, html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "$\\input{/etc/passwd}$" in html  # shown, not typeset
    assert "{glue:text}`r_n_eval`" in html


def cells_per_row(html: str) -> set[int]:
    return {len(re.findall(r"<t[dh]", row)) for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)}


def store_rows(text: str) -> pd.DataFrame:
    rows = []
    for method in ("vanilla", "dca"):
        for metric in ("accuracy", "rho", "sigma_eps", "mean_abs_eps", "sigma_m"):
            rows.append({"run": f"runs/{text}", "model": text, "dataset": text, "method": method, "metric": metric,
                         "value": 1.0, "low": 0.5, "high": 1.5, "n": 10, "seed": 0, "profile": text,
                         "commit": text, "date": text, "source": text})
    return pd.DataFrame(rows, columns=list(COLUMNS))


@pytest.mark.parametrize("text", HOSTILE)
def test_results_store_strings_are_escaped_in_the_store_table(text):
    html = render(report.store_markdown(store_rows(text)))
    for bad in ("<script", "<svg", "<img", "myst role", "<a href", "substitution"):
        assert bad not in html, (bad, html)
    # the store is shown as two tables (where each run comes from, then its metrics): check each body
    tables = re.findall(r"<table>.*?</table>", html, flags=re.S)
    assert len(tables) == 2
    for table in tables:
        body = table.split("<tbody>")[1]
        assert "math inline" not in body and "<em>" not in body and "<code" not in body
        assert len(cells_per_row(table)) == 1  # a "|" in a value did not split its cell


def test_every_hostile_string_at_once_in_every_table_and_sentence_the_chapters_build(tmp_path):
    text = " ".join(HOSTILE)
    store = report.store_markdown(store_rows(text))

    comparison = paired_table({"sigma_eps": {"before": 1.0, "after": 0.5, "diff": -0.5, "low": -1.0, "high": 0.0}})
    comparison["source"] = text
    compared = report.comparison_markdown(comparison)

    reference = []
    for job, kind, factor in (("seed0", "seed", ""), ("abl", "ablation", f"lr C_i {text}")):
        for method in ("vanilla", "dca", "constant"):
            for metric in ("rho", "sigma_eps", "mean_abs_eps", "accuracy", "parse_rate", "distinct_cv", "mean_eps"):
                for dataset in (text, "mean"):
                    reference.append({"job": job, "kind": kind, "factor": factor, "seed": 0, "dataset": dataset,
                                      "method": method, "metric": metric, "value": 60.0, "low": 50.0,
                                      "high": 70.0, "diff": 1.0, "diff_low": 0.5, "diff_high": 1.5, "n": 10,
                                      "model": text, "split": text})
    R = pd.DataFrame(reference)
    pages = [store, compared, report.markdown_table(report.paper_form(R)),
             report.markdown_table(report.method_table(R)),
             report.markdown_table(report.ablation_table(R), markup=["run"]), report.ablation_summary(R),
             report.results_card(R, pd.DataFrame(), tmp_path / "card.png")]
    for markdown in pages:
        html = render(markdown)
        for bad in ("<script", "<svg", "<img", "myst role", "<a href", "substitution"):
            assert bad not in html, (bad, markdown)
        for table in re.findall(r"<table>.*?</table>", html, flags=re.S):  # each table: a "|" split no cell
            assert len(cells_per_row(table)) == 1, markdown
    assert_inert(render(store))
    assert "$C_i$" in report.ablation_table(R)["run"].iloc[-1]  # our math still typeset around the data


def test_replies_and_questions_shown_as_tables_or_printed_stay_text():
    """The chapters show replies and questions as DataFrames (pandas escapes its HTML) or print them
    (plain text): the hostile strings reach the page as text there too."""
    frame = pd.DataFrame({"question": HOSTILE, "response": HOSTILE})
    html = frame._repr_html_()
    assert "<script" not in html and "<svg" not in html and "&lt;script&gt;" in html


def test_hostile_strings_stay_text_in_a_page_built_by_sphinx_and_myst_nb(tmp_path):
    """One notebook page built as the book builds its chapters (myst-nb, Markdown outputs parsed as
    MyST): the store table, a printed question and a DataFrame of replies, all with hostile strings."""
    import subprocess
    import sys

    import nbformat

    text = " ".join(HOSTILE)
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "extensions = ['myst_nb']\nmyst_enable_extensions = ['amsmath', 'colon_fence', 'dollarmath', 'substitution']\n"
        "nb_execution_mode = 'off'\nnb_render_markdown_format = 'myst'\nroot_doc = 'page'\n")
    frame = pd.DataFrame({"question": [text], "response": [text]})
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Page"), nbformat.v4.new_code_cell("show()", execution_count=1, outputs=[
        nbformat.v4.new_output("display_data", {"text/markdown": report.store_markdown(store_rows(text))}),
        nbformat.v4.new_output("stream", name="stdout", text=f"Question: {text}\n"),
        nbformat.v4.new_output("display_data", {"text/html": frame._repr_html_(), "text/plain": repr(frame)}),
    ])]
    nbformat.write(nb, src / "page.ipynb")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tmp_path / "out" / "page.html").read_text()
    body = html[html.index('<h1>'):]
    for bad in ("<script>alert", "<svg onload", "<img src=x", 'href="javascript'):
        assert bad not in body, bad
    assert body.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # the table, the printed line, the frame
    assert "{glue:text}" in body
