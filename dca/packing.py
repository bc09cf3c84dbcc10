"""Pre-packed bf16 weights for CPU inference: each linear layer's weight reordered once, not per call.

On a CPU, ``torch.nn.functional.linear`` in bf16 runs on oneDNN, which wants the weight in a blocked
layout for the matrix units (AMX, AVX512-BF16). Given a plain ``(out, in)`` tensor it reorders the
weight on every call: a copy of every weight matrix per forward pass. :func:`pack_linear_weights`
reorders each weight once (``torch.ops.mkldnn._reorder_linear_weight``) and swaps the module for
:class:`PackedLinear`, which calls ``torch.ops.mkldnn._linear_pointwise`` on the packed weight.

What it buys, and costs (``benchmarks/bench_cpu_inference.py``, Qwen2.5-Coder-1.5B in bf16, 16
OpenBookQA questions, 2 cores, 4 interleaved rounds): eliciting took 10.7 s (median) against 11.4 s
with plain weights, both with the allocator setting :func:`dca.models.load_model` always applies;
oneDNN then picks other kernels for some shapes, so the bf16 rounding differs and 1 reply of 16
changed; and the resident memory grows by the packed copies (the plain weights stay mapped from the
model file until the page cache drops them). A few per cent is not worth numbers that differ from
the reference experiment's, so :func:`dca.models.load_model` packs only when asked (``pack=True``).
On small layers (the tests' tiny models) the packed and plain results are identical.

Inference only: the packed op has no backward, and training (:mod:`dca.train`) never packs.
:attr:`PackedLinear.weight` rebuilds the plain weight on access. A weight shared with another
module (an output projection tied to the input embedding) is kept, and the packed copy is extra
memory (0.47 GB for Qwen2.5-Coder-1.5B).
"""

from __future__ import annotations

import torch
from torch import nn


def can_pack(model: nn.Module) -> bool:
    """Whether :func:`pack_linear_weights` applies: bf16 weights on a CPU with oneDNN bf16 kernels."""
    param = next(model.parameters(), None)
    return (param is not None and param.device.type == "cpu" and param.dtype == torch.bfloat16
            and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


class PackedLinear(nn.Module):
    """``nn.Linear`` for inference, with its weight pre-packed for oneDNN: ``y = x W^T + b``.

    Parameters
    ----------
    linear : the layer to replace (bf16, on the CPU, with no gradient needed).
    keep_weight : keep the plain weight as well (it is shared, e.g. tied to the input embedding).
    """

    def __init__(self, linear: nn.Linear, keep_weight: bool = False):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)
        self.bias = linear.bias
        self.plain = linear.weight if keep_weight else None

    @property
    def weight(self) -> torch.Tensor:
        """The plain ``(out, in)`` weight (rebuilt from the packed one unless it was kept)."""
        return self.plain if self.plain is not None else self.packed.to_dense()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.detach()
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


def pack_linear_weights(model: nn.Module) -> int:
    """Replace every ``nn.Linear`` of ``model`` by a :class:`PackedLinear`; return how many.

    Does nothing (returns 0) unless :func:`can_pack`. A weight that another module shares (the tied
    output projection) is kept beside its packed copy.
    """
    if not can_pack(model):
        return 0
    shared = {id(p) for name, mod in model.named_modules() if not isinstance(mod, nn.Linear)
              for p in mod.parameters(recurse=False)}
    targets = [(name, mod) for name, mod in model.named_modules() if type(mod) is nn.Linear]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, PackedLinear(linear, keep_weight=id(linear.weight) in shared))
    return len(targets)
