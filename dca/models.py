"""Loading a model and its tokenizer: ``embedded``, a Hub id, or a local folder.

Device and dtype are chosen automatically (CUDA -> bfloat16, otherwise CPU float32) and can be
overridden with ``device=`` and ``dtype=``.
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


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bfloat16 on CUDA, float32 elsewhere.

    >>> resolve_dtype("auto", torch.device("cpu"))
    torch.float32
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not valid; choose one of {sorted(DTYPES)}")
    chosen = DTYPES[dtype]
    if chosen is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return chosen


def resolve_model_path(model: str) -> str:
    """``embedded`` -> the local converted SmolLM2 folder (converted on first use); else unchanged."""
    if model == "embedded":
        from dca import embedded

        return str(embedded.install())
    return model


@dataclass
class LoadedModel:
    """A model, its tokenizer, and what was asked for (kept for provenance)."""

    model: Any
    tokenizer: Any
    name: str
    device: torch.device
    dtype: torch.dtype


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
    if lm.generation_config is not None and lm.generation_config.pad_token_id is None:
        lm.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(model=lm, tokenizer=tokenizer, name=model, device=dev, dtype=dt)
