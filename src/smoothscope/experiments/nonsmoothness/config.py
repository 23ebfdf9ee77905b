"""Config of the ``nonsmoothness`` experiment: the protocol of paper A §IV and Appendix A.

The dataclass holds the paper's counts as defaults, the quick / standard presets and the
protocol ledger (``PROTOCOL``: each field the paper fixes, with its value and section, or "paper
gives none" and the reason for ours); beside it, the datasets, the setups' labels, the light
paths of the ellipsoid videos and the constants of the toy examples of §III-B. The ledger
entries shared with the ``propagation`` experiment (the autoencoders, their training, the
ellipsoid videos) are :data:`AUTOENCODER_PROTOCOL`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...protocol import NO_VALUE, PaperValue
from .._base import ExperimentConfig

__all__ = [
    "AUTOENCODER_PROTOCOL",
    "DATASETS",
    "LABELS",
    "MIN_PATH_LENGTH",
    "PACKAGE",
    "PAPER_PATH",
    "PAPER_PATH_LENGTH",
    "TAU_D",
    "TOY_STEP",
    "NonsmoothnessConfig",
    "frames_on_path",
    "paper_path_density",
    "runtime_protocol_values",
]

PACKAGE = "smoothscope.experiments.nonsmoothness"
"""Import path of the experiment; cells name their functions ``f"{PACKAGE}:train_cell"`` (the
path enters the cell ids and seeds, so it must not change)."""
DATASETS = ("ellipsoid", "digits", "fashion")
"""``fashion`` (rotated Fashion-MNIST templates of one class, noise-ramp videos) is the
project's third smooth-video dataset; its claims are of kind "extension"."""
DEFAULT_DATASETS = ("ellipsoid", "digits")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
LABELS = {
    "input": "original",
    "relu_maxpool": "ReLU+MaxPool",
    "softplus_avgpool": "Softplus+AvgPool",
}
TAU_D = 0.02
"""Paper A's detection threshold of eq. 2 for the toy examples (§III-B)."""
TOY_STEP = 0.1
"""Paper A's sampling step of the toy examples (Figs. 1, 2)."""

PAPER_PATH = ((-9.0, -9.0), (9.0, 9.0))
"""The light path of paper A's test video (§IV-B): (−9, −9, 20) → (9, 9, 20)."""
PAPER_PATH_LENGTH = 18.0 * math.sqrt(2.0)
"""Length of :data:`PAPER_PATH` in the scene's units (≈ 25.46)."""
MIN_PATH_LENGTH = 5.0
"""Random light paths shorter than this (a fifth of the paper's path) are drawn again: at the
quick density they would carry too few frames for the peak rule (§V-B) to see an event."""


def paper_path_density(frames: int) -> float:
    """Frames per unit of light-path length that put ``frames`` frames on the paper's path."""
    return (frames - 1) / PAPER_PATH_LENGTH


def frames_on_path(length: float, frames_per_unit: float) -> int:
    """Frames of a straight light path of ``length`` sampled at ``frames_per_unit`` (both ends
    included, so the spacing is ``length / (T − 1) ≈ 1 / frames_per_unit``); at least 3."""
    return max(3, 1 + round(length * frames_per_unit))


