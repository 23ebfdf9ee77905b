"""Config of the ``scale-detection`` experiment (paper B §3–4): the protocol, scales and bounds.

The fields are the paper-scale protocol of §4.3 (and §3 for the deep net); ``QUICK`` and
``STANDARD`` list what those scales change, and ``PROTOCOL`` gives, for every field the paper or
its code fixes, the paper's value, its source and why a scale deviates (the ledger,
:mod:`smoothscope.protocol`). :meth:`ScaleDetectionConfig.tasks` turns the fields into the
families of trained networks (task 1, task 2, task 1 with tanh, the zoo nets on the 2-D task 1);
:data:`VARIANTS` and :data:`ZOO_VARIANTS` are the versions of each network that the cells
measure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...protocol import NO_VALUE, PaperValue
from .._base import ExperimentConfig

__all__ = [
    "ALL_VARIANTS",
    "CLAIMS_N_BOOT",
    "CODE",
    "PAPER_ZOO",
    "VARIANTS",
    "ZOO_VARIANTS",
    "ScaleDetectionConfig",
]

ZOO_VARIANTS = ("init", "trained", "shuffled")
"""The deep nets on 2-D task 1: at initialisation, trained, and trained with shuffled channels
(Fig. C2's dot-dashed lines)."""
VARIANTS = ("init", "trained", "mean", "init-mean", "init-other-bias")
"""Measured versions of each simple CNN: at initialisation, trained, the trained net's
representations averaged over channels (or, with ``mean_channel="weights"``, every layer's
filters replaced by their mean), the same at initialisation (the control of the mean-channel
claim), and the initialisation with the other bias setting (biases on and off: D_k at
initialisation both ways)."""
ALL_VARIANTS = tuple(dict.fromkeys((*VARIANTS, *ZOO_VARIANTS)))
CLAIMS_N_BOOT = 1000
"""Bootstrap resamples of the claims' intervals (the same at every scale)."""
PAPER_ZOO = (
    "vgg13bn", "vgg11", "resnet34", "resnet50", "vgg11bn", "vgg16bn", "vgg19bn", "alexnet",
    "lenet", "resnet18", "efficientnetb0",
)  # fmt: skip
"""The deep nets of paper B Fig. C1 / Fig. 8 (relativestability experiments.md)."""
CODE = "UmbertoTomasini/scale_detection_1d"
"""The original code of §4 (the sources of the ledger name its files)."""
_TIME = "time: the standard run (all experiments) must fit 60 minutes on 2 CPU cores"
_QUICK = "time: the quick run takes about a minute (make demo)"


@dataclass(frozen=True)
class ScaleDetectionConfig(ExperimentConfig):
    """Protocol of paper B §4.3 (paper-scale defaults) and §3 for the deep net.

    The deep net is VGG11 with BatchNorm (paper B Fig. 4 shows VGG11 and VGG11bn): without
    BatchNorm and with PyTorch's default initialisation, VGG11's output is constant on these
    mostly-zero inputs and SGD on the hinge loss never moves it (measured: train error 0.5
    after 30 epochs at lr 0.01 and 0.001).

    The printed paper reads "ξ = 25, L = 27, P = 210" for task 2: superscripts lost in
    extraction; with stride-2 filters and 7 layers, ξ = 2⁵ = 32, L = 2⁷ = 128 and P = 2¹⁰ = 1024
    are the consistent values used here (and those of the original code).

    Options beyond the paper's numbers (each documented in ``PROTOCOL`` and
    ``docs/scale_detection.md``): ``stopping="error"`` (the project's former rule: zero 0-1
    training error, checked every epoch), ``bias=False``, ``boundary="periodic"`` (periodic
    distances and circular padding, as the original code), ``t2_moves="keep"`` (keep task-2
    moves that cross a patch), ``mean_channel="weights"`` (replace the filters instead of
    averaging the representation), ``shuffle="per-output"``, ``preserve_label`` (redraw pixel
    moves that change the label), ``translation`` (both pixels take the same step) and
    ``convention="peer"`` (the original all-pairs denominator of D_k and G_k).
    """

    t1_length: int = 32
    t1_xi: float = 11.0
    t1_gap: float = 4.0
    t1_points: int = 48
    t1_depth: int = 12
    t1_filter: int = 3
    t1_fit_layers: int = 9
    t2_length: int = 128
    t2_xi: int = 32
    t2_points: int = 1024
    t2_depth: int = 7
    t2_filter: int = 2
    t2_fit_layers: int = 4
    t2_moves: str = "undo"
    width: int = 1000
    bias: bool = True
    boundary: str = "open"
    seeds: int = 4
    t2_seeds: int = 10
    tanh: bool = True
    lr: float = 0.01
    lr_tanh: float = 0.003
    lr_zoo: float = 0.05
    preserve_label: bool = False
    translation: bool = False
    convention: str = "project"
    mean_channel: str = "representation"
    shuffle: str = "shared"
    batch_size: int = 8
    weight_decay: float = 0.01
    ridge: str = "per-layer"
    stopping: str = "hinge"
    interpolation_multiple: float = 500.0
    interpolation_multiple_tanh: float = 200.0
    max_epochs: int = 600_000
    n_val: int = 128
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
        "interpolation_multiple": Bound(1, 1e6),
        "interpolation_multiple_tanh": Bound(1, 1e6),
        "zoo_interpolation_multiple": Bound(1, 1e6),
        "max_epochs": Bound(1, 10_000_000),
    }

    PROTOCOL: ClassVar[Mapping[str, PaperValue]] = {
        "t1_length": PaperValue(32, "B §4.3: image size L = 32 (task 1)"),
        "t1_xi": PaperValue(11.0, "B §4.3: ξ = 11"),
        "t1_gap": PaperValue(4.0, "B §4.3: gap g = 4"),
        "t1_points": PaperValue(48, "B §4.3: P = 48 training points"),
        "t1_depth": PaperValue(
            12,
            "B Table C2 (12 layers, k = 1…12); §4.1: 'K̃ ∼ 10'",
            reasons={"quick": f"{_QUICK}: 10 layers", "standard": f"{_TIME}: 10 layers"},
        ),
        "t1_filter": PaperValue(3, "B §4.3: stride s = 1, filter size F = 3"),
        "t1_fit_layers": PaperValue(
            9,
            "B Fig. 7 ('for the first large part of the network') and Table C2 (the mean "
            "filters are positive in the first nine hidden layers): the fit runs over layers "
            "1–9",
            reasons={
                "quick": "10 layers: the fit keeps the first 8 (the same share, 3/4 of the depth)",
                "standard": "10 layers: the fit keeps the first 8 (the same share, 3/4 of the "
                "depth)",
            },
        ),
        "t2_length": PaperValue(128, f"B §4.3 ('L = 27': 2⁷); {CODE} diffeo_cluster_mean.py"),
        "t2_xi": PaperValue(32, f"B §4.3 ('ξ = 25': 2⁵); {CODE} diffeo_cluster_mean.py"),
        "t2_points": PaperValue(
            1024,
            f"B §4.3 ('P = 210': 2¹⁰); {CODE} ScaleDetection_SGD.py (pp = [1024])",
            reasons={"quick": f"{_QUICK}: 256 points", "standard": f"{_TIME}: 256 points"},
        ),
        "t2_depth": PaperValue(7, "B §4.3: 7 layers"),
        "t2_filter": PaperValue(2, "B §4.3: s = F = 2"),
        "t2_fit_layers": PaperValue(
            4,
            "B Fig. 7 ('the first large part of the network') and Table C3 (mean filters "
            "positive in layers 1–4; with the moves undone across patches, D_k = 0 from the "
            "layer whose blocks are the ξ-patches on)",
        ),
        "t2_moves": PaperValue(
            "undo",
            f"{CODE} diffeo_cluster_mean.py (adding_diffeo, over_boundaries): a pixel whose "
            "move leaves its ξ-patch or the image stays",
        ),
        "width": PaperValue(
            1000,
            "B §4.3: 1000 channels ('a higher number of channels does not affect the training "
            "dynamics')",
            reasons={"quick": f"{_QUICK}: 32 channels", "standard": f"{_TIME}: 32 channels"},
        ),
        "bias": PaperValue(
            True, f"{CODE} convolutional_nets.py: every block has a bias b ~ N(0, 1)"
        ),
        "boundary": PaperValue(
            NO_VALUE,
            f"B §3, Fig. 5: the Euclidean distance in the image; {CODE} create_dataset.py and "
            "convolutional_nets.py: periodic distances (min(|Δ|, L − |Δ|)) and circular padding",
            reasons={
                "*": "the text and the code differ: 'open' (the text: distances in the image, "
                "zero padding) by default, 'periodic' (the code: periodic distances, circular "
                "padding) as the option",
            },
        ),
        "seeds": PaperValue(
            4,
            "B §4.3: 'averaged over 4 seeds' (task 1)",
            replicate=True,
            reasons={"quick": f"{_QUICK}: 2 networks"},
        ),
        "t2_seeds": PaperValue(
            10,
            "B §4.3: 'averaged over 10 seeds' (task 2)",
            replicate=True,
            reasons={"quick": f"{_QUICK}: 2 networks", "standard": f"{_TIME}: 4 networks"},
        ),
        "lr": PaperValue(0.01, "B §4.3: SGD with learning rate 0.01"),
        "lr_tanh": PaperValue(0.003, "B App. B: learning rate 0.003 for tanh"),
        "lr_zoo": PaperValue(0.05, "B §3: 'SGD on the hinge loss and learning rate of 0.05'"),
        "batch_size": PaperValue(8, "B §4.3: batch size 8"),
        "weight_decay": PaperValue(0.01, "B §4.3: weight decay with ridge 0.01"),
        "ridge": PaperValue(
            "per-layer",
            f"{CODE} ScaleDetection_SGD.py (w_norm, p = 2: loss + ridge·Σ_l ‖w_l‖² / (H·n_blocks), "
            "SGD at lr·H) with convolutional_nets.py (N(0, 1) filters scaled by 1/√fan-in): each "
            "filter weight shrinks by 2·lr·ridge/n_blocks per step; `sgd` applies the ridge as "
            "PyTorch's weight_decay (lr·ridge per step, n_blocks/2 times stronger: measured, 2 "
            "of 4 standard task-1 networks collapsed to a constant output after interpolating)",
        ),
        "stopping": PaperValue(
            "hinge",
            f"B §4.3; {CODE} ScaleDetection_SGD.py: every 10 epochs, interpolation at the first "
            "zero mean training hinge loss, stop at the first check past the multiple with zero "
            "hinge loss and zero validation error",
        ),
        "interpolation_multiple": PaperValue(
            500.0,
            f"B §4.3: 'after 500 times the interpolation time'; {CODE} ScaleDetection_SGD.py",
            reasons={
                "quick": f"{_QUICK}: 5×",
                "standard": "time: 100× fits the 60-minute standard run on 2 CPU cores, 500× "
                "does not (about 5× the training); at 20× the task-1 D exponent was −0.61 "
                "(docs/scale_detection.md, standard scale)",
            },
        ),
        "interpolation_multiple_tanh": PaperValue(
            200.0,
            "B App. B: 200 times the interpolation time for tanh",
            reasons={
                "quick": f"{_QUICK}: 1.5×",
                "standard": f"{_TIME}: 4× (the tanh interpolation time is ten times the "
                "ReLU one, App. B; measured: 870 epochs against 100–130)",
            },
        ),
        "max_epochs": PaperValue(
            600_000,
            f"{CODE} ScaleDetection_SGD.py: max_epochs = 6·10⁵",
            reasons={
                "quick": "a guard: each network records whether it stopped here before the "
                "multiple (capped)",
                "standard": "a guard: each network records whether it stopped here before the "
                "multiple (capped)",
            },
        ),
        "n_val": PaperValue(
            128,
            f"{CODE} ScaleDetection_SGD.py: nval = 128 validation points",
            reasons={"quick": f"{_QUICK}: 64 validation points"},
            replicate=True,
        ),
        "n_test": PaperValue(
            NO_VALUE,
            f"B §4.3: 'the generalization error ... is exactly zero'; {CODE} tests on every "
            "remaining pair",
            reasons={"*": "ours: up to n_test held-out balanced pairs per network"},
            replicate=True,
        ),
        "moves_per_input": PaperValue(
            NO_VALUE,
            f"{CODE} diffeo_cluster_mean.py: one move per input on a tenth of the pairs",
            reasons={"*": "ours: several moves (and noise draws) per held-out input"},
            replicate=True,
        ),
        "preserve_label": PaperValue(
            False, "B §3: each active pixel moves to a neighbour, unconditioned on the label"
        ),
        "translation": PaperValue(
            False,
            "B §3: 'each of the active pixels is moved' (independently); the peers' 2-D deep "
            "nets are measured with local translations (relativestability main.py)",
        ),
        "convention": PaperValue(
            "peer",
            f"{CODE} diffeo_cluster_mean.py: torch.cdist(f0, f0).pow(2).mean() (all pairs, "
            "i = j included)",
            reasons={
                "*": "ours: distinct pairs; a factor b/(b − 1) on D_k and G_k at every layer, "
                "so no exponent or ratio a claim reads depends on it",
            },
        ),
        "mean_channel": PaperValue(
            "representation",
            f"B §4.3, Fig. 7 (dotted); {CODE} diffeo_cluster_mean.py (Mean=True: f_k(x).mean(1))",
        ),
        "shuffle": PaperValue(
            "shared",
            "B §3, Fig. C2; leonardopetrini/relativestability utils/__init__.py "
            "(load_net_from_run: w[:, randperm(C_in)] per conv layer)",
        ),
        "zoo": PaperValue(
            PAPER_ZOO,
            "leonardopetrini/relativestability experiments.md (Fig. 8): VGG13bn, VGG11, "
            "ResNet34, ResNet50, VGG11bn, VGG16bn, VGG19bn, AlexNet, LeNet, ResNet18, "
            "EfficientNetB0",
            reasons={
                "*": "ours: VGG11bn (a claim per architecture; --set zoo=vgg11bn,alexnet,... "
                "draws Fig. C1)",
            },
            display="11 architectures (Fig. C1, Fig. 8)",
        ),
        "zoo_length": PaperValue(32, "B Fig. C1: image size 32"),
        "zoo_xi": PaperValue(14.0, "B Fig. C1: ξ = 14"),
        "zoo_gap": PaperValue(2.0, "B Fig. C1: g = 2"),
        "zoo_points": PaperValue(
            1024,
            "B Fig. C1: train set size 1024",
            reasons={"quick": f"{_QUICK}: 256 points", "standard": f"{_TIME}: 256 points"},
        ),
        "zoo_width": PaperValue(
            1.0,
            "B §2: off-the-shelf widths",
            reasons={"quick": f"{_QUICK}: width 0.25", "standard": f"{_TIME}: width 0.25"},
        ),
        "zoo_interpolation_multiple": PaperValue(
            "300 epochs",
            "leonardopetrini/relativestability experiments.md (Fig. 8: diffeo-sota main.py "
            "--epochs 300, batch 128, SGD momentum 0.9, weight decay 5e-4, cosine)",
            reasons={
                "*": "ours: the deep nets are trained as the simple CNNs (§4.3 SGD, batch 8) to "
                "a multiple of their interpolation time; the diffeo-sota recipe is not run "
                "for them",
            },
        ),
    }

    STANDARD: ClassVar[dict[str, Any]] = {
        "width": 32,
        "t1_depth": 10,
        "t1_fit_layers": 8,
        "seeds": 4,
        "t2_seeds": 4,
        "t2_points": 256,
        "interpolation_multiple": 100.0,
        "interpolation_multiple_tanh": 4.0,
        "max_epochs": 20_000,
        "n_test": 256,
        "moves_per_input": 4,
        "zoo_points": 256,
        "zoo_width": 0.25,
        "zoo_interpolation_multiple": 3.0,
    }
    """4 networks per family (2 against 2 for the init-vs-init controls); the training length
    and the widths of the ledger's reasons."""

    QUICK: ClassVar[dict[str, Any]] = {
        "width": 32,
        "t1_depth": 10,
        "t1_fit_layers": 8,
        "seeds": 2,
        "t2_seeds": 2,
        "t2_points": 256,
        "interpolation_multiple": 5.0,
        "interpolation_multiple_tanh": 1.5,
        "max_epochs": 1_000,
        "n_val": 64,
        "n_test": 128,
        "moves_per_input": 2,
        "zoo_points": 256,
        "zoo_width": 0.25,
        "zoo_interpolation_multiple": 2.0,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        choices = {
            "convention": ("project", "peer"),
            "boundary": ("open", "periodic"),
            "stopping": ("hinge", "error"),
            "t2_moves": ("undo", "keep"),
            "mean_channel": ("representation", "weights"),
            "ridge": ("per-layer", "sgd"),
            "shuffle": ("shared", "per-output"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SmoothscopeError(
                    f"{name}: expected one of {', '.join(map(repr, allowed))}, got "
                    f"{getattr(self, name)!r}"
                )
        if self.width < 1 or self.seeds < 1 or self.t2_seeds < 1 or self.n_test < 2:
            raise SmoothscopeError("width, seeds, t2_seeds ≥ 1 and n_test ≥ 2 are required")
        if self.n_val < 2:
            raise SmoothscopeError(
                f"n_val: expected at least 2 validation points, got {self.n_val}"
            )
        for name in ("t1_points", "t2_points", "zoo_points", "n_test", "n_val"):
            if getattr(self, name) % 2:
                raise SmoothscopeError(f"{name}: expected an even number (balanced classes)")
        for fit, depth in (("t1_fit_layers", "t1_depth"), ("t2_fit_layers", "t2_depth")):
            if not 3 <= getattr(self, fit) <= getattr(self, depth):
                raise SmoothscopeError(
                    f"{fit}: expected 3 to {depth} = {getattr(self, depth)} layers (a fit needs "
                    f"3 points), got {getattr(self, fit)}"
                )

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Task and network specification of each family of trained networks."""
        t1 = {
            "task": 1,
            "dim": 1,
            "L": self.t1_length,
            "xi": self.t1_xi,
            "gap": self.t1_gap,
            "boundary": self.boundary,
        }
        t2 = {
            "task": 2,
            "dim": 1,
            "L": self.t2_length,
            "xi": self.t2_xi,
            "gap": 0.0,
            "boundary": self.boundary,
        }
        # open boundary: zero padding (a circular padding would make pixels 1 and L neighbours
        # for the net while the task does not: an irreducible training error); periodic: both
        padding = "circular" if self.boundary == "periodic" else "zeros"
        net1 = {
            "depth": self.t1_depth,
            "filter_size": self.t1_filter,
            "stride": 1,
            "width": self.width,
            "padding": padding,
            "bias": self.bias,
        }
        net2 = {
            "depth": self.t2_depth,
            "filter_size": self.t2_filter,
            "stride": self.t2_filter,
            "width": self.width,
            "padding": padding,
            "bias": self.bias,
        }
        train = {"lr": self.lr, "multiple": self.interpolation_multiple}
        out = {
            "task1": {
                "task": t1,
                "points": self.t1_points,
                "seeds": self.seeds,
                "net": {**net1, "activation": "relu"},
                "fit_layers": self.t1_fit_layers,
                **train,
            },
            "task2": {
                "task": t2,
                "points": self.t2_points,
                "seeds": self.t2_seeds,
                "net": {**net2, "activation": "relu"},
                "fit_layers": self.t2_fit_layers,
                "undo_patch_crossings": self.t2_moves == "undo",
                **train,
            },
        }
        if self.tanh:
            out["task1-tanh"] = {
                "task": t1,
                "points": self.t1_points,
                "seeds": self.seeds,
                "net": {**net1, "activation": "tanh"},
                "fit_layers": self.t1_fit_layers,
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
