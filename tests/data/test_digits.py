"""Digit templates, rotations and the noise-ramp videos of paper A, Appendix A."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch

from smoothscope._errors import SmoothscopeError
from smoothscope.data.digits import (
    load_digit_templates,
    load_mnist_idx,
    load_sklearn_digits,
    noise_ramp_alpha,
    noise_ramp_videos,
    rotate,
    rotation_dataset,
)

LABELS = np.array([7, 1, 7, 3, 7], dtype=np.uint8)


def _images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(len(LABELS), 28, 28), dtype=np.uint8)


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _write_pair(folder, *, prefix="train", gz=False, dotted=False, images=None, labels=None):
    images = _images() if images is None else images
    labels = LABELS if labels is None else labels
    sep = "." if dotted else "-"
    names = (f"{prefix}-images{sep}idx3-ubyte", f"{prefix}-labels{sep}idx1-ubyte")
    paths = []
    for name, data in zip(
        names, (_idx_bytes(images, 0x803), _idx_bytes(labels, 0x801)), strict=True
    ):
        path = folder / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(path)
    return paths


# --- MNIST IDX -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_round_trip_and_digit_filter(tmp_path, gz):
    _write_pair(tmp_path, gz=gz)
    images = _images()
    everything = load_mnist_idx(tmp_path, digit=None)
    assert everything.dtype == torch.float64 and everything.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal((everything[:, 0] * 255).round().numpy(), images)
    assert float(everything.min()) >= 0.0 and float(everything.max()) <= 1.0
    sevens = load_mnist_idx(tmp_path)  # digit 7 by default
    assert sevens.shape == (3, 1, 28, 28)
    torch.testing.assert_close(sevens, everything[torch.tensor([0, 2, 4])], rtol=0, atol=0)
    assert load_mnist_idx(tmp_path, digit=3).shape == (1, 1, 28, 28)


def test_mnist_images_file_path_test_split_and_dotted_names(tmp_path):
    images_file, _ = _write_pair(tmp_path, prefix="t10k", gz=True, dotted=True)
    assert load_mnist_idx(tmp_path, split="test").shape == (3, 1, 28, 28)
    assert load_mnist_idx(images_file, digit=1).shape == (1, 1, 28, 28)
    with pytest.raises(SmoothscopeError, match="train-images-idx3-ubyte"):
        load_mnist_idx(tmp_path, split="train")


def test_mnist_errors(tmp_path):
    with pytest.raises(SmoothscopeError, match="path: expected an existing"):
        load_mnist_idx(tmp_path / "nowhere")
    images_file, labels_file = _write_pair(tmp_path)
    with pytest.raises(
        SmoothscopeError, match=r"digit: expected an integer in 0\.\.9 or None, got 11"
    ):
        load_mnist_idx(tmp_path, digit=11)
    with pytest.raises(SmoothscopeError, match=r"digit 5 .* got none"):
        load_mnist_idx(tmp_path, digit=5)
    with pytest.raises(SmoothscopeError, match="split"):
        load_mnist_idx(tmp_path, split="valid")

    labels_file.unlink()
    with pytest.raises(SmoothscopeError, match="labels"):
        load_mnist_idx(tmp_path)

    labels_file.write_bytes(_idx_bytes(LABELS[:4], 0x801))
    with pytest.raises(SmoothscopeError, match=r"got 4 labels .* and 5 images"):
        load_mnist_idx(tmp_path)

    labels_file.write_bytes(_idx_bytes(LABELS, 0x803))  # labels with the images magic
    with pytest.raises(SmoothscopeError, match="magic 0x00000801"):
        load_mnist_idx(tmp_path)

    labels_file.write_bytes(_idx_bytes(LABELS, 0x801))
    images_file.write_bytes(_idx_bytes(_images(), 0x803)[:-10])
    with pytest.raises(SmoothscopeError, match="truncated"):
        load_mnist_idx(tmp_path)
    images_file.write_bytes(gzip.compress(_idx_bytes(_images(), 0x803))[:-20])
    with pytest.raises(SmoothscopeError, match="gzip"):
        load_mnist_idx(tmp_path)
    images_file.write_bytes(_idx_bytes(_images(), 0x803)[:9])  # inside the header
    with pytest.raises(SmoothscopeError, match="truncated"):
        load_mnist_idx(tmp_path)
    images_file.unlink()
    with pytest.raises(SmoothscopeError, match="train-images-idx3-ubyte"):
        load_mnist_idx(tmp_path)


def test_templates_from_mnist_with_random_limit(tmp_path):
    _write_pair(tmp_path, gz=True)
    everything, source = load_digit_templates(tmp_path, digit=None)
    assert source.startswith("MNIST IDX files at ") and everything.shape[0] == 5
    first, _ = load_digit_templates(tmp_path, digit=None, limit=2)
    torch.testing.assert_close(first, everything[:2], rtol=0, atol=0)
    a, _ = load_digit_templates(
        tmp_path, digit=None, limit=3, generator=torch.Generator().manual_seed(1)
    )
    b, _ = load_digit_templates(
        tmp_path, digit=None, limit=3, generator=torch.Generator().manual_seed(1)
    )
    assert a.shape == (3, 1, 28, 28)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # every kept template is one of the originals
    dist = (a.flatten(1)[:, None] - everything.flatten(1)[None]).abs().amax(-1)
    assert bool((dist.amin(1) == 0).all())
    with pytest.raises(SmoothscopeError, match="limit"):
        load_digit_templates(tmp_path, limit=0)


# --- scikit-learn digits ---------------------------------------------------------------------


def test_sklearn_digits_layout():
    x = load_sklearn_digits()
    assert x.dtype == torch.float64 and x.shape[1:] == (1, 28, 28) and x.shape[0] > 100
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and float(x.max()) > 0.9
    border = torch.ones(28, 28, dtype=torch.bool)
    border[4:24, 4:24] = False
    assert float(x[..., border].abs().max()) < 1e-12
    # the ink's centre of mass is near the image centre (13.5, 13.5)
    rows = torch.arange(28, dtype=torch.float64)
    mass = x.sum(dim=(1, 2, 3))
    row_c = (x.sum(dim=(1, 3)) * rows).sum(-1) / mass
    col_c = (x.sum(dim=(1, 2)) * rows).sum(-1) / mass
    assert abs(float(row_c.mean()) - 13.5) < 2.0 and abs(float(col_c.mean()) - 13.5) < 2.0
    assert load_sklearn_digits(digit=None, size=14).shape[1:] == (1, 14, 14)
    templates, source = load_digit_templates()
    assert source == "scikit-learn's bundled 8x8 digits resampled to 28x28"
    torch.testing.assert_close(templates, x, rtol=0, atol=0)
    with pytest.raises(SmoothscopeError, match="digit"):
        load_sklearn_digits(digit=-1)
    with pytest.raises(SmoothscopeError, match="size"):
        load_sklearn_digits(size=0)


# --- rotations -------------------------------------------------------------------------------


def _batch(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def test_rotate_zero_and_right_angles():
    x = _batch(3, 2, 9, 9)
    torch.testing.assert_close(rotate(x, torch.zeros(3)), x, rtol=0, atol=1e-12)
    for k in (1, -1, 2):
        expected = torch.rot90(x, k, dims=(-2, -1))
        got = rotate(x, torch.full((3,), 90.0 * k))
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    wide = _batch(2, 1, 4, 7)  # non-square: 180° is a flip of both axes
    flipped = torch.flip(wide, dims=(-2, -1))
    torch.testing.assert_close(rotate(wide, 180.0), flipped, rtol=0, atol=1e-12)


def test_rotate_constant_stays_constant_in_central_disc():
    size = 28
    x = torch.full((4, 1, size, size), 0.6, dtype=torch.float64)
    out = rotate(x, torch.tensor([13.0, -27.0, 45.0, 171.0]))
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - c) ** 2 + (xx - c) ** 2).sqrt() < size / 2 - 1
    torch.testing.assert_close(
        out[..., disc], torch.full_like(out[..., disc], 0.6), rtol=0, atol=1e-12
    )
    assert float(out[..., 0, 0].abs().max()) < 0.6  # corners fill with zeros


def test_rotation_dataset_angles_and_layout():
    templates = _batch(3, 1, 12, 12)
    images, angles = rotation_dataset(
        templates, 60, max_angle=30.0, generator=torch.Generator().manual_seed(5)
    )
    assert images.shape == (180, 1, 12, 12) and angles.shape == (180,)
    assert images.dtype == angles.dtype == torch.float64
    assert float(angles.abs().max()) <= 30.0
    assert abs(float(angles.mean())) < 5.0  # sd of the mean of 180 U(-30, 30) is ~1.3
    assert abs(float(angles.std()) - 30.0 / math.sqrt(3.0)) < 3.0
    expected = rotate(templates.repeat_interleave(60, dim=0), angles)
    torch.testing.assert_close(images, expected, rtol=0, atol=1e-12)
    again, angles_again = rotation_dataset(
        templates, 60, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(again, images, rtol=0, atol=0)
    torch.testing.assert_close(angles_again, angles, rtol=0, atol=0)
    one, _ = rotation_dataset(templates[0], 2, generator=torch.Generator().manual_seed(5))
    assert one.shape == (2, 1, 12, 12)


def test_rotation_bad_inputs():
    x = _batch(2, 1, 5, 5)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(SmoothscopeError, match="angles_deg"):
        rotate(x, torch.zeros(3))
    with pytest.raises(SmoothscopeError, match="images"):
        rotate(x[0, 0], torch.zeros(1))
    with pytest.raises(SmoothscopeError, match="angles_deg"):
        rotate(x, torch.tensor([0.0, float("nan")]))
    with pytest.raises(SmoothscopeError, match="n_angles"):
        rotation_dataset(x, 0, generator=g)
    with pytest.raises(SmoothscopeError, match="max_angle"):
        rotation_dataset(x, 2, max_angle=-1.0, generator=g)
    with pytest.raises(SmoothscopeError, match="generator"):
        rotation_dataset(x, 2, generator=0)


# --- noise ramp (eq. 9) ----------------------------------------------------------------------


def test_noise_ramp_alpha_closed_form():
    alpha = noise_ramp_alpha()
    assert alpha.dtype == torch.float64 and alpha.shape == (100,)
    assert math.isclose(float(alpha[0]), -0.0098, abs_tol=1e-15)
    assert float(alpha[49]) == 0.0
    assert math.isclose(float(alpha[99]), 0.01, abs_tol=1e-15)
    t = torch.arange(1, 101, dtype=torch.float64)
    torch.testing.assert_close(alpha, 1e-2 * (0.02 * t - 1), rtol=0, atol=1e-15)


def test_noise_ramp_videos():
    templates = _batch(2, 1, 6, 6)
    videos = noise_ramp_videos(templates, generator=torch.Generator().manual_seed(7))
    assert videos.dtype == torch.float64 and videos.shape == (2, 100, 1, 6, 6)
    second = videos[:, 2:] - 2 * videos[:, 1:-1] + videos[:, :-2]
    assert float(second.abs().max()) < 1e-12
    torch.testing.assert_close(videos[:, 49], templates, rtol=0, atol=1e-15)
    # the noise image is per template, not shared, and has roughly unit variance
    noise = (videos[:, 99] - templates) / 0.01
    assert not torch.allclose(noise[0], noise[1])
    assert 0.5 < float(noise.std()) < 1.5
    again = noise_ramp_videos(templates, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(again, videos, rtol=0, atol=0)
    one = noise_ramp_videos(templates[0], frames=5, generator=torch.Generator().manual_seed(7))
    assert one.shape == (1, 5, 1, 6, 6)


def test_noise_ramp_bad_inputs():
    g = torch.Generator().manual_seed(0)
    x = _batch(1, 1, 4, 4)
    with pytest.raises(SmoothscopeError, match="frames: expected at least 3"):
        noise_ramp_videos(x, frames=2, generator=g)
    with pytest.raises(SmoothscopeError, match="frames"):
        noise_ramp_alpha(0)
    with pytest.raises(SmoothscopeError, match="templates"):
        noise_ramp_videos(x[0, 0], generator=g)
    with pytest.raises(SmoothscopeError, match="templates"):
        noise_ramp_videos(torch.full((1, 1, 2, 2), float("inf")), generator=g)
    with pytest.raises(SmoothscopeError, match="generator"):
        noise_ramp_videos(x, generator=None)
