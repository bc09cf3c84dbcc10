"""The next-token tables at the confidence number's position (dca.reference.diagnosis)."""

import math

import pytest
import torch

from dca.reference.diagnosis import number_positions


def test_number_positions_cover_the_number_and_the_token_after_it(tiny_model):
    model, tokenizer = tiny_model.model, tiny_model.tokenizer
    prompt, reply = "Question: 2 + 2?\n", "Answer: B\nProbability: 80%"
    start = reply.index("80")
    rows = number_positions(model, tokenizer, prompt, reply, start, start + 2, top_k=3)
    positions = sorted({r["position"] for r in rows})
    assert positions[0] == 0 and len(positions) >= 2  # the number's token(s), then the one after it
    first = [r for r in rows if r["position"] == 0]
    assert [r["rank"] for r in first] == [1, 2, 3]
    assert first[0]["context"] in ("Answer: B\nProbability:", "Answer: B\nProbability: ")
    assert all(first[i]["prob"] >= first[i + 1]["prob"] for i in range(2))
    # against an independent full forward: the written token's probability at the first position
    ids = tokenizer(prompt + reply, add_special_tokens=False)["input_ids"]
    n_before = len(tokenizer(prompt + first[0]["context"], add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    assert first[0]["written_prob"] == pytest.approx(float(probs[n_before - 1, ids[n_before]]), rel=1e-5)
    assert all(math.isfinite(r["prob"]) for r in rows)


def test_a_span_with_no_token_gives_no_rows(tiny_model):
    assert number_positions(tiny_model.model, tiny_model.tokenizer, "Q\n", "Answer: B", 100, 102) == []
