"""The layers of the resolution-independent CNNs (paper D) and their scale state.

:class:`ScaleAware` and :func:`set_scale` / :func:`at_scale` (the scale as module state),
:class:`ContinuousConv2d` (a continuous piecewise-bilinear kernel sampled at scale s),
:class:`ResolutionAvgPool` / :class:`ResolutionMaxPool`, :class:`ResolutionUpsample`, the
activations the networks accept and the resolution-independent weight decay
:func:`l2_penalty`. See :mod:`smoothscope.models.resolution` for the geometry, the fixed-pixel
control and the networks built from these layers (:mod:`smoothscope.models.resolution_nets`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive

__all__ = [
    "ACTIVATIONS",
    "ContinuousConv2d",
    "ResolutionAvgPool",
    "ResolutionMaxPool",
    "ResolutionUpsample",
    "ScaleAware",
    "at_scale",
    "l2_penalty",
    "set_scale",
]


class LeakyReLU02(nn.LeakyReLU):
    """LeakyReLU with slope 0.2, the activation of the deep image prior (Ulyanov et al., 2018)."""

    def __init__(self) -> None:
        super().__init__(0.2)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "lrelu": LeakyReLU02,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
}
"""Activations accepted by the resolution networks."""

_POOLINGS = ("max", "avg")
_UPSAMPLINGS = ("nearest", "bilinear")
_NORMS = (None, "batch")


def _check_scale(s: object) -> int:
    ok = isinstance(s, int) and not isinstance(s, bool) and s > 0
    if not ok:
        raise SmoothscopeError(f"scale: expected a positive integer, got {s!r}")
    return int(s)  # type: ignore[arg-type]


def _check_image(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise SmoothscopeError(f"{name}: expected a tensor [B, C, H, W], got {shape}")


class ScaleAware(nn.Module):
    """Base class of the modules that read the discretization scale ``self.scale`` (int ≥ 1).

    ``self.pixel_kernels`` (False by default) switches a module to the *fixed-pixel* control:
    it then runs its s = 1 operation (3 × 3 pixel kernel, 2 × 2 pixel pooling) on the image of
    scale s, i.e. the ordinary CNN with the same weights, which is NOT resolution independent
    (its kernels shrink in physical units as s grows). ``grid_scale`` is the scale the
    module's operation uses: ``scale``, or 1 with fixed pixel kernels.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = 1
        self.pixel_kernels = False

    @property
    def grid_scale(self) -> int:
        return 1 if self.pixel_kernels else _check_scale(self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}" + (", pixel_kernels=True" if self.pixel_kernels else "")


def set_scale(model: nn.Module, s: int, *, pixel_kernels: bool = False) -> nn.Module:
    """Set the discretization scale ``s`` on every :class:`ScaleAware` submodule of ``model``.

    Args:
        model: any module (submodules that are not scale-aware are left alone).
        s: positive integer; images then have ``s·n0`` pixels per side.
        pixel_kernels: run the fixed-pixel control instead (see :class:`ScaleAware`): the same
            weights as an ordinary CNN on the ``s·n0`` image. Identical to the continuous
            network at s = 1.

    Returns:
        ``model`` (for chaining).
    """
    s = _check_scale(s)
    if not isinstance(pixel_kernels, bool):
        raise SmoothscopeError(f"pixel_kernels: expected a bool, got {pixel_kernels!r}")
    for m in model.modules():
        if isinstance(m, ScaleAware):
            m.scale = s
            m.pixel_kernels = pixel_kernels
    return model


@contextmanager
def at_scale(model: nn.Module, s: int, *, pixel_kernels: bool = False) -> Iterator[nn.Module]:
    """Context manager: :func:`set_scale` for the block, then restore every previous state."""
    s = _check_scale(s)
    saved = [(m, m.scale, m.pixel_kernels) for m in model.modules() if isinstance(m, ScaleAware)]
    set_scale(model, s, pixel_kernels=pixel_kernels)
    try:
        yield model
    finally:
        for m, old, pix in saved:
            m.scale, m.pixel_kernels = old, pix


