"""dca.train.lora_dropout: the packed-mask LoRA dropout keeps each element independently with probability
K / 2**16, scales kept elements to an unbiased mean, follows torch's seed, passes gradients through the
mask, and replaces exactly PEFT's active dropout modules."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from dca.train import lora_dropout
from dca.train.lora_dropout import PackedDropout, keep_count, keep_mask


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
def test_each_element_and_each_lane_is_kept_with_probability_k_over_65536(p):
    g = torch.Generator().manual_seed(1)
    n = 2_000_000
    mask = keep_mask((n,), keep_count(p), generator=g)
    q = keep_count(p) / 2 ** 16
    assert abs(q - (1 - p)) <= 2 ** -17
    kept = int(mask.sum())
    assert stats.binomtest(kept, n, q).pvalue > 1e-4
    # the four 16-bit lanes of a 64-bit word (elements 4k, 4k+1, ...) are each unbiased and independent
    lanes = mask.view(-1, 4).sum(dim=0).tolist()
    for count in lanes:
        assert stats.binomtest(int(count), n // 4, q).pvalue > 1e-4
    pairs = mask.view(-1, 4)[:, :2].long()
    table = torch.zeros(2, 2, dtype=torch.long)
    table.index_put_((pairs[:, 0], pairs[:, 1]), torch.ones(len(pairs), dtype=torch.long), accumulate=True)
    assert stats.chi2_contingency(table.numpy()).pvalue > 1e-4


def test_the_output_is_unbiased_and_matches_torch_dropout_in_distribution():
    torch.manual_seed(0)
    x = torch.ones(1_000_000)
    packed = PackedDropout(0.3)(x)
    torch.manual_seed(0)
    plain = torch.nn.functional.dropout(x, 0.3, training=True)
    count = keep_count(0.3)
    values = packed.unique().tolist()  # kept elements scaled by 1 / q (in float32)
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(2 ** 16 / count, rel=1e-7)
    for a, b in ((packed.mean(), plain.mean()), (packed.var(), plain.var())):
        assert float(a) == pytest.approx(float(b), rel=0.01)
    assert float(packed.mean()) == pytest.approx(1.0, abs=0.005)


def test_the_same_seed_gives_the_same_mask():
    x = torch.randn(3, 7, 11)
    torch.manual_seed(5)
    a = PackedDropout(0.2)(x)
    torch.manual_seed(5)
    b = PackedDropout(0.2)(x)
    torch.manual_seed(6)
    c = PackedDropout(0.2)(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gradient_is_the_scaled_mask():
    torch.manual_seed(0)
    x = torch.randn(5, 9, requires_grad=True)
    y = PackedDropout(0.4)(x)
    y.sum().backward()
    kept = y != 0
    assert torch.equal(x.grad, kept.float() * (2 ** 16 / keep_count(0.4)))
    assert torch.allclose(y[kept], x.detach()[kept] * 2 ** 16 / keep_count(0.4))


def test_edge_probabilities_eval_mode_and_odd_sizes():
    x = torch.randn(7)  # not a multiple of four elements: the last word is cut
    assert PackedDropout(0.0)(x) is x
    drop = PackedDropout(0.5).eval()
    assert drop(x) is x
    all_dropped = PackedDropout(1.0)(x.requires_grad_())
    assert torch.equal(all_dropped, torch.zeros(7))
    all_dropped.sum().backward()
    assert torch.equal(x.grad, torch.zeros(7))
    assert PackedDropout(0.5)(torch.empty(0, 3)).shape == (0, 3)
    assert PackedDropout(0.5)(torch.ones(1)).item() in (0.0, 2.0)
    assert PackedDropout(0.1)(torch.ones(2, 3, dtype=torch.bfloat16)).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="p=1.5"):
        keep_count(1.5)


def test_install_replaces_every_active_lora_dropout(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    def peft_model(p):
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        return get_peft_model(base, LoraConfig(r=2, lora_alpha=4, lora_dropout=p, target_modules=["q_proj", "v_proj"]))

    model = peft_model(0.1)
    model.train()
    layers = [m for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), torch.nn.ModuleDict)]
    assert lora_dropout.install(model) == len(layers) > 0
    for layer in layers:
        drop = layer.lora_dropout["default"]
        assert isinstance(drop, PackedDropout) and drop.p == 0.1 and drop.training
    assert lora_dropout.install(model) == 0  # already packed
    ids = torch.tensor([[1, 2, 3, 4]])
    model(input_ids=ids, labels=ids).loss.backward()  # the adapted model still trains
    assert all(p.grad is not None for n, p in model.named_parameters() if "lora_A" in n)
    assert lora_dropout.install(peft_model(0.0)) == 0  # PEFT puts Identity there: nothing to draw
