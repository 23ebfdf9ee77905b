"""Experiment registry, configs with quick/paper presets, and the run-directory protocol."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from .._device import device_name, resolve_device
from .._errors import SmoothscopeError
from .._io import check_path_name, load_json, relative_paths, save_json
from .._validate import Bound, validate_dataclass_fields, validate_field
from ..protocol import PaperValue, ledger
from ..results import Claim
from ..sweep import (
    ExecutorSpec,
    clean_stale_temporaries,
    derive_seed,
    open_executor,
    seeded_global_rngs,
)

__all__ = [
    "SCALES",
    "ExperimentConfig",
    "ExperimentSpec",
    "Figure",
    "available_experiments",
    "get_experiment",
    "register_experiment",
    "run_experiment",
]

SCALES = ("quick", "standard", "paper")
"""``quick``: minutes, for demos and tests of the pipeline; ``standard``: the smallest protocol at
which each paper claim is decided, on one workstation; ``paper``: the papers' own protocol."""
DEVICE_ENV = "SMOOTHSCOPE_DEVICE"
"""Environment variable holding the default ``device`` of configs (set by ``--device``)."""
RESULTS_SCHEMA = 3
"""Version of the ``results.json`` layout (claims + measurements); the report accepts it and
older ones. Schema 2 adds each claim's kind, control, replicates, threshold and power note, and
the run's ``data`` and ``deviations`` (config fields that differ from the named scale); schema 3
the run's ``protocol`` ledger and each claim's ``depends_on`` and ``decided_under_deviation``
(:mod:`smoothscope.protocol`)."""


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of experiment configs: a frozen dataclass with ``QUICK``, ``STANDARD`` and paper
    presets.

    Subclasses declare their fields with the paper-scale defaults and list in ``QUICK`` and
    ``STANDARD`` the fields that those scales change. A config without a ``STANDARD`` preset
    cannot run at the standard scale.

    Attributes:
        seed: the run's seed; every cell derives its own from it.
        threads_per_cell: intra-op threads of each cell. On CPU the bits of a result depend on
            it (not on the executor or the number of workers), so it is part of the config.
        device: ``"cpu"``, ``"cuda"`` (``"cuda:k"``) or ``"auto"`` (default:
            ``$SMOOTHSCOPE_DEVICE``, set by ``--device``, else ``"cpu"``), resolved here to the
            device the cells use: ``"auto"`` becomes CUDA when CUDA is present *and* the
            experiment's cells can use it (``DEVICES``), else ``"cpu"``; an explicit CUDA
            device for an experiment whose cells run on the CPU only is refused before
            anything runs, rather than recorded for a computation that happened on the CPU.
            Bit-identical results are promised on the CPU only.
    """

    seed: int = 0
    threads_per_cell: int = 1
    device: str = dataclasses.field(default_factory=lambda: os.environ.get(DEVICE_ENV, "cpu"))

    BOUNDS: ClassVar[Mapping[str, Bound]] = {
        "seed": Bound(0, 2**63 - 1),
        "threads_per_cell": Bound(1, 1024),
    }
    """Declared bounds of the fields (see :class:`smoothscope._validate.Bound`); a subclass
    declares its own, the others get :meth:`field_bounds`' defaults."""

    def __post_init__(self) -> None:
        # one source of validation for the CLI, --set and the API: every field is coerced to
        # its type (strings read as the CLI reads them) and checked against its bounds
        validate_dataclass_fields(self, self.field_bounds())
        object.__setattr__(self, "device", self.cell_device_name(self.device))

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu",)
    """Device types the experiment's cells can use (``"cuda"``: models, data and
    diffeomorphisms move to it)."""

    @classmethod
    def cell_device_name(cls, device: str) -> str:
        """``device`` resolved for this experiment: ``"cpu"`` or ``"cuda[:k]"``.

        Raises:
            SmoothscopeError: an unknown device, CUDA on a machine without it, or an explicit
                CUDA device for an experiment whose cells run on the CPU only.
        """
        resolved = resolve_device(device)  # a clear error for an unknown device or no CUDA
        if resolved.type in cls.DEVICES:
            return str(resolved)
        if device == "auto":
            return "cpu"
        cuda = ", ".join(sorted(_cuda_experiments())) or "none"
        raise SmoothscopeError(
            f"device: {device!r}, but this experiment's cells run on the CPU only; "
            f"--device cuda applies to the experiments {cuda}, to `analyze stability` and to "
            "relative_stability(device=...)"
        )

    def cell_device(self) -> dict[str, str]:
        """The cells' device as a cell-config entry: ``{}`` on the CPU (so the cells of a CPU
        run keep their identities), else ``{"device": "cuda:0"}``."""
        return {} if self.device == "cpu" else {"device": self.device}

    @classmethod
    def field_bounds(cls) -> dict[str, Bound]:
        """The declared bound of every field: ``BOUNDS`` of the class and its bases; an
        undeclared ``str | None`` field named ``*_dir`` or ``*_path`` must be an existing
        directory; the other undeclared fields get :meth:`Bound.default` of their type."""
        bounds: dict[str, Bound] = {}
        for klass in reversed(cls.__mro__):
            bounds.update(vars(klass).get("BOUNDS", {}))
        for f in dataclasses.fields(cls):
            if f.name not in bounds and f.name.endswith(("_dir", "_path")):
                bounds[f.name] = Bound(directory=True)
        return bounds

    PROTOCOL: ClassVar[Mapping[str, PaperValue]] = {}
    """The protocol ledger's declarations: for each field a paper fixes, the paper's value, its
    source and why a scale may deviate (:class:`smoothscope.protocol.PaperValue`). A name that
    is not a field is a value the run resolves itself (listed in ``RUNTIME_PROTOCOL``)."""
    RUNTIME_PROTOCOL: ClassVar[tuple[str, ...]] = ()
    """Ledger names whose value the run supplies (``outcome["protocol_values"]``), e.g. the
    dataset actually found when the config says ``"auto"``."""

    @classmethod
    def protocol(cls) -> dict[str, PaperValue]:
        """The declared ledger of the class and its bases (see ``PROTOCOL``).

        Raises:
            SmoothscopeError: a declared name that is neither a field nor in
                ``RUNTIME_PROTOCOL``.
        """
        declared: dict[str, PaperValue] = {}
        for klass in reversed(cls.__mro__):
            declared.update(vars(klass).get("PROTOCOL", {}))
        names = {f.name for f in dataclasses.fields(cls)} | set(cls.RUNTIME_PROTOCOL)
        unknown = sorted(set(declared) - names)
        if unknown:
            raise SmoothscopeError(
                f"{cls.__name__}.PROTOCOL declares {', '.join(unknown)}, which are neither "
                "fields nor RUNTIME_PROTOCOL values"
            )
        return declared

    QUICK: ClassVar[Mapping[str, Any]] = {}
    STANDARD: ClassVar[Mapping[str, Any] | None] = None

    @classmethod
    def scale_values(cls, scale: str) -> dict[str, Any]:
        """The fields that ``scale`` sets (the paper scale sets none: it is the defaults)."""
        if scale not in SCALES:
            raise SmoothscopeError(f"scale: expected one of {', '.join(SCALES)}, got {scale!r}")
        if scale == "quick":
            return dict(cls.QUICK)
        if scale == "standard":
            if cls.STANDARD is None:
                raise SmoothscopeError(
                    f"scale: {cls.__name__} has no standard preset; use quick or paper"
                )
            return dict(cls.STANDARD)
        return {}

    @classmethod
    def preset(cls, scale: str, **overrides: Any) -> ExperimentConfig:
        """The config at ``scale`` ("quick", "standard" or "paper") with ``overrides`` applied."""
        values = cls.scale_values(scale)
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
        hint = typing.get_type_hints(cls)[key]
        return key, validate_field(key, raw.strip(), hint, cls.field_bounds().get(key))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Figure:
    """A figure an experiment draws, declared beside the code that draws it.

    Attributes:
        file: its file name under the run's ``figures/``.
        caption: what it shows and what to look at (the paper's figure and section first).
        claims: the claims it shows: claim ids, or prefixes ending in ``*``
            (``"B.task1.*"``); the report links each claim to its figures.
    """

    file: str
    caption: str
    claims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.file.endswith(".png") or "/" in self.file:
            raise SmoothscopeError(f"figure: expected a PNG file name, got {self.file!r}")
        if not self.caption.strip():
            raise SmoothscopeError(f"figure {self.file}: the caption is empty")

    def shows(self, claim_id: str) -> bool:
        """Whether this figure shows the claim ``claim_id``."""
        return any(
            claim_id.startswith(p[:-1]) if p.endswith("*") else claim_id == p for p in self.claims
        )


