"""``python -m dca``: run one stage, or the whole pipeline, with ``key=value`` parameters.

::

    python -m dca extract dataset=synthetic n_questions=200 model=embedded
    python -m dca pairs target=c_i_norm
    python -m dca train beta=0.2 loss_type=ipo
    python -m dca evaluate n_boot=2000
    python -m dca transfer questions=commonsenseqa    # the adapter on a dataset it was not trained on
    python -m dca run profile=default                 # elicit -> pairs -> train -> evaluate
    python -m dca run profile=smoke run_dir=runs/x train.epochs=2 train.batch_size=2
    python -m dca run profile=paper model=meta-llama/Llama-3.2-3B-Instruct run_dir=runs/llama
    python -m dca help [stage] [profile=NAME]          # each parameter with the value that will run

Names are the stage configs' fields, the same as the notebooks' papermill parameters. In ``run``,
``stage.key=value`` goes to one stage and a plain ``key=value`` to every stage that has that field,
provided it means the same there (:data:`SHARED_KEYS`: ``run_dir``, ``model``, ``device``, ``dtype``);
a plain key that means something else in each stage (``seed``: the data split, the LoRA
initialisation, the bootstrap; ``batch_size``: prompts per forward pass, pairs per optimiser step) is
an error naming the stage-qualified choices (``extract.seed=``, ``train.seed=`` ...). A profile's
``common`` section still goes to every stage that has the field. ``profile=NAME`` starts from ``profiles/NAME.yaml``;
without it a command starts from :data:`DEFAULT_PROFILE` (what ``make book`` runs), so ``python -m dca train beta=0.2``
changes one parameter of the book's run, and ``profile=none`` runs on the configs' own defaults. A stage whose
output exists for the same parameters is skipped. The same command runs under ``torchrun`` and
``accelerate launch``: elicitation and evaluation split the questions across processes, training is
data-parallel. While it works, a command holds its run folder's lock (``run_dir/.dca.lock``): a
second command into the same folder fails at once, naming the first.

A user error (a bad parameter, missing data or artifact, a folder in use) prints one line
``error: ...`` and exits with status 2; Ctrl-C prints what was interrupted and exits with 130.
``DCA_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import gc
import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dca import pipeline
from dca.config import ConfigError, StageConfig, check_model, load_profile, parse_overrides
from dca.data.questions import DataError
from dca.runs.artifacts import MissingArtifactError, RunLockedError, run_lock

#: Errors that are the user's to fix: printed as one line, exit status 2 (ValueError covers the
#: validation errors of the stages; ModelFetchError is added by :func:`user_errors`).
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, DataError, MissingArtifactError, RunLockedError,
                                                ValueError)


class StageInterrupted(KeyboardInterrupt):
    """Ctrl-C during a stage; carries the stage's name for the one-line message."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


#: The stage names, from :data:`dca.pipeline.STAGES`: every stage module exposes its config class and
#: ``run(config, *, progress=True, force=False)``, and keeps its own rules (which process writes, what is
#: skipped); a module is imported only when its stage is used.
STAGES: tuple[str, ...] = tuple(pipeline.STAGES)

#: The stages ``run`` takes: the pipeline. ``transfer`` (a trained adapter asked questions of another
#: dataset) runs on its own: ``python -m dca transfer questions=commonsenseqa``.
PIPELINE: tuple[str, ...] = tuple(s.name for s in pipeline.PIPELINE)


#: Plain keys that mean the same in every stage that has them; any other key that several stages have
#: (``seed``, ``batch_size``) must name its stage in ``run``: ``train.batch_size=8``.
SHARED_KEYS = ("run_dir", "model", "device", "dtype")


#: The profile of a command that names none: the book's (``make book``), so that each parameter has one
#: default, whether it runs in the book or from the command line.
DEFAULT_PROFILE = "default"
#: ``profile=none``: no profile, the configs' own defaults (the embedded model on synthetic questions).
NO_PROFILE = "none"


def stage_config(name: str) -> type[StageConfig]:
    """The config class of stage ``name``.

    >>> stage_config("pairs").__name__
    'PairsConfig'
    """
    return pipeline.load(pipeline.STAGES[name].config)


def stage_runner(name: str) -> Callable[..., Any]:
    """The ``run(config, *, progress, force)`` function of stage ``name``."""
    return pipeline.load(f"{pipeline.STAGES[name].module}:run")


