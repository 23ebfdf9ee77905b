"""Training to a multiple of the interpolation time (paper B §4.3 and Appendix B).

Paper B §4.3: "We stop the training after 500 times the interpolation time, which is the time
required by the network to reach zero interpolation error of the training set. The goal of this
extended training time is to reach the solution with minimal norm thanks to weight decay"
(Appendix B: 200 times for tanh). The original code (``UmbertoTomasini/scale_detection_1d``,
``ScaleDetection_SGD.py``) makes this precise:

* every ``check_every = 10`` epochs (epochs counted from 0) it reads ``t``, the mean over the
  epoch's minibatches of the training hinge loss (without the weight-decay term), and the 0-1
  error on a held-out validation set;
* the *interpolation epoch* ``e*`` is the first check with ``t == 0`` (every training point has
  margin ≥ 1, not merely the right sign);
* training stops at the first check with ``epoch ≥ multiple · e*``, ``t == 0`` and zero
  validation error (with a positive ridge; the code stops at ``e*`` when the ridge is 0).

:func:`interpolation_step` is that rule as a pure function of one check (state in, state out),
so that any trainer (one network at a time, or a vectorised ensemble of networks, one state per
member) applies the same rule; :func:`train_to_interpolation` is the one-network SGD trainer of
§4.3 built on it. The project's former rule (zero 0-1 training error, checked every epoch,
stopped at the multiple whatever the loss and the validation error) is
:func:`smoothscope.train.train_hinge`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn
from tqdm.auto import tqdm

from ._errors import SmoothscopeError
from ._validate import check_finite, positive
from .train import ridge_sgd

__all__ = [
    "InterpolationResult",
    "InterpolationRule",
    "InterpolationState",
    "interpolation_step",
    "train_to_interpolation",
]


@dataclass(frozen=True)
class InterpolationRule:
    """When training stops (paper B §4.3; ``ScaleDetection_SGD.py``).

    Attributes:
        multiple: stop at this multiple of the interpolation epoch (paper: 500; tanh: 200).
        check_every: epochs between checks (the original code: 10); the interpolation epoch
            and the stopping epoch are multiples of it.
        require_validation: also require zero validation 0-1 error to stop (the original code,
            with a positive ridge).
    """

    multiple: float = 500.0
    check_every: int = 10
    require_validation: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.multiple, (int, float)) or not self.multiple >= 1:
            raise SmoothscopeError(f"multiple: expected a number ≥ 1, got {self.multiple!r}")
        if not isinstance(self.check_every, int) or self.check_every < 1:
            raise SmoothscopeError(
                f"check_every: expected a positive integer, got {self.check_every!r}"
            )


@dataclass(frozen=True)
class InterpolationState:
    """Where one network stands: its interpolation epoch (``None`` before) and whether the rule
    has stopped it (``stop_epoch``)."""

    interpolation_epoch: int | None = None
    stop_epoch: int | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_epoch is not None


def interpolation_step(
    rule: InterpolationRule,
    state: InterpolationState,
    epoch: int,
    train_loss: float,
    val_error: float | None,
) -> InterpolationState:
    """The state after epoch ``epoch`` (0-based) under ``rule``: a pure function.

    Args:
        rule: the stopping rule.
        state: the state after the previous epochs.
        epoch: the epoch just finished, counted from 0.
        train_loss: the mean training hinge loss over that epoch's minibatches (no ridge).
        val_error: the validation 0-1 error after it (``None`` when ``rule`` does not need it;
            only read on check epochs).

    Returns:
        the new state: unchanged off the check epochs and once stopped; on a check epoch the
        interpolation epoch is set at the first zero loss, and the stop epoch at the first
        check past ``multiple ×`` it with zero loss (and zero validation error).

    Raises:
        SmoothscopeError: a rule that needs the validation error without one, or a negative
            or non-finite loss.
    """
    if state.stopped or epoch % rule.check_every:
        return state
    if not (math.isfinite(train_loss) and train_loss >= 0):
        raise SmoothscopeError(f"train_loss: expected a finite loss ≥ 0, got {train_loss!r}")
    if train_loss != 0:
        return state
    interpolation = state.interpolation_epoch
    if interpolation is None:
        interpolation = epoch
        state = replace(state, interpolation_epoch=epoch)
    if epoch < rule.multiple * interpolation:
        return state
    if rule.require_validation:
        if val_error is None:
            raise SmoothscopeError("val_error: the rule requires the validation error, got None")
        if val_error != 0:
            return state
    return replace(state, stop_epoch=epoch)


@dataclass
class InterpolationResult:
    """Outcome of :func:`train_to_interpolation`.

    Attributes:
        state_dict: the parameters when training stopped (by the rule or at ``max_epochs``).
        interpolation_epoch: the interpolation epoch (``None``: never reached).
        stop_epoch: the epoch the rule stopped at (``None``: ``max_epochs`` stopped it).
        epochs: epochs run.
        snapshots: ``{multiple: (epoch, state_dict)}`` at each extra multiple of ``snapshots``
            whose stopping condition was met on the way.
        history: per-check ``{"epoch", "loss", "val_error"}`` records.
    """

    state_dict: dict[str, torch.Tensor]
    interpolation_epoch: int | None
    stop_epoch: int | None
    epochs: int
    snapshots: dict[float, tuple[int, dict[str, torch.Tensor]]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def capped(self) -> bool:
        """Whether ``max_epochs`` ended training before the rule did."""
        return self.stop_epoch is None


@torch.no_grad()
def _error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((torch.sign(model(x)) != y).double().mean())


def train_to_interpolation(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    lr: float = 0.01,
    batch_size: int = 8,
    weight_decay: float = 0.01,
    rule: InterpolationRule | None = None,
    max_epochs: int = 600_000,
    seed: int = 0,
    snapshots: Sequence[float] = (),
    on_snapshot: Callable[[float, int, dict[str, torch.Tensor]], None] | None = None,
    progress: bool = True,
    description: str = "training",
) -> InterpolationResult:
    """Paper B §4.3: SGD on the hinge loss with weight decay on the filters, until ``rule``.

    Plain SGD (no momentum, as the original code), minibatches of ``batch_size`` drawn without
    replacement each epoch (a last partial batch is dropped, as ``int(P / batch)`` in the
    original code), the hinge loss ``max(0, 1 − y f(x))`` averaged over the batch, and an L2
    ridge on the convolution filters only (``weight_decay``; biases and readout are not
    decayed). The state is checked with :func:`interpolation_step`.

    Args:
        model: maps ``[B, ...]`` inputs to ``[B]`` scores (trained in place).
        x: ``[P, ...]`` training inputs; y: ``[P]`` labels in {−1, +1}.
        x_val: ``[V, ...]`` validation inputs; y_val: ``[V]`` labels (never trained on).
        lr: SGD learning rate (paper: 0.01; tanh 0.003).
        batch_size: paper: 8.
        weight_decay: the ridge on the filters (paper: 0.01).
        rule: the stopping rule (default: 500×, checks every 10 epochs, zero validation error).
        max_epochs: hard limit (the original code: 600 000).
        seed: seeds the minibatch order.
        snapshots: further multiples (below ``rule.multiple``) at which to keep a copy of the
            parameters, each taken at the first check where the rule with that multiple would
            have stopped (one trajectory gives the whole convergence curve).
        on_snapshot: called as ``on_snapshot(multiple, epoch, state_dict)`` when a snapshot
            is taken (e.g. to measure it at once); the model is left as it was.
        progress, description: a progress bar over epochs and its label.

    Raises:
        SmoothscopeError: bad shapes, labels or values, or a diverging loss.
    """
    rule = rule or InterpolationRule()
    lr = positive(lr, "lr")
    batch_size = positive(batch_size, "batch_size", integer=True)
    max_epochs = positive(max_epochs, "max_epochs", integer=True)
    if weight_decay < 0:
        raise SmoothscopeError(f"weight_decay: expected ≥ 0, got {weight_decay!r}")
    for name, inputs, labels in (("y", x, y), ("y_val", x_val, y_val)):
        labels = torch.as_tensor(labels)
        if (
            labels.dim() != 1
            or labels.shape[0] != inputs.shape[0]
            or not bool(((labels == 1) | (labels == -1)).all())
        ):
            raise SmoothscopeError(
                f"{name}: expected {inputs.shape[0]} labels in {{-1, +1}}, got shape "
                f"{tuple(labels.shape)}"
            )
    if x.shape[0] < batch_size:
        raise SmoothscopeError(
            f"x: expected at least batch_size = {batch_size} points, got {x.shape[0]}"
        )
    check_finite(x, "x")
    check_finite(x_val, "x_val")
    y, y_val = y.to(x.dtype), y_val.to(x_val.dtype)
    extra = sorted({float(m) for m in snapshots if float(m) < rule.multiple})
    optimizer = ridge_sgd(model, lr, weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n_batches = x.shape[0] // batch_size
    state = InterpolationState()
    pending = {m: InterpolationState() for m in extra}
    result = InterpolationResult({}, None, None, 0)
    bar = tqdm(total=max_epochs, desc=description, disable=not progress, leave=False)
    epoch = -1
    for epoch in range(max_epochs):
        model.train()
        order = torch.randperm(x.shape[0], generator=generator)
        total = torch.zeros((), dtype=torch.float64)
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.clamp(1.0 - y[idx] * model(x[idx]), min=0.0).mean()
            loss.backward()
            optimizer.step()
            total += loss.detach().double()
        train_loss = float(total) / n_batches
        if not math.isfinite(train_loss):
            raise SmoothscopeError(f"training diverged at epoch {epoch}; try a lower lr")
        bar.update(1)
        if epoch % rule.check_every:
            continue
        val_error = _error(model, x_val, y_val)
        result.history.append({"epoch": epoch, "loss": train_loss, "val_error": val_error})
        bar.set_postfix(loss=f"{train_loss:.2e}", val=f"{val_error:.3f}")
        for m, s in list(pending.items()):
            s = interpolation_step(replace(rule, multiple=m), s, epoch, train_loss, val_error)
            pending[m] = s
            if s.stopped:
                result.snapshots[m] = (epoch, copy.deepcopy(model.state_dict()))
                del pending[m]
                if on_snapshot is not None:
                    on_snapshot(m, epoch, result.snapshots[m][1])
        state = interpolation_step(rule, state, epoch, train_loss, val_error)
        if state.stopped:
            break
    bar.close()
    result.state_dict = copy.deepcopy(model.state_dict())
    result.interpolation_epoch = state.interpolation_epoch
    result.stop_epoch = state.stop_epoch
    result.epochs = epoch + 1
    return result
