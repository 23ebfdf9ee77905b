"""Training K networks of one architecture at once: paper B §4.3's protocol over seeds.

Paper B trains several simple CNNs per task (one per seed) with SGD on the hinge loss, batches
of 8 and weight decay on the filters, and stops each one at a multiple of its own interpolation
time (§4.3; ``ScaleDetection_SGD.py`` of ``UmbertoTomasini/scale_detection_1d``). The functions
here train the K members together, each exactly as its one-at-a-time trainer would:

* :func:`train_to_interpolation_ensemble`: K × :func:`smoothscope.interpolation.
  train_to_interpolation` (the paper's stopping rule: zero training hinge loss, then zero loss
  and zero validation error at the multiple, checked every ``check_every`` epochs; snapshots at
  smaller multiples);
* :func:`train_hinge_ensemble`: K × :func:`smoothscope.train.train_hinge` (zero 0-1 training
  error, then a fixed multiple).

**How.** The members' parameters are stacked with ``torch.func.stack_module_state``; each SGD
step evaluates every member on its own minibatch with one ``torch.func.vmap`` of
``torch.func.functional_call``, backpropagates the sum of the members' losses (a member's
parameters only see its own loss) and applies ``torch.optim.SGD``'s update (weight decay on the
convolution filters, as the one-at-a-time trainers) to the whole stack. Each member draws its
minibatch order from its own ``torch.Generator().manual_seed(seed)`` (the same draws as alone)
and applies its own stopping rule; a member that stops is recorded (state dict, epochs,
history, snapshots) and leaves the stack while the others go on.

**Bits.** Under ``vmap`` a convolution with per-member weights is one grouped convolution
(``groups = K``) and a linear layer a batched product; their sums run in another order than the
dense kernels of one-at-a-time training, so the forward pass and the gradients differ in the
last bits (float32: ~1e-7 relative per step, measured) and each member follows its
one-at-a-time trajectory up to float rounding, which SGD carries along. How far it carries it
depends on the network, not on the ensemble: where many hinge margins sit at the clamp together
(a near-constant output at initialisation, as paper B's task-1 nets with biases at width 64),
SGD amplifies one step's rounding into O(1) parameter differences within tens of epochs, and
two one-at-a-time trainings that differ only in their convolution kernels (oneDNN against
PyTorch's native ones) drift apart the same way (measured: 2.5e-2 relative after 20 epochs, 0.28
after 100). Whole trainings then agree in distribution (interpolation epochs, test errors:
``benchmarks/bench_ensemble.py``), not bit for bit; short ones agree to ~1e-6 (the tests).
The batched path is deterministic on its own: the same members, seeds and data give the same
bits, and a member's bits do not depend on which other members it is trained with (the stack
never runs with fewer than two rows: a lone member trains beside a copy of itself whose results
are thrown away, so every member always goes through the grouped kernels;
``tests/test_ensemble.py`` checks it). ``vectorize=False`` trains the members one at a time with
the one-at-a-time trainer itself (the reference).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from ._errors import SmoothscopeError
from ._validate import check_finite, positive
from .interpolation import (
    InterpolationResult,
    InterpolationRule,
    InterpolationState,
    interpolation_step,
    train_to_interpolation,
)
from .train import HingeResult, train_hinge

__all__ = ["train_hinge_ensemble", "train_to_interpolation_ensemble"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _decayed(model: nn.Module) -> set[str]:
    """Names of the convolution filters (weight decay; the rest of the parameters: none)."""
    ids = {id(m.weight) for m in model.modules() if isinstance(m, _CONVS)}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def _check_members(models: Sequence[nn.Module], seeds: Sequence[int]) -> list[nn.Module]:
    if not isinstance(models, (list, tuple)) or not models:
        raise SmoothscopeError(
            f"models: expected a non-empty list of modules, got {type(models).__name__}"
        )
    for i, m in enumerate(models):
        if not isinstance(m, nn.Module):
            raise SmoothscopeError(
                f"models[{i}]: expected a torch.nn.Module, got {type(m).__name__}"
            )
    if not isinstance(seeds, (list, tuple)) or len(seeds) != len(models):
        raise SmoothscopeError(f"seeds: expected one int per model ({len(models)}), got {seeds!r}")
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool):
            raise SmoothscopeError(f"seeds: expected ints, got {s!r}")
    first = models[0]

    def signature(m: nn.Module) -> list[tuple]:
        return [(n, tuple(p.shape), p.dtype, p.device) for n, p in m.named_parameters()]

    if not signature(first):
        raise SmoothscopeError("models: expected modules with parameters, got none")
    for i, m in enumerate(models):
        if type(m) is not type(first) or signature(m) != signature(first):
            raise SmoothscopeError(
                f"models[{i}]: expected the architecture of models[0] ({type(first).__name__}: "
                "the same parameter names, shapes, dtypes and devices), got another"
            )
        if next(m.buffers(), None) is not None:
            raise SmoothscopeError(
                f"models[{i}]: expected a model without buffers (BatchNorm running statistics "
                "cannot be updated inside vmap), got some; train it on its own"
            )
        if any(isinstance(d, nn.modules.dropout._DropoutNd) and d.p > 0 for d in m.modules()):
            raise SmoothscopeError(
                f"models[{i}]: expected a model without dropout (its random masks would differ "
                "from one-at-a-time training), got some; train it on its own"
            )
    return list(models)


def _labelled(x: Any, y: Any, xn: str, yn: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1:
        raise SmoothscopeError(
            f"{xn}: expected a floating-point tensor [P, ...], got {type(x).__name__}"
        )
    check_finite(x, xn)
    y = torch.as_tensor(y)
    if y.dim() != 1 or y.shape[0] != x.shape[0] or not bool(((y == 1) | (y == -1)).all()):
        raise SmoothscopeError(
            f"{yn}: expected {x.shape[0]} labels in {{-1, +1}}, got shape {tuple(y.shape)}"
        )
    return x, y.to(dtype=x.dtype, device=x.device)


def _hyper(lr: Any, batch_size: Any, weight_decay: Any, max_epochs: Any) -> tuple:
    lr = positive(lr, "lr")
    batch_size = positive(batch_size, "batch_size", integer=True)
    max_epochs = positive(max_epochs, "max_epochs", integer=True)
    if not isinstance(weight_decay, (int, float)) or not weight_decay >= 0:
        raise SmoothscopeError(f"weight_decay: expected ≥ 0, got {weight_decay!r}")
    return lr, batch_size, weight_decay, max_epochs


class _Stack:
    """K members' parameters stacked along a first axis, trained by vmapped SGD steps.

    ``rows[j]`` is the member of row ``j`` and ``live[j]`` whether its results are kept (a dead
    row is a finished member or a copy, kept so that the stack has ≥ 2 rows).
    """

    def __init__(self, members: list[nn.Module], seeds: list[int], lr: float,
                 weight_decay: float) -> None:  # fmt: skip
        self.base = copy.deepcopy(members[0]).to("meta")
        self.names = [name for name, _ in self.base.named_parameters()]
        self.keys = list(members[0].state_dict())  # parameters only (no buffers), in order
        self.filters = _decayed(self.base)
        self.lr, self.weight_decay = lr, weight_decay
        stack = members if len(members) > 1 else [members[0], copy.deepcopy(members[0])]
        stacked, _ = stack_module_state(stack)
        self.params = {n: stacked[n].detach().clone().requires_grad_(True) for n in self.names}
        self.rows = list(range(len(members))) + ([0] if len(members) == 1 else [])
        self.live = [True] * len(members) + ([False] if len(members) == 1 else [])
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]

        def call(p: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, p, (xb,))

        self._step_fn = vmap(call)
        self._eval_fn = vmap(call, in_dims=(0, None))

    def epoch(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, drop_last: bool,
              weighted: bool) -> list[float]:  # fmt: skip
        """One epoch of SGD for every row; per row the float64 sum of its minibatch losses
        (weighted by the batch size when ``weighted``, as ``train_hinge`` sums them)."""
        n = x.shape[0]
        self.base.train()
        orders = torch.stack([
            torch.randperm(n, generator=self.generators[k]) if alive else torch.arange(n)
            for k, alive in zip(self.rows, self.live, strict=True)
        ]).to(x.device)  # fmt: skip
        stop = n - n % batch_size if drop_last else n
        totals = torch.zeros(len(self.rows), dtype=torch.float64, device=x.device)
        params = [self.params[m] for m in self.names]
        decay = [m in self.filters and self.weight_decay != 0 for m in self.names]
        for start in range(0, stop, batch_size):
            idx = orders[:, start : start + batch_size]
            out = self._step_fn(self.params, x[idx])
            losses = torch.clamp(1.0 - y[idx] * out, min=0.0).mean(dim=1)
            grads = torch.autograd.grad(losses.sum(), params)
            with torch.no_grad():  # torch.optim.SGD's single-tensor update (its CPU path)
                for p, g, decayed in zip(params, grads, decay, strict=True):
                    if decayed:
                        g = g.add(p, alpha=self.weight_decay)
                    p.add_(g, alpha=-self.lr)
            done = losses.detach().double()
            totals += done * idx.shape[1] if weighted else done
        return totals.tolist()

    @torch.no_grad()
    def errors(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        """Per row, the 0-1 error of ``sign(f(x))`` (eval mode)."""
        self.base.eval()
        return (torch.sign(self._eval_fn(self.params, x)) != y).double().mean(dim=1).tolist()

    def state(self, j: int) -> dict[str, torch.Tensor]:
        """The state dict of row ``j`` (a copy)."""
        state = {n: self.params[n][j].detach().clone() for n in self.names}
        return {key: state[key] for key in self.keys}

    def retire(self, finished: list[int]) -> None:
        """Mark rows finished and drop dead rows, keeping at least two."""
        for j in finished:
            self.live[j] = False
        keep = [j for j, alive in enumerate(self.live) if alive]
        if not keep or len(keep) == len(self.rows):
            return
        if len(keep) < 2:
            keep.append(next(j for j, alive in enumerate(self.live) if not alive))
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[j] for j in keep]
        self.live = [self.live[j] for j in keep]
        self.params = {n: self.params[n].detach()[keep].clone().requires_grad_(True)
                       for n in self.names}  # fmt: skip


def _run(stack: _Stack, max_epochs: int, progress: bool, description: str,
         epoch_fn: Callable[[int], None]) -> None:  # fmt: skip
    bar = tqdm(total=max_epochs, desc=description, disable=not progress, leave=False)
    try:
        epoch = 0
        while any(stack.live) and epoch < max_epochs:
            epoch_fn(epoch)
            epoch += 1
            bar.update(1)
            bar.set_postfix(training=sum(stack.live))
    finally:
        bar.close()


def _diverged(loss: float, epoch: int, k: int, seed: int) -> None:
    if not math.isfinite(loss):
        raise SmoothscopeError(
            f"training diverged at epoch {epoch} (member {k}, seed {seed}); try a lower lr"
        )


def train_to_interpolation_ensemble(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    seeds: Sequence[int],
    lr: float = 0.01,
    batch_size: int = 8,
    weight_decay: float = 0.01,
    rule: InterpolationRule | None = None,
    max_epochs: int = 600_000,
    snapshots: Sequence[float] = (),
    vectorize: bool = True,
    progress: bool = True,
    description: str = "training",
) -> list[InterpolationResult]:
    """K × :func:`~smoothscope.interpolation.train_to_interpolation`, trained at once.

    Paper B §4.3: plain SGD on the mean hinge loss of minibatches of ``batch_size`` (a last
    partial batch dropped), an L2 ridge on the convolution filters, the stopping rule of
    :func:`~smoothscope.interpolation.interpolation_step` applied to each member on its own
    (module docstring). Member ``k`` draws its minibatch orders from
    ``torch.Generator().manual_seed(seeds[k])``.

    Args:
        models: K modules of one architecture (same type and parameter shapes, no buffers, no
            dropout), at their initialisation; not modified.
        x: ``[P, ...]`` training inputs shared by the members; y: ``[P]`` labels in {−1, +1}.
        x_val: ``[V, ...]`` validation inputs; y_val: ``[V]`` labels.
        seeds: one int per member.
        lr, batch_size, weight_decay, rule, max_epochs, snapshots: as ``train_to_interpolation``.
        vectorize: True: the stacked, vmapped training; False: ``train_to_interpolation`` for
            one member after another (the reference).
        progress, description: a progress bar (epochs, members still training) and its label.

    Returns:
        One :class:`~smoothscope.interpolation.InterpolationResult` per member, in order.

    Raises:
        SmoothscopeError: members of different architectures or with buffers or dropout, a seed
            count that does not match, bad labels or values, fewer points than a batch, or a
            member whose loss diverges (named with its seed).
    """
    members = _check_members(models, seeds)
    rule = rule or InterpolationRule()
    lr, batch_size, weight_decay, max_epochs = _hyper(lr, batch_size, weight_decay, max_epochs)
    x, y = _labelled(x, y, "x", "y")
    x_val, y_val = _labelled(x_val, y_val, "x_val", "y_val")
    if x.shape[0] < batch_size:
        raise SmoothscopeError(
            f"x: expected at least batch_size = {batch_size} points, got {x.shape[0]}"
        )
    if not vectorize:
        return [
            train_to_interpolation(copy.deepcopy(m), x, y, x_val, y_val, lr=lr,
                                   batch_size=batch_size, weight_decay=weight_decay, rule=rule,
                                   max_epochs=max_epochs, seed=s, snapshots=snapshots,
                                   progress=progress, description=description)
            for m, s in zip(members, seeds, strict=True)
        ]  # fmt: skip
    seeds = list(seeds)
    K = len(members)
    stack = _Stack(members, seeds, lr, weight_decay)
    n_batches = x.shape[0] // batch_size
    extra = sorted({float(m) for m in snapshots if float(m) < rule.multiple})
    states = [InterpolationState() for _ in range(K)]
    pending = [{m: InterpolationState() for m in extra} for _ in range(K)]
    results = [InterpolationResult({}, None, None, 0) for _ in range(K)]

    def epoch_fn(epoch: int) -> None:
        sums = stack.epoch(x, y, batch_size, drop_last=True, weighted=False)
        losses = {}
        for j, (k, alive) in enumerate(zip(stack.rows, stack.live, strict=True)):
            if alive:
                losses[j] = sums[j] / n_batches
                _diverged(losses[j], epoch, k, seeds[k])
        finished = []
        if epoch % rule.check_every == 0:
            vals = stack.errors(x_val, y_val)
            for j, loss in losses.items():
                k, res = stack.rows[j], results[stack.rows[j]]
                res.history.append({"epoch": epoch, "loss": loss, "val_error": vals[j]})
                for m, s in list(pending[k].items()):
                    s = interpolation_step(replace(rule, multiple=m), s, epoch, loss, vals[j])
                    pending[k][m] = s
                    if s.stopped:
                        res.snapshots[m] = (epoch, stack.state(j))
                        del pending[k][m]
                states[k] = interpolation_step(rule, states[k], epoch, loss, vals[j])
                if states[k].stopped:
                    finished.append(j)
        if epoch + 1 == max_epochs:
            finished = list(losses)
        for j in finished:
            k = stack.rows[j]
            results[k].state_dict = stack.state(j)
            results[k].interpolation_epoch = states[k].interpolation_epoch
            results[k].stop_epoch = states[k].stop_epoch
            results[k].epochs = epoch + 1
        stack.retire(finished)

    _run(stack, max_epochs, progress, description, epoch_fn)
    return results


def train_hinge_ensemble(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seeds: Sequence[int],
    lr: float = 0.01,
    batch_size: int = 8,
    weight_decay: float = 0.01,
    interpolation_multiple: float = 500.0,
    max_epochs: int = 100_000,
    vectorize: bool = True,
    progress: bool = True,
    description: str = "training",
) -> list[HingeResult]:
    """K × :func:`~smoothscope.train.train_hinge`, trained at once.

    Per member: SGD on the mean hinge loss of minibatches of ``batch_size`` (the last one
    partial), weight decay on the convolution filters; the interpolation epoch t* is the first
    (1-based) after which the 0-1 training error is zero, and the member stops after epoch
    ``max(t* + 1, ⌈interpolation_multiple · t*⌉)`` or ``max_epochs``.

    Args:
        models: K modules of one architecture (see :func:`train_to_interpolation_ensemble`).
        x: ``[P, ...]`` training inputs; y: ``[P]`` labels in {−1, +1}.
        seeds: one int per member (its minibatch order).
        lr, batch_size, weight_decay, interpolation_multiple, max_epochs: as ``train_hinge``.
        vectorize: True: stacked and vmapped; False: ``train_hinge`` one member after another.
        progress, description: a progress bar and its label.

    Returns:
        One :class:`~smoothscope.train.HingeResult` per member, in order.

    Raises:
        SmoothscopeError: as :func:`train_to_interpolation_ensemble`.
    """
    members = _check_members(models, seeds)
    lr, batch_size, weight_decay, max_epochs = _hyper(lr, batch_size, weight_decay, max_epochs)
    multiple = positive(interpolation_multiple, "interpolation_multiple")
    x, y = _labelled(x, y, "x", "y")
    if not vectorize:
        return [
            train_hinge(copy.deepcopy(m), x, y, lr=lr, batch_size=batch_size,
                        weight_decay=weight_decay, interpolation_multiple=multiple,
                        max_epochs=max_epochs, seed=s, progress=progress,
                        description=description)
            for m, s in zip(members, seeds, strict=True)
        ]  # fmt: skip
    seeds = list(seeds)
    K, n = len(members), x.shape[0]
    stack = _Stack(members, seeds, lr, weight_decay)
    stops = [max_epochs] * K
    interpolation: list[int | None] = [None] * K
    histories: list[list[dict[str, float]]] = [[] for _ in range(K)]
    results: list[HingeResult | None] = [None] * K

    def epoch_fn(index: int) -> None:
        epoch = index + 1  # train_hinge counts from 1
        sums = stack.epoch(x, y, batch_size, drop_last=False, weighted=True)
        errors = stack.errors(x, y)
        finished = []
        for j, (k, alive) in enumerate(zip(stack.rows, stack.live, strict=True)):
            if not alive:
                continue
            running = sums[j] / n * n  # train_hinge's float arithmetic, step for step
            _diverged(running, epoch, k, seeds[k])
            histories[k].append({"epoch": epoch, "loss": running / n, "train_error": errors[j]})
            if interpolation[k] is None and errors[j] == 0.0:
                interpolation[k] = epoch
                stops[k] = min(max_epochs, max(epoch + 1, math.ceil(multiple * epoch)))
            if epoch >= stops[k]:
                results[k] = HingeResult(stack.state(j), interpolation[k], epoch, histories[k])
                finished.append(j)
        stack.retire(finished)

    _run(stack, max_epochs, progress, description, epoch_fn)
    return [r for r in results if r is not None]
