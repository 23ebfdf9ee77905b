"""Config of the ``propagation`` experiment: the protocol of paper A §V on the ellipsoid
autoencoders, which it shares with the ``nonsmoothness`` experiment (the same training cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from .._base import ExperimentConfig
from ..nonsmoothness.config import NonsmoothnessConfig

__all__ = ["CHAIN", "PACKAGE", "PropagationConfig"]

PACKAGE = "smoothscope.experiments.propagation"
"""Import path of the experiment; cells name their functions ``f"{PACKAGE}:record_cell"`` (the
path enters the cell ids and seeds, so it must not change)."""
CHAIN = ("encoder.conv2", "encoder.act2", "encoder.pool2")
"""Fig. 8e: convolution → ReLU → max pooling."""


@dataclass(frozen=True)
class PropagationConfig(ExperimentConfig):
    """Protocol of paper A §V on the ellipsoid autoencoders (paper-scale defaults).

    Attributes:
        n_models: autoencoders per setup (paper: 10); the last ``held_out_models`` are not used
            for fitting channels (the R² and correlation claims use every model).
        held_out_models: autoencoders per setup kept for evaluation only.
        n_videos: smooth ellipsoid test videos (video 0: the paper's path); the second half is
            held out from fitting.
        frames, image_size, ellipsoid_train, ellipsoid_val, epochs, batch_size, lr: as in the
            ``nonsmoothness`` experiment.
        peak_factor: peak threshold factor (paper: 10).
        maxpool_threshold: a of eq. 8; a negative value (the default) estimates it from the data
            by maximum likelihood; 0.0025 is the paper's value, which belongs to its SMP scale.
        n_boot: bootstrap replicates of the intervals.
    """

    n_models: int = 10
    held_out_models: int = 2
    n_videos: int = 100
    frames: int = 100
    image_size: int = 28
    ellipsoid_train: int = 10000
    ellipsoid_val: int = 1000
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    peak_factor: float = 10.0
    maxpool_threshold: float = -1.0
    n_boot: int = 1000

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "n_models": Bound(2, 1000),
        "n_videos": Bound(2, 10_000),
        "frames": Bound(3, 10_000, unit_bytes=28 * 28 * 4, unit="28×28 float32 frame of a video"),
        "image_size": Bound(4, 256),
        "ellipsoid_train": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="training frame"),
        "ellipsoid_val": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="validation frame"),
        "lr": Bound(0, 10.0, low_open=True),
        "maxpool_threshold": Bound(None, 1.0),  # negative: estimated by maximum likelihood
    }

    QUICK: ClassVar[dict[str, Any]] = {
        "n_models": 3,
        "held_out_models": 1,
        "n_videos": 8,
        "frames": 50,
        "ellipsoid_train": 1200,
        "ellipsoid_val": 200,
        "epochs": 6,
        "batch_size": 16,
        "n_boot": 400,
    }
    STANDARD: ClassVar[dict[str, Any]] = {
        "n_models": 5,
        "held_out_models": 1,
        "n_videos": 16,
        "frames": 100,
        "ellipsoid_train": 2500,
        "ellipsoid_val": 300,
        "epochs": 8,
        "batch_size": 32,
        "n_boot": 1000,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.held_out_models < self.n_models:
            raise SmoothscopeError(
                f"held_out_models: expected 1..n_models-1 = {self.n_models - 1}, "
                f"got {self.held_out_models}"
            )
        if self.n_videos < 2:
            raise SmoothscopeError(f"n_videos: expected at least 2, got {self.n_videos}")
        if self.maxpool_threshold == 0:
            raise SmoothscopeError("maxpool_threshold: expected > 0 (or < 0 to estimate it)")

    def nonsmoothness(self) -> NonsmoothnessConfig:
        """The ``nonsmoothness`` config whose ellipsoid training cells this run shares."""
        return NonsmoothnessConfig(
            seed=self.seed,
            threads_per_cell=self.threads_per_cell,
            datasets=("ellipsoid",),
            n_models=self.n_models,
            frames=self.frames,
            image_size=self.image_size,
            ellipsoid_train=self.ellipsoid_train,
            ellipsoid_val=self.ellipsoid_val,
            ellipsoid_videos=self.n_videos,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            peak_factor=self.peak_factor,
        )
