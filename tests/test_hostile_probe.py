"""The hostile-user probe kept as a test: question files whose names, ids and texts carry HTML, MyST
roles, backticks and 10 kB strings go through every stage (extract -> pairs -> train -> evaluate ->
transfer), into the results store, through the study's collector, and into the chapter on the study
(notebook 07) executed on the collected files and built as the book builds its pages; they reach the
page as text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dca.cli import main as cli_main
from dca.evaluate.transfer import transfer_files
from dca.paths import BOOK_DIR, NOTEBOOK_DIR
from dca.reference import study, study_results

pytestmark = pytest.mark.slow

LONG = "<script>alert(5)</script>" + "x" * 10_000  # a 10 kB id
HOSTILE_IDS = ["<script>alert(1)</script>", "<svg onload=alert(2)>", "{glue:text}`r_n_eval`", "a | b | c",
               "[click](javascript:alert(3))", "*bold* _it_ `code`", "{{ sub }}", "{math}`x^2`", LONG]
#: What must not appear in the built page (a tag, a link or a role made from the data).
FORBIDDEN = ("<script>alert", "<svg onload", "<img src=x", 'href="javascript')


def _hostile_file(path: Path, start: int, n: int) -> str:
    rows = []
    for i in range(start, start + n):
        rows.append({"id": f"{HOSTILE_IDS[i % len(HOSTILE_IDS)]} #{i}" if i % 3 else f"q{i}",
                     "question": f"Which number follows {i}? <b onclick=alert({i})>{{glue:text}}`x` ``{i}``",
                     "choices": [f"{i + 1}", f"<i>{i + 2}</i>", f"`{i + 3}`", f"{{sub}}{i}"], "answer": 0})
    rows[0]["id"] = LONG + str(start)
    pd.DataFrame(rows).to_json(path, orient="records", lines=True, force_ascii=False)
    return str(path)


def _build_page(notebook: Path, out: Path) -> str:
    """The HTML of one executed notebook built by Sphinx and myst-nb with the book's MyST extensions."""
    src = out / "src"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(
        "extensions = ['myst_nb']\nmyst_enable_extensions = ['amsmath', 'colon_fence', 'dollarmath', 'substitution']\n"
        "nb_execution_mode = 'off'\nnb_render_markdown_format = 'myst'\nroot_doc = 'page'\n"
        "suppress_warnings = ['myst.xref_missing', 'myst.header', 'mystnb.unknown_mime_type']\n")
    (src / "page.ipynb").write_bytes(notebook.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(out / "html")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (out / "html" / "page.html").read_text()


def test_hostile_question_files_reach_chapter_07_as_text(format_model_dir, tmp_path, monkeypatch):
    from dca.book.execution import execute

    runs = tmp_path / "runs"
    train_file = _hostile_file(tmp_path / "q <svg onload=alert(2)> {glue:text}`r_n_eval` a|b.jsonl", 0, 12)
    transfer_file = _hostile_file(tmp_path / "t <img src=x onerror=alert(4)> `code`.jsonl", 100, 6)
    monkeypatch.setattr(study, "RUNS", runs)
    monkeypatch.setattr(study, "SHARED_BEFORE", runs / "transfer-before")
    monkeypatch.setattr(study_results, "RUNS", runs)
    for module in (study, study_results):
        monkeypatch.setattr(module, "TRANSFER", transfer_file)
    store = tmp_path / "results.csv"
    model = [f"model={format_model_dir}", "device=cpu", "dtype=float32"]
    assert cli_main(["extract", "profile=none", f"run_dir={runs / 'seed0'}", *model, f"dataset={train_file}", "n_questions=12",
                     "n_eval=4", "k_shot=0", "max_new_tokens=10", "batch_size=8"]) == 0
    job = study.job("seed0-dca")
    study.prepare(job)  # the seed's stage-1 table and questions, as the study's runner copies them
    run_dir = str(job.run_dir)
    assert cli_main(["pairs", "profile=none", f"run_dir={run_dir}"]) == 0
    assert cli_main(["train", "profile=none", f"run_dir={run_dir}", model[0], "max_steps=1", "batch_size=2", "max_length=256",
                     "precision=fp32"]) == 0
    assert cli_main(["evaluate", "profile=none", f"run_dir={run_dir}", "device=cpu", "dtype=float32", "n_boot=20",
                     f"results_store={store}"]) == 0
    assert cli_main(["transfer", "profile=none", f"run_dir={run_dir}", "device=cpu", "dtype=float32", f"questions={transfer_file}",
                     "n_questions=6", "n_boot=20", f"results_store={store}", "batch_size=6"]) == 0
    folder = transfer_files(run_dir, transfer_file).folder
    assert re.fullmatch(r"t_img_src_x_onerror_alert_4_code-[0-9a-f]{10}", folder.name)  # a safe folder name
    rows = pd.read_csv(store)
    assert {train_file, transfer_file} == set(rows["dataset"]) and (rows["run"] == str(folder)).any()

    data = tmp_path / "data"
    monkeypatch.setattr(study_results, "DATA", data)
    for name, file in (("RESULTS", "r.csv"), ("QUESTIONS", "q.csv"), ("TRAINING", "t.csv")):
        monkeypatch.setattr(study_results, name, data / file)
    study_results.collect(n_boot=20)
    collected = pd.read_csv(data / "r.csv")
    assert {Path(train_file).name, transfer_file} <= set(collected["dataset"])  # the hostile names, carried
    questions = pd.read_csv(data / "q.csv", keep_default_na=False)
    assert any(i.startswith(LONG) for i in questions["id"])  # the 10 kB id, whole

    executed = tmp_path / "07.ipynb"
    execute(NOTEBOOK_DIR / "07_why_and_what_works.py", executed,
            {"results": str(data / "r.csv"), "questions": str(data / "q.csv"), "training": str(data / "t.csv"),
             "number_tokens": str(BOOK_DIR / "data" / "study_number_tokens.csv")}, {})
    shown = "\n".join("".join(o.get("data", {}).get("text/markdown", ""))
                       for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", []))
    assert "<svg onload=alert(2)> #1" in re.sub(r"\\(.)", r"\1", shown)  # the ids are in the chapter's tables ...
    html = _build_page(executed, tmp_path / "page")
    body = html[html.index("<h1"):]
    for bad in FORBIDDEN:  # ... and reach the built page as text, never as markup
        assert bad not in body, bad
    assert "&lt;svg onload=alert(2)&gt; #1" in body and "*bold* _it_ `code` #5" in body