@dataclass(frozen=True)
class ExperimentSpec:
    """A registered experiment.

    Attributes:
        name: CLI name.
        description: one line for ``smoothscope list``.
        config: the config class.
        figures: the figures its runs may draw, with their captions.
        run: ``run(config, run_dir, progress=..., executor=...) -> {"claims": [Claim],
            "measurements": {...}}``; it runs its cells through the executor and writes arrays
            and figures into ``run_dir``.
    """

    name: str
    description: str
    config: type[ExperimentConfig]
    run: Callable[..., Mapping[str, Any]]
    figures: tuple[Figure, ...] = ()

    def figure(self, file: str) -> Figure:
        """The declared figure ``file`` (an undeclared figure is an error of the experiment)."""
        for fig in self.figures:
            if fig.file == file:
                return fig
        raise SmoothscopeError(f"experiment {self.name}: figure {file!r} is not declared")


_EXPERIMENTS: dict[str, ExperimentSpec] = {}


def _cuda_experiments() -> list[str]:
    """Names of the registered experiments whose cells can run on CUDA."""
    return [name for name, spec in _EXPERIMENTS.items() if "cuda" in spec.config.DEVICES]


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


def _environment(device: str = "cpu") -> dict[str, Any]:
    from .._version import __version__

    return {
        "smoothscope": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "device": device_name(resolve_device(device)),
        "bit_identical": "on CPU only",
    }


