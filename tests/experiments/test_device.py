"""``device`` of the experiments (issues 18, 29): resolution, refusal, and the cells it reaches.

CUDA itself is not available in CI; the tests that need a CUDA device fake
:func:`~smoothscope._device.resolve_device` (so that the configs and plans see ``"cuda"``) and
check what reaches the cells, not a GPU computation. To check that the device reaches the
models and data inside every cell function, one cell of each function runs with
``Module.to`` and ``Tensor.to`` spied on: a move to CUDA is recorded and carried out on the CPU
(so the cell computes). What this cannot see (a tensor left on the host beside one on the
device) is checked on a real GPU by ``benchmarks/device_check.sh``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from smoothscope import report
from smoothscope._device import resolve_device
from smoothscope._errors import SmoothscopeError
from smoothscope.cli import main
from smoothscope.experiments import _base, available_experiments, get_experiment
from smoothscope.experiments import scale_detection as sd_exp
from smoothscope.experiments import stability as stab_exp
from smoothscope.experiments.nonsmoothness import NonsmoothnessConfig
from smoothscope.sweep import Cell, run_cell

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CUDA-less machine")


@pytest.fixture
def fake_cuda(monkeypatch):
    """``"cuda"`` and ``"auto"`` resolve to a CUDA device, as on a GPU machine."""

    def fake(device):
        if device in ("cuda", "auto"):
            return torch.device("cuda")
        return resolve_device(device)

    monkeypatch.setattr(_base, "resolve_device", fake)
    monkeypatch.setattr(report.reproducing, "resolve_device", fake)  # report/reproducing.py


def test_cpu_runs_keep_their_cell_identities():
    config = stab_exp.StabilityConfig.preset("quick", device="cpu")
    assert config.device == "cpu" and config.cell_device() == {}
    stages, _ = stab_exp.plan(config)
    assert all("device" not in cell.config for cell in stages[0])
    assert all("device" not in cell.config["train"] for cell in stages[1])


@no_cuda
def test_auto_is_the_cpu_and_cuda_is_refused_without_cuda():
    assert stab_exp.StabilityConfig.preset("quick", device="auto").device == "cpu"
    with pytest.raises(SmoothscopeError, match="sees no CUDA device"):
        stab_exp.StabilityConfig.preset("quick", device="cuda")
    with pytest.raises(SmoothscopeError, match="expected cpu, cuda"):
        stab_exp.StabilityConfig.preset("quick", device="tpu")


@no_cuda
def test_cli_refuses_cuda_without_cuda_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv(_base.DEVICE_ENV, raising=False)
    try:
        assert main(["run", "stability", "--device", "cuda"]) == 2
    finally:
        os.environ.pop(_base.DEVICE_ENV, None)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA" in err


def test_cuda_reaches_training_and_measures(fake_cuda):
    config = stab_exp.StabilityConfig.preset("quick", device="cuda")
    assert config.device == "cuda" and config.cell_device() == {"device": "cuda"}
    train, analyse = stab_exp.plan(config)[0]
    assert {cell.config["device"] for cell in train} == {"cuda"}
    assert {cell.config["train"]["device"] for cell in analyse} == {"cuda"}
    # auto prefers CUDA where the cells can use it
    assert stab_exp.StabilityConfig.preset("quick", device="auto").device == "cuda"

    sd = sd_exp.ScaleDetectionConfig.preset("quick", device="cuda")
    train, measure = sd_exp.plan(sd)[0]
    assert all("device" not in cell.config for cell in train)  # trainings stay on the CPU
    assert {cell.config["device"] for cell in measure} == {"cuda"}


@dataclasses.dataclass(frozen=True)
class _CpuOnlyConfig(NonsmoothnessConfig):
    """An experiment config whose cells would run on the CPU only (none is, since issue 29)."""

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu",)


def test_cpu_only_experiments_refuse_cuda_and_take_the_cpu_for_auto(fake_cuda):
    with pytest.raises(SmoothscopeError, match=r"CPU only.*stability"):
        _CpuOnlyConfig.preset("quick", device="cuda")
    assert _CpuOnlyConfig.preset("quick", device="auto").device == "cpu"


def test_reproduce_gives_each_experiment_the_device_it_can_use(fake_cuda):
    assert report._device_for("stability", "cuda") == "cuda"
    assert report._device_for("scale-detection", "auto") == "cuda"
    assert report._device_for("nonsmoothness", "cuda") == "cuda"
    assert report._device_for("blueshift", "cpu") == "cpu"


def test_a_cuda_request_is_checked_before_reproduce_writes(tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("checks a CUDA-less machine")
    out = tmp_path / "out"
    with pytest.raises(SmoothscopeError, match="sees no CUDA device"):
        report.reproduce(scale="quick", out=out, only=["stability"], device="cuda")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# every experiment (issue 29): the device reaches every cell, and every cell function moves its
# models and data there

CPU_CELLS = {
    "smoothscope.experiments.scale_detection:train_cell": "SGD with batches of 8: launch-bound",
    "smoothscope.experiments.forensic:train_cell": "forensic.processors draws the noise on the "
    "CPU beside the frames",
}
"""Cell functions that stay on the CPU under ``device="cuda"`` (their docs say why)."""
FOLLOW_THE_MODEL = {
    "smoothscope.experiments.nonsmoothness:evaluate_cell",  # analysis.reconstruct_videos
    "smoothscope.experiments.propagation:record_cell",  # probe.smp_maps, probe.record
    "smoothscope.experiments.forensic:features_cell",  # forensic.processors.process_videos
}
"""Cell functions whose data go to the model's device inside the analysis they call (which
moves its input batches to wherever the model is, and brings the results back)."""


def _tiny(name: str) -> dict[str, Any]:
    """The tiny options of ``tests/test_determinism.py`` (the TINY dicts of these tests)."""
    path = Path(__file__).parents[1] / "test_determinism.py"
    loader = importlib.util.spec_from_file_location("_determinism_options", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module._tiny_options(name)


def _stages(name: str, config) -> list[list[Cell]]:
    module = importlib.import_module(f"smoothscope.experiments.{name.replace('-', '_')}.cells")
    return module.plan(config)[0]


def _cell_device(cell: Cell) -> str | None:
    """The device a cell runs on: its own entry, or its training cell's (``"train"``)."""
    train = cell.config.get("train")
    return cell.config.get("device", train.get("device") if isinstance(train, dict) else None)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("name", [spec.name for spec in available_experiments()])
