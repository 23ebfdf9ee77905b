"""Maximum-entropy random diffeomorphisms of square images (paper B, §2; Petrini et al. 2021).

Paper B (Tomasini et al. 2023, §2) deforms images with the random diffeomorphisms of its
reference [15], Petrini, Favero, Geiger and Wyart, "Relative stability toward diffeomorphisms
indicates performance in deep nets" (NeurIPS 2021), whose reference implementation is
``pcsl-epfl/diffeomorphism`` (``diff.py``). This module follows that implementation's
conventions exactly, batched and with an explicit ``torch.Generator``:

* **Field.** On ``x = linspace(0, 1, n)`` each displacement component is
  ``u(x, y) = Σ_{i,j ≥ 1, √(i²+j²) < c + 1/2} C_ij sin(π i x) sin(π j y)`` with independent
  ``C_ij ~ N(0, 1/(i² + j²))`` (the maximum-entropy field at temperature ``T`` has
  ``⟨C_ij²⟩ = T / (i² + j²)``; the ``√T`` is applied below). The sine modes vanish on the image
  border, so border pixels never move.
* **Pixels.** ``dx = √T · u · n`` and ``dy = √T · v · n`` (pixels), ``u, v`` independent; ``dx``
  runs along the last axis (columns, x) and ``dy`` along rows (y).
* **Remap.** The deformed image is ``out[y, x] = img(y - dy[y, x], x - dx[y, x])`` with the
  sampling point clamped to ``[0, n - 1]²`` (border clamping) and bilinear interpolation between
  the floor and ceil pixels: content moves by ``+τ``. A zero field is exactly the identity.
* **Nearest interpolation** (``interpolation="nearest"``, an option of the peers' code): the
  sampling point is rounded to the nearest pixel instead (ties to even), so pixel values are
  moved, never mixed. Paper B's text uses bilinear interpolation, the default.
* **Temperatures.** ``temperature_range(n, c) = (1 / (π n² log c), 4 / (π³ c² log c))`` and
  ``typical_displacement(T, c, n) = n √(π T log c) / 2``; see those functions and
  ``docs/diffeomorphisms.md`` for what they mean and how accurate they are.

Shapes: images ``[B, C, n, n]``, fields ``[B, 2, n, n]`` (channel 0 = ``dx``, 1 = ``dy``).
Everything is float64 by default; dtype and device follow the images.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, check_generator, check_rank, positive

__all__ = [
    "apply_diffeo",
    "displacement_fields",
    "mean_squared_displacement",
    "random_diffeo",
    "temperature_for_displacement",
    "temperature_range",
    "typical_displacement",
]


def _check_cut(cut: Any, *, strict: bool) -> float:
    """``cut`` must be a finite number ≥ 1 (> 1 when ``strict``: the formulas divide by log c)."""
    cut = positive(cut, "cut")
    if cut < 1 or (strict and cut == 1):
        bound = "> 1 (log c must be positive)" if strict else ">= 1"
        raise SmoothscopeError(f"cut: expected a high-frequency cutoff {bound}, got {cut!r}")
    return float(cut)


def _check_size(n: Any) -> int:
    n = positive(n, "n", integer=True)
    if n < 2:
        raise SmoothscopeError(f"n: expected an image side of at least 2 pixels, got {n!r}")
    return n


def _check_temperature(T: Any) -> float:
    ok = isinstance(T, (int, float)) and not isinstance(T, bool) and math.isfinite(T)
    if not ok or T < 0:
        raise SmoothscopeError(f"T: expected a finite temperature >= 0, got {T!r}")
    return float(T)


def temperature_range(n: int, cut: float) -> tuple[float, float]:
    """Range ``[T_min, T_max]`` of "natural" temperatures for ``n × n`` images and cutoff ``cut``.

    ``T_min = 1 / (π n² log c)`` is the temperature at which ``typical_displacement`` is exactly
    half a pixel: colder diffeomorphisms barely move any pixel. ``T_max = 4 / (π³ c² log c)`` is
    where the deformation stops being reliably bijective: there the image-averaged squared
    Jacobian ``⟨‖∇τ‖_F²⟩ = (π²/2) T N_c ≈ π³ T c² / 8`` (``N_c ≈ π c²/4`` modes) equals
    ``1 / (2 log c)``, and the largest gradient over the ``~c²`` independent patches of the field
    (a Gaussian extreme, larger by ``~√(log c)``) is of order 1, so folds start to appear.
    Formulas of ``pcsl-epfl/diffeomorphism`` (``diff.temperature_range``).

    Args:
        n: image side in pixels (≥ 2).
        cut: high-frequency cutoff ``c`` (> 1).

    Returns:
        ``(T_min, T_max)``; empty (``T_min > T_max``) when ``c`` is too large for ``n``.

    Raises:
        SmoothscopeError: ``n < 2`` or ``cut <= 1``.
    """
    n = _check_size(n)
    cut = _check_cut(cut, strict=True)
    log = math.log(cut)
    return 1.0 / (math.pi * n**2 * log), 4.0 / (math.pi**3 * cut**2 * log)


def typical_displacement(T: float, cut: float, n: int) -> float:
    """Typical displacement ``δ = n √(π T log c) / 2`` in pixels (``pcsl-epfl/diffeomorphism``).

    ``δ²`` is the continuum approximation of the mean squared displacement ``E‖τ‖² =
    E[dx² + dy²]`` (both components) of a pixel: the mode sum ``Σ 1/(i² + j²)`` is replaced by
    the quarter-disc integral ``(π/2) log c`` and ``sin²`` by its mean ``1/2``. It is exact only
    asymptotically in ``c``; for practical cutoffs the image-averaged ``E‖τ‖²`` is smaller
    (ratio 0.71 at c = 3, 0.77 at c = 10, 0.86 at c = 100; see ``mean_squared_displacement``)
    and the value at the image centre larger (the reference README calls ``δ`` the typical
    displacement at the centre).

    Args:
        T: temperature (≥ 0).
        cut: high-frequency cutoff ``c`` (> 1).
        n: image side in pixels (≥ 2).

    Returns:
        ``δ`` in pixels.

    Raises:
        SmoothscopeError: ``T < 0``, ``cut <= 1`` or ``n < 2``.
    """
    T = _check_temperature(T)
    cut = _check_cut(cut, strict=True)
    n = _check_size(n)
    return n * math.sqrt(math.pi * T * math.log(cut)) / 2


def _modes(
    n: int, cut: float, dtype: torch.dtype, device: torch.device | str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mode amplitudes ``e [K, K]`` (``1/r`` inside the disc, 0 outside) and sines ``s [n, K]``."""
    K = math.floor(cut + 0.5)  # a kept mode has i < √(i² + 1) < c + 1/2, so i ≤ K
    x = torch.linspace(0, 1, n, dtype=dtype, device=device)
    k = torch.arange(1, K + 1, dtype=dtype, device=device)
    i, j = torch.meshgrid(k, k, indexing="ij")
    r = (i**2 + j**2).sqrt()
    e = (r < cut + 0.5).to(dtype) / r
    s = torch.sin(math.pi * x[:, None] * k[None, :])
    return e, s


