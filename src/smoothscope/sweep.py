"""Sweeps: cells (pure functions of a small JSON config) run through one executor seam.

A :class:`Cell` names a function by import path (``"smoothscope.experiments.nonsmoothness:
train_cell"``) and a JSON-serialisable config. Its id hashes both with the package version and
the cell's thread count, so a changed config or a new release recomputes. The function receives
the config and a :class:`CellContext` and returns a JSON-serialisable summary; it may also write
files (checkpoints, arrays) into ``ctx.out``. The worker writes everything into a temporary
folder and renames it to ``root/<id>`` when the cell has finished, so a cell folder either is
complete or does not exist: an interrupted sweep resumes by skipping the cells whose folder
exists. Models and data travel between processes as file paths under ``root`` and small JSON
configs, never as pickled closures.

Determinism: a cell seeds itself from its config and runs with a fixed number of intra-op
threads (``Cell.threads``, default 1: on CPU, PyTorch's reductions give different bits with
different thread counts). Its result does not depend on which worker ran it, in which order, or
on which executor.

Executors share the :class:`concurrent.futures.Executor` interface (:func:`open_executor`):

* ``inprocess``: runs each cell when submitted, in this process (default of the Python API);
* ``process``: a local process pool (``--jobs N``; default of the CLI);
* ``dask``: a Dask cluster (``--address tcp://HOST:PORT``) or a local one (extra ``[dask]``);
* ``slurm``: SLURM through submitit (extra ``[slurm]``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import importlib
import json
import multiprocessing
import os
import shutil
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ._errors import SmoothscopeError
from ._io import load_json, save_json

__all__ = [
    "EXECUTORS",
    "Cell",
    "CellContext",
    "CellFailure",
    "ExecutorSpec",
    "InProcessExecutor",
    "SweepError",
    "derive_seed",
    "open_executor",
    "run_cell",
    "run_cells",
    "run_stages",
]

RESULT_FILE = "result.json"
EXECUTORS = ("inprocess", "process", "dask", "slurm")
DASK_CONNECT_TIMEOUT = "30s"
"""How long to try to reach a Dask scheduler before giving up."""


def _version() -> str:
    from . import __version__

    return __version__


@dataclass(frozen=True)
class Cell:
    """One unit of work.

    Attributes:
        fn: ``"package.module:function"``; the function takes ``(config, ctx)``.
        config: JSON-serialisable parameters, including the cell's own seed.
        label: a short human-readable name for progress and error messages.
        threads: intra-op threads the cell runs with (part of its id: it changes the bits).
    """

    fn: str
    config: Mapping[str, Any]
    label: str = ""
    threads: int = 1

    @property
    def id(self) -> str:
        """Deterministic id: a hash of the function, config, thread count and package version."""
        payload = json.dumps(
            {"fn": self.fn, "config": self.config, "threads": self.threads, "version": _version()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CellContext:
    """What a cell function may use besides its config.

    Attributes:
        out: the folder where the cell writes its files (renamed into place on success).
        root: the sweep's folder; ``ctx.path_of(other_id)`` finds another finished cell.
        progress: whether the cell may show its own progress bars.
    """

    out: Path
    root: Path
    progress: bool = True

    def path_of(self, cell_id: str) -> Path:
        """Folder of a finished cell; raises if it has not run."""
        path = self.root / cell_id
        if not (path / RESULT_FILE).exists():
            raise SmoothscopeError(f"cell {cell_id}: expected a finished cell under {self.root}")
        return path


@dataclass
class CellFailure:
    """A cell that raised: the cell (label, config) and its error."""

    cell: Cell
    error: str
    traceback: str = field(repr=False, default="")


class SweepError(SmoothscopeError):
    """Some cells failed; the others finished and are kept. ``failures`` lists the failed ones."""

    def __init__(self, failures: Sequence[CellFailure]) -> None:
        self.failures = list(failures)
        first = self.failures[0]
        labels = ", ".join(f.cell.label or f.cell.id for f in self.failures[:6])
        more = "" if len(self.failures) <= 6 else f" and {len(self.failures) - 6} more"
        super().__init__(
            f"{len(self.failures)} cell(s) failed ({labels}{more}); first: "
            f"{first.cell.label or first.cell.id} with config "
            f"{json.dumps(first.cell.config, default=str)}: {first.error}"
        )


def derive_seed(*keys: Any) -> int:
    """A 63-bit seed derived from ``keys`` (stable across processes and platforms)."""
    digest = hashlib.sha256("/".join(map(str, keys)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _resolve(fn: str) -> Callable[[Mapping[str, Any], CellContext], Any]:
    module, _, name = fn.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SmoothscopeError(f"cell function: expected 'module:function', got {fn!r}") from exc


def is_finished(cell: Cell, root: Path) -> bool:
    """Whether ``cell`` has a complete result under ``root``."""
    return (Path(root) / cell.id / RESULT_FILE).exists()


def run_cell(cell: Cell, root: str | os.PathLike, *, progress: bool = False) -> Any:
    """Run one cell unless its result exists; return its summary. Safe to call in any worker."""
    root = Path(root)
    final = root / cell.id
    if (final / RESULT_FILE).exists():
        return load_json(final / RESULT_FILE)["summary"]
    tmp = root / f".{cell.id}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir(parents=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(cell.threads)
    try:
        summary = _resolve(cell.fn)(dict(cell.config), CellContext(tmp, root, progress))
        save_json(
            tmp / RESULT_FILE,
            {
                "id": cell.id,
                "fn": cell.fn,
                "label": cell.label,
                "config": cell.config,
                "threads": cell.threads,
                "version": _version(),
                "summary": summary,
            },
        )
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / RESULT_FILE).exists():  # not a twin worker that finished first
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(tmp, ignore_errors=True)
    return load_json(final / RESULT_FILE)["summary"]


# ---------------------------------------------------------------------------------------------
# executors


class InProcessExecutor(cf.Executor):
    """Runs each submitted call at once in this process; returns completed futures."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _SubmititExecutor(cf.Executor):
    """submitit jobs behind the ``concurrent.futures`` interface (a thread waits on each job)."""

    def __init__(self, executor: Any, max_waiting: int = 64) -> None:
        self._executor = executor
        self._waiters = cf.ThreadPoolExecutor(max_workers=max_waiting)

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        job = self._executor.submit(fn, *args, **kwargs)
        return self._waiters.submit(job.result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._waiters.shutdown(wait=wait, cancel_futures=cancel_futures)


@dataclass(frozen=True)
class ExecutorSpec:
    """Where cells run.

    Attributes:
        kind: one of :data:`EXECUTORS`.
        jobs: workers of the local process pool or of a local Dask cluster.
        address: Dask scheduler address (``tcp://HOST:PORT``); None starts a local cluster.
        slurm_partition: SLURM partition (None: the cluster's default).
        slurm_time: time limit per cell in minutes.
        slurm_gpus: GPUs per cell.
        slurm_cpus: CPUs per cell.
        slurm_folder: where submitit keeps its logs (default: ``<root>/../slurm``).
        slurm_cluster: submitit cluster; None auto-detects, ``"local"`` runs jobs as local
            processes through the same code path (used by the tests), ``"debug"`` in-process.
    """

    kind: str = "inprocess"
    jobs: int = 1
    address: str | None = None
    slurm_partition: str | None = None
    slurm_time: int = 60
    slurm_gpus: int = 0
    slurm_cpus: int = 1
    slurm_folder: str | None = None
    slurm_cluster: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise SmoothscopeError(
                f"executor: expected one of {', '.join(EXECUTORS)}, got {self.kind!r}"
            )
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise SmoothscopeError(f"jobs: expected a positive integer, got {self.jobs!r}")
        if self.address is not None and self.kind != "dask":
            raise SmoothscopeError(f"address: only used by the dask executor, got {self.kind!r}")
        if self.slurm_time < 1 or self.slurm_gpus < 0 or self.slurm_cpus < 1:
            raise SmoothscopeError(
                "slurm options: expected time ≥ 1 minute, gpus ≥ 0, cpus ≥ 1, got "
                f"{self.slurm_time}, {self.slurm_gpus}, {self.slurm_cpus}"
            )


def _missing_extra(kind: str, extra: str, exc: ImportError) -> SmoothscopeError:
    return SmoothscopeError(
        f"executor {kind!r}: expected the optional dependency {exc.name!r}, which is not "
        f"installed; run: pip install 'smoothscope[{extra}]'"
    )


@contextlib.contextmanager
def open_executor(
    spec: ExecutorSpec | None = None, *, log_folder: str | os.PathLike | None = None
) -> Iterator[cf.Executor]:
    """Open the executor described by ``spec`` and close it (and any cluster it started) on exit.

    Args:
        spec: the executor; None is in-process.
        log_folder: default folder for submitit logs.
    """
    spec = spec or ExecutorSpec()
    if spec.kind == "inprocess":
        yield InProcessExecutor()
    elif spec.kind == "process":
        # spawn: forking a process whose OpenMP thread pool is running can deadlock
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=spec.jobs, mp_context=context) as pool:
            yield pool
    elif spec.kind == "dask":
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise _missing_extra("dask", "dask", exc) from exc
        with contextlib.ExitStack() as stack:
            if spec.address is None:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=spec.jobs,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                    )
                )
                client = stack.enter_context(Client(cluster))
            else:
                try:
                    client = stack.enter_context(Client(spec.address, timeout=DASK_CONNECT_TIMEOUT))
                except OSError as exc:
                    raise SmoothscopeError(
                        f"address: expected a reachable Dask scheduler, got {spec.address!r} "
                        f"({exc})"
                    ) from exc
            yield client.get_executor(pure=False)
    else:
        try:
            import submitit
        except ImportError as exc:
            raise _missing_extra("slurm", "slurm", exc) from exc
        folder = spec.slurm_folder or Path(log_folder or "slurm") / "%j"
        executor = submitit.AutoExecutor(folder=folder, cluster=spec.slurm_cluster)
        params: dict[str, Any] = {"timeout_min": spec.slurm_time, "cpus_per_task": spec.slurm_cpus}
        if spec.slurm_gpus:
            params["gpus_per_node"] = spec.slurm_gpus
        if spec.slurm_partition:
            params["slurm_partition"] = spec.slurm_partition
        executor.update_parameters(**params)
        wrapped = _SubmititExecutor(executor)
        try:
            yield wrapped
        finally:
            wrapped.shutdown(wait=False, cancel_futures=True)


