"""What the commands share: the executor, scale, data and device options, the claims table and
the progress rule."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .._errors import SmoothscopeError
from ..experiments import SCALES
from ..sweep import EXECUTORS, SLURM_CLUSTERS, ExecutorSpec

__all__ = ["bounded", "claims_table"]


def _size_text(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.3g} TB"  # pragma: no cover


class _Bounded(click.ParamType):
    """A number within declared bounds; a value above the top says what the top costs."""

    def __init__(
        self,
        kind: type,
        low: float,
        high: float,
        *,
        low_open: bool = False,
        unit_bytes: float | None = None,
        unit: str = "",
    ) -> None:
        self.kind, self.low, self.high, self.low_open = kind, low, high, low_open
        self.unit_bytes, self.unit = unit_bytes, unit
        self.name = "integer" if kind is int else "number"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "INTEGER" if self.kind is int else "FLOAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        what = "an integer" if self.kind is int else "a number"
        text = str(value).strip()
        shown = text if len(text) <= 24 else f"{text[:12]}…({len(text)} characters)"
        if isinstance(value, bool):
            self.fail(f"expected {what}, got {value!r}", param, ctx)
        try:
            if isinstance(value, (int, float)):
                number = value if self.kind is int else float(value)
            elif self.kind is int and re.fullmatch(r"[+-]?\d{41,}", text):
                number = -math.inf if text.startswith("-") else math.inf  # beyond any bound
            else:
                number = self.kind(text[:64] if len(text) <= 64 else "x")
        except (TypeError, ValueError, OverflowError):
            self.fail(f"expected {what}, got {shown}", param, ctx)
        if self.kind is float and not math.isfinite(number):
            self.fail(f"expected a finite number, got {shown}", param, ctx)
        if self.kind is int and isinstance(number, float) and math.isfinite(number):
            self.fail(f"expected an integer, got {shown}", param, ctx)
        if number < self.low or (self.low_open and number == self.low):
            low = f"{self.low:g}" if self.kind is float else f"{self.low:,}"
            self.fail(
                f"expected {'more than' if self.low_open else 'at least'} {low}, got {shown}",
                param,
                ctx,
            )
        if number > self.high:
            top = f"{self.high:g}" if self.kind is float else f"{self.high:,}"
            cost = ""
            if self.unit_bytes:
                cost = (
                    f" (≈ {_size_text(self.unit_bytes)} per {self.unit}: "
                    f"{_size_text(self.unit_bytes * self.high)} of memory at the maximum)"
                )
            self.fail(f"expected at most {top}{cost}, got {shown}", param, ctx)
        return number


def bounded(
    kind: type,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    unit_bytes: float | None = None,
    unit: str = "",
) -> click.ParamType:
    """A click type for an int or float option in ``[low, high]`` (``(low, high]`` when
    ``low_open``); ``unit_bytes`` (memory per ``unit``) puts the cost of the maximum into the
    refusal of a larger value."""
    return _Bounded(kind, low, high, low_open=low_open, unit_bytes=unit_bytes, unit=unit)


MAX_SEED = 2**63 - 1
"""Largest seed of every command (the configs' bound)."""
MAX_JOBS = 1024
WORKER_BYTES = 4e8
"""Resident memory of one pool worker after importing torch (≈ 400 MB)."""


def claims_table(claims: Sequence[dict[str, Any]], *, width: int | None = None) -> str:
    """A plain-text table of claims: id, kind, verdict, control verdict, measured value,
    interval, paper value; then each claim's statement, rule and power note."""

    def num(x: Any) -> str:
        return "—" if x is None else f"{x:.3g}"

    short_kind = {"paper": "paper", "extension": "ext", "post-hoc": "post-hoc"}
    rows = [("claim", "kind", "verdict", "control", "measured", "95% interval", "paper")]
    for c in claims:
        interval = c["uncertainty"]
        control = c.get("control")
        rows.append(
            (
                c["id"],
                short_kind.get(str(c.get("kind")), "—"),
                c["verdict"],
                str(control["verdict"]) if isinstance(control, dict) else "none",
                num(c["measured"]),
                "—" if interval is None else f"[{num(interval[0])}, {num(interval[1])}]",
                num(c["paper_value"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    width = width or shutil.get_terminal_size((120, 20)).columns
    statements = [
        textwrap.fill(
            f"{c['id']}: {c['statement']} — rule: {c['rule']}"
            + (f" — power: {c['power']}" if c.get("power") else ""),
            width=width,
            subsequent_indent="    ",
        )
        for c in claims
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(statements)


def _executor_options(fn):
    """The options that choose where cells run (shared by ``run`` and ``reproduce``)."""
    for option in reversed(_EXECUTOR_OPTIONS):
        fn = option(fn)
    return fn


_EXECUTOR_OPTIONS = [
    click.option(
        "--executor",
        type=click.Choice(EXECUTORS),
        default="process",
        show_default=True,
        help="Where cells run: this process, a local process pool, a Dask cluster, SLURM "
        "(refused without SLURM), or submitit's local executor (the SLURM code path, for "
        "debugging).",
    ),
    click.option(
        "--jobs",
        type=bounded(int, 1, MAX_JOBS, unit_bytes=WORKER_BYTES, unit="worker process"),
        default=None,
        help="Cells running at once, on every executor (process or Dask workers, cells in "
        "flight on a scheduler, jobs in the SLURM queue) [default: CPU count].",
    ),
    click.option(
        "--address",
        default=None,
        metavar="tcp://HOST:PORT",
        help="Dask scheduler address (default: start a local cluster).",
    ),
    click.option("--slurm-partition", default=None, help="SLURM partition."),
    click.option(
        "--slurm-time",
        type=bounded(int, 1, 525_600),
        default=60,
        show_default=True,
        help="SLURM time limit per cell, in minutes.",
    ),
    click.option(
        "--slurm-gpus",
        type=bounded(int, 0, 64),
        default=0,
        show_default=True,
        help="GPUs per cell.",
    ),
    click.option(
        "--slurm-cpus",
        type=bounded(int, 1, 1024),
        default=1,
        show_default=True,
        help="CPUs per cell.",
    ),
    click.option(
        "--slurm-cluster",
        type=click.Choice(SLURM_CLUSTERS),
        default=None,
        hidden=True,
        help="submitit cluster: 'local' or 'debug' run the SLURM code path without SLURM.",
    ),
]


def _executor_spec(
    executor: str,
    jobs: int | None,
    address: str | None,
    slurm_partition: str | None,
    slurm_time: int,
    slurm_gpus: int,
    slurm_cpus: int,
    slurm_cluster: str | None,
) -> ExecutorSpec:
    return ExecutorSpec(
        kind=executor,
        jobs=jobs or os.cpu_count() or 1,
        address=address,
        slurm_partition=slurm_partition,
        slurm_time=slurm_time,
        slurm_gpus=slurm_gpus,
        slurm_cpus=slurm_cpus,
        slurm_cluster=slurm_cluster,
    )


def _check_reachable(where: ExecutorSpec) -> None:
    """Refuse SLURM where none is reachable before a command prints anything else (the
    executor checks it again when it opens)."""
    from ..sweep import check_slurm_reachable

    if where.kind in ("slurm", "submitit-local") and where.submitit_cluster == "slurm":
        check_slurm_reachable()


def _progress(no_progress: bool) -> bool:
    """Progress bars unless hidden, and only on a terminal (never in a log file)."""
    return not no_progress and sys.stderr.isatty()


_seed_option = click.option(
    "--seed",
    type=bounded(int, 0, MAX_SEED),
    default=0,
    show_default=True,
    help="Seed of every random draw.",
)

_scale_option = click.option(
    "--scale",
    type=click.Choice(SCALES),
    default="quick",
    show_default=True,
    help="quick: minutes on a laptop CPU; paper: the paper's counts.",
)

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(),
    default=None,
    help="Folder of datasets (cifar-10-batches-bin/, fashion-mnist/, mnist/), searched before "
    "$SMOOTHSCOPE_DATA, Debian's dataset-fashion-mnist and ~/.cache/smoothscope.",
)


_device_option = click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="cpu",
    show_default=True,
    help="Device (auto: CUDA if available). Models, data and diffeomorphisms move there in "
    "`analyze stability` and in the cells of every experiment (its docs say what stays on the "
    "CPU). Results state the device; bit-identical results are promised on the CPU only.",
)


def _use_device(device: str) -> None:
    """Check --device (CUDA present?) and make it the configs' default ($SMOOTHSCOPE_DEVICE,
    read in every worker process)."""
    from .._device import resolve_device
    from ..experiments._base import DEVICE_ENV

    resolve_device(device)
    os.environ[DEVICE_ENV] = device


def _use_data_dir(data_dir: str | None) -> str | None:
    """Validate --data-dir and put it first in $SMOOTHSCOPE_DATA (read by every cell, in any
    worker process); returns its absolute path."""
    if data_dir is None:
        return None
    from ..data.real import ENV_VAR

    if not Path(data_dir).expanduser().is_dir():
        raise SmoothscopeError(f"--data-dir: expected an existing folder, got {data_dir!r}")
    path = str(Path(data_dir).expanduser().resolve())
    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = path if not old else path + os.pathsep + old
    return path