def _tent_matrix(k: int, s: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``P[m, j] = max(0, 1 − |m/s − (j − r)|)`` for offsets ``m = −((r+1)s−1) .. (r+1)s−1``."""
    r = (k - 1) // 2
    half = (r + 1) * s - 1
    m = torch.arange(-half, half + 1, dtype=dtype, device=device) / s
    nodes = torch.arange(-r, r + 1, dtype=dtype, device=device)
    return (1.0 - (m[:, None] - nodes[None, :]).abs()).clamp_min(0.0)


def _tent_mass(k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """1-D mass matrix ``∫ λ(t − i) λ(t − j) dt`` of the tent basis: 2/3 on, 1/6 off diagonal."""
    eye = torch.eye(k, dtype=dtype, device=device)
    off = torch.diag(torch.ones(k - 1, dtype=dtype, device=device), 1)
    return eye * (2.0 / 3.0) + (off + off.T) / 6.0


class ContinuousConv2d(ScaleAware):
    """Convolution with a continuous piecewise-bilinear kernel, discretized at ``self.scale``.

    Computes ``v(x) = ∫ w(y) u(x − y) dy + b`` by the trapezoidal rule at scale s: the kernel
    ``w`` (see the module docstring) is sampled on the pixel offsets ``m/s`` into a
    ``(k+1)s − 1`` square discrete kernel (:meth:`discrete_kernel`) and the convolution is
    multiplied by ``1/s²``. Zero "same" padding. At s = 1 this is exactly
    ``F.conv2d(x, weight, bias, padding=k // 2)``. For ``k = 1`` the kernel is ``W·δ`` and the
    layer is the pointwise linear map ``W u(x) + b`` at every scale.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel_size: odd number k of base nodes per side (physical node extent k base cells).
        bias: add a learnable bias (not scaled: it is a pointwise term).

    Attributes:
        weight: node values ``[out_ch, in_ch, k, k]`` (initialised like ``nn.Conv2d``).
        bias: ``[out_ch]`` or None.

    Shapes:
        input ``[B, in_ch, H, W]`` with ``H, W ≥ k·s`` (the image must cover at least the
        node extent); output ``[B, out_ch, H, W]``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, *, bias: bool = True) -> None:
        super().__init__()
        self.in_ch = positive(in_ch, "in_ch", integer=True)
        self.out_ch = positive(out_ch, "out_ch", integer=True)
        k = kernel_size
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0 or k % 2 == 0:
            raise SmoothscopeError(f"kernel_size: expected an odd positive integer, got {k!r}")
        self.kernel_size = k
        ref = nn.Conv2d(self.in_ch, self.out_ch, k, bias=bias)  # PyTorch's default init
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None

    def extra_repr(self) -> str:
        return (
            f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, "
            f"bias={self.bias is not None}, scale={self.scale}"
        )

    def discrete_kernel(self, s: int | None = None) -> torch.Tensor:
        """Samples ``w(m/s)`` of the continuous kernel (no quadrature factor).

        Args:
            s: scale (``self.scale`` when None).

        Returns:
            ``[out_ch, in_ch, K, K]`` with ``K = (k+1)s − 1`` (``K = 1`` for ``k = 1``: the
            pointwise matrix W).
        """
        s = self.scale if s is None else _check_scale(s)
        if self.kernel_size == 1:
            return self.weight
        p = _tent_matrix(self.kernel_size, s, self.weight.dtype, self.weight.device)
        return torch.einsum("ma,oiab,nb->oimn", p, self.weight, p)

    def l2_norm_sq(self) -> torch.Tensor:
        """Exact ``Σ_{o,i} ∫ w_{oi}(y)² dy`` (``Σ W²`` for ``k = 1``); independent of the scale."""
        if self.kernel_size == 1:
            return (self.weight**2).sum()
        mass = _tent_mass(self.kernel_size, self.weight.dtype, self.weight.device)
        return torch.einsum("oiab,ac,bd,oicd->", self.weight, mass, mass, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, "input")
        if x.shape[1] != self.in_ch:
            raise SmoothscopeError(
                f"input: expected {self.in_ch} channels, got shape {tuple(x.shape)}"
            )
        s = self.grid_scale
        if self.kernel_size == 1:
            return F.conv2d(x, self.weight, self.bias)
        side = self.kernel_size * s
        if min(x.shape[-2:]) < side:
            raise SmoothscopeError(
                f"input: kernel of {self.kernel_size} base cells ({side} pixels at scale {s}) is "
                f"larger than the image {tuple(x.shape[-2:])}"
            )
        if s == 1:
            return F.conv2d(x, self.weight, self.bias, padding=self.kernel_size // 2)
        return _factored_conv(x, self.weight, s, self.bias)


def _factored_conv(
    x: torch.Tensor, weight: torch.Tensor, s: int, bias: torch.Tensor | None
) -> torch.Tensor:
    """``conv2d(x, discrete_kernel(s), padding=same) / s²`` in O(C_in·s + C_out·C_in·k²) per pixel.

    The discrete kernel is ``Σ_ab W_ab T(m − a·s) T(n − b·s)`` with the 1-D tent
    ``T(m) = 1 − |m|/s`` (|m| < s), i.e. the node values W dilated by s, convolved with T ⊗ T.
    So the convolution is a depthwise separable tent filter followed by W with dilation s
    (instead of a dense ``((k+1)s − 1)²`` kernel). The input is zero-padded by the full
    kernel half-width first, so that the result equals the "same"-padded dense convolution
    exactly (up to float rounding), borders included.
    """
    c_in, k = x.shape[1], weight.shape[-1]
    half = (k + 1) // 2 * s - 1
    m = torch.arange(1 - s, s, dtype=x.dtype, device=x.device)
    tent = 1.0 - m.abs() / s
    y = F.pad(x, (half, half, half, half))
    y = F.conv2d(y, tent.view(1, 1, 1, -1).expand(c_in, 1, 1, -1), groups=c_in)
    y = F.conv2d(y, tent.view(1, 1, -1, 1).expand(c_in, 1, -1, 1), groups=c_in)
    out = F.conv2d(y, weight, dilation=s) / (s * s)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class _ResolutionPool(ScaleAware):
    def _geometry(self, x: torch.Tensor) -> int:
        _check_image(x, "input")
        s = self.grid_scale
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise SmoothscopeError(
                f"input: expected an even number of pixels per side, got {tuple(x.shape)}"
            )
        if min(x.shape[-2:]) < 2 * s:
            raise SmoothscopeError(
                f"input: pooling window of 2 base cells ({2 * s} pixels at scale {s}) is "
                f"larger than the image {tuple(x.shape[-2:])}"
            )
        return s


class ResolutionAvgPool(_ResolutionPool):
    """Mean over the box of side 2 base cells centred at each output pixel (``2s × 2s`` pixels).

    Stride 2, padding ``s − 1`` not counted (border boxes average over their part inside the
    image). At s = 1 this is ``nn.AvgPool2d(2, 2)``.

    Shapes:
        input ``[B, C, H, W]`` (H, W even, ≥ 2s); output ``[B, C, H/2, W/2]``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self._geometry(x)
        return F.avg_pool2d(x, 2 * s, stride=2, padding=s - 1, count_include_pad=False)


class ResolutionMaxPool(_ResolutionPool):
    """Max over the box of side 2 base cells centred at each output pixel (``2s × 2s`` pixels).

    Stride 2, padding ``s − 1`` ignored by the max. At s = 1 this is ``nn.MaxPool2d(2, 2)``.

    Shapes:
        input ``[B, C, H, W]`` (H, W even, ≥ 2s); output ``[B, C, H/2, W/2]``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self._geometry(x)
        return F.max_pool2d(x, 2 * s, stride=2, padding=s - 1)


class ResolutionUpsample(ScaleAware):
    """Double the pixels per side at every scale (back to the finer level's grid).

    Args:
        mode: ``"nearest"`` or ``"bilinear"`` (``align_corners=False``: pixel-centre geometry,
            the same at every scale).

    Shapes:
        input ``[B, C, H, W]``; output ``[B, C, 2H, 2W]``.
    """

    def __init__(self, mode: str = "nearest") -> None:
        super().__init__()
        if mode not in _UPSAMPLINGS:
            raise SmoothscopeError(
                f"upsampling: expected one of {list(_UPSAMPLINGS)}, got {mode!r}"
            )
        self.mode = mode

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, scale={self.scale}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, "input")
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Resolution-independent weight decay: ``Σ ∫ w² dy`` over continuous kernels + ``Σ θ²`` else.

    For every :class:`ContinuousConv2d` with k > 1 the exact L² norm² of its piecewise-bilinear
    kernel, ``Σ_{o,i} Wᵀ(M⊗M)W`` with the tent mass matrix M (2/3 on, 1/6 off the diagonal);
    for k = 1 (a δ kernel, whose L² norm is infinite) the squared Frobenius norm of its matrix.
    Every other parameter (biases, BatchNorm affine parameters, ordinary layers) adds its sum of
    squares. Nothing depends on the scale.

    Args:
        model: any module.

    Returns:
        A scalar tensor (differentiable).
    """
    total: torch.Tensor | None = None
    kernels = set()
    for m in model.modules():
        if isinstance(m, ContinuousConv2d):
            kernels.add(id(m.weight))
            term = m.l2_norm_sq()
            total = term if total is None else total + term
    for p in model.parameters():
        if id(p) in kernels:
            continue
        term = (p**2).sum()
        total = term if total is None else total + term
    return torch.zeros(()) if total is None else total
