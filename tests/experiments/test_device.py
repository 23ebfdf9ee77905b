"""``device`` of the experiments (issue 18): resolution, refusal, and the cells it reaches.

CUDA itself is not available in CI; the tests that need a CUDA device fake
:func:`~smoothscope._device.resolve_device` (so that the configs and plans see ``"cuda"``) and
check what reaches the cells, not a GPU computation.
"""

from __future__ import annotations

import os

import pytest
import torch

from smoothscope import report
from smoothscope._device import resolve_device
from smoothscope._errors import SmoothscopeError
from smoothscope.cli import main
from smoothscope.experiments import _base
from smoothscope.experiments import scale_detection as sd_exp
from smoothscope.experiments import stability as stab_exp
from smoothscope.experiments.nonsmoothness import NonsmoothnessConfig

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


def test_cpu_only_experiments_refuse_cuda_and_take_the_cpu_for_auto(fake_cuda):
    with pytest.raises(SmoothscopeError, match=r"CPU only.*stability"):
        NonsmoothnessConfig.preset("quick", device="cuda")
    assert NonsmoothnessConfig.preset("quick", device="auto").device == "cpu"


def test_reproduce_gives_each_experiment_the_device_it_can_use(fake_cuda):
    assert report._device_for("stability", "cuda") == "cuda"
    assert report._device_for("scale-detection", "auto") == "cuda"
    assert report._device_for("nonsmoothness", "cuda") == "cpu"
    assert report._device_for("blueshift", "cpu") == "cpu"


def test_a_cuda_request_is_checked_before_reproduce_writes(tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("checks a CUDA-less machine")
    out = tmp_path / "out"
    with pytest.raises(SmoothscopeError, match="sees no CUDA device"):
        report.reproduce(scale="quick", out=out, only=["stability"], device="cuda")
    assert not out.exists()
