"""Handwritten-digit templates, random rotations and the noise-ramp videos (paper A, Appendix A).

Paper A's appendix rotates each MNIST "7" (6265 training images) by 60 angles drawn iid from
U(-30°, 30°) to train autoencoders, then builds smooth videos by adding a linearly growing
Gaussian noise image to a template (eq. 9)::

    I(t) = I0 + α(t) · Ie,    α(t) = 1e-2 · (0.02 t − 1),   t = 1, …, 100.

MNIST is read from IDX files when a copy is at hand (:func:`load_mnist_idx`); otherwise
scikit-learn's bundled 8×8 digits, resampled and padded to the MNIST layout, stand in
(:func:`load_sklearn_digits`). :func:`load_digit_templates` picks between the two and says which
one it used.

Image layout: ``[N, C, H, W]`` with row 0 at the top of the displayed image. Every tensor returned
here is float64; randomness comes only from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, check_generator, check_rank, positive

__all__ = [
    "MAX_ANGLE",
    "N_ANGLES",
    "load_digit_templates",
    "load_mnist_idx",
    "load_sklearn_digits",
    "noise_ramp_alpha",
    "noise_ramp_videos",
    "rotate",
    "rotation_dataset",
    "sklearn_digits_dataset",
]

N_ANGLES = 60
"""Rotations per template in paper A's training and validation sets."""
MAX_ANGLE = 30.0
"""Angles are drawn from U(-MAX_ANGLE, MAX_ANGLE) degrees (paper A, Appendix A)."""

_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_ROTATION_CHUNK = 1 << 16  # images rotated per grid_sample call in rotation_dataset


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _check_digit(digit: object) -> int | None:
    """Return ``digit`` as an int in 0..9, or None; raise otherwise."""
    if digit is None:
        return None
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise SmoothscopeError(f"digit: expected an integer in 0..9 or None, got {digit!r}")
    return int(digit)


def _check_frames(frames: object) -> int:
    frames = positive(frames, "frames", integer=True)
    if frames < 3:
        raise SmoothscopeError(f"frames: expected at least 3 frames, got {frames}")
    return frames


def _image_batch(x: object, name: str) -> torch.Tensor:
    """``x`` as a finite float64 ``[N, C, H, W]`` batch; a rank-3 ``[C, H, W]`` is one image."""
    t = as_tensor(x, name)
    check_rank(t, (3, 4), name, "[N, C, H, W] or [C, H, W]")
    t = t.to(torch.float64)
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.numel() == 0:
        raise SmoothscopeError(f"{name}: expected a non-empty batch, got shape {tuple(t.shape)}")
    check_finite(t, name)
    return t


