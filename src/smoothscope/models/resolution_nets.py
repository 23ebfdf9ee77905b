"""The networks of :mod:`smoothscope.models.resolution`: a U-net, a deep image prior and a
generative decoder built from continuous convolutions, one continuous model at every scale
(paper D).

They are built from the layers of :mod:`smoothscope.models.resolution_layers`; see
:mod:`smoothscope.models.resolution` for the geometry, the scale state and the fixed-pixel
control. The networks are re-exported there and registered here as ``"resolution-unet"``,
``"resolution-dip"`` and ``"resolution-generator"``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive
from ._registry import register
from .resolution_layers import (
    _NORMS,
    _POOLINGS,
    _UPSAMPLINGS,
    ACTIVATIONS,
    ContinuousConv2d,
    ResolutionAvgPool,
    ResolutionMaxPool,
    ResolutionUpsample,
    ScaleAware,
    _check_image,
    _check_scale,
)

__all__ = [
    "DeepImagePrior",
    "ResolutionGenerator",
    "ResolutionUNet",
    "resolution_dip",
    "resolution_generator",
    "resolution_unet",
]


def _check_choices(activation: str, pooling: str, upsampling: str, norm: str | None) -> None:
    if activation not in ACTIVATIONS:
        raise SmoothscopeError(
            f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}"
        )
    if pooling not in _POOLINGS:
        raise SmoothscopeError(f"pooling: expected one of {list(_POOLINGS)}, got {pooling!r}")
    if upsampling not in _UPSAMPLINGS:
        raise SmoothscopeError(
            f"upsampling: expected one of {list(_UPSAMPLINGS)}, got {upsampling!r}"
        )
    if norm not in _NORMS:
        raise SmoothscopeError(f"norm: expected None or 'batch', got {norm!r}")


def _block(c_in: int, c_out: int, k: int, activation: str, norm: str | None) -> nn.Sequential:
    """``conv1 → (norm1) → act1 → conv2 → (norm2) → act2`` with continuous convolutions."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (a, b) in enumerate(((c_in, c_out), (c_out, c_out)), start=1):
        layers[f"conv{i}"] = ContinuousConv2d(a, b, k)
        if norm == "batch":
            layers[f"norm{i}"] = nn.BatchNorm2d(b)
        layers[f"act{i}"] = ACTIVATIONS[activation]()
    return nn.Sequential(layers)


def _pool(pooling: str) -> ScaleAware:
    return ResolutionMaxPool() if pooling == "max" else ResolutionAvgPool()


