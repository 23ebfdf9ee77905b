"""Experiment registry, configs with quick/paper presets, and the run-directory protocol."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from .._errors import SmoothscopeError
from .._io import load_json, save_json
from ..results import Claim
from ..sweep import ExecutorSpec, open_executor

__all__ = [
    "SCALES",
    "ExperimentConfig",
    "ExperimentSpec",
    "available_experiments",
    "get_experiment",
    "register_experiment",
    "run_experiment",
]

SCALES = ("quick", "paper")
RESULTS_SCHEMA = 1
"""Version of the ``results.json`` layout (claims + measurements); the report accepts it."""


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of experiment configs: a frozen dataclass with ``QUICK`` and ``PAPER`` presets.

    Subclasses declare their fields with the paper-scale defaults and list in ``QUICK`` the
    fields that the quick scale changes.

    Attributes:
        seed: the run's seed; every cell derives its own from it.
        threads_per_cell: intra-op threads of each cell. On CPU the bits of a result depend on
            it (not on the executor or the number of workers), so it is part of the config.
    """

    seed: int = 0
    threads_per_cell: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SmoothscopeError(f"seed: expected a non-negative integer, got {self.seed!r}")
        if not isinstance(self.threads_per_cell, int) or self.threads_per_cell < 1:
            raise SmoothscopeError(
                f"threads_per_cell: expected a positive integer, got {self.threads_per_cell!r}"
            )

    QUICK: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def preset(cls, scale: str, **overrides: Any) -> ExperimentConfig:
        """The config at ``scale`` ("quick" or "paper") with ``overrides`` applied."""
        if scale not in SCALES:
            raise SmoothscopeError(f"scale: expected one of {', '.join(SCALES)}, got {scale!r}")
        values = dict(cls.QUICK) if scale == "quick" else {}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise SmoothscopeError(
                f"option {unknown[0]!r}: expected one of {', '.join(sorted(names))}"
            )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def parse_option(cls, text: str) -> tuple[str, Any]:
        """Parse ``KEY=VALUE`` (VALUE as JSON, else a string) and check it against the field."""
        key, sep, raw = text.partition("=")
        key = key.strip().replace("-", "_")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if not sep or key not in fields:
            raise SmoothscopeError(
                f"option: expected KEY=VALUE with KEY one of {', '.join(sorted(fields))}, "
                f"got {text!r}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        hint = typing.get_type_hints(cls)[key]
        return key, _coerce(key, value, hint)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Convert a parsed option to the field's type or raise a one-line error."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except SmoothscopeError as exc:
                errors.append(str(exc))
        raise SmoothscopeError(errors[0] if errors else f"{key}: unexpected value {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list):
            value = [value]
        (arg, *_rest) = typing.get_args(hint) or (str,)
        return tuple(_coerce(key, v, arg) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SmoothscopeError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SmoothscopeError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise SmoothscopeError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        return str(value)
    return value


@dataclass(frozen=True)
class ExperimentSpec:
    """A registered experiment.

    Attributes:
        name: CLI name.
        description: one line for ``smoothscope list``.
        config: the config class.
        run: ``run(config, run_dir, progress=..., executor=...) -> {"claims": [Claim],
            "measurements": {...}}``; it runs its cells through the executor and writes arrays
            and figures into ``run_dir``.
    """

    name: str
    description: str
    config: type[ExperimentConfig]
    run: Callable[..., Mapping[str, Any]]


_EXPERIMENTS: dict[str, ExperimentSpec] = {}


def register_experiment(spec: ExperimentSpec) -> ExperimentSpec:
    if spec.name in _EXPERIMENTS:
        raise SmoothscopeError(f"experiment {spec.name!r} is registered twice")
    _EXPERIMENTS[spec.name] = spec
    return spec


def available_experiments() -> list[ExperimentSpec]:
    """Registered experiments, sorted by name."""
    return [_EXPERIMENTS[k] for k in sorted(_EXPERIMENTS)]


def get_experiment(name: str) -> ExperimentSpec:
    if name not in _EXPERIMENTS:
        raise SmoothscopeError(
            f"experiment: expected one of {', '.join(sorted(_EXPERIMENTS))}, got {name!r}"
        )
    return _EXPERIMENTS[name]


def _environment() -> dict[str, Any]:
    from .. import __version__

    return {
        "smoothscope": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def _prepare_run_dir(out: Path, config: Mapping[str, Any], name: str, scale: str) -> None:
    """Create ``out`` or check that it holds a run of the same experiment and config."""
    if out.exists() and not out.is_dir():
        raise SmoothscopeError(f"--out: expected a directory, got the file {out}")
    config_path = out / "config.json"
    if config_path.exists():
        previous = load_json(config_path)
        same = (
            previous.get("experiment") == name
            and previous.get("scale") == scale
            and previous.get("config") == json.loads(json.dumps(dict(config)))
        )
        if not same:
            raise SmoothscopeError(
                f"--out: {out} holds a run with another experiment or config; "
                "choose another directory or delete it"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SmoothscopeError(f"--out: expected a writable directory, got {out} ({exc})") from exc


def run_experiment(
    name: str,
    *,
    scale: str = "quick",
    seed: int = 0,
    out: str | os.PathLike | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
    executor: ExecutorSpec | None = None,
) -> dict[str, Any]:
    """Run a registered experiment into a run directory and return its ``results.json`` content.

    An existing run directory of the same experiment and config is resumed: finished cells
    (trained models, evaluations) are reused.

    Args:
        name: experiment name (see :func:`available_experiments`).
        scale: ``"quick"`` or ``"paper"``.
        seed: the run's seed; the same seed gives the same numbers on CPU.
        out: run directory (default ``runs/<name>-<scale>-seed<seed>``).
        options: config fields to override.
        progress: show progress bars.
        executor: where the cells run (default: in this process); results do not depend on it,
            so a run may be resumed with another executor.
    """
    spec = get_experiment(name)
    config = spec.config.preset(scale, seed=seed, **dict(options or {}))
    out = Path(out) if out is not None else Path("runs") / f"{name}-{scale}-seed{seed}"
    _prepare_run_dir(out, config.to_dict(), name, scale)
    save_json(
        out / "config.json",
        {
            "experiment": name,
            "scale": scale,
            "config": config.to_dict(),
            "environment": _environment(),
        },
    )
    with open_executor(executor, log_folder=out / "slurm") as pool:
        outcome = spec.run(config, out, progress=progress, executor=pool)
    claims: list[Claim] = list(outcome["claims"])
    results = {
        "schema": RESULTS_SCHEMA,
        "experiment": name,
        "scale": scale,
        "seed": seed,
        "environment": _environment(),
        "claims": [c.to_dict() for c in claims],
        "measurements": outcome.get("measurements", {}),
    }
    save_json(out / "results.json", results)
    results["run_dir"] = str(out)
    return results
