"""A user's inputs for ``analyze`` and ``profile``, read alike by every command and the API.

:func:`load_inputs` accepts a built-in set (:data:`BUILT_IN`, test images through
:func:`smoothscope.data.real.load_images`), a ``.npy`` or ``.npz`` array, a ``.pt`` tensor
(``torch.load(weights_only=True)``: an untrusted file cannot run code) or a folder of images
(PNG, JPEG, BMP, TIFF, WebP, GIF's first frame). Arrays are ``[N, H, W]``, ``[N, C, H, W]`` or
``[N, H, W, C]`` (C ≤ 4 last, read as channels-last with a note); ``uint8`` values are divided
by 255 like image files. Grey inputs are repeated to a model's channels, RGB(A) becomes grey by
BT.601 luma for a one-channel model, an alpha channel is dropped; any other mismatch is an
error. Every header is checked before memory is taken (:func:`smoothscope._io.load_array`, a
pixel limit for images), and the result records where the inputs came from and their sha256.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._errors import SmoothscopeError
from .._io import MAX_ARRAY_BYTES, _check_archive, load_array

__all__ = ["BUILT_IN", "IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "Inputs", "load_inputs"]

BUILT_IN = ("digits", "auto", "cifar10", "fashion-mnist", "mnist")
"""Built-in sets: scikit-learn's digits (bundled), or the datasets of
:mod:`smoothscope.data.real` (``auto`` picks CIFAR-10, else Fashion-MNIST, else the digits)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest image (in pixels) read from a folder: 64 MiB per image once decoded to float32."""
LUMA = (0.299, 0.587, 0.114)


@dataclass
class Inputs:
    """Images ``[N, C, H, W]`` (float32) and where they came from.

    Attributes:
        images: the tensor.
        description: one line for a table or a card.
        source: ``{"source", "path", "sha256", "key", "n", "shape"}`` (path and sha256 for a
            file or folder, the dataset for a built-in set).
        notes: conversions applied (channels repeated, luma, channels-last, scaling).
    """

    images: torch.Tensor
    description: str
    source: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if len(paths) > 1:
            digest.update(path.name.encode("utf-8", "surrogateescape") + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _image(path: Path, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise SmoothscopeError(
                        f"{name}: {path.name} is {width}×{height} pixels; images of at most "
                        f"{MAX_IMAGE_PIXELS:,} pixels are read"
                    )
                if img.mode in ("I;16", "I;16B", "I;16L"):
                    return np.asarray(img, dtype=np.float32) / 65535.0
                grey = img.mode in ("1", "L", "LA", "I", "F")
                return np.asarray(img.convert("L" if grey else "RGB"), dtype=np.float32) / 255
    except SmoothscopeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SmoothscopeError(
            f"{name}: {path.name} declares more pixels than an image may have ({exc})"
        ) from exc
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise SmoothscopeError(f"{name}: cannot read {path.name} as an image ({reason})") from exc


def _folder(folder: Path, n: int, name: str) -> tuple[np.ndarray, list[Path]]:
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:
        raise SmoothscopeError(f"{name}: cannot list {folder} ({exc.strerror})") from exc
    if not files:
        raise SmoothscopeError(
            f"{name}: expected images ({', '.join(IMAGE_SUFFIXES)}) in the folder {folder}, "
            "found none"
        )
    files = files[:n]
    images = [_image(p, name) for p in files]
    shapes = sorted({a.shape for a in images})
    if len(shapes) != 1:
        raise SmoothscopeError(f"{name}: expected images of one size, got sizes {shapes[:4]}")
    array = np.stack(images)
    return (array[:, None] if array.ndim == 3 else array.transpose(0, 3, 1, 2)), files


def _tensor_file(path: Path, name: str) -> tuple[np.ndarray | torch.Tensor, str | None]:
    _check_archive(path, "tensor file")
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol warning: not for users
            warnings.simplefilter("ignore", UserWarning)
            value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or refused files
        reason = " ".join(str(exc).split()[:30])[:200] or type(exc).__name__
        if "weights_only" in reason or "Unpickl" in type(exc).__name__:
            reason = "it holds Python objects other than tensors, which are refused"
        raise SmoothscopeError(
            f"{name}: cannot read {path.name} as a tensor file ({reason})"
        ) from exc
    key = None
    if isinstance(value, dict):
        tensors = {k: v for k, v in value.items() if isinstance(v, torch.Tensor)}
        key = next((k for k in ("images", "inputs", "x") if k in tensors), None)
        if key is None and len(tensors) == 1:
            key = next(iter(tensors))
        if key is None:
            raise SmoothscopeError(
                f"{name}: expected one tensor in {path.name} (or one named images, inputs, x), "
                f"got keys {', '.join(map(str, list(value)[:8]))}"
            )
        value = tensors[key]
    if not isinstance(value, torch.Tensor):
        raise SmoothscopeError(
            f"{name}: expected a tensor [N, C, H, W] in {path.name}, got {type(value).__name__}"
        )
    return value, key


def _layout(x: torch.Tensor, notes: list[str], name: str, what: str) -> torch.Tensor:
    if x.dim() == 3:
        return x[:, None]
    if x.dim() == 4 and x.shape[-1] <= 4 < x.shape[1]:
        notes.append(f"{what} read as channels-last [N, H, W, C]")
        return x.permute(0, 3, 1, 2)
    if x.dim() != 4:
        raise SmoothscopeError(
            f"{name}: expected images [N, H, W], [N, C, H, W] or [N, H, W, C] in {what}, got "
            f"shape {list(x.shape)}"
        )
    return x


def _channels(x: torch.Tensor, channels: int | None, notes: list[str], name: str) -> torch.Tensor:
    have = x.shape[1]
    if channels is None or have == channels:
        return x
    if have == 4 and channels in (1, 3):
        notes.append("alpha channel dropped")
        x, have = x[:, :3], 3
        if channels == 3:
            return x
    if have == 1:
        notes.append(f"grey repeated to {channels} channels")
        return x.expand(-1, channels, -1, -1)
    if have == 3 and channels == 1:
        notes.append("RGB converted to grey (BT.601 luma)")
        weights = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * weights).sum(1, keepdim=True)
    raise SmoothscopeError(
        f"{name}: the model takes {channels} channels, the inputs have {have} (only grey ↔ "
        "RGB is converted)"
    )


def load_inputs(
    source: str,
    *,
    n: int,
    size: int | None = None,
    channels: int | None = None,
    data_dir: str | None = None,
    seed: int = 0,
    name: str = "--inputs",
) -> Inputs:
    """Images ``[N, C, H, W]`` (float32) from a built-in set, a file or a folder.

    Args:
        source: one of :data:`BUILT_IN`, a ``.npy``/``.npz``/``.pt`` file or a folder of
            images.
        n: at most this many images (the first ones of a file or folder; a random draw with
            ``seed`` of a built-in set). At least 2 are needed.
        size: the side a built-in set is resampled to (default 32); for a file or folder, the
            side the model was built for when it declares one (other sizes are refused, not
            resampled).
        channels: the model's channels (None: as stored).
        data_dir: a folder searched first for the datasets.
        seed: seed of a built-in set's draw.
        name: the option named in messages.
    """
    notes: list[str] = []
    if source in BUILT_IN:
        from .real import load_images

        images, _, info = load_images(
            source,
            split="test",
            size=size or 32,
            channels=channels,
            n=n,
            data_dir=data_dir,
            seed=seed,
        )
        side = images.shape[-1]
        description = f"{info.describe()}, {images.shape[0]} test images at {side}×{side}"
        record = {"source": source, "dataset": info.describe(), "path": None, "sha256": None}
        return Inputs(images.float(), description, _shape(record, images), notes)
    path = Path(source)
    key = None
    if path.is_dir():
        array, files = _folder(path, n, name)
        x = torch.from_numpy(np.ascontiguousarray(array))
        digest, what = _sha256(files), f"{path.name}/ ({len(files)} images)"
    elif path.is_file() and path.suffix.lower() in (".npy", ".npz", ".pt", ".pth"):
        if path.suffix.lower() in (".pt", ".pth"):
            value, key = _tensor_file(path, name)
            if value.is_complex() or value.dtype == torch.bool:
                raise SmoothscopeError(
                    f"{name}: expected real numbers in {path.name}, got dtype {value.dtype}"
                )
            if value.numel() * 4 > MAX_ARRAY_BYTES:
                raise SmoothscopeError(f"{name}: {path.name} holds more than 4 GiB as float32")
            array = value
        else:
            array, key = load_array(path, name)
            if array.dtype.kind not in "fiub":
                raise SmoothscopeError(
                    f"{name}: expected a real numeric array, got dtype {array.dtype} in "
                    f"{path.name}"
                )
        scaled = array.dtype == (np.uint8 if isinstance(array, np.ndarray) else torch.uint8)
        x = torch.as_tensor(array)
        x = x[:n].to(torch.float32)
        if scaled:
            x = x / 255.0
            notes.append("uint8 values divided by 255")
        digest, what = _sha256([path]), path.name + (f"[{key}]" if key else "")
    else:
        raise SmoothscopeError(
            f"{name}: expected one of {', '.join(BUILT_IN)}, a .npy/.npz/.pt file or a folder "
            f"of images, got {source!r}"
        )
    x = _layout(x, notes, name, what)
    if x.shape[0] < 2:
        raise SmoothscopeError(f"{name}: expected at least 2 images in {what}, got {x.shape[0]}")
    if not bool(torch.isfinite(x).all()):
        raise SmoothscopeError(f"{name}: {what} holds NaN or inf values")
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        raise SmoothscopeError(
            f"{name}: the model was built for {size}×{size} images, {what} holds "
            f"{x.shape[-2]}×{x.shape[-1]} (resample them first)"
        )
    x = _channels(x, channels, notes, name).contiguous()
    description = f"{what}, {x.shape[0]} images {list(x.shape[1:])}"
    record = {"source": "file", "path": str(path.resolve()), "sha256": digest, "key": key}
    return Inputs(x, description, _shape(record, x), notes)


def _shape(record: dict[str, Any], x: torch.Tensor) -> dict[str, Any]:
    return {**record, "n": int(x.shape[0]), "shape": list(x.shape[1:])}
