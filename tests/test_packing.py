"""dca.packing: pre-packed bf16 weights give the same logits and replies as the plain layers (on these
small layers oneDNN runs the same kernel both ways; on a 1.5B model bf16 rounding can differ)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dca import packing
from dca.models import load_model

BF16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
pytestmark = pytest.mark.skipif(not BF16, reason="needs oneDNN bf16 kernels on this CPU")


def qwen2_tiny(tmp_path):
    """A tiny random Qwen2 (biases on q, k, v; output projection tied to the embedding)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16).eval()
    return model


def test_packed_linear_matches_the_plain_layer_and_keeps_its_weight():
    torch.manual_seed(0)
    linear = nn.Linear(48, 80, bias=True).to(torch.bfloat16)
    x = torch.randn(3, 7, 48, dtype=torch.bfloat16)
    packed = packing.PackedLinear(linear)
    with torch.inference_mode():
        assert torch.equal(packed(x), linear(x))
    assert torch.equal(packed.weight, linear.weight) and packed.plain is None
    assert "packed" in repr(packed)


def test_qwen2_logits_are_identical_packed_and_the_tied_head_keeps_its_weight(tmp_path):
    model = qwen2_tiny(tmp_path)
    ids = torch.randint(0, 300, (3, 11), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        plain = model(ids).logits
        n = packing.pack_linear_weights(model)
        packed = model(ids).logits
    assert n == 2 * 7 + 1  # seven projections per layer, and the output projection
    assert torch.equal(plain, packed)
    head = model.get_output_embeddings()
    assert isinstance(head, packing.PackedLinear)
    assert head.weight is model.get_input_embeddings().weight  # tied: kept, not rebuilt
    assert isinstance(model.model.layers[0].mlp.up_proj, packing.PackedLinear)
    assert model.model.layers[0].self_attn.q_proj.bias is not None


def test_load_model_packs_bf16_on_cpu_when_asked_with_the_same_replies(tiny_model_dir):
    plain = load_model(str(tiny_model_dir), device="cpu", dtype="bfloat16")  # the default: not packed
    packed = load_model(str(tiny_model_dir), device="cpu", dtype="bfloat16", pack=True)
    assert not any(isinstance(m, packing.PackedLinear) for m in plain.model.modules())
    assert any(isinstance(m, packing.PackedLinear) for m in packed.model.modules())
    ids = plain.tokenizer(["Question: 2 + 2?", "Answer:"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        assert torch.equal(plain.model(**ids).logits, packed.model(**ids).logits)
        a = plain.model.generate(**ids, max_new_tokens=12, do_sample=False)
        b = packed.model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert torch.equal(a, b)


def test_float32_models_are_not_packed(tiny_model):
    assert packing.pack_linear_weights(tiny_model.model) == 0  # float32: nothing to gain from oneDNN bf16
    assert not any(isinstance(m, packing.PackedLinear) for m in tiny_model.model.modules())
