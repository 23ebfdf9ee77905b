"""Cells: pure functions of a small JSON config, run once and kept (atomic, resumable, checked).

A :class:`Cell` names a function by import path (``"smoothscope.experiments.nonsmoothness:
train_cell"``) and a JSON-serialisable config. Its id hashes both with the package version and
the cell's thread count, so a changed config or a new release recomputes. :func:`run_cell` runs
it in any worker: everything is written into a temporary folder renamed to ``root/<id>`` when the
cell has finished, with the global RNGs seeded from :func:`cell_seed` and ``Cell.threads``
intra-op threads. A finished cell whose files no longer match ``result.json`` is corrupt and is
recomputed (:class:`CorruptCellWarning`); :func:`clean_stale_temporaries` removes the temporary
folders of processes that no longer run. See :mod:`smoothscope.sweep`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import random
import re
import shutil
import socket
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._errors import SmoothscopeError
from .._io import load_json, save_json

__all__ = [
    "RESULT_FILE",
    "STALE_FOREIGN_TMP_S",
    "Cell",
    "CellContext",
    "CellFailure",
    "CorruptCellWarning",
    "SweepError",
    "cell_seed",
    "clean_stale_temporaries",
    "derive_seed",
    "is_finished",
    "run_cell",
    "seeded_global_rngs",
]

RESULT_FILE = "result.json"


def _version() -> str:
    from .._version import __version__

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
