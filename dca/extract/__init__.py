"""Stage 1, confidence extraction: questions -> chat prompts (``prompts``) -> length-sorted batches
with a shared-prefix cache (``prefix``) -> greedy replies (``elicit``) -> the letter and the stated
confidence ``C_v`` (``parsing``) and the internal confidence ``C_i`` (``confidence``); ``stage`` writes
the table of replies, ``C_v`` and ``C_i`` per question.

``from dca.extract import X`` gives ``X`` of :mod:`dca.extract.stage`.
"""

from dca._reexport import reexport

__getattr__, __dir__ = reexport(__name__, "dca.extract.stage")
