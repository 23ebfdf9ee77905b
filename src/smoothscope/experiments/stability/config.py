"""Config of the ``stability`` experiment (paper B §2): the protocol, its scales and bounds.

The fields are the paper-scale protocol (Petrini et al. 2021 / paper B §2, on the images found
offline); ``QUICK`` and ``STANDARD`` list what those scales change. :data:`VARIANTS` are the
versions of each network that the cells measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...models import available_models
from .._base import ExperimentConfig

__all__ = ["VARIANTS", "StabilityConfig"]

VARIANTS = ("init", "trained", "shuffled", "init-shuffled")
"""Measured versions of each network; ``init-shuffled`` is the control of the shuffling claim
(the channels of an untrained network are exchangeable, so shuffling should not change R_k)."""


@dataclass(frozen=True)
class StabilityConfig(ExperimentConfig):
    """Protocol (paper B §2 / Petrini et al. 2021, on the images found offline).

    Attributes:
        architectures: zoo names (paper: VGG11, VGG11bn, VGG16, LeNet, AlexNet, ResNet18, FCN…).
        width: channel multiplier of the zoo models (1 = the standard widths).
        seeds: trained networks per architecture (the Fig. 1 correlation is over all of them).
        epochs, batch_size, lr: training with Adam on the cross-entropy.
        dataset, data_dir: :func:`smoothscope.data.real.load_images` name and folder.
        n_train, n_test: training and test images drawn from the dataset's splits (0 = all).
        n_inputs: test images used by the measures.
        diffeos_per_input: diffeomorphisms (and noise draws) per input.
        cut: high-frequency cut-off c of the diffeomorphisms (Petrini et al.: 3).
        temperature: T; a non-positive value takes the geometric middle of the natural range.
        input_noise: standard deviations η of the Gaussian noise added once to every training
            and test image (paper B Fig. 1 right / C3, "noisy CIFAR10"); every network is trained
            at every η, the claims use the smallest η (0: the clean images).
        convention: ``"project"`` or ``"peer"`` (the original authors' code: δ = 1 pixel and
            the all-pairs denominator), passed to
            :func:`~smoothscope.analysis.stability.relative_stability`.
        interpolation: ``""`` (the convention's), ``"bilinear"`` or ``"nearest"`` (the
            peers' option) for the diffeomorphisms.
    """

    architectures: tuple[str, ...] = (
        "lenet",
        "fcn",
        "alexnet",
        "vgg11",
        "vgg11bn",
        "vgg16",
        "resnet18",
    )
    width: float = 1.0
    seeds: int = 3
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    dataset: str = "auto"
    data_dir: str | None = None
    n_train: int = 0
    n_test: int = 2000
    n_inputs: int = 300
    diffeos_per_input: int = 8
    cut: float = 3.0
    temperature: float = 0.0
    convention: str = "project"
    interpolation: str = ""
    input_noise: tuple[float, ...] = (0.0,)
    n_boot: int = 2000

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """Training and D/G/R run on CUDA with ``device="cuda"``; filter spectra, shuffling and
    the claims on the CPU."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "n_train": Bound(0, 1_000_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "n_test": Bound(0, 1_000_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "n_inputs": Bound(2, 100_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "temperature": Bound(None, 1e6),  # non-positive: the middle of the natural range
        "width": Bound(0, 16.0, low_open=True),
        "lr": Bound(0, 10.0, low_open=True),
        "input_noise": Bound(0, 10.0),
    }

    STANDARD: ClassVar[dict[str, Any]] = {
        "architectures": ("lenet", "fcn", "alexnet", "vgg11", "vgg11bn"),
        "width": 0.25,
        "seeds": 4,
        "epochs": 5,
        "batch_size": 32,
        "lr": 2e-3,
        "n_train": 5000,
        "n_test": 1000,
        "n_inputs": 128,
        "diffeos_per_input": 4,
        "n_boot": 2000,
    }
    """20 networks (about 900 CPU-seconds): the Fig. 1 correlation decides |ρ| ≳ 0.45."""

    QUICK: ClassVar[dict[str, Any]] = {
        "architectures": ("lenet", "fcn", "alexnet", "vgg11", "vgg11bn"),
        "width": 0.25,
        "seeds": 3,
        "epochs": 3,
        "batch_size": 32,
        "lr": 2e-3,
        "n_train": 1000,
        "n_test": 300,
        "n_inputs": 48,
        "diffeos_per_input": 2,
        "n_boot": 1000,
    }
    """15 small networks trained briefly (about 110 CPU-seconds): the test errors spread over
    25–60 %, enough to exercise every rule, too few epochs to decide the paper's claims."""

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in self.architectures if a not in available_models()]
        if unknown or not self.architectures:
            raise SmoothscopeError(
                f"architectures: expected zoo names ({', '.join(available_models())}), "
                f"got {unknown or '()'}"
            )
        if self.width <= 0 or self.seeds < 1 or self.n_inputs < 2:
            raise SmoothscopeError("width > 0, seeds ≥ 1 and n_inputs ≥ 2 are required")
        if self.n_train < 0 or self.n_test < 0 or 0 < self.n_test < self.n_inputs:
            raise SmoothscopeError(
                f"n_train, n_test: expected 0 (all) or counts with n_test ≥ n_inputs, got "
                f"{self.n_train}, {self.n_test}"
            )
        if not self.input_noise or any(e < 0 for e in self.input_noise):
            raise SmoothscopeError(
                f"input_noise: expected noise levels ≥ 0, got {self.input_noise!r}"
            )
        if self.interpolation not in ("", "bilinear", "nearest"):
            raise SmoothscopeError(
                f"interpolation: expected '', 'bilinear' or 'nearest', got {self.interpolation!r}"
            )
        if self.convention not in ("project", "peer"):
            raise SmoothscopeError(
                f"convention: expected 'project' or 'peer', got {self.convention!r}"
            )