# --------------------------------------------------------------------------------------------
# MNIST IDX files
# --------------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its suffix)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SmoothscopeError(f"path: could not read {str(path)!r}: {exc.strerror}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise SmoothscopeError(
                f"path: expected a valid gzip file, got a corrupt or truncated {str(path)!r}"
            ) from exc
    return raw


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes with the given magic number and number of dims."""
    return _parse_idx(_read_bytes(path), path, magic, ndim)


def _parse_idx(data: bytes, path: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse the (gunzipped) bytes of an IDX file read from ``path`` (named in errors)."""
    header = 4 * (1 + ndim)
    if len(data) < 4:
        raise SmoothscopeError(
            f"path: expected an IDX file of at least {header} bytes, got {len(data)} bytes "
            f"in {str(path)!r}"
        )
    found = int(np.frombuffer(data, dtype=">u4", count=1)[0])
    if found != magic:
        raise SmoothscopeError(
            f"path: expected IDX magic 0x{magic:08X} in {str(path)!r}, got 0x{found:08X}"
        )
    if len(data) < header:
        raise SmoothscopeError(
            f"path: expected an IDX header of {header} bytes, got {len(data)} bytes "
            f"(truncated file {str(path)!r})"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(dims)
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes in"
        raise SmoothscopeError(
            f"path: expected {expected} data bytes for dims {dims}, got {got} "
            f"({what} file {str(path)!r})"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _first_existing(folder: Path, names: list[str]) -> Path | None:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _locate_idx(path: Path, split: str) -> tuple[Path, Path]:
    """Find the (images, labels) IDX files for ``split`` in a folder, or beside an images file."""
    if path.is_dir():
        prefix = _SPLIT_PREFIX[split]
        image_names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"]
        label_names = [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"]
        images = _first_existing(path, image_names)
        if images is None:
            raise SmoothscopeError(
                f"path: expected {image_names[0]}[.gz] (or {image_names[1]}[.gz]) "
                f"in {str(path)!r}, found none"
            )
        labels = _first_existing(path, label_names)
        if labels is None:
            raise SmoothscopeError(
                f"path: expected {label_names[0]}[.gz] (or {label_names[1]}[.gz]) "
                f"in {str(path)!r}, found none"
            )
        return images, labels
    # An images file: the labels file is its namesake with images→labels and idx3→idx1.
    name = path.name
    base = name[:-3] if name.endswith(".gz") else name
    if "images" not in base or "idx3" not in base:
        raise SmoothscopeError(
            f"path: expected a folder or an images file named like "
            f"'train-images-idx3-ubyte[.gz]', got {str(path)!r}"
        )
    label_base = base.replace("images", "labels").replace("idx3", "idx1")
    labels = _first_existing(path.parent, [label_base])
    if labels is None:
        raise SmoothscopeError(
            f"path: expected the labels file {label_base}[.gz] beside {str(path)!r}, found none"
        )
    return path, labels


def load_mnist_idx(
    path: str | os.PathLike[str], *, digit: int | None = 7, split: str = "train"
) -> torch.Tensor:
    """Read MNIST images of one digit (or all) from IDX files, plain or gzipped.

    Args:
        path: a folder holding ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
            (``t10k-…`` for ``split="test"``; each optionally ``.gz``, and the dotted spelling
            ``train-images.idx3-ubyte`` is accepted too), or the images file itself with its
            labels file beside it (then ``split`` is not used to pick files).
        digit: keep the images of this digit (0..9); None keeps all.
        split: ``"train"`` or ``"test"``.

    Returns:
        float64 images of shape ``[N, 1, rows, cols]`` (``[N, 1, 28, 28]`` for MNIST) with
        values ``pixel / 255`` in [0, 1], in file order.

    Raises:
        SmoothscopeError: missing path or files, a bad magic number, a truncated file, image and
            label counts that differ, a digit outside 0..9, or no image of that digit.
    """
    digit = _check_digit(digit)
    if split not in _SPLIT_PREFIX:
        raise SmoothscopeError(f"split: expected 'train' or 'test', got {split!r}")
    try:
        path = Path(path)
    except TypeError as exc:
        raise SmoothscopeError(
            f"path: expected a path to MNIST IDX files, got {type(path).__name__}"
        ) from exc
    if not path.exists():
        raise SmoothscopeError(f"path: expected an existing folder or file, got {str(path)!r}")
    images_path, labels_path = _locate_idx(path, split)
    images = _read_idx(images_path, _IMAGES_MAGIC, 3)
    labels = _read_idx(labels_path, _LABELS_MAGIC, 1)
    if images.shape[0] != labels.shape[0]:
        raise SmoothscopeError(
            f"path: expected as many labels as images, got {labels.shape[0]} labels in "
            f"{labels_path.name!r} and {images.shape[0]} images in {images_path.name!r}"
        )
    if digit is not None:
        images = images[labels == digit]
        if images.shape[0] == 0:
            raise SmoothscopeError(
                f"digit: expected at least one image of digit {digit} in {images_path.name!r}, "
                f"got none"
            )
    out = torch.from_numpy(images.astype(np.float64)) / 255.0
    return out.unsqueeze(1)


# --------------------------------------------------------------------------------------------
# scikit-learn's 8×8 digits
# --------------------------------------------------------------------------------------------


def load_sklearn_digits(*, digit: int | None = 7, size: int = 28) -> torch.Tensor:
    """scikit-learn's bundled 8×8 digits laid out like MNIST (the fallback when MNIST is absent).

    The 8×8 images (values 0..16) are scaled to [0, 1], resampled bilinearly
    (``align_corners=False``) to a square box of side ``round(20/28 · size)`` (20×20 for
    ``size=28``, the box MNIST fits its digits into) and zero-padded to ``size × size`` with the
    box in the middle (4 blank pixels on every side for 28). MNIST centres each digit by its
    centre of mass; here the 8×8 frame, whose digits are already roughly centred, is centred as
    a whole.

    Args:
        digit: keep the images of this digit (0..9); None keeps all.
        size: side of the output images in pixels.

    Returns:
        float64 images of shape ``[N, 1, size, size]`` clamped to [0, 1] (N = 179 for digit 7).
    """
    from sklearn.datasets import load_digits

    digit = _check_digit(digit)
    size = positive(size, "size", integer=True)
    box = max(1, round(size * 20 / 28))
    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    if digit is not None:
        images = images[np.asarray(bunch.target) == digit]
    x = torch.from_numpy(images).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(box, box), mode="bilinear", align_corners=False)
    before = (size - box) // 2
    after = size - box - before
    x = F.pad(x, (before, after, before, after))
    return x.clamp(0.0, 1.0)


def sklearn_digits_dataset(*, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """All of scikit-learn's bundled digits with their labels, laid out as in
    :func:`load_sklearn_digits` (a classification set that needs no download).

    Returns:
        ``(images, labels)``: float64 ``[1797, 1, size, size]`` in [0, 1] and int64 ``[1797]``.
    """
    from sklearn.datasets import load_digits

    images = load_sklearn_digits(digit=None, size=size)
    labels = torch.as_tensor(np.asarray(load_digits().target), dtype=torch.int64)
    return images, labels


def load_digit_templates(
    mnist_path: str | os.PathLike[str] | None = None,
    *,
    digit: int | None = 7,
    limit: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, str]:
    """Template images of one digit: MNIST when a path is given, else scikit-learn's digits.

    Args:
        mnist_path: MNIST IDX folder or images file (see :func:`load_mnist_idx`, training split);
            None uses :func:`load_sklearn_digits` at 28×28.
        digit: the digit (0..9), or None for all.
        limit: keep at most this many templates: a random subset drawn with ``generator`` (kept
            in file order), or the first ``limit`` when ``generator`` is None. A limit above the
            number available keeps them all.
        generator: source of randomness for the subset.

    Returns:
        ``(templates, source)``: float64 templates ``[N, 1, 28, 28]`` in [0, 1], and a phrase
        naming the source, ``"MNIST IDX files at <path>"`` or
        ``"scikit-learn's bundled 8x8 digits resampled to 28x28"``.
    """
    if limit is not None:
        limit = positive(limit, "limit", integer=True)
    if generator is not None:
        check_generator(generator)
    if mnist_path is not None:
        templates = load_mnist_idx(mnist_path, digit=digit, split="train")
        source = f"MNIST IDX files at {os.fspath(mnist_path)}"
    else:
        templates = load_sklearn_digits(digit=digit, size=28)
        source = "scikit-learn's bundled 8x8 digits resampled to 28x28"
    n = templates.shape[0]
    if limit is not None and limit < n:
        if generator is None:
            templates = templates[:limit]
        else:
            keep = torch.randperm(n, generator=generator)[:limit].sort().values
            templates = templates[keep]
    return templates, source


# --------------------------------------------------------------------------------------------
# rotations
# --------------------------------------------------------------------------------------------


def rotate(images: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre by its own angle (bilinear, zero fill).

    Sign convention: a positive angle turns the image counter-clockwise as displayed with row 0
    at the top, so ``rotate(x, 90)`` equals ``torch.rot90(x, 1, dims=(-2, -1))``. The rotation
    is done in pixel units (also right for non-square images) about the centre
    ``((W-1)/2, (H-1)/2)`` of the pixel grid; points that come from outside the image are 0.
    Uses one ``affine_grid``/``grid_sample`` call with ``align_corners=False``, so a zero angle
    returns the input (to rounding) and multiples of 90° on square images move pixel centres
    onto pixel centres.

    Args:
        images: ``[N, C, H, W]`` images.
        angles_deg: ``[N]`` angles in degrees (a scalar applies to every image).

    Returns:
        float64 rotated images ``[N, C, H, W]``.
    """
    x = as_tensor(images, "images")
    check_rank(x, (4,), "images", "[N, C, H, W]")
    x = x.to(torch.float64)
    check_finite(x, "images")
    angles = as_tensor(angles_deg, "angles_deg").to(torch.float64)
    if angles.dim() == 0:
        angles = angles.expand(x.shape[0])
    if angles.shape != (x.shape[0],):
        raise SmoothscopeError(
            f"angles_deg: expected shape [N] = [{x.shape[0]}] (one angle per image), "
            f"got {tuple(angles.shape)}"
        )
    check_finite(angles, "angles_deg")
    n, c, h, w = x.shape
    if n == 0:
        return x.clone()
    rad = torch.deg2rad(angles)
    cos, sin = torch.cos(rad), torch.sin(rad)
    # Output pixel q (x right, y down, in pixel units about the centre) samples the input at
    # R(-θ) q, written in these y-down coordinates: [[cos, -sin], [sin, cos]]. affine_grid works
    # in normalised coordinates x_n = x / (W/2), y_n = y / (H/2), hence the aspect factors.
    theta = torch.zeros(n, 2, 3, dtype=torch.float64, device=x.device)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * (h / w)
    theta[:, 1, 0] = sin * (w / h)
    theta[:, 1, 1] = cos
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotation_dataset(
    templates: torch.Tensor,
    n_angles: int,
    *,
    max_angle: float = MAX_ANGLE,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate every template by ``n_angles`` angles drawn iid from U(-max_angle, max_angle).

    Paper A uses 60 angles within ±30° for each of 6265 MNIST sevens (training set) and
    another 60 per template for validation. The work is done in chunks of templates to bound
    the memory of the sampling grids.

    Args:
        templates: ``[N, C, H, W]`` templates (``[C, H, W]`` for one).
        n_angles: rotations per template.
        max_angle: half-width of the angle range in degrees.
        generator: source of the angles.

    Returns:
        ``(images, angles)``: float64 images ``[N * n_angles, C, H, W]`` with the rotations of
        template ``i`` at rows ``i * n_angles … (i + 1) * n_angles - 1``, and their angles in
        degrees ``[N * n_angles]``.
    """
    x = _image_batch(templates, "templates")
    n_angles = positive(n_angles, "n_angles", integer=True)
    max_angle = float(positive(max_angle, "max_angle"))
    generator = check_generator(generator)
    n, c, h, w = x.shape
    u = torch.rand(n, n_angles, generator=generator, dtype=torch.float64)
    angles = ((2.0 * u - 1.0) * max_angle).reshape(-1).to(x.device)
    out = torch.empty(n * n_angles, c, h, w, dtype=torch.float64, device=x.device)
    per_chunk = max(1, _ROTATION_CHUNK // n_angles)
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        rows = slice(start * n_angles, stop * n_angles)
        batch = x[start:stop].repeat_interleave(n_angles, dim=0)
        out[rows] = rotate(batch, angles[rows])
    return out, angles


# --------------------------------------------------------------------------------------------
# noise-ramp videos (eq. 9)
# --------------------------------------------------------------------------------------------


def noise_ramp_alpha(frames: int = 100) -> torch.Tensor:
    """The noise weight ``α(t) = 1e-2 · (0.02 t − 1)`` of paper A's eq. 9 for ``t = 1..frames``.

    Computed as the equal ``2e-4 · (t − 50)`` so that ``α(50)`` is exactly 0. It rises by
    ``2e-4`` per frame: ``α(1) = -0.0098``, ``α(50) = 0``, ``α(100) = 0.01``.

    Args:
        frames: T ≥ 3 frames.

    Returns:
        float64 ``[T]``.
    """
    frames = _check_frames(frames)
    t = torch.arange(1, frames + 1, dtype=torch.float64)
    return 2e-4 * (t - 50.0)


def noise_ramp_videos(
    templates: torch.Tensor, *, frames: int = 100, generator: torch.Generator
) -> torch.Tensor:
    """Smooth videos ``I(t) = I0 + α(t) · Ie`` of paper A's eq. 9, one per template.

    Each template ``I0`` gets its own noise image ``Ie`` with pixels iid N(0, 1); the video is
    linear in ``t`` pixel by pixel, so its second difference in time is zero up to rounding, and
    frame ``t = 50`` (index 49) is the template itself. Values are not clamped and may leave
    [0, 1] by up to ``0.01 · |Ie|``.

    Args:
        templates: ``[N, C, H, W]`` templates (``[C, H, W]`` for one), normally ``[N, 1, 28, 28]``.
        frames: T ≥ 3 frames.
        generator: source of the noise images.

    Returns:
        float64 videos ``[N, T, C, H, W]``.
    """
    x = _image_batch(templates, "templates")
    frames = _check_frames(frames)
    generator = check_generator(generator)
    alpha = noise_ramp_alpha(frames).to(x.device)
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x.device)
    return x.unsqueeze(1) + alpha[None, :, None, None, None] * noise.unsqueeze(1)
