"""Reading the user's videos: ``.npy`` / ``.npz`` arrays, folders of numbered PNG frames, and
video files through PyAV (the optional ``video`` extra).

:func:`open_video` validates what can be checked without decoding everything (the file exists,
its format, the array's shape and dtype, the frame sizes of a PNG folder, a decodable video
stream) and returns a :class:`VideoSource` whose :meth:`~VideoSource.chunks` yields float64
frames ``[t, C, H, W]`` a chunk at a time, so long videos are never held in memory at once.
Every problem is one :class:`~smoothscope.SmoothscopeError` naming the file, found before any
large allocation: an array header is read and checked (its size against the file and against
:data:`MAX_ARRAY_BYTES`) before the array, and a PNG's size (:data:`MAX_FRAME_PIXELS`) before its
pixels, so a hostile header claiming petabytes or a 20000 × 20000 frame is refused in one line.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._errors import SmoothscopeError
from .features import MIN_FRAMES

__all__ = ["MAX_ARRAY_BYTES", "MAX_FRAME_PIXELS", "VIDEO_EXTRA_HINT", "VideoSource", "open_video"]

VIDEO_EXTRA_HINT = "pip install 'smoothscope[video]'"
ARRAY_SUFFIXES = (".npy", ".npz")
CHUNK = 64
"""Frames per chunk."""
MAX_ARRAY_BYTES = 4 << 30
"""Largest array read from an ``.npz`` member (it is decompressed whole; a ``.npy`` file is
memory-mapped and streamed, so only its header must agree with its size)."""
MAX_FRAME_PIXELS = 64 << 20
"""Largest frame (pixels) read from a PNG (Pillow's decompression-bomb limit is 89 M)."""


@dataclass(frozen=True)
class VideoSource:
    """A validated video: where it comes from and how to read it chunk by chunk.

    Attributes:
        path: the file or folder.
        kind: ``"array"``, ``"png"`` or ``"video"``.
        frames: number of frames (None when the container does not say).
        frame_shape: ``(C, H, W)``.
        reader: returns an iterator of float64 chunks ``[t, C, H, W]``.
        bits: bits per sample where the source stores integers (8 for PNG and video files and
            uint8 arrays), None for floating-point arrays.
    """

    path: Path
    kind: str
    frames: int | None
    frame_shape: tuple[int, int, int]
    reader: Callable[[], Iterator[torch.Tensor]]
    bits: int | None = None

    def chunks(self) -> Iterator[torch.Tensor]:
        """Float64 chunks ``[t, C, H, W]`` of consecutive frames; checks them as they come."""
        count = 0
        for chunk in self.reader():
            if tuple(chunk.shape[1:]) != self.frame_shape:
                raise SmoothscopeError(
                    f"{self.path}: expected every frame of shape {self.frame_shape}, got "
                    f"{tuple(chunk.shape[1:])} at frame {count}"
                )
            if not bool(torch.isfinite(chunk).all()):
                raise SmoothscopeError(
                    f"{self.path}: expected finite values, got NaN or inf in frames "
                    f"{count}..{count + chunk.shape[0] - 1}"
                )
            count += chunk.shape[0]
            yield chunk
        if count < MIN_FRAMES:
            raise SmoothscopeError(
                f"{self.path}: expected at least {MIN_FRAMES} frames, got {count}"
            )


def _frame_layout(shape: tuple[int, ...], path: Path) -> tuple[int, tuple[int, int, int]]:
    if len(shape) == 3:
        t, h, w = shape
        c = 1
    elif len(shape) == 4:
        t, c, h, w = shape
    else:
        raise SmoothscopeError(
            f"{path}: expected an array [T, H, W] or [T, C, H, W], got shape {shape}"
        )
    if t < MIN_FRAMES:
        raise SmoothscopeError(f"{path}: expected at least {MIN_FRAMES} frames, got {t}")
    if min(c, h, w) < 1 or min(h, w) < 3:
        raise SmoothscopeError(f"{path}: expected frames of at least 3 × 3 pixels, got {shape}")
    return t, (c, h, w)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} EiB"