def check_data(config: ExperimentConfig) -> None:
    """Find and verify the dataset a config names (fields ``dataset`` and ``data_dir``) before
    anything is written: a missing, truncated or corrupt file is a one-line error here, not a
    failed cell after the run directory exists."""
    dataset = getattr(config, "dataset", None)
    if dataset is None:
        return
    from ..data.real import resolve_dataset

    resolve_dataset(dataset, getattr(config, "data_dir", None))


def config_deviations(
    config_cls: type[ExperimentConfig], scale: str, config: ExperimentConfig
) -> dict[str, Any]:
    """The config fields (other than the seed) whose values differ from the named ``scale``."""
    reference = config_cls.preset(scale, seed=config.seed).to_dict()
    actual = config.to_dict()
    return {
        k: v
        for k, v in actual.items()
        if k != "seed" and json.dumps(v, default=str) != json.dumps(reference.get(k), default=str)
    }


def run_ledger(
    config_cls: type[ExperimentConfig],
    scale: str,
    config: ExperimentConfig,
    resolved: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The protocol ledger of a run of ``config`` started from ``scale``, as ``results.json``
    records it; ``resolved`` holds the values the run resolved itself (``RUNTIME_PROTOCOL``)."""
    values = config.to_dict() | dict(resolved or {})
    user_set = list(config_deviations(config_cls, scale, config))
    return [
        e.to_dict() for e in ledger(config_cls.protocol(), values, scale, user_set=user_set)
    ]


def _check_run_dir(out: Path, config: Mapping[str, Any], name: str, scale: str) -> None:
    """Check, without writing, that ``out`` is new or holds a run of the same experiment and
    config."""
    check_path_name(out, "--out")  # a name over 255 bytes fails in the OS, after the compute
    if out.exists() and not out.is_dir():
        raise SmoothscopeError(f"--out: expected a directory, got the file {out}")
    config_path = out / "config.json"
    if config_path.exists():
        try:
            previous = load_json(config_path)
        except SmoothscopeError as exc:
            raise SmoothscopeError(
                f"--out: {out} holds an unreadable config.json ({exc}); choose another "
                "directory or delete it"
            ) from exc
        if not isinstance(previous, dict):
            raise SmoothscopeError(
                f"--out: {config_path} is not a smoothscope config (expected a JSON object, "
                f"got a {type(previous).__name__}); choose another directory or delete it"
            )
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
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SmoothscopeError(f"--out: expected a writable directory, got {out}")


def _prepare_run_dir(out: Path) -> None:
    """Create ``out`` (checked by :func:`_check_run_dir`) and remove stale temporary folders."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SmoothscopeError(f"--out: expected a writable directory, got {out} ({exc})") from exc
    for folder in (out, out / "cells"):
        clean_stale_temporaries(folder)


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
    (trained models, evaluations) are reused. Everything is validated before anything is
    written: the options (coerced and checked as ``--set`` does), the data, the run directory
    and the executor (a Dask scheduler reached, SLURM found).

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
    if options is not None and not isinstance(options, Mapping):
        raise SmoothscopeError(f"options: expected a mapping, got {type(options).__name__}")
    if options is not None and "seed" in options:
        raise SmoothscopeError("seed: expected as the seed argument (--seed), not as an option")
    if isinstance(executor, str):
        executor = ExecutorSpec(executor)
    if executor is not None and not isinstance(executor, ExecutorSpec):
        raise SmoothscopeError(
            f"executor: expected an ExecutorSpec or a name, got {type(executor).__name__}"
        )
    config = spec.config.preset(scale, seed=seed, **dict(options or {}))
    out = Path(out) if out is not None else Path("runs") / f"{name}-{scale}-seed{config.seed}"
    check_data(config)
    spec.config.protocol()  # a malformed ledger declaration is refused before anything runs
    _check_run_dir(out, config.to_dict(), name, scale)
    with open_executor(executor, log_folder=out / "slurm") as pool:
        _prepare_run_dir(out)
        save_json(
            out / "config.json",
            {
                "experiment": name,
                "scale": scale,
                "config": config.to_dict(),
                "environment": _environment(config.device),
            },
        )
        # the run's own code (plans, claims, figures) sees seeded global RNGs too
        with seeded_global_rngs(derive_seed("run", name, config.seed)):
            outcome = spec.run(config, out, progress=progress, executor=pool)
    deviations = config_deviations(spec.config, scale, config)
    protocol = run_ledger(spec.config, scale, config, outcome.get("protocol_values", {}))
    claims: list[Claim] = [c.with_ledger(protocol) for c in outcome["claims"]]
    results = {
        "schema": RESULTS_SCHEMA,
        "experiment": name,
        "scale": scale,
        "seed": config.seed,
        "environment": _environment(config.device),
        "data": dict(outcome.get("data", {})),
        "deviations": deviations,
        "protocol": protocol,
        "claims": [c.to_dict() for c in claims],
        "measurements": relative_paths(outcome.get("measurements", {}), out),
    }
    save_json(out / "results.json", results)
    results["run_dir"] = str(out)
    return results
