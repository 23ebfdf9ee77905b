"""Ellipsoid renderer: closed-form shading, geometry, smoothness of paths, bad input."""

from __future__ import annotations

import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.data.ellipsoid import (
    light_path,
    random_light_paths,
    random_lights,
    render_ellipsoid,
)


def test_shape_range_and_background():
    frames = render_ellipsoid(torch.tensor([[0.0, 0.0], [5.0, -3.0]]), size=28)
    assert frames.shape == (2, 1, 28, 28) and frames.dtype == torch.float64
    assert frames.min() >= 0 and frames.max() <= 1
    # corners are background; the ellipse is taller (b = 4 along rows) than wide (a = 2.5)
    assert frames[:, :, 0, 0].eq(0).all()
    inside = frames[0, 0] > 0
    rows, cols = inside.any(1).sum().item(), inside.any(0).sum().item()
    assert rows == pytest.approx(28 * 8 / 10, abs=2) and cols == pytest.approx(28 * 5 / 10, abs=2)


def test_lambertian_closed_form_at_the_apex():
    """At the apex p = (0, 0, c) the normal is +z; the intensity is the cosine to the light."""
    size = 29  # odd, so that the central pixel centre is exactly (0, 0)
    light = torch.tensor([[3.0, 4.0, 20.0]])
    value = render_ellipsoid(light, size=size, field_of_view=5.0)[0, 0, 14, 14]
    v = torch.tensor([3.0, 4.0, 19.0], dtype=torch.float64)
    assert value.item() == pytest.approx((v[2] / v.norm()).item(), rel=1e-12)


def test_two_column_lights_default_to_height_20():
    xy = torch.tensor([[1.0, -2.0]])
    xyz = torch.tensor([[1.0, -2.0, 20.0]])
    torch.testing.assert_close(render_ellipsoid(xy), render_ellipsoid(xyz))


def test_orientation_light_from_the_north_west_lights_the_north_west():
    """Rows run along +y, columns along +x: a light at (-9, -9) brightens the top-left side."""
    frame = render_ellipsoid(torch.tensor([[-9.0, -9.0]]), size=28)[0, 0]
    assert frame[8, 10] > frame[19, 17]


def test_shading_is_smooth_away_from_the_terminator():
    """With the light overhead-ish no pixel is in shadow: the video has no nonsmoothness event."""
    path = light_path(torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]), 50)
    video = render_ellipsoid(path, size=16)
    from smoothscope.signals import nonsmoothness_maps

    assert nonsmoothness_maps(video).n_peaks.sum() == 0


def test_paths_are_straight_constant_speed_and_seeded():
    path = light_path(torch.tensor([-9.0, -9.0]), torch.tensor([9.0, 9.0]), 100)
    assert path.shape == (100, 2)
    steps = path.diff(dim=0)
    torch.testing.assert_close(steps, steps[:1].expand_as(steps))
    torch.testing.assert_close(path[0], torch.tensor([-9.0, -9.0], dtype=torch.float64))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    p1, p2 = random_light_paths(4, 10, generator=g1), random_light_paths(4, 10, generator=g2)
    assert p1.shape == (4, 10, 2) and torch.equal(p1, p2)
    assert p1.abs().max() <= 10


def test_random_lights_are_uniform_on_the_square():
    lights = random_lights(20000, generator=torch.Generator().manual_seed(0))
    assert lights.abs().max() <= 10
    assert lights.mean(0).abs().max() < 0.15  # sd of the mean: 5.77 / sqrt(20000) = 0.04
    assert lights.var(0).sub(100 / 3).abs().max() < 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: render_ellipsoid(torch.zeros(3)), r"\[N, 2\] or \[N, 3\]"),
        (lambda: render_ellipsoid(torch.zeros(2, 4)), r"\[N, 2\] or \[N, 3\]"),
        (lambda: render_ellipsoid(torch.tensor([[0.0, 0.0, 0.5]])), "above the ellipsoid"),
        (lambda: render_ellipsoid(torch.zeros(1, 2), size=0), "size"),
        (lambda: render_ellipsoid(torch.zeros(1, 2), axes=(1.0, -1.0, 1.0)), "axes"),
        (lambda: light_path(torch.zeros(2), torch.zeros(2), 2), "at least 3"),
        (lambda: light_path(torch.zeros(2), torch.zeros(3)), "equal shapes"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(SmoothscopeError, match=message):
        call()
