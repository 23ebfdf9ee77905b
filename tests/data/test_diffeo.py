"""Maximum-entropy diffeomorphisms: identity, border clamping, statistics, seeding, batching."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from smoothscope import SmoothscopeError
from smoothscope.data.diffeo import (
    apply_diffeo,
    displacement_fields,
    mean_squared_displacement,
    random_diffeo,
    temperature_range,
    typical_displacement,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(b: int = 3, c: int = 2, n: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, c, n, n, dtype=torch.float64, generator=_gen(seed))


def _reference_remap(a: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Pixel-by-pixel transcription of pcsl-epfl/diffeomorphism ``remap`` (interp='linear')."""
    n = a.shape[-1]
    out = torch.empty_like(a)
    for y in range(n):
        for x in range(n):
            xn = min(max(x - float(dx[y, x]), 0.0), n - 1)
            yn = min(max(y - float(dy[y, x]), 0.0), n - 1)
            xf, yf, xc, yc = math.floor(xn), math.floor(yn), math.ceil(xn), math.ceil(yn)
            xv, yv = xn - xf, yn - yf
            out[..., y, x] = (
                (1 - yv) * (1 - xv) * a[..., yf, xf]
                + (1 - yv) * xv * a[..., yf, xc]
                + yv * (1 - xv) * a[..., yc, xf]
                + yv * xv * a[..., yc, xc]
            )
    return out


def test_temperature_range_and_typical_displacement_formulas():
    n, c = 32, 5.0
    t_min, t_max = temperature_range(n, c)
    assert t_min == pytest.approx(1 / (math.pi * n**2 * math.log(c)), rel=1e-15)
    assert t_max == pytest.approx(4 / (math.pi**3 * c**2 * math.log(c)), rel=1e-15)
    # T_min is the temperature of a half-pixel typical displacement
    assert typical_displacement(t_min, c, n) == pytest.approx(0.5, rel=1e-12)
    assert typical_displacement(4 * t_min, c, n) == pytest.approx(1.0, rel=1e-12)
    assert typical_displacement(0.0, c, n) == 0.0


def test_t_max_is_where_the_mean_squared_jacobian_is_one_over_2_log_c():
    """At T_max the image-averaged ‖∇τ‖_F² (pixels/pixel) is ≈ 1/(2 log c), as documented."""
    n, c, count = 96, 10.0, 300  # fine grid: central differences resolve the c = 10 modes
    t_max = temperature_range(n, c)[1]
    f = displacement_fields(n, c, t_max, count, generator=_gen(3))
    gy, gx = torch.gradient(f, dim=(2, 3))
    grad2 = (gx**2 + gy**2).sum(1).mean().item() * ((n - 1) / n) ** 2  # per unit of [0, 1]
    assert grad2 == pytest.approx(1 / (2 * math.log(c)), rel=0.1)


def test_zero_temperature_is_exactly_the_identity():
    images = _images()
    out = random_diffeo(images, 0.0, 4, generator=_gen(), per_image=2)
    assert torch.equal(out, images.repeat_interleave(2, dim=0))
    zero = torch.zeros(3, 2, 16, 16, dtype=torch.float64)
    assert torch.equal(apply_diffeo(images, zero), images)


def test_constant_image_stays_constant_under_strong_diffeos():
    images = torch.full((2, 3, 16, 16), 0.37, dtype=torch.float64)
    t_max = temperature_range(16, 3)[1]
    with pytest.warns(UserWarning):
        out = random_diffeo(images, 20 * t_max, 3, generator=_gen(), per_image=4)
    torch.testing.assert_close(out, torch.full_like(out, 0.37), rtol=0, atol=1e-15)
    # even fields pointing far outside the image sample the clamped border
    far = torch.full((2, 2, 16, 16), 40.0, dtype=torch.float64)
    torch.testing.assert_close(apply_diffeo(images, far), images, rtol=0, atol=1e-15)


def test_fields_shape_dtype_and_vanish_on_the_border():
    f = displacement_fields(12, 4, 0.01, 5, generator=_gen())
    assert f.shape == (5, 2, 12, 12) and f.dtype == torch.float64
    border = torch.cat([f[..., 0, :], f[..., -1, :], f[..., :, 0], f[..., :, -1]], dim=-1)
    assert border.abs().max() < 1e-12 * f.abs().max()
    assert f[..., 1:-1, 1:-1].abs().max() > 0.1
    f32 = displacement_fields(12, 4, 0.01, 2, generator=_gen(), dtype=torch.float32)
    assert f32.dtype == torch.float32


