"""Stage 1 on the tiny random model (seconds) and on the embedded SmolLM2-135M (marked)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from dca.cli import main as cli_main
from dca.config import ConfigError
from dca.data import load_questions
from dca.extract.confidence import LetterQuery, internal_confidence, letter_token_ids
from dca.extract.elicit import generate_replies
from dca.extract.prompts import build_messages, render_prompt
from dca.extract.stage import COLUMNS, ExtractConfig, extract_table, summarize
from dca.extract.stage import run as run_extract


def _queries(tokenizer, n=6):
    questions = load_questions("synthetic", n=n, seed=3)
    out = []
    for j, q in enumerate(questions):
        # k_shot varies, so prompts have clearly different lengths
        prompt = render_prompt(tokenizer, build_messages(q.question, q.choices, k_shot=j % 4))
        out.append(LetterQuery(prompt + "Answer:", q.letters[j % len(q.letters)], q.letters))
    return out


def _one_at_a_time(model, tokenizer, query):
    """An independent plain computation: no padding, no cache, full softmax."""
    ctx, ids = letter_token_ids(tokenizer, query.context, query.options)
    with torch.no_grad():
        logits = model(torch.tensor([ctx])).logits[0, -1].double()
    p = torch.softmax(logits, -1)
    return 100 * p[ids[query.letter]].item(), 100 * (p[ids[query.letter]] / p[[ids[o] for o in query.options]].sum()).item()


@pytest.mark.parametrize("share_prefix", [True, False])
@pytest.mark.parametrize("pack", [True, False])
def test_batched_c_i_equals_one_at_a_time(tiny_model, share_prefix, pack):
    model, tok = tiny_model.model, tiny_model.tokenizer
    queries = _queries(tok)
    assert len({len(q.context) for q in queries}) > 1
    batched = internal_confidence(model, tok, queries, batch_size=4, share_prefix=share_prefix, pack=pack,
                                  progress=False)
    for q, got in zip(queries, batched):
        c_i, c_norm = _one_at_a_time(model, tok, q)
        assert got.c_i == pytest.approx(c_i, abs=1e-4)
        assert got.c_i_norm == pytest.approx(c_norm, abs=1e-4)
        assert 0 <= got.c_i <= got.c_i_norm <= 100


def test_packed_c_i_takes_the_packed_path_and_one_query(tiny_model, monkeypatch):
    """The tiny model's attention takes a 4-D mask, so the packed path runs (not the padded one), and a
    batch of one context packs to that context alone."""
    import dca.extract.confidence
    from dca.extract.prefix import packable

    assert packable(tiny_model.model)
    monkeypatch.setattr(dca.extract.confidence, "pad_batch", None)  # calling it would fail
    queries = _queries(tiny_model.tokenizer, n=1)
    got = internal_confidence(tiny_model.model, tiny_model.tokenizer, queries, progress=False)[0]
    c_i, c_norm = _one_at_a_time(tiny_model.model, tiny_model.tokenizer, queries[0])
    assert got.c_i == pytest.approx(c_i, abs=1e-4) and got.c_i_norm == pytest.approx(c_norm, abs=1e-4)


def test_pack_batch_rejects_empty_remainders():
    from dca.extract.prefix import pack_batch

    with pytest.raises(ValueError, match="at least one token"):
        pack_batch([[1, 2], []], prefix_len=3)
    with pytest.raises(ValueError, match="at least one token"):
        pack_batch([], prefix_len=3)


def test_c_i_none_query_is_nan_with_reason(tiny_model):
    out = internal_confidence(tiny_model.model, tiny_model.tokenizer, [None], progress=False)
    assert math.isnan(out[0].c_i) and out[0].reason == "no_letter"


def test_letter_tokens_come_from_tokenizer(tiny_model):
    tok = tiny_model.tokenizer
    ctx, ids = letter_token_ids(tok, "Answer: ", ("A", "B"))
    assert tok.decode([ids["B"]]) == " B"  # the space belongs to the letter's token
    ctx2, ids2 = letter_token_ids(tok, "Answer:\n", ("A", "B"))
    assert tok.decode([ids2["A"]]).strip() == "A"


def test_generation_same_with_and_without_shared_prefix(tiny_model):
    tok = tiny_model.tokenizer
    qs = load_questions("synthetic", n=5, seed=1)
    prompts = [render_prompt(tok, build_messages(q.question, q.choices, k_shot=2)) for q in qs]
    a = generate_replies(tiny_model.model, tok, prompts, batch_size=2, max_new_tokens=6, progress=False)
    b = generate_replies(tiny_model.model, tok, prompts, batch_size=3, max_new_tokens=6, share_prefix=False, progress=False)
    assert a == b and len(a) == 5


def test_extract_table_with_a_model_that_never_follows_the_format(tiny_model):
    qs = load_questions("synthetic", n=4, seed=0)
    table = extract_table(tiny_model.model, tiny_model.tokenizer, qs, ["train", "train", "eval", "eval"],
                          k_shot=1, batch_size=2, max_new_tokens=4, progress=False)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 4
    failed = table[~table["parse_ok"]]
    assert (failed["parse_reason"] != "ok").all()  # every failure carries a reason
    assert table.loc[table["letter"].isna(), "c_i"].isna().all()
    assert summarize(table)["n"] == 4


def test_run_extract_writes_table_and_provenance(tiny_model_dir, tmp_path):
    config = ExtractConfig.from_dict(dict(run_dir=str(tmp_path), model=str(tiny_model_dir), n_questions=6,
                                          n_eval=2, k_shot=1, max_new_tokens=4, batch_size=4))
    out = run_extract(config, progress=False)
    table = pd.read_parquet(out)
    assert (table["split"] == "eval").sum() == 2 and len(table) == 6
    assert set(table["id"][table["split"] == "train"]).isdisjoint(table["id"][table["split"] == "eval"])
    prov = json.loads((tmp_path / "stage1.parquet.provenance.json").read_text())
    assert prov["params"]["n_questions"] == 6 and prov["packages"]["torch"].startswith("2.13")
    assert "git_commit" in prov and "summary" in prov
    mtime = out.stat().st_mtime_ns
    run_extract(config, progress=False)  # same parameters: skipped
    assert out.stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob(".*tmp"))  # no half-written files left


def test_prompt_is_the_exact_text(tiny_model):
    tok = tiny_model.tokenizer
    msgs = build_messages("2 + 2?", ["3", "4"], k_shot=0)
    text = render_prompt(tok, msgs)
    assert text.endswith("<|im_start|>assistant\n") and "A) 3\nB) 4" in text


@pytest.mark.parametrize("args, needle", [
    (["extract", "n_question=3"], "unknown parameter 'n_question'"),
    (["extract", "batch_size=abc"], "batch_size='abc' is not an integer"),
    (["extract", "n_questions=10", "n_eval=10"], "n_eval=10 must be smaller"),
    (["run", "train.bta=1"], "unknown parameter 'bta' for stage 'train'"),
    (["run", "profile=nope"], "unknown profile 'nope'"),
    (["fly"], "unknown command 'fly'"),
])
def test_cli_errors_name_the_bad_value(args, needle, capsys):
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "valid" in err or needle in err


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="k_shot"):
        ExtractConfig.from_dict({"k_shot": 9})
    with pytest.raises(ConfigError, match="dtype|n_eval"):
        ExtractConfig.from_dict({"n_eval": 0})


@pytest.mark.embedded
def test_embedded_model_follows_the_format(embedded_model):
    qs = load_questions("synthetic", n=8, seed=0)
    table = extract_table(embedded_model.model, embedded_model.tokenizer, qs, ["eval"] * 8, k_shot=3,
                          batch_size=8, progress=False)
    assert table["letter"].notna().mean() >= 0.75  # the 3-shot prompt makes it answer with a letter
    ok = table[table["letter"].notna()]
    assert ((ok["c_i"] > 0) & (ok["c_i"] <= ok["c_i_norm"]) & (ok["c_i_norm"] <= 100)).all()
    assert np.isfinite(table.loc[table["parse_ok"], "c_v"]).all()


def test_c_i_from_the_generation_pass_equals_a_separate_pass(format_model_dir):
    """One prefill per question: C_i read at the step where the letter was generated agrees with the
    second forward over prompt + reply (fp32, within 1e-4 in probability)."""
    from dca.models.loading import load_model

    lm = load_model(str(format_model_dir), device="cpu", dtype="float32")
    qs = load_questions("synthetic", n=10, seed=4)
    kw = dict(k_shot=0, batch_size=4, max_new_tokens=12, progress=False)
    one = extract_table(lm.model, lm.tokenizer, qs, ["eval"] * 10, one_pass=True, **kw)
    two = extract_table(lm.model, lm.tokenizer, qs, ["eval"] * 10, one_pass=False, **kw)
    assert list(one["response"]) == list(two["response"])
    read = one["ci_pass"] == "generation"
    assert read.sum() >= 5 and set(two["ci_pass"]) <= {"separate", "none"}
    assert (one.loc[~read & one["letter"].notna(), "ci_pass"] == "separate").all()  # the fallback
    for col in ("c_i", "c_i_norm"):
        diff = (one.loc[read, col] - two.loc[read, col]).abs() / 100
        assert diff.max() < 1e-4, (col, diff.max())


def write_questions(path, offset: int = 0) -> None:
    rows = [{"id": f"q{i}", "question": f"What is {i + offset} + 1?", "choices": [str(i + offset), str(i + offset + 1)],
             "answer": 1} for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_changed_data_file_is_not_served_from_the_old_table(tiny_model_dir, tmp_path):
    data = tmp_path / "mine.jsonl"
    write_questions(data)
    config = ExtractConfig.from_dict(dict(run_dir=str(tmp_path / "run"), model=str(tiny_model_dir), dataset=str(data),
                                          n_questions=6, n_eval=2, k_shot=0, max_new_tokens=4, batch_size=6))
    out = run_extract(config, progress=False)
    write_questions(data, offset=100)  # same path, other questions
    run_extract(config, progress=False)
    assert any("What is 100 + 1?" in q for q in pd.read_parquet(out)["prompt"])
    prov = json.loads((tmp_path / "run" / "stage1.parquet.provenance.json").read_text())
    assert list(prov["input_content"]) == [f"dataset:{data}", f"model:{tiny_model_dir}"]


def test_model_folder_fingerprint_covers_its_weights_and_registry_names_keep_theirs(tmp_path):
    from dca.runs import artifacts

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights-1")
    before = artifacts.local_content("synthetic", str(folder))
    (folder / "model.safetensors").write_bytes(b"weights-2")
    after = artifacts.local_content("synthetic", str(folder))
    assert before != after and list(after) == [f"model:{folder}"]
    # registry datasets and Hub ids: the fingerprint of before this change (packaged short names carry
    # their converted weights' record: tests/test_model_cache.py)
    for dataset, model in [("openbookqa+mmlu+arc_challenge", "org/model"),
                           ("mmlu", "HuggingFaceTB/SmolLM2-135M-Instruct")]:
        assert artifacts.local_content(dataset, model) == {}
        assert artifacts.with_content("abcd", {}) == "abcd"


def test_content_hashes_are_cached_by_size_and_times(tmp_path, monkeypatch):
    import os

    from dca.runs import artifacts

    monkeypatch.setenv("DCA_HASH_CACHE", str(tmp_path / "hashes.json"))
    monkeypatch.setattr(artifacts, "_HASHES", {})
    data = tmp_path / "big.bin"
    data.write_bytes(b"a" * 1000)
    first = artifacts.content_hash(data)
    monkeypatch.setattr(artifacts, "_HASHES", {})  # a new process: only the file cache remains
    monkeypatch.setattr(artifacts.hashlib, "sha256", lambda: pytest.fail("hashed again"))
    assert artifacts.content_hash(data) == first  # the cache answers
    monkeypatch.undo()
    monkeypatch.setenv("DCA_HASH_CACHE", str(tmp_path / "hashes.json"))
    stat = data.stat()
    data.write_bytes(b"b" * 1000)  # same size; put the old mtime back: the change time still differs
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setattr(artifacts, "_HASHES", {})
    assert artifacts.content_hash(data) != first


def _head_matmuls(model, ids) -> list[str]:
    """The aten products whose operands hold the output projection's vocabulary dimension."""
    vocab = model.get_output_embeddings().out_features
    with torch.inference_mode(), torch.profiler.profile(record_shapes=True) as prof:
        model(input_ids=ids, logits_to_keep=1)
    return [e.name for e in prof.events() if e.name in ("aten::mm", "aten::bmm", "aten::addmm")
            and any(vocab in shape for shape in e.input_shapes)]


