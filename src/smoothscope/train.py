"""One training loop: Adam on a loss, the best-validation checkpoint, a progress bar, a seed.

On an accelerator :func:`fit` keeps the data where the caller put it (resident on the device:
minibatches are indexed there, losses summed there, one host sync per epoch) and offers three
options, all off by default so that the CPU path is unchanged bit for bit: large batches with
the learning rate scaled linearly (``batch_scale``), bfloat16 autocast (``bf16``) and the
channels-last layout (``channels_last``).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ._errors import SmoothscopeError
from ._validate import check_finite, positive

__all__ = ["HingeResult", "TrainResult", "device_options", "fit", "hinge_loss", "train_hinge"]


@dataclass
class TrainResult:
    """Outcome of :func:`fit`.

    Attributes:
        state_dict: the parameters with the lowest validation loss.
        best_epoch: the epoch (1-based) they come from.
        best_val_loss: their validation loss.
        history: per-epoch ``{"epoch", "train_loss", "val_loss"}`` records.
        recipe: what ran: ``{"batch_size", "lr", "bf16", "channels_last"}`` (after the
            ``batch_scale`` of :func:`fit`).
    """

    state_dict: dict[str, torch.Tensor]
    best_epoch: int
    best_val_loss: float
    history: list[dict[str, float]] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn,
    batch_size: int,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> float:
    model.eval()
    # summed on the data's device (one host sync per call); float64 products and sums in the
    # same order give the bits of the former Python-float sum
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        with autocast():
            loss = loss_fn(model(xb), yb)
        total += loss.detach().double() * xb.shape[0]
    return float(total) / x.shape[0]


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> float:
    """One pass over shuffled minibatches; returns the mean training loss."""
    model.train()
    n = inputs.shape[0]
    order = torch.randperm(n, generator=generator).to(inputs.device)  # CPU draws, any device
    # the running sum stays on the inputs' device (no host sync per step on a GPU); float64
    # products and sums in the same order give the same bits as Python floats on the CPU
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(inputs[idx]), targets[idx])
        loss.backward()
        optimizer.step()
        total += loss.detach().double() * idx.numel()
    return float(total) / n


def device_options(
    device: torch.device | str, *, batch_scale: int = 1, bf16: bool = False
) -> dict[str, Any]:
    """The accelerator options of :func:`fit` for a device, as keyword arguments.

    The CPU gets none (``fit`` as it always ran, bit for bit). CUDA gets ``channels_last=True``
    (the same numbers up to the kernels' rounding, faster convolutions) and the given
    ``batch_scale`` and ``bf16``, which change the protocol (the linear scaling rule, bfloat16
    arithmetic): a caller passes them only where its ledger records the deviation.

    Args:
        device: where the model and data live (``"cpu"``, ``"cuda"``, ``torch.device``).
        batch_scale: the large-batch factor k (batches of ``k · batch_size``, learning rate
            ``k · lr``), CUDA only.
        bf16: bfloat16 autocast, CUDA only.
    """
    kind = torch.device(device).type
    if kind == "cpu":
        return {}
    batch_scale = positive(batch_scale, "batch_scale", integer=True)
    return {"batch_scale": batch_scale, "bf16": bool(bf16), "channels_last": True}


def fit(
    model: nn.Module,
    train_inputs: torch.Tensor,
    train_targets: torch.Tensor,
    val_inputs: torch.Tensor,
    val_targets: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    progress: bool = True,
    description: str = "training",
    batch_scale: int = 1,
    bf16: bool = False,
    channels_last: bool = False,
) -> TrainResult:
    """Train ``model`` in place with Adam and return the best-validation parameters.

    Paper A (§IV-A) trains its autoencoders with Adam, learning rate 1e-3 and the MSE loss, and
    keeps the model with the lowest validation error; these are the defaults.

    **On a GPU.** Put the model and the four tensors on the device first: they stay there
    (minibatches are indexed on the device from CPU-drawn orders, so the same seed gives the
    same orders on every device; losses are summed there; one host sync per epoch). Small
    batches leave a GPU idle; ``batch_scale = k`` trains with batches of ``k · batch_size`` and
    the learning rate ``k · lr``: the linear scaling rule (Goyal et al. 2017, "Accurate, large
    minibatch SGD", §2.1), which the papers' recipes do not state, so a run that uses it
    deviates from their protocol and must say so in its ledger. ``bf16`` runs the forward pass
    and the loss under ``torch.autocast(dtype=torch.bfloat16)`` (parameters, gradients and
    Adam's state stay float32; use it only where a claim is shown to be insensitive to it).
    ``channels_last`` converts the model and 4-D inputs to the channels-last layout (faster
    convolutions on tensor cores and in oneDNN; the same numbers up to the kernels' rounding).
    All three are off by default: with them off, the CPU path is the former ``fit``, bit for bit.

    Args:
        model: the network (trained in place; the returned state_dict is a detached copy).
        train_inputs: ``[N, ...]`` training inputs, on the model's device.
        train_targets: ``[N, ...]`` training targets (the inputs for an autoencoder).
        val_inputs: ``[M, ...]`` validation inputs.
        val_targets: ``[M, ...]`` validation targets.
        epochs: number of passes over the training set.
        batch_size: minibatch size.
        lr: Adam learning rate.
        loss_fn: defaults to the mean squared error.
        seed: seeds the minibatch order.
        progress: show a progress bar over epochs.
        description: label of the progress bar.
        batch_scale: k ≥ 1: batches of ``k · batch_size`` at learning rate ``k · lr``.
        bf16: bfloat16 autocast of the forward pass and the loss (training and validation).
        channels_last: the channels-last layout for the model and 4-D inputs.

    Returns:
        :class:`TrainResult` (its ``recipe`` says which batch size and learning rate ran).
    """
    epochs = positive(epochs, "epochs", integer=True)
    batch_size = positive(batch_size, "batch_size", integer=True)
    lr = positive(lr, "lr")
    batch_scale = positive(batch_scale, "batch_scale", integer=True)
    for name, flag in (("bf16", bf16), ("channels_last", channels_last)):
        if not isinstance(flag, bool):
            raise SmoothscopeError(f"{name}: expected True or False, got {flag!r}")
    for name, t in (
        ("train_inputs", train_inputs),
        ("train_targets", train_targets),
        ("val_inputs", val_inputs),
        ("val_targets", val_targets),
    ):
        if t.shape[0] == 0:
            raise SmoothscopeError(
                f"{name}: expected at least one sample, got shape {tuple(t.shape)}"
            )
        check_finite(t, name)
    if (
        train_inputs.shape[0] != train_targets.shape[0]
        or val_inputs.shape[0] != val_targets.shape[0]
    ):
        raise SmoothscopeError(
            "inputs and targets: expected the same number of samples, got "
            f"{train_inputs.shape[0]}/{train_targets.shape[0]} (train) and "
            f"{val_inputs.shape[0]}/{val_targets.shape[0]} (validation)"
        )
    loss_fn = loss_fn or nn.functional.mse_loss
    batch_size, lr = batch_size * batch_scale, lr * batch_scale  # the linear scaling rule
    autocast = contextlib.nullcontext
    if bf16:

        def autocast() -> contextlib.AbstractContextManager:
            return torch.autocast(device_type=train_inputs.device.type, dtype=torch.bfloat16)

    if channels_last:
        model.to(memory_format=torch.channels_last)
        train_inputs, val_inputs = (
            t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
            for t in (train_inputs, val_inputs)
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n = train_inputs.shape[0]
    recipe = {"batch_size": batch_size, "lr": lr, "bf16": bf16, "channels_last": channels_last}
    best = TrainResult(copy.deepcopy(model.state_dict()), 0, math.inf, recipe=recipe)
    bar = tqdm(range(1, epochs + 1), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        running = n * _train_epoch(
            model, optimizer, loss_fn, train_inputs, train_targets, batch_size, generator, autocast
        )
        val_loss = _evaluate(model, val_inputs, val_targets, loss_fn, max(batch_size, 256),
                             autocast)  # fmt: skip
        best.history.append({"epoch": epoch, "train_loss": running / n, "val_loss": val_loss})
        if val_loss < best.best_val_loss:
            best.state_dict = copy.deepcopy(model.state_dict())
            best.best_epoch, best.best_val_loss = epoch, val_loss
        bar.set_postfix(train=f"{running / n:.2e}", val=f"{val_loss:.2e}")
    if not math.isfinite(best.best_val_loss):
        raise SmoothscopeError(
            f"training diverged: expected a finite validation loss, got {val_loss!r}; "
            "try a lower lr"
        )
    return best


@dataclass
class HingeResult:
    """Outcome of :func:`train_hinge`.

    Attributes:
        state_dict: the parameters at the end of training.
        interpolation_epoch: first epoch after which every training point is classified
            correctly (None if never reached).
        epochs: epochs run.
        history: per-epoch ``{"epoch", "loss", "train_error"}`` records.
    """

    state_dict: dict[str, torch.Tensor]
    interpolation_epoch: int | None
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)


def hinge_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean hinge loss ``max(0, 1 − y·f(x))`` for labels in {−1, +1}."""
    return torch.clamp(1.0 - y * output, min=0.0).mean()



def ridge_sgd(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.SGD:
    """Plain SGD (no momentum) with the ridge on the convolution filters only (paper B §4.3:
    biases and the readout are not decayed)."""
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    filters = [m.weight for m in model.modules() if isinstance(m, convs)]
    ids = {id(p) for p in filters}
    others = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.SGD(
        [
            {"params": filters, "weight_decay": weight_decay},
            {"params": others, "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=0.0,
    )

def train_hinge(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float = 0.01,
    batch_size: int = 8,
    weight_decay: float = 0.01,
    interpolation_multiple: float = 500.0,
    max_epochs: int = 100_000,
    seed: int = 0,
    progress: bool = True,
    description: str = "training",
) -> HingeResult:
    """Paper B §4.3: SGD on the hinge loss with L2 weight decay on the filters, stopped at a
    multiple of the interpolation time.

    The interpolation time is the first epoch after which the training error is zero; training
    goes on until ``interpolation_multiple`` times that epoch (paper: 500×, so that weight
    decay drives the weights to the minimal-norm solution), or ``max_epochs``.

    Args:
        model: maps ``[B, ...]`` inputs to ``[B]`` scores (trained in place).
        x: ``[P, ...]`` training inputs.
        y: ``[P]`` labels in {−1, +1}.
        lr: SGD learning rate (paper: 0.01; 0.003 for tanh).
        batch_size: paper: 8.
        weight_decay: L2 ridge on the convolution filters only (paper: 0.01).
        interpolation_multiple: stop at this multiple of the interpolation epoch.
        max_epochs: hard limit.
        seed: seeds the minibatch order.
        progress: show a progress bar.
        description: its label.
    """
    lr = positive(lr, "lr")
    batch_size = positive(batch_size, "batch_size", integer=True)
    interpolation_multiple = positive(interpolation_multiple, "interpolation_multiple")
    max_epochs = positive(max_epochs, "max_epochs", integer=True)
    if weight_decay < 0:
        raise SmoothscopeError(f"weight_decay: expected ≥ 0, got {weight_decay!r}")
    y = torch.as_tensor(y, dtype=x.dtype)
    if y.dim() != 1 or y.shape[0] != x.shape[0] or not bool(((y == 1) | (y == -1)).all()):
        raise SmoothscopeError(
            f"y: expected {x.shape[0]} labels in {{-1, +1}}, got shape {tuple(y.shape)}"
        )
    check_finite(x, "x")
    optimizer = ridge_sgd(model, lr, weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    history: list[dict[str, float]] = []
    interpolation: int | None = None
    stop = max_epochs
    bar = tqdm(total=max_epochs, desc=description, disable=not progress, leave=False)
    epoch = 0
    while epoch < stop:
        epoch += 1
        running = _train_epoch(model, optimizer, hinge_loss, x, y, batch_size, generator) * n
        with torch.no_grad():
            model.eval()
            error = float((torch.sign(model(x)) != y).double().mean())
        if not math.isfinite(running):
            raise SmoothscopeError(f"training diverged at epoch {epoch}; try a lower lr")
        history.append({"epoch": epoch, "loss": running / n, "train_error": error})
        if interpolation is None and error == 0.0:
            interpolation = epoch
            stop = min(max_epochs, max(epoch + 1, math.ceil(interpolation_multiple * epoch)))
            bar.reset(total=stop)
            bar.update(epoch - 1)
        bar.update(1)
        bar.set_postfix(loss=f"{running / n:.2e}", err=f"{error:.3f}")
    bar.close()
    return HingeResult(copy.deepcopy(model.state_dict()), interpolation, epoch, history)
