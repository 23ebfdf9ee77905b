"""Executors: where cells run, behind the :class:`concurrent.futures.Executor` interface.

:func:`open_executor` opens the one an :class:`ExecutorSpec` describes: ``inprocess``,
``process`` (a local spawn pool whose workers die with their parent and ignore Ctrl-C),
``dask`` (extra ``[dask]``), ``slurm`` and ``submitit-local`` (extra ``[slurm]``). ``jobs`` bounds
the cells running at once on every executor. See :mod:`smoothscope.sweep`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import re
import shutil
import signal
import sys
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import SmoothscopeError

__all__ = [
    "DASK_CONNECT_TIMEOUT",
    "EXECUTORS",
    "SLURM_CLUSTERS",
    "ExecutorSpec",
    "InProcessExecutor",
    "check_slurm_reachable",
    "open_executor",
]

EXECUTORS = ("inprocess", "process", "dask", "slurm", "submitit-local")
SLURM_CLUSTERS = ("slurm", "local", "debug")
"""Values of ``ExecutorSpec.slurm_cluster`` (submitit's cluster names)."""
DASK_CONNECT_TIMEOUT = "30s"
"""How long to try to reach a Dask scheduler before giving up."""


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
    """Process-pool workers: die with the parent (Linux), leave Ctrl-C to the parent.

    A worker starts with SIGINT blocked (:class:`_QuietSpawnProcess`); ignoring it here discards
    a Ctrl-C that arrived meanwhile, and only then is it unblocked.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


class _QuietSpawnProcess(multiprocessing.get_context("spawn").Process):  # type: ignore[misc]
    """A spawned worker deaf to Ctrl-C from its first instruction, so that a Ctrl-C during its
    imports prints no traceback, while the parent loses none.

    The spawning thread *blocks* SIGINT while it starts the worker: the signal mask is
    inherited across fork and exec, so the worker starts with SIGINT blocked (and ignores it in
    :func:`_worker_init`), while a Ctrl-C sent to the parent meanwhile stays pending, or goes to
    another of its threads, and is acted on once the worker has started (a worker started then
    is stopped). (Ignoring SIGINT in the parent instead, with ``SIG_IGN``, would drop a Ctrl-C
    that lands in that window; the pool spawns workers during the run, and a loaded machine
    widens the window: issue 28.)
    """

    def start(self) -> None:
        _STARTED.add(self)
        if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
            return super().start()
        # On the main thread a Ctrl-C that Python handles during the spawn (delivered to
        # another thread) is recorded and raised once the worker exists, never mid-spawn,
        # where the worker's handle would be lost.
        deferred: list[Any] = []
        main = threading.current_thread() is threading.main_thread()
        handler = signal.signal(signal.SIGINT, lambda _s, f: deferred.append(f)) if main else None
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C is delivered
            if main:
                signal.signal(signal.SIGINT, handler)
        if deferred:
            try:
                _deliver(handler, deferred[0])
            except BaseException:
                self._stop_quietly()
                raise

    def _stop_quietly(self) -> None:
        """Terminate the child if it started (it dies silently: SIGTERM's default action)."""
        with contextlib.suppress(Exception):
            if getattr(self, "_popen", None) is not None:
                self.terminate()


def _deliver(handler: Any, frame: Any) -> None:
    """Act on a deferred SIGINT as ``handler`` would have (``KeyboardInterrupt`` by default)."""
    if callable(handler):
        handler(signal.SIGINT, frame)
    elif handler == signal.SIG_DFL:  # pragma: no cover - Python always installs a handler
        signal.raise_signal(signal.SIGINT)


_STARTED: weakref.WeakSet[_QuietSpawnProcess] = weakref.WeakSet()
"""Every worker this process spawned: a Ctrl-C between a worker's start and the pool's record
of it must not leave that worker behind (:func:`_stop_pool`)."""


class _QuietSpawnContext(type(multiprocessing.get_context("spawn"))):  # type: ignore[misc]
    Process = _QuietSpawnProcess


def _stop_pool(pool: cf.ProcessPoolExecutor, earlier: set[Any] | None = None) -> None:
    """Cancel what is queued and terminate the workers (running cells leave only a temporary
    folder, cleaned by the next run), also those spawned since the pool opened that the pool
    had not recorded yet (``earlier``: the workers that existed before)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    if earlier is not None:
        processes += [p for p in list(_STARTED) if p not in earlier and p not in processes]
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
        earlier = set(_STARTED)
        pool = cf.ProcessPoolExecutor(
            max_workers=spec.jobs, mp_context=context, initializer=_worker_init
        )
        try:
            yield pool
        except BaseException:
            _stop_pool(pool, earlier)
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
