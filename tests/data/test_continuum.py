"""Continuum scenes with sharp edges: exact rasterization at every scale, profiles, edge metrics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from smoothscope import SmoothscopeError
from smoothscope.data.continuum import (
    DiscScene,
    EdgeMetrics,
    EllipseScene,
    cut,
    edge_metrics,
    evaluate,
    noisy,
    phantom,
    random_discs,
    rasterize,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _disc(cy=7.3, cx=8.6, r=3.7, v=0.8, n0=16, bg=0.1) -> DiscScene:
    return DiscScene(n0, [[cy, cx]], [r], [v], bg)


def test_random_discs_are_reproducible_and_inside_the_square():
    a = random_discs(4, n0=24, discs=(2, 4), radius=(1.5, 4.0), generator=_gen(0))
    b = random_discs(4, n0=24, discs=(2, 4), radius=(1.5, 4.0), generator=_gen(0))
    assert len(a) == 4
    for sa, sb in zip(a, b, strict=True):
        assert torch.equal(sa.centres, sb.centres) and torch.equal(sa.radii, sb.radii)
        assert 2 <= sa.radii.numel() <= 4
        assert ((sa.radii >= 1.5) & (sa.radii <= 4.0)).all()
        lo = sa.centres - sa.radii[:, None]
        hi = sa.centres + sa.radii[:, None]
        assert (lo >= 0).all() and (hi <= 24).all()
    assert rasterize(a, 2).shape == (4, 1, 48, 48)


@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_centre_mode_is_exact_point_sampling(s):
    scene = _disc()
    img = rasterize(scene, s, dtype=torch.float64)
    c = (torch.arange(16 * s, dtype=torch.float64) + 0.5) / s
    inside = (c[:, None] - 7.3) ** 2 + (c[None, :] - 8.6) ** 2 <= 3.7**2
    assert img.shape == (16 * s, 16 * s)
    assert torch.equal(img == 0.8, inside) and torch.equal(img == 0.1, ~inside)


@pytest.mark.parametrize("s", [1, 2, 4])
def test_area_mode_mass_is_the_disc_area(s):
    scene = _disc(bg=0.0)
    img = rasterize(scene, s, mode="area", dtype=torch.float64)
    mass = float(img.sum()) / s**2
    exact = 0.8 * math.pi * 3.7**2
    bound = 0.8 * 4 * math.pi * 3.7 * math.sqrt(2) / 64  # documented bound at density 64
    assert abs(mass - exact) < bound
    assert abs(mass - exact) / exact < 2e-4  # in practice much tighter
    assert float(img.min()) >= 0 and float(img.max()) <= 0.8 + 1e-12


def test_area_mode_is_consistent_across_scales():
    scenes = random_discs(2, n0=16, discs=(3, 5), generator=_gen(1))  # overlaps included
    for s in (1, 2, 4):
        coarse = rasterize(scenes, s, mode="area", dtype=torch.float64)
        fine = rasterize(scenes, 2 * s, mode="area", dtype=torch.float64)
        assert torch.allclose(F.avg_pool2d(fine, 2), coarse, atol=1e-12)
    # Centre mode does not have this property at an edge.
    c1 = rasterize(scenes, 1, dtype=torch.float64)
    c2 = rasterize(scenes, 2, dtype=torch.float64)
    assert not torch.allclose(F.avg_pool2d(c2, 2), c1)


def test_later_discs_paint_over_earlier_ones():
    scene = DiscScene(
        8,
        torch.tensor([[4.0, 4.0], [4.0, 4.0]]),
        torch.tensor([3.0, 1.0]),
        torch.tensor([1.0, 2.0]),
    )
    assert float(evaluate(scene, torch.tensor(4.0), torch.tensor(4.0))) == 2.0
    assert float(evaluate(scene, torch.tensor(4.0), torch.tensor(6.0))) == 1.0
    assert float(evaluate(scene, torch.tensor(0.5), torch.tensor(0.5))) == 0.0


def test_phantom_geometry_and_consistency():
    ph = phantom(32)
    assert isinstance(ph, EllipseScene) and ph.centres.shape == (10, 2)
    img = rasterize(ph, 2, dtype=torch.float64)
    assert img.shape == (64, 64)
    assert float(img[0, 0]) == 0.0
    assert abs(float(evaluate(ph, torch.tensor(16.0), torch.tensor(16.0))) - 0.2) < 1e-12
    # Ellipse 3 (x0 = 0.22): its major axis leans to the right at the top (72°).
    assert abs(float(evaluate(ph, torch.tensor(16.0), torch.tensor(16 + 0.22 * 16))) - 0.0) < 1e-12
    a1 = rasterize(ph, 1, mode="area", supersample=16, dtype=torch.float64)
    a2 = rasterize(ph, 2, mode="area", supersample=16, dtype=torch.float64)
    assert torch.allclose(F.avg_pool2d(a2[None, None], 2)[0, 0], a1, atol=1e-12)


def test_noisy():
    x = torch.zeros(2, 1, 64, 64)
    y = noisy(x, 0.5, generator=_gen(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert abs(float(y.std()) - 0.5) < 0.02
    assert torch.equal(noisy(x, 0.0), x)
    assert torch.equal(y, noisy(x, 0.5, generator=_gen(0)))


def test_cut_picks_the_nearest_row_and_physical_x():
    img = torch.arange(36.0).view(6, 6)  # s = 2, n0 = 3
    prof, x = cut(img, 2, y=1.3)  # row ⌊2.6⌋ = 2, centre 1.25
    assert torch.equal(prof, img[2]) and torch.allclose(
        x, (torch.arange(6.0, dtype=x.dtype) + 0.5) / 2
    )
    prof, x = cut(img[None, None], 2, y=3.0, x0=0.5, x1=2.0)
    assert torch.equal(prof, img[5, 1:4]) and torch.allclose(
        x, torch.tensor([0.75, 1.25, 1.75], dtype=x.dtype)
    )


def test_edge_metrics_of_a_step():
    h = 0.25
    x = (torch.arange(12, dtype=torch.float64) + 0.5) * h
    u = torch.where(x > 1.5, 3.0, 1.0)
    m = edge_metrics(u, x, h=h)
    assert isinstance(m, EdgeMetrics)
    assert m.jump == pytest.approx(2.0)
    assert m.rise_width == pytest.approx(0.8 * h)
    assert m.max_slope == pytest.approx(2.0 / h)
    assert m.max_curvature == pytest.approx(2.0 / h**2)
    falling = edge_metrics(u.flip(0), x, h=h)
    assert falling.rise_width == pytest.approx(0.8 * h)


def test_edge_metrics_of_a_linear_ramp():
    h, length = 0.1, 2.0
    x = torch.arange(60, dtype=torch.float64) * h
    u = ((x - 1.0) / length).clamp(0, 1)  # kinks at x = 1 and 3, both sample points
    m = edge_metrics(u, x, h=h)
    assert m.jump == pytest.approx(h / length)
    assert m.rise_width == pytest.approx(0.8 * length)
    assert m.max_slope == pytest.approx(1 / length)
    assert m.max_curvature == pytest.approx(1 / (length * h))
    assert math.isnan(edge_metrics(torch.ones(5), torch.arange(5.0), h=1.0).rise_width)
    assert m.slope_width == pytest.approx(length)  # range 1 over slope 1/length


def test_slope_width_cannot_saturate_where_the_rise_width_does():
    # A ramp of length 8 seen through a window of 4 units: the 10-90 % width reads the window
    # (0.8 * 4), the slope width with the known step reads the ramp's true length.
    h, length = 0.05, 8.0
    x = torch.arange(-2.0, 2.0, h, dtype=torch.float64)
    u = (x / length + 0.5).clamp(0, 1)
    m = edge_metrics(u, x, h=h, contrast=1.0)
    assert m.rise_width == pytest.approx(0.8 * float(x[-1] - x[0]), rel=1e-6)
    assert m.slope_width == pytest.approx(length)
    # a sharper edge always reads narrower; a sampled unit step reads one pixel
    step = edge_metrics(torch.where(x > 0.01, 1.0, 0.0), x, h=h, contrast=1.0)
    assert step.slope_width == pytest.approx(h)
    assert edge_metrics(torch.ones(5), torch.arange(5.0), h=1.0, contrast=1.0).slope_width == (
        math.inf
    )
    with pytest.raises(SmoothscopeError, match="contrast"):
        edge_metrics(u, x, h=h, contrast=0.0)


def test_area_rasterization_of_discs_equals_brute_force_supersampling():
    scenes = random_discs(5, n0=16, discs=(2, 6), generator=_gen(3))
    for s, q in ((1, 8), (2, 4), (3, 3)):
        fast = rasterize(scenes, s, mode="area", supersample=8, dtype=torch.float64)
        c = (torch.arange(16 * s * q, dtype=torch.float64) + 0.5) / (s * q)
        for img, scene in zip(fast[:, 0], scenes, strict=True):
            brute = evaluate(scene, c[:, None], c[None, :]).reshape(16 * s, q, 16 * s, q)
            assert torch.equal(img, brute.mean(dim=(1, 3)))


def test_errors():
    scene = _disc()
    for bad in (0, -2, 1.5):
        with pytest.raises(SmoothscopeError, match="s:"):
            rasterize(scene, bad)
    with pytest.raises(SmoothscopeError, match="mode"):
        rasterize(scene, 1, mode="corner")
    with pytest.raises(SmoothscopeError, match="radii"):
        DiscScene(8, torch.tensor([[1.0, 1.0]]), torch.tensor([0.0]), torch.tensor([1.0]))
    with pytest.raises(SmoothscopeError, match="radius"):
        random_discs(1, n0=8, radius=(-1.0, 2.0))
    with pytest.raises(SmoothscopeError, match="radius"):
        random_discs(1, n0=8, radius=(1.0, 5.0))
    with pytest.raises(SmoothscopeError, match="sigma"):
        noisy(torch.zeros(3), -0.1)
    with pytest.raises(SmoothscopeError, match="y:"):
        cut(torch.zeros(4, 4), 1, y=5.0)
    with pytest.raises(SmoothscopeError, match="x0"):
        cut(torch.zeros(4, 4), 1, y=1.0, x0=2.0, x1=1.0)
    with pytest.raises(SmoothscopeError, match="h:"):
        edge_metrics(torch.zeros(4), torch.arange(4.0), h=0.0)
    with pytest.raises(SmoothscopeError, match="length"):
        edge_metrics(torch.zeros(4), torch.arange(3.0), h=1.0)
