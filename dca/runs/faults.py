"""Fault injection for the kill-and-rerun tests: ``DCA_FAULT=<point>`` kills this process there.

A stage calls :func:`checkpoint` at the moments where an interruption is most harmful (just before
an artifact is written, in the middle of training). With ``DCA_FAULT`` unset (always, outside the
tests) it does nothing. The tests kill a full run with SIGKILL at each point, rerun it, and compare
the final tables with an uninterrupted run's.

Points: ``extract:before-write``, ``pairs:before-write``, ``train:step-N`` (after optimiser step N),
``train:before-write`` (training done, nothing written), ``train:after-adapter`` (the adapter written,
not yet its provenance),
``evaluate:before-write``, ``evaluate:after-eval`` (the trained model's table and its provenance
written), ``evaluate:after-metrics`` (``metrics.json`` written), ``evaluate:after-store`` (the rows
appended to the results store, before the provenance that marks the stage done);
``transfer:before-before`` / ``transfer:after-before`` and ``transfer:before-after`` /
``transfer:after-after`` (around the write of the base model's and of the trained model's table),
``transfer:after-metrics``, ``transfer:after-store``.
"""

from __future__ import annotations

import os
import signal

ENV = "DCA_FAULT"


def checkpoint(point: str) -> None:
    """SIGKILL this process when ``DCA_FAULT`` names ``point`` (no clean-up, as a lost machine)."""
    if os.environ.get(ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def training_callback():
    """A ``TrainerCallback`` that calls :func:`checkpoint` with ``train:step-N`` after each step."""
    from transformers import TrainerCallback

    class _Fault(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            checkpoint(f"train:step-{state.global_step}")

    return _Fault()
