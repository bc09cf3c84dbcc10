"""Stage configs: dataclasses whose fields are a notebook's papermill parameters and the CLI's names.

Every stage has one frozen dataclass deriving from :class:`StageConfig`. Building one from a mapping
(a profile section, ``key=value`` pairs from the command line, papermill parameters) goes through
:meth:`StageConfig.from_dict`, which rejects unknown keys by name and converts strings to the field's
type, so ``batch_size=abc`` fails with a message naming the key and the bad value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from dca.paths import ROOT

C = TypeVar("C", bound="StageConfig")

#: The seed every stage and helper starts from unless told otherwise (the data subset and split, the
#: LoRA initialisation, the bootstrap). One definition: the configs' ``seed`` fields and the helpers'
#: ``seed=`` keywords use it.
SEED = 0
#: Bootstrap resamples for a 95 % interval, unless told otherwise (``EvalConfig.n_boot`` and the helpers).
N_BOOT = 1000


class ConfigError(ValueError):
    """A parameter is unknown or has a bad value; the message names it and the valid choices."""


def parse_overrides(argv: list[str]) -> dict[str, str]:
    """Command-line ``key=value`` words as a mapping; a word without ``=`` or without a key is an error.

    Values stay strings: :meth:`StageConfig.from_dict` converts them to the fields' types.

    >>> parse_overrides(["run_dir=runs/x", "train.beta=0.2", "dataset="])
    {'run_dir': 'runs/x', 'train.beta': '0.2', 'dataset': ''}
    >>> parse_overrides(["beta"])
    Traceback (most recent call last):
    ...
    dca.config.ConfigError: expected key=value, got 'beta'
    """
    out: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected key=value, got {arg!r}")
        out[key.strip()] = value
    return out


def _convert(name: str, value: Any, tp: Any) -> Any:
    """Convert ``value`` (often a string from the command line) to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in {"none", "null", ""}):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(name, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{name}: bad value {value!r}")
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {list(args)}")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if value.strip() else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r} is not a list")
        inner = args[0] if args else str
        items = [_convert(name, v, inner) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "0", "no", "off"}:
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{name}={value!r} is not a boolean (use true or false)")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} is not an integer")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r} is not an integer") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r} is not a number") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{name}={value!r} is not a string")
        return str(value)
    return value


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """Base class of every stage config. Subclasses add fields with ``metadata={"help": ...}``."""

    #: Name of the stage: the profile section and the CLI sub-command.
    stage: ClassVar[str] = "stage"

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the parameters, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any] | None = None, **overrides: Any) -> C:
        """Build a config, rejecting unknown keys and converting values to the field types.

        >>> from dca.extract.stage import ExtractConfig
        >>> ExtractConfig.from_dict({"n_questions": "12", "n_eval": "4"}).n_questions
        12
        >>> ExtractConfig.from_dict({"n_question": 12})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dca.config.ConfigError: unknown parameter 'n_question' for stage 'extract'; valid: ...
        """
        merged = dict(values or {})
        merged.update(overrides)
        hints = typing.get_type_hints(cls)
        valid = cls.field_names()
        kwargs = {}
        for key, value in merged.items():
            if key not in valid:
                raise ConfigError(
                    f"unknown parameter {key!r} for stage {cls.stage!r}; valid: {', '.join(valid)}"
                )
            kwargs[key] = _convert(key, value, hints[key])
        config = cls(**kwargs)
        config.validate()
        if "run_dir" in valid:
            check_run_dir(config)
        return config

    @classmethod
    def from_namespace(cls: type[C], namespace: Mapping[str, Any]) -> C:
        """Build a config from the variables of that name in ``namespace`` (a notebook's ``globals()``,
        where papermill's parameters cell defined them): each parameter is stated once, in that cell.

        >>> from dca.extract.stage import ExtractConfig
        >>> ExtractConfig.from_namespace({"n_questions": 12, "n_eval": 4, "unrelated": 1}).n_eval
        4

        A name that papermill injected (``papermill -p n_question 200``: the cell it adds, which
        begins ``# Parameters``, is in IPython's input history ``In``) and that is not a field fails
        naming it, instead of running on with the default:

        >>> ExtractConfig.from_namespace({"In": ["", "# Parameters\\nn_question = 200\\n"]})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dca.config.ConfigError: unknown parameter 'n_question' for stage 'extract' (given to papermill); valid: ...
        """
        valid = cls.field_names()
        for name in injected_parameters(namespace):
            if name not in valid:
                raise ConfigError(f"unknown parameter {name!r} for stage {cls.stage!r} (given to papermill); "
                                  f"valid: {', '.join(valid)}")
        return cls.from_dict({name: namespace[name] for name in cls.field_names() if name in namespace})

    @classmethod
    def from_profile(cls: type[C], profile: str | Path, *, where: str = "") -> C:
        """The config a profile gives this stage: the profile's ``common`` section filtered to this
        stage's fields, then its own section (``cls.stage``), defaults filled in. A key of its own
        section that is no field fails naming it (and ``where``, e.g. the notebook).

        >>> from dca.extract.stage import ExtractConfig
        >>> ExtractConfig.from_profile("smoke").n_questions
        24
        """
        data = load_profile(profile)
        section = data.get(cls.stage, {})
        names = cls.field_names()
        for key in section:
            if key not in names:
                raise ConfigError(f"profile {str(profile)!r}: unknown parameter {key!r} for stage {cls.stage!r}"
                                  f"{where}; valid: {', '.join(names)}")
        merged = {k: v for k, v in data.get("common", {}).items() if k in names}
        merged.update(section)
        if "profile" in names and "profile" not in merged:  # stages that record which profile made a result
            merged["profile"] = Path(profile).stem
        try:
            return cls.from_dict(merged)
        except ConfigError as err:
            raise ConfigError(f"profile {str(profile)!r}{where}: {err}") from None

    def validate(self) -> None:
        """Check values beyond their types; subclasses raise :class:`ConfigError` naming the field."""

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of the parameters (JSON-serialisable)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def fingerprint(self, exclude: tuple[str, ...] = ()) -> str:
        """Short hash of the parameters that decide a stage's output (for skipping finished stages)."""
        data = {k: v for k, v in self.to_dict().items() if k not in exclude}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @classmethod
    def help(cls, values: Mapping[str, Any] | None = None) -> str:
        """One line per parameter: name, the value that runs, help text.

        ``values`` (a profile's parameters for this stage, as :meth:`from_dict` takes them) replace the
        defaults; where one differs from the config's default, that default is named too.

        >>> from dca.pairs import PairsConfig
        >>> [line for line in PairsConfig.help({"min_gap": "5"}).splitlines() if line.startswith("  min_gap")]
        ['  min_gap = 5.0  (without a profile: 0.0)']
        """
        config = cls.from_dict(values or {})
        lines = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            value = getattr(config, f.name)
            value = list(value) if isinstance(value, tuple) and isinstance(default, list) else value
            note = f"  (without a profile: {default!r})" if value != default else ""
            lines.append(f"  {f.name} = {value!r}{note}\n      {f.metadata.get('help', '')}")
        return "\n".join(lines)


