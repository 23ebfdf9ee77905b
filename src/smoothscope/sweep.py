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
different thread counts). Before it runs, :func:`run_cell` also seeds the global RNGs of torch,
NumPy and :mod:`random` from :func:`cell_seed` (dropout and other code that draws from them
then gives the same bits whichever cells ran before in that worker) and restores the caller's
RNG states afterwards. A cell's result does not depend on which worker ran it, in which order,
or on which executor.

Faults: ``result.json`` records a SHA-256 of every file of the cell. A cell whose
``result.json`` is unreadable or whose files no longer match is *corrupt*: it is recomputed,
after a :class:`CorruptCellWarning` that names the file (the corrupt folder is removed). Stale
temporary folders (``.<id>.tmp-*``) of processes that no longer run are removed when a sweep
starts.

Executors share the :class:`concurrent.futures.Executor` interface (:func:`open_executor`):

* ``inprocess``: runs each cell when submitted, in this process (default of the Python API);
* ``process``: a local process pool (``--jobs N``; default of the CLI); its workers die with
  their parent and ignore Ctrl-C (the parent stops them);
* ``dask``: a Dask cluster (``--address tcp://HOST:PORT``) or a local one (extra ``[dask]``);
* ``slurm``: SLURM through submitit (extra ``[slurm]``); refused when no SLURM is reachable;
* ``submitit-local``: submitit's local executor, the SLURM code path without SLURM (debugging).

``jobs`` bounds the cells running at once on every executor (for SLURM: jobs in the queue).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import importlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import sys
import threading
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ._errors import SmoothscopeError
from ._io import load_json, save_json

__all__ = [
    "EXECUTORS",
    "SLURM_CLUSTERS",
    "Cell",
    "CellContext",
    "CellFailure",
    "CorruptCellWarning",
    "ExecutorSpec",
    "InProcessExecutor",
    "SweepError",
    "cell_seed",
    "check_slurm_reachable",
    "clean_stale_temporaries",
    "derive_seed",
    "open_executor",
    "run_cell",
    "run_cells",
    "run_stages",
    "seeded_global_rngs",
]

RESULT_FILE = "result.json"
EXECUTORS = ("inprocess", "process", "dask", "slurm", "submitit-local")
SLURM_CLUSTERS = ("slurm", "local", "debug")
"""Values of ``ExecutorSpec.slurm_cluster`` (submitit's cluster names)."""
DASK_CONNECT_TIMEOUT = "30s"
"""How long to try to reach a Dask scheduler before giving up."""


def _version() -> str:
    from ._version import __version__

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


class CorruptCellWarning(UserWarning):
    """A finished cell's files are unreadable or changed; it is recomputed."""


def derive_seed(*keys: Any) -> int:
    """A 63-bit seed derived from ``keys`` (stable across processes and platforms)."""
    digest = hashlib.sha256("/".join(map(str, keys)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def cell_seed(cell: Cell) -> int:
    """Seed of the global RNGs while ``cell`` runs: from its function and config only."""
    return derive_seed(cell.fn, json.dumps(cell.config, sort_keys=True, default=str))


@contextlib.contextmanager
def seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed torch's (CPU and CUDA), NumPy's and :mod:`random`'s global RNGs with ``seed``;
    restore the caller's states on exit."""
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002 (the global state is the point)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def _resolve(fn: str) -> Callable[[Mapping[str, Any], CellContext], Any]:
    module, _, name = fn.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SmoothscopeError(f"cell function: expected 'module:function', got {fn!r}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): _sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != RESULT_FILE
    }


def _corruption(folder: Path) -> str | None:
    """Why the finished cell in ``folder`` is corrupt, or None when it is sound."""
    try:
        record = load_json(folder / RESULT_FILE)
    except SmoothscopeError as exc:
        return str(exc)
    if not isinstance(record, dict) or "summary" not in record:
        return f"{folder / RESULT_FILE}: expected a cell record with a summary"
    hashes = record.get("files", {})
    if not isinstance(hashes, dict):
        return f"{folder / RESULT_FILE}: expected a mapping of files to hashes"
    for name, digest in hashes.items():
        path = folder / name
        if not path.is_file():
            return f"{path}: missing"
        if _sha256(path) != digest:
            return f"{path}: its content changed since the cell finished"
    return None


def _load_finished(cell: Cell, root: Path) -> tuple[bool, Any]:
    """``(True, summary)`` for a sound finished cell; a corrupt one is removed with a warning."""
    final = root / cell.id
    if not (final / RESULT_FILE).exists():
        return False, None
    problem = _corruption(final)
    if problem is None:
        return True, load_json(final / RESULT_FILE)["summary"]
    warnings.warn(
        f"cell {cell.label or cell.id} is corrupt ({problem}); recomputing it",
        CorruptCellWarning,
        stacklevel=3,
    )
    trash = root / f".{cell.id}.tmp-corrupt-{uuid.uuid4().hex[:12]}"
    with contextlib.suppress(OSError):
        os.replace(final, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return False, None


def is_finished(cell: Cell, root: Path) -> bool:
    """Whether ``cell`` has a complete result under ``root``."""
    return (Path(root) / cell.id / RESULT_FILE).exists()


_TMP = re.compile(r"^\.[0-9a-f]{16}\.tmp-(?:(?P<host>[\w.-]+)-(?P<pid>\d+)-)?[0-9a-f]{12}$")
STALE_FOREIGN_TMP_S = 7 * 24 * 3600
"""A temporary folder of another host is removed once it is older than this."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(root: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders under ``root`` whose process no longer runs.

    A folder of this host is stale when its process id is gone; one of another host (a shared
    folder on a cluster) when it is older than :data:`STALE_FOREIGN_TMP_S`. Returns the removed
    folders.
    """
    import time

    root = Path(root)
    removed = []
    host = socket.gethostname()
    for path in root.glob(".*.tmp-*") if root.is_dir() else ():
        match = _TMP.match(path.name)
        if not match or not path.is_dir():
            continue
        if match["pid"] is not None and match["host"] == host:
            stale = not _pid_alive(int(match["pid"]))
        else:
            try:
                stale = time.time() - path.stat().st_mtime > STALE_FOREIGN_TMP_S
            except OSError:
                continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def run_cell(cell: Cell, root: str | os.PathLike, *, progress: bool = False) -> Any:
    """Run one cell unless its result exists; return its summary. Safe to call in any worker.

    The cell runs with ``cell.threads`` intra-op threads and with the global RNGs seeded from
    :func:`cell_seed`; the caller's thread count and RNG states are restored afterwards.
    """
    root = Path(root)
    final = root / cell.id
    done, summary = _load_finished(cell, root)
    if done:
        return summary
    tag = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    tmp = root / f".{cell.id}.tmp-{tag}"
    tmp.mkdir(parents=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(cell.threads)
    try:
        with seeded_global_rngs(cell_seed(cell)):
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
                "files": _file_hashes(tmp),
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


class _BoundedExecutor(cf.Executor):
    """At most ``jobs`` calls of ``inner`` in flight: a thread per slot submits a call and waits.

    Used for executors that would start every submitted call at once (a Dask scheduler,
    submitit). ``shutdown(cancel_futures=True)`` cancels what is queued here and calls
    ``cancel()`` on the inner futures still running (submitit cancels their jobs).
    """

    def __init__(self, inner: Any, jobs: int) -> None:
        self._inner = inner
        self._slots = cf.ThreadPoolExecutor(max_workers=jobs)
        self._running: set[Any] = set()

    def _call(self, fn, args, kwargs):
        job = self._inner.submit(fn, *args, **kwargs)
        self._running.add(job)
        try:
            return job.result()
        finally:
            self._running.discard(job)

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        return self._slots.submit(self._call, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for job in list(self._running):
                with contextlib.suppress(Exception):
                    job.cancel()
        self._slots.shutdown(wait=wait, cancel_futures=cancel_futures)


_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc|ws|wss)://\[?[\w.:-]+\]?:\d{1,5}$")


@dataclass(frozen=True)
class ExecutorSpec:
    """Where cells run.

    Attributes:
        kind: one of :data:`EXECUTORS`.
        jobs: cells running at once: workers of the local process pool or of a local Dask
            cluster, cells in flight on a Dask scheduler, jobs in the SLURM queue.
        address: Dask scheduler address (``tcp://HOST:PORT``); None starts a local cluster.
        slurm_partition: SLURM partition (None: the cluster's default).
        slurm_time: time limit per cell in minutes.
        slurm_gpus: GPUs per cell.
        slurm_cpus: CPUs per cell.
        slurm_folder: where submitit keeps its logs (default: ``<root>/../slurm``).
        slurm_cluster: submitit cluster (one of :data:`SLURM_CLUSTERS`); None is ``"slurm"``
            for ``kind="slurm"`` and ``"local"`` for ``kind="submitit-local"``; ``"debug"``
            runs the jobs in-process.
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
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise SmoothscopeError(f"jobs: expected a positive integer, got {self.jobs!r}")
        if self.address is not None:
            if self.kind != "dask":
                raise SmoothscopeError(
                    f"address: only used by the dask executor, got {self.kind!r}"
                )
            if not isinstance(self.address, str) or not _ADDRESS.match(self.address):
                raise SmoothscopeError(
                    f"address: expected a scheduler address like tcp://HOST:PORT, "
                    f"got {self.address!r}"
                )
        for name, low in (("slurm_time", 1), ("slurm_gpus", 0), ("slurm_cpus", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SmoothscopeError(
                    f"{name}: expected an integer of at least {low}, got {value!r}"
                )
        if self.slurm_cluster is not None and self.slurm_cluster not in SLURM_CLUSTERS:
            raise SmoothscopeError(
                f"slurm_cluster: expected one of {', '.join(SLURM_CLUSTERS)}, "
                f"got {self.slurm_cluster!r}"
            )

    @property
    def submitit_cluster(self) -> str:
        """The submitit cluster the ``slurm``/``submitit-local`` executors use."""
        default = "local" if self.kind == "submitit-local" else "slurm"
        return self.slurm_cluster or default


def _missing_extra(kind: str, extra: str, exc: ImportError) -> SmoothscopeError:
    return SmoothscopeError(
        f"executor {kind!r}: expected the optional dependency {exc.name!r}, which is not "
        f"installed; run: pip install 'smoothscope[{extra}]'"
    )


def check_slurm_reachable() -> None:
    """Raise unless SLURM's ``sbatch`` and ``squeue`` are on the PATH (never fall back to
    running the cells locally)."""
    missing = [tool for tool in ("sbatch", "squeue") if shutil.which(tool) is None]
    if missing:
        raise SmoothscopeError(
            f"executor 'slurm': expected a reachable SLURM, but {' and '.join(missing)} "
            "is not on the PATH; run on a login node of the cluster, or use "
            "--executor submitit-local to try the same code path on this machine"
        )


def _worker_init() -> None:  # pragma: no cover - runs in the pool's workers
    """Process-pool workers: die with the parent (Linux), leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


class _QuietSpawnProcess(multiprocessing.get_context("spawn").Process):  # type: ignore[misc]
    """A spawned worker that ignores SIGINT from its first instruction (the disposition is
    inherited across exec), so that Ctrl-C during its imports prints no traceback."""

    def start(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return super().start()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return super().start()
        finally:
            signal.signal(signal.SIGINT, previous)


class _QuietSpawnContext(type(multiprocessing.get_context("spawn"))):  # type: ignore[misc]
    Process = _QuietSpawnProcess


def _stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel what is queued and terminate the workers (running cells leave only a temporary
    folder, cleaned by the next run)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=5)
    # let the pool's manager thread see the dead workers and end: left running, it races the
    # interpreter's exit hook, which then writes to its closed wake-up pipe and prints an
    # "Exception ignored ... Bad file descriptor" traceback after the one-line message
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        with contextlib.suppress(Exception):
            manager.join(timeout=5)


@contextlib.contextmanager
def open_executor(
    spec: ExecutorSpec | None = None, *, log_folder: str | os.PathLike | None = None
) -> Iterator[cf.Executor]:
    """Open the executor described by ``spec`` and close it (and any cluster it started) on exit.

    Everything that can be refused (a missing extra, an unreachable scheduler, no SLURM) is
    refused here, before any cell runs. On an error or Ctrl-C in the ``with`` block, queued
    cells are cancelled and running ones stopped.

    Args:
        spec: the executor; None is in-process.
        log_folder: default folder for submitit logs (created when the first job starts).
    """
    spec = spec or ExecutorSpec()
    if spec.kind == "inprocess":
        yield InProcessExecutor()
    elif spec.kind == "process":
        # spawn: forking a process whose OpenMP thread pool is running can deadlock
        context = _QuietSpawnContext()
        pool = cf.ProcessPoolExecutor(
            max_workers=spec.jobs, mp_context=context, initializer=_worker_init
        )
        try:
            yield pool
        except BaseException:
            _stop_pool(pool)
            raise
        pool.shutdown(wait=True)
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
                except (OSError, ValueError, TypeError) as exc:
                    raise SmoothscopeError(
                        f"address: expected a reachable Dask scheduler, got {spec.address!r} "
                        f"({' '.join(str(exc).split())})"
                    ) from exc
            bounded = _BoundedExecutor(client.get_executor(pure=False), spec.jobs)
            try:
                yield bounded
            except BaseException:
                bounded.shutdown(wait=False, cancel_futures=True)
                raise
            bounded.shutdown(wait=True)
    else:
        cluster = spec.submitit_cluster
        if cluster == "slurm":
            check_slurm_reachable()
        try:
            import submitit
        except ImportError as exc:
            raise _missing_extra(spec.kind, "slurm", exc) from exc
        folder = spec.slurm_folder or Path(log_folder or "slurm") / "%j"
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        params: dict[str, Any] = {"timeout_min": spec.slurm_time, "cpus_per_task": spec.slurm_cpus}
        if spec.slurm_gpus:
            params["gpus_per_node"] = spec.slurm_gpus
        if spec.slurm_partition:
            params["slurm_partition"] = spec.slurm_partition
        executor.update_parameters(**params)
        wrapped = _BoundedExecutor(executor, spec.jobs)
        try:
            yield wrapped
        except BaseException:
            wrapped.shutdown(wait=False, cancel_futures=True)
            raise
        wrapped.shutdown(wait=True)


def _is_tty() -> bool:
    """Progress bars only on a terminal: a log file gets no carriage-return noise."""
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


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
        progress: show a progress bar of cells done / total across workers (only when stderr
            is a terminal).
        description: label of that bar.
    """
    cells = list({cell.id: cell for cell in cells}.values())  # a cell listed twice runs once
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(root)
    executor = executor or InProcessExecutor()
    inline = isinstance(executor, InProcessExecutor)
    results: dict[str, Any] = {}
    failures: list[CellFailure] = []
    pending = []
    for cell in cells:
        done, summary = _load_finished(cell, root)
        if done:
            results[cell.id] = summary
        else:
            pending.append(cell)
    progress = progress and _is_tty()
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
