"""Authentic smooth videos, smooth non-network processing and the perturbations of robustness.

Paper A (Fig. 7) passes an authentic *smooth* video through a "processing unit" and detects the
unit from the kinks it leaves in time. The authentic videos here are smooth in time by
construction (every pixel is an analytic or linear function of t):

* ``ellipsoid``: the Lambertian ellipsoid under a light moving on a straight line (§IV-A; the
  shadow terminator's ``max(·, 0)`` is the one kink of the content, measured, not hidden);
* ``digits``: scikit-learn's digits turning at constant angular speed;
* ``fashion``: Fashion-MNIST images turning (when the IDX files are present);
* ``ramps``: paper A's noise ramps (eq. 9), exactly linear in t;
* ``photos``: scikit-learn's two sample photographs under a smooth camera motion (pan, zoom
  and rotation, each linear in t: rotation ≤ ±5°, zoom 0.9–1.1, pan ≤ ±size/8 pixels; the photos
  are reduced to luma and 2 × 2 means first). scikit-image's photos are not used (the package
  is not a dependency).

Motion is applied by :func:`bandlimited_warp`, which evaluates the trigonometric (Fourier
series) interpolant of the image at the moved pixel centres: the interpolant is analytic in the
coordinates, so the motion adds no kink (a bilinear resampler would add one whenever a sample
point crosses a pixel edge).

Smooth non-network processing (labelled *authentic*: the detector must learn "a network was
here", not "something was done") applies one fixed smooth map to every frame: Gaussian blur,
bicubic down-and-up resizing, a gamma curve, a small affine warp. A fixed linear map of the
frames, or a smooth pointwise curve, keeps a smooth video smooth.

Perturbations for the robustness curves: additive Gaussian noise at an SNR, 8-bit
quantisation, JPEG compression of every frame (Pillow), temporal subsampling.

Videos are float64 ``[V, T, C, H, W]``; randomness comes from explicit ``torch.Generator``s.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, check_generator, check_rank, positive
from ..data import digits as digits_data
from ..data import ellipsoid

__all__ = [
    "CONTENTS",
    "FASHION_DIR",
    "SMOOTH_PROCESSINGS",
    "add_noise",
    "authentic_videos",
    "available_contents",
    "bandlimited_warp",
    "jpeg_frames",
    "quantize_8bit",
    "smooth_processing",
    "subsample",
]

CONTENTS = ("ellipsoid", "digits", "fashion", "ramps", "photos")
SMOOTH_PROCESSINGS = ("blur", "resize", "gamma", "affine")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's ``dataset-fashion-mnist`` puts the IDX files."""
MAX_TURN = 30.0
"""Rotating templates turn by at most this many degrees over a video (at ``speed = 1``)."""
MAX_SPEED = 64.0
"""Largest ``speed`` of :func:`authentic_videos`."""


def available_contents(fashion_dir: str | None = None) -> tuple[str, ...]:
    """The contents that can be generated here (``fashion`` needs its IDX files)."""
    folder = Path(fashion_dir or FASHION_DIR)
    have = (folder / "t10k-images-idx3-ubyte.gz").exists() or (
        folder / "t10k-images-idx3-ubyte"
    ).exists()
    return tuple(c for c in CONTENTS if c != "fashion" or have)


# ---------------------------------------------------------------------------------------------
# band-limited motion


