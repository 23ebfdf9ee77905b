"""Cells and executors: deterministic ids, atomic results, resume (also after a kill, whose
pool workers die with it), failures reported with their config, bit-identical results
in-process, in a process pool, on a Dask LocalCluster and through submitit's local executor."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from _procs import alive, children
from smoothscope import SmoothscopeError
from smoothscope.experiments.nonsmoothness import NonsmoothnessConfig, plan
from smoothscope.sweep import Cell, ExecutorSpec, SweepError, open_executor, run_cells

HERE = Path(__file__).parent
SQUARE, READER = "_sweep_cells:square", "_sweep_cells:reader"


@pytest.fixture(autouse=True)
def _importable_cells(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def _log(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_ids_are_deterministic_and_depend_on_config_and_threads():
    assert Cell(SQUARE, {"x": 1}).id == Cell(SQUARE, {"x": 1}, label="other label").id
    assert Cell(SQUARE, {"x": 1}).id != Cell(SQUARE, {"x": 2}).id
    assert Cell(SQUARE, {"a": 1, "b": 2}).id == Cell(SQUARE, {"b": 2, "a": 1}).id
    assert Cell(SQUARE, {"x": 1}).id != Cell(SQUARE, {"x": 1}, threads=2).id


def test_run_resume_and_dependencies(tmp_path: Path):
    log = tmp_path / "log"
    cells = [Cell(SQUARE, {"x": x, "log": str(log)}) for x in (1, 2, 3)]
    out = run_cells(cells, tmp_path / "root", progress=False)
    assert [out[c.id]["square"] for c in cells] == [1, 4, 9]
    assert _log(log) == [1, 2, 3]
    record = json.loads((tmp_path / "root" / cells[1].id / "result.json").read_text())
    assert record["config"]["x"] == 2 and record["summary"] == {"square": 4}
    # a rerun with one more cell computes only the new one
    run_cells([*cells, Cell(SQUARE, {"x": 4, "log": str(log)})], tmp_path / "root", progress=False)
    assert _log(log) == [1, 2, 3, 4]
    read = Cell(READER, {"source": cells[2].id})
    assert run_cells([read], tmp_path / "root", progress=False)[read.id] == {"read": 9}
    assert not list((tmp_path / "root").glob(".*tmp*"))  # no temporary folder is left behind


def test_failed_cells_are_reported_with_config_and_the_others_finish(tmp_path: Path):
    log = tmp_path / "log"
    cells = [Cell(SQUARE, {"x": x, "log": str(log)}, label=f"x={x}") for x in (1, -1, 3)]
    with pytest.raises(SweepError, match=r"x=-1 with config .*\"x\": -1.*negative input") as info:
        run_cells(cells, tmp_path, progress=False)
    assert sorted(_log(log)) == [-1, 1, 3]
    assert len(info.value.failures) == 1 and info.value.failures[0].cell == cells[1]
    assert (tmp_path / cells[2].id / "result.json").exists()
    assert not (tmp_path / cells[1].id).exists()
    with pytest.raises(SweepError):
        run_cells(cells, tmp_path, progress=False)
    assert sorted(_log(log)) == [-1, -1, 1, 3]  # only the failed cell is retried


def test_unknown_function_is_a_clear_failure(tmp_path: Path):
    with pytest.raises(SweepError, match="module:function"):
        run_cells([Cell("no.such.module:fn", {})], tmp_path, progress=False)


def test_killed_sweep_resumes_with_only_the_unfinished_cells(tmp_path: Path):
    root, log = tmp_path / "root", tmp_path / "log"
    script = (
        "from smoothscope.sweep import Cell, ExecutorSpec, open_executor, run_cells\n"
        "if __name__ == '__main__':\n"
        f"    cells = [Cell({SQUARE!r}, {{'x': x, 'log': {str(log)!r}, 'sleep': 0.4}}) "
        "for x in range(8)]\n"
        "    with open_executor(ExecutorSpec('process', jobs=1)) as pool:\n"
        f"        run_cells(cells, {str(root)!r}, executor=pool, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while len(list(root.glob("*/result.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    assert workers and not [pid for pid in workers if alive(pid)]  # no orphan keeps computing
    time.sleep(0.5)  # a cell the worker had started may have finished before it died
    finished = {json.loads(p.read_text())["config"]["x"] for p in root.glob("*/result.json")}
    assert 3 <= len(finished) < 8
    started = _log(log)
    cells = [Cell(SQUARE, {"x": x, "log": str(log), "sleep": 0.4}) for x in range(8)]
    out = run_cells(cells, root, progress=False)
    assert [out[c.id]["square"] for c in cells] == [x * x for x in range(8)]
    recomputed = _log(log)[len(started) :]
    assert sorted(recomputed) == sorted(set(range(8)) - finished)


def _tiny_training_cells() -> list[Cell]:
    config = NonsmoothnessConfig.preset(
        "quick",
        datasets=("ellipsoid",),
        n_models=2,
        ellipsoid_train=64,
        ellipsoid_val=16,
        epochs=2,
        batch_size=16,
        threads_per_cell=1,
    )
    return plan(config)[0][0]  # 4 independent training cells of the real experiment


EXECUTOR_SPECS = {
    "process": ExecutorSpec("process", jobs=2),
    "dask": ExecutorSpec("dask", jobs=2),
    "submitit-local": ExecutorSpec("submitit-local", jobs=2, slurm_time=5),
}


@pytest.fixture(scope="module")
def inprocess_reference(tmp_path_factory) -> tuple[list[Cell], dict[str, bytes]]:
    cells = _tiny_training_cells()
    root = tmp_path_factory.mktemp("inprocess")
    run_cells(cells, root, progress=False)
    return cells, {c.id: (root / c.id / "model.pt").read_bytes() for c in cells}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("name", list(EXECUTOR_SPECS))
def test_executors_give_bit_identical_results(name, inprocess_reference, tmp_path: Path):
    cells, reference = inprocess_reference
    root = tmp_path / "root"
    with open_executor(EXECUTOR_SPECS[name], log_folder=tmp_path / "logs") as executor:
        summaries = run_cells(cells, root, executor=executor, progress=False)
    assert set(summaries) == {c.id for c in cells}
    for cell in cells:
        ours = _weights(root / cell.id / "model.pt")
        theirs = torch.load(io.BytesIO(reference[cell.id]), weights_only=True)
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), (name, cell.label, key)


@pytest.mark.parametrize("name", ["process", "dask"])
def test_failures_cross_process_boundaries(name, tmp_path: Path):
    log = tmp_path / "log"
    cells = [Cell(SQUARE, {"x": x, "log": str(log)}, label=f"x={x}") for x in (2, -5)]
    with open_executor(EXECUTOR_SPECS[name]) as executor:
        with pytest.raises(SweepError, match="negative input") as info:
            run_cells(cells, tmp_path / "root", executor=executor, progress=False)
    assert [f.cell.config["x"] for f in info.value.failures] == [-5]
    assert (tmp_path / "root" / cells[0].id / "result.json").exists()


def test_executor_spec_errors():
    with pytest.raises(SmoothscopeError, match="executor: expected one of"):
        ExecutorSpec("kubernetes")
    with pytest.raises(SmoothscopeError, match="jobs"):
        ExecutorSpec("process", jobs=0)
    with pytest.raises(SmoothscopeError, match="address: only used by the dask"):
        ExecutorSpec("process", address="tcp://127.0.0.1:1")


def test_unreachable_dask_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("smoothscope.sweep.executors.DASK_CONNECT_TIMEOUT", "1s")
    spec = ExecutorSpec("dask", address="tcp://127.0.0.1:9")
    with pytest.raises(SmoothscopeError, match="reachable Dask scheduler"):
        with open_executor(spec):
            pass
