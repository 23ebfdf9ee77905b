"""A user's inputs: .npy, .npz, .pt and image folders read alike, converted as documented."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from smoothscope import SmoothscopeError
from smoothscope.data.user_inputs import load_inputs


@pytest.fixture
def images() -> np.ndarray:
    """Five 8-bit grey images 12 × 10, as any of the formats stores them."""
    return np.random.default_rng(0).integers(0, 256, (5, 12, 10), dtype=np.uint8)


def _write_all(tmp_path, images):
    np.save(tmp_path / "x.npy", images)
    np.savez_compressed(tmp_path / "x.npz", images=images, labels=np.arange(5))
    torch.save({"images": torch.from_numpy(images)}, tmp_path / "x.pt")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return ["x.npy", "x.npz", "x.pt", "frames"]


def test_every_format_gives_the_same_images(tmp_path, images):
    names = _write_all(tmp_path, images)
    expected = torch.from_numpy(images).float()[:, None] / 255
    for name in names:
        got = load_inputs(str(tmp_path / name), n=4)
        assert got.images.shape == (4, 1, 12, 10) and got.images.dtype == torch.float32
        torch.testing.assert_close(got.images, expected[:4], rtol=0, atol=1e-7)
        assert got.source["sha256"] and got.source["path"].endswith(name)
    digest = hashlib.sha256((tmp_path / "x.npy").read_bytes()).hexdigest()
    assert load_inputs(str(tmp_path / "x.npy"), n=2).source["sha256"] == digest


def test_channels_and_layouts(tmp_path, images):
    np.save(tmp_path / "grey.npy", images.astype(np.float32) / 255)
    three = load_inputs(str(tmp_path / "grey.npy"), n=5, channels=3)
    assert three.images.shape == (5, 3, 12, 10) and "repeated" in three.notes[0]
    rgb = np.random.default_rng(1).random((4, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "rgb_last.npy", rgb)
    grey = load_inputs(str(tmp_path / "rgb_last.npy"), n=4, channels=1)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    torch.testing.assert_close(grey.images[:, 0], torch.from_numpy(luma), rtol=1e-6, atol=1e-6)
    assert any("channels-last" in n for n in grey.notes)
    np.save(tmp_path / "two.npy", np.zeros((3, 2, 8, 8), np.float32))
    with pytest.raises(SmoothscopeError, match="takes 3 channels, the inputs have 2"):
        load_inputs(str(tmp_path / "two.npy"), n=3, channels=3)
    with pytest.raises(SmoothscopeError, match="built for 32×32 images"):
        load_inputs(str(tmp_path / "grey.npy"), n=3, size=32)


def test_refusals(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 8, 8), np.float32))
    np.save(tmp_path / "nan.npy", np.full((3, 8, 8), np.nan, np.float32))
    np.save(tmp_path / "flat.npy", np.zeros(10, np.float32))
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4, 4)), b=np.zeros((2, 4, 4)))
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    (tmp_path / "empty").mkdir()
    cases = [
        ("one.npy", "at least 2 images"),
        ("nan.npy", "NaN or inf"),
        ("flat.npy", r"expected images \[N, H, W\]"),
        ("two.npz", "expected one array"),
        ("list.pt", "expected a tensor"),
        ("empty", "found none"),
        ("nowhere.png", "expected one of digits"),
    ]
    for name, message in cases:
        with pytest.raises(SmoothscopeError, match=message) as info:
            load_inputs(str(tmp_path / name), n=10)
        assert "\n" not in str(info.value)
