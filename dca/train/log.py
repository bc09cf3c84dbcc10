"""The training log of a run (TRL's log history, ``train_log.jsonl``) and chapter 03's figures from it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dca.runs import artifacts

__all__ = ["heldout_summary", "read_train_log", "training_summary"]


def read_train_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The training log (one dict per logging step, and a final summary) of a finished run."""
    return artifacts.read_jsonl(artifacts.RunFolder(run_dir).require("train_log"))


def training_summary(log: list[dict[str, Any]]) -> dict[str, float]:
    """The training chapter's figures from TRL's log history: steps, first and last loss, the last
    step's reward margin and reward accuracy (%), and the training time in minutes.

    >>> training_summary([{"step": 1, "loss": 0.69, "rewards/margins": 0.0, "rewards/accuracies": 0.0},
    ...                   {"step": 2, "loss": 0.5, "rewards/margins": 0.3, "rewards/accuracies": 0.75},
    ...                   {"train_runtime": 90.0}])
    {'n_steps': 2, 'loss_first': 0.69, 'loss_last': 0.5, 'margin_last': 0.3, 'acc_last': 75.0, 'train_minutes': 1.5}
    """
    steps = [row for row in log if "loss" in row]
    if not steps:
        raise ValueError("the training log has no step with a loss; run the training notebook (03) first")
    first, last = steps[0], steps[-1]
    final = next((row for row in log if "train_runtime" in row), {})
    return {
        "n_steps": int(max(row.get("step", 0) for row in steps)),
        "loss_first": float(first["loss"]),
        "loss_last": float(last["loss"]),
        "margin_last": float(last.get("rewards/margins", math.nan)),
        "acc_last": float(100 * last.get("rewards/accuracies", math.nan)),
        "train_minutes": float(final.get("train_runtime", math.nan)) / 60,
    }


def heldout_summary(log: list[dict[str, Any]]) -> str:
    """One sentence on the held-out pairs' DPO loss during training (TRL's ``eval_*`` rows).

    >>> heldout_summary([{"step": 0, "eval_loss": 0.6931, "eval_rewards/accuracies": 0.0},
    ...                  {"step": 4, "eval_loss": 0.52, "eval_rewards/accuracies": 0.75}])
    'On the held-out pairs, never trained on, the loss went from 0.6931 before the first step to 0.5200 at step 4, and the chosen reply had the higher implicit reward in 75 % of them.'
    >>> heldout_summary([{"step": 1, "loss": 0.69}])
    'No held-out pairs were measured in this run (heldout_pairs = 0).'
    """
    rows = [row for row in log if "eval_loss" in row]
    if not rows:
        return "No held-out pairs were measured in this run (heldout_pairs = 0)."
    first, last = rows[0], rows[-1]
    start = "before the first step" if int(first.get("step", 0)) == 0 else f"at step {int(first['step'])}"
    return (f"On the held-out pairs, never trained on, the loss went from {first['eval_loss']:.4f} {start} "
            f"to {last['eval_loss']:.4f} at step {int(last['step'])}, and the chosen reply had the higher "
            f"implicit reward in {100 * last.get('eval_rewards/accuracies', math.nan):.0f} % of them.")
