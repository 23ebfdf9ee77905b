"""Record what chosen layers of any ``nn.Module`` compute while videos pass frame by frame.

Layers are addressed by their module names (``model.named_modules()``); for each layer the
*input* (what the layer receives, captured by a forward pre-hook before the layer can modify it
in place) and/or the *output* can be recorded. :func:`smp_maps` turns the time series of every
node into per-node SMP maps (paper A §V-B) without ever holding more than ``max_bytes`` of
recordings: the nodes are split into chunks that fit the budget, and the videos are passed once
per group of chunks (recomputation instead of memory). The caller's model is never modified: a
float64 copy in eval mode is evaluated.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._errors import SmoothscopeError
from ._validate import as_tensor, check_finite, check_rank, positive
from .signals import PEAK_FACTOR, NonsmoothnessMaps, nonsmoothness_maps

__all__ = ["SIDES", "leaf_layers", "record", "smp_maps"]

SIDES = ("input", "output")


def leaf_layers(model: nn.Module) -> list[str]:
    """Names of the modules without children, in registration order."""
    return [name for name, m in model.named_modules() if name and not list(m.children())]


def _resolve_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    modules = dict(model.named_modules())
    if layers is None:
        return leaf_layers(model)
    if isinstance(layers, str):
        layers = [layers]
    missing = [name for name in layers if name not in modules or not name]
    if missing:
        known = ", ".join(leaf_layers(model)[:12])
        raise SmoothscopeError(
            f"layers: expected module names of the model (e.g. {known}), got {missing[0]!r}"
        )
    return list(dict.fromkeys(layers))


def _first_tensor(value, layer: str, side: str) -> torch.Tensor:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    if not isinstance(value, torch.Tensor):
        raise SmoothscopeError(
            f"layer {layer!r}: expected a tensor as its {side}, got {type(value).__name__}"
        )
    return value


class _Hooks:
    """Forward (pre-)hooks that hand each requested activation to a callback."""

    def __init__(self, model: nn.Module, wanted: dict[str, set[str]], callback) -> None:
        modules = dict(model.named_modules())
        self.handles = []
        self.calls: dict[tuple[str, str], int] = {}
        for layer, sides in wanted.items():
            module = modules[layer]
            if "input" in sides:
                self.handles.append(module.register_forward_pre_hook(self._pre(layer, callback)))
            if "output" in sides:
                self.handles.append(module.register_forward_hook(self._post(layer, callback)))

    def _count(self, layer: str, side: str) -> None:
        key = (layer, side)
        self.calls[key] = self.calls.get(key, 0) + 1
        if self.calls[key] > 1:
            raise SmoothscopeError(
                f"layer {layer!r}: expected one call per forward pass, got several (a shared "
                "module); record a module that runs once"
            )

    def _pre(self, layer, callback):
        def hook(module, args):
            self._count(layer, "input")
            callback(layer, "input", _first_tensor(args, layer, "input"))

        return hook

    def _post(self, layer, callback):
        def hook(module, args, output):
            self._count(layer, "output")
            callback(layer, "output", _first_tensor(output, layer, "output"))

        return hook

    def new_pass(self) -> None:
        self.calls.clear()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _evaluator(model: nn.Module, dtype: torch.dtype) -> tuple[nn.Module, torch.device]:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    return copy.deepcopy(model).to(dtype=dtype).eval(), device


def _check_sides(sides: Sequence[str]) -> tuple[str, ...]:
    sides = (sides,) if isinstance(sides, str) else tuple(sides)
    bad = [s for s in sides if s not in SIDES]
    if bad or not sides:
        raise SmoothscopeError(f"sides: expected a subset of {SIDES}, got {sides!r}")
    return sides


@torch.no_grad()
def record(
    model: nn.Module,
    frames: torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    sides: Sequence[str] = ("output",),
    batch_size: int = 256,
    dtype: torch.dtype = torch.float64,
) -> dict[str, dict[str, torch.Tensor]]:
    """Activations of chosen layers for a batch of frames, kept whole (small inputs only).

    Args:
        model: any module taking ``[B, ...]`` frames.
        frames: ``[N, ...]`` inputs (e.g. the T frames of a video).
        layers: module names (default: every leaf module).
        sides: ``"input"`` and/or ``"output"`` of each layer.
        batch_size: frames per forward pass.
        dtype: evaluation precision.

    Returns:
        ``{layer: {side: tensor [N, *activation_shape]}}`` on the CPU.
    """
    frames = as_tensor(frames, "frames")
    check_finite(frames, "frames")
    batch_size = positive(batch_size, "batch_size", integer=True)
    names = _resolve_layers(model, layers)
    sides = _check_sides(sides)
    evaluator, device = _evaluator(model, dtype)
    parts: dict[str, dict[str, list[torch.Tensor]]] = {n: {s: [] for s in sides} for n in names}
    hooks = _Hooks(
        evaluator,
        {n: set(sides) for n in names},
        lambda layer, side, t: parts[layer][side].append(t.detach().cpu().clone()),
    )
    try:
        for start in range(0, frames.shape[0], batch_size):
            hooks.new_pass()
            evaluator(frames[start : start + batch_size].to(device=device, dtype=dtype))
    finally:
        hooks.remove()
    return {n: {s: torch.cat(parts[n][s]) for s in sides} for n in names}


@dataclass(frozen=True)
class _Chunk:
    layer: str
    side: str
    start: int
    stop: int


def _record_pass(
    evaluator: nn.Module,
    frames: torch.Tensor,
    group: list[_Chunk],
    frame_batch: int,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[_Chunk, torch.Tensor]:
    """One pass of all frames; returns a float64 ``[frames, nodes]`` buffer per chunk."""
    buffers = {
        chunk: torch.empty(frames.shape[0], chunk.stop - chunk.start, dtype=torch.float64)
        for chunk in group
    }
    by_key: dict[tuple[str, str], list[_Chunk]] = {}
    for chunk in group:
        by_key.setdefault((chunk.layer, chunk.side), []).append(chunk)
    position = {"start": 0}

    def store(layer: str, side: str, t: torch.Tensor) -> None:
        flat = t.detach().reshape(t.shape[0], -1).to("cpu", torch.float64)
        rows = slice(position["start"], position["start"] + flat.shape[0])
        for chunk in by_key.get((layer, side), ()):
            buffers[chunk][rows] = flat[:, chunk.start : chunk.stop]

    wanted: dict[str, set[str]] = {}
    for chunk in group:
        wanted.setdefault(chunk.layer, set()).add(chunk.side)
    hooks = _Hooks(evaluator, wanted, store)
    try:
        for start in range(0, frames.shape[0], frame_batch):
            hooks.new_pass()
            position["start"] = start
            evaluator(frames[start : start + frame_batch].to(device=device, dtype=dtype))
    finally:
        hooks.remove()
    return buffers


@torch.no_grad()
def smp_maps(
    model: nn.Module,
    videos: torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    sides: Sequence[str] = SIDES,
    factor: float = PEAK_FACTOR,
    max_bytes: int = 1 << 28,
    frame_batch: int = 512,
    dtype: torch.dtype = torch.float64,
) -> dict[str, dict[str, NonsmoothnessMaps]]:
    """Per-node nonsmoothness maps (SMP, mean |δ²|, peaks) of chosen layers, streamed.

    Every frame of every video is an independent input. The time series of each node of each
    requested layer side is recorded into float64 buffers of at most ``max_bytes`` in total;
    when the nodes do not fit, they are split into chunks and the videos are passed through the
    model once per group of chunks. Analysis runs per chunk with
    :func:`smoothscope.signals.nonsmoothness_maps` (paper A §V-B).

    Args:
        model: any module taking ``[B, C, H, W]`` frames (or ``[B, ...]``).
        videos: ``[V, T, ...]`` videos, or one video ``[T, ...]``.
        layers: module names (default: every leaf module).
        sides: ``"input"`` and/or ``"output"``.
        factor: the peak factor (paper: 10).
        max_bytes: budget of the recording buffers.
        frame_batch: frames per forward pass.
        dtype: evaluation precision (float64: rounding far below the differences measured).

    Returns:
        ``{layer: {side: NonsmoothnessMaps}}``; each map has shape ``[V, *activation_shape]``
        (``[*activation_shape]`` for a single video).
    """
    videos = as_tensor(videos, "videos")
    single = videos.dim() == 4
    if single:
        videos = videos.unsqueeze(0)
    check_rank(videos, (5,), "videos", "[V, T, C, H, W] or [T, C, H, W]")
    check_finite(videos, "videos")
    n_videos, n_frames = videos.shape[:2]
    if n_frames < 3:
        raise SmoothscopeError(f"videos: expected at least 3 frames, got {n_frames}")
    max_bytes = positive(max_bytes, "max_bytes", integer=True)
    frame_batch = positive(frame_batch, "frame_batch", integer=True)
    names = _resolve_layers(model, layers)
    sides = _check_sides(sides)
    evaluator, device = _evaluator(model, dtype)

    # 1. shapes of every requested activation, from one frame
    shapes: dict[tuple[str, str], torch.Size] = {}
    hooks = _Hooks(
        evaluator,
        {n: set(sides) for n in names},
        lambda layer, side, t: shapes.__setitem__((layer, side), t.shape[1:]),
    )
    try:
        evaluator(videos[0, :1].to(device=device, dtype=dtype))
    finally:
        hooks.remove()
    missing = [k for k in ((n, s) for n in names for s in sides) if k not in shapes]
    if missing:
        raise SmoothscopeError(
            f"layer {missing[0][0]!r}: expected it to run in forward, it did not"
        )

    # 2. node chunks that fit the budget, packed into passes
    per_node = n_frames * n_videos * 8
    chunk_nodes = max(1, max_bytes // per_node)
    chunks = [
        _Chunk(layer, side, start, min(start + chunk_nodes, math.prod(shapes[layer, side])))
        for layer in names
        for side in sides
        for start in range(0, math.prod(shapes[layer, side]), chunk_nodes)
    ]
    passes: list[list[_Chunk]] = [[]]
    used = 0
    for chunk in chunks:
        size = (chunk.stop - chunk.start) * per_node
        if passes[-1] and used + size > max_bytes:
            passes.append([])
            used = 0
        passes[-1].append(chunk)
        used += size

    frames = videos.transpose(0, 1).reshape(n_frames * n_videos, *videos.shape[2:])
    results = {
        key: NonsmoothnessMaps(
            torch.empty(n_videos, *shape, dtype=torch.float64),
            torch.empty(n_videos, *shape, dtype=torch.float64),
            torch.empty(n_videos, *shape, dtype=torch.int64),
        )
        for key, shape in shapes.items()
    }
    for group in passes:
        buffers = _record_pass(evaluator, frames, group, frame_batch, device, dtype)
        for chunk, buffer in buffers.items():
            series = buffer.view(n_frames, n_videos * (chunk.stop - chunk.start))
            maps = nonsmoothness_maps(series, dim=0, factor=factor)
            target = results[chunk.layer, chunk.side]
            for mine, theirs in zip(target, maps, strict=True):
                mine.view(n_videos, -1)[:, chunk.start : chunk.stop] = theirs.view(n_videos, -1)
    out: dict[str, dict[str, NonsmoothnessMaps]] = {n: {} for n in names}
    for (layer, side), maps in results.items():
        out[layer][side] = NonsmoothnessMaps(*(m[0] for m in maps)) if single else maps
    return out
