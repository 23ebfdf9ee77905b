"""Piecewise-constant images with sharp edges, defined in the continuum and rasterized at scale s.

A scene is a function ``f`` on the physical square ``[0, n0]²`` (coordinates ``(y, x)``, y
pointing down the rows, x along the columns). At scale s (a positive integer) it is rasterized
on ``n = s·n0`` pixels per side of size ``h = 1/s``; pixel ``(i, j)`` covers
``[i·h, (i+1)·h] × [j·h, (j+1)·h]`` and has its centre at ``((i+½)h, (j+½)h)``. This is the
geometry of :mod:`smoothscope.models.resolution`, so that images of the same scene at different
scales are discretizations of one function (paper D's resolution-independent setting).

Rasterization (:func:`rasterize`):

* ``mode="centre"``: exact point samples ``f`` at the pixel centres.
* ``mode="area"``: the pixel averages of f, computed by supersampling: ``q = ⌈supersample/s⌉``
  sub-pixel centres per pixel and axis, i.e. a fixed physical sub-grid of ``s·q`` points per
  unit (``supersample`` = 64 by default). Error bound: only sub-cells crossed by an edge can be
  misclassified, and they lie within a sub-cell diagonal ``d = √2/(s·q)`` of the edge, so the
  total mass error of a disc of radius r and contrast c is at most ``|c|·4π·r·d`` (in practice
  far smaller, since the midpoint errors of a smooth curve cancel). Whenever ``s·q`` is the
  same at scales s and 2s (e.g. when ``supersample`` is divisible by 2s), the two area
  rasterizations use the same sub-samples, so 2 × 2 average pooling of the finer one gives the
  coarser one up to float rounding.

Scenes: :class:`DiscScene` (from :func:`random_discs`; discs painted in order, later discs
cover earlier ones, on a constant background, closed discs ``|p − c| ≤ r``) and
:class:`EllipseScene` (:func:`phantom`, a Shepp–Logan-type head phantom whose ellipse
intensities add up).

Also :func:`noisy` (Gaussian noise for denoising), :func:`cut` (a horizontal profile with its
physical x coordinates) and :func:`edge_metrics` (jump, 10–90 % rise width, difference
quotients) for measuring how sharp an edge a network reproduces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._errors import SmoothscopeError
from .._validate import as_tensor, positive

__all__ = [
    "SHEPP_LOGAN_ELLIPSES",
    "DiscScene",
    "EdgeMetrics",
    "EllipseScene",
    "cut",
    "edge_metrics",
    "evaluate",
    "noisy",
    "phantom",
    "random_discs",
    "rasterize",
]


@dataclass(frozen=True)
class DiscScene:
    """Discs painted in order on a constant background over ``[0, n0]²``.

    Attributes:
        n0: physical side of the square.
        centres: ``[D, 2]`` float64 disc centres ``(y, x)`` in physical units.
        radii: ``[D]`` positive radii.
        intensities: ``[D]`` values inside each disc; later discs paint over earlier ones.
        background: value outside all discs.
    """

    n0: int
    centres: torch.Tensor
    radii: torch.Tensor
    intensities: torch.Tensor
    background: float = 0.0

    def __post_init__(self) -> None:
        positive(self.n0, "n0", integer=True)
        c = _f64(self.centres, "centres").reshape(-1, 2)
        r = _f64(self.radii, "radii").reshape(-1)
        v = _f64(self.intensities, "intensities").reshape(-1)
        if not (c.shape[0] == r.shape[0] == v.shape[0]):
            raise SmoothscopeError(
                f"discs: expected as many centres, radii and intensities, got "
                f"{c.shape[0]}, {r.shape[0]}, {v.shape[0]}"
            )
        if r.numel() and not bool((r > 0).all()):
            raise SmoothscopeError(f"radii: expected positive radii, got {r.tolist()}")
        object.__setattr__(self, "centres", c)
        object.__setattr__(self, "radii", r)
        object.__setattr__(self, "intensities", v)
        object.__setattr__(self, "background", float(self.background))


@dataclass(frozen=True)
class EllipseScene:
    """Ellipses whose intensities ADD on a constant background (Shepp–Logan convention).

    Attributes:
        n0: physical side of the square.
        centres: ``[E, 2]`` centres ``(y, x)`` in physical units.
        axes: ``[E, 2]`` semi-axes ``(a, b)``: a along the ellipse's own x axis, b along its y.
        angles: ``[E]`` rotation (radians) of the ellipse's x axis from the image x axis,
            counter-clockwise as seen with y pointing up (i.e. on screen).
        intensities: ``[E]`` value added inside each (closed) ellipse.
        background: value outside all ellipses.
    """

    n0: int
    centres: torch.Tensor
    axes: torch.Tensor
    angles: torch.Tensor
    intensities: torch.Tensor
    background: float = 0.0

    def __post_init__(self) -> None:
        positive(self.n0, "n0", integer=True)
        c = _f64(self.centres, "centres").reshape(-1, 2)
        a = _f64(self.axes, "axes").reshape(-1, 2)
        t = _f64(self.angles, "angles").reshape(-1)
        v = _f64(self.intensities, "intensities").reshape(-1)
        if not (c.shape[0] == a.shape[0] == t.shape[0] == v.shape[0]):
            raise SmoothscopeError("ellipses: expected as many centres, axes, angles, intensities")
        if a.numel() and not bool((a > 0).all()):
            raise SmoothscopeError(f"axes: expected positive semi-axes, got {a.tolist()}")
        for name, val in (("centres", c), ("axes", a), ("angles", t), ("intensities", v)):
            object.__setattr__(self, name, val)
        object.__setattr__(self, "background", float(self.background))


SHEPP_LOGAN_ELLIPSES: tuple[tuple[float, float, float, float, float, float], ...] = (
    # (x0, y0, a, b, angle in degrees, intensity) on [-1, 1]², y up
    (0.0, 0.0, 0.69, 0.92, 0.0, 1.0),
    (0.0, -0.0184, 0.6624, 0.874, 0.0, -0.8),
    (0.22, 0.0, 0.11, 0.31, -18.0, -0.2),
    (-0.22, 0.0, 0.16, 0.41, 18.0, -0.2),
    (0.0, 0.35, 0.21, 0.25, 0.0, 0.1),
    (0.0, 0.1, 0.046, 0.046, 0.0, 0.1),
    (0.0, -0.1, 0.046, 0.046, 0.0, 0.1),
    (-0.08, -0.605, 0.046, 0.023, 0.0, 0.1),
    (0.0, -0.605, 0.023, 0.023, 0.0, 0.1),
    (0.06, -0.605, 0.023, 0.046, 0.0, 0.1),
)
"""The ten ellipses of Shepp & Logan (1974), with the higher-contrast intensities of Toft's
"modified Shepp–Logan" (1996) instead of the original 2, −0.98, −0.02, −0.02, 0.01, …
Ellipses 3 and 4 are written with axes (minor, major) and angles ∓18°, i.e. major axes at 72°
and 108° as in the original table."""


def _f64(x: object, name: str) -> torch.Tensor:
    """Float64 tensor; Python numbers are converted directly (no float32 round trip)."""
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SmoothscopeError(
                f"{name}: expected a tensor or array of numbers, got {type(x).__name__}"
            ) from exc
    return as_tensor(x, name).to(torch.float64)


def _check_s(s: object) -> int:
    if not isinstance(s, int) or isinstance(s, bool) or s <= 0:
        raise SmoothscopeError(f"s: expected a positive integer scale, got {s!r}")
    return int(s)


def _range(value: object, name: str, *, integer: bool = False, low: float = 0.0):
    try:
        lo, hi = value  # type: ignore[misc]
    except (TypeError, ValueError) as exc:
        raise SmoothscopeError(f"{name}: expected a pair (lo, hi), got {value!r}") from exc
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi))
    if integer:
        ok = ok and all(float(v).is_integer() for v in (lo, hi))
    if not ok or not (low <= lo <= hi) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise SmoothscopeError(f"{name}: expected a pair {low} ≤ lo ≤ hi, got {value!r}")
    return (int(lo), int(hi)) if integer else (float(lo), float(hi))


def random_discs(
    count: int,
    *,
    n0: int = 32,
    discs: tuple[int, int] = (1, 5),
    radius: tuple[float, float] = (2.0, 6.0),
    intensity: tuple[float, float] = (0.2, 1.0),
    background: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[DiscScene]:
    """``count`` random scenes of discs on ``[0, n0]²``.

    Each scene has a uniform number of discs in ``discs`` (inclusive), radii uniform in
    ``radius``, intensities uniform in ``intensity``, and centres uniform in the square shrunk
    by the radius (every disc lies inside the square; discs may overlap, later ones on top).

    Args:
        count: number of scenes.
        n0: physical side of the square.
        discs: (lo, hi) number of discs per scene, 0 ≤ lo ≤ hi.
        radius: (lo, hi) radii, 0 < lo ≤ hi < n0/2.
        intensity: (lo, hi) disc values.
        background: value outside the discs.
        generator: torch generator for reproducibility.

    Returns:
        A list of ``count`` :class:`DiscScene`.
    """
    count = positive(count, "count", integer=True)
    n0 = positive(n0, "n0", integer=True)
    d_lo, d_hi = _range(discs, "discs", integer=True)
    r_lo, r_hi = _range(radius, "radius")
    if r_lo <= 0 or r_hi >= n0 / 2:
        raise SmoothscopeError(f"radius: expected 0 < lo ≤ hi < n0/2 = {n0 / 2}, got {radius!r}")
    i_lo, i_hi = _range(intensity, "intensity", low=-math.inf)
    scenes = []
    for _ in range(count):
        d = int(torch.randint(d_lo, d_hi + 1, (), generator=generator))
        u = torch.rand(d, 4, generator=generator, dtype=torch.float64)
        r = r_lo + (r_hi - r_lo) * u[:, 0]
        c = r[:, None] + (n0 - 2 * r[:, None]) * u[:, 1:3]
        v = i_lo + (i_hi - i_lo) * u[:, 3]
        scenes.append(DiscScene(n0, c, r, v, background))
    return scenes


def phantom(n0: int = 64) -> EllipseScene:
    """A Shepp–Logan head phantom (Shepp & Logan, 1974) on ``[0, n0]²``.

    The ellipses of :data:`SHEPP_LOGAN_ELLIPSES` are mapped from ``[-1, 1]²`` (y up) to the
    physical square by ``x = n0(1 + X)/2``, ``y = n0(1 − Y)/2``. Modification: Toft's
    higher-contrast intensities (values 0 to 1), documented with the table.

    Args:
        n0: physical side.

    Returns:
        An :class:`EllipseScene` with background 0.
    """
    n0 = positive(n0, "n0", integer=True)
    t = torch.tensor(SHEPP_LOGAN_ELLIPSES, dtype=torch.float64)
    half = n0 / 2
    centres = torch.stack([half * (1 - t[:, 1]), half * (1 + t[:, 0])], dim=1)
    axes = half * t[:, 2:4]
    return EllipseScene(n0, centres, axes, torch.deg2rad(t[:, 4]), t[:, 5], 0.0)


def evaluate(scene: DiscScene | EllipseScene, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The scene's function at physical points ``(y, x)`` (broadcast together), float64."""
    y = torch.as_tensor(y, dtype=torch.float64)
    x = torch.as_tensor(x, dtype=torch.float64)
    y, x = torch.broadcast_tensors(y, x)
    out = torch.full(y.shape, scene.background, dtype=torch.float64)
    if isinstance(scene, DiscScene):
        for (cy, cx), r, v in zip(
            scene.centres.tolist(), scene.radii.tolist(), scene.intensities.tolist(), strict=True
        ):
            inside = (y - cy) ** 2 + (x - cx) ** 2 <= r * r
            out = torch.where(inside, torch.full_like(out, v), out)
        return out
    if isinstance(scene, EllipseScene):
        for (cy, cx), (a, b), t, v in zip(
            scene.centres.tolist(),
            scene.axes.tolist(),
            scene.angles.tolist(),
            scene.intensities.tolist(),
            strict=True,
        ):
            dx, dy = x - cx, cy - y  # y up for the angle convention
            u = dx * math.cos(t) + dy * math.sin(t)
            w = -dx * math.sin(t) + dy * math.cos(t)
            out = out + v * ((u / a) ** 2 + (w / b) ** 2 <= 1.0).to(torch.float64)
        return out
    raise SmoothscopeError(
        f"scene: expected a DiscScene or EllipseScene, got {type(scene).__name__}"
    )


