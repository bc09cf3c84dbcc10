"""Stage 3, training: DPO (or SFT) with a LoRA adapter. ``config`` holds its parameters, ``stage``
the trainer and the stage's ``run``; ``dpo_prefix`` batches each pair's shared prompt once,
``lora_dropout`` draws LoRA's dropout masks cheaply on CPUs, ``log`` reads the training log.

``from dca.train import X`` gives ``X`` of :mod:`dca.train.stage`.
"""

from dca._reexport import reexport

__getattr__, __dir__ = reexport(__name__, "dca.train.stage")
