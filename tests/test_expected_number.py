"""The expected readout of a stated confidence: the mean of 0-100 under the model's own distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dca.config import ConfigError
from dca.evaluate.expected_number import (
    NUMBERS,
    continuation_ids,
    expected_numbers,
    number_distribution,
    trie_levels,
)

#: A toy vocabulary: a space, ten digits, the percent sign and a word.
SPACE, PERCENT, WORD = 10, 11, 12
DIGITS = {str(d): d for d in range(10)}


def toy_sequences() -> dict[int, tuple[int, ...]]:
    """The trie of " N" on a tokenizer that writes a space, then one token per digit (as Qwen2.5 does)."""
    return {n: (SPACE, *(DIGITS[c] for c in str(n))) for n in NUMBERS}


def peaked(n: int, vocab: int = 13) -> dict[tuple[int, ...], np.ndarray]:
    """Next-token log-probabilities that write " n" and then stop, with certainty (1e-12 elsewhere)."""
    seqs = toy_sequences()
    out = {}
    for path in (p for level in trie_levels(seqs) for p in level):
        probs = np.full(vocab, 1e-12)
        target = seqs[n]
        probs[target[len(path)] if target[:len(path)] == path and len(path) < len(target) else PERCENT] = 1.0
        out[path] = np.log(probs / probs.sum())
    return out


@pytest.mark.parametrize("n", [0, 1, 7, 10, 19, 85, 100])
def test_a_model_certain_of_one_number_reads_that_number(n):
    """Confidence exactly 0 and 100 included; 1 and 10 are prefixes of other numbers, 100 of none."""
    p, mass = number_distribution(peaked(n), toy_sequences())
    assert mass == pytest.approx(1.0, abs=1e-6)
    assert float(np.asarray(NUMBERS) @ p) == pytest.approx(n, abs=1e-6)


def test_the_trie_needs_one_pass_per_level_on_a_digit_tokenizer():
    levels = trie_levels(toy_sequences())
    assert [len(level) for level in levels] == [1, 1, 9, 1]  # (), " ", " 1" … " 9", " 10" (for 100)
    assert levels[3] == [(SPACE, 1, 0)]


def test_even_odds_on_0_and_100_read_50_and_mass_outside_the_numbers_is_dropped():
    seqs = toy_sequences()
    lp = peaked(100)
    root = np.full(13, 1e-12)
    root[[SPACE, WORD]] = 0.5  # half the mass writes a word, not a number
    lp[()] = np.log(root / root.sum())
    space = np.full(13, 1e-12)
    space[[0, 1]] = 0.5
    lp[(SPACE,)] = np.log(space / space.sum())
    p, mass = number_distribution(lp, seqs)
    assert mass == pytest.approx(0.5, abs=1e-6)
    assert float(np.asarray(NUMBERS) @ p) == pytest.approx(50.0, abs=1e-6)


def test_no_mass_on_any_number_reads_the_uniform_mean():
    seqs = {0: (1,), 100: (2,)}
    p, mass = number_distribution({(): np.log(np.array([1.0, 1e-300, 1e-300]))}, seqs)
    assert mass == pytest.approx(0.0, abs=1e-200) and p.tolist() == [0.5, 0.5]


def test_the_readout_equals_scoring_each_number_on_its_own(tiny_model):
    """The cached trie passes against an independent brute force: each of the 101 continuations scored by a
    full forward pass of its own, the end probability taken the same way."""
    import torch

    model, tok = tiny_model.model, tiny_model.tokenizer
    seqs = continuation_ids(tok)
    contexts = ["Question: Which is larger? A) 3 B) 5\nAnswer: B\nProbability:", "Answer: A\nProbability:"]
    fast = expected_numbers(model, tok, contexts, progress=False)
    for context, (value, mass) in zip(contexts, fast):
        ids = tok(context, return_tensors="pt", add_special_tokens=False)["input_ids"]
        q = []
        for s in seqs.values():
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.cat([ids, torch.tensor([s])], 1)).logits[0].float(), -1)
            start = ids.shape[1] - 1
            logp = sum(lp[start + t, token].item() for t, token in enumerate(s))
            longer = {o[len(s)] for o in seqs.values() if len(o) > len(s) and o[:len(s)] == s}
            end = 1.0 - lp[-1, sorted(longer)].exp().sum().item() if longer else 1.0
            q.append(math.exp(logp) * end)
        q_arr = np.asarray(q)
        assert mass == pytest.approx(q_arr.sum(), rel=1e-4)
        assert value == pytest.approx(float(np.asarray(list(seqs)) @ (q_arr / q_arr.sum())), abs=1e-3)
        assert 0.0 <= value <= 100.0


def test_batched_prefills_on_a_shared_prefix_read_what_each_context_reads_alone(tiny_model, monkeypatch):
    """Contexts of different lengths on one long common prefix, two to a batch, each trie pass split into
    chunks of three rows: the same values and masses as one context at a time with no shared prefix."""
    from dca.evaluate import expected_number

    model, tok = tiny_model.model, tiny_model.tokenizer
    system = "You answer multiple-choice questions and say how sure you are. " * 3
    contexts = [system + q + "\nAnswer: B\nProbability:" for q in
                ("Which is larger? A) 3 B) 5", "Pick one. A) cat B) dog C) a bird that sings", "Odd? A) 2 B) 7",
                 "Which planet is closest to the sun? A) Venus B) Mercury C) Mars D) Earth", "Two? A) 1 B) 2")]
    alone = expected_numbers(model, tok, contexts, batch_size=1, share_prefix=False, progress=False)
    monkeypatch.setattr(expected_number, "ROWS_PER_PASS", 3)
    batched = expected_numbers(model, tok, contexts, batch_size=2, progress=False)
    for (v1, m1), (v2, m2) in zip(alone, batched):
        assert v2 == pytest.approx(v1, abs=1e-3) and m2 == pytest.approx(m1, rel=1e-4)
    assert expected_numbers(model, tok, [], progress=False) == []


def test_a_tokenizer_that_rewrites_the_head_is_refused():
    class Merging:  # writes "Probability:" differently when a number follows
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [1, 2] if text == "Probability:" else [1, 3, 4]}

    with pytest.raises(ValueError, match="differently before ' 0'"):
        continuation_ids(Merging())


def test_readout_is_checked_in_both_stages_and_stays_out_of_old_fingerprints():
    from dca.evaluate.stage import EvalConfig, fingerprint_exclude
    from dca.evaluate.transfer import TransferConfig

    for cls in (EvalConfig, TransferConfig):
        with pytest.raises(ConfigError, match="readout='mean' is not one of greedy, expected"):
            cls(readout="mean").validate()
        cls(readout="expected").validate()
    assert "readout" in fingerprint_exclude(EvalConfig()) and "readout" not in fingerprint_exclude(
        EvalConfig(readout="expected"))


def test_state_confidence_with_the_expected_readout(format_model_dir):
    """The base model's answers and C_i stay; each number is the rounded expected one after the same head,
    written as a whole percentage; a row without a number is left as it is; an unknown readout is refused."""
    from dca.data import synthetic_questions
    from dca.evaluate.confidence_adapter import reply_head, state_confidence
    from dca.extract.stage import extract_table
    from dca.models.loading import load_model

    loaded = load_model(str(format_model_dir), device="cpu", dtype="float32")
    model, tok = loaded.model, loaded.tokenizer
    base = extract_table(model, tok, synthetic_questions(6, seed=4), ["eval"] * 6, k_shot=0, batch_size=3,
                         max_new_tokens=12, progress=False)
    base.loc[0, ["letter", "cv_start"]] = [None, -1]
    stated = state_confidence(model, tok, base, progress=False, readout="expected")
    assert stated.loc[0].equals(base.loc[0])
    asked = [k for k in range(1, 6) if base.at[k, "cv_start"] >= 0]
    assert asked
    contexts = [base.at[k, "prompt"] + reply_head(base.at[k, "response"], int(base.at[k, "cv_start"])) for k in asked]
    for k, (value, _) in zip(asked, expected_numbers(model, tok, contexts, progress=False)):
        b, s = base.loc[k], stated.loc[k]
        assert (s["letter"], s["c_i"], s["correct"]) == (b["letter"], b["c_i"], b["correct"])
        assert s["c_v"] == round(value) and s["response"].endswith(f" {round(value)}%") and s["parse_ok"]
    with pytest.raises(ValueError, match="readout='sampled' is not one of greedy, expected"):
        state_confidence(model, tok, base, progress=False, readout="sampled")
