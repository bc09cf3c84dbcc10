"""The reference experiment's jobs: seeds, SFT baselines and one-factor ablations, and where each runs.

:data:`JOBS` lists them in the order :mod:`dca.reference.runner` runs them; :mod:`dca.reference.collect`
reads the same list to collect their results. Both import it from here, so neither imports the other
for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dca.runs import artifacts

RUNS = Path("runs/reference")
PROFILE = "reference"
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Job:
    """One run of the pipeline: a folder, parameters beyond the profile, and whose stage 1 it reuses."""

    name: str
    kind: str  # "seed" | "sft" | "ablation"
    seed: int
    params: dict[str, str] = field(default_factory=dict)
    reuse: str | None = None  # the job whose stage-1 table (and pairs, when the same) this one copies
    factor: str = ""  # what an ablation changes, in words

    @property
    def run_dir(self) -> Path:
        return RUNS / self.name


def _jobs() -> list[Job]:
    # Held-out monitoring (DPO loss on held-out pairs during training) costs ~5 minutes a run on a
    # 2-core CPU: seed 0 has it, the other seeds train the same way without measuring.
    jobs = [Job(f"seed{s}", "seed", s, {} if s == 0 else {"train.heldout_pairs": "0"}) for s in SEEDS]
    # SFT on every seed right after the seeds: on seed 0 it beat DPO, and one seed is not a finding.
    jobs += [Job(f"seed{s}-sft", "sft", s, {"train.method": "sft"}, reuse=f"seed{s}",
                 factor="SFT on the chosen replies instead of DPO") for s in SEEDS]
    ablations = [
        ("abl-lr5e-4", {"train.learning_rate": "5e-4"}, "learning rate 5e-4 (default 1e-4)"),
        ("abl-beta0.5", {"train.beta": "0.5"}, "beta 0.5 (default 0.1)"),
        ("abl-ipo", {"train.loss_type": "ipo"}, "IPO loss (default sigmoid DPO)"),
        ("abl-target-cinorm", {"pairs.target": "c_i_norm"}, "target C_i^norm (default C_i)"),
        ("abl-correct-only", {"pairs.correct_only": "true"}, "pairs from correct answers only"),
        ("abl-beta0.05", {"train.beta": "0.05"}, "beta 0.05 (default 0.1)"),
        # The speed option: the backward pass stops at layer 14 (about half the step's backward work).
        ("abl-lora-last14", {"train.lora_layers": "14"}, "LoRA on the last 14 of 28 layers (default all)"),
    ]
    # Held-out monitoring costs ~20 % of a run: the seeds have it, the one-seed ablations do not.
    jobs += [Job(n, "ablation", 0, {**p, "train.heldout_pairs": "0"}, reuse="seed0", factor=f)
             for n, p, f in ablations]
    jobs.append(Job("abl-epochs3", "ablation", 0, {"train.epochs": "3"}, reuse="seed0",
                    factor="3 epochs (default 1)"))
    return jobs


#: Every job, in the order ``run`` takes them (most informative first).
JOBS: list[Job] = _jobs()


def job(name: str) -> Job:
    """The job of that name (error listing the names).

    >>> job("seed1").seed
    1
    """
    for j in JOBS:
        if j.name == name:
            return j
    raise KeyError(f"unknown job {name!r}; jobs: {', '.join(j.name for j in JOBS)}")


def is_finished(j: Job) -> bool:
    """Whether the job's evaluation exists (its last stage)."""
    run = artifacts.RunFolder(j.run_dir)
    return run.metrics.exists() and run.eval.exists()