def _header(fh, path: Path, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, without reading the array."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise SmoothscopeError(f"{path}: expected a NumPy array in {what} ({exc})") from exc
    if dtype.hasobject:
        raise SmoothscopeError(f"{path}: expected a numeric array, got dtype {dtype}")
    return tuple(int(d) for d in shape), dtype


def _checked_nbytes(shape: tuple[int, ...], dtype: np.dtype, available: int, path: Path) -> None:
    """Refuse a header whose array would be larger than the data that holds it or than
    :data:`MAX_ARRAY_BYTES`."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > available:
        raise SmoothscopeError(
            f"{path}: the array header claims {shape} {dtype} ({_size(nbytes)}), but the file "
            f"holds {_size(available)}: a corrupt or hostile header"
        )
    if nbytes > MAX_ARRAY_BYTES:
        raise SmoothscopeError(
            f"{path}: expected at most {_size(MAX_ARRAY_BYTES)} in one .npz array, got "
            f"{_size(nbytes)}; save the video as .npy (read in chunks) or as PNG frames"
        )


def _open_array(path: Path) -> VideoSource:
    try:
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith(".npy")]
                keys = [n[:-4] for n in names]
                if not keys:
                    raise SmoothscopeError(f"{path}: expected an array in the .npz file, got none")
                if len(keys) > 1 and "video" not in keys:
                    raise SmoothscopeError(
                        f"{path}: expected one array or one named 'video', got {keys}"
                    )
                key = "video" if "video" in keys else keys[0]
                info = archive.getinfo(key + ".npy")
                with archive.open(info) as fh:
                    shape, dtype = _header(fh, path, f"member {key!r}")
                    header_bytes = fh.tell()
                _checked_nbytes(shape, dtype, info.file_size - header_bytes, path)
            with np.load(path, allow_pickle=False) as data:
                array = data[key]
        else:
            with open(path, "rb") as fh:
                shape, dtype = _header(fh, path, "the file")
                header_bytes = fh.tell()
            _checked_nbytes(shape, dtype, path.stat().st_size - header_bytes, path)
            array = np.load(path, mmap_mode="r", allow_pickle=False)
    except SmoothscopeError:
        raise
    except MemoryError as exc:
        raise SmoothscopeError(f"{path}: not enough memory to read the array") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SmoothscopeError(f"{path}: expected a readable NumPy array file ({message})") from exc
    if array.dtype.kind not in "fiub":
        raise SmoothscopeError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    t, frame = _frame_layout(tuple(array.shape), path)

    def reader() -> Iterator[torch.Tensor]:
        for start in range(0, t, CHUNK):
            chunk = np.array(array[start : start + CHUNK], dtype=np.float64)  # a copy
            yield torch.from_numpy(chunk.reshape(chunk.shape[0], *frame))

    bits = 8 * array.dtype.itemsize if array.dtype.kind in "iub" else None
    return VideoSource(path, "array", t, frame, reader, bits)


def _number(name: str) -> int | None:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


def _open_image(file: Path):
    """Open a PNG lazily (its size is read, not its pixels) and refuse a huge one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SmoothscopeError(
            f"{file}: expected a frame of at most {MAX_FRAME_PIXELS:,} pixels, the PNG header "
            "claims more (a decompression bomb?)"
        ) from exc
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SmoothscopeError(f"{file}: expected a readable PNG image ({message})") from exc
    width, height = image.size
    if width * height > MAX_FRAME_PIXELS:
        image.close()
        raise SmoothscopeError(
            f"{file}: expected a frame of at most {MAX_FRAME_PIXELS:,} pixels, the PNG header "
            f"claims {width}×{height}"
        )
    return image


def _png_array(file: Path) -> np.ndarray:
    from PIL import UnidentifiedImageError

    try:
        with _open_image(file) as image:
            if image.mode not in ("L", "I;16", "I", "F"):
                image = image.convert("RGB")
            array = np.asarray(image, dtype=np.float64)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SmoothscopeError(f"{file}: expected a readable PNG image ({message})") from exc
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _open_png_folder(path: Path) -> VideoSource:
    files = [f for f in path.iterdir() if f.suffix.lower() == ".png"]
    if not files:
        raise SmoothscopeError(f"{path}: expected a folder of numbered PNG frames, found no .png")
    unnumbered = [f.name for f in files if _number(f.stem) is None]
    if unnumbered:
        raise SmoothscopeError(f"{path}: expected numbered frame names, got {unnumbered[0]!r}")
    files.sort(key=lambda f: (_number(f.stem), f.name))
    numbers = [_number(f.stem) for f in files]
    if len(set(numbers)) != len(numbers):
        raise SmoothscopeError(f"{path}: expected each frame number once, got duplicates")
    shapes = {}
    for f in files:
        with _open_image(f) as image:
            shapes[f] = (len(image.getbands()), image.size[1], image.size[0])
    first = shapes[files[0]]
    for f in files:
        if shapes[f][1:] != first[1:]:
            raise SmoothscopeError(
                f"{path}: expected frames of equal size, got {first[2]}×{first[1]} "
                f"({files[0].name}) and {shapes[f][2]}×{shapes[f][1]} ({f.name})"
            )
    _, frame = _frame_layout((len(files), *_png_array(files[0]).shape), path)

    def reader() -> Iterator[torch.Tensor]:
        for start in range(0, len(files), CHUNK):
            arrays = [_png_array(f) for f in files[start : start + CHUNK]]
            if any(a.shape != frame for a in arrays):
                bad = next(
                    f for f, a in zip(files[start:], arrays, strict=False) if a.shape != frame
                )
                raise SmoothscopeError(f"{bad}: expected the colour layout of the first frame")
            yield torch.from_numpy(np.stack(arrays))

    with _open_image(files[0]) as image:
        bits = 16 if image.mode.startswith("I") else 8
    return VideoSource(path, "png", len(files), frame, reader, bits)


def _open_av(path: Path) -> VideoSource:
    try:
        import av
    except ImportError as exc:
        raise SmoothscopeError(
            f"{path}: reading video files needs the 'video' extra (PyAV): {VIDEO_EXTRA_HINT}"
        ) from exc
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SmoothscopeError(f"{path}: expected a video stream, found none")
            stream = container.streams.video[0]
            if stream.codec_context is None or stream.codec_context.name is None:
                raise SmoothscopeError(f"{path}: unsupported codec")
            first = next(container.decode(stream), None)
            if first is None:
                raise SmoothscopeError(f"{path}: expected decodable frames, found none")
            grey = first.format.name.startswith(("gray", "yuv")) and _is_grey(first)
            frame = (1 if grey else 3, first.height, first.width)
            frames = stream.frames or None
    except SmoothscopeError:
        raise
    except Exception as exc:  # PyAV raises many types (av.error.*) for bad or unknown files
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SmoothscopeError(f"{path}: could not decode the video ({message})") from exc
    if frames is not None and frames < MIN_FRAMES:
        raise SmoothscopeError(f"{path}: expected at least {MIN_FRAMES} frames, got {frames}")
    fmt = "gray" if frame[0] == 1 else "rgb24"

    def reader() -> Iterator[torch.Tensor]:
        try:
            with av.open(str(path)) as container:
                buffer = []
                for decoded in container.decode(container.streams.video[0]):
                    array = decoded.to_ndarray(format=fmt).astype(np.float64) / 255.0
                    buffer.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
                    if len(buffer) == CHUNK:
                        yield torch.from_numpy(np.stack(buffer))
                        buffer = []
                if buffer:
                    yield torch.from_numpy(np.stack(buffer))
        except SmoothscopeError:
            raise
        except Exception as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise SmoothscopeError(f"{path}: could not decode the video ({message})") from exc

    return VideoSource(path, "video", frames, frame, reader, 8)


def _is_grey(frame) -> bool:
    """A decoded frame whose chroma planes are constant (a greyscale video in YUV)."""
    if frame.format.name.startswith("gray"):
        return True
    rgb = frame.to_ndarray(format="rgb24").astype(np.int16)
    return bool(
        np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 2
        and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= 2
    )


def open_video(path: str | os.PathLike) -> VideoSource:
    """Validate a video path and return its reader (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise SmoothscopeError(f"{path}: expected an existing file or folder, found none")
    if path.is_dir():
        return _open_png_folder(path)
    if path.suffix.lower() in ARRAY_SUFFIXES:
        return _open_array(path)
    if path.suffix.lower() == ".png":
        raise SmoothscopeError(f"{path}: a single PNG is one frame; pass the folder of frames")
    return _open_av(path)
