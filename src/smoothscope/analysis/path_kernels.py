"""One parametrised layer evaluated at ``P`` points of a weight path at once (paper C eq. 1).

Along ``p(t) = f(x, W + t·D)`` (paper C §3, eq. 1, ``t`` already divided by α) the layerwise
evaluator of :mod:`.linear_paths` feeds every module the activations of ``P`` path points ×
``B`` inputs as one batch ``[P·B, ...]`` (point-major). A linear or convolution layer whose
weights are perturbed then has three ways to produce its ``[P·B, ...]`` output:

* ``"split"``: linearity in its own weights, ``L(h; W + tD) = L(h; W) + t·L(h; D)``: one dense
  call with ``[W; D]`` stacked along the output channels, then ``y0 + t·y1`` per sample. One
  call, **two** products per point.
* ``"grouped"``: per-point weights ``W_p = W + t_p·D``; a convolution becomes one grouped
  convolution with ``P × groups`` groups over the inputs laid out as ``[B, P·C, ...]`` (what
  ``vmap`` does), a linear layer one batched matrix product (``bmm``). One call, one product per
  point, two transposes of the activations.
* ``"loop"``: per-point weights, ``P`` dense calls on the ``[B, ...]`` slices, concatenated.
  One product per point, ``P`` calls: what a per-point loop does, minus its per-module overhead
  for every other module (those run once per chunk).

When the layer's input is still the same at every point (every layer below it unperturbed, see
:class:`.linear_paths._State`), ``"split"`` over the ``B`` inputs is used: two products for all
points together.

**The choice** (:func:`choose_mode`) is a deterministic cost model of the layer's shape, ``P``,
``B``, dtype and device, calibrated on the CPU of ``benchmarks/bench_weight_paths.py`` (float32
goes to oneDNN, whose grouped convolutions run near its dense speed; float64 convolutions go to
PyTorch's im2col + GEMM, one sample at a time, where a larger batch gains nothing and the
doubled products of ``"split"`` cost twice; on CUDA one call per layer is what counts). No timing
is involved, so a given model, input size, chunk size, dtype and device always take the same
modes and give the same bits. The modes differ from each other, and from a per-point loop, by
float rounding only: the order of the products' sums (the kernels differ) and the rounding of
``W + t·D`` versus ``L(h; W) + t·L(h; D)``; float64: ≤ 1e-12 relative to the layer's largest
output, float32: ≤ 1e-5 per layer (errors then propagate through the depth like any float32
rounding; ``benchmarks/`` records the end-to-end differences).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MODES",
    "choose_mode",
    "layer_flops",
    "output_shape",
    "per_point",
    "perturbed_forward",
    "points_per_chunk",
    "shape_pass",
]

MODES = ("split", "grouped", "loop")
"""The evaluations of a perturbed layer at per-point inputs (module docstring)."""
FORCE_MODE: str | None = None
"""Benchmarks and tests: evaluate every perturbed layer this way instead of :func:`choose_mode`."""

_PRODUCTS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
             nn.ConvTranspose2d, nn.ConvTranspose3d)  # fmt: skip
_CONV = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}
_CONV_T = {
    nn.ConvTranspose1d: (1, F.conv_transpose1d),
    nn.ConvTranspose2d: (2, F.conv_transpose2d),
    nn.ConvTranspose3d: (3, F.conv_transpose3d),
}

# ---- the cost model ---------------------------------------------------------------------------
# Thresholds from the per-layer timings of benchmarks/bench_weight_paths.py --layers (one intra-op
# thread, the 2-core AVX-512 Xeon VM of benchmarks/README.md, torch 2.13; 13 layer shapes of the
# project's models × B ∈ {1, 2, 4, 8, 16} × P ∈ {16, 32, 64}, float32 and float64; summarised
# under "Calibration" in the bench_weight_paths.py section there).
TINY_FLOPS = 5e5
"""float32: a layer doing fewer product FLOPs than this per point is call-bound: ``"split"``."""
THIN_CHANNELS = 8
"""Fewer input channels per group than this: grouped kernels lose their vector width."""
CHUNK_BYTES = 4 * 2**20
"""CPU: a chunk holds at most this many bytes of the model's largest activation (``P × B ×``
its size per input), so that the chunk's elementwise passes (BatchNorm, activations, ``t·y1``)
stay in cache: on the 2-core VM a ReLU over a 33 MB float64 activation ran ~6× slower per
element than over the 0.5 MB of one point, and whole paths ran 0.7–0.8× the per-point loop's
speed with chunks of 0.5 MB or 64 MB against 1.0–1.8× with 2–8 MB (unseen_cnn3, cifar_cnn,
toy_cnn50, resnet20 of ``benchmarks/bench_weight_paths.py``, float32 and float64)."""
BLOCK_BYTES = 8 * 2**20
"""``"grouped"`` runs its points in blocks whose input + output stay below this many bytes (a
grouped convolution over more than the cache slows down 1.5–2× per FLOP)."""


def _kernel_size(module: nn.Module) -> int:
    size = 1
    for s in module.weight.shape[2:]:
        size *= s
    return size


def _in_per_group(module: nn.Module) -> int:
    if type(module) in _CONV_T:  # weight [c_in, c_out / groups, ...]
        return module.weight.shape[0] // module.groups
    return module.weight.shape[1]


@torch.no_grad()
def shape_pass(model: nn.Module, x: torch.Tensor) -> tuple[float, int, int]:
    """One forward pass of ``x`` at the model's weights (eval mode, modes restored): the
    product FLOPs of the linear and convolution layers, the number of module calls, and the
    bytes of the largest module output."""
    flops, calls, largest = 0.0, 0, x.numel() * x.element_size()

    def hook(module, args, output):
        nonlocal flops, calls, largest
        calls += 1
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel() * output.element_size())
            if isinstance(module, _PRODUCTS) and args and isinstance(args[0], torch.Tensor):
                h = tuple(args[0].shape)
                flops += h[0] * layer_flops(module, h, tuple(output.shape))

    modes = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(hook) for m, _ in modes if not list(m.children())]
    try:
        model.eval()
        model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes:
            m.training = training
    return flops, calls, largest


def points_per_chunk(chunk_size: int, point_bytes: int, device: torch.device) -> int:
    """Path points per chunk: ``chunk_size``, capped on the CPU so that ``points × point_bytes``
    (the largest activation of one point, all ``B`` inputs) stays within :data:`CHUNK_BYTES`
    (at least one point). Deterministic in its arguments."""
    if device.type != "cpu":
        return chunk_size
    return max(1, min(chunk_size, CHUNK_BYTES // max(point_bytes, 1)))


def output_shape(module: nn.Module, h_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of a linear / (transposed) convolution layer for input ``h_shape``
    (a shape-only call on the ``meta`` device: no arithmetic)."""
    if isinstance(module, nn.Linear):
        return (*h_shape[:-1], module.out_features)
    h = torch.empty((1, *h_shape[1:]), device="meta")
    w = torch.empty(module.weight.shape, device="meta")
    call = _transposed_call(module) if type(module) in _CONV_T else _conv_call(module)
    return (h_shape[0], *call(h, w, None, module.groups).shape[1:])


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape[1:]:
        n *= s
    return n