_ELLIPSOID = "A §IV-A"
_TRAINING = "A §IV-A (training); App. A: 'the same training set[up] as in Section IV'"
AUTOENCODER_PROTOCOL: dict[str, PaperValue] = {
    "frames_per_unit": PaperValue(
        paper_path_density(1000),
        "A §IV-B gives no frame count or rate for the ellipsoid: the light moves '(−9, −9, 20) "
        "to (9, 9, 20) at a speed of 2 pixels per second'. Reference value (issue 25): 1000 "
        "frames on that path, so that each pixel or node series carries far fewer than T/10 "
        "events (the peak rule of §V-B counts at most about T/10); docs/propagation.md, "
        "'Frames per video', measures R² and γ against it",
        reasons={
            "quick": "the demo's minute on 2 cores: 100 frames on the paper's path (the peak "
            "rule then saturates on busy nodes; quick decides no R² claim)",
            "standard": "the 7-minute budget of propagation on 2 cores: 300 frames on the "
            "paper's path (docs/propagation.md, 'Frames per video': R² and γ against the "
            "frame count, measured up to 1000)",
        },
        rel_tol=1e-6,
        display="(paper gives none) reference: 1000 frames on the paper's path = "
        f"{paper_path_density(1000):.2f} per unit of path length",
    ),
    "image_size": PaperValue(
        28,
        "A App. A: the MNIST digits (28 × 28) have 'the same size as the ellipsoid images'",
    ),
    "ellipsoid_train": PaperValue(
        10000,
        _ELLIPSOID + ": 10000 light positions for training",
        reasons={"quick": "the demo's minute on 2 cores (quick decides few claims)"},
    ),
    "ellipsoid_val": PaperValue(
        1000,
        _ELLIPSOID + ": another 1000 for validation",
        reasons={"quick": "the demo's minute on 2 cores (quick decides few claims)"},
    ),
    "epochs": PaperValue(
        NO_VALUE,
        _TRAINING + ": the model with the lowest validation error is kept; no epoch count",
        reasons={
            "*": "ours: enough passes for the validation loss to level off within the scale's "
            "time (the checkpoint with the lowest validation loss is kept, as the paper does)",
        },
    ),
    "batch_size": PaperValue(
        NO_VALUE,
        _TRAINING + ": no batch size",
        reasons={"*": "ours: a common Adam minibatch for 28 × 28 images"},
    ),
    "lr": PaperValue(1e-3, _TRAINING + ": Adam, learning rate 10^-3"),
    "peak_factor": PaperValue(
        10.0,
        "A §V-B: a peak is 'a value that is ten times larger than the sample mean and median "
        "in a time series' (with a rounding floor 4ε·max|x| that only removes float residues, "
        "docs/nonsmoothness.md)",
    ),
    # values the run records itself (runtime_protocol_values)
    "architecture": PaperValue(
        NO_VALUE,
        "A §IV-A, App. B: a convolutional encoder with pooling and a decoder of three "
        "transposed convolutions; no widths or kernel sizes",
        reasons={
            "*": "ours: the smallest widths with a real bottleneck (an 8 × 7 × 7 code for 784 "
            "pixels), so reconstructions are 'slightly blurred' as in Figs. 4 and 9",
        },
    ),
    "optimizer": PaperValue("Adam", _TRAINING),
    "loss": PaperValue("MSE", _TRAINING),
    "checkpoint": PaperValue("lowest validation loss", _TRAINING),
    "shading": PaperValue(
        "max(vᵀn, 0)",
        "A §IV-A: 'the fully diffuse light reflection model [19], namely, max(vᵀn, 0)'; its "
        "shadow terminator is a kink in time at the pixels it crosses, a property of this "
        "model (measured by A.ellipsoid.input_smooth; the variant ellipsoid_blanked removes it)",
    ),
    "ellipsoid_axes": PaperValue((2.5, 4.0, 1.0), "A §IV-A: a = 2.5, b = 4, c = 1, z > 0"),
    "light_height": PaperValue(20.0, "A §IV-A, §IV-B: lights at (x, y, 20)"),
    "test_light_paths": PaperValue(
        NO_VALUE,
        "A §IV-B: 'random moving paths of the light source' (no distribution); video 0 is the "
        "paper's path (−9, −9) → (9, 9)",
        reasons={
            "*": "ours: straight constant-speed paths between two points iid U(−10, 10)², the "
            "training lights' range; paths shorter than 5 drawn again",
        },
    ),
    "field_of_view": PaperValue(
        NO_VALUE,
        "A §IV-A: no camera or image geometry",
        reasons={"*": "ours: orthographic view of [−5, 5]² (the ellipsoid fills the frame)"},
    ),
}
"""Ledger entries shared by ``nonsmoothness`` and ``propagation``: the ellipsoid videos, the
autoencoders and their training. Entries that are not config fields are listed in
``RUNTIME_PROTOCOL`` and filled by :func:`runtime_protocol_values`."""
AUTOENCODER_RUNTIME = (
    "architecture",
    "optimizer",
    "loss",
    "checkpoint",
    "shading",
    "ellipsoid_axes",
    "light_height",
    "test_light_paths",
    "field_of_view",
)


