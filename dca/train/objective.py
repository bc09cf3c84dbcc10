"""The name of a training objective, from the parameters a run trained with.

The results store and the objectives study's files name a trained run by its objective: ``dca``
(sigmoid DPO, as published), ``rpo`` (DPO + NLL of the chosen reply), ``dpop``, ``apo``, ``sft``, a
``-num`` suffix when the loss sees the stated number only, ``-kl`` with the answer-letter anchor at
``answer_kl_weight`` 10 (``-kl3`` at another weight, ``-kl-line`` anchoring the whole answer line),
``distract`` for DPO with distractor rejections, and ``<first>-dpo`` for DPO started from another
adapter (the study's ``sft-dpo``). :data:`dca.reference.study.OBJECTIVES` lists the study's; a test
checks that each of its parameter sets is named as the study names it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: DPO loss types by the objective they name (with ``sft_weight`` 0).
LOSS_NAMES = {"sigmoid": "dca", "dpop": "dpop", "apo_zero": "apo", "ipo": "ipo", "hinge": "hinge"}


def objective_name(train: Mapping[str, Any], pairs: Mapping[str, Any] | None = None,
                   init: Callable[[str], str] | None = None) -> str:
    """The objective of a run that trained with ``train`` (a TrainConfig's fields) on pairs built with
    ``pairs`` (a PairsConfig's; only ``distractors`` matters).

    ``init`` names the objective of the adapter ``train["init_adapter"]`` started from (default:
    :func:`adapter_objective`, read from that adapter's provenance).

    >>> objective_name({"method": "dpo", "loss_type": "sigmoid"})
    'dca'
    >>> objective_name({"method": "dpo", "loss_type": "sigmoid", "sft_weight": 1.0, "loss_tokens": "number"})
    'rpo-num'
    >>> objective_name({"method": "sft", "loss_tokens": "number", "answer_kl_weight": 10.0})
    'sft-num-kl'
    >>> objective_name({"method": "sft", "loss_tokens": "number", "answer_kl_weight": 3.0, "answer_kl_span": "line"})
    'sft-num-kl3-line'
    >>> objective_name({"method": "dpo", "loss_type": "sigmoid"}, {"distractors": [30]})
    'distract'
    >>> objective_name({"method": "dpo", "loss_type": "sigmoid", "init_adapter": "runs/s/adapter"},
    ...                init=lambda path: "sft")
    'sft-dpo'
    """
    if train.get("method", "dpo") == "sft":
        name = "sft"
    else:
        loss = str(train.get("loss_type", "sigmoid"))
        name = LOSS_NAMES.get(loss, loss)
        if float(train.get("sft_weight", 0.0) or 0.0) > 0:
            name = "rpo" if name == "dca" else f"{name}+nll"
    if train.get("loss_tokens", "reply") == "number":
        name += "-num"
    weight = float(train.get("answer_kl_weight", 0.0) or 0.0)
    if weight > 0:  # the study's weight 10 is the plain "-kl"; another weight is named, the whole line too
        name += "-kl" + ("" if weight == 10 else f"{weight:g}")
        name += "-line" if train.get("answer_kl_span", "letter") == "line" else ""
    if pairs and pairs.get("distractors"):
        name = "distract" if name == "dca" else f"{name}-distract"
    if train.get("init_adapter"):
        first = (init or adapter_objective)(str(train["init_adapter"]))
        name = f"{first}-{'dpo' if name == 'dca' else name}"
    return name


def adapter_objective(adapter: str | Path) -> str:
    """The objective of a trained adapter, from the parameters in its provenance (``adapter`` when it
    has none: an adapter trained elsewhere).

    >>> adapter_objective("/nonexistent/adapter")
    'adapter'
    """
    from dca.runs import artifacts

    prov = artifacts.provenance_path(adapter)
    if not prov.exists():
        return "adapter"
    pairs = artifacts.RunFolder(Path(adapter).parent).provenance("pairs").get("params", {})
    return objective_name(json.loads(prov.read_text()).get("params", {}), pairs)