def stage_parameters(names: list[str], args: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Distribute profile + command-line parameters over the named stages.

    Unknown keys fail naming the key and the valid ones: a plain key must be a field of at least one
    of the stages, a ``stage.key`` must name a stage and one of its fields.
    """
    args = dict(args)
    profile: str | None = args.pop("profile", DEFAULT_PROFILE)
    if not str(profile).strip():
        raise ConfigError(f"profile= is empty; name a profile (default, smoke ...), a .yaml path or {NO_PROFILE}, "
                          f"or leave it out (profile {DEFAULT_PROFILE})")
    if profile == NO_PROFILE:
        profile = None
    sections = load_profile(profile) if profile else {}
    params: dict[str, dict[str, Any]] = {}
    fields = {n: stage_config(n).field_names() for n in names}
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
        if len(targets) > 1 and key not in SHARED_KEYS:
            raise ConfigError(ambiguous(key, targets))
        for n in targets:
            params[n][key] = value
    return params


def ambiguous(key: str, stages: list[str]) -> str:
    """The error for a plain ``key`` that means something else in each of ``stages``.

    >>> print(ambiguous("seed", ["extract", "train"]))  # doctest: +NORMALIZE_WHITESPACE
    seed= means something else in each stage; name the stage: extract.seed= (seeds the subset, the
    option shuffle and the split), train.seed= (Seed of the LoRA initialisation, data order and dropout.)
    """
    helps = []
    for n in stages:
        meaning = next(f.metadata.get("help", "") for f in dataclasses.fields(stage_config(n)) if f.name == key)
        helps.append(f"{n}.{key}= ({meaning})")
    return f"{key}= means something else in each stage; name the stage: {', '.join(helps)}"


def run_stages(names: list[str], args: dict[str, str], *, progress: bool = True) -> dict[str, float]:
    """Build every config first (so a bad parameter fails before any work), then run in order."""
    params = stage_parameters(names, args)
    configs = {n: stage_config(n).from_dict(params[n]) for n in names}
    for n in names:  # checks against the model (its config only), still before any work
        if "model" in params[n] or n == "extract":
            check_model(configs[n], hub=True)
        check = getattr(importlib.import_module(pipeline.STAGES[n].module), "preflight", None)
        if check is not None:
            check(configs[n])
    seconds: dict[str, float] = {}
    from dca.runs.distributed import init_process_group, is_main_process

    with contextlib.ExitStack() as locks:
        if is_main_process():  # the other processes of a torchrun / accelerate launch share the main one's
            for run_dir in sorted({Path(c.run_dir).resolve() for c in configs.values()}):  # type: ignore[attr-defined]
                locks.enter_context(run_lock(run_dir))
        init_process_group()  # several processes: start the group before any stage (a stage may be skipped)
        for n in names:
            start = time.perf_counter()
            try:
                out = stage_runner(n)(configs[n], progress=progress)
            except KeyboardInterrupt:
                raise StageInterrupted(n) from None
            seconds[n] = time.perf_counter() - start
            gc.collect()  # a stage's model is freed before the next one loads its own
            if is_main_process():
                print(f"[dca] {n}: {out} ({seconds[n]:.1f} s)", flush=True)
    return seconds


def help_text(names: list[str], args: dict[str, str]) -> str:
    """``python -m dca help [stage ...] [profile=NAME]``: each parameter of the stages with the value a
    command with those arguments runs (the profile's, else the config's default) and its meaning.

    >>> print(help_text(["train"], {}).splitlines()[0])
    train (profile default):
    """
    unknown = set(args) - {"profile"}
    if unknown:
        raise ConfigError(f"help takes stage names and profile=NAME, not {', '.join(sorted(unknown))}")
    names = names or list(STAGES)
    for n in names:
        if n not in STAGES:
            raise ConfigError(f"unknown stage {n!r}; stages: {', '.join(STAGES)}")
    params = stage_parameters(names, args)
    profile = args.get("profile", DEFAULT_PROFILE)
    where = "no profile: the configs' defaults" if profile == NO_PROFILE else f"profile {profile}"
    return "\n\n".join(f"{n} ({where}):\n{stage_config(n).help(params[n])}" for n in names) + "\n"


def user_errors() -> tuple[type[BaseException], ...]:
    """:data:`USER_ERRORS` plus the model fetcher's error (imported here: it is a heavier module)."""
    from dca.models.embedded import ModelFetchError

    return (*USER_ERRORS, ModelFetchError)


USAGE = __doc__

#: ``OSError`` numbers that are the user's to fix (a full disk or quota, a read-only or forbidden folder).
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
#: What ``torch.save``'s stream writer says when a write fails (it raises ``RuntimeError``, not ``OSError``).
WRITE_FAILED = ("iostream error", "file write failed", "unexpected pos")


def disk_error(err: BaseException) -> str | None:
    """One line for a failed write (disk full, read-only, no permission), or None for other errors.

    >>> import errno
    >>> disk_error(OSError(errno.ENOSPC, "No space left on device", "runs/x/stage1.parquet"))
    "No space left on device: 'runs/x/stage1.parquet' (free some space, or write somewhere else)"
    """
    if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
        where = f": {err.filename!r}" if err.filename else ""
        return f"{err.strerror or err}{where} (free some space, or write somewhere else)"
    if isinstance(err, OSError) and "No space left" in str(err):  # pyarrow's OSError has no errno
        return f"{str(err).splitlines()[0]} (free some space, or write somewhere else)"
    if isinstance(err, RuntimeError) and any(w in str(err) for w in WRITE_FAILED):
        return f"a file could not be written (disk full?): {str(err).splitlines()[0]}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command; a user error is one line and status 2, Ctrl-C one line and status 130.

    With ``DCA_DEBUG=1`` in the environment the exception propagates, traceback and all.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if os.environ.get("DCA_DEBUG", "") not in ("", "0"):
        return _command(argv[0], argv[1:])
    try:
        return _command(argv[0], argv[1:])
    except KeyboardInterrupt as err:
        what = f"the {err.stage} stage" if isinstance(err, StageInterrupted) else f"'{argv[0]}'"
        print(f"interrupted: {what} stopped; rerun the same command to resume (finished stages are skipped, "
              "training continues from its last checkpoint)", file=sys.stderr)
        return 130
    except user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as err:
        line = disk_error(err)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2


def _command(command: str, rest: list[str]) -> int:
    """Dispatch ``help``, ``run`` or one stage; exceptions propagate to :func:`main`."""
    if command == "help":
        print(help_text([w for w in rest if "=" not in w], parse_overrides([w for w in rest if "=" in w])))
        return 0
    if command == "run":
        run_stages(list(PIPELINE), parse_overrides(rest))
        return 0
    if command in STAGES:
        run_stages([command], parse_overrides(rest))
        return 0
    raise ConfigError(f"unknown command {command!r}; use one of: {', '.join([*STAGES, 'run', 'help'])}")