def bandlimited_warp(
    image: torch.Tensor,
    angle: torch.Tensor,
    zoom: torch.Tensor,
    shift: torch.Tensor,
    *,
    size: int,
    taper: bool = False,
) -> torch.Tensor:
    """Sample the trigonometric interpolant of ``image`` on a moved ``size × size`` grid.

    The interpolant ``f(y, x) = Re Σ_k F_k exp(2πi (k_y y + k_x x) / M) / M²`` (F the DFT of the
    ``M × M`` image, frequencies in ``[-M/2, M/2)``, the Nyquist row and column dropped) is
    analytic in (y, x). Output pixel ``q`` (about the output centre, in input pixels) samples it
    at ``c + zoom · R(angle) q + shift``, c the input centre.

    Args:
        image: ``[C, M, M]`` (float64).
        angle: ``[T]`` rotation in radians per frame.
        zoom: ``[T]`` scale factors (> 0) per frame.
        shift: ``[T, 2]`` (dy, dx) translations in input pixels per frame.
        size: side of the output frames.
        taper: roll the spectrum off smoothly (raised cosine) from half the Nyquist frequency.

    Returns:
        float64 frames ``[T, C, size, size]``.
    """
    image = as_tensor(image, "image").to(torch.float64)
    check_rank(image, (3,), "image", "[C, M, M]")
    m = image.shape[-1]
    if image.shape[-2] != m:
        raise SmoothscopeError(f"image: expected a square image, got {tuple(image.shape)}")
    size = positive(size, "size", integer=True)
    spectrum = torch.fft.fft2(image)  # [C, M, M]
    k = torch.fft.fftfreq(m, d=1.0 / m, dtype=torch.float64)
    if m % 2 == 0:
        spectrum[:, m // 2, :] = 0
        spectrum[:, :, m // 2] = 0
    if taper:
        # the optics of a camera: a raised-cosine roll-off from |k| = M/4 to the Nyquist
        # frequency, which also damps the ringing of the crop's periodic extension
        u = ((k.abs() / (m / 2) - 0.5) * 2).clamp(0, 1)
        window = 0.5 * (1 + torch.cos(torch.pi * u))
        spectrum = spectrum * window[:, None] * window[None, :]
    q = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    omega = 2 * math.pi * k / m
    cos, sin = torch.cos(angle), torch.sin(angle)
    centre = (m - 1) / 2

    def waves(offset: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        """exp(iω (offset + row·q_i + col·q_j)) as [T, P, M]: the coordinates are affine in
        (q_i, q_j), so the complex exponential factorises into three small ones."""

        def e(v: torch.Tensor) -> torch.Tensor:
            return torch.polar(
                torch.ones_like(v)[..., None].expand(*v.shape, m), v[..., None] * omega
            )

        w = (
            e(offset)[:, None, None]
            * e(row[:, None] * q)[:, :, None]
            * e(col[:, None] * q)[:, None]
        )
        return w.reshape(w.shape[0], -1, m)

    # output pixel (i, j) samples y = c + zoom (cos q_i − sin q_j) + dy, x = c + zoom (sin q_i +
    # cos q_j) + dx
    ey = waves(centre + shift[:, 0], zoom * cos, -zoom * sin)  # [T, P, M]
    ex = waves(centre + shift[:, 1], zoom * sin, zoom * cos)
    # f = Σ_ky ey[ky] Σ_kx F[ky, kx] ex[kx]
    inner = torch.einsum("tpl,ckl->ctpk", ex, spectrum)  # [C, T, P, M]
    values = (inner * ey[None]).sum(-1).real / (m * m)
    return values.reshape(image.shape[0], -1, size, size).transpose(0, 1).contiguous()


def _linear(a: torch.Tensor, b: torch.Tensor, frames: int) -> torch.Tensor:
    """``[T, ...]`` values moving at constant speed from ``a`` to ``b``."""
    s = torch.linspace(0.0, 1.0, frames, dtype=torch.float64).view(-1, *([1] * a.dim()))
    return a + s * (b - a)


def _turning(
    templates: torch.Tensor, frames: int, size: int, generator: torch.Generator, speed: float
) -> torch.Tensor:
    """Each template turning at constant speed (≤ ``speed · MAX_TURN`` degrees over the video):
    ``[V, T, C, s, s]``."""
    videos = []
    for template in templates:
        start, end = (
            torch.rand(2, generator=generator, dtype=torch.float64) * 2 - 1
        ) * math.radians(MAX_TURN * speed)
        angle = _linear(start, end, frames)
        zoom = torch.ones(frames, dtype=torch.float64)
        shift = torch.zeros(frames, 2, dtype=torch.float64)
        videos.append(bandlimited_warp(template, angle, zoom, shift, size=size))
    return torch.stack(videos)


def _photo_grey() -> torch.Tensor:
    """scikit-learn's two sample photos in luma, ``[2, 1, 213, 320]`` in [0, 1] (2 × 2 means)."""
    from sklearn.datasets import load_sample_images

    images = np.stack([np.asarray(im) for im in load_sample_images().images]).astype(np.float64)
    luma = images @ np.array([0.299, 0.587, 0.114]) / 255.0
    x = torch.from_numpy(luma).unsqueeze(1)
    return F.avg_pool2d(x, 2)


def _photo_videos(
    n: int, frames: int, size: int, generator: torch.Generator, speed: float
) -> torch.Tensor:
    photos = _photo_grey()
    height, width = photos.shape[-2:]
    base = 2 * size
    # faster motion reaches further: the crop (twice the frame at speed ≤ 1) grows about the
    # same centre, so that the sample points stay off its periodic extension and a video
    # shows the same scene at every speed
    m = min(base if speed <= 1 else math.ceil(size * (2.1 + speed / 4)), height, width)
    videos = []
    for _ in range(n):
        which = int(torch.randint(0, photos.shape[0], (1,), generator=generator))
        top = int(torch.randint(0, height - base + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - base + 1, (1,), generator=generator))
        top = min(max(top + (base - m) // 2, 0), height - m)
        left = min(max(left + (base - m) // 2, 0), width - m)
        crop = photos[which, :, top : top + m, left : left + m]
        u = torch.rand(8, generator=generator, dtype=torch.float64) * 2 - 1
        turn = math.radians(5) * speed
        zoom_range = 0.1 * min(speed, 2.0)
        pan = size / 8 * speed
        angle = _linear(u[0] * turn, u[1] * turn, frames)
        zoom = _linear(1 + zoom_range * u[2], 1 + zoom_range * u[3], frames)
        shift = _linear(u[4:6] * pan, u[6:8] * pan, frames)
        videos.append(bandlimited_warp(crop, angle, zoom, shift, size=size, taper=True))
    return torch.stack(videos)


def _fashion(
    n: int, size: int, generator: torch.Generator, fashion_dir: str | None
) -> torch.Tensor:
    images = digits_data.load_mnist_idx(fashion_dir or FASHION_DIR, digit=None, split="test")
    pick = torch.randperm(images.shape[0], generator=generator)[:n]
    chosen = images[pick]
    if chosen.shape[-1] != size:
        chosen = F.interpolate(chosen, size=(size, size), mode="bicubic", align_corners=False)
    return chosen


def authentic_videos(
    content: str,
    n: int,
    *,
    frames: int = 32,
    size: int = 28,
    generator: torch.Generator,
    fashion_dir: str | None = None,
    speed: float = 1.0,
) -> torch.Tensor:
    """``n`` authentic smooth videos of one content (see the module docstring).

    Args:
        content: one of :data:`CONTENTS`.
        n: number of videos.
        frames: frames T (≥ 3).
        size: frame side (a multiple of 4: the autoencoders pool twice).
        generator: source of all randomness.
        fashion_dir: folder of the Fashion-MNIST IDX files (default :data:`FASHION_DIR`).
        speed: how far things move over the video, as a multiple of the module docstring's
            ranges (turns of ``speed · MAX_TURN``, pans of ``speed · size / 8``, light paths
            and noise ramps ``speed`` times longer; the photos' zoom range grows to at most
            twice its default). Real footage moves faster than the defaults: at ``speed = 1``
            most pixels change by about one 8-bit level per frame.

    Returns:
        float64 ``[n, T, 1, size, size]``.
    """
    if content not in CONTENTS:
        raise SmoothscopeError(f"content: expected one of {', '.join(CONTENTS)}, got {content!r}")
    n = positive(n, "n", integer=True)
    frames = positive(frames, "frames", integer=True)
    size = positive(size, "size", integer=True)
    generator = check_generator(generator)
    if frames < 3:
        raise SmoothscopeError(f"frames: expected at least 3, got {frames}")
    speed = positive(speed, "speed")
    if not speed <= MAX_SPEED:
        raise SmoothscopeError(f"speed: expected at most {MAX_SPEED:g}, got {speed}")
    if content == "ellipsoid":
        lights = ellipsoid.random_light_paths(n, frames, generator=generator)
        middle = lights.mean(dim=1, keepdim=True)
        lights = middle + speed * (lights - middle)
        video = ellipsoid.render_ellipsoid(lights.reshape(-1, 2), size=size)
        return video.reshape(n, frames, 1, size, size)
    if content == "photos":
        return _photo_videos(n, frames, size, generator, speed)
    if content == "fashion":
        templates = _fashion(n, size, generator, fashion_dir)
        return _turning(templates, frames, size, generator, speed)
    pool = digits_data.load_sklearn_digits(digit=None, size=size)
    pick = torch.randperm(pool.shape[0], generator=generator)[:n]
    if content == "digits":
        return _turning(pool[pick], frames, size, generator, speed)
    ramps = digits_data.noise_ramp_videos(pool[pick], frames=frames, generator=generator)
    return (
        ramps if speed == 1 else pool[pick].unsqueeze(1) + speed * (ramps - pool[pick].unsqueeze(1))
    )


# ---------------------------------------------------------------------------------------------
# smooth non-network processing (labelled authentic)


def _frames(videos: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    videos = as_tensor(videos, "videos").to(torch.float64)
    check_rank(videos, (5,), "videos", "[V, T, C, H, W]")
    check_finite(videos, "videos")
    return videos.reshape(-1, *videos.shape[2:]), tuple(videos.shape)


def _gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = frames.shape[1]
    padded = F.pad(frames, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def smooth_processing(
    name: str, videos: torch.Tensor, *, generator: torch.Generator
) -> torch.Tensor:
    """One smooth non-network processing applied to every frame of every video.

    * ``blur``: Gaussian blur, σ ~ U(0.5, 1.5) pixels per video;
    * ``resize``: bicubic down-sampling by a factor ~ U(1.3, 2) and back (a fixed linear map);
    * ``gamma``: ``((x − lo) / (hi − lo))^γ`` with γ ~ U(1.2, 2.2), lo, hi the video's
      range (constants over time; γ > 1 keeps the curve C¹ at lo);
    * ``affine``: a fixed small affine warp (rotation ≤ 5°, shear ≤ 0.05, shift ≤ 1 pixel),
      bicubic, the same for all frames of a video.

    Args:
        name: one of :data:`SMOOTH_PROCESSINGS`.
        videos: ``[V, T, C, H, W]``.
        generator: source of the per-video parameters.

    Returns:
        float64 processed videos of the same shape.
    """
    if name not in SMOOTH_PROCESSINGS:
        raise SmoothscopeError(
            f"processing: expected one of {', '.join(SMOOTH_PROCESSINGS)}, got {name!r}"
        )
    generator = check_generator(generator)
    _, shape = _frames(videos)
    out = []
    for video in videos.to(torch.float64):
        u = float(torch.rand(1, generator=generator, dtype=torch.float64))
        if name == "blur":
            out.append(_gaussian_blur(video, 0.5 + u))
        elif name == "resize":
            h, w = video.shape[-2:]
            factor = 1.3 + 0.7 * u
            small = (max(2, round(h / factor)), max(2, round(w / factor)))
            down = F.interpolate(video, size=small, mode="bicubic", align_corners=False)
            out.append(F.interpolate(down, size=(h, w), mode="bicubic", align_corners=False))
        elif name == "gamma":
            lo, hi = video.min(), video.max()
            span = torch.clamp(hi - lo, min=1e-12)
            out.append(((video - lo) / span) ** (1.2 + u) * span + lo)
        else:
            v = torch.rand(3, generator=generator, dtype=torch.float64) * 2 - 1
            angle = math.radians(5) * (2 * u - 1)
            cos, sin = math.cos(angle), math.sin(angle)
            theta = torch.tensor(
                [
                    [cos, -sin + 0.05 * float(v[0]), 2 * float(v[1]) / video.shape[-1]],
                    [sin, cos, 2 * float(v[2]) / video.shape[-2]],
                ],
                dtype=torch.float64,
            ).expand(video.shape[0], 2, 3)
            grid = F.affine_grid(theta, list(video.shape), align_corners=False)
            out.append(
                F.grid_sample(
                    video, grid, mode="bicubic", padding_mode="border", align_corners=False
                )
            )
    return torch.stack(out).reshape(shape)


# ---------------------------------------------------------------------------------------------
# perturbations (robustness)


def add_noise(videos: torch.Tensor, snr_db: float, *, generator: torch.Generator) -> torch.Tensor:
    """Additive white Gaussian noise at ``snr_db`` (signal power: the video's variance)."""
    frames, shape = _frames(videos)
    generator = check_generator(generator)
    flat = frames.reshape(shape[0], -1)
    power = flat.var(dim=1, keepdim=True).clamp_min(1e-24)
    sigma = torch.sqrt(power / 10 ** (snr_db / 10))
    noise = torch.randn(flat.shape, generator=generator, dtype=torch.float64)
    return (flat + sigma * noise).reshape(shape)


def _to_unit(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames of each video mapped to [0, 1] by that video's range (and the range)."""
    lo = frames.amin(dim=tuple(range(1, frames.dim())), keepdim=True)
    hi = frames.amax(dim=tuple(range(1, frames.dim())), keepdim=True)
    return (frames - lo) / (hi - lo).clamp_min(1e-12), lo, hi


def quantize_8bit(videos: torch.Tensor) -> torch.Tensor:
    """Round each video to 256 levels of its own range (what an 8-bit file stores)."""
    _frames(videos)  # validation
    unit, lo, hi = _to_unit(videos.to(torch.float64))
    return torch.round(unit * 255) / 255 * (hi - lo) + lo


def jpeg_frames(videos: torch.Tensor, quality: int) -> torch.Tensor:
    """Every frame saved as an 8-bit greyscale (or RGB) JPEG at ``quality`` and read back."""
    from PIL import Image

    _, shape = _frames(videos)
    unit, lo, hi = _to_unit(videos.to(torch.float64))
    out = torch.empty(shape, dtype=torch.float64)
    arrays = np.clip(np.round(unit.numpy() * 255), 0, 255).astype(np.uint8)
    for v in range(shape[0]):
        for t in range(shape[1]):
            frame = arrays[v, t]
            image = Image.fromarray(frame[0] if shape[2] == 1 else frame.transpose(1, 2, 0))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=int(quality))
            back = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float64)
            back = back[None] if shape[2] == 1 else back.transpose(2, 0, 1)
            out[v, t] = torch.from_numpy(back / 255.0)
    return out * (hi - lo) + lo


def subsample(videos: torch.Tensor, factor: int) -> torch.Tensor:
    """Keep every ``factor``-th frame."""
    _, shape = _frames(videos)
    factor = positive(factor, "factor", integer=True)
    if shape[1] // factor < 3:
        raise SmoothscopeError(
            f"factor: expected at least 3 frames left, got {shape[1]} frames / {factor}"
        )
    return videos[:, ::factor]