def layer_flops(module: nn.Module, h_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> float:
    """Product FLOPs (2 per multiply-add) of ``module`` for **one** sample of input ``h_shape[1:]``.

    Args:
        module: a ``Linear``, ``Conv*`` or ``ConvTranspose*`` layer.
        h_shape: its input shape ``[n, ...]``.
        out_shape: its output shape ``[n, ...]``.
    """
    if isinstance(module, nn.Linear):
        return 2.0 * _elements(h_shape) * module.out_features
    per_output = 1
    for s in module.weight.shape[1:]:
        per_output *= s  # (c_in / groups) · kernel; transposed: (c_out / groups) · kernel
    if type(module) in _CONV_T:  # every input element meets (c_out / groups) · kernel weights
        return 2.0 * _elements(h_shape) * per_output
    return 2.0 * _elements(out_shape) * per_output


def choose_mode(
    module: nn.Module, h_shape: tuple[int, ...], points: int, batch: int, dtype: torch.dtype,
    device: torch.device,
) -> str:  # fmt: skip
    """The mode of a perturbed layer for a chunk, a deterministic function of its arguments.

    * CUDA (any dtype): ``"split"``, one call per layer and chunk (on an H200 it beat the
      grouped convolutions of ``vmap`` 2–3×, ``benchmarks/README.md``).
    * ``nn.Linear``: ``"split"``. Per-point weights cost ``P × in × out`` writes, more than the
      products themselves at the small ``B`` of a path (measured 3–40× slower).
    * Convolutions in float64 (im2col + GEMM per sample: batching gains nothing, two products
      cost twice): ``"loop"``; with one input per point (``B = 1``) and at least
      :data:`THIN_CHANNELS` input channels per group, ``"grouped"`` (one call instead of ``P``,
      ~10 % faster).
    * Convolutions in float32 / bfloat16 (oneDNN): fewer than :data:`THIN_CHANNELS` input
      channels per group, ``"grouped"`` while the chunk's input + output fit in half a block
      (:data:`BLOCK_BYTES`), else ``"loop"``; a kernel wider than 1 doing fewer than
      :data:`TINY_FLOPS` product FLOPs per point, ``"split"`` (call-bound); otherwise
      ``"grouped"`` (1.2–3× the loop's speed up to ``B ≈ 8``, as fast beyond).

    Args:
        module: the layer.
        h_shape: its input shape ``[P·B, ...]`` for the chunk.
        points, batch: ``P`` and ``B``.
        dtype, device: of the evaluation.
    """
    if FORCE_MODE is not None:
        return FORCE_MODE
    if device.type != "cpu" or isinstance(module, nn.Linear):
        return "split"
    thin = _in_per_group(module) < THIN_CHANNELS
    if dtype == torch.float64:
        return "grouped" if batch == 1 and not thin and _kernel_size(module) > 1 else "loop"
    out_shape = output_shape(module, h_shape)
    if thin:
        size = dtype.itemsize * points * batch * (_elements(h_shape) + _elements(out_shape))
        return "grouped" if size <= BLOCK_BYTES // 2 else "loop"
    work = batch * layer_flops(module, h_shape, out_shape)
    if work < TINY_FLOPS and _kernel_size(module) > 1:
        return "split"
    return "grouped"


# ---- the evaluations ----------------------------------------------------------------------------


def per_point(
    base: torch.Tensor | None, delta: torch.Tensor | None, t: torch.Tensor, like: torch.Tensor
) -> torch.Tensor | None:
    """``[P, *shape]`` the weights ``base + t_p·delta`` of every point (None when both are)."""
    if base is None and delta is None:
        return None
    if delta is None:
        return base.unsqueeze(0).expand(t.numel(), *base.shape)
    column = t.to(delta.dtype).view(-1, *([1] * delta.dim()))
    start = torch.zeros_like(delta) if base is None else base
    return torch.addcmul(start.unsqueeze(0), column, delta.unsqueeze(0))


def _transposed_call(module: nn.Module) -> Callable:
    nd, fn = _CONV_T[type(module)]

    def call(h, weight, bias, groups, output_size=None):
        pad = module._output_padding(h, output_size, module.stride, module.padding,
                                     module.kernel_size, nd, module.dilation)  # fmt: skip
        return fn(h, weight, bias, module.stride, module.padding, pad, groups, module.dilation)

    return call


def _conv_call(module: nn.Module) -> Callable:
    fn = _CONV[type(module)]

    def call(h, weight, bias, groups):
        if module.padding_mode != "zeros":
            h = F.pad(h, module._reversed_padding_repeated_twice, mode=module.padding_mode)
            return fn(h, weight, bias, module.stride, 0, module.dilation, groups)
        return fn(h, weight, bias, module.stride, module.padding, module.dilation, groups)

    return call


def perturbed_forward(
    module: nn.Module, mode: str, h: torch.Tensor, t: torch.Tensor, batch: int,
    w: torch.Tensor, d_w: torch.Tensor | None, b: torch.Tensor | None, d_b: torch.Tensor | None,
    *args,
) -> torch.Tensor:  # fmt: skip
    """``[P·B, ...]`` output of a perturbed linear / (transposed) convolution layer with per-point
    weights ``W + t_p·D`` (modes ``"grouped"`` and ``"loop"``; ``"split"`` lives in
    :mod:`.linear_paths`).

    Args:
        module: the layer (its hyper-parameters: stride, padding, groups, ...).
        mode: ``"grouped"`` or ``"loop"``.
        h: ``[P·B, ...]`` its input, point-major.
        t: ``[P]`` the chunk's path coordinates.
        batch: B.
        w, d_w, b, d_b: weight, its direction (or None), bias (or None), its direction.
        args: extra forward arguments (``output_size`` of a transposed convolution).
    """
    P = t.numel()
    wp = per_point(w, d_w, t, h)
    bp = per_point(b, d_b, t, h)
    if isinstance(module, nn.Linear):
        if mode == "loop":
            return torch.cat([
                F.linear(h[p * batch : (p + 1) * batch], wp[p], None if bp is None else bp[p])
                for p in range(P)
            ])  # fmt: skip
        rows = h.reshape(P, -1, h.shape[-1])
        y = torch.bmm(rows, wp.transpose(1, 2))
        if bp is not None:
            y = y + bp.unsqueeze(1)
        return y.reshape(*h.shape[:-1], wp.shape[1])
    transposed = type(module) in _CONV_T
    call = _transposed_call(module) if transposed else _conv_call(module)
    if mode == "loop":
        return torch.cat([
            call(h[p * batch : (p + 1) * batch], wp[p], None if bp is None else bp[p],
                 module.groups, *args)
            for p in range(P)
        ])  # fmt: skip
    per_point_bytes = h.element_size() * batch * (
        _elements(tuple(h.shape)) + _elements(output_shape(module, tuple(h.shape)))
    )
    block = max(1, BLOCK_BYTES // max(per_point_bytes, 1))
    if block >= P:
        return _grouped(call, module, h, wp, bp, batch, *args)
    return torch.cat([
        _grouped(call, module, h[a * batch : (a + block) * batch], wp[a : a + block],
                 None if bp is None else bp[a : a + block], batch, *args)
        for a in range(0, P, block)
    ])  # fmt: skip


def _grouped(call, module, h, wp, bp, batch, *args) -> torch.Tensor:
    """One grouped call for the points of ``wp`` (``[p, *weight shape]``): ``[p·B, ...]``."""
    P = wp.shape[0]
    channels, spatial = h.shape[1], h.shape[2:]
    x = h.reshape(P, batch, channels, *spatial).transpose(0, 1).reshape(batch, P * channels,
                                                                       *spatial)  # fmt: skip
    weight = wp.reshape(P * wp.shape[1], *wp.shape[2:])
    bias = None if bp is None else bp.reshape(-1)
    y = call(x, weight, bias, P * module.groups, *args)
    c_out = y.shape[1] // P
    out = y.reshape(batch, P, c_out, *y.shape[2:]).transpose(0, 1)
    return out.reshape(P * batch, c_out, *y.shape[2:])
