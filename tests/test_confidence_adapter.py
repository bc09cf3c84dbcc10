"""The confidence adapter (the base model answers, the adapter states the number) and the stop rule that
ends generation once a reply is complete."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dca.cli import main as cli_main
from dca.config import ConfigError
from dca.evaluate.confidence_adapter import answer_then_state, reply_head, state_confidence
from dca.evaluate.stage import EvalConfig, load_eval
from dca.evaluate.transfer import TransferConfig
from dca.extract.elicit import ReplyComplete
from dca.extract.parsing import parse_confidence, parse_letter, reply_complete
from dca.extract.stage import load_stage1
from dca.paths import ROOT

LETTERS = "ABCDE"


def parsed(text: str) -> tuple:
    """What the parsers read from a reply (NaN as a string, so that equal readings compare equal)."""
    letter, conf = parse_letter(text, LETTERS), parse_confidence(text)
    return letter.letter, letter.reason, str(conf.value), conf.reason, conf.start, conf.end, conf.scale


def first_complete(text: str) -> int | None:
    """The shortest prefix length at which ``text`` is complete (None if never)."""
    return next((n for n in range(1, len(text) + 1) if reply_complete(text[:n])), None)


def test_stopping_where_a_committed_reply_is_complete_reads_the_same_letter_and_number():
    """Every reply of the objectives study (12,800, written by 14 adapters, collapsed formats included):
    cut where the stop rule would have ended it, it parses exactly as the whole reply does."""
    frame = pd.read_csv(ROOT / "book" / "data" / "study_questions.csv", usecols=["reply_before", "reply_after"])
    replies = pd.unique(frame[["reply_before", "reply_after"]].fillna("").to_numpy().ravel())
    stopped = 0
    for reply in replies:
        cut = first_complete(reply)
        if cut is not None:
            assert parsed(reply[:cut].strip()) == parsed(reply), reply
            stopped += cut < len(reply.rstrip())
    assert len(replies) > 1000 and stopped > 0  # some replies ran on after their confidence line


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Answer", ":", " ", "B", "E", "\n", "Probability", "80", ".5", "%", "percent",
                                 "confidence", "ob", "-", "Answer: A lot", "(", ")", "1", "0.8"]), max_size=14),
       st.lists(st.sampled_from(["%", "ob", " B", "\n", "Answer: C", "9", "Probability: 3%"]), max_size=6))
def test_text_appended_to_a_complete_reply_never_changes_its_reading(head, tail):
    text = "".join(head)
    if reply_complete(text):
        assert parsed(text + "".join(tail)) == parsed(text)


def test_the_stopping_criterion_marks_each_row(tiny_model):
    tok = tiny_model.tokenizer
    rows = ["Answer: B\nProbability: 80%", "Answer: B\nProbability: 80", " 80%"]
    ids = [tok("<|im_start|>" + r, add_special_tokens=False)["input_ids"] for r in rows]
    width = max(map(len, ids))
    pad = tok.pad_token_id
    import torch

    batch = torch.tensor([[pad] * (width - len(i)) + i for i in ids])
    start = 0
    done = ReplyComplete(tok, start, ["", "", "Answer: A\nProbability:"])(batch, None)
    assert done.tolist() == [True, False, True]  # the third row completes the head it continues


def test_reply_head_cuts_before_the_number_and_its_space():
    text = "Answer: C\nProbability: 35%"
    assert reply_head(text, parse_confidence(text).start) == "Answer: C\nProbability:"
    assert reply_head("Answer: C", parse_confidence("Answer: C").start) is None


def test_answer_with_is_checked_in_both_stages():
    for cls in (EvalConfig, TransferConfig):
        with pytest.raises(ConfigError, match="answer_with='merged' is not one of adapter, base"):
            cls(answer_with="merged").validate()
    # at its default the parameter stays out of the fingerprint: older evaluations are still found done
    from dca.evaluate.stage import fingerprint_exclude

    assert "answer_with" in fingerprint_exclude(EvalConfig()) and "answer_with" not in fingerprint_exclude(
        EvalConfig(answer_with="base"))


def _peft(model_dir):
    from peft import LoraConfig, get_peft_model

    from dca.models.loading import load_model

    loaded = load_model(str(model_dir), device="cpu", dtype="float32")
    return get_peft_model(loaded.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])), loaded.tokenizer


@pytest.mark.slow
def test_a_no_op_adapter_states_exactly_the_base_models_numbers(format_model_dir):
    """LoRA starts as the identity (B = 0): the adapter's continuation of each base reply's head must be
    the base model's own number, token for token, which checks the head, the prompt text and the order."""
    from dca.data import synthetic_questions

    model, tok = _peft(format_model_dir)
    questions = synthetic_questions(10, seed=3)
    base, stated = answer_then_state(model, tok, questions, batch_size=4, max_new_tokens=12, progress=False)
    asked = base["cv_start"] >= 0
    assert asked.sum() >= 8  # the format model states a number on (nearly) every question
    assert list(stated["response"]) == list(base["response"])
    assert stated["c_v"].equals(base["c_v"]) and stated["parse_ok"].equals(base["parse_ok"])