def rasterize(
    scene: DiscScene | EllipseScene | Sequence[DiscScene | EllipseScene],
    s: int,
    *,
    mode: str = "centre",
    supersample: int = 64,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Rasterize a scene (or a list of scenes) at scale s.

    Args:
        scene: one scene or a sequence of scenes with the same ``n0``.
        s: positive integer scale; ``n = s·n0`` pixels per side.
        mode: ``"centre"`` (point samples at pixel centres) or ``"area"`` (pixel averages by
            supersampling, see the module docstring for the error bound).
        supersample: sub-samples per physical unit and axis in area mode (the per-pixel count
            is ``⌈supersample/s⌉``).
        dtype: output dtype (computed in float64).

    Returns:
        ``[n, n]`` for one scene, ``[B, 1, n, n]`` for a sequence of B scenes.
    """
    s = _check_s(s)
    if mode not in ("centre", "area"):
        raise SmoothscopeError(f"mode: expected 'centre' or 'area', got {mode!r}")
    supersample = positive(supersample, "supersample", integer=True)
    if isinstance(scene, (DiscScene, EllipseScene)):
        return _rasterize_one(scene, s, mode, supersample).to(dtype)
    scenes = list(scene)
    if not scenes:
        raise SmoothscopeError("scene: expected a scene or a non-empty list of scenes, got []")
    if len({sc.n0 for sc in scenes if hasattr(sc, "n0")}) > 1:
        raise SmoothscopeError(
            f"scene: expected scenes with one n0, got {sorted({sc.n0 for sc in scenes})}"
        )
    imgs = [_rasterize_one(sc, s, mode, supersample) for sc in scenes]
    return torch.stack(imgs)[:, None].to(dtype)


def _rasterize_one(scene, s: int, mode: str, supersample: int) -> torch.Tensor:
    if not isinstance(scene, (DiscScene, EllipseScene)):
        raise SmoothscopeError(
            f"scene: expected a DiscScene or EllipseScene, got {type(scene).__name__}"
        )
    n = s * scene.n0
    if mode == "centre":
        c = (torch.arange(n, dtype=torch.float64) + 0.5) / s
        return evaluate(scene, c[:, None], c[None, :])
    q = -(-supersample // s)
    c = (torch.arange(n * q, dtype=torch.float64) + 0.5) / (s * q)
    rows = []
    chunk = max(1, 2**22 // (n * q * q))  # pixel rows per chunk (~4M samples)
    for i0 in range(0, n, chunk):
        cy = c[i0 * q : min(n, i0 + chunk) * q]
        if isinstance(scene, DiscScene):
            f = _discs_on_grid(scene, cy, c)
        else:
            f = evaluate(scene, cy[:, None], c[None, :])
        rows.append(f.reshape(-1, q, n, q).mean(dim=(1, 3)))
    return torch.cat(rows)


def _discs_on_grid(scene: DiscScene, cy: torch.Tensor, cx: torch.Tensor) -> torch.Tensor:
    """:func:`evaluate` of a disc scene on the grid ``cy × cx`` (both increasing), disc by disc
    inside its bounding box only (one sample of margin): the same test ``Δy² + Δx² ≤ r²`` on
    the same samples, so the same values, at a fraction of the cost."""
    out = torch.full((cy.numel(), cx.numel()), scene.background, dtype=torch.float64)
    for (y0, x0), r, v in zip(
        scene.centres.tolist(), scene.radii.tolist(), scene.intensities.tolist(), strict=True
    ):
        i0, i1 = (int(i) for i in torch.searchsorted(cy, torch.tensor([y0 - r, y0 + r])))
        j0, j1 = (int(j) for j in torch.searchsorted(cx, torch.tensor([x0 - r, x0 + r])))
        i0, j0, i1, j1 = max(0, i0 - 1), max(0, j0 - 1), i1 + 1, j1 + 1
        if i0 >= cy.numel() or j0 >= cx.numel() or i1 <= 0 or j1 <= 0:
            continue
        yy, xx = cy[i0:i1, None], cx[None, j0:j1]
        inside = (yy - y0) ** 2 + (xx - x0) ** 2 <= r * r
        box = out[i0:i1, j0:j1]
        out[i0:i1, j0:j1] = torch.where(inside, torch.full_like(box, v), box)
    return out


def noisy(
    images: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``images + sigma·N(0, 1)`` (i.i.d. per pixel), same shape and dtype.

    Args:
        images: any tensor of pixel values.
        sigma: noise standard deviation, ≥ 0.
        generator: torch generator for reproducibility.
    """
    images = as_tensor(images, "images")
    ok = isinstance(sigma, (int, float)) and not isinstance(sigma, bool)
    if not ok or not math.isfinite(sigma) or sigma < 0:
        raise SmoothscopeError(f"sigma: expected a finite number ≥ 0, got {sigma!r}")
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return images + sigma * noise.to(images.device)


def cut(
    image: torch.Tensor, s: int, *, y: float, x0: float = 0.0, x1: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The profile of an image along the horizontal physical line y, for ``x0 ≤ x ≤ x1``.

    The row is the one whose centre ``(i+½)/s`` is nearest to y, i.e. ``i = ⌊y·s⌋`` (the pixel
    containing y; at a pixel border the lower row wins, and ``y = n/s`` gives the last row).

    Args:
        image: ``[n, n]`` (leading singleton axes such as ``[1, 1, n, n]`` are dropped).
        s: the image's scale (``h = 1/s``).
        y: physical ordinate in ``[0, n/s]``.
        x0, x1: physical range of the pixel centres kept (``x1`` defaults to ``n/s``).

    Returns:
        ``(profile, x)``: the pixel values and their physical centre abscissae, both ``[m]``.
    """
    s = _check_s(s)
    img = as_tensor(image, "image")
    while img.dim() > 2 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 2:
        raise SmoothscopeError(f"image: expected [n, n] or [1, 1, n, n], got {tuple(image.shape)}")
    n_rows, n_cols = img.shape
    side_y, side_x = n_rows / s, n_cols / s
    if not isinstance(y, (int, float)) or not 0 <= y <= side_y:
        raise SmoothscopeError(f"y: expected a physical ordinate in [0, {side_y}], got {y!r}")
    x1 = side_x if x1 is None else x1
    if not x0 < x1:
        raise SmoothscopeError(f"x0, x1: expected x0 < x1, got {x0!r}, {x1!r}")
    i = min(math.floor(y * s), n_rows - 1)
    x = (torch.arange(n_cols, dtype=torch.float64) + 0.5) / s
    keep = (x >= x0) & (x <= x1)
    if not bool(keep.any()):
        raise SmoothscopeError(f"x0, x1: no pixel centre in [{x0}, {x1}] at scale {s}")
    return img[i][keep], x[keep]


@dataclass(frozen=True)
class EdgeMetrics:
    """Sharpness of a profile (see :func:`edge_metrics`).

    Attributes:
        jump: largest ``|u[i+1] − u[i]|``.
        rise_width: physical distance between the 10 % and 90 % level crossings (NaN for a
            constant profile). Limited by the profile's window: a ramp wider than the window
            reads as the window.
        max_slope: ``max |Δu| / h``.
        max_curvature: ``max |Δ²u| / h²``.
        slope_width: ``contrast / max_slope`` in physical units, the width of the linear ramp
            with the profile's steepest slope (Canny's edge width). It cannot saturate: a
            smoother edge has a smaller slope and so a larger width, whatever the window. With
            a known ``contrast`` (e.g. the scene's step) it is not limited by the window; by
            default the contrast is the profile's range ``max u − min u``.
    """

    jump: float
    rise_width: float
    max_slope: float
    max_curvature: float
    slope_width: float = math.nan


def _crossing(u: torch.Tensor, x: torch.Tensor, level: float) -> float:
    """First x where the increasing-oriented samples u reach ``level`` (linear interpolation)."""
    idx = int(torch.nonzero(u >= level)[0])
    if idx == 0:
        return float(x[0])
    ua, ub, xa, xb = float(u[idx - 1]), float(u[idx]), float(x[idx - 1]), float(x[idx])
    return xa + (level - ua) / (ub - ua) * (xb - xa)


def edge_metrics(
    profile: torch.Tensor, x: torch.Tensor, *, h: float, contrast: float | None = None
) -> EdgeMetrics:
    """Jump, 10–90 % rise width and difference quotients of a 1-D profile (e.g. from :func:`cut`).

    The rise width is measured between the global minimum and maximum: with ``lo = min u``,
    ``hi = max u``, the edge is rising if the minimum comes first; along the samples from the
    minimum to the maximum (reversed for a falling edge) the first crossings of
    ``lo + 0.1(hi − lo)`` and ``lo + 0.9(hi − lo)`` are located by linear interpolation, and
    the width is their distance in physical units. A sampled unit step thus has width 0.8·h.

    Args:
        profile: ``[m]`` values, m ≥ 3.
        x: ``[m]`` increasing physical coordinates.
        h: sample spacing (pixel size ``1/s``), > 0.
        contrast: the step height for ``slope_width`` (default: the profile's range).

    Returns:
        :class:`EdgeMetrics`.
    """
    h = positive(h, "h")
    u = as_tensor(profile, "profile").to(torch.float64).reshape(-1)
    xs = as_tensor(x, "x").to(torch.float64).reshape(-1)
    if u.numel() < 3 or xs.shape != u.shape:
        raise SmoothscopeError(
            f"profile, x: expected two 1-D arrays of the same length ≥ 3, got "
            f"{tuple(u.shape)} and {tuple(xs.shape)}"
        )
    if not bool((xs[1:] > xs[:-1]).all()):
        raise SmoothscopeError("x: expected strictly increasing coordinates")
    d1 = u[1:] - u[:-1]
    d2 = u[2:] - 2 * u[1:-1] + u[:-2]
    lo, hi = float(u.min()), float(u.max())
    if hi == lo:
        width = math.nan
    else:
        i_lo, i_hi = int(torch.argmin(u)), int(torch.argmax(u))
        if i_lo < i_hi:
            seg_u, seg_x = u[i_lo : i_hi + 1], xs[i_lo : i_hi + 1]
        else:
            seg_u, seg_x = u[i_hi : i_lo + 1].flip(0), xs[i_hi : i_lo + 1].flip(0)
        amp = hi - lo
        x10 = _crossing(seg_u, seg_x, lo + 0.1 * amp)
        x90 = _crossing(seg_u, seg_x, lo + 0.9 * amp)
        width = abs(x90 - x10)
    jump = float(d1.abs().max())
    if contrast is not None and (
        not isinstance(contrast, (int, float)) or not math.isfinite(contrast) or contrast <= 0
    ):
        raise SmoothscopeError(f"contrast: expected a finite number > 0, got {contrast!r}")
    step = hi - lo if contrast is None else float(contrast)
    return EdgeMetrics(
        jump=jump,
        rise_width=width,
        max_slope=jump / h,
        max_curvature=float(d2.abs().max()) / h**2,
        slope_width=step * h / jump if jump > 0 else math.inf,
    )