def test_every_cell_of_every_experiment_gets_the_device(name, fake_cuda):
    spec = get_experiment(name)
    assert "cuda" in spec.config.DEVICES
    config = spec.config.preset("quick", device="cuda", **_tiny(name))
    assert config.device == "cuda"
    cells = [cell for stage in _stages(name, config) for cell in stage]
    for cell in cells:
        expected = None if cell.fn in CPU_CELLS else "cuda"
        assert _cell_device(cell) == expected, (cell.fn, cell.label)
    cpu = spec.config.preset("quick", device="cpu", **_tiny(name))
    assert all(_cell_device(c) is None for stage in _stages(name, cpu) for c in stage)


@pytest.fixture
def spied_moves(fake_cuda, monkeypatch):
    """``Module.to`` and ``Tensor.to`` with a CUDA device record the move and run on the CPU;
    D/G/R (``relative_stability``) resolves ``"cuda"`` as the configs do."""
    from smoothscope.analysis import stability as analysis_stability

    moves: dict[str, list[str]] = {"modules": [], "tensors": []}
    module_to, tensor_to = torch.nn.Module.to, torch.Tensor.to

    def host(args: tuple, kwargs: dict) -> tuple[tuple, dict, bool]:
        def one(v: Any) -> tuple[Any, bool]:
            cuda = (isinstance(v, torch.device) and v.type == "cuda") or (
                isinstance(v, str) and v.startswith("cuda")
            )
            return ("cpu", True) if cuda else (v, False)

        pairs = [one(a) for a in args]
        hit = any(h for _, h in pairs)
        if "device" in kwargs:
            device, h = one(kwargs["device"])
            kwargs, hit = {**kwargs, "device": device}, hit or h
        return tuple(a for a, _ in pairs), kwargs, hit

    def spy_module(self, *args, **kwargs):
        args, kwargs, hit = host(args, kwargs)
        if hit:
            moves["modules"].append(type(self).__name__)
        return module_to(self, *args, **kwargs)

    def spy_tensor(self, *args, **kwargs):
        args, kwargs, hit = host(args, kwargs)
        if hit:
            moves["tensors"].append(str(tuple(self.shape)))
        return tensor_to(self, *args, **kwargs)

    def resolve(device):
        return torch.device("cuda") if device in ("cuda", "auto") else resolve_device(device)

    monkeypatch.setattr(torch.nn.Module, "to", spy_module)
    monkeypatch.setattr(torch.Tensor, "to", spy_tensor)
    monkeypatch.setattr(analysis_stability, "resolve_device", resolve)
    monkeypatch.setattr(analysis_stability, "device_name", str)
    return moves


def _one_cell_per_function(stages: list[list[Cell]]) -> list[Cell]:
    """Per cell function, the cell of the plan that needs the fewest others (the cells whose
    ids its config names), with those it needs, in stage order."""
    by_id = {c.id: c for stage in stages for c in stage}
    wanted: set[str] = set()
    for stage in stages:
        for fn in dict.fromkeys(c.fn for c in stage):
            cell = min((c for c in stage if c.fn == fn), key=lambda c: len(_needs(c, by_id)))
            wanted |= {cell.id, *_needs(cell, by_id)}
    return [c for stage in stages for c in stage if c.id in wanted]


def _needs(cell: Cell, by_id: dict[str, Cell]) -> set[str]:
    return set(_strings(cell.config)) & set(by_id)


@pytest.mark.parametrize("name", [spec.name for spec in available_experiments()])
def test_every_cell_function_moves_its_models_and_data_to_the_device(name, spied_moves, tmp_path):
    config = get_experiment(name).config.preset("quick", device="cuda", **_tiny(name))
    stages = _stages(name, config)
    functions = {c.fn for stage in stages for c in stage}
    cells = _one_cell_per_function(stages)
    assert {c.fn for c in cells} == functions
    for cell in cells:
        spied_moves["modules"].clear()
        spied_moves["tensors"].clear()
        run_cell(cell, tmp_path)
        if cell.fn in CPU_CELLS:
            assert spied_moves == {"modules": [], "tensors": []}, cell.fn
        else:
            assert spied_moves["modules"], f"{cell.fn}: no model moved to the device"
            assert spied_moves["tensors"] or cell.fn in FOLLOW_THE_MODEL, f"{cell.fn}: no data"