#: The first line of the cell papermill injects with the parameters it was given.
PAPERMILL_CELL = "# Parameters"


def injected_parameters(namespace: Mapping[str, Any]) -> list[str]:
    """The names assigned in the cells papermill injected, from IPython's input history (``In``)
    in ``namespace``; ``[]`` outside IPython or without papermill.

    >>> injected_parameters({"In": ["", "# Parameters\\nrun_dir = 'runs/x'\\nseed = 1\\n", "x = 1"]})
    ['run_dir', 'seed']
    """
    import ast

    history = namespace.get("In")
    if not isinstance(history, (list, tuple)):
        return []
    names: list[str] = []
    for source in history:
        if not isinstance(source, str) or not source.startswith(PAPERMILL_CELL):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names += [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                  if isinstance(t, ast.Name)]
    return names


def _finite(name: str, value: Any) -> None:
    """Raise :class:`ConfigError` for NaN and infinities (every comparison with NaN is false)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}={value!r} must be a finite number")


def positive(config: StageConfig, *names: str, allow_zero: bool = False) -> None:
    """Raise :class:`ConfigError` unless each named field is finite and > 0 (or >= 0 with ``allow_zero``).

    >>> from dca.pairs import PairsConfig
    >>> positive(PairsConfig(min_gap=float("nan")), "min_gap", allow_zero=True)
    Traceback (most recent call last):
    ...
    dca.config.ConfigError: min_gap=nan must be a finite number
    """
    for name in names:
        value = getattr(config, name)
        if value is None:
            continue
        _finite(name, value)
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"{name}={value!r} must be {bound}")


def at_most(config: StageConfig, limit: float, *names: str) -> None:
    """Raise :class:`ConfigError` when a named field exceeds ``limit`` (a typo such as ``1e22``)."""
    for name in names:
        value = getattr(config, name)
        if value is not None:
            _finite(name, value)
            if value > limit:
                raise ConfigError(f"{name}={value!r} is above the limit of {limit:g}")


def in_range(config: StageConfig, name: str, low: float, high: float) -> None:
    """Raise :class:`ConfigError` unless ``low <= config.name <= high`` (NaN never is)."""
    value = getattr(config, name)
    if not low <= value <= high:
        raise ConfigError(f"{name}={value!r} must lie in [{low}, {high}]")


#: ``dtype`` values of the inference stages (the keys of ``dca.models.loading.DTYPES``).
DTYPE_NAMES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(?::\d+)?")


def check_device(config: StageConfig, name: str = "device") -> None:
    """Raise :class:`ConfigError` unless the field is ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``.

    >>> from dca.extract.stage import ExtractConfig
    >>> ExtractConfig(device="tpu").validate()
    Traceback (most recent call last):
    ...
    dca.config.ConfigError: device='tpu' is not valid; use auto, cpu, mps, cuda or cuda:N
    """
    if not _DEVICE.fullmatch(getattr(config, name)):
        raise ConfigError(f"{name}={getattr(config, name)!r} is not valid; use auto, cpu, mps, cuda or cuda:N")


def check_dtype(config: StageConfig, name: str = "dtype") -> None:
    """Raise :class:`ConfigError` unless the field is one of :data:`DTYPE_NAMES`."""
    if getattr(config, name) not in DTYPE_NAMES:
        raise ConfigError(f"{name}={getattr(config, name)!r} is not valid; choose one of {list(DTYPE_NAMES)}")


def check_run_dir(config: StageConfig, name: str = "run_dir") -> None:
    """Raise :class:`ConfigError` for a run folder that is empty (the working directory), the root of
    the file system, or an existing file.

    >>> from dca.pairs import PairsConfig
    >>> check_run_dir(PairsConfig(run_dir=" "))
    Traceback (most recent call last):
    ...
    dca.config.ConfigError: run_dir=' ' is empty; name a folder for the run's artifacts (e.g. runs/x)
    >>> check_run_dir(PairsConfig(run_dir="/"))
    Traceback (most recent call last):
    ...
    dca.config.ConfigError: run_dir='/' is the root of the file system; name a folder for the run's artifacts (e.g. runs/x)
    """
    value = str(getattr(config, name))
    hint = "name a folder for the run's artifacts (e.g. runs/x)"
    if not value.strip():
        raise ConfigError(f"{name}={value!r} is empty; {hint}")
    path = Path(value).expanduser()
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"{name}={value!r} is a symbolic link that leads nowhere (a loop of links, or a missing "
                          f"target); {hint}")
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise ConfigError(f"{name}={value!r} is the root of the file system; {hint}")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}={value!r} is a file, not a folder; {hint}")


def check_model(config: StageConfig, name: str = "model", *, hub: bool = False) -> None:
    """Raise :class:`ConfigError` for a model that cannot load: a path (absolute, ``./``, ``../``,
    ``~``) that is not a folder, or, with ``hub`` and offline (``HF_HUB_OFFLINE``), a Hub id absent
    from the local Hub cache (the command line checks that before it runs; a profile naming a Hub
    model stays valid offline). Packaged short names and existing folders pass.

    >>> from dca.extract.stage import ExtractConfig
    >>> check_model(ExtractConfig(model="/nonexistent"))
    Traceback (most recent call last):
    ...
    dca.config.ConfigError: model='/nonexistent' is not a folder; use embedded, qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, gemma-3-270m, a Hub id or a local model folder
    """
    from dca.data.offline import hub_offline
    from dca.models.embedded import PACKAGED_MODELS

    value = str(getattr(config, name))
    choices = f"use {', '.join(PACKAGED_MODELS)}, a Hub id or a local model folder"
    if value in PACKAGED_MODELS or Path(value).expanduser().is_dir():
        return
    if not value.strip() or value.startswith(("/", "./", "../", "~", ".\\")) or Path(value).exists():
        raise ConfigError(f"{name}={value!r} is not a folder; {choices}")
    if hub and hub_offline() and not _in_hub_cache(value):
        raise ConfigError(f"{name}={value!r} is not in the local Hub cache and the Hub is off (HF_HUB_OFFLINE); "
                          f"{choices}")


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the Hub cache holds a ``config.json`` of ``repo_id`` (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # a malformed id (``a/b/c``) is not in any cache  # noqa: BLE001
        return False


PROFILE_DIR = ROOT / "profiles"


def profile_path(profile: str | Path) -> Path:
    """Resolve a profile name (``default``, ``smoke``, ...) or a path to a YAML file."""
    path = Path(profile)
    if path.suffix in {".yaml", ".yml"} and path.exists():
        return path
    candidate = PROFILE_DIR / f"{profile}.yaml"
    if candidate.exists():
        return candidate
    names = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
    raise ConfigError(f"unknown profile {str(profile)!r}; available: {', '.join(names)} (or a .yaml path)")


def load_profile(profile: str | Path) -> dict[str, dict[str, Any]]:
    """Read a profile: a YAML mapping from stage name to that stage's parameters.

    A top-level ``common`` section holds parameters given to every stage that has a field of
    that name (``run_dir``, ``model``, ``seed``...).
    """
    path = profile_path(profile)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"profile {str(path)!r}{line} is not valid YAML: "
                          f"{getattr(err, 'problem', None) or err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"profile {str(path)!r} cannot be read: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) or v is None for v in data.values()):
        raise ConfigError(f"profile {str(path)!r} must be a mapping of stage -> parameters")
    return {str(k): dict(v or {}) for k, v in data.items()}
