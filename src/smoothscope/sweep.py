"""Cells: units of work that are pure functions of a small JSON config, cached on disk.

A cell names a function by import path (``"smoothscope.experiments.nonsmoothness:train_cell"``)
and a JSON-serialisable config. Its id hashes both with the package version, so a changed config
or a new release recomputes. The function receives the config and a :class:`CellContext` and
returns a JSON-serialisable summary; it may also write files (checkpoints, arrays) into
``ctx.out``. The runner writes everything into a temporary folder and renames it to
``root/<id>`` when the cell has finished, so a cell folder either is complete or does not exist:
an interrupted sweep resumes by skipping the cells whose folder exists.

Cells seed themselves from their config, so results do not depend on which worker ran them or
in which order.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ._errors import SmoothscopeError
from ._io import load_json, save_json

__all__ = ["Cell", "CellContext", "CellFailure", "SweepError", "run_cells"]

RESULT_FILE = "result.json"


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
    """

    fn: str
    config: Mapping[str, Any]
    label: str = ""

    @property
    def id(self) -> str:
        """Deterministic id: a hash of the function, the config and the package version."""
        payload = json.dumps(
            {"fn": self.fn, "config": self.config, "version": _version()},
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
    """A cell that raised: its label, config and error."""

    cell: Cell
    error: str
    traceback: str = field(repr=False, default="")


class SweepError(SmoothscopeError):
    """Some cells failed; the others finished and are kept. ``failures`` lists the failed ones."""

    def __init__(self, failures: Sequence[CellFailure]) -> None:
        self.failures = list(failures)
        first = self.failures[0]
        super().__init__(
            f"{len(self.failures)} cell(s) failed; first: {first.cell.label or first.cell.id} "
            f"with config {dict(first.cell.config)}: {first.error}"
        )


def _resolve(fn: str) -> Callable[[Mapping[str, Any], CellContext], Any]:
    module, _, name = fn.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SmoothscopeError(f"cell function: expected 'module:function', got {fn!r}") from exc


def run_cell(cell: Cell, root: Path, *, progress: bool = False) -> Any:
    """Run one cell unless its result exists; return its summary."""
    final = root / cell.id
    if (final / RESULT_FILE).exists():
        return load_json(final / RESULT_FILE)["summary"]
    tmp = root / f".{cell.id}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        summary = _resolve(cell.fn)(dict(cell.config), CellContext(tmp, root, progress))
        save_json(
            tmp / RESULT_FILE,
            {
                "id": cell.id,
                "fn": cell.fn,
                "label": cell.label,
                "config": cell.config,
                "version": _version(),
                "summary": summary,
            },
        )
        shutil.rmtree(final, ignore_errors=True)  # a stale, incomplete folder from a crash
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_json(final / RESULT_FILE)["summary"]


def run_cells(
    cells: Iterable[Cell],
    root: str | os.PathLike,
    *,
    progress: bool = True,
    description: str = "cells",
) -> dict[str, Any]:
    """Run cells in order, skipping finished ones; return ``{cell.id: summary}``.

    A failing cell does not stop the others; once all have been tried, :class:`SweepError`
    reports the failures (a rerun retries only those).

    Args:
        cells: the cells; a cell may read the folders of cells listed before it.
        root: folder holding one sub-folder per finished cell.
        progress: show a progress bar of cells done / total.
        description: label of that bar.
    """
    cells = list(cells)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    failures: list[CellFailure] = []
    bar = tqdm(cells, desc=description, disable=not progress, unit="cell")
    for cell in bar:
        bar.set_postfix_str(cell.label, refresh=False)
        try:
            results[cell.id] = run_cell(cell, root, progress=progress)
        except Exception as exc:  # reported with its config; the sweep goes on
            failures.append(
                CellFailure(cell, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            )
    if failures:
        raise SweepError(failures)
    return results