def run_cells(
    cells: Iterable[Cell],
    root: str | os.PathLike,
    *,
    executor: cf.Executor | None = None,
    progress: bool = True,
    description: str = "cells",
) -> dict[str, Any]:
    """Run independent cells through ``executor``, skipping finished ones; ``{cell.id: summary}``.

    The cells of one call must not depend on each other (run dependent stages one call after
    the other). A failing cell does not stop the others; once all have been tried,
    :class:`SweepError` reports the failures with their configs (a rerun retries only those).

    Args:
        cells: the cells.
        root: folder holding one sub-folder per finished cell (shared by all workers).
        executor: where the cells run (default: in this process).
        progress: show a progress bar of cells done / total across workers.
        description: label of that bar.
    """
    cells = list({cell.id: cell for cell in cells}.values())  # a cell listed twice runs once
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    executor = executor or InProcessExecutor()
    inline = isinstance(executor, InProcessExecutor)
    results: dict[str, Any] = {}
    failures: list[CellFailure] = []
    pending = []
    for cell in cells:
        if is_finished(cell, root):
            results[cell.id] = load_json(root / cell.id / RESULT_FILE)["summary"]
        else:
            pending.append(cell)
    bar = tqdm(
        total=len(cells), initial=len(results), desc=description, unit="cell", disable=not progress
    )

    def collect(future: cf.Future, cell: Cell) -> None:
        try:
            results[cell.id] = future.result()
        except Exception as exc:  # reported with its config; the sweep goes on
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            failures.append(CellFailure(cell, f"{type(exc).__name__}: {exc}", tb))
        bar.update(1)

    with bar:
        if inline:  # one at a time, so that the bar moves and cells may show their own bars
            for cell in pending:
                bar.set_postfix_str(cell.label)
                collect(executor.submit(run_cell, cell, str(root), progress=progress), cell)
        else:
            futures = {executor.submit(run_cell, cell, str(root)): cell for cell in pending}
            for future in cf.as_completed(futures):
                bar.set_postfix_str(futures[future].label, refresh=False)
                collect(future, futures[future])
    if failures:
        raise SweepError(failures)
    return results


def run_stages(
    stages: Sequence[Sequence[Cell]],
    names: Sequence[str],
    root: str | os.PathLike,
    *,
    executor: cf.Executor | None = None,
    progress: bool = True,
    description: str = "",
) -> dict[str, Any]:
    """Run dependent stages of independent cells one after the other; ``{cell.id: summary}``.

    A stage starts when the previous one has finished (its cells may read the folders of
    earlier stages); a failure stops after the failing stage, its other cells finished.
    """
    if len(stages) != len(names):
        raise SmoothscopeError(f"names: expected {len(stages)} stage names, got {len(names)}")
    summaries: dict[str, Any] = {}
    for name, cells in zip(names, stages, strict=True):
        summaries |= run_cells(
            cells,
            root,
            executor=executor,
            progress=progress,
            description=f"{description} {name}".strip(),
        )
    return summaries
