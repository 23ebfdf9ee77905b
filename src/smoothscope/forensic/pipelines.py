"""What happens to a video between the camera (or the network) and the file: storage pipelines.

A real video reaches the detector through a file, so both classes (authentic and processed by a
network) pass through the same pipelines before their features are taken. A pipeline is named
``kind`` or ``kind:value`` (:data:`PIPELINE_KINDS`):

* ``float``: nothing (the float64 frames as computed);
* ``quant8``: 8-bit quantisation, what any PNG, JPEG or video file stores;
* ``h264:CRF``: 8-bit, then H.264 (libx264, ``yuv420p``, constant rate factor ``CRF``, preset
  ``medium``, one thread) through PyAV, decoded back;
* ``mpeg4:Q``: 8-bit, then MPEG-4 Part 2 (FFmpeg's ``mpeg4`` encoder, fixed quantiser ``Q``,
  1 best … 31 worst) through PyAV, decoded back;
* ``jpeg:Q``: 8-bit, every frame a JPEG of quality ``Q`` (Pillow), decoded back;
* ``resize:F``: every frame resized by the factor ``F`` (area-averaging when shrinking, bicubic
  when enlarging; sizes rounded to even numbers), then 8-bit;
* ``noise:SNR``: additive white Gaussian noise at ``SNR`` dB (signal power: the video's
  variance), then 8-bit (sensor noise before storage).

8-bit storage maps each video's range ``[lo, hi]`` to the 256 levels (:func:`to_uint8`); the
decoded frames are mapped back to ``[lo, hi]``, so a pipeline keeps a video's scale. The codecs
need PyAV (the ``video`` extra); without it :func:`apply_pipeline` refuses a codec pipeline with
a message naming the extra (:func:`codecs_available` says which codecs are usable).

Videos are float64 ``[V, T, C, H, W]``; C is 1 (grey) or 3 (RGB).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, check_generator, check_rank
from .videos import add_noise, jpeg_frames

__all__ = [
    "CODECS",
    "PIPELINE_KINDS",
    "apply_pipeline",
    "codecs_available",
    "encode_video",
    "parse_pipeline",
    "pipeline_family",
    "to_uint8",
]

PIPELINE_KINDS = ("float", "quant8", "h264", "mpeg4", "jpeg", "resize", "noise")
CODECS = {"h264": "libx264", "mpeg4": "mpeg4"}
"""Pipeline kind → FFmpeg encoder."""
_RANGES = {
    "h264": (0, 51),
    "mpeg4": (1, 31),
    "jpeg": (1, 95),
    "resize": (0.25, 4.0),
    "noise": (-20.0, 100.0),
}
VIDEO_EXTRA_HINT = "pip install 'smoothscope[video]'"


def parse_pipeline(name: str) -> tuple[str, float | None]:
    """``(kind, value)`` of a pipeline name (see the module docstring); refuses anything else."""
    if not isinstance(name, str):
        raise SmoothscopeError(f"pipeline: expected a name such as 'h264:23', got {name!r}")
    kind, sep, raw = name.partition(":")
    if kind not in PIPELINE_KINDS:
        raise SmoothscopeError(
            f"pipeline: expected one of {', '.join(PIPELINE_KINDS)} (with ':value' where it "
            f"takes one), got {name!r}"
        )
    if kind in ("float", "quant8"):
        if sep:
            raise SmoothscopeError(f"pipeline: {kind} takes no value, got {name!r}")
        return kind, None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low, high = _RANGES[kind]
    integer = kind in ("h264", "mpeg4", "jpeg")
    if not (low <= value <= high) or (integer and value != int(value)):
        what = "an integer" if integer else "a number"
        raise SmoothscopeError(
            f"pipeline: expected {kind}:V with V {what} in [{low:g}, {high:g}], got {name!r}"
        )
    return kind, value


def pipeline_family(name: str) -> str:
    """The kind of a pipeline (``"h264:23"`` → ``"h264"``): the unit of leave-one-codec-out."""
    return parse_pipeline(name)[0]


def codecs_available() -> tuple[str, ...]:
    """The codec pipeline kinds usable here (PyAV installed and the encoder present)."""
    try:
        import av
    except ImportError:
        return ()
    found = []
    for kind, encoder in CODECS.items():
        try:
            av.codec.Codec(encoder, "w")
        except Exception:  # av raises UnknownCodecError (a ValueError) or others by version
            continue
        found.append(kind)
    return tuple(found)


def _check_videos(videos: torch.Tensor) -> torch.Tensor:
    videos = as_tensor(videos, "videos").to(torch.float64)
    check_rank(videos, (5,), "videos", "[V, T, C, H, W]")
    check_finite(videos, "videos")
    if videos.shape[2] not in (1, 3):
        raise SmoothscopeError(f"videos: expected 1 or 3 channels, got shape {tuple(videos.shape)}")
    return videos


def to_uint8(videos: torch.Tensor) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Each video's range mapped to 0..255 and rounded: ``(uint8 [V, T, C, H, W], lo, hi)``,
    ``lo``, ``hi`` of shape ``[V, 1, 1, 1, 1]`` (a constant video maps to 0)."""
    dims = tuple(range(1, videos.dim()))
    lo = videos.amin(dim=dims, keepdim=True)
    hi = videos.amax(dim=dims, keepdim=True)
    unit = (videos - lo) / (hi - lo).clamp_min(1e-300)
    return np.clip(np.round(unit.numpy() * 255), 0, 255).astype(np.uint8), lo, hi


