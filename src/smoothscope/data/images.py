"""Small image batches that need no download: natural-photo crops and handwritten digits.

Stand-ins for CIFAR10 inputs when probing networks at initialisation (paper C feeds CIFAR10
batches; its figures "look qualitatively similar on other datasets").

* :func:`natural_image_crops`: random square crops of scikit-learn's two bundled photos
  (``china.jpg`` and ``flower.jpg``, 427 × 640 RGB each).
* :func:`digit_images`: scikit-learn's 8 × 8 digits laid out as in
  :func:`smoothscope.data.digits.load_sklearn_digits`, channel-repeated.

Both return float32 ``[n, C, size, size]`` and draw all randomness from an explicit
``torch.Generator``, so equal generator states give equal batches.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .._errors import SmoothscopeError
from .._validate import check_generator, positive
from .digits import load_sklearn_digits

__all__ = ["PHOTO_SIZE", "digit_images", "natural_image_crops"]

PHOTO_SIZE = (427, 640)
"""(height, width) of scikit-learn's sample photos; crops can be at most 427 pixels wide."""

_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights for the grey version


@lru_cache(maxsize=2)
def _photos(grey: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The photos as float64 ``[2, C, 427, 640]`` in [0, 1] and their per-channel mean, std."""
    from sklearn.datasets import load_sample_images

    images = np.stack([np.asarray(im) for im in load_sample_images().images])  # [2, H, W, 3]
    x = torch.from_numpy(images.astype(np.float64) / 255.0).permute(0, 3, 1, 2).contiguous()
    if grey:
        weights = torch.tensor(_LUMA, dtype=torch.float64).view(1, 3, 1, 1)
        x = (x * weights).sum(1, keepdim=True)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3))
    return x, mean, std


def natural_image_crops(
    n: int, size: int = 32, *, generator: torch.Generator, grey: bool = False
) -> torch.Tensor:
    """Random square crops of scikit-learn's two sample photos, standardised per channel.

    For each of the n crops a photo is drawn uniformly from {china, flower}, then a top-left
    corner uniformly among all positions where the ``size × size`` window fits. Pixels are
    scaled to [0, 1] (``/ 255``) and standardised per channel with the fixed mean and standard
    deviation of that channel over all pixels of both photos (dataset statistics, as for
    CIFAR normalisation; not batch statistics, so a crop does not depend on n). With ``grey``
    the RGB image is first reduced to luma ``0.299 R + 0.587 G + 0.114 B``.

    Args:
        n: number of crops (≥ 1).
        size: side of the crops in pixels, 1..427.
        generator: source of the photo choices and crop positions.
        grey: one luma channel instead of RGB.

    Returns:
        float32 ``[n, 3, size, size]`` (``[n, 1, size, size]`` when ``grey``).
    """
    n = positive(n, "n", integer=True)
    size = positive(size, "size", integer=True)
    generator = check_generator(generator)
    if not isinstance(grey, bool):
        raise SmoothscopeError(f"grey: expected True or False, got {grey!r}")
    height, width = PHOTO_SIZE
    if size > min(height, width):
        raise SmoothscopeError(
            f"size: expected at most {min(height, width)} (the sample photos are "
            f"{height}×{width}), got {size}"
        )
    photos, mean, std = _photos(grey)
    which = torch.randint(0, photos.shape[0], (n,), generator=generator)
    top = torch.randint(0, height - size + 1, (n,), generator=generator)
    left = torch.randint(0, width - size + 1, (n,), generator=generator)
    crops = torch.stack(
        [
            photos[int(p), :, int(t) : int(t) + size, int(c) : int(c) + size]
            for p, t, c in zip(which, top, left, strict=True)
        ]
    )
    crops = (crops - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    return crops.to(torch.float32)


def digit_images(
    n: int, size: int = 32, *, generator: torch.Generator, channels: int = 3
) -> torch.Tensor:
    """Random scikit-learn digits (all classes) as ``channels``-channel images in [0, 1].

    Images come from ``load_sklearn_digits(digit=None, size=size)`` (8 × 8 digits resampled and
    centred on a ``size × size`` black frame, values in [0, 1]). They are drawn without
    replacement from a random permutation of the 1797 digits, a fresh permutation for each
    further 1797 when n is larger; the grey image is repeated over the channels.

    Args:
        n: number of images (≥ 1).
        size: side of the images in pixels (≥ 1).
        generator: source of the choice of digits.
        channels: channel count C (3 for CIFAR-shaped inputs).

    Returns:
        float32 ``[n, channels, size, size]``.
    """
    n = positive(n, "n", integer=True)
    size = positive(size, "size", integer=True)
    channels = positive(channels, "channels", integer=True)
    generator = check_generator(generator)
    pool = load_sklearn_digits(digit=None, size=size)
    total = pool.shape[0]
    rounds = -(-n // total)
    index = torch.cat([torch.randperm(total, generator=generator) for _ in range(rounds)])[:n]
    return pool[index].to(torch.float32).repeat(1, channels, 1, 1)