def test_fields_follow_the_reference_mode_expansion():
    """Same coefficient draw → the reference's einsum('ij,xi,yj->yx') scaled by √T·n."""
    n, c, T = 10, 3, 0.02
    f = displacement_fields(n, c, T, 2, generator=_gen(5))
    coeffs = torch.randn((2, 2, c, c), generator=_gen(5), dtype=torch.float64)
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    k = torch.arange(1, c + 1, dtype=torch.float64)
    i, j = torch.meshgrid(k, k, indexing="ij")
    r = (i**2 + j**2).sqrt()
    e = (r < c + 0.5) / r
    s = torch.sin(math.pi * x[:, None] * k[None, :])
    for b in range(2):
        for comp in range(2):
            u = torch.einsum("ij,xi,yj->yx", coeffs[b, comp] * e, s, s)
            torch.testing.assert_close(f[b, comp], T**0.5 * u * n, rtol=1e-12, atol=1e-14)


def test_mean_squared_displacement_statistics():
    """E over draws and pixels of dx² + dy² equals the exact mode sum; δ² is its continuum value.

    ``typical_displacement`` replaces Σ 1/r² by (π/2) log c and the grid mean of sin² by 1/2,
    so δ² overestimates the image-averaged E‖τ‖² by a known, c-dependent factor.
    """
    n, c, T, count = 24, 6, 1e-3, 4000
    f = displacement_fields(n, c, T, count, generator=_gen(7))
    empirical = f.pow(2).sum(1).mean().item()
    exact = mean_squared_displacement(T, c, n)
    assert empirical == pytest.approx(exact, rel=0.05)
    k = torch.arange(1, c + 1, dtype=torch.float64)
    r2 = k[:, None] ** 2 + k[None, :] ** 2
    mode_sum = ((r2.sqrt() < c + 0.5) / r2).sum().item()
    ratio = mode_sum / (math.pi / 2 * math.log(c)) * ((n - 1) / n) ** 2
    assert exact == pytest.approx(ratio * typical_displacement(T, c, n) ** 2, rel=1e-12)
    assert 0.65 < ratio < 0.8  # the continuum formula is ~25 % high at c = 6
    # per-field temperatures scale the fields by √T
    temps = torch.tensor([T, 4 * T], dtype=torch.float64)
    pair = displacement_fields(n, c, temps, 2, generator=_gen(8))
    same = displacement_fields(n, c, 1.0, 2, generator=_gen(8))
    torch.testing.assert_close(pair, same * temps.sqrt()[:, None, None, None])


def test_seeding():
    images = _images()
    a = random_diffeo(images, 0.003, 4, generator=_gen(11))
    b = random_diffeo(images, 0.003, 4, generator=_gen(11))
    c = random_diffeo(images, 0.003, 4, generator=_gen(12))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_per_image_batching_matches_one_by_one():
    images = _images(b=3)
    k, T, cut = 4, 0.003, 4
    out = random_diffeo(images, T, cut, generator=_gen(21), per_image=k)
    assert out.shape == (3 * k, 2, 16, 16)
    fields = displacement_fields(16, cut, T, 3 * k, generator=_gen(21))
    for b in range(3):
        for m in range(k):
            single = apply_diffeo(images[b : b + 1], fields[b * k + m : b * k + m + 1])
            assert torch.equal(out[b * k + m], single[0])
    # the k copies of one image are different deformations
    assert not torch.allclose(out[0], out[1])


def test_apply_matches_the_reference_remap_and_grid_sample():
    n = 12
    images = _images(b=2, c=1, n=n)
    fields = displacement_fields(n, 4, 3 * temperature_range(n, 4)[1], 2, generator=_gen(4))
    out = apply_diffeo(images, fields)
    for b in range(2):
        ref = _reference_remap(images[b], fields[b, 0], fields[b, 1])
        torch.testing.assert_close(out[b], ref, rtol=0, atol=1e-14)
    p = torch.arange(n, dtype=torch.float64)
    xs, ys = p[None, None, :] - fields[:, 0], p[None, :, None] - fields[:, 1]
    grid = torch.stack([2 * xs / (n - 1) - 1, 2 * ys / (n - 1) - 1], dim=-1)
    gs = F.grid_sample(images, grid, padding_mode="border", align_corners=True)
    torch.testing.assert_close(out, gs, rtol=0, atol=1e-12)


def test_constant_integer_field_is_a_shift():
    images = _images(b=2, c=3, n=10)
    fields = torch.zeros(2, 2, 10, 10, dtype=torch.float64)
    fields[:, 0] = 2.0  # dx = +2: content moves two columns right
    fields[:, 1] = -1.0  # dy = -1: content moves one row up
    out = apply_diffeo(images, fields)
    assert torch.equal(out[..., :-1, 2:], images[..., 1:, :-2])
    # clamped margins repeat the border pixels
    assert torch.equal(out[..., :-1, 0], images[..., 1:, 0])
    assert torch.equal(out[..., -1, 2:], images[..., -1, :-2])
    # a half-pixel shift averages neighbours
    fields = torch.zeros(2, 2, 10, 10, dtype=torch.float64)
    fields[:, 0] = 0.5
    half = apply_diffeo(images, fields)
    torch.testing.assert_close(half[..., 1:], (images[..., 1:] + images[..., :-1]) / 2)


def test_follows_images_dtype_and_is_differentiable():
    images = _images().float().requires_grad_(True)
    out = random_diffeo(images, 0.003, 4, generator=_gen())
    assert out.dtype == torch.float32
    out.sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all()