class _ResolutionNet(nn.Module):
    """Shared validation of the two networks."""

    def _setup(self, depth: int, kernel_size: int, n0: int | None) -> None:
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
            raise SmoothscopeError(f"depth: expected a non-negative integer, got {depth!r}")
        self.depth = depth
        self.kernel_size = kernel_size
        self.n0 = None if n0 is None else positive(n0, "n0", integer=True)
        if self.n0 is not None:
            self._check_n0(self.n0)

    def _check_n0(self, n0: int) -> None:
        q = 2**self.depth
        if n0 % q:
            raise SmoothscopeError(
                f"n0: expected a multiple of 2**depth = {q} base cells, got {n0}"
            )
        if n0 // q < self.kernel_size:
            raise SmoothscopeError(
                f"n0: the coarsest level has {n0 // q} base cells, smaller than "
                f"kernel_size={self.kernel_size} (use a larger n0 or a smaller depth)"
            )

    @property
    def scale(self) -> int:
        """The scale of the first scale-aware submodule (set with :func:`set_scale`)."""
        for m in self.modules():
            if isinstance(m, ScaleAware):
                return m.scale
        return 1

    def _check_size(self, x: torch.Tensor, channels: int) -> int:
        _check_image(x, "input")
        s = self.scale
        q = s * 2**self.depth
        n = x.shape[-1]
        if x.shape[1] != channels or x.shape[-2] != n:
            raise SmoothscopeError(
                f"input: expected a square image [B, {channels}, n, n], got {tuple(x.shape)}"
            )
        if self.n0 is not None and n != self.n0 * s:
            raise SmoothscopeError(
                f"input: expected n = n0·s = {self.n0}·{s} = {self.n0 * s} pixels per side, got {n}"
            )
        if n % q:
            raise SmoothscopeError(
                f"input: expected n divisible by s·2**depth = {q} at scale {s}, got {n}"
            )
        self._check_n0(n // s)
        return s


class ResolutionUNet(_ResolutionNet):
    """A U-net of continuous convolutions: one continuous model at every scale (paper D).

    Layout (module names; C_ℓ = ``width``·2^ℓ):

    * ``enc{ℓ}`` for ℓ = 0..depth−1: ``conv1 → act1 → conv2 → act2`` (C_ℓ channels; ``norm1``,
      ``norm2`` after the convs when ``norm="batch"``), its output kept as skip ℓ;
      ``pool{ℓ}``: :class:`ResolutionMaxPool` or :class:`ResolutionAvgPool`;
    * ``bottleneck``: the same block with C_depth channels;
    * ``up{ℓ}`` (:class:`ResolutionUpsample`) and ``dec{ℓ}`` for ℓ = depth−1..0: upsample,
      concatenate skip ℓ (C_{ℓ+1} + C_ℓ channels), block to C_ℓ channels;
    * ``head``: a ``k = 1`` :class:`ContinuousConv2d` (pointwise, no quadrature factor) to
      ``out_ch``; the output is linear.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        width: channels C_0 of the first level.
        depth: number of poolings (levels below the input level).
        activation: one of :data:`ACTIVATIONS`.
        pooling: ``"max"`` or ``"avg"``.
        upsampling: ``"nearest"`` or ``"bilinear"``.
        norm: None or ``"batch"`` (see the module docstring: it cancels the quadrature factor).
        kernel_size: odd node count k of every 3 × 3-like convolution (3).
        n0: when given, the physical side the network is built for; ``forward`` then demands
            ``n = n0·s`` pixels. Otherwise n0 = n/s is read from the input.

    Shapes:
        input ``[B, in_ch, n, n]``, ``n = s·n0``, n0 divisible by 2^depth and
        ``n0/2^depth ≥ kernel_size``; output ``[B, out_ch, n, n]``.
    """

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        width: int = 16,
        depth: int = 2,
        activation: str = "relu",
        pooling: str = "max",
        upsampling: str = "nearest",
        norm: str | None = None,
        *,
        kernel_size: int = 3,
        n0: int | None = None,
    ) -> None:
        super().__init__()
        _check_choices(activation, pooling, upsampling, norm)
        self.in_ch = positive(in_ch, "in_ch", integer=True)
        self.out_ch = positive(out_ch, "out_ch", integer=True)
        self.width = positive(width, "width", integer=True)
        self._setup(depth, kernel_size, n0)
        self.activation, self.pooling, self.upsampling, self.norm = (
            activation,
            pooling,
            upsampling,
            norm,
        )
        chans = [self.width * 2**level for level in range(depth + 1)]
        c = self.in_ch
        for level in range(depth):
            self.add_module(f"enc{level}", _block(c, chans[level], kernel_size, activation, norm))
            self.add_module(f"pool{level}", _pool(pooling))
            c = chans[level]
        self.bottleneck = _block(c, chans[depth], kernel_size, activation, norm)
        for level in reversed(range(depth)):
            self.add_module(f"up{level}", ResolutionUpsample(upsampling))
            self.add_module(
                f"dec{level}",
                _block(
                    chans[level + 1] + chans[level], chans[level], kernel_size, activation, norm
                ),
            )
        self.head = ContinuousConv2d(chans[0], self.out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x, self.in_ch)
        skips = []
        for level in range(self.depth):
            x = self.get_submodule(f"enc{level}")(x)
            skips.append(x)
            x = self.get_submodule(f"pool{level}")(x)
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = self.get_submodule(f"up{level}")(x)
            x = self.get_submodule(f"dec{level}")(torch.cat([x, skips[level]], dim=1))
        return self.head(x)