@pytest.mark.slow
def test_state_confidence_keeps_answers_and_restates_numbers(format_model_dir):
    import torch

    model, tok = _peft(format_model_dir)
    from dca.data import synthetic_questions

    questions = synthetic_questions(8, seed=5)
    with model.disable_adapter():
        from dca.extract.stage import extract_table

        base = extract_table(model, tok, questions, ["eval"] * 8, k_shot=0, batch_size=4, max_new_tokens=12,
                             progress=False)
    base.loc[0, ["letter", "cv_start"]] = [None, -1]  # a reply without a letter: left as it is
    with torch.no_grad():  # an adapter that changes the model
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.5)
    stated = state_confidence(model, tok, base, batch_size=4, progress=False)
    assert stated.loc[0].equals(base.loc[0])
    for k in range(1, 8):
        b, s = base.loc[k], stated.loc[k]
        assert (s["letter"], s["c_i"], s["correct"]) == (b["letter"], b["c_i"], b["correct"])
        head = reply_head(b["response"], int(b["cv_start"]))
        assert s["response"].startswith(head)
        conf = parse_confidence(s["response"])
        assert (math.isnan(conf.value) and math.isnan(s["c_v"])) or conf.value == s["c_v"]
        assert s["parse_ok"] == (conf.ok and parse_letter(s["response"], LETTERS[:4]).letter == b["letter"])
    assert not stated["response"].equals(base["response"])
    assert state_confidence(model, tok, base.iloc[0:0]).empty


@pytest.mark.slow
def test_evaluate_and_transfer_answer_with_base(format_model_dir, tmp_path):
    """The stages with ``answer_with=base``: the base model's letters, correctness and C_i on every
    question (so accuracy does not move), each number stated by the adapter after the base reply's head."""
    import json

    run_dir, store = tmp_path / "run", tmp_path / "r.csv"
    common = ["profile=none", f"run_dir={run_dir}", "device=cpu", f"results_store={store}"]
    assert cli_main(["run", *common, f"model={format_model_dir}", "n_questions=16", "n_eval=8", "k_shot=0",
                     "max_new_tokens=12", "extract.batch_size=8", "train.max_steps=2", "train.batch_size=2",
                     "train.max_length=256", "train.learning_rate=0.01", "evaluate.n_boot=20"]) == 0
    assert cli_main(["evaluate", *common, "answer_with=base", "n_boot=20", "batch_size=4"]) == 0
    stage1 = load_stage1(run_dir)
    before = stage1[stage1["split"] == "eval"].reset_index(drop=True)
    after = load_eval(run_dir)
    for col in ("id", "letter", "correct", "c_i"):
        assert after[col].equals(before[col]), col
    for b, a in zip(before.itertuples(), after.itertuples()):
        if b.cv_start >= 0 and isinstance(b.letter, str):
            assert a.response.startswith(reply_head(b.response, b.cv_start))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["accuracy_all"]["before"] == metrics["accuracy_all"]["after"]
    provenance = json.loads((run_dir / "eval.parquet.provenance.json").read_text())
    assert provenance["params"]["answer_with"] == "base"

    questions = tmp_path / "other.jsonl"
    pd.DataFrame([{"id": f"o{i}", "question": f"Which number is {i}?", "choices": [str(i + k) for k in range(5)],
                   "answer": 0} for i in range(6)]).to_json(questions, orient="records", lines=True)
    transfer = ["transfer", *common, f"questions={questions}", "n_questions=6", "n_boot=20", "batch_size=4"]
    assert cli_main([*transfer, "answer_with=base"]) == 0
    from dca.evaluate.transfer import load_transfer

    t_before, t_after, result = load_transfer(run_dir, str(questions))
    assert t_after["letter"].equals(t_before["letter"]) and t_after["c_i"].equals(t_before["c_i"])
    assert result["accuracy_all"]["before"] == result["accuracy_all"]["after"]
    # the adapter's whole replies are another evaluation: asked for, the after table is made again
    assert cli_main(transfer) == 0
    from dca.evaluate.transfer import transfer_files

    metrics = transfer_files(run_dir, str(questions)).metrics
    assert json.loads(metrics.with_name(metrics.name + ".provenance.json").read_text())["params"]["answer_with"] == "adapter"


