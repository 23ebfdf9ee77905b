"""Training loop: it learns, keeps the best validation checkpoint, is seeded, rejects bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError, fit


def _linear_problem(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return x, x @ w


def test_fit_learns_a_linear_map_and_keeps_the_best_checkpoint():
    x, y = _linear_problem()
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    result = fit(model, x[:200], y[:200], x[200:], y[200:], epochs=60, lr=3e-2, progress=False)
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) == 60 and losses[-1] < 0.01 * losses[0]
    assert result.best_val_loss == min(losses)
    assert result.best_epoch == 1 + losses.index(min(losses))
    best = nn.Linear(4, 1)
    best.load_state_dict(result.state_dict)
    with torch.no_grad():
        assert nn.functional.mse_loss(best(x[200:]), y[200:]).item() == pytest.approx(
            result.best_val_loss, rel=1e-5
        )


def test_fit_is_deterministic_with_a_seed():
    x, y = _linear_problem()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = nn.Linear(4, 1)
        runs.append(fit(model, x, y, x, y, epochs=3, batch_size=16, seed=5, progress=False))
    assert runs[0].history == runs[1].history


def test_fit_rejects_bad_input():
    x, y = _linear_problem(16)
    model = nn.Linear(4, 1)
    with pytest.raises(SmoothscopeError, match="epochs"):
        fit(model, x, y, x, y, epochs=0, progress=False)
    with pytest.raises(SmoothscopeError, match="same number of samples"):
        fit(model, x, y[:5], x, y, epochs=1, progress=False)
    with pytest.raises(SmoothscopeError, match="finite"):
        fit(model, x * math.nan, y, x, y, epochs=1, progress=False)
    with pytest.raises(SmoothscopeError, match="at least one sample"):
        fit(model, x[:0], y[:0], x, y, epochs=1, progress=False)


def test_train_hinge_interpolates_then_runs_a_multiple_of_the_interpolation_time():
    from smoothscope.train import hinge_loss, train_hinge

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g)
    y = torch.sign(x[:, 0] + 0.5 * x[:, 1])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    result = train_hinge(
        model, x, y, lr=0.1, batch_size=8, interpolation_multiple=3, max_epochs=500, progress=False
    )
    assert result.interpolation_epoch is not None
    assert result.epochs == max(result.interpolation_epoch + 1, 3 * result.interpolation_epoch)
    assert result.history[result.interpolation_epoch - 1]["train_error"] == 0.0
    assert hinge_loss(torch.tensor([2.0, -0.5]), torch.tensor([1.0, 1.0])) == pytest.approx(0.75)
    with pytest.raises(SmoothscopeError, match="labels"):
        train_hinge(model, x, torch.zeros(40), progress=False)


class _Spy(nn.Module):
    """A tiny CNN recording, per forward pass, the autocast dtype and the input layout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.head = nn.Linear(3 * 4 * 4, 1)
        self.seen: list[tuple[bool, bool, bool]] = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_autocast_enabled("cpu"),
                          x.is_contiguous(memory_format=torch.channels_last)))  # fmt: skip
        return self.head(torch.relu(self.conv(x)).flatten(1))


def _images(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 4, 4, generator=g)
    return x, x.mean(dim=(1, 2, 3)).unsqueeze(1)


def test_fit_gpu_options_are_off_by_default():
    x, y = _images()
    torch.manual_seed(0)
    model = _Spy()
    result = fit(model, x, y, x, y, epochs=2, batch_size=8, lr=1e-2, progress=False)
    assert result.recipe == {"batch_size": 8, "lr": 1e-2, "bf16": False, "channels_last": False}
    assert not any(autocast or last for _, autocast, last in model.seen)


def test_batch_scale_is_the_linear_scaling_rule():
    x, y = _images()
    runs = []
    for options in ({"batch_size": 5, "lr": 1e-2, "batch_scale": 4},
                    {"batch_size": 20, "lr": 4e-2}):  # fmt: skip
        torch.manual_seed(0)
        model = _Spy()
        runs.append(fit(model, x, y, x, y, epochs=3, seed=2, progress=False, **options))
        assert sum(training for training, _, _ in model.seen) == 3 * 2  # 40 / 20: two steps
    assert runs[0].recipe["batch_size"] == 20 and runs[0].recipe["lr"] == pytest.approx(4e-2)
    assert runs[0].history == runs[1].history


def test_bf16_autocast_and_channels_last_reach_every_forward_pass():
    x, y = _images()
    torch.manual_seed(0)
    model = _Spy()
    result = fit(model, x, y, x, y, epochs=2, batch_size=8, bf16=True, channels_last=True,
                 progress=False)  # fmt: skip
    assert model.seen and all(autocast and last for _, autocast, last in model.seen)
    assert {training for training, _, _ in model.seen} == {True, False}  # train and validation
    assert model.conv.weight.dtype == torch.float32
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert math.isfinite(result.best_val_loss)
    with pytest.raises(SmoothscopeError, match="bf16"):
        fit(model, x, y, x, y, epochs=1, bf16="yes", progress=False)
    with pytest.raises(SmoothscopeError, match="batch_scale"):
        fit(model, x, y, x, y, epochs=1, batch_scale=0, progress=False)


def test_fit_syncs_with_the_host_once_per_pass_not_per_batch(monkeypatch):
    """Data resident on a device: the losses are summed where the data is; the host reads one
    number per training pass and one per validation pass (counted through ``Tensor.__float__``
    on the CPU, where a GPU would wait)."""
    x, y = _images(80)
    x_val, y_val = _images(600, seed=1)  # three validation batches of at most 256
    reads = []
    original = torch.Tensor.__float__
    monkeypatch.setattr(torch.Tensor, "__float__", lambda t: reads.append(1) or original(t))
    torch.manual_seed(0)
    fit(_Spy(), x, y, x_val, y_val, epochs=3, batch_size=4, progress=False)
    assert len(reads) == 3 * 2  # per epoch: 20 training and 3 validation batches, 2 reads


def test_device_options_leave_the_cpu_alone_and_fill_in_cuda():
    """A faked CUDA device (a ``torch.device`` needs no GPU): the options fit would get."""
    from smoothscope.train import device_options

    assert device_options("cpu", batch_scale=8, bf16=True) == {}
    assert device_options(torch.device("cuda")) == {
        "batch_scale": 1, "bf16": False, "channels_last": True}  # fmt: skip
    assert device_options("cuda:1", batch_scale=8, bf16=True) == {
        "batch_scale": 8, "bf16": True, "channels_last": True}  # fmt: skip
    with pytest.raises(SmoothscopeError, match="batch_scale"):
        device_options("cuda", batch_scale=0)
