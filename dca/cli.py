"""``python -m dca``: run one stage, or the whole pipeline, with ``key=value`` parameters.

::

    python -m dca extract dataset=synthetic n_questions=200 model=embedded
    python -m dca pairs target=c_i_norm
    python -m dca train beta=0.2 loss_type=ipo
    python -m dca evaluate n_boot=2000
    python -m dca run profile=default                 # elicit -> pairs -> train -> evaluate
    python -m dca run profile=smoke run_dir=runs/x train.epochs=2
    python -m dca help [stage]

Names are the stage configs' fields, the same as the notebooks' papermill parameters. In ``run``, a
plain ``key=value`` goes to every stage that has that field (``run_dir``, ``seed`` ...) and
``stage.key=value`` to one stage. ``profile=NAME`` starts from ``profiles/NAME.yaml``. A stage whose
output exists for the same parameters is skipped. The same command runs under ``torchrun`` and
``accelerate launch``: elicitation and evaluation split the questions across processes, training is
data-parallel.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dca.config import ConfigError, StageConfig, load_profile


@dataclass(frozen=True)
class Stage:
    name: str
    config: Callable[[], type[StageConfig]]
    runner: Callable[[], Callable[..., Any]]


def _extract():
    from dca.extract import ExtractConfig, run_extract
    return ExtractConfig, run_extract


def _pairs():
    from dca.pairs import PairsConfig, run_pairs
    return PairsConfig, run_pairs


def _train():
    from dca.train import TrainConfig, train_dpo
    return TrainConfig, train_dpo


def _evaluate():
    from dca.evaluate import EvalConfig, run_evaluate
    return EvalConfig, run_evaluate


STAGES: dict[str, Stage] = {
    "extract": Stage("extract", lambda: _extract()[0], lambda: _extract()[1]),
    "pairs": Stage("pairs", lambda: _pairs()[0], lambda: _pairs()[1]),
    "train": Stage("train", lambda: _train()[0], lambda: _train()[1]),
    "evaluate": Stage("evaluate", lambda: _evaluate()[0], lambda: _evaluate()[1]),
}


def parse_pairs(argv: list[str]) -> dict[str, str]:
    """``["a=1", "train.beta=0.2"]`` -> ``{"a": "1", "train.beta": "0.2"}``; anything else is an error.

    >>> parse_pairs(["run_dir=runs/x", "train.beta=0.2"])
    {'run_dir': 'runs/x', 'train.beta': '0.2'}
    """
    out: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected key=value, got {arg!r}")
        out[key.strip()] = value
    return out


def stage_parameters(names: list[str], args: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Distribute profile + command-line parameters over the named stages.

    Unknown keys fail naming the key and the valid ones: a plain key must be a field of at least one
    of the stages, a ``stage.key`` must name a stage and one of its fields.
    """
    args = dict(args)
    profile = args.pop("profile", None)
    sections = load_profile(profile) if profile else {}
    params: dict[str, dict[str, Any]] = {}
    fields = {n: STAGES[n].config().field_names() for n in names}
    for n in names:
        chosen = {k: v for k, v in sections.get("common", {}).items() if k in fields[n]}
        chosen.update(sections.get(n, {}))
        if profile and "profile" in fields[n]:
            chosen.setdefault("profile", str(profile))
        params[n] = chosen
    for key, value in args.items():
        stage, dot, name = key.partition(".")
        if dot:
            if stage not in fields:
                raise ConfigError(f"unknown stage {stage!r} in {key!r}; stages: {', '.join(names)}")
            if name not in fields[stage]:
                raise ConfigError(f"unknown parameter {name!r} for stage {stage!r}; valid: {', '.join(fields[stage])}")
            params[stage][name] = value
            continue
        targets = [n for n in names if key in fields[n]]
        if not targets:
            valid = sorted({f for fs in fields.values() for f in fs})
            raise ConfigError(f"unknown parameter {key!r}; valid: {', '.join(valid)}")
        for n in targets:
            params[n][key] = value
    return params


def run_stages(names: list[str], args: dict[str, str], *, progress: bool = True) -> dict[str, float]:
    """Build every config first (so a bad parameter fails before any work), then run in order."""
    params = stage_parameters(names, args)
    configs = {n: STAGES[n].config().from_dict(params[n]) for n in names}
    seconds: dict[str, float] = {}
    from dca.distributed import barrier, init_process_group, is_main_process

    init_process_group()  # several processes: start the group before any stage (a stage may be skipped)
    for n in names:
        start = time.perf_counter()
        runner = STAGES[n].runner()
        if n == "pairs":  # cheap and written once: the main process builds, the others wait
            out = runner(configs[n]) if is_main_process() else None
            barrier()
        elif n == "train":
            out = runner(configs[n])
        else:
            out = runner(configs[n], progress=progress)
        seconds[n] = time.perf_counter() - start
        if is_main_process():
            print(f"[dca] {n}: {out} ({seconds[n]:.1f} s)", flush=True)
    return seconds


USAGE = __doc__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command == "help":
            names = rest or list(STAGES)
            for n in names:
                if n not in STAGES:
                    raise ConfigError(f"unknown stage {n!r}; stages: {', '.join(STAGES)}")
                print(f"{n}:\n{STAGES[n].config().help()}\n")
            return 0
        if command == "run":
            run_stages(list(STAGES), parse_pairs(rest))
            return 0
        if command in STAGES:
            run_stages([command], parse_pairs(rest))
            return 0
        raise ConfigError(f"unknown command {command!r}; use one of: {', '.join([*STAGES, 'run', 'help'])}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
