"""Download-free image batches: photo crops and digits (shapes, determinism, errors)."""

from __future__ import annotations

import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.data import images
from smoothscope.data.digits import load_sklearn_digits
from smoothscope.data.images import digit_images, natural_image_crops


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_crops_shape_dtype_finite():
    x = natural_image_crops(5, 32, generator=_gen(0))
    assert x.shape == (5, 3, 32, 32)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert natural_image_crops(2, 17, generator=_gen(0), grey=True).shape == (2, 1, 17, 17)


def test_crops_deterministic_and_seed_dependent():
    a = natural_image_crops(4, 24, generator=_gen(1))
    b = natural_image_crops(4, 24, generator=_gen(1))
    c = natural_image_crops(4, 24, generator=_gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_crops_are_standardised_windows_of_the_photos():
    photos, mean, std = images._photos(False)
    full = natural_image_crops(16, 300, generator=_gen(0)).double()
    # A crop is a window of one photo: undoing the standardisation lands in [0, 1]
    # on the 1/255 grid.
    raw = full * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)
    assert raw.min() > -1e-5 and raw.max() < 1 + 1e-5
    assert torch.allclose(raw * 255, (raw * 255).round(), atol=1e-3)
    # The standardisation uses the statistics of both whole photos, channel by channel.
    torch.testing.assert_close(mean, photos.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(std, photos.std(dim=(0, 2, 3)))
    assert photos.shape == (2, 3, *images.PHOTO_SIZE)


def test_grey_crops_are_the_luma_of_the_rgb_crops():
    _, mean, std = images._photos(False)
    _, gmean, gstd = images._photos(True)
    rgb = natural_image_crops(3, 16, generator=_gen(5)).double()
    grey = natural_image_crops(3, 16, generator=_gen(5), grey=True).double()
    raw = rgb * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)
    luma = 0.299 * raw[:, 0:1] + 0.587 * raw[:, 1:2] + 0.114 * raw[:, 2:3]
    torch.testing.assert_close(grey, (luma - gmean) / gstd, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n"),
        ({"n": 2, "size": 428}, "size"),
        ({"n": 2, "size": 0}, "size"),
        ({"n": 2, "grey": "yes"}, "grey"),
    ],
)
def test_crop_errors(kwargs, match):
    with pytest.raises(SmoothscopeError, match=match):
        natural_image_crops(generator=_gen(0), **kwargs)


def test_crop_needs_a_generator():
    with pytest.raises(SmoothscopeError, match="generator"):
        natural_image_crops(2, generator=None)


def test_digits_shape_range_channels_and_determinism():
    x = digit_images(6, 32, generator=_gen(0))
    assert x.shape == (6, 3, 32, 32)
    assert x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert torch.equal(x, digit_images(6, 32, generator=_gen(0)))
    assert not torch.equal(x, digit_images(6, 32, generator=_gen(1)))
    assert digit_images(2, 16, generator=_gen(0), channels=1).shape == (2, 1, 16, 16)


def test_digits_without_replacement_up_to_the_pool_size():
    pool = load_sklearn_digits(digit=None, size=12).float()
    x = digit_images(pool.shape[0], 12, generator=_gen(0), channels=1)
    key = lambda t: t.flatten(1).sum(1).sort().values  # noqa: E731
    torch.testing.assert_close(key(x), key(pool))
    assert digit_images(pool.shape[0] + 3, 12, generator=_gen(0)).shape[0] == pool.shape[0] + 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 0}, "n"), ({"n": 1, "size": -1}, "size"), ({"n": 1, "channels": 0}, "channels")],
)
def test_digit_errors(kwargs, match):
    with pytest.raises(SmoothscopeError, match=match):
        digit_images(generator=_gen(0), **kwargs)
