"""Stage 4, evaluation: the paper's alignment metrics and calibration beyond them (``metrics``), their
paired bootstrap intervals (``bootstrap``), the constant and isotonic baselines (``baselines``);
``stage`` scores the trained adapter on the held-out questions, ``transfer`` on another question source.

``from dca.evaluate import X`` gives ``X`` of :mod:`dca.evaluate.stage`.
"""

from dca._reexport import reexport

__getattr__, __dir__ = reexport(__name__, "dca.evaluate.stage")
