"""The objectives study: the second reference protocol (profile ``study``), job by job, resumable.

``python -m dca.reference.study run`` (``make study``) runs every unfinished job of :data:`JOBS` in order. The
protocol: Qwen2.5-Coder-1.5B-Instruct, the paper's zero-shot prompt, OpenBookQA, MMLU and
ARC-Challenge with 200 held-out questions each (150 training questions each; ARC-Challenge has 99),
seeds 0, 1, 2. Per seed, stage 1 runs once (job ``seedN``) and every objective of that seed copies its
table, so all of them train on the same pairs' questions and are judged on the same held-out
questions; every adapter is then asked 200 CommonsenseQA questions (stage ``transfer``), whose
*before* table is computed once for the whole study and copied.

The objectives (stage-2 and stage-3 parameters, see ``python -m dca help train``):

* ``dca`` — DCA as published: sigmoid DPO on (round(C_i), own number) pairs — the reference arm;
* ``rpo`` — DPO + the chosen reply's NLL (``sft_weight=1``);
* ``dpop`` — DPO-Positive (``loss_type=dpop``, lambda 50);
* ``apo`` — APO-zero (``loss_type=apo_zero``);
* ``sft`` — SFT on the chosen replies; ``sft-dpo`` — DPO starting from (and referenced to) that adapter;
* ``distract`` — DPO with two extra rejected numbers per question, round(C_i) +- 30;
* ``rpo-num``, ``sft-num`` — RPO and SFT with the loss on the stated number only
  (``loss_tokens=number``): the likelihood term no longer trains the answer letter, whose probability
  is the internal confidence C_i the pairs target (seed 0 showed RPO and SFT raising C_i while they
  lowered the stated numbers);
* ``sft-num-kl`` — SFT on the number plus a KL term at the answer letter's position
  (``answer_kl_weight=10``, :mod:`dca.train.answer_anchor`): seed 0 showed that with the letter out
  of the loss, nothing holds it, and SFT on the number changed 30 % of the answer letters and cost
  12.7 points of accuracy;
* ``sft-num-kl1``, ``sft-num-kl3``, ``sft-num-kl-line``, ``sft-num-kl1-line`` — where the trade-off
  between held answers and rho lies: the same anchor at weights 1 and 3, and at weights 10 and 1 on every
  fixed token of the answer line (``answer_kl_span=line``: the letter, the line break and
  ``Probability:``, summed; weight 1 was the best point on the letter);
* ``dca-q25``, ``dca-q50``, ``sft-num-q25``, ``sft-num-q50`` — DCA and SFT on the number (the lowest mean
  abs eps of seed 0's screen) on a quarter and a half of the training questions (dose-response; the
  full job is the third point).

Beside the objectives, a decoding recipe and a second model:

* ``<objective>-base`` (for the objectives of :data:`RECIPES`) — a *confidence adapter*: the same
  adapter, copied from the objective's job, evaluated with ``answer_with=base`` (the base model's reply
  up to the number, then the number from the adapter; :mod:`dca.evaluate.confidence_adapter`). No
  training: its stages are the evaluation and the transfer questions. The answers and C_i are the
  base model's by construction, so the recipe is judged only on what it states;
* ``<objective>-expected-base`` and ``<objective>-expected`` (for the objectives of
  :data:`EXPECTED_RECIPES`) — the same adapter with its number read as the *expected* one
  (``readout=expected``: the mean of the numbers 0-100 weighted by the probability the adapter gives
  each; :mod:`dca.evaluate.expected_number`), as a confidence adapter and answering itself. Greedy
  decoding collapses the adapter's broad distribution onto a few numbers, and the ties cap the AUROC.
  No training either;
* ``qwen05-seed0``, ``gemma270-seed0`` — stage 1 of seed 0 with the second models of
  :data:`SECOND_MODELS`, on a third of the study's questions (:data:`PROBE`: 50 held-out and 50
  training questions per dataset): a probe of whether their C_i carries information and whether they
  keep the format, before a model is given the whole protocol.

Each finished job appends a line (wall time, machine, commit) to ``runs/study/jobs.jsonl``;
``--only NAME ...`` runs some of them, and ``--until train`` stops each after training: a readout job
needs its objective's adapter, and when that objective's rows are committed but its run folder is gone
(a fresh machine), ``run --only seed1-sft-num-kl1 --until train`` gives the adapter back without
evaluating it again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dca.paths import ROOT
from dca.reference.rows import append_job_record
from dca.runs import artifacts

RUNS = Path("runs/study")
PROFILE = "study"
SEEDS = (0, 1, 2)
TRANSFER = "commonsenseqa"
#: Where the transfer questions' *before* table is kept once for every job (it depends on the model,
#: the prompt and the questions only).
SHARED_BEFORE = RUNS / "transfer-before"

#: Objective name -> (parameters beyond the profile, what it changes in words).
OBJECTIVES: dict[str, tuple[dict[str, str], str]] = {
    "dca": ({}, "DCA as published: sigmoid DPO"),
    "rpo": ({"train.sft_weight": "1.0"}, "RPO: DPO + NLL of the chosen reply (weight 1)"),
    "dpop": ({"train.loss_type": "dpop"}, "DPOP: DPO with a penalty when log p(chosen) falls (lambda 50)"),
    "apo": ({"train.loss_type": "apo_zero"}, "APO-zero"),
    "sft": ({"train.method": "sft"}, "SFT on the chosen replies"),
    "sft-dpo": ({}, "SFT, then DPO from (and against) the SFT adapter"),
    "distract": ({"pairs.distractors": "30"}, "DPO with distractor rejections round(C_i) +- 30"),
    "rpo-num": ({"train.sft_weight": "1.0", "train.loss_tokens": "number"},
                "RPO with the loss on the stated number only (the answer letter moves into the prompt)"),
    "sft-num": ({"train.method": "sft", "train.loss_tokens": "number"},
                "SFT on the stated number only (the answer letter moves into the prompt)"),
    "sft-num-kl": ({"train.method": "sft", "train.loss_tokens": "number", "train.answer_kl_weight": "10"},
                   "SFT on the stated number only, the answer letter's distribution held to the reference's "
                   "(KL weight 10)"),
    "sft-num-kl1": ({"train.method": "sft", "train.loss_tokens": "number", "train.answer_kl_weight": "1"},
                    "SFT on the stated number only, the answer letter's distribution held (KL weight 1)"),
    "sft-num-kl3": ({"train.method": "sft", "train.loss_tokens": "number", "train.answer_kl_weight": "3"},
                    "SFT on the stated number only, the answer letter's distribution held (KL weight 3)"),
    "sft-num-kl-line": ({"train.method": "sft", "train.loss_tokens": "number", "train.answer_kl_weight": "10",
                         "train.answer_kl_span": "line"},
                        "SFT on the stated number only, every fixed token of the answer line held "
                        "('Answer: X', the line break, 'Probability:'; KL weight 10, summed)"),
    "sft-num-kl1-line": ({"train.method": "sft", "train.loss_tokens": "number", "train.answer_kl_weight": "1",
                          "train.answer_kl_span": "line"},
                         "SFT on the stated number only, every fixed token of the answer line held (KL weight 1, "
                         "summed)"),
}


#: The decoding recipe ``<objective>-base`` is applied to these objectives' adapters (the number-only
#: ones, and RPO, the whole-reply objective that kept accuracy and format).
RECIPES = ("sft-num", "sft-num-kl", "sft-num-kl1", "rpo-num", "rpo")
RECIPE_SUFFIX = "-base"

#: The readout ``expected`` (:mod:`dca.evaluate.expected_number`) is tried on these objectives' adapters, as a
#: confidence adapter (``seedN-<objective>-expected-base``) and answering itself (``seedN-<objective>-expected``).
EXPECTED_RECIPES = ("sft-num-kl1",)
READOUT_SUFFIX = "-expected"
READOUT_EXPECTED = {"evaluate.readout": "expected", "transfer.readout": "expected"}

#: The study's second models (a stage-1 probe on seed 0): packaged short name -> job-name prefix.
SECOND_MODELS = {"qwen2.5-coder-0.5b": "qwen05", "gemma-3-270m": "gemma270"}
#: The probe's stage-1 parameters beyond the profile: 100 questions per dataset, 50 of them held out.
PROBE = {"extract.n_questions": "100", "extract.n_eval": "50"}
#: The objectives a second model is trained with (and their recipes), once its probe qualifies it
#: (:mod:`dca.report.models`: AUROC of C_i at least 0.6, 95 % of replies parsed). None has qualified:
#: Qwen2.5-Coder-0.5B's C_i ranks answers below chance and Gemma 3 270M (pretrained) writes no reply
#: that parses, so no job trains them; ``objective_job(0, "sft-num", model=...)`` makes one.
SECOND_MODEL_OBJECTIVES: tuple[str, ...] = ()


#: Reruns in float32: ``dtype=auto`` computes in bfloat16 only on GPUs and on CPUs with bf16 matrix units
#: (AMX, AVX512-BF16), where the study's committed jobs ran. Each seed's job of these objectives is also run
#: with every stage in float32 (job ``seed<N>-<objective>-fp32``), and its adapter as a confidence adapter
#: (``seed<N>-<objective>-fp32-base``). Like the dose-response jobs they are not the objective's run of the
#: seed and stay out of its means; the rerun copies the seed's stage 1 as the machine has it (float32 where
#: it ran: a machine without bf16 units reruns stage 1 in float32 too). RPO on the number and RPO are here
#: so that their adapters can be confidence adapters on such a machine too.
PRECISION_OBJECTIVES = ("sft-num", "rpo-num", "rpo")
PRECISION_SUFFIX = "-fp32"
FLOAT32 = {"train.precision": "fp32", "evaluate.dtype": "float32", "transfer.dtype": "float32"}

#: The dose-response (seed 0): these objectives also train on these fractions of the training questions.
DOSE_OBJECTIVES = ("dca", "sft-num")
DOSE_FRACTIONS = (0.25, 0.5)


@dataclass(frozen=True)
class Job:
    """One run of the study: a folder, parameters beyond the profile, and the stages it runs."""

    name: str
    seed: int
    objective: str = ""  # "" for a seed's stage-1 job
    params: dict[str, str] = field(default_factory=dict)
    after: str | None = None  # a job that must finish first (stage 1; SFT before SFT-then-DPO)
    adapter_from: str | None = None  # a decoding recipe: the job whose adapter it evaluates (no training)
    prefix: str = ""  # a second model's jobs: its prefix (``qwen05-``); "" for the study's model

    @property
    def run_dir(self) -> Path:
        return RUNS / self.name

    @property
    def stage1_job(self) -> str:
        """The stage-1 job whose table and questions this job copies (its model's, on its seed)."""
        return f"{self.prefix}seed{self.seed}"

    @property
    def shared_before(self) -> Path:
        """Where its model's transfer *before* table is kept once for all of that model's jobs."""
        return SHARED_BEFORE if not self.prefix else RUNS / f"{self.prefix}transfer-before"

    @property
    def stages(self) -> tuple[str, ...]:
        if not self.objective:
            return ("extract",)
        return ("evaluate", "transfer") if self.adapter_from else ("pairs", "train", "evaluate", "transfer")


def objective_job(seed: int, objective: str, suffix: str = "", extra: dict[str, str] | None = None,
                  model: str = "") -> Job:
    """The job of one objective on one seed (``sft-dpo`` starts from the same seed's SFT adapter);
    with ``model`` (one of :data:`SECOND_MODELS`), that model's job."""
    prefix = f"{SECOND_MODELS[model]}-" if model else ""
    params = {**OBJECTIVES[objective][0], **(extra or {}), **({"model": model} if model else {})}
    after = f"{prefix}seed{seed}"
    if objective == "sft-dpo":
        params["train.init_adapter"] = str(artifacts.RunFolder(RUNS / f"{prefix}seed{seed}-sft").adapter)
        after = f"{prefix}seed{seed}-sft"
    return Job(f"{prefix}seed{seed}-{objective}{suffix}", seed, objective, params, after, prefix=prefix)


def recipe_job(seed: int, objective: str, model: str = "", extra: dict[str, str] | None = None) -> Job:
    """The confidence-adapter job of one objective's adapter on one seed (``answer_with=base``).

    >>> recipe_job(0, "sft-num").stages, recipe_job(0, "sft-num").adapter_from
    (('evaluate', 'transfer'), 'seed0-sft-num')
    >>> recipe_job(0, "sft-num", "qwen2.5-coder-0.5b").name
    'qwen05-seed0-sft-num-base'
    """
    prefix = f"{SECOND_MODELS[model]}-" if model else ""
    source = f"{prefix}seed{seed}-{objective}"
    return Job(f"{source}{RECIPE_SUFFIX}", seed, f"{objective}{RECIPE_SUFFIX}",
               {"evaluate.answer_with": "base", "transfer.answer_with": "base", **({"model": model} if model else {}),
                **(extra or {})},
               after=source, adapter_from=source, prefix=prefix)


def readout_jobs(seed: int, objective: str) -> list[Job]:
    """The expected-number jobs of one objective's adapter on one seed: as a confidence adapter, then
    answering itself (each evaluates the objective's adapter; nothing trains).

    >>> [(j.name, j.objective, j.adapter_from) for j in readout_jobs(2, "sft-num-kl1")]
    [('seed2-sft-num-kl1-expected-base', 'sft-num-kl1-expected-base', 'seed2-sft-num-kl1'), \
('seed2-sft-num-kl1-expected', 'sft-num-kl1-expected', 'seed2-sft-num-kl1')]
    """
    base = recipe_job(seed, objective, extra=READOUT_EXPECTED)
    source = f"seed{seed}-{objective}"
    own = Job(f"{source}{READOUT_SUFFIX}", seed, f"{objective}{READOUT_SUFFIX}", dict(READOUT_EXPECTED),
              after=source, adapter_from=source)
    return [Job(f"{source}{READOUT_SUFFIX}{RECIPE_SUFFIX}", seed, f"{objective}{READOUT_SUFFIX}{RECIPE_SUFFIX}",
                base.params, base.after, base.adapter_from), own]


def _precision_jobs(seed: int) -> list[Job]:
    """One seed's float32 reruns (:data:`PRECISION_OBJECTIVES`) and their confidence adapters."""
    return ([objective_job(seed, o, PRECISION_SUFFIX, FLOAT32) for o in PRECISION_OBJECTIVES]
            + [recipe_job(seed, f"{o}{PRECISION_SUFFIX}", extra=FLOAT32) for o in PRECISION_OBJECTIVES])


def _jobs() -> list[Job]:
    jobs = [Job("seed0", 0)]
    jobs += [objective_job(0, o) for o in OBJECTIVES]
    jobs += [recipe_job(0, o) for o in RECIPES]
    jobs += _precision_jobs(0)
    jobs += [objective_job(0, o, f"-q{int(100 * f)}", {"train.pair_fraction": str(f)})
             for o in DOSE_OBJECTIVES for f in DOSE_FRACTIONS]
    for seed in SEEDS[1:]:
        jobs.append(Job(f"seed{seed}", seed))
        jobs += [objective_job(seed, o) for o in OBJECTIVES]
        jobs += [recipe_job(seed, o) for o in RECIPES]
        jobs += _precision_jobs(seed)
    for seed in SEEDS:
        jobs += [j for o in EXPECTED_RECIPES for j in readout_jobs(seed, o)]
    for model, prefix in SECOND_MODELS.items():
        jobs.append(Job(f"{prefix}-seed0", 0, params={"model": model, **PROBE}, prefix=f"{prefix}-"))
        jobs += [objective_job(0, o, model=model) for o in SECOND_MODEL_OBJECTIVES]
        jobs += [recipe_job(0, o, model) for o in SECOND_MODEL_OBJECTIVES]
    return jobs


#: Every job, in the order ``run`` takes them: seed 0 screens every objective first.
JOBS: list[Job] = _jobs()


def job(name: str) -> Job:
    """The job of that name (error listing the names).

    >>> job("seed0-rpo").params
    {'train.sft_weight': '1.0'}
    """
    for j in JOBS:
        if j.name == name:
            return j
    raise KeyError(f"unknown job {name!r}; jobs: {', '.join(j.name for j in JOBS)}")


def describe(j: Job) -> str:
    """What a job runs, in words.

    >>> describe(job("seed0-sft-num-base"))
    "seed0-sft-num's adapter as a confidence adapter: the base model answers, the adapter states the number"
    >>> describe(job("seed0-sft-num-fp32"))
    'SFT on the stated number only (the answer letter moves into the prompt), every stage in float32 (a rerun)'
    >>> describe(job("qwen05-seed0"))
    'stage 1 of the seed with qwen2.5-coder-0.5b (a probe: 100 questions per dataset, 50 held out)'
    """
    if j.adapter_from:
        expected = " its expected number" if j.params.get("evaluate.readout") == "expected" else " the number"
        if j.params.get("evaluate.answer_with") != "base":
            return f"{j.adapter_from}'s adapter answering itself, stating{expected}"
        return (f"{j.adapter_from}'s adapter as a confidence adapter: the base model answers, the adapter "
                f"states{expected}")
    if not j.objective:
        probe = (f" with {j.params['model']} (a probe: {j.params['extract.n_questions']} questions per dataset, "
                 f"{j.params['extract.n_eval']} held out)") if "model" in j.params else ""
        return "stage 1 of the seed" + probe
    rerun = ", every stage in float32 (a rerun)" if j.name.endswith(PRECISION_SUFFIX) else ""
    return OBJECTIVES[j.objective][1] + rerun


def is_finished(j: Job) -> bool:
    """Whether the job's last output exists."""
    if not j.objective:
        return artifacts.RunFolder(j.run_dir).stage1.exists()
    from dca.evaluate.transfer import transfer_files

    return transfer_files(j.run_dir, TRANSFER).metrics.exists() and artifacts.RunFolder(j.run_dir).metrics.exists()


def ready_after(j: Job) -> bool:
    """Whether what ``j`` needs of the job it runs after is there: a job that evaluates another job's adapter
    (``adapter_from``) needs that adapter (with its provenance), not that job's own evaluation; any other job
    needs the job before it finished.
    """
    if j.adapter_from and j.after == j.adapter_from:
        adapter = artifacts.RunFolder(job(j.adapter_from).run_dir).adapter
        return adapter.exists() and artifacts.provenance_path(adapter).exists()
    return is_finished(job(j.after)) if j.after else True


def command(j: Job, stage: str) -> list[str]:
    """The ``python -m dca <stage>`` command of one stage of a job.

    >>> command(job("seed1-dpop"), "train")[3:]
    ['train', 'profile=study', 'run_dir=runs/study/seed1-dpop', 'seed=1', 'loss_type=dpop']
    """
    from dca.cli import stage_config

    args = [f"profile={PROFILE}", f"run_dir={j.run_dir}"]
    fields = stage_config(stage).field_names()
    if "seed" in fields and stage != "transfer":  # transfer: the same questions for all
        args.append(f"seed={j.seed}")
    if stage in ("evaluate", "transfer"):
        args.append(f"results_store={RUNS / 'results.csv'}")
    if stage == "transfer":
        args.append(f"questions={TRANSFER}")
    for key, value in j.params.items():
        target, _, name = key.rpartition(".")
        if target == stage or (not target and name in fields):  # "model": every stage that has the field
            args.append(f"{name}={value}")
    return [sys.executable, "-m", "dca", stage, *args]


def _copy(src: Path, dst: Path) -> None:
    """Copy an artifact and its provenance when the destination lacks them."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for a, b in ((src, dst), (artifacts.provenance_path(src), artifacts.provenance_path(dst))):
        if a.exists() and not b.exists():
            shutil.copy2(a, b)


def prepare(j: Job) -> None:
    """Copy the seed's stage-1 table and questions, the shared transfer *before* table, and for a
    decoding recipe the adapter it evaluates."""
    from dca.evaluate.transfer import transfer_files

    if not j.objective:
        return
    seed_run, mine = artifacts.RunFolder(RUNS / j.stage1_job), artifacts.RunFolder(j.run_dir)
    if not seed_run.stage1.exists():
        raise RuntimeError(f"job {j.name} needs {j.stage1_job}'s stage 1: run job {j.stage1_job} first")
    _copy(seed_run.stage1, mine.stage1)
    _copy(seed_run.questions, mine.questions)
    if j.adapter_from:  # the folder whole first (renamed into place), its provenance last
        source = artifacts.RunFolder(job(j.adapter_from).run_dir).adapter
        if not mine.adapter.exists():
            partial = mine.adapter.with_name(mine.adapter.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(source, partial)
            partial.rename(mine.adapter)
        if not artifacts.provenance_path(mine.adapter).exists():
            shutil.copy2(artifacts.provenance_path(source), artifacts.provenance_path(mine.adapter))
    shared = transfer_files(j.shared_before, TRANSFER).before
    if shared.exists():
        _copy(shared, transfer_files(j.run_dir, TRANSFER).before)


def stages_until(j: Job, until: str | None) -> tuple[str, ...]:
    """The stages of ``j`` up to and including ``until`` (all of them when ``until`` is None). A seed's
    stage 1 comes before every stage, so it runs whole; a readout job, which trains nothing, cannot stop
    after training.

    >>> stages_until(job("seed1-sft-num-kl1"), "train"), stages_until(job("seed1"), "train")
    (('pairs', 'train'), ('extract',))
    >>> stages_until(job("seed1-sft-num-kl1-base"), "train")
    Traceback (most recent call last):
    ...
    RuntimeError: job seed1-sft-num-kl1-base has no stage 'train' (its stages: evaluate, transfer)
    """
    if until is None or not j.objective:
        return j.stages
    if until not in j.stages:
        raise RuntimeError(f"job {j.name} has no stage {until!r} (its stages: {', '.join(j.stages)})")
    return j.stages[: j.stages.index(until) + 1]


def is_finished_until(j: Job, until: str | None) -> bool:
    """Whether ``j`` has run as far as ``until``: the trained adapter (with its provenance) for
    ``until="train"``, the job's last output otherwise."""
    if until == "train" and "train" in j.stages:
        adapter = artifacts.RunFolder(j.run_dir).adapter
        return adapter.exists() and artifacts.provenance_path(adapter).exists()
    return is_finished(j)


def run_job(j: Job, until: str | None = None) -> float:
    """Run one job's stages (each skips what it finished); append its record to ``jobs.jsonl``.

    ``until`` stops after that stage (``run --until train``: the adapter a readout job needs, for an
    objective whose evaluation rows are already committed). A job stopped early appends no record, since
    a record is the provenance of the job's rows and its wall time is the whole job's.
    """
    from dca.evaluate.transfer import transfer_files

    stages = stages_until(j, until)
    if j.after and not ready_after(j):
        raise RuntimeError(f"job {j.name} needs job {j.after} first")
    prepare(j)
    j.run_dir.mkdir(parents=True, exist_ok=True)
    start, seconds = time.time(), {}
    for stage in stages:  # one process per stage: training's memory is returned before evaluation loads
        t0 = time.time()
        print(f"[study] {j.name}: {' '.join(command(j, stage)[3:])}", flush=True)
        subprocess.run(command(j, stage), check=True, cwd=ROOT)
        seconds[stage] = round(time.time() - t0, 1)
    if stages != j.stages:
        print(f"[study] {j.name}: stopped after {until} ({seconds}); no record appended", flush=True)
        return time.time() - start
    if j.objective:
        _copy(transfer_files(j.run_dir, TRANSFER).before, transfer_files(j.shared_before, TRANSFER).before)
    total = time.time() - start
    append_job_record(RUNS, {"job": j.name, "seed": j.seed, "objective": j.objective, "params": j.params,
                             "wall_s": round(total, 1), "stage_s": seconds})
    return total


if __name__ == "__main__":  # the command line lives in study_cli, which collect's module (importing this one) needs
    from dca.reference.study_cli import main

    raise SystemExit(main())