class DeepImagePrior(_ResolutionNet):
    """Deep image prior (Ulyanov et al., 2018): an encoder–decoder without skips fed a fixed code.

    The code is ONE continuous function at every scale: ``code_ch`` channels of node values
    ``z`` (buffer ``code``, ``[1, code_ch, n0, n0]``, i.i.d. uniform on [0, 0.1) as in DIP,
    drawn from ``code_seed``) sit at the base pixel centres ``(i + ½, j + ½)``; the code
    function is their bilinear interpolant, extended as a constant beyond the outermost centres
    (continuous, piecewise bilinear). At scale s it is sampled at the pixel centres, which is
    exactly ``F.interpolate(z, size=s·n0, mode="bilinear", align_corners=False)``
    (:meth:`code_at_scale`).

    Layout: ``enc{ℓ}`` block + ``pool{ℓ}`` for ℓ = 0..depth−1, ``bottleneck``, then ``up{ℓ}`` +
    ``dec{ℓ}`` block for ℓ = depth−1..0 (no skip connections), ``head`` (pointwise k = 1 conv
    to ``out_ch``). Channels C_ℓ = ``width``·2^ℓ as in :class:`ResolutionUNet`.

    Args:
        out_ch: output channels.
        code_ch: channels of the random code.
        width, depth, activation, pooling, upsampling, norm, kernel_size: as in
            :class:`ResolutionUNet`.
        n0: physical side (base pixels of the code); a multiple of 2^depth.
        code_seed: seed of the code (a local generator: the global RNG is not touched).
        code_interpolation: ``"bilinear"`` (the continuous code above) or ``"nearest"``: the
            piecewise-constant code, constant on each base pixel, which has jumps at the base
            pixel borders at every scale (an input with jumps; the continuous network still
            smooths them, the fixed-pixel control does not).

    Shapes:
        ``forward()`` uses the code at the current scale, ``forward(x)`` takes any code
        ``[B, code_ch, n, n]``; output ``[B, out_ch, n, n]`` with ``n = s·n0`` (B = 1 for the
        fixed code).
    """

    def __init__(
        self,
        out_ch: int = 1,
        code_ch: int = 8,
        width: int = 16,
        depth: int = 2,
        activation: str = "relu",
        pooling: str = "max",
        upsampling: str = "nearest",
        norm: str | None = None,
        *,
        kernel_size: int = 3,
        n0: int = 32,
        code_seed: int = 0,
        code_interpolation: str = "bilinear",
    ) -> None:
        super().__init__()
        _check_choices(activation, pooling, upsampling, norm)
        if code_interpolation not in ("bilinear", "nearest"):
            raise SmoothscopeError(
                f"code_interpolation: expected 'bilinear' or 'nearest', got {code_interpolation!r}"
            )
        self.code_interpolation = code_interpolation
        self.out_ch = positive(out_ch, "out_ch", integer=True)
        self.code_ch = positive(code_ch, "code_ch", integer=True)
        self.width = positive(width, "width", integer=True)
        if n0 is None:
            raise SmoothscopeError("n0: expected a positive integer, got None")
        self._setup(depth, kernel_size, n0)
        self.activation, self.pooling, self.upsampling, self.norm = (
            activation,
            pooling,
            upsampling,
            norm,
        )
        gen = torch.Generator().manual_seed(int(code_seed))
        self.register_buffer("code", 0.1 * torch.rand(1, self.code_ch, n0, n0, generator=gen))
        chans = [self.width * 2**level for level in range(depth + 1)]
        c = self.code_ch
        for level in range(depth):
            self.add_module(f"enc{level}", _block(c, chans[level], kernel_size, activation, norm))
            self.add_module(f"pool{level}", _pool(pooling))
            c = chans[level]
        self.bottleneck = _block(c, chans[depth], kernel_size, activation, norm)
        for level in reversed(range(depth)):
            self.add_module(f"up{level}", ResolutionUpsample(upsampling))
            self.add_module(
                f"dec{level}",
                _block(chans[level + 1], chans[level], kernel_size, activation, norm),
            )
        self.head = ContinuousConv2d(chans[0], self.out_ch, 1)

    def code_at_scale(self, s: int | None = None) -> torch.Tensor:
        """The code sampled at the pixel centres of scale s: ``[1, code_ch, s·n0, s·n0]``."""
        s = self.scale if s is None else _check_scale(s)
        if s == 1:
            return self.code
        n = s * self.n0
        if self.code_interpolation == "nearest":
            return self.code.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)
        return F.interpolate(self.code, size=(n, n), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            x = self.code_at_scale()
        self._check_size(x, self.code_ch)
        for level in range(self.depth):
            x = self.get_submodule(f"enc{level}")(x)
            x = self.get_submodule(f"pool{level}")(x)
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = self.get_submodule(f"up{level}")(x)
            x = self.get_submodule(f"dec{level}")(x)
        return self.head(x)


class ResolutionGenerator(_ResolutionNet):
    """A generative decoder of continuous convolutions: code ``z`` → image (paper D's
    "generative networks"), one continuous model at every scale.

    As in DCGAN-type generators, an MLP (``code_dim → hidden → C_depth·m²``, ``m = n0/2^depth``)
    maps the code to a coarse feature map: node values on the m × m base cells of the coarsest
    level (each cell 2^depth units wide). At scale s that map is sampled on the s·m pixels of
    the level: ``"nearest"`` (constant on each cell, what an ordinary generator's nearest
    upsampling gives: jumps at the cell borders at every s) or ``"bilinear"`` (the continuous
    interpolant through the cell centres, ``align_corners=False``). Then ``bottleneck`` and,
    for ℓ = depth−1..0, ``up{ℓ}`` + ``dec{ℓ}`` blocks (no skips) and the pointwise ``head``,
    as in :class:`DeepImagePrior`. Both modes of :func:`at_scale` sample the same coarse map.

    Args:
        code_dim: length of the code z.
        out_ch, width, depth, activation, upsampling, norm, kernel_size: as in
            :class:`ResolutionUNet` (no pooling: a decoder only).
        hidden: width of the MLP's hidden layer.
        n0: physical side of the generated image (a multiple of 2^depth).
        feature_interpolation: ``"nearest"`` or ``"bilinear"`` (above).

    Shapes:
        input ``[B, code_dim]``; output ``[B, out_ch, s·n0, s·n0]``.
    """

    def __init__(
        self,
        code_dim: int = 3,
        out_ch: int = 1,
        width: int = 8,
        depth: int = 2,
        activation: str = "relu",
        upsampling: str = "nearest",
        norm: str | None = None,
        *,
        hidden: int = 64,
        kernel_size: int = 3,
        n0: int = 32,
        feature_interpolation: str = "nearest",
    ) -> None:
        super().__init__()
        _check_choices(activation, "max", upsampling, norm)
        if feature_interpolation not in ("bilinear", "nearest"):
            raise SmoothscopeError(
                "feature_interpolation: expected 'bilinear' or 'nearest', got "
                f"{feature_interpolation!r}"
            )
        self.feature_interpolation = feature_interpolation
        self.code_dim = positive(code_dim, "code_dim", integer=True)
        self.out_ch = positive(out_ch, "out_ch", integer=True)
        self.width = positive(width, "width", integer=True)
        self.hidden = positive(hidden, "hidden", integer=True)
        if n0 is None:
            raise SmoothscopeError("n0: expected a positive integer, got None")
        self._setup(depth, kernel_size, n0)
        self.activation, self.upsampling, self.norm = activation, upsampling, norm
        chans = [self.width * 2**level for level in range(depth + 1)]
        self.cells = self.n0 // 2**depth
        self.mlp = nn.Sequential(
            nn.Linear(self.code_dim, self.hidden),
            ACTIVATIONS[activation](),
            nn.Linear(self.hidden, chans[depth] * self.cells**2),
        )
        self.bottleneck = _block(chans[depth], chans[depth], kernel_size, activation, norm)
        for level in reversed(range(depth)):
            self.add_module(f"up{level}", ResolutionUpsample(upsampling))
            self.add_module(
                f"dec{level}",
                _block(chans[level + 1], chans[level], kernel_size, activation, norm),
            )
        self.head = ContinuousConv2d(chans[0], self.out_ch, 1)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The coarse feature map sampled at the current scale: ``[B, C_depth, s·m, s·m]``."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.code_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise SmoothscopeError(f"code: expected a tensor [B, {self.code_dim}], got {shape}")
        m, s = self.cells, self.scale
        x = self.mlp(z).view(z.shape[0], -1, m, m)
        if s == 1:
            return x
        if self.feature_interpolation == "nearest":
            return x.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)
        return F.interpolate(x, size=(s * m, s * m), mode="bilinear", align_corners=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.bottleneck(self.features(z))
        for level in reversed(range(self.depth)):
            x = self.get_submodule(f"up{level}")(x)
            x = self.get_submodule(f"dec{level}")(x)
        return self.head(x)


@register("resolution-unet")
def resolution_unet(**kwargs) -> ResolutionUNet:
    """Build a :class:`ResolutionUNet` (keyword arguments as its constructor)."""
    return ResolutionUNet(**kwargs)


@register("resolution-dip")
def resolution_dip(**kwargs) -> DeepImagePrior:
    """Build a :class:`DeepImagePrior` (keyword arguments as its constructor)."""
    return DeepImagePrior(**kwargs)


@register("resolution-generator")
def resolution_generator(**kwargs) -> ResolutionGenerator:
    """Build a :class:`ResolutionGenerator` (keyword arguments as its constructor)."""
    return ResolutionGenerator(**kwargs)
