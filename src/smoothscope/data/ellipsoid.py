"""A Lambertian half ellipsoid under a moving point light (paper A, §IV-A).

The surface is ``x²/a² + y²/b² + z²/c² = 1, z > 0`` with ``a = 2.5, b = 4, c = 1``, seen from
above (orthographic projection on the xy-plane). A point light at ``(lx, ly, h)`` (paper:
``h = 20``) lights it; the perceived intensity of a surface point ``p`` with outward unit normal
``n`` is the fully diffuse ``max(vᵀn, 0)``, ``v`` the unit vector from ``p`` to the light.
The background is 0.

Image geometry (not given by the paper, chosen here): the image is ``size × size`` pixels
(default 28, the size of the MNIST digits that paper A's appendix says share the ellipsoid's
image size) covering the square ``[-5, 5]²`` of the xy-plane, so the ellipsoid (extent 5 × 8)
fills most of the frame with a margin of background. Pixels are point-sampled at their centres;
rows run along +y and columns along +x, so the light path ``(-9, -9) → (9, 9)`` moves from the
top-left (north-west) to the bottom-right (south-east) as in paper A's Fig. 4.

Inputs are smooth in the light position except where ``max(·, 0)`` clips: the shadow
terminator on the rim of the ellipsoid is itself a kink in time, which the experiments measure
and report instead of hiding.
"""

from __future__ import annotations

import torch

from .._errors import SmoothscopeError
from .._validate import as_tensor, positive

__all__ = [
    "AXES",
    "FIELD_OF_VIEW",
    "LIGHT_HEIGHT",
    "LIGHT_RANGE",
    "light_path",
    "random_light_paths",
    "random_lights",
    "render_ellipsoid",
]

AXES = (2.5, 4.0, 1.0)
"""Semi-axes (a, b, c) of paper A, §IV-A."""
LIGHT_HEIGHT = 20.0
"""Height of the point light (paper A: lights at (x, y, 20))."""
LIGHT_RANGE = 10.0
"""Light positions are drawn from U(-10, 10)² (paper A, §IV-A)."""
FIELD_OF_VIEW = 5.0
"""The image covers [-FIELD_OF_VIEW, FIELD_OF_VIEW]² of the xy-plane."""


def _surface(size: int, axes: tuple[float, float, float], fov: float):
    """Surface points and unit normals at the pixel centres inside the ellipse."""
    a, b, c = axes
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) * (2 * fov / size) - fov
    y, x = torch.meshgrid(coords, coords, indexing="ij")  # rows along +y, columns along +x
    inside = (x / a) ** 2 + (y / b) ** 2 < 1.0
    z = c * torch.sqrt(torch.clamp(1.0 - (x / a) ** 2 - (y / b) ** 2, min=0.0))
    points = torch.stack([x, y, z], dim=-1)
    normal = torch.stack([x / a**2, y / b**2, z / c**2], dim=-1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return points, normal, inside


def render_ellipsoid(
    lights: torch.Tensor,
    *,
    size: int = 28,
    axes: tuple[float, float, float] = AXES,
    field_of_view: float = FIELD_OF_VIEW,
) -> torch.Tensor:
    """Render the Lambertian half ellipsoid for a batch of point-light positions.

    Args:
        lights: light positions, shape ``[N, 3]`` (x, y, z), or ``[N, 2]`` for lights at the
            paper's height 20.
        size: image side in pixels.
        axes: semi-axes (a, b, c).
        field_of_view: half-width of the imaged square of the xy-plane.

    Returns:
        float64 frames of shape ``[N, 1, size, size]`` with values in [0, 1].
    """
    lights = as_tensor(lights, "lights").to(torch.float64)
    if lights.dim() != 2 or lights.shape[1] not in (2, 3):
        raise SmoothscopeError(
            f"lights: expected shape [N, 2] or [N, 3], got {tuple(lights.shape)}"
        )
    size = positive(size, "size", integer=True)
    for name, value in zip("abc", axes, strict=True):
        positive(value, f"axes.{name}")
    positive(field_of_view, "field_of_view")
    if lights.shape[1] == 2:
        height = torch.full((lights.shape[0], 1), LIGHT_HEIGHT, dtype=torch.float64)
        lights = torch.cat([lights, height], dim=1)
    if bool((lights[:, 2] <= axes[2]).any()):
        raise SmoothscopeError(
            f"lights: expected every light above the ellipsoid (z > {axes[2]}), "
            f"got min z = {float(lights[:, 2].min())}"
        )
    points, normal, inside = _surface(size, tuple(float(v) for v in axes), float(field_of_view))
    to_light = lights[:, None, None, :] - points[None]  # [N, H, W, 3]
    to_light = to_light / to_light.norm(dim=-1, keepdim=True)
    shade = torch.clamp((to_light * normal[None]).sum(dim=-1), min=0.0)
    return (shade * inside[None]).unsqueeze(1)


def random_lights(n: int, *, generator: torch.Generator) -> torch.Tensor:
    """``n`` light positions ``(x, y)`` iid U(-10, 10)² (paper A, §IV-A); ``[n, 2]``."""
    n = positive(n, "n", integer=True)
    return (torch.rand(n, 2, generator=generator, dtype=torch.float64) * 2 - 1) * LIGHT_RANGE


def light_path(start: torch.Tensor, end: torch.Tensor, frames: int = 100) -> torch.Tensor:
    """Light positions moving at constant speed on the segment ``start → end``.

    Args:
        start: ``[2]`` or ``[B, 2]`` start positions (x, y).
        end: same shape as ``start``.
        frames: T ≥ 3 frames, the first at ``start`` and the last at ``end``.

    Returns:
        ``[T, 2]`` (or ``[B, T, 2]``) float64 positions.
    """
    start = as_tensor(start, "start").to(torch.float64)
    end = as_tensor(end, "end").to(torch.float64)
    frames = positive(frames, "frames", integer=True)
    if frames < 3:
        raise SmoothscopeError(f"frames: expected at least 3 frames, got {frames}")
    if start.shape != end.shape or start.shape[-1:] != (2,) or start.dim() > 2:
        raise SmoothscopeError(
            f"start, end: expected equal shapes [2] or [B, 2], got {tuple(start.shape)} "
            f"and {tuple(end.shape)}"
        )
    s = torch.linspace(0.0, 1.0, frames, dtype=torch.float64)[:, None]
    return start.unsqueeze(-2) + s * (end - start).unsqueeze(-2)


def random_light_paths(n: int, frames: int = 100, *, generator: torch.Generator) -> torch.Tensor:
    """``n`` straight constant-speed paths between two points iid U(-10, 10)²; ``[n, T, 2]``."""
    ends = random_lights(2 * positive(n, "n", integer=True), generator=generator)
    return light_path(ends[0::2], ends[1::2], frames)
