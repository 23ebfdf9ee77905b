"""Smooth input trajectories built from a user's images, generated band-limited (lens A).

Paper A measures nonsmoothness along *smooth* input videos; a network's kinks (ReLU, max
pooling) then show as peaks of the second difference along time. Interpolating resamplers
(bilinear, nearest) are themselves piecewise polynomial in the motion parameter and would put
kinks into the input video. These trajectories are analytic in their parameter instead:

* :func:`fourier_shift` moves an image by a sub-pixel offset with the Fourier shift theorem,
  ``x̂(k) e^{-2πi k·d/n}``: each pixel is an entire function of the offset ``d``.
* :func:`fourier_rotate` rotates by three Fourier shears (Unser, Thévenaz, Yaroslavsky 1995):
  ``R(θ) = S_x(−tan θ/2) S_y(sin θ) S_x(−tan θ/2)``, each shear a row-wise Fourier shift, so
  the video is analytic in the angle.
* :func:`noise_ramp` adds ``t·σ·n`` to an image: exactly linear in ``t`` (second difference 0).

The images are treated as periodic (the Fourier convention); content that moves across a
border wraps around. On an even side the Nyquist term of a real image cannot move by a fraction
of a pixel and stay real; its real part is kept (it scales by ``cos(π d)``, still analytic in
``d``), so shifts compose exactly on odd sides only.
"""

from __future__ import annotations

import math

import torch

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, check_rank

__all__ = [
    "TRAJECTORIES",
    "fourier_rotate",
    "fourier_shift",
    "noise_ramp",
    "smooth_trajectories",
]

TRAJECTORIES = ("translate", "rotate", "ramp")
"""The trajectory kinds of lens A."""


def _phase(n: int, shift: torch.Tensor) -> torch.Tensor:
    """``exp(-2πi k shift / n)`` for the FFT frequencies ``k`` of an axis of length ``n``;
    ``shift`` has any shape, the frequency axis is appended."""
    k = torch.fft.fftfreq(n, dtype=torch.float64) * n
    return torch.exp(-2j * math.pi * shift[..., None] * k / n)


def fourier_shift(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Images ``[..., H, W]`` shifted by ``(dy, dx)`` pixels (broadcast over the leading axes).

    Args:
        images: float tensor ``[..., H, W]``.
        dy, dx: shifts broadcastable to ``images.shape[:-2]``.

    Returns:
        float64 ``[..., H, W]``, band-limited and analytic in the shift.
    """
    x = images.to(torch.float64)
    h, w = x.shape[-2:]
    dy = torch.as_tensor(dy, dtype=torch.float64)
    dx = torch.as_tensor(dx, dtype=torch.float64)
    spectrum = torch.fft.fft2(x)
    spectrum = spectrum * _phase(h, dy)[..., :, None] * _phase(w, dx)[..., None, :]
    return torch.fft.ifft2(spectrum).real


def _shear(x: torch.Tensor, amount: torch.Tensor, axis: str) -> torch.Tensor:
    """Shear ``[..., H, W]``: along x, row ``y`` moves by ``amount·(y − c)``; along y, column
    ``x`` moves by ``amount·(x − c)``. ``amount`` broadcasts over the leading axes."""
    h, w = x.shape[-2:]
    if axis == "x":
        offsets = torch.arange(h, dtype=torch.float64) - (h - 1) / 2.0
        shift = amount[..., None] * offsets  # [..., H]
        phase = _phase(w, shift)  # [..., H, W]
        return torch.fft.ifft(torch.fft.fft(x, dim=-1) * phase, dim=-1).real
    offsets = torch.arange(w, dtype=torch.float64) - (w - 1) / 2.0
    shift = amount[..., None] * offsets  # [..., W]
    phase = _phase(h, shift).transpose(-1, -2)  # [..., H, W]
    return torch.fft.ifft(torch.fft.fft(x, dim=-2) * phase, dim=-2).real


def fourier_rotate(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Images ``[..., H, W]`` rotated by ``angle`` radians about their centre, by three Fourier
    shears (analytic in the angle; ``|angle| < π/2``).

    Returns:
        float64 ``[..., H, W]``.
    """
    angle = torch.as_tensor(angle, dtype=torch.float64)
    if bool((angle.abs() >= math.pi / 2).any()):
        raise SmoothscopeError("angle: expected |angle| < π/2 for the three-shear rotation")
    x = images.to(torch.float64)
    a = -torch.tan(angle / 2.0)
    b = torch.sin(angle)
    return _shear(_shear(_shear(x, a, "x"), b, "y"), a, "x")


def noise_ramp(images: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``x + t·noise`` for every ``t``: ``[N, ...]`` and ``[T]`` give ``[N, T, ...]``."""
    x = images.to(torch.float64)
    shape = (1, -1) + (1,) * (x.dim() - 1)
    return x[:, None] + t.view(shape) * noise.to(torch.float64)[:, None]


def smooth_trajectories(
    images: torch.Tensor,
    *,
    frames: int = 32,
    kinds: tuple[str, ...] = TRAJECTORIES,
    shift: float = 2.0,
    angle_degrees: float = 12.0,
    ramp_scale: float = 0.25,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Smooth videos of each image: ``{kind: [N, T, C, H, W]}`` (float64).

    Args:
        images: ``[N, C, H, W]``.
        frames: T ≥ 5 frames per video (time ``t = 0 … 1``).
        kinds: among :data:`TRAJECTORIES`.
        shift: total translation in pixels, along a direction drawn per image.
        angle_degrees: total rotation, its sign drawn per image.
        ramp_scale: the noise ramp's end amplitude in units of the image's standard deviation.
        generator: seeds the directions, signs and noise.
    """
    x = as_tensor(images, "images")
    check_rank(x, (4,), "images", "[N, C, H, W]")
    check_finite(x, "images")
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 5:
        raise SmoothscopeError(f"frames: expected an integer >= 5, got {frames!r}")
    unknown = [k for k in kinds if k not in TRAJECTORIES]
    if unknown or not kinds:
        raise SmoothscopeError(
            f"kinds: expected some of {', '.join(TRAJECTORIES)}, got {list(kinds)!r}"
        )
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    n = x.shape[0]
    t = torch.linspace(0.0, 1.0, frames, dtype=torch.float64)
    direction = torch.rand(n, generator=generator, dtype=torch.float64) * 2 * math.pi
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(torch.float64)
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    x64 = x.to(torch.float64)
    out: dict[str, torch.Tensor] = {}
    for kind in kinds:
        if kind == "translate":
            dy = shift * t[None, :] * torch.sin(direction)[:, None]  # [N, T]
            dx = shift * t[None, :] * torch.cos(direction)[:, None]
            out[kind] = fourier_shift(x64[:, None], dy[..., None], dx[..., None])
        elif kind == "rotate":
            angle = math.radians(angle_degrees) * t[None, :] * sign[:, None]  # [N, T]
            out[kind] = fourier_rotate(x64[:, None], angle[..., None])
        else:
            std = x64.flatten(1).std(dim=1).clamp_min(1e-3).view(-1, 1, 1, 1)
            out[kind] = noise_ramp(x64, t, ramp_scale * std * noise)
    return out
