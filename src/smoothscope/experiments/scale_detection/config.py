"""Config of the ``scale-detection`` experiment (paper B §3–4): the protocol, scales and bounds.

The fields are the paper-scale protocol of §4.3 (and §3 for the deep net); ``QUICK`` and
``STANDARD`` list what those scales change. :meth:`ScaleDetectionConfig.tasks` turns the fields
into the families of trained networks (task 1, task 2, task 1 with tanh, the zoo nets on the
2-D task 1); :data:`VARIANTS` and :data:`ZOO_VARIANTS` are the versions of each network that the
cells measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from .._base import ExperimentConfig

__all__ = ["ALL_VARIANTS", "CLAIMS_N_BOOT", "VARIANTS", "ZOO_VARIANTS", "ScaleDetectionConfig"]

ZOO_VARIANTS = ("init", "trained", "shuffled")
"""The deep nets on 2-D task 1: at initialisation, trained, and trained with shuffled channels
(Fig. C2's dot-dashed lines)."""
VARIANTS = ("init", "trained", "mean", "init-mean")
"""Measured versions of each simple CNN: at initialisation, trained, the trained net with every
layer replaced by its mean channel, and the same replacement at initialisation (the control of
the mean-channel claim)."""
ALL_VARIANTS = tuple(dict.fromkeys((*VARIANTS, *ZOO_VARIANTS)))
CLAIMS_N_BOOT = 1000
"""Bootstrap resamples of the claims' intervals (the same at every scale)."""


@dataclass(frozen=True)
class ScaleDetectionConfig(ExperimentConfig):
    """Protocol of paper B §4.3 (paper-scale defaults) and §3 for the deep net.

    The deep net is VGG11 with BatchNorm (paper B Fig. 4 shows VGG11 and VGG11bn): without
    BatchNorm and with PyTorch's default initialisation, VGG11's output is constant on these
    mostly-zero inputs and SGD on the hinge loss never moves it (measured: train error 0.5
    after 30 epochs at lr 0.01 and 0.001).

    The printed paper reads "ξ = 25, L = 27, P = 210" for task 2: superscripts lost in
    extraction; with stride-2 filters and 7 layers, ξ = 2⁵ = 32, L = 2⁷ = 128 and P = 2¹⁰ = 1024
    are the consistent values used here.

    Options beyond the paper's numbers: ``lr_zoo`` (the deep net's learning rate, §3: 0.05),
    ``preserve_label`` (redraw pixel moves that change the label; the paper does not, so False),
    ``translation`` (the peers' local translations: both pixels take the same step) and
    ``convention="peer"`` (the peers' all-pairs denominator of D_k and G_k).
    """

    t1_length: int = 32
    t1_xi: float = 11.0
    t1_gap: float = 4.0
    t1_points: int = 48
    t1_depth: int = 10
    t1_filter: int = 3
    t2_length: int = 128
    t2_xi: int = 32
    t2_points: int = 1024
    t2_depth: int = 7
    t2_filter: int = 2
    width: int = 1000
    seeds: int = 4
    t2_seeds: int = 10
    tanh: bool = True
    lr: float = 0.01
    lr_tanh: float = 0.003
    lr_zoo: float = 0.05
    preserve_label: bool = False
    translation: bool = False
    convention: str = "project"
    batch_size: int = 8
    weight_decay: float = 0.01
    interpolation_multiple: float = 500.0
    interpolation_multiple_tanh: float = 200.0
    max_epochs: int = 200_000
    n_test: int = 256
    moves_per_input: int = 8
    zoo: tuple[str, ...] = ("vgg11bn",)
    zoo_length: int = 32
    zoo_xi: float = 14.0
    zoo_gap: float = 2.0
    zoo_points: int = 1024
    zoo_width: float = 1.0
    zoo_interpolation_multiple: float = 20.0

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """D_k, G_k, R_k run on CUDA with ``device="cuda"``; the trainings stay on the CPU (SGD
    with batches of 8 on a few hundred points is launch-bound: slower on a GPU)."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "width": Bound(1, 4096),
        "t1_gap": Bound(0, 1e6),
        "zoo_gap": Bound(0, 1e6),
        "weight_decay": Bound(0, 10.0),
        "t2_points": Bound(2, 1_000_000),
        "zoo_width": Bound(0, 16.0, low_open=True),
    }

    STANDARD: ClassVar[dict[str, Any]] = {
        "width": 64,
        "seeds": 4,
        "t2_seeds": 4,
        "t2_points": 256,
        "interpolation_multiple": 20.0,
        "interpolation_multiple_tanh": 8.0,
        "max_epochs": 1500,
        "n_test": 256,
        "moves_per_input": 4,
        "zoo_points": 256,
        "zoo_width": 0.25,
        "zoo_interpolation_multiple": 3.0,
    }
    """4 networks per family (2 against 2 for the init-vs-init controls), 20× the interpolation
    time: about 3.5× the quick scale's CPU time (estimated from the quick run, not measured)."""

    QUICK: ClassVar[dict[str, Any]] = {
        "width": 64,
        "seeds": 2,
        "t2_seeds": 2,
        "t2_points": 256,
        "interpolation_multiple": 5.0,
        "interpolation_multiple_tanh": 1.5,
        "max_epochs": 400,
        "n_test": 128,
        "moves_per_input": 2,
        "zoo_points": 256,
        "zoo_width": 0.25,
        "zoo_interpolation_multiple": 2.0,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.convention not in ("project", "peer"):
            raise SmoothscopeError(
                f"convention: expected 'project' or 'peer', got {self.convention!r}"
            )
        if self.width < 1 or self.seeds < 1 or self.t2_seeds < 1 or self.n_test < 2:
            raise SmoothscopeError("width, seeds, t2_seeds ≥ 1 and n_test ≥ 2 are required")
        for name in ("t1_points", "t2_points", "zoo_points", "n_test"):
            if getattr(self, name) % 2:
                raise SmoothscopeError(f"{name}: expected an even number (balanced classes)")

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Task and network specification of each family of trained networks."""
        t1 = {"task": 1, "dim": 1, "L": self.t1_length, "xi": self.t1_xi, "gap": self.t1_gap}
        t2 = {"task": 2, "dim": 1, "L": self.t2_length, "xi": self.t2_xi, "gap": 0.0}
        # zero padding: the tasks' distances are not periodic; a circular padding would make
        # pixels 1 and L neighbours for the net (an irreducible training error)
        net1 = {
            "depth": self.t1_depth,
            "filter_size": self.t1_filter,
            "stride": 1,
            "width": self.width,
            "padding": "zeros",
        }
        net2 = {
            "depth": self.t2_depth,
            "filter_size": self.t2_filter,
            "stride": self.t2_filter,
            "width": self.width,
        }
        train = {"lr": self.lr, "multiple": self.interpolation_multiple}
        out = {
            "task1": {
                "task": t1,
                "points": self.t1_points,
                "seeds": self.seeds,
                "net": {**net1, "activation": "relu"},
                **train,
            },
            "task2": {
                "task": t2,
                "points": self.t2_points,
                "seeds": self.t2_seeds,
                "net": {**net2, "activation": "relu"},
                **train,
            },
        }
        if self.tanh:
            out["task1-tanh"] = {
                "task": t1,
                "points": self.t1_points,
                "seeds": self.seeds,
                "net": {**net1, "activation": "tanh"},
                "lr": self.lr_tanh,
                "multiple": self.interpolation_multiple_tanh,
            }
        zoo_task = {
            "task": 1,
            "dim": 2,
            "L": self.zoo_length,
            "xi": self.zoo_xi,
            "gap": self.zoo_gap,
        }
        for name in self.zoo:
            out[f"zoo-{name}"] = {
                "task": zoo_task,
                "points": self.zoo_points,
                "seeds": 1,
                "zoo": name,
                "width": self.zoo_width,
                "lr": self.lr_zoo,
                "multiple": self.zoo_interpolation_multiple,
            }
        return out
