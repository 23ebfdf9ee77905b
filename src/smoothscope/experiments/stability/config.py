"""Config of the ``stability`` experiment (paper B §2): the protocol, its scales and bounds.

The fields are the paper-scale protocol (paper B §2 and the original code: the networks trained
with ``leonardopetrini/diffeo-sota`` ``main.py``, the sensitivities measured with
``leonardopetrini/relativestability``, on the images found offline); ``QUICK`` and ``STANDARD``
list what those scales change, and ``PROTOCOL`` gives, for every field the paper or its code
fixes, the paper's value, its source and why a scale deviates (:mod:`smoothscope.protocol`).
:data:`VARIANTS` are the versions of each network that the cells measure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...models import available_models
from ...protocol import NO_VALUE, PaperValue
from .._base import ExperimentConfig

__all__ = ["CHOICES", "PAPER_ARCHITECTURES", "PAPER_ZOO", "VARIANTS", "StabilityConfig"]

VARIANTS = ("init", "trained", "shuffled", "init-shuffled")
"""Measured versions of each network; ``init-shuffled`` is the control of the shuffling claim
(the channels of an untrained network are exchangeable, so shuffling should not change R_k)."""
PAPER_ARCHITECTURES = (
    "VGG11, VGG11bn, VGG16bn, VGG19bn, ResNet18/34/50, AlexNet, LeNet, EfficientNetB0, "
    "FCNs with 2, 4, 6 layers"
)
"""The architectures of paper B Fig. 1 (relativestability experiments.md, Figs. 1 and 10)."""
PAPER_ZOO = (
    "vgg11", "vgg11bn", "vgg16bn", "vgg19bn", "resnet18", "resnet34", "resnet50", "alexnet",
    "lenet", "efficientnetb0", "fcn2", "fcn4", "fcn6",
)  # fmt: skip
CHOICES = {
    "optimizer": ("sgd", "adam"),
    "scheduler": ("cosine", "none"),
    "convention": ("project", "peer"),
    "interpolation": ("", "bilinear", "nearest"),
    "shuffle": ("shared", "per-output"),
    "correlation": ("architectures", "networks"),
}
"""The allowed values of the config's choice fields."""
_SOTA = "leonardopetrini/diffeo-sota main.py (relativestability experiments.md, Fig. 1)"
_TIME = "time: the standard run must fit its 10-minute budget on 2 CPU cores"
_QUICK = "time: the quick run takes about a minute (make demo)"