def temperature_for_displacement(delta: float, cut: float, n: int) -> float:
    """The temperature whose ``typical_displacement`` is ``delta`` pixels: ``4δ² / (π n² log c)``.

    The peers parametrise their diffeomorphisms by ``δ`` (default 1 pixel) instead of ``T``;
    this is the inverse of :func:`typical_displacement`.

    Args:
        delta: typical displacement in pixels (≥ 0).
        cut: high-frequency cutoff ``c`` (> 1).
        n: image side in pixels (≥ 2).

    Raises:
        SmoothscopeError: ``delta < 0`` or not finite, ``cut <= 1`` or ``n < 2``.
    """
    ok = isinstance(delta, (int, float)) and not isinstance(delta, bool) and math.isfinite(delta)
    if not ok or delta < 0:
        raise SmoothscopeError(f"delta: expected a finite displacement >= 0 pixels, got {delta!r}")
    cut = _check_cut(cut, strict=True)
    n = _check_size(n)
    return 4.0 * float(delta) ** 2 / (math.pi * n**2 * math.log(cut))


def mean_squared_displacement(T: float, cut: float, n: int) -> float:
    """Exact ``E‖τ‖²`` (pixels²) averaged over draws and over the ``n × n`` pixels.

    ``E[dx² + dy²] = 2 T n² Σ_{ij} sin²(π i x) sin²(π j y) / (i² + j²)``; the grid mean of
    ``sin²(π k x)`` on ``linspace(0, 1, n)`` is exactly ``(n - 1) / (2n)`` unless ``n - 1``
    divides ``k`` (then 0), so this is a finite mode sum. Compare ``typical_displacement²``.

    Args:
        T: temperature (≥ 0).
        cut: high-frequency cutoff ``c`` (≥ 1).
        n: image side in pixels (≥ 2).

    Returns:
        The mean squared displacement in pixels².
    """
    T = _check_temperature(T)
    cut = _check_cut(cut, strict=False)
    n = _check_size(n)
    e, s = _modes(n, cut, torch.float64, "cpu")
    m = s.pow(2).mean(0)  # [K] grid means of sin²
    return float(2 * T * n**2 * (e.pow(2) * m[:, None] * m[None, :]).sum())


