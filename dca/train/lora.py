"""The LoRA adapter: PEFT's config for a :class:`~dca.train.config.TrainConfig`, which decoder layers
get an adapter, and the check of ``lora_layers`` and ``target_modules`` against the model before any
stage runs."""

from __future__ import annotations

from typing import Any

from dca.config import ConfigError
from dca.train.config import ALL_LINEAR, TrainConfig


def lora_config(config: TrainConfig, model: Any = None):
    """PEFT's ``LoraConfig`` of a :class:`TrainConfig`: rank, alpha, dropout, target modules and, with
    ``lora_layers``, the layers of ``model`` that get an adapter (``model`` is needed only then)."""
    from peft import LoraConfig  # imported only when there is training to do (TRL's import takes seconds)

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM",
                      layers_to_transform=adapted_layers(config.lora_layers, model))


def preflight(config: TrainConfig) -> None:
    """Check ``lora_layers`` and ``target_modules`` against the model before any stage runs.

    Only the model's config is read, and its modules are built on the ``meta`` device (no weights):
    ``lora_layers`` above the model's decoder layers, or a target module that names no linear layer of
    the model, raises :class:`ConfigError` naming the value and the valid ones.
    """
    if config.lora_layers == 0 and set(config.target_modules) <= set(ALL_LINEAR):
        return  # the defaults' names: every decoder model this project loads has them
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from dca.models.loading import resolve_model_path

    model_config = AutoConfig.from_pretrained(resolve_model_path(config.model))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    adapted_layers(config.lora_layers, model)
    linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                     if isinstance(module, torch.nn.Linear)})
    unknown = [m for m in config.target_modules if m not in linear]
    if unknown:
        raise ConfigError(f"target_modules={','.join(config.target_modules)}: {', '.join(unknown)} is not a linear "
                          f"layer of {config.model}; valid: {', '.join(linear)}")


def adapted_layers(lora_layers: int, model) -> list[int] | None:
    """Indices of the decoder layers that get LoRA: the last ``lora_layers`` of them (``None``: all).

    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(config=SimpleNamespace(num_hidden_layers=28))
    >>> adapted_layers(4, model)
    [24, 25, 26, 27]
    >>> adapted_layers(0, model) is None
    True
    """
    if lora_layers == 0:
        return None
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    n_layers = config.num_hidden_layers
    if lora_layers > n_layers:
        raise ConfigError(f"lora_layers={lora_layers} but the model has only {n_layers} decoder layers; "
                          f"use 1..{n_layers}, or 0 for all of them")
    return list(range(n_layers - lora_layers, n_layers))
