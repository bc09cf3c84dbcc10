"""Stage 2: preference pairs differ only in the confidence number."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from dca.config import ConfigError
from dca.pairs import PairsConfig, build_pairs, load_pairs, token_diff
from dca.pairs import run as run_pairs
from dca.runs import artifacts

SYSTEM = "Answer with the letter, then 'Probability: X%'."
SHOT_Q = "Question: What is 2 + 2?\nA) 3\nB) 4\nC) 5\nD) 6"


def make_row(i: int, c_v: float | None, c_i: float, *, scale: float = 100.0, split: str = "train",
             correct: bool = True, parse_ok: bool = True, c_i_norm: float | None = None,
             letter: str = "B", suffix: str = "") -> dict:
    """One stage-1 row; the response writes ``c_v`` as a percentage or a fraction."""
    head = f"Answer: {letter}\nProbability: "
    if c_v is None or not parse_ok:
        number, unit = "", "sure"
    elif scale == 100.0:
        number, unit = f"{c_v:g}", "%"
    else:
        number, unit = f"{c_v / 100:g}", ""
    response = head + number + unit + suffix
    start = len(head) if number else -1
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": SHOT_Q}, {"role": "assistant", "content": "Answer: B\nProbability: 90%"},
                {"role": "user", "content": f"Question: What is {i} + 1?\nA) {i}\nB) {i + 1}\nC) {i + 2}\nD) {i + 3}"}]
    return dict(
        id=f"q{i}", split=split, source="synthetic", prompt="(rendered)", messages=json.dumps(messages),
        choices=[str(i), str(i + 1), str(i + 2), str(i + 3)], answer=1, gold_letter="B", response=response,
        letter=letter if parse_ok else None, correct=correct, c_i=c_i,
        c_i_norm=c_i if c_i_norm is None else c_i_norm, c_v=c_v if parse_ok and c_v is not None else math.nan,
        parse_ok=parse_ok, parse_reason="ok" if parse_ok else "no confidence",
        cv_start=start, cv_end=start + len(number) if number else -1, cv_scale=scale,
    )


def table(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_chosen_is_the_response_with_round_ci():
    pairs, stats = build_pairs(table(make_row(0, 80, 36.6), make_row(1, 0, 37.2), make_row(2, 80, 99.6),
                                     make_row(3, 50, 0.2)), PairsConfig())
    chosen = [p["chosen"][0]["content"] for p in pairs]
    assert chosen == ["Answer: B\nProbability: 37%", "Answer: B\nProbability: 37%",
                      "Answer: B\nProbability: 100%", "Answer: B\nProbability: 0%"]
    assert [p["rejected"][0]["content"] for p in pairs][:2] == ["Answer: B\nProbability: 80%",
                                                               "Answer: B\nProbability: 0%"]
    assert [p["c_i_target"] for p in pairs] == [37, 37, 100, 0]
    assert stats == dict(rows=4, used=4, dropped_unparsed=0, dropped_wrong=0, dropped_equal=0, dropped_gap=0,
                         kept=4, distractor_pairs=0)
    first = pairs[0]
    assert first["prompt"][0]["role"] == "system" and first["prompt"][-1]["role"] == "user"
    assert first["id"] == "q0" and first["c_v"] == 80.0 and first["correct"] is True


def test_fraction_notation_is_kept():
    pairs, _ = build_pairs(table(make_row(0, 80, 36.6, scale=1.0), make_row(1, 100, 5, scale=1.0)), PairsConfig())
    assert [p["rejected"][0]["content"] for p in pairs] == ["Answer: B\nProbability: 0.8",
                                                            "Answer: B\nProbability: 1"]
    assert [p["chosen"][0]["content"] for p in pairs] == ["Answer: B\nProbability: 0.37",
                                                          "Answer: B\nProbability: 0.05"]


def test_text_after_the_number_is_untouched():
    pairs, _ = build_pairs(table(make_row(0, 80, 10, suffix="\nBecause 80% is high.")), PairsConfig())
    assert pairs[0]["chosen"][0]["content"] == "Answer: B\nProbability: 10%\nBecause 80% is high."


def test_equal_numbers_are_dropped_and_counted():
    rows = table(make_row(0, 100, 99.6), make_row(1, 37, 37.4), make_row(2, 0, 0.3), make_row(3, 80, 36.6),
                 make_row(4, 37, 36.5, scale=1.0))
    pairs, stats = build_pairs(rows, PairsConfig())
    assert [p["id"] for p in pairs] == ["q3"]
    assert stats["dropped_equal"] == 4 and stats["kept"] == 1


def test_empty_table():
    pairs, stats = build_pairs(pd.DataFrame(columns=list(make_row(0, 1, 2))), PairsConfig())
    assert pairs == [] and stats["rows"] == 0 and stats["kept"] == 0


def test_all_unparsed():
    pairs, stats = build_pairs(table(*(make_row(i, None, 40, parse_ok=False) for i in range(3))), PairsConfig())
    assert pairs == [] and stats["dropped_unparsed"] == 3 and stats["used"] == 3


def test_only_train_rows_and_filters_in_order():
    rows = table(make_row(0, 80, 10, split="eval"), make_row(1, 80, 10, correct=False), make_row(2, 80, 75),
                 make_row(3, 80, 10), make_row(4, None, 10, parse_ok=False), make_row(5, 80, math.nan))
    pairs, stats = build_pairs(rows, PairsConfig(correct_only=True, min_gap=10))
    assert [p["id"] for p in pairs] == ["q3"]
    assert stats == dict(rows=6, used=5, dropped_unparsed=2, dropped_wrong=1, dropped_equal=0, dropped_gap=1,
                         kept=1, distractor_pairs=0)
    used = stats["kept"] + sum(v for k, v in stats.items() if k.startswith("dropped"))
    assert used == stats["used"]


def test_target_norm():
    pairs, _ = build_pairs(table(make_row(0, 80, 10, c_i_norm=64.5)), PairsConfig(target="c_i_norm"))
    assert pairs[0]["chosen"][0]["content"].endswith("65%") and pairs[0]["c_i_target"] == 65


def test_bad_span_fails_loudly():
    row = make_row(0, 80, 10)
    row["cv_start"] -= 2
    with pytest.raises(ValueError, match="span"):
        build_pairs(table(row), PairsConfig())


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ConfigError, match="unknown parameter"):
        PairsConfig.from_dict({"targett": "c_i"})
    with pytest.raises(ConfigError, match="target"):
        PairsConfig.from_dict({"target": "c_v"})
    with pytest.raises(ConfigError, match="min_gap"):
        PairsConfig.from_dict({"min_gap": "-1"})


EDGE_ROWS = [make_row(0, 80, 36.6), make_row(1, 0, 37.2), make_row(2, 80, 99.6), make_row(3, 100, 0.2),
             make_row(4, 8, 87.1), make_row(5, 87, 8.2), make_row(6, 100, 10), make_row(7, 10, 100),
             make_row(8, 80, 36.6, scale=1.0), make_row(9, 5, 50, scale=1.0), make_row(10, 100, 1, scale=1.0),
             make_row(11, 55, 5, suffix=" (fairly sure)")]


def _tokenizers(tiny_model_dir):
    from transformers import AutoTokenizer

    from dca.models import embedded

    toks = [AutoTokenizer.from_pretrained(str(tiny_model_dir))]
    if embedded.is_installed():
        toks.append(AutoTokenizer.from_pretrained(str(embedded.cache_dir())))
    return toks


def test_tokenised_pairs_differ_only_inside_the_number(tiny_model_dir):
    """Token sequences of chosen and rejected share a prefix and a suffix; the middle is the number."""
    pairs, stats = build_pairs(table(*EDGE_ROWS), PairsConfig())
    assert stats["kept"] == len(EDGE_ROWS)
    rows = {r["id"]: r for r in EDGE_ROWS}
    for tokenizer in _tokenizers(tiny_model_dir):
        for pair in pairs:
            row = rows[pair["id"]]
            for side in ("chosen", "rejected"):
                text = tokenizer.apply_chat_template(pair["prompt"] + pair[side], tokenize=False)
                other = "rejected" if side == "chosen" else "chosen"
                other_text = tokenizer.apply_chat_template(pair["prompt"] + pair[other], tokenize=False)
                enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
                ids = enc["input_ids"]
                other_ids = tokenizer(other_text, add_special_tokens=False)["input_ids"]
                prefix = 0
                while prefix < min(len(ids), len(other_ids)) and ids[prefix] == other_ids[prefix]:
                    prefix += 1
                suffix = 0
                while (suffix < min(len(ids), len(other_ids)) - prefix
                       and ids[-1 - suffix] == other_ids[-1 - suffix]):
                    suffix += 1
                assert prefix > 0 and suffix > 0
                # the number's character span inside the rendered conversation
                content = pair[side][0]["content"]
                at = text.rindex(content)
                start = at + row["cv_start"]
                end = start + len(content) - (len(row["response"]) - row["cv_end"]) - row["cv_start"]
                middle = enc["offset_mapping"][prefix:len(ids) - suffix]
                for lo, hi in middle:
                    # a GPT-2-style pre-tokenizer glues the space before a number to it (" 37"): that space
                    # is the same on both sides; nothing else outside the number may differ
                    outside = text[lo:max(lo, min(hi, start))] + text[max(lo, end):hi]
                    assert outside.strip() == "", (tokenizer.name_or_path, side, text[lo:hi], text[start:end])
                    assert hi > start and lo < end or lo == hi
                assert text[:start] == other_text[:start]
            diff = token_diff(tokenizer, pair)
            assert diff["chosen_middle"] != diff["rejected_middle"]
            assert set((diff["chosen_middle"] + diff["rejected_middle"]).strip()) <= set("0123456789. ")


def test_run_pairs_writes_skips_and_names_the_missing_stage(tmp_path):
    config = PairsConfig(run_dir=str(tmp_path))
    with pytest.raises(artifacts.MissingArtifactError, match="01_confidence_extraction"):
        run_pairs(config)
    artifacts.write_parquet(tmp_path / "stage1.parquet", table(*EDGE_ROWS, make_row(20, 50, 50)))
    out = run_pairs(config)
    assert out == tmp_path / "pairs.jsonl"
    records = load_pairs(tmp_path)
    assert len(records) == len(EDGE_ROWS)
    stats = artifacts.read_json(tmp_path / "pairs_stats.json")
    assert stats["dropped_equal"] == 1 and stats["kept"] == len(EDGE_ROWS)
    prov = artifacts.read_json(artifacts.provenance_path(out))
    assert prov["stage"] == "pairs" and prov["params"]["target"] == "c_i"
    mtime = out.stat().st_mtime_ns
    assert run_pairs(config) == out and out.stat().st_mtime_ns == mtime  # skipped: same parameters
    run_pairs(PairsConfig(run_dir=str(tmp_path), min_gap=50))
    assert len(load_pairs(tmp_path)) < len(EDGE_ROWS)
    with pytest.raises(artifacts.MissingArtifactError, match="02_preference_pairs"):
        load_pairs(tmp_path / "nowhere")


def test_distractors_add_rejected_numbers_around_round_ci_on_train_rows_only():
    rows = pd.DataFrame([
        dict(id="t1", split="train", messages='[{"role": "user", "content": "Q?"}]',
             response="Answer: B\nProbability: 80%", correct=True, c_i=36.6, c_i_norm=50.0, c_v=80.0,
             parse_ok=True, cv_start=23, cv_end=25, cv_scale=100.0),
        dict(id="e1", split="eval", messages='[{"role": "user", "content": "Q?"}]',
             response="Answer: C\nProbability: 90%", correct=False, c_i=12.0, c_i_norm=20.0, c_v=90.0,
             parse_ok=True, cv_start=23, cv_end=25, cv_scale=100.0),
    ])
    config = PairsConfig(distractors=[20, 40])
    pairs, stats = build_pairs(rows, config)
    rejected = [p["rejected"][0]["content"] for p in pairs]
    assert rejected == ["Answer: B\nProbability: 80%", "Answer: B\nProbability: 57%", "Answer: B\nProbability: 17%",
                        "Answer: B\nProbability: 77%", "Answer: B\nProbability: 0%"]
    assert {p["chosen"][0]["content"] for p in pairs} == {"Answer: B\nProbability: 37%"}
    assert [p["rejected_kind"] for p in pairs] == ["own"] + ["distractor"] * 4
    assert [p["rejected_value"] for p in pairs] == [80.0, 57.0, 17.0, 77.0, 0.0]
    assert stats["kept"] == 1 and stats["distractor_pairs"] == 4
    heldout, heldout_stats = build_pairs(rows, config, split="eval")
    assert len(heldout) == 1 and heldout_stats["distractor_pairs"] == 0


def test_distractor_offsets_are_validated():
    with pytest.raises(ConfigError, match="distractors"):
        PairsConfig.from_dict({"distractors": "0"})
    assert PairsConfig.from_dict({"distractors": "20,40"}).distractors == [20, 40]
