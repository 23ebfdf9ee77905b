"""Protocol of the ``forensic`` experiment: the config, its scales and bounds.

Paper A (Fig. 7, §VI) proposes the detector without building it, so it fixes none of these
fields: every value here is smoothscope's choice, recorded in docs/forensic.md. The authentic
contents, the network families and the smooth processings are defined by the library
(:mod:`smoothscope.forensic.videos`, :mod:`smoothscope.forensic.processors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...forensic.processors import FAMILIES
from ...forensic.videos import CONTENTS
from .._base import ExperimentConfig

__all__ = ["PERTURBATIONS", "ForensicConfig"]

PERTURBATIONS = ("noise", "quant8", "jpeg", "subsample")
"""Kinds of perturbation of the robustness curves and the augmentations (named ``kind:value``,
e.g. ``noise:20``, ``jpeg:90``, ``subsample:2``; ``quant8`` takes no value)."""


@dataclass(frozen=True)
class ForensicConfig(ExperimentConfig):
    """Protocol of the forensic detector; the defaults are the full ("paper") scale.

    Attributes:
        contents: authentic contents (``fashion`` is skipped when its files are absent).
        fashion_dir: folder of the Fashion-MNIST IDX files (default: Debian's).
        videos_per_content: authentic source videos per content (half train, half test).
        frames: frames per video.
        size: frame side.
        families: network families.
        train_frames: frames the networks are trained on (mixed contents).
        epochs, batch_size, lr: network training.
        holdout_content: the content of the content split.
        snrs: additive-noise SNRs (dB) of the robustness curve.
        jpeg_qualities: JPEG qualities of the robustness curve.
        subsample_factors: temporal subsampling factors of the robustness curve.
        augment: perturbations applied to every video (``quant8``, ``jpeg:Q``, ``noise:SNR``);
            the "augmented" detector (and ``smoothscope forensic fit``) trains on them beside
            the clean videos, so that 8-bit files are not taken for processed ones.
        c: inverse L2 regularisation of the logistic regression.
        n_boot: bootstrap replicates.
    """

    contents: tuple[str, ...] = CONTENTS
    fashion_dir: str | None = None
    videos_per_content: int = 40
    frames: int = 48
    size: int = 28
    families: tuple[str, ...] = FAMILIES
    train_frames: int = 6000
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    holdout_content: str = "photos"
    snrs: tuple[float, ...] = (40.0, 30.0, 20.0, 10.0)
    jpeg_qualities: tuple[int, ...] = (95, 80, 60, 40)
    subsample_factors: tuple[int, ...] = (2, 3)
    augment: tuple[str, ...] = ("quant8", "jpeg:90")
    c: float = 1.0
    n_boot: int = 2000

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "frames": Bound(3, 10_000, unit_bytes=28 * 28 * 4, unit="28×28 float32 frame of a video"),
        "train_frames": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="training frame"),
    }

    QUICK: ClassVar[dict[str, Any]] = {
        "videos_per_content": 8,
        "frames": 24,
        "train_frames": 600,
        "epochs": 3,
        "snrs": (30.0, 20.0),
        "jpeg_qualities": (90, 50),
        "subsample_factors": (2,),
        "n_boot": 500,
    }
    STANDARD: ClassVar[dict[str, Any]] = {
        "videos_per_content": 20,
        "frames": 32,
        "train_frames": 2000,
        "epochs": 8,
        "snrs": (40.0, 30.0, 20.0),
        "jpeg_qualities": (90, 70, 50),
        "n_boot": 1000,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [c for c in self.contents if c not in CONTENTS]
        if bad or not self.contents:
            raise SmoothscopeError(
                f"contents: expected a non-empty subset of {', '.join(CONTENTS)}, got {bad}"
            )
        bad = [f for f in self.families if f not in FAMILIES]
        if bad or not self.families:
            raise SmoothscopeError(
                f"families: expected a non-empty subset of {', '.join(FAMILIES)}, got {bad}"
            )
        if self.holdout_content not in self.contents or len(self.contents) < 2:
            raise SmoothscopeError(
                f"holdout_content: expected one of the contents {self.contents} (and at least "
                f"one other), got {self.holdout_content!r}"
            )
        for name in ("videos_per_content", "train_frames", "epochs", "batch_size", "n_boot"):
            if getattr(self, name) < 1:
                raise SmoothscopeError(
                    f"{name}: expected a positive integer, got {getattr(self, name)}"
                )
        if self.videos_per_content < 4:
            raise SmoothscopeError(
                f"videos_per_content: expected at least 4 (two train, two test), "
                f"got {self.videos_per_content}"
            )
        if self.frames < 8:
            raise SmoothscopeError(f"frames: expected at least 8, got {self.frames}")
        if self.size % 4 or self.size < 16:
            raise SmoothscopeError(f"size: expected a multiple of 4, ≥ 16, got {self.size}")
        if any(self.frames // f < 8 for f in self.subsample_factors):
            raise SmoothscopeError(
                f"subsample_factors: expected at least 8 frames left, got {self.subsample_factors} "
                f"for {self.frames} frames"
            )
        if any(not 1 <= q <= 95 for q in self.jpeg_qualities):
            raise SmoothscopeError(f"jpeg_qualities: expected 1..95, got {self.jpeg_qualities}")
        for name in self.augment:
            kind, _, value = name.partition(":")
            ok = (kind == "quant8" and not value) or (
                kind in ("jpeg", "noise") and value.replace(".", "", 1).isdigit()
            )
            if not ok or (kind == "jpeg" and not 1 <= float(value) <= 95):
                raise SmoothscopeError(
                    f"augment: expected quant8, jpeg:Q (Q in 1..95) or noise:SNR, got {name!r}"
                )