def test_the_keeping_table_reads_the_recipe_jobs_rows():
    from dca.report.keeping import keeping_table
    from dca.report.recipes import recipe_jobs

    def row(job, method, metric, value, dataset="mean"):
        return {"job": job, "dataset": dataset, "method": method, "metric": metric, "value": value,
                "seed": 0, "objective": job.split("-", 1)[1] if "-" in job else "vanilla"}

    rows = pd.DataFrame([row("seed0", "vanilla", "rho", 0.24), row("seed0", "vanilla", "rho", 0.17, "commonsenseqa"),
                         row("seed0-sft-num-base", "sft-num-base", "rho", 0.55),
                         row("seed0-sft-num-base", "sft-num-base", "rho", 0.6, "commonsenseqa"),
                         row("seed0-sft-num-base", "sft-num-base", "mean_abs_eps", 11.8),
                         row("seed0-sft-num-base", "sft-num-base", "whole_percent", 100.0),
                         row("qwen05-seed0-sft-num-base", "sft-num-base", "rho", 0.9)])
    assert recipe_jobs(rows) == ["seed0-sft-num-base"]  # a second model's recipe job is not the study model's
    first = keeping_table(rows).iloc[0]
    assert (first["objective"], first["ρ held out"], first["ρ transfer"]) == (
        "confidence adapter (SFT on the number)", "0.24→0.55", "0.17→0.60")
    # a job run in another precision than its seed's committed stage 1 is compared with its own base model
    rows["diff"] = [None, None, 0.25, 0.4, None, None, None]
    rows["dtype"] = ["bfloat16", "bfloat16", "float32", "float32", "float32", "float32", ""]
    first = keeping_table(rows).iloc[0]
    assert (first["objective"], first["ρ held out"], first["ρ transfer"]) == (
        "confidence adapter (SFT on the number), float32", "0.30→0.55", "0.20→0.60")
    # a second seed of the same adapter is a second row
    seed1 = rows[rows["job"] == "seed0-sft-num-base"].assign(job="seed1-sft-num-base", seed=1)
    assert keeping_table(pd.concat([rows, seed1]))["seed"].tolist() == ["0", "1"]


def test_the_verdict_counts_a_confidence_adapter_apart_and_says_when_it_misses_nothing(monkeypatch):
    from dca.report import study_sentences

    table = pd.DataFrame({"objective": ["sft-num", "sft-num-base"], "seeds run": [3, 1], "ρ rises": ["3/3", "1/1"],
                          "accuracy kept": ["1/3", "1/1"], "works": ["no", "not judged"]})
    monkeypatch.setattr(study_sentences, "verdict_table", lambda results: table)
    results = pd.DataFrame({"seed": [0, 1, 2], "dataset": "mean", "method": "x", "metric": "rho", "value": 0.1,
                            "job": "seed0-x"})
    sentence = study_sentences.verdict_sentence(results)
    assert "(1 objective trained and 1 confidence adapter judged so far)" in sentence
    assert "confidence adapter (SFT on the number) (1 seed; every condition holds so far)" in sentence
    assert "misses: )" not in sentence and sentence.endswith("SFT on the number (ρ 3/3, accuracy 1/3).")


def test_the_sweep_sentence_lines_up_the_anchor_weights_per_seed_and_concludes_only_when_every_seed_agrees():
    from dca.report.keeping import sweep_sentence

    def rows(seed, objective, rho, letters):
        return [{"job": f"seed{seed}-{objective}", "seed": seed, "dataset": "mean", "objective": objective,
                 "method": objective, "metric": m, "value": v} for m, v in (("rho", rho), ("letter_changed", letters))]

    assert sweep_sentence(pd.DataFrame()) == ""
    one = pd.DataFrame(rows(0, "sft-num-kl", 0.46, 4.2) + rows(0, "sft-num-kl-line", 0.9, 1.0))
    assert sweep_sentence(one) == ""  # one weight on the letter; the line anchor is not a point of this sweep
    seed0 = rows(0, "sft-num-kl", 0.46, 4.2) + rows(0, "sft-num-kl3", 0.53, 4.2) + rows(0, "sft-num", 0.7, 13.2)
    text = sweep_sentence(pd.DataFrame(seed0))
    assert text.startswith("The anchor's weight, lightest first, on seed 0: weights 3 and 10, held-out ρ 0.53 and "
                           "0.46, answer letters changed 4.2 and 4.2 % (13.2 % without the anchor).")
    assert text.endswith("The lighter the anchor, the higher ρ, while the share of letters it changes stays within 2 "
                         "points.")
    # a seed where the lighter anchor moves many more letters: the points are listed, the conclusion is not drawn
    seed1 = rows(1, "sft-num-kl", 0.5, 4.0) + rows(1, "sft-num-kl1", 0.6, 9.0)
    text = sweep_sentence(pd.DataFrame(seed0 + seed1))
    assert "; on seed 1: weights 1 and 10, held-out ρ 0.60 and 0.50, answer letters changed 9.0 and 4.0 %." in text
    assert "The lighter the anchor" not in text
