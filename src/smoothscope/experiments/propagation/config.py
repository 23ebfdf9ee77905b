"""Config of the ``propagation`` experiment: the protocol of paper A §V on the ellipsoid
autoencoders, which it shares with the ``nonsmoothness`` experiment (the same training cells),
and its protocol ledger (the entries of the autoencoders and the ellipsoid videos are those of
``nonsmoothness.config.AUTOENCODER_PROTOCOL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...protocol import NO_VALUE, PaperValue
from .._base import ExperimentConfig
from ..nonsmoothness.config import (
    AUTOENCODER_PROTOCOL,
    AUTOENCODER_RUNTIME,
    NonsmoothnessConfig,
    paper_path_density,
)

__all__ = ["CHAIN", "CURVE_LAYERS", "GAMMA_LAYER", "PACKAGE", "PropagationConfig"]

PACKAGE = "smoothscope.experiments.propagation"
"""Import path of the experiment; cells name their functions ``f"{PACKAGE}:record_cell"`` (the
path enters the cell ids and seeds, so it must not change)."""
CHAIN = ("encoder.conv2", "encoder.act2", "encoder.pool2")
"""Fig. 8e: convolution → ReLU → max pooling."""
CURVE_LAYERS = ("encoder.conv2", "decoder.deconv1", "decoder.deconv2", "decoder.deconv3")
"""The layers of the R² claims, whose R² (and conv2's γ) are also measured at fewer frames
(``curve_strides``) and on the ellipsoid variant with the terminator pixels blanked."""
GAMMA_LAYER = "encoder.conv2"
"""The layer of the discounting-factor claim (§V-B)."""


@dataclass(frozen=True)
class PropagationConfig(ExperimentConfig):
    """Protocol of paper A §V on the ellipsoid autoencoders (paper-scale defaults).

    Attributes:
        n_models: autoencoders per setup (paper: 10); the last ``held_out_models`` are not used
            for fitting channels (the R² and correlation claims use every model).
        held_out_models: autoencoders per setup kept for evaluation only.
        n_videos: smooth ellipsoid test videos (video 0: the paper's path); the second half is
            held out from fitting.
        frames_per_unit: frames per unit of light-path length (see the ``nonsmoothness``
            experiment; the reference 39.24 puts 1000 frames on the paper's path).
        image_size, ellipsoid_train, ellipsoid_val, epochs, batch_size, lr: as in the
            ``nonsmoothness`` experiment.
        peak_factor: peak threshold factor (paper: 10).
        maxpool_threshold: a of eq. 8; a negative value (the default) estimates it from the data
            by maximum likelihood; 0.0025 is the paper's value, which belongs to its SMP scale.
        curve_strides: the R² of the linear layers and conv2's γ are also measured on every
            k-th frame of each video for each k here (1 first): the same paths at
            ``frames_per_unit / k``, for the figure of R² and γ against the frame count.
        n_boot: bootstrap replicates of the intervals.
    """

    n_models: int = 10
    held_out_models: int = 2
    n_videos: int = 100
    frames_per_unit: float = paper_path_density(1000)
    image_size: int = 28
    ellipsoid_train: int = 10000
    ellipsoid_val: int = 1000
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    peak_factor: float = 10.0
    maxpool_threshold: float = -1.0
    curve_strides: tuple[int, ...] = (1, 2, 3, 5, 10)
    n_boot: int = 1000

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """With ``device="cuda"`` the autoencoders' trainings (the nonsmoothness cells) and the
    recording cells' float64 forward passes run there; the SMP maps, the discounting sums
    (float64, sequential over videos) and the channel fits stay on the CPU."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "n_models": Bound(2, 1000),
        "n_videos": Bound(2, 10_000),
        "frames_per_unit": Bound(
            0.1, 400.0, unit_bytes=26 * 28 * 28 * 8, unit="frame per unit of path (one video)"
        ),
        "image_size": Bound(4, 256),
        "ellipsoid_train": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="training frame"),
        "ellipsoid_val": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="validation frame"),
        "lr": Bound(0, 10.0, low_open=True),
        "maxpool_threshold": Bound(None, 1.0),  # negative: estimated by maximum likelihood
        "curve_strides": Bound(1, 100, max_entries=8),
    }

    PROTOCOL: ClassVar[Mapping[str, PaperValue]] = {
        "n_models": PaperValue(
            10,
            "A §IV-B, App. A: ten trained autoencoders per setup",
            reasons={"quick": "time: 3 per setup", "standard": "time: 5 per setup"},
            replicate=True,
        ),
        "held_out_models": PaperValue(
            NO_VALUE,
            "A §V fits and shows its channels on the same data",
            reasons={
                "*": "ours: channels are fitted on the other models and evaluated on held-out "
                "ones (only the channel and whole-network claims use the split)",
            },
        ),
        "n_videos": PaperValue(
            100,
            "A §IV-B: 100 videos with random light paths",
            reasons={"quick": "time: 8 videos", "standard": "time: 16 videos"},
            replicate=True,
        ),
        "maxpool_threshold": PaperValue(
            0.0025,
            "A §V-D, eq. 8: a = 0.0025",
            reasons={
                "*": "0.0025 belongs to the paper's SMP scale (its intensities, frames and "
                "networks): on ours 97.7 % of the pool2 windows fall below it and eq. 8 "
                "collapses to one Gaussian; a is estimated by maximum likelihood instead "
                "(set maxpool_threshold=0.0025 for the paper's)",
            },
            display="0.0025 (on the paper's SMP scale)",
        ),
        "curve_strides": PaperValue(
            NO_VALUE,
            "issue 25: R² and γ against the frame count (not in the paper)",
            reasons={"*": "ours: T, T/2, T/3, T/5, T/10 frames on the same paths"},
        ),
        "r2_level": PaperValue(
            "channel means",
            "A §V-B: μ̂_mn = 1/C Σ_c y_cmn against w0 Σ_uvc x_cuv (eq. 6) and Σ |W| x (eq. 5)",
        ),
        "r2_pooling": PaperValue(
            NO_VALUE,
            "A §V-B compares 'the nodes in the output' (of how many models and videos is not said)",
            reasons={
                "*": "ours: every output node of every model and video, one least-squares "
                "line; the interval from a bootstrap over models, then videos",
            },
        ),
        "w0_estimate": PaperValue(
            "E[W]",
            "A §V-B: E[W_cij] = w0",
            reasons={
                "*": "ours: the mean |W| (eq. 6 is the expectation of eq. 5, whose terms are "
                "|W|·X; E[W] ≈ 0 for trained filters); R² is scale-free, so no claim depends "
                "on it",
            },
        ),
        "n_boot": PaperValue(
            NO_VALUE,
            "A reports no intervals",
            reasons={"*": "ours: percentile intervals of a two-level bootstrap"},
            replicate=True,
        ),
        **AUTOENCODER_PROTOCOL,
    }
    RUNTIME_PROTOCOL: ClassVar[tuple[str, ...]] = (
        *AUTOENCODER_RUNTIME,
        "r2_level",
        "r2_pooling",
        "w0_estimate",
    )

    QUICK: ClassVar[dict[str, Any]] = {
        "n_models": 3,
        "held_out_models": 1,
        "n_videos": 8,
        "frames_per_unit": paper_path_density(100),
        "ellipsoid_train": 1200,
        "ellipsoid_val": 200,
        "epochs": 6,
        "batch_size": 16,
        "curve_strides": (1, 2),
        "n_boot": 400,
    }
    STANDARD: ClassVar[dict[str, Any]] = {
        "n_models": 5,
        "held_out_models": 1,
        "n_videos": 16,
        "frames_per_unit": paper_path_density(300),
        "ellipsoid_train": 10000,
        "ellipsoid_val": 1000,
        "epochs": 2,
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
        if self.curve_strides[0] != 1:
            raise SmoothscopeError(
                f"curve_strides: expected 1 first (the full videos), got {self.curve_strides}"
            )

    def nonsmoothness(self) -> NonsmoothnessConfig:
        """The ``nonsmoothness`` config whose ellipsoid training cells this run shares."""
        return NonsmoothnessConfig(
            seed=self.seed,
            threads_per_cell=self.threads_per_cell,
            device=self.device,
            datasets=("ellipsoid",),
            n_models=self.n_models,
            frames_per_unit=self.frames_per_unit,
            image_size=self.image_size,
            ellipsoid_train=self.ellipsoid_train,
            ellipsoid_val=self.ellipsoid_val,
            ellipsoid_videos=self.n_videos,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            peak_factor=self.peak_factor,
        )
