"""Weight paths of any model, point by point: ``vmap`` over the points, or a plain loop.

:func:`~.paths.weight_path` evaluates ``p(t) = f(x, W + α⁻¹ t D)`` (paper C §3, eq. 1) with the
layerwise evaluator of :mod:`.linear_paths` wherever it applies. For the other models (a
parametrised module of another type, a parametrisation, a model that moves the batch axis) it
evaluates whole forward passes with per-point weights, ``chunk`` points at a time, in one of two
ways:

* ``"vmap"``: one ``torch.func.vmap`` of ``torch.func.functional_call`` over a stacked dict of
  the perturbed parameters (a convolution becomes one grouped convolution over the points);
* ``"loop"``: the weights of each point written into the (private) evaluator copy and one
  plain forward pass per point, what a user's loop does.

:func:`fallback_mode` picks one with a deterministic cost model from one shape pass at ``W``:
``vmap`` saves every module's per-point call, a loop runs each product at its dense speed. In
float64 on the CPU, where grouped convolutions and large batches gain nothing (im2col + GEMM
per sample), the loop wins once the per-point products outweigh the calls, ``F > n ×``
:data:`LOOP_FLOPS_PER_CALL` (``F``: product FLOPs of one point, ``n``: module calls per
forward pass). Elsewhere (float32 through oneDNN, CUDA) ``vmap``. The two give the same
numbers up to float rounding (grouped versus dense kernels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from .._errors import SmoothscopeError
from . import path_kernels
from .linear_paths import OUTPUT, _first_tensor, _Recorder

__all__ = ["FALLBACK_MODES", "check_chunk", "fallback_mode", "fallback_recording"]

FALLBACK_MODES = ("vmap", "loop")
LOOP_FLOPS_PER_CALL = 6e5
"""float64, CPU: a point's product FLOPs per module call above which the plain loop beats
``vmap`` (a module call costs ~10 µs, grouped float64 convolutions ~20 % more per FLOP)."""
def fallback_mode(flops: float, calls: int, dtype: torch.dtype, device: torch.device) -> str:
    """``"loop"`` or ``"vmap"`` for a model doing ``flops`` product FLOPs in ``calls`` module
    calls per point (module docstring); deterministic in its arguments."""
    if device.type == "cpu" and dtype == torch.float64 and flops > calls * LOOP_FLOPS_PER_CALL:
        return "loop"
    return "vmap"


def check_chunk(values, layers, order, has_loss, t, j_of, d_of) -> None:
    """Raise on the first layer, in forward order, with NaN/inf in this chunk."""
    index = {n: i for i, n in enumerate(layers)}
    sequence = [n for n in order if n in index] + [n for n in layers if n not in order]
    if has_loss:
        sequence.append("<loss>")
        index["<loss>"] = len(layers)
    for name in sequence:
        v = values[index[name]]
        bad = ~torch.isfinite(v.reshape(v.shape[0], -1)).all(dim=1)
        if bool(bad.any()):
            first = int(bad.nonzero()[0])
            label = {OUTPUT: "the model output", "<loss>": "the loss"}.get(name, f"layer {name!r}")
            raise SmoothscopeError(
                f"weight_path: expected finite values along the path, got NaN or inf in {label} "
                f"at t = {float(t[j_of[first]]):.4g} of direction {int(d_of[first])}"
            )


def fallback_recording(
    evaluator: nn.Module,
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    names: Sequence[str],
    directions_of: Callable[[list[int]], dict[int, list[torch.Tensor]]],
    n_directions: int,
    t: torch.Tensor,
    steps: torch.Tensor,
    layers: Sequence[str],
    *,
    mode: str,
    chunk_size: int,
    point_bytes: int,
    dtype: torch.dtype,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    targets: torch.Tensor | None,
) -> list[torch.Tensor]:
    """The buffers ``[N, n_directions, ...]`` of :func:`~.paths.weight_path` (recorded layers,
    then the loss), evaluated whole forward pass by forward pass (``mode``: "vmap" or "loop").

    Chunks of ``chunk_size`` points (capped by :func:`.path_kernels.points_per_chunk` with the
    largest activation ``point_bytes``) run direction-major; ``directions_of(ds)`` returns the
    unit directions of a chunk.
    """
    points = steps.numel()
    device = x.device
    chunk_size = path_kernels.points_per_chunk(chunk_size, point_bytes, device)
    recorder = _Recorder(evaluator, layers)

    def forward(perturbed: dict[str, torch.Tensor]):
        recorder.clear()
        out = _first_tensor(functional_call(evaluator, perturbed, (x,)), OUTPUT)
        values = recorder.values(out, layers)
        if loss_fn is not None:
            values.append(loss_fn(out, targets).reshape(()))
        return tuple(values)

    live = dict(evaluator.named_parameters())
    base = {n: live[n].detach().clone() for n in names}

    def looped(stacked: dict[str, torch.Tensor]):
        rows = []
        try:
            for i in range(next(iter(stacked.values())).shape[0]):
                for n, v in stacked.items():
                    live[n].copy_(v[i])
                recorder.clear()
                out = _first_tensor(evaluator(x), OUTPUT)
                values = recorder.values(out, layers)
                if loss_fn is not None:
                    values.append(loss_fn(out, targets).reshape(()))
                rows.append(values)
        finally:
            for n in names:
                live[n].copy_(base[n])
        return tuple(torch.stack(column) for column in zip(*rows, strict=True))

    batched = vmap(forward) if mode == "vmap" else looped
    total = points * n_directions
    store: list[torch.Tensor] | None = None
    order: list[str] = []
    try:
        with torch.no_grad():
            for start in range(0, total, chunk_size):
                stop = min(start + chunk_size, total)
                flat = torch.arange(start, stop)
                d_of, j_of = flat // points, flat % points
                # direction-major: the chunk is a few runs of consecutive points per direction
                runs = [
                    (d, max(start, d * points) - start, min(stop, (d + 1) * points) - start)
                    for d in range(start // points, (stop - 1) // points + 1)
                ]
                current = directions_of([d for d, _, _ in runs])
                stacked_params = {}
                for i, n in enumerate(names):
                    shape = (-1,) + (1,) * params[n].dim()
                    parts = [
                        torch.addcmul(
                            base[n], steps[j_of[a:b].to(device)].reshape(shape), current[d][i]
                        )
                        for d, a, b in runs
                    ]
                    stacked_params[n] = parts[0] if len(parts) == 1 else torch.cat(parts)
                values = batched(stacked_params)
                if store is None:
                    order = [*recorder.order]  # forward order of the hooked modules
                    store = [
                        torch.empty((points, n_directions, *v.shape[1:]), dtype=dtype)
                        for v in values
                    ]
                check_chunk(values, layers, order, loss_fn is not None, t, j_of, d_of)
                for buf, v in zip(store, values, strict=True):
                    v = v.detach().to("cpu")
                    for d, a, b in runs:
                        buf[int(j_of[a]) : int(j_of[a]) + b - a, d] = v[a:b]
    finally:
        recorder.remove()
    return store