def test_frozen_model_projects_the_last_position_with_one_product(tiny_model_dir):
    """Frozen weights (a merged adapter's) and a sliced last position: without the contiguous copy,
    torch.matmul copies the vocab x d weight once per row (bmm); with it, one mm, the same logits."""
    from dca.models.loading import load_model

    model = load_model(str(tiny_model_dir), device="cpu", dtype="float32").model
    model.requires_grad_(False)
    ids = torch.randint(3, 50, (3, 7))
    assert _head_matmuls(model, ids) == ["aten::mm"]
    with torch.inference_mode():
        kept = model(input_ids=ids, logits_to_keep=1).logits
        full = model(input_ids=ids).logits[:, -1:]
    torch.testing.assert_close(kept, full)
    plain = load_model(str(tiny_model_dir), device="cpu", dtype="float32").model
    plain.get_output_embeddings()._forward_pre_hooks.clear()  # what the hook prevents
    plain.requires_grad_(False)
    assert "aten::bmm" in _head_matmuls(plain, ids)


def test_a_question_longer_than_the_context_is_rejected_naming_it(tiny_model_dir, tmp_path, capsys):
    """A 200 kB question: one line naming the row, before any generation (no 29 GB allocation)."""
    data = tmp_path / "q.jsonl"
    rows = [{"id": f"q{i}", "question": f"What is {i} + 1?", "choices": [str(i), str(i + 1)], "answer": 1}
            for i in range(5)]
    rows[3] = {**rows[3], "question": "why " * 50_000}
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli_main(["extract", "profile=none", f"dataset={data}", f"run_dir={tmp_path / 'run'}", f"model={tiny_model_dir}",
                     "n_questions=5", "n_eval=2", "k_shot=0", "max_new_tokens=4", "device=cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: question 'q3'") and "context of 2048 tokens" in err
    assert not (tmp_path / "run" / "stage1.parquet").exists()
