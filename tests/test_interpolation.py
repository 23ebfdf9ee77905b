"""Training to a multiple of the interpolation time (paper B §4.3; ScaleDetection_SGD.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.interpolation import (
    InterpolationRule,
    InterpolationState,
    interpolation_step,
    train_to_interpolation,
)


def _run(rule: InterpolationRule, losses: list[float], vals: list[float]) -> InterpolationState:
    state = InterpolationState()
    for epoch, (loss, val) in enumerate(zip(losses, vals, strict=True)):
        state = interpolation_step(rule, state, epoch, loss, val)
    return state


def test_the_rule_is_the_original_code_s():
    """ScaleDetection_SGD.py: every 10 epochs (from 0), the interpolation epoch is the first
    check with a zero mean hinge loss; stop at the first check with epoch ≥ multiple × it, zero
    loss and zero validation error."""
    rule = InterpolationRule(multiple=3, check_every=10)
    losses = [1.0] * 20 + [0.0] * 200  # zero from epoch 20 on (a check)
    state = _run(rule, losses, [0.0] * 220)
    assert state.interpolation_epoch == 20 and state.stop_epoch == 60
    # a zero loss between checks does not count: the check at 30 is the first one
    losses = [1.0] * 25 + [0.0] * 200
    assert _run(rule, losses, [0.0] * 225).interpolation_epoch == 30
    # zero 0-1 training error is not enough: the loss (margins ≥ 1) decides
    state = _run(rule, [0.5] * 300, [0.0] * 300)
    assert state.interpolation_epoch is None and not state.stopped


def test_the_stop_waits_for_zero_loss_and_zero_validation_error():
    rule = InterpolationRule(multiple=2, check_every=10)
    losses = [1.0] * 10 + [0.0] * 30 + [0.1] * 10 + [0.0] * 100  # interpolation at 10
    state = _run(rule, losses, [0.0] * 150)
    assert state.interpolation_epoch == 10 and state.stop_epoch == 20
    losses = [1.0] * 10 + [0.0] * 10 + [0.2] * 20 + [0.0] * 100  # loss back up at the multiple
    assert _run(rule, losses, [0.0] * 140).stop_epoch == 40
    vals = [0.1] * 50 + [0.0] * 100  # the validation error reaches 0 at epoch 50
    state = _run(rule, [1.0] * 10 + [0.0] * 140, vals)
    assert state.stop_epoch == 50
    no_val = InterpolationRule(multiple=2, check_every=10, require_validation=False)
    assert _run(no_val, [1.0] * 10 + [0.0] * 140, vals).stop_epoch == 20


def test_the_state_is_frozen_once_stopped_and_bad_input_raises():
    rule = InterpolationRule(multiple=1, check_every=1)
    stopped = interpolation_step(rule, InterpolationState(), 3, 0.0, 0.0)
    assert stopped.stop_epoch == 3 and stopped.interpolation_epoch == 3
    assert interpolation_step(rule, stopped, 4, 5.0, 1.0) is stopped
    with pytest.raises(SmoothscopeError, match="train_loss"):
        interpolation_step(rule, InterpolationState(), 0, float("nan"), 0.0)
    with pytest.raises(SmoothscopeError, match="val_error"):
        interpolation_step(rule, InterpolationState(), 0, 0.0, None)
    with pytest.raises(SmoothscopeError, match="multiple"):
        InterpolationRule(multiple=0.5)
    with pytest.raises(SmoothscopeError, match="check_every"):
        InterpolationRule(check_every=0)


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 1, 8, generator=g)
    y = torch.where(x[:, 0, :4].sum(1) > x[:, 0, 4:].sum(1), 1.0, -1.0)
    return x[:16], y[:16], x[16:], y[16:]


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.readout = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.relu(self.conv(x)).flatten(1)).squeeze(1)


@pytest.fixture
def one_thread():
    """One intra-op thread, as the experiment's cells (two threads on a busy 2-core machine
    spin-wait: 10× slower for this tiny net)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_train_to_interpolation_stops_by_the_rule_with_snapshots(one_thread):
    x, y, xv, yv = _problem()
    torch.manual_seed(0)
    model = _Net()
    rule = InterpolationRule(multiple=3, check_every=5, require_validation=False)
    result = train_to_interpolation(
        model, x, y, xv, yv, lr=0.1, batch_size=4, weight_decay=0.0, rule=rule,
        max_epochs=5000, seed=1, snapshots=(1, 2), progress=False,
    )  # fmt: skip
    e = result.interpolation_epoch
    assert e is not None and e % 5 == 0 and not result.capped
    assert result.stop_epoch >= 3 * e and result.stop_epoch % 5 == 0
    assert result.epochs == result.stop_epoch + 1
    assert set(result.snapshots) == {1.0, 2.0}
    assert result.snapshots[1.0][0] == e and result.snapshots[2.0][0] >= 2 * e
    with torch.no_grad():
        margins = y * model(x)
    assert bool((margins >= 1).all())  # zero hinge loss on the training set at the stop
    # the same seed gives the same bits; max_epochs caps and says so
    torch.manual_seed(0)
    again = train_to_interpolation(
        _Net(), x, y, xv, yv, lr=0.1, batch_size=4, weight_decay=0.0, rule=rule,
        max_epochs=5000, seed=1, progress=False,
    )  # fmt: skip
    assert all(torch.equal(again.state_dict[k], v) for k, v in result.state_dict.items())
    torch.manual_seed(0)
    short = train_to_interpolation(
        _Net(), x, y, xv, yv, rule=rule, max_epochs=3, seed=1, progress=False
    )
    assert short.capped and short.epochs == 3


def test_train_to_interpolation_validates_its_input():
    x, y, xv, yv = _problem()
    with pytest.raises(SmoothscopeError, match="y_val"):
        train_to_interpolation(_Net(), x, y, xv, yv * 2, progress=False)
    with pytest.raises(SmoothscopeError, match="batch_size"):
        train_to_interpolation(_Net(), x[:4], y[:4], xv, yv, progress=False)
    with pytest.raises(SmoothscopeError, match="weight_decay"):
        train_to_interpolation(_Net(), x, y, xv, yv, weight_decay=-1, progress=False)
