"""Cells: deterministic ids, atomic results, resume without recomputation, failures reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smoothscope.sweep import Cell, CellContext, SweepError, run_cells

CALLS: list[int] = []


def square_cell(config, ctx: CellContext):
    CALLS.append(config["x"])
    if config["x"] < 0:
        raise RuntimeError("negative input")
    np.save(ctx.out / "value.npy", np.array([config["x"] ** 2]))
    return {"square": config["x"] ** 2}


def reader_cell(config, ctx: CellContext):
    return {"read": int(np.load(ctx.path_of(config["source"]) / "value.npy")[0])}


FN = f"{__name__}:square_cell"


def test_ids_are_deterministic_and_depend_on_config():
    assert Cell(FN, {"x": 1}).id == Cell(FN, {"x": 1}, label="other label").id
    assert Cell(FN, {"x": 1}).id != Cell(FN, {"x": 2}).id
    assert Cell(FN, {"a": 1, "b": 2}).id == Cell(FN, {"b": 2, "a": 1}).id


def test_run_resume_and_dependencies(tmp_path: Path):
    CALLS.clear()
    cells = [Cell(FN, {"x": x}) for x in (1, 2, 3)]
    out = run_cells(cells, tmp_path, progress=False)
    assert [out[c.id]["square"] for c in cells] == [1, 4, 9]
    assert CALLS == [1, 2, 3]
    record = json.loads((tmp_path / cells[1].id / "result.json").read_text())
    assert record["config"] == {"x": 2} and record["summary"] == {"square": 4}
    # a rerun with one more cell computes only the new one
    CALLS.clear()
    more = [*cells, Cell(FN, {"x": 4})]
    run_cells(more, tmp_path, progress=False)
    assert CALLS == [4]
    reader = Cell(f"{__name__}:reader_cell", {"source": cells[2].id})
    assert run_cells([reader], tmp_path, progress=False)[reader.id] == {"read": 9}
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary folder is left behind


def test_failed_cells_are_reported_and_the_others_finish(tmp_path: Path):
    CALLS.clear()
    cells = [Cell(FN, {"x": 1}), Cell(FN, {"x": -1}, label="bad"), Cell(FN, {"x": 3})]
    with pytest.raises(SweepError, match="bad") as info:
        run_cells(cells, tmp_path, progress=False)
    assert CALLS == [1, -1, 3]
    assert len(info.value.failures) == 1 and "negative input" in info.value.failures[0].error
    assert (tmp_path / cells[2].id / "result.json").exists()
    assert not (tmp_path / cells[1].id).exists()
    CALLS.clear()
    with pytest.raises(SweepError):
        run_cells(cells, tmp_path, progress=False)
    assert CALLS == [-1]  # only the failed cell is retried


def test_unknown_function_is_a_clear_failure(tmp_path: Path):
    with pytest.raises(SweepError, match="module:function"):
        run_cells([Cell("no.such.module:fn", {})], tmp_path, progress=False)
