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