@dataclass(frozen=True)
class StabilityConfig(ExperimentConfig):
    """Protocol (paper B §2, its code; on the images found offline).

    Attributes:
        architectures: zoo names (paper: VGG11, VGG11bn, VGG16, LeNet, AlexNet, ResNet18, FCN…).
        width: channel multiplier of the zoo models (1 = the standard widths, the paper's).
        seeds: trained networks per architecture.
        epochs, batch_size, lr, optimizer, momentum, weight_decay, scheduler, augment: the
            training recipe of the convolutional networks (paper: SGD, lr 0.1, momentum 0.9,
            weight decay 5·10⁻⁴, cosine annealing over 0.8 × the epochs, random crops with a
            4-pixel zero padding and horizontal flips, batch 128, 250 epochs; the checkpoint
            with the best test accuracy). ``optimizer="adam"`` with ``scheduler="none"``,
            ``momentum=0``, ``weight_decay=0`` and ``augment=False`` is the former recipe.
        normalize: standardise the images per channel as the original code
            (``transforms.Normalize``: CIFAR-10's channel means and deviations, (0.5, 0.5) for
            the grey sets); the crops pad with a black pixel's normalised value.
        fcn_lr: the fully connected networks' recipe: Adam at this learning rate, no
            scheduler, no weight decay (paper: 0.1); with ``optimizer="adam"`` they take ``lr``.
        dataset, data_dir: :func:`smoothscope.data.real.load_images` name and folder.
        n_train, n_test: training and test images drawn from the dataset's splits (0 = all).
        n_inputs: test images used by the measures.
        diffeos_per_input: diffeomorphisms (and noise draws) per input.
        cut: high-frequency cut-off c of the diffeomorphisms (Petrini et al.: 3).
        temperature: T; a non-positive value takes the convention's (peer: δ = 1 pixel;
            project: the geometric middle of the natural range).
        input_noise: standard deviations η of the Gaussian noise added once to every training
            and test image (paper B Fig. 1 right / C3, "noisy CIFAR10"); every network is trained
            at every η, the claims use the smallest η (0: the clean images).
        convention: ``"peer"`` (the original code: δ = 1 pixel and the all-pairs denominator)
            or ``"project"``, passed to
            :func:`~smoothscope.analysis.stability.relative_stability`.
        interpolation: ``""`` (the convention's), ``"bilinear"`` or ``"nearest"`` (the
            peers' option) for the diffeomorphisms.
        shuffle: channel shuffling, ``"shared"`` (the original code) or ``"per-output"``.
        correlation: the Fig. 1 correlation over ``"architectures"`` (each architecture's seeds
            averaged, interval from a bootstrap over architectures and their seeds) or over
            ``"networks"`` (every trained network a point: the former rule).
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
    seeds: int = 4
    epochs: int = 250
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scheduler: str = "cosine"
    augment: bool = True
    normalize: bool = True
    fcn_lr: float = 0.1
    dataset: str = "auto"
    data_dir: str | None = None
    n_train: int = 0
    n_test: int = 0
    n_inputs: int = 500
    diffeos_per_input: int = 8
    cut: float = 3.0
    temperature: float = 0.0
    convention: str = "peer"
    interpolation: str = ""
    shuffle: str = "shared"
    correlation: str = "architectures"
    input_noise: tuple[float, ...] = (0.0,)
    n_boot: int = 2000

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """Training and D/G/R run on CUDA with ``device="cuda"``; filter spectra, shuffling and
    the claims on the CPU."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "n_train": Bound(0, 1_000_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "n_test": Bound(0, 1_000_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "n_inputs": Bound(2, 100_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "temperature": Bound(None, 1e6),  # non-positive: the convention's
        "width": Bound(0, 16.0, low_open=True),
        "lr": Bound(0, 10.0, low_open=True),
        "fcn_lr": Bound(0, 10.0, low_open=True),
        "momentum": Bound(0, 1.0),
        "weight_decay": Bound(0, 1.0),
        "input_noise": Bound(0, 10.0),
    }

    PROTOCOL: ClassVar[Mapping[str, PaperValue]] = {
        "dataset": PaperValue(
            "cifar10",
            "B §2 (CIFAR10; ImageNet with torchvision's pre-trained models)",
            reasons={
                "*": "the dataset found offline: CIFAR-10 when given (--data-dir), else "
                "Fashion-MNIST padded to 32 × 32, else scikit-learn's digits",
            },
        ),
        "architectures": PaperValue(
            PAPER_ZOO,
            f"B Fig. 1 and C1; relativestability experiments.md: {PAPER_ARCHITECTURES}",
            reasons={
                "*": "ours: the zoo's LeNet, FCN, AlexNet, VGG11, VGG11bn, VGG16, ResNet18 (no "
                "ResNet34/50, VGG19bn or EfficientNetB0 in the zoo)",
                "quick": f"{_QUICK}: LeNet, FCN, AlexNet, VGG11, VGG11bn",
                "standard": f"{_TIME}: LeNet, FCN, AlexNet, VGG11, VGG11bn",
            },
            display=PAPER_ARCHITECTURES,
        ),
        "width": PaperValue(
            1.0,
            "B §2: 'the default, off-the-shelf values for ... depth and number of channels'",
            reasons={"quick": f"{_QUICK}: width 0.25", "standard": f"{_TIME}: width 0.25"},
        ),
        "seeds": PaperValue(
            4,
            f"B §2 ('5 or more' initialisations); {_SOTA}: --seed_init 0 1 2 3",
            replicate=True,
            reasons={"quick": "time: 3 networks per architecture"},
        ),
        "epochs": PaperValue(
            250,
            f"B §2: 250 epochs; {_SOTA}",
            reasons={"quick": f"{_QUICK}: 3 epochs", "standard": f"{_TIME}: 8 epochs"},
        ),
        "batch_size": PaperValue(128, f"B §2: batch size 128; {_SOTA}"),
        "optimizer": PaperValue("sgd", f"B §2: SGD for the CNNs; {_SOTA} (optim_loss.py)"),
        "lr": PaperValue(0.1, "B §2: learning rate 0.1"),
        "momentum": PaperValue(0.9, "B §2: momentum 0.9"),
        "weight_decay": PaperValue(5e-4, f"{_SOTA}: optim.SGD(..., weight_decay=5e-4)"),
        "scheduler": PaperValue(
            "cosine",
            f"B §2: cosine annealing; {_SOTA}: CosineAnnealingLR(T_max = 0.8 × epochs)",
        ),
        "augment": PaperValue(
            True,
            f"B §2: random translations and horizontal flips; {_SOTA}: --random_crop 1 "
            "(RandomCrop(32, padding=4)) --hflip 1",
        ),
        "normalize": PaperValue(
            True,
            f"{_SOTA}: transforms.Normalize (CIFAR-10: mean (0.4914, 0.4822, 0.4465), std "
            "(0.2023, 0.1994, 0.2010); Fashion-MNIST: (0.5, 0.5))",
        ),
        "fcn_lr": PaperValue(
            0.1,
            "B §2: ADAM with learning rate 0.1 for fully connected networks; relativestability "
            "experiments.md: --optim adam --scheduler none --weight_decay 0",
        ),
        "n_train": PaperValue(
            0,
            f"{_SOTA}: --ptr 50000 (the whole CIFAR-10 training set)",
            reasons={
                "quick": f"{_QUICK}: 1000 training images",
                "standard": f"{_TIME}: 5000 training images",
            },
            display="all (50 000)",
        ),
        "n_test": PaperValue(
            0,
            f"{_SOTA}: the whole test set",
            replicate=True,
            reasons={"quick": "time: 300 test images", "standard": "time: 1000 test images"},
            display="all (10 000)",
        ),
        "n_inputs": PaperValue(
            500,
            "leonardopetrini/relativestability experiments.md: --P 500 probing images",
            replicate=True,
            reasons={"quick": "time: 48 images", "standard": "time: 128 images"},
        ),
        "diffeos_per_input": PaperValue(
            NO_VALUE,
            "relativestability main.py: one diffeomorphism and one noise draw per image",
            replicate=True,
            reasons={"*": "ours: several draws per image (a smaller standard error)"},
        ),
        "cut": PaperValue(3.0, "relativestability main.py: --cut 3"),
        "temperature": PaperValue(
            0.0,
            "relativestability main.py: --delta 1 (the typical displacement; 0 here: the "
            "convention's)",
            display="δ = 1 pixel (0: from the convention)",
        ),
        "convention": PaperValue(
            "peer",
            "relativestability main.py and stability/: δ = 1 pixel, the denominator over all "
            "pairs of the batch",
        ),
        "interpolation": PaperValue("", "B §2: bilinear interpolation (the convention's)"),
        "shuffle": PaperValue(
            "shared",
            "B §2; relativestability utils/__init__.py (load_net_from_run: "
            "w[:, randperm(C_in)] for every conv weight)",
        ),
        "correlation": PaperValue(
            "architectures",
            "B Fig. 1, C1: one point per architecture, 'averaged when training on 5 or more "
            "different network initializations' (§2)",
        ),
        "input_noise": PaperValue(
            (0.0, 0.01, 0.1, 1.0, 10.0, 30.0, 100.0),
            "B Fig. 1 right, C3; relativestability experiments.md: --gaussian_corruption_std "
            "0 1e-2 1e-1 1 10 30 1e2",
            reasons={
                "*": "the claims read the clean images (the smallest η); the noisy levels of "
                "Fig. 1 right are an option (each level trains every network again)",
            },
        ),
        "n_boot": PaperValue(
            NO_VALUE,
            "B reports no intervals",
            replicate=True,
            reasons={"*": "ours: percentile bootstrap intervals"},
        ),
    }

    STANDARD: ClassVar[dict[str, Any]] = {
        "architectures": ("lenet", "fcn", "alexnet", "vgg11", "vgg11bn"),
        "width": 0.25,
        "seeds": 4,
        "epochs": 8,
        "n_train": 5000,
        "n_test": 1000,
        "n_inputs": 128,
        "diffeos_per_input": 4,
        "n_boot": 2000,
    }
    """20 networks: 5 architectures × 4 seeds, the paper's recipe for a few epochs."""

    QUICK: ClassVar[dict[str, Any]] = {
        "architectures": ("lenet", "fcn", "alexnet", "vgg11", "vgg11bn"),
        "width": 0.25,
        "seeds": 3,
        "epochs": 3,
        "n_train": 1000,
        "n_test": 300,
        "n_inputs": 48,
        "diffeos_per_input": 2,
        "n_boot": 1000,
    }
    """15 small networks trained briefly: enough to exercise every rule, too few epochs to
    decide the paper's claims."""

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
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise SmoothscopeError(
                    f"{name}: expected one of {', '.join(map(repr, allowed))}, got "
                    f"{getattr(self, name)!r}"
                )
