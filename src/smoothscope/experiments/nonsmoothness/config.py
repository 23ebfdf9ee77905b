"""Config of the ``nonsmoothness`` experiment: the protocol of paper A §IV and Appendix A.

The dataclass holds the paper's counts as defaults and the quick / standard presets; beside it,
the datasets, the setups' labels and the constants of the toy examples of §III-B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from .._base import ExperimentConfig

__all__ = ["DATASETS", "LABELS", "PACKAGE", "TAU_D", "TOY_STEP", "NonsmoothnessConfig"]

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


@dataclass(frozen=True)
class NonsmoothnessConfig(ExperimentConfig):
    """Protocol of paper A §IV and Appendix A; the defaults are the paper's counts.

    Attributes:
        datasets: ``ellipsoid`` and/or ``digits``.
        n_models: autoencoders trained per setup and dataset (paper: 10).
        frames: frames T of each test video (paper: 100).
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

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "n_models": Bound(1, 1000),
        "frames": Bound(3, 10_000, unit_bytes=28 * 28 * 4, unit="28×28 float32 frame of a video"),
        "image_size": Bound(4, 256),
        "ellipsoid_train": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="training frame"),
        "ellipsoid_val": Bound(1, 500_000, unit_bytes=28 * 28 * 4, unit="validation frame"),
        "ellipsoid_videos": Bound(1, 10_000),
        "digit": Bound(0, 9),
        "digit_templates": Bound(1, 100_000, unit_bytes=28 * 28 * 4, unit="template image"),
        "lr": Bound(0, 10.0, low_open=True),
    }

    QUICK: ClassVar[dict[str, Any]] = {
        "n_models": 3,
        "frames": 60,
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
        "frames": 100,
        "ellipsoid_train": 2500,
        "ellipsoid_val": 300,
        "ellipsoid_videos": 30,
        "digit_angles": 15,
        "digit_val_angles": 2,
        "digit_videos": 10,
        "fashion_templates": 500,
        "epochs": 8,
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