def _from_uint8(array: np.ndarray, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float64) / 255.0) * (hi - lo) + lo


def encode_video(frames: np.ndarray, kind: str, value: int, *, fps: int = 25) -> np.ndarray:
    """Encode 8-bit frames with a codec through PyAV and decode them back.

    Args:
        frames: uint8 ``[T, C, H, W]`` (C 1 or 3; H, W even).
        kind: ``"h264"`` (``value``: CRF 0..51) or ``"mpeg4"`` (``value``: quantiser 1..31).
        value: the quality setting.
        fps: frame rate written in the stream (rate control of libx264 reads it).

    Returns:
        uint8 ``[T, C, H, W]``: the decoded frames (one thread: the same bits on every run).
    """
    try:
        import av
    except ImportError as exc:
        raise SmoothscopeError(
            f"pipeline {kind}: the codecs need the 'video' extra (PyAV): {VIDEO_EXTRA_HINT}"
        ) from exc
    if kind not in CODECS:
        raise SmoothscopeError(f"codec: expected one of {', '.join(CODECS)}, got {kind!r}")
    t, c, h, w = frames.shape
    if h % 2 or w % 2:
        raise SmoothscopeError(f"pipeline {kind}: expected even frame sizes, got {h}×{w}")
    grey = c == 1
    buffer = io.BytesIO()
    container_format = "mp4" if kind == "h264" else "avi"
    with av.open(buffer, "w", format=container_format) as out:
        stream = out.add_stream(CODECS[kind], rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.thread_count = 1
        if kind == "h264":
            stream.options = {"crf": str(int(value)), "preset": "medium", "threads": "1"}
        else:
            stream.options = {"qmin": str(int(value)), "qmax": str(int(value)), "threads": "1"}
        for frame in frames:
            image = frame[0] if grey else frame.transpose(1, 2, 0)
            vf = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image), format="gray" if grey else "rgb24"
            )
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    decoded = []
    with av.open(io.BytesIO(buffer.getvalue()), format=container_format) as inp:
        for frame in inp.decode(video=0):
            image = frame.to_ndarray(format="gray" if grey else "rgb24")
            decoded.append(image[None] if grey else image.transpose(2, 0, 1))
    if len(decoded) != t:
        raise SmoothscopeError(f"pipeline {kind}: decoded {len(decoded)} frames of {t}")
    return np.stack(decoded)


def _resize(videos: torch.Tensor, factor: float) -> torch.Tensor:
    v, t, c, h, w = videos.shape
    size = (max(4, 2 * round(h * factor / 2)), max(4, 2 * round(w * factor / 2)))
    frames = videos.reshape(v * t, c, h, w)
    if size[0] <= h and size[1] <= w:
        out = F.interpolate(frames, size=size, mode="area")
    else:
        out = F.interpolate(frames, size=size, mode="bicubic", align_corners=False)
    return out.reshape(v, t, c, *size)


def apply_pipeline(
    name: str, videos: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pass every video of ``[V, T, C, H, W]`` through the pipeline ``name``.

    Args:
        name: a pipeline (module docstring), e.g. ``"quant8"``, ``"h264:23"``, ``"jpeg:70"``.
        videos: float64 videos ``[V, T, C, H, W]``, C 1 or 3.
        generator: source of the noise of ``noise:SNR`` (required there only).

    Returns:
        float64 videos in each input video's range; ``[V, T, C, H', W']`` (H', W' differ only
        for ``resize``).
    """
    kind, value = parse_pipeline(name)
    videos = _check_videos(videos)
    if kind == "float":
        return videos.clone()
    if kind == "noise":
        videos = add_noise(videos, float(value), generator=check_generator(generator))
    elif kind == "resize":
        videos = _resize(videos, float(value))
    if kind == "jpeg":
        return jpeg_frames(videos, int(value))
    array, lo, hi = to_uint8(videos)
    if kind in CODECS:
        array = np.stack([encode_video(a, kind, int(value)) for a in array])
    return _from_uint8(array, lo, hi)