def runtime_protocol_values() -> dict[str, Any]:
    """The values of the ledger entries of :data:`AUTOENCODER_RUNTIME` (fixed in code)."""
    from ...data import ellipsoid

    return {
        "architecture": "conv 3×3 (16, 32, 8), 2×2 pooling after the first two; transposed "
        "conv 3×3 (32, 16, 1), strides 2, 2, 1",
        "optimizer": "Adam",
        "loss": "MSE",
        "checkpoint": "lowest validation loss",
        "shading": "max(vᵀn, 0)",
        "ellipsoid_axes": tuple(ellipsoid.AXES),
        "light_height": ellipsoid.LIGHT_HEIGHT,
        "test_light_paths": "video 0: (−9, −9) → (9, 9); others: endpoints iid U(−10, 10)², "
        f"length ≥ {MIN_PATH_LENGTH:g}",
        "field_of_view": f"[−{ellipsoid.FIELD_OF_VIEW:g}, {ellipsoid.FIELD_OF_VIEW:g}]²",
    }


_QUICK_TRAINING = "the demo's minute on 2 cores (quick decides few claims)"


@dataclass(frozen=True)
class NonsmoothnessConfig(ExperimentConfig):
    """Protocol of paper A §IV and Appendix A; the defaults are the paper's counts.

    Attributes:
        datasets: ``ellipsoid`` and/or ``digits`` (and the extension ``fashion``).
        n_models: autoencoders trained per setup and dataset (paper: 10).
        frames: frames T of each noise-ramp video (digits, fashion; paper: 100, eq. 9).
        frames_per_unit: frames per unit of light-path length of the ellipsoid videos; a path of
            length L has ``1 + round(L · frames_per_unit)`` frames (the paper gives none; the
            reference, 39.24, puts 1000 frames on the paper's path).
        image_size: image side (28, the size of MNIST digits).
        ellipsoid_train, ellipsoid_val: training / validation frames (paper: 10000 / 1000).
        ellipsoid_videos: test videos with random light paths; video 0 is the paper's path
            (-9, -9) → (9, 9) (paper: 100).
        digit: the digit class (paper: 7).
        mnist_path: folder of MNIST IDX files; None uses scikit-learn's bundled digits.
        fashion_class: the Fashion-MNIST class of the ``fashion`` templates (default 7,
            "Sneaker"); its templates are rotated and noise-ramped like the digits (App. A).
        fashion_templates: number of ``fashion`` templates (None: all of that class).
        data_dir: a folder searched first for Fashion-MNIST (see ``smoothscope.data.real``).
        digit_templates: number of template images (None: all of that digit; paper: 6265).
        digit_angles, digit_val_angles: rotations per template for training / validation
            (paper: 60 and 60).
        digit_videos: noise-ramp test videos (paper: 10).
        epochs, batch_size, lr: training (paper: Adam, lr 1e-3; epochs and batch size unstated).
        peak_factor: peak threshold factor (paper: 10).
        n_boot: bootstrap replicates of the intervals.
    """

    datasets: tuple[str, ...] = DEFAULT_DATASETS
    n_models: int = 10
    frames: int = 100
    frames_per_unit: float = paper_path_density(1000)
    image_size: int = 28
    ellipsoid_train: int = 10000
    ellipsoid_val: int = 1000
    ellipsoid_videos: int = 100
    digit: int = 7
    mnist_path: str | None = None
    fashion_class: int = 7
    fashion_templates: int | None = None
    data_dir: str | None = None
    digit_templates: int | None = None
    digit_angles: int = 60
    digit_val_angles: int = 60
    digit_videos: int = 10
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    peak_factor: float = 10.0
    n_boot: int = 2000

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """With ``device="cuda"`` the autoencoders' trainings and the reconstructions of the test
    videos (float64) run there; rendering the videos and the δ²/peak statistics (float64,
    per pixel series) stay on the CPU."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "n_models": Bound(1, 1000),
        "frames": Bound(3, 10_000, unit_bytes=28 * 28 * 8, unit="28×28 float64 frame"),
        "frames_per_unit": Bound(
            0.1, 400.0, unit_bytes=26 * 28 * 28 * 8, unit="frame per unit of path (one video)"
        ),
        "image_size": Bound(4, 256),
        "ellipsoid_train": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="training frame"),
        "ellipsoid_val": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="validation frame"),
        "ellipsoid_videos": Bound(1, 10_000),
        "digit": Bound(0, 9),
        "digit_templates": Bound(1, 100_000, unit_bytes=28 * 28 * 4, unit="template image"),
        "lr": Bound(0, 10.0, low_open=True),
    }

    PROTOCOL: ClassVar[Mapping[str, PaperValue]] = {
        "n_models": PaperValue(
            10,
            "A §IV-B ('ten trained autoencoders'), App. A (ten per setup)",
            reasons={"quick": "time: 3 per setup", "standard": "time: 4 per setup"},
            replicate=True,
        ),
        "frames": PaperValue(100, "A App. A, eq. 9: α(t) = 10⁻²(0.02t − 1), t = 1, 2, …, 100"),
        "ellipsoid_videos": PaperValue(
            100,
            "A §IV-B: '100 input videos with random moving paths of the light source'",
            reasons={"quick": "time: 10 videos", "standard": "time: 30 videos"},
            replicate=True,
        ),
        "digit": PaperValue(7, "A App. A: digit '7' images"),
        "digit_templates": PaperValue(
            None,
            "A App. A: all 6265 sevens of MNIST's training set (None: all available)",
            display="all 6265 sevens of MNIST",
        ),
        "digit_angles": PaperValue(
            60,
            "A App. A: each template rotated by 60 angles iid U(−30°, 30°)",
            reasons={"quick": _QUICK_TRAINING},
        ),
        "digit_val_angles": PaperValue(
            60,
            "A App. A: 'another 60 angles for each of the 6265 template images'",
            reasons={"quick": _QUICK_TRAINING},
        ),
        "digit_videos": PaperValue(
            10,
            "A App. A: 'ten template images to construct ten smooth videos'",
            reasons={"quick": "time: 6 videos"},
            replicate=True,
        ),
        "digit_template_source": PaperValue(
            "MNIST",
            "A App. A: MNIST [20]",
            reasons={
                "*": "MNIST is not bundled: scikit-learn's 179 8×8 sevens resampled to 28×28 "
                "unless --set mnist_path=DIR points at MNIST IDX files",
            },
        ),
        "n_boot": PaperValue(
            NO_VALUE,
            "A reports no intervals",
            reasons={"*": "ours: percentile intervals of a two-level bootstrap"},
            replicate=True,
        ),
        "ave_nonsmooth_normalisation": PaperValue(
            "1/(MNT)",
            "A eq. 4",
            reasons={
                "*": "δ² exists at T − 2 frames, so ours averages over those: the paper's "
                "value is ours × (T − 2)/T; the same factor for input and reconstructions, so "
                "no claim depends on it",
            },
        ),
        **AUTOENCODER_PROTOCOL,
    }
    RUNTIME_PROTOCOL: ClassVar[tuple[str, ...]] = (
        *AUTOENCODER_RUNTIME,
        "digit_template_source",
        "ave_nonsmooth_normalisation",
    )

    QUICK: ClassVar[dict[str, Any]] = {
        "n_models": 3,
        "frames_per_unit": paper_path_density(100),
        "ellipsoid_train": 1200,
        "ellipsoid_val": 200,
        "ellipsoid_videos": 10,
        "digit_angles": 6,
        "digit_val_angles": 1,
        "digit_videos": 6,
        "fashion_templates": 200,
        "epochs": 6,
        "batch_size": 16,
        "n_boot": 1000,
    }
    STANDARD: ClassVar[dict[str, Any]] = {
        "n_models": 4,
        "frames_per_unit": paper_path_density(300),
        "ellipsoid_train": 10000,
        "ellipsoid_val": 1000,
        "ellipsoid_videos": 30,
        "digit_angles": 60,
        "digit_val_angles": 60,
        "digit_videos": 10,
        "fashion_templates": 500,
        "epochs": 2,
        "batch_size": 32,
        "n_boot": 2000,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [d for d in self.datasets if d not in DATASETS]
        if bad or not self.datasets:
            raise SmoothscopeError(
                f"datasets: expected a non-empty subset of {', '.join(DATASETS)}, got {bad or '()'}"
            )
        if self.frames < 3:
            raise SmoothscopeError(f"frames: expected at least 3, got {self.frames}")
        if self.image_size % 4:
            raise SmoothscopeError(f"image_size: expected a multiple of 4, got {self.image_size}")
        for name in (
            "n_models",
            "ellipsoid_train",
            "ellipsoid_val",
            "ellipsoid_videos",
            "digit_angles",
            "digit_val_angles",
            "digit_videos",
            "epochs",
            "batch_size",
            "n_boot",
        ):
            if getattr(self, name) < 1:
                raise SmoothscopeError(
                    f"{name}: expected a positive integer, got {getattr(self, name)}"
                )
        if not 0 <= self.digit <= 9:
            raise SmoothscopeError(f"digit: expected 0..9, got {self.digit}")
        if not 0 <= self.fashion_class <= 9:
            raise SmoothscopeError(f"fashion_class: expected 0..9, got {self.fashion_class}")