def test_out_of_range_temperature_warns():
    images = _images()
    t_min, t_max = temperature_range(16, 4)
    with pytest.warns(UserWarning, match=r"outside the natural range \[T_min, T_max\]"):
        random_diffeo(images, 2 * t_max, 4, generator=_gen())
    with pytest.warns(UserWarning, match="natural range"):
        random_diffeo(images, t_min / 2, 4, generator=_gen())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        random_diffeo(images, math.sqrt(t_min * t_max), 4, generator=_gen())
        random_diffeo(images, 0.0, 4, generator=_gen())  # the identity is a valid control


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: random_diffeo(torch.zeros(1, 1, 8, 9), 0.01, 3, generator=_gen()), "square"),
        (lambda: random_diffeo(torch.zeros(8, 8), 0.01, 3, generator=_gen()), "B, C, n, n"),
        (lambda: random_diffeo(torch.zeros(1, 1, 8, 8), -1.0, 3, generator=_gen()), "T"),
        (lambda: random_diffeo(torch.zeros(1, 1, 8, 8), 0.01, 0.5, generator=_gen()), "cut"),
        (lambda: random_diffeo(torch.zeros(1, 1, 1, 1), 0.01, 3, generator=_gen()), "n"),
        (
            lambda: random_diffeo(
                torch.full((1, 1, 8, 8), float("nan")), 0.01, 3, generator=_gen()
            ),
            "finite",
        ),
        (lambda: temperature_range(16, 1), "cut"),
        (lambda: temperature_range(1, 3), "n"),
        (lambda: typical_displacement(-1.0, 3, 16), "T"),
        (lambda: displacement_fields(8, 3, torch.ones(3), 2, generator=_gen()), r"\[count\]"),
        (lambda: displacement_fields(8, 3, 0.1, 2, generator=None), "generator"),
        (lambda: apply_diffeo(torch.zeros(2, 1, 8, 8), torch.zeros(1, 2, 8, 8)), "fields"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(SmoothscopeError, match=match):
        call()


def test_rectangular_error_names_shapes():
    with pytest.raises(SmoothscopeError, match=r"\[B, C, n, n\].*\(1, 1, 8, 9\)"):
        apply_diffeo(torch.zeros(1, 1, 8, 9), torch.zeros(1, 2, 8, 8))


def test_nearest_interpolation_moves_pixels_without_mixing_them():
    from smoothscope.data.diffeo import temperature_for_displacement

    images = _images(b=2, c=1, n=12)
    fields = displacement_fields(12, 3, 0.01, 2, generator=_gen(4))
    near = apply_diffeo(images, fields, interpolation="nearest")
    for b in range(2):  # every output pixel is one of the input's pixels
        assert torch.isin(near[b].flatten(), images[b].flatten()).all()
    lin = apply_diffeo(images, fields)
    assert not torch.equal(near, lin)
    assert (near - lin).abs().max() < images.max()  # same deformation, rounded sampling point
    zero = torch.zeros(2, 2, 12, 12, dtype=torch.float64)
    assert torch.equal(apply_diffeo(images, zero, interpolation="nearest"), images)
    shift = zero.clone()
    shift[:, 0] = 2.0
    assert torch.equal(apply_diffeo(images, shift, interpolation="nearest"),
                       apply_diffeo(images, shift))  # fmt: skip
    a = random_diffeo(images, 0.01, 3, generator=_gen(5), interpolation="nearest")
    b = apply_diffeo(images, displacement_fields(12, 3, 0.01, 2, generator=_gen(5)),
                     interpolation="nearest")  # fmt: skip
    assert torch.equal(a, b)
    with pytest.raises(SmoothscopeError, match="interpolation"):
        apply_diffeo(images, zero, interpolation="cubic")
    # the peers' δ: the temperature whose typical displacement is δ pixels
    T = temperature_for_displacement(1.0, 3, 32)
    assert typical_displacement(T, 3, 32) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(SmoothscopeError, match="delta"):
        temperature_for_displacement(-1.0, 3, 32)


def test_fields_are_the_mode_einsum():
    """The batched matmul equals the reference einsum over the sine modes."""
    g = _gen(7)
    fields = displacement_fields(9, 4, 0.02, 3, generator=g)
    g = _gen(7)
    K = math.floor(4 + 0.5)
    coeffs = torch.randn((3, 2, K, K), generator=g, dtype=torch.float64)
    x = torch.linspace(0, 1, 9, dtype=torch.float64)
    k = torch.arange(1, K + 1, dtype=torch.float64)
    r = (k[:, None] ** 2 + k[None, :] ** 2).sqrt()
    e = (r < 4.5).double() / r
    s = torch.sin(math.pi * x[:, None] * k[None, :])
    ref = torch.einsum("bcij,xi,yj->bcyx", coeffs * e, s, s) * math.sqrt(0.02) * 9
    torch.testing.assert_close(fields, ref, rtol=1e-12, atol=1e-14)