def displacement_fields(
    n: int,
    cut: float,
    T: float | torch.Tensor,
    count: int,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw ``count`` independent maximum-entropy displacement fields, in pixels.

    Field ``b`` is ``τ_b = √T_b · n · (u_b, v_b)`` with ``u, v`` the sine series of the module
    docstring; one einsum over the modes builds all of them. The coefficients are drawn as one
    ``randn([count, 2, K, K])`` from ``generator`` (``K = ⌊c + 1/2⌋``); the fields are the
    batched matrix products ``s · (C ∘ e)ᵀ · sᵀ``.

    Args:
        n: image side in pixels (≥ 2).
        cut: high-frequency cutoff ``c`` (≥ 1); modes with ``√(i² + j²) < c + 1/2`` are kept.
        T: temperature (≥ 0), a float or a tensor ``[count]`` of per-field temperatures.
        count: number of fields (≥ 1).
        generator: the only source of randomness; its device must match ``device``.
        dtype: floating dtype of the result.
        device: device of the result (default: the generator's device).

    Returns:
        Fields of shape ``[count, 2, n, n]``: channel 0 is ``dx`` (along columns, the last
        axis), channel 1 is ``dy`` (along rows). They vanish on the image border.

    Raises:
        SmoothscopeError: ``n < 2``, ``cut < 1``, ``count < 1``, a negative or non-finite
            temperature, or ``T`` of the wrong shape.
    """
    n = _check_size(n)
    cut = _check_cut(cut, strict=False)
    count = positive(count, "count", integer=True)
    check_generator(generator)
    if device is None:
        device = generator.device
    if isinstance(T, torch.Tensor):
        temps = as_tensor(T, "T").to(dtype=dtype, device=device)
        if temps.dim() == 0:
            temps = temps.expand(count)
        if temps.shape != (count,):
            raise SmoothscopeError(
                f"T: expected a float or a tensor of shape [count] = [{count}], "
                f"got shape {tuple(temps.shape)}"
            )
        check_finite(temps, "T")
        if bool((temps < 0).any()):
            raise SmoothscopeError(f"T: expected temperatures >= 0, got min {temps.min().item()}")
    else:
        temps = torch.full((count,), _check_temperature(T), dtype=dtype, device=device)
    e, s = _modes(n, cut, dtype, device)
    K = e.shape[0]
    coeffs = torch.randn((count, 2, K, K), generator=generator, dtype=dtype, device=device)
    # u[y, x] = Σ_ij C_ij e_ij s[x, i] s[y, j] = (s (C∘e)ᵀ sᵀ)[y, x]
    # (reference: einsum('ij,xi,yj->yx')), as two batched matmuls
    u = s @ ((coeffs * e).transpose(-1, -2) @ s.T)
    return u * (temps.sqrt() * n)[:, None, None, None]


INTERPOLATIONS = ("bilinear", "nearest")


def _check_interpolation(interpolation: Any) -> str:
    if interpolation not in INTERPOLATIONS:
        raise SmoothscopeError(
            f"interpolation: expected one of {list(INTERPOLATIONS)}, got {interpolation!r}"
        )
    return interpolation


def _check_images(images: Any) -> torch.Tensor:
    images = as_tensor(images, "images")
    check_rank(images, (4,), "images", "[B, C, n, n] (square)")
    if images.shape[-1] != images.shape[-2]:
        raise SmoothscopeError(
            f"images: expected square images of shape [B, C, n, n], got shape {tuple(images.shape)}"
        )
    _check_size(images.shape[-1])
    check_finite(images, "images")
    return images


def apply_diffeo(
    images: torch.Tensor, fields: torch.Tensor, *, interpolation: str = "bilinear"
) -> torch.Tensor:
    """Deform each image by its displacement field (bilinear, border clamping, batched).

    ``out[b, :, y, x] = images[b, :, y - dy, x - dx]`` with ``(dx, dy) = fields[b, :, y, x]``,
    the sampling point clamped to ``[0, n - 1]²`` and interpolated bilinearly between its
    floor and ceil pixels (the remap of ``pcsl-epfl/diffeomorphism``). A zero field returns the
    images exactly; a constant field ``(a, 0)`` with integer ``a`` shifts the content ``a``
    pixels to the right (the left ``a`` columns repeat column 0). Differentiable in the images
    and in the fields (almost everywhere).

    Args:
        images: ``[B, C, n, n]``.
        fields: ``[B, 2, n, n]`` in pixels (channel 0 = ``dx`` along columns, 1 = ``dy``).
        interpolation: ``"bilinear"`` (default, paper B) or ``"nearest"`` (the sampling
            point rounded to the nearest pixel; not differentiable in the fields).

    Returns:
        Deformed images ``[B, C, n, n]`` with the dtype and device of ``images``.

    Raises:
        SmoothscopeError: non-square or wrongly shaped inputs, NaN or inf values.
    """
    images = _check_images(images)
    fields = as_tensor(fields, "fields").to(dtype=images.dtype, device=images.device)
    B, C, n, _ = images.shape
    if fields.shape != (B, 2, n, n):
        raise SmoothscopeError(
            f"fields: expected shape [B, 2, n, n] = {[B, 2, n, n]} to match images, "
            f"got shape {tuple(fields.shape)}"
        )
    check_finite(fields, "fields")
    interpolation = _check_interpolation(interpolation)
    grid = torch.arange(n, dtype=images.dtype, device=images.device)
    xs = (grid[None, None, :] - fields[:, 0]).clamp(0, n - 1)  # [B, n, n]
    ys = (grid[None, :, None] - fields[:, 1]).clamp(0, n - 1)
    if interpolation == "nearest":
        index = (ys.round().long() * n + xs.round().long()).reshape(B, 1, n * n)
        flat = images.reshape(B, C, n * n)
        return flat.gather(2, index.expand(B, C, n * n)).reshape(B, C, n, n)
    xf, yf = xs.floor(), ys.floor()
    xc, yc = xs.ceil(), ys.ceil()
    xv, yv = xs - xf, ys - yf
    flat = images.reshape(B, C, n * n)

    def pick(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        index = (yi.long() * n + xi.long()).reshape(B, 1, n * n).expand(B, C, n * n)
        return flat.gather(2, index).reshape(B, C, n, n)

    xv, yv = xv[:, None], yv[:, None]
    return (
        (1 - yv) * (1 - xv) * pick(yf, xf)
        + (1 - yv) * xv * pick(yf, xc)
        + yv * (1 - xv) * pick(yc, xf)
        + yv * xv * pick(yc, xc)
    )


def random_diffeo(
    images: torch.Tensor,
    T: float,
    cut: float,
    *,
    generator: torch.Generator,
    per_image: int = 1,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """Deform each image by ``per_image`` independent maximum-entropy diffeomorphisms.

    Draws ``B * per_image`` fields with ``displacement_fields`` (field ``b * per_image + k`` for
    copy ``k`` of image ``b``) and applies them in one batched ``apply_diffeo`` call.
    A nonzero temperature outside ``temperature_range(n, cut)`` is allowed but warned about.

    Args:
        images: ``[B, C, n, n]`` square images.
        T: temperature (≥ 0).
        cut: high-frequency cutoff ``c`` (≥ 1).
        generator: the only source of randomness (on the images' device).
        per_image: diffeomorphisms per image (≥ 1).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``, see :func:`apply_diffeo`.

    Returns:
        ``[B * per_image, C, n, n]``, grouped by image: rows ``b * per_image : (b + 1) *
        per_image`` are the deformations of ``images[b]``.

    Raises:
        SmoothscopeError: bad shapes, NaN images, ``T < 0``, ``cut < 1``, ``per_image < 1``.

    Warns:
        UserWarning: ``T`` outside ``[T_min, T_max]``; not for ``T == 0`` (the exact identity,
            a legitimate control) nor for ``cut == 1`` (the range is undefined).
    """
    images = _check_images(images)
    T = _check_temperature(T)
    cut = _check_cut(cut, strict=False)
    per_image = positive(per_image, "per_image", integer=True)
    interpolation = _check_interpolation(interpolation)
    B, _, n, _ = images.shape
    if cut > 1:
        t_min, t_max = temperature_range(n, cut)
        if T != 0 and not t_min <= T <= t_max:
            warnings.warn(
                f"T={T:.4g} is outside the natural range [T_min, T_max] = "
                f"[{t_min:.4g}, {t_max:.4g}] for n={n}, cut={cut:g} (typical displacement "
                f"{typical_displacement(T, cut, n):.3g} px)",
                UserWarning,
                stacklevel=2,
            )
    fields = displacement_fields(
        n,
        cut,
        T,
        B * per_image,
        generator=generator,
        dtype=images.dtype,
        device=images.device,
    )
    repeated = images.repeat_interleave(per_image, dim=0)
    return apply_diffeo(repeated, fields, interpolation=interpolation)
