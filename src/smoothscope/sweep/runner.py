"""Running cells: one stage of independent cells (:func:`run_cells`), or dependent stages one
after the other (:func:`run_stages`), through any executor. See :mod:`smoothscope.sweep`."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._errors import SmoothscopeError
from .cells import (
    Cell,
    CellFailure,
    SweepError,
    _load_finished,
    clean_stale_temporaries,
    run_cell,
)
from .executors import InProcessExecutor

__all__ = ["run_cells", "run_stages"]


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
