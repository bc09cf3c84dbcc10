"""What training minimises: TRL's losses for a :class:`~dca.train.config.TrainConfig` (DPO, IPO,
APO-zero, and RPO's added negative log-likelihood of the chosen reply), DPOP (not one of TRL's losses:
:func:`dpop_loss`, added by the trainer of :func:`dpo_trainer_class`), and the held-out pairs'
reference log-probabilities, computed once."""

from __future__ import annotations

from typing import Any

from dca.train.config import TrainConfig


def trl_losses(config: TrainConfig) -> tuple[list[str], list[float]]:
    """TRL's ``loss_type`` and ``loss_weights`` for a :class:`TrainConfig`.

    RPO adds TRL's ``"sft"`` term (the chosen reply's mean per-token negative log-likelihood) with
    weight ``sft_weight``. DPOP is not one of TRL's losses: TRL computes the sigmoid loss with weight 0
    (so that its rewards and log-probabilities are still logged) and the trainer of
    :func:`dpo_trainer_class` adds :func:`dpop_loss`.

    >>> trl_losses(TrainConfig())
    (['sigmoid'], [1.0])
    >>> trl_losses(TrainConfig(loss_type="apo_zero", sft_weight=0.5))
    (['apo_zero', 'sft'], [1.0, 0.5])
    >>> trl_losses(TrainConfig(loss_type="dpop"))
    (['sigmoid'], [0.0])
    """
    types, weights = ["sigmoid" if config.loss_type == "dpop" else config.loss_type], [
        0.0 if config.loss_type == "dpop" else 1.0]
    if config.sft_weight > 0:
        types.append("sft")
        weights.append(float(config.sft_weight))
    return types, weights


def dpop_loss(chosen_logps: Any, rejected_logps: Any, ref_chosen_logps: Any, ref_rejected_logps: Any,
              beta: float, lam: float) -> Any:
    """DPO-Positive (Pal et al. 2024, arXiv 2402.13228), per pair.

    .. math::

        \\mathcal{L}_\\mathrm{DPOP} = -\\log\\sigma\\Big(\\beta\\big[
            \\log\\tfrac{\\pi_\\theta(y_w|x)}{\\pi_\\mathrm{ref}(y_w|x)}
          - \\log\\tfrac{\\pi_\\theta(y_l|x)}{\\pi_\\mathrm{ref}(y_l|x)}
          - \\lambda \\max\\big(0, \\log\\tfrac{\\pi_\\mathrm{ref}(y_w|x)}{\\pi_\\theta(y_w|x)}\\big)\\big]\\Big)

    DPO's loss can fall while the chosen reply itself becomes *less* likely (both log-probabilities
    fall, the rejected one faster); the penalty term makes that costly. Inputs are the summed
    log-probabilities of the replies (tensors of one value per pair).

    >>> import torch
    >>> c, r, rc, rr = (torch.tensor([v]) for v in (-3.0, -6.0, -2.0, -4.0))
    >>> round(float(dpop_loss(c, r, rc, rr, beta=0.1, lam=0.0)), 4)  # plain DPO: -log sigmoid(0.1 * 1)
    0.6444
    >>> round(float(dpop_loss(c, r, rc, rr, beta=0.1, lam=50.0)), 4)  # -log sigmoid(0.1 * (1 - 50 * 1))
    4.9074
    """
    import torch.nn.functional as F

    chosen_ratio = chosen_logps - ref_chosen_logps
    rejected_ratio = rejected_logps - ref_rejected_logps
    penalty = (-chosen_ratio).clamp(min=0)
    return -F.logsigmoid(beta * (chosen_ratio - rejected_ratio - lam * penalty))


def dpo_trainer_class(dpop_lambda: float | None = None) -> type:
    """TRL's ``DPOTrainer``, reading the reference log-probabilities from a batch whenever the batch
    carries them (:func:`heldout_reference_once` adds them to the held-out pairs only), and adding
    :func:`dpop_loss` when ``dpop_lambda`` is given.

    TRL decides between "read them from the batch" and "run the reference now" once for all batches
    (``precompute_ref_log_probs``); here the training batches still run the reference at every step,
    while the held-out batches read theirs.

    For DPOP, TRL's own loss runs with weight 0 (:func:`trl_losses`) and logs its rewards and
    log-probabilities as usual; a forward hook on the model keeps the two forward passes of the step
    (the policy's, then the reference's, which TRL sums the same way) and the DPOP loss is computed
    from them and added.
    """
    from trl import DPOTrainer

    class HeldOutReferenceDPOTrainer(DPOTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            self.precompute_ref_logps = bool(self.args.precompute_ref_log_probs) or "ref_chosen_logps" in inputs
            if dpop_lambda is None:
                return super().compute_loss(model, inputs, *args, **kwargs)
            passes: list[Any] = []
            handle = self.accelerator.unwrap_model(self.model).register_forward_hook(
                lambda _module, _args, output: passes.append(output))
            try:
                out = super().compute_loss(model, inputs, *args, **kwargs)
            finally:
                handle.remove()
            seq_len = inputs["completion_mask"].size(1) - 1  # TRL's per-token log-probs: shifted by one

            def summed(output: Any) -> Any:
                return output.log_probs[:, -seq_len:].sum(dim=1)  # (2 * pairs,): chosen rows, then rejected

            chosen, rejected = summed(passes[0]).chunk(2, dim=0)
            if self.precompute_ref_logps:
                ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:
                ref_chosen, ref_rejected = summed(passes[1]).detach().chunk(2, dim=0)
            extra = dpop_loss(chosen, rejected, ref_chosen, ref_rejected, self.beta, dpop_lambda).mean()
            if isinstance(out, tuple):
                return (out[0] + extra, *out[1:])
            return out + extra

    return HeldOutReferenceDPOTrainer


def heldout_reference_once(trainer: Any) -> None:
    """Compute the held-out pairs' reference log-probabilities once, before training.

    The reference (the base model, adapter switched off) never changes, yet TRL's evaluation runs it
    again at every held-out measurement: :math:`m` measurements cost :math:`2m` forward passes over
    the held-out pairs. With the reference's log-probabilities stored as columns of the held-out set
    (TRL's own ``precompute_ref_log_probs`` machinery, applied to that set only) they cost
    :math:`m + 1`. The losses and rewards are the same up to float rounding (the reference now runs
    in its own batches). The training pairs keep their per-step reference forward, which costs no
    more than precomputing it when every pair is seen once.
    """
    import random

    import numpy as np
    import torch

    state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):  # the training's random draws stay those of a run without it
        trainer.eval_dataset = trainer._precompute_ref_logps(
            trainer.eval_dataset, "eval", trainer.args.per_device_eval_batch_size)
    random.setstate(state[0])
    np.random.set_state(state[1])
