"""The training recipe of paper B §2 (``leonardopetrini/diffeo-sota`` ``main.py``).

Paper B §2: "for CNNs we use SGD, learning rate = 0.1 and momentum = 0.9 ... the learning rate
follows a cosine annealing scheduling. The networks are trained on the cross-entropy loss, with
a batch size of 128 and for 250 epochs. Early stopping at the best validation error is performed
... we employ standard data augmentation consisting of random translations and horizontal
flips"; fully connected networks: "ADAM optimizer with learning rate = 0.1". The code fixes the
rest: weight decay 5·10⁻⁴ (SGD; 0 for the FCNs' Adam), ``CosineAnnealingLR(T_max = 0.8 ×
epochs)`` stepped once per epoch (no scheduler for the FCNs), ``RandomCrop(32, padding=4)``
with zero padding and ``RandomHorizontalFlip()``, and the checkpoint with the best test accuracy
(evaluated after every epoch). :class:`Recipe` holds these choices; :func:`train_recipe` runs
them. Every random draw (minibatch order, crops, flips) comes from one generator seeded by the
caller.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..._errors import SmoothscopeError

__all__ = ["Recipe", "RecipeResult", "augment_batch", "train_recipe"]

CROP_PADDING = 4
"""Zero padding of the random crops (``RandomCrop(32, padding=4)``)."""


@dataclass(frozen=True)
class Recipe:
    """One training recipe (defaults: paper B §2 for the CNNs).

    Attributes:
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: learning rate.
        momentum: SGD momentum (ignored by Adam).
        weight_decay: L2 weight decay of every parameter (as ``torch.optim``'s).
        scheduler: ``"cosine"`` (``CosineAnnealingLR`` with ``T_max = 0.8 × epochs``, stepped
            per epoch) or ``"none"``.
        epochs: passes over the training set.
        batch_size: minibatch size.
        augment: random crops (4-pixel zero padding) and horizontal flips of every training
            minibatch.
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scheduler: str = "cosine"
    epochs: int = 250
    batch_size: int = 128
    augment: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam") or self.scheduler not in ("cosine", "none"):
            raise SmoothscopeError(
                f"recipe: expected optimizer sgd|adam and scheduler cosine|none, got "
                f"{self.optimizer!r}, {self.scheduler!r}"
            )
        if not (self.lr > 0 and self.epochs >= 1 and self.batch_size >= 1):
            raise SmoothscopeError("recipe: expected lr > 0, epochs ≥ 1 and batch_size ≥ 1")


@dataclass
class RecipeResult:
    """Outcome of :func:`train_recipe`.

    Attributes:
        state_dict: the parameters (and buffers) with the best test accuracy.
        best_epoch: the epoch (1-based) they come from.
        best_error: their test error.
        train_error: the training error of that checkpoint (no augmentation, eval mode).
        history: per-epoch ``{"epoch", "train_loss", "test_error", "lr"}`` records.
    """

    state_dict: dict[str, torch.Tensor]
    best_epoch: int
    best_error: float
    train_error: float = math.nan
    history: list[dict[str, float]] = field(default_factory=list)


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, fill: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """Random crops of ``x`` ``[B, C, H, W]`` padded by 4 pixels of ``fill`` (a number or one
    per channel: the value of a black pixel once normalised), then random horizontal flips with
    probability ½, each image its own draw (``RandomCrop(H, padding=4)`` and
    ``RandomHorizontalFlip()`` on the raw image, before ``Normalize``)."""
    b, _, h, w = x.shape
    p = CROP_PADDING
    shift = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    padded = F.pad(x - shift, (p, p, p, p)) + shift
    dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)  # [B, H]
    cols = dx[:, None] + torch.arange(w)[None]  # [B, W]
    cols = torch.where(flip[:, None], cols.flip(1), cols).to(x.device)
    out = padded[torch.arange(b, device=x.device)[:, None], :, rows]  # [B, H, C, W + 2p]
    out = out.gather(3, cols[:, None, None, :].expand(b, h, x.shape[1], w))
    return out.permute(0, 2, 1, 3).contiguous()


@torch.no_grad()
def _error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    model.eval()
    wrong = sum(
        int((model(x[i : i + batch]).argmax(1) != y[i : i + batch]).sum())
        for i in range(0, x.shape[0], batch)
    )
    return wrong / x.shape[0]


def train_recipe(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    recipe: Recipe,
    seed: int,
    fill: torch.Tensor | float = 0.0,
    progress: bool = True,
    description: str = "training",
) -> RecipeResult:
    """Train ``model`` in place on the cross-entropy with ``recipe`` and return the
    best-test-accuracy checkpoint.

    Args:
        model: a classifier ``[B, C, H, W] -> [B, classes]``.
        x_train, y_train: ``[N, C, H, W]`` images and ``[N]`` labels.
        x_test, y_test: the test images and labels (evaluated after every epoch).
        recipe: the optimiser, schedule and augmentation.
        seed: seeds the minibatch order, the crops and the flips.
        fill: the crops' padding value (a number, or one per channel).
        progress, description: a progress bar over epochs and its label.

    Raises:
        SmoothscopeError: an empty set or a diverged loss.
    """
    if x_train.shape[0] == 0 or x_test.shape[0] == 0:
        raise SmoothscopeError("x_train, x_test: expected at least one image each")
    if recipe.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
        )
    else:
        optimizer = torch.optim.Adam(
            model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
        )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=0.8 * recipe.epochs)
        if recipe.scheduler == "cosine"
        else None
    )
    generator = torch.Generator().manual_seed(seed)
    n = x_train.shape[0]
    best = RecipeResult(copy.deepcopy(model.state_dict()), 0, math.inf)
    bar = tqdm(range(1, recipe.epochs + 1), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator).to(x_train.device)
        total = torch.zeros((), dtype=torch.float64, device=x_train.device)
        for start in range(0, n, recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            xb = x_train[idx]
            if recipe.augment:
                xb = augment_batch(xb, generator, fill)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), y_train[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach().double() * idx.numel()
        train_loss = float(total) / n
        if not math.isfinite(train_loss):
            raise SmoothscopeError(
                f"training diverged at epoch {epoch}: expected a finite loss, got {train_loss}; "
                "try a lower lr"
            )
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        error = _error(model, x_test, y_test)
        best.history.append(
            {"epoch": epoch, "train_loss": train_loss, "test_error": error, "lr": lr}
        )
        if error < best.best_error:
            best.state_dict = copy.deepcopy(model.state_dict())
            best.best_epoch, best.best_error = epoch, error
        bar.set_postfix(loss=f"{train_loss:.2e}", test=f"{error:.3f}")
    model.load_state_dict(best.state_dict)
    best.train_error = _error(model, x_train, y_train)
    return best
