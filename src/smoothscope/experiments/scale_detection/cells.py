"""Cells of the ``scale-detection`` experiment (paper B §3–4): train one network, measure one
variant.

:func:`train_cell` trains one network of a family (:meth:`.config.ScaleDetectionConfig.tasks`)
on its scale-detection task with SGD on the hinge loss and weight decay until a multiple of the
interpolation time (§4.3: :func:`smoothscope.interpolation.train_to_interpolation`, the original
code's stopping rule; ``stopping="error"`` and the deep nets: the former
:func:`smoothscope.train.train_hinge`); :func:`measure_cell` measures A_k, D_k (the pixel moves
of §3–4), G_k, R_k, the mean filters and their spectra of one variant of it
(:data:`.config.VARIANTS`, :data:`.config.ZOO_VARIANTS`). :func:`plan` lays out both stages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ..._errors import SmoothscopeError
from ..._io import load_state_dict, save_state_dict
from ...analysis import filters
from ...analysis.receptive_field import effective_receptive_field
from ...analysis.stability import relative_stability
from ...data import scale_detection as sd
from ...interpolation import InterpolationRule, train_to_interpolation
from ...models import build, channel_mean_view, mean_channel
from ...models.transforms import shuffle_channels
from ...sweep import Cell, CellContext, derive_seed
from ...train import train_hinge
from .config import VARIANTS, ZOO_VARIANTS, ScaleDetectionConfig

__all__ = [
    "PACKAGE",
    "build_network",
    "measure",
    "measure_cell",
    "plan",
    "split_data",
    "split_sizes",
    "train_cell",
    "training_backend",
]

PACKAGE = "smoothscope.experiments.scale_detection"
"""Import path of the cell functions (re-exported by the package): it enters every cell's id and
seed, so it must not change (an existing run directory would not resume, the bits would differ)."""
CHECK_EVERY = 10
"""Epochs between two checks of the stopping rule (the original code's ``epoch % 10``)."""


def training_backend(family: dict[str, Any]) -> contextlib.AbstractContextManager:
    """The convolution backend of a family's training: the simple CNNs train without oneDNN
    (measured on 2 cores: a step of a 10-layer, 32-channel net on batches of 8 takes 3.7 ms with
    PyTorch's own im2col convolution against 8.8 ms with oneDNN, whose fixed cost dominates
    these tiny 1-D convolutions); the deep nets keep the default. The same backend on every
    run, so the same bits."""
    if "zoo" in family:
        return contextlib.nullcontext()
    return _without_onednn()


@contextlib.contextmanager
def _without_onednn() -> Iterator[None]:
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


class _Score(nn.Module):
    """A zoo network with one output, as a scalar score ``[B]``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)

    def representation_layers(self) -> list[str]:
        return [f"net.{n}" for n in self.net.representation_layers()]

    def conv_layers(self) -> list[str]:
        return [f"net.{n}" for n in self.net.conv_layers()]


def build_network(family: dict[str, Any], seed: int) -> nn.Module:
    """The network of a family (:meth:`.config.ScaleDetectionConfig.tasks`), initialised from
    ``seed``."""
    if "zoo" in family:
        task = family["task"]
        net = build(
            family["zoo"],
            in_channels=1,
            num_classes=1,
            width=family["width"],
            input_size=task["L"],
            seed=seed,
        )
        return _Score(net)
    return build("simple-cnn", dim=family["task"]["dim"], seed=seed, **family["net"])


def split_sizes(task: sd.ScaleTask, points: int, n_val: int, n_test: int) -> tuple[int, int]:
    """Validation and test sizes that the task's balanced pairs allow after ``points``.

    The validation set gets up to ``n_val`` pairs, then the test set up to ``n_test``; both are
    even (balanced classes) and at least 2. Task 1 with L = 32 has 342 balanced pairs (open
    boundary), so 48 + 128 leaves 166 for the test.

    Raises:
        SmoothscopeError: fewer than ``points + 4`` balanced pairs.
    """
    available = 2 * min(sd.class_counts(task))
    left = available - points
    if left < 4:
        raise SmoothscopeError(
            f"points: the task has {available} balanced pairs, {points} leave too few for "
            "validation and test"
        )
    val = min(n_val, 2 * (left // 4))
    return val, min(n_test, 2 * ((left - val) // 2))


def split_data(family: dict[str, Any], seed: int, n_val: int, n_test: int):
    """Training, validation and test sets: disjoint pairs, each balanced."""
    task = sd.ScaleTask(**family["task"])
    points = family["points"]
    val, test = split_sizes(task, points, n_val, n_test)
    pairs, labels = sd.sample_pairs(
        task, points + val + test, generator=torch.Generator().manual_seed(seed)
    )
    by_class = {c: torch.nonzero(labels == c).flatten() for c in (1, -1)}
    cuts = np.cumsum([points // 2, val // 2, test // 2])

    def render(lo: int, hi: int):
        idx = torch.cat([by_class[c][lo:hi] for c in (1, -1)])
        return sd.render_pairs(task, pairs[idx]).float(), labels[idx].float()

    return task, render(0, cuts[0]), render(cuts[0], cuts[1]), render(cuts[1], cuts[2])


def effective_weight_decay(family: dict[str, Any], ridge: float, convention: str) -> float:
    """PyTorch's ``weight_decay`` on the filters that applies paper B's ridge as the original
    code does (``convention="per-layer"``).

    ``ScaleDetection_SGD.py`` adds ``ridge · Σ_l ‖w_l‖² / (H · n_blocks)`` to the hinge loss of
    networks whose N(0, 1) filters are scaled by ``1/√fan-in`` and trains them by SGD at
    ``lr · H``: each filter weight shrinks by ``2 · lr · ridge / n_blocks`` per step, relative
    to itself. Our filters carry their scale (He initialisation) and train at ``lr``, so the
    same relative shrinkage per step is a ``weight_decay`` of ``2 · ridge / n_blocks``. The
    deep nets of §3 (the zoo) and ``convention="sgd"`` take ``ridge`` as PyTorch's
    ``weight_decay`` (a shrinkage of ``lr · ridge`` per step).

    Args:
        family: the family of networks (``net.depth`` is n_blocks).
        ridge: the paper's ridge (0.01, §4.3).
        convention: ``"per-layer"`` or ``"sgd"``.

    Returns:
        the ``weight_decay`` of the filters' parameter group.
    """
    if convention == "sgd" or "zoo" in family:
        return float(ridge)
    return 2.0 * float(ridge) / family["net"]["depth"]


def _train(family, model, data, config, ctx) -> dict[str, Any]:
    """Train ``model`` in place by the family's rule; the training record of the cell."""
    (x, y), (x_val, y_val) = data
    common = dict(
        lr=family["lr"],
        batch_size=config["batch_size"],
        weight_decay=effective_weight_decay(family, config["weight_decay"], config["ridge"]),
        max_epochs=config["max_epochs"],
        progress=ctx.progress,
        description=f"train {config['name']}",
    )
    if config["stopping"] == "hinge" and "zoo" not in family:
        rule = InterpolationRule(family["multiple"], check_every=CHECK_EVERY)
        result = train_to_interpolation(
            model, x, y, x_val, y_val, rule=rule, seed=config["init_seed"], **common
        )
        model.load_state_dict(result.state_dict)
        loss = result.history[-1]["loss"] if result.history else float("nan")
        return {
            "interpolation_epoch": result.interpolation_epoch,
            "stop_epoch": result.stop_epoch,
            "epochs": result.epochs,
            "capped": result.capped,
            "train_hinge_loss": loss,
        }
    result = train_hinge(
        model,
        x,
        y,
        interpolation_multiple=family["multiple"],
        seed=config["init_seed"],
        **common,
    )
    model.load_state_dict(result.state_dict)
    return {
        "interpolation_epoch": result.interpolation_epoch,
        "stop_epoch": result.epochs if result.interpolation_epoch is not None else None,
        "epochs": result.epochs,
        "capped": result.interpolation_epoch is None
        or result.epochs < family["multiple"] * result.interpolation_epoch,
        "train_hinge_loss": result.history[-1]["loss"] if result.history else float("nan"),
    }


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one network (writes ``init.pt`` and ``model.pt``) and report its errors and its
    training record (interpolation and stopping epochs, whether ``max_epochs`` capped it)."""
    family = config["family"]
    _, train, val, (x_test, y_test) = split_data(
        family, config["data_seed"], config["n_val"], config["n_test"]
    )
    model = build_network(family, config["init_seed"])
    save_state_dict(ctx.out / "init.pt", model.state_dict())
    with training_backend(family):
        record = _train(family, model, (train, val), config, ctx)
    save_state_dict(ctx.out / "model.pt", model.state_dict())

    def error(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((torch.sign(net(x)) != y).double().mean())

    with torch.no_grad():
        init = build_network(family, config["init_seed"]).eval()
        model.eval()
        return {
            **record,
            "train_error": error(model, *train),
            "val_error": error(model, *val),
            "test_error": error(model, x_test, y_test),
            "init_test_error": error(init, x_test, y_test),
            "n_val": int(val[1].numel()),
            "n_test": int(y_test.numel()),
        }


def _other_bias(family: dict[str, Any], init: nn.Module, seed: int) -> nn.Module:
    """The initialisation with the other bias setting: the same filters and readout, biases
    N(0, 1) added (or removed)."""
    net = dict(family["net"], bias=not family["net"].get("bias", False))
    other = build("simple-cnn", dim=family["task"]["dim"], seed=seed, **net)
    weights = {k: v for k, v in init.state_dict().items() if not k.endswith("conv.bias")}
    other.load_state_dict(weights, strict=False)
    return other


def _variant(config: dict[str, Any], ctx: CellContext) -> nn.Module:
    """The network of the cell's variant (see :data:`.config.VARIANTS`)."""
    family, variant = config["family"], config["variant"]
    model = build_network(family, config["init_seed"])
    file = "init.pt" if variant.startswith("init") else "model.pt"
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / file))
    inner = model.net if isinstance(model, _Score) else model
    if variant == "init-other-bias":
        return _other_bias(family, model, config["init_seed"])
    if variant == "shuffled":
        inner = shuffle_channels(
            inner,
            generator=torch.Generator().manual_seed(config["seed"]),
            mode=config.get("shuffle", "shared"),
        )
    elif variant in ("mean", "init-mean"):
        if config.get("mean_channel", "representation") == "weights":
            inner = mean_channel(inner)
        else:
            return channel_mean_view(inner)
    return _Score(inner) if isinstance(model, _Score) else inner


def measure(
    model: nn.Module,
    family: dict[str, Any],
    task: sd.ScaleTask,
    x_test: torch.Tensor,
    *,
    moves: int,
    seed: int,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A_k, D_k (pixel moves), G_k (rectified noise for ReLU nets), R_k, mean filters and their
    spectra of ``model`` on the held-out inputs ``x_test`` ``[N, 1, L]``.

    ``options`` holds the cell's measurement options (``preserve_label``, ``translation``,
    ``convention``, ``device``).
    """
    options = options or {}
    layers = model.representation_layers()
    hidden = layers[:-1]  # the last one is the readout
    relu = family.get("net", {}).get("activation", "relu") == "relu"
    undo = family.get("undo_patch_crossings", False)

    def deformation(x: torch.Tensor, per: int, generator: torch.Generator) -> torch.Tensor:
        return sd.deform(
            x.repeat_interleave(per, dim=0),
            task,
            generator=generator,
            preserve_label=options.get("preserve_label", False),
            translation=options.get("translation", False),
            undo_patch_crossings=undo,
        )

    result = relative_stability(
        model,
        x_test,
        layers=layers,
        diffeos_per_input=moves,
        seed=seed,
        deformation=deformation,
        rectify_noise=relu,
        batch_size=64,
        device=options.get("device", "cpu"),
        **({"convention": options["convention"]} if "convention" in options else {}),
    )
    if "zoo" in family:  # no claim uses the deep nets' A_k: skip L² single-pixel passes
        widths = np.full(len(hidden), np.nan)
    else:
        widths = effective_receptive_field(model, hidden, length=task.L, dim=task.dim)
    net = getattr(model, "net", model)
    modules = dict(net.named_modules())
    convs = [modules[name] for name in net.conv_layers()]
    mean_filters = [c.weight.detach().double().mean(dim=(0, 1)).tolist() for c in convs]
    spectra = [
        filters.normalized_projections(c.weight).tolist() for c in convs if c.weight.shape[-1] > 1
    ]
    return {
        "rows": result.rows,
        "A": widths.tolist(),
        "mean_filters": mean_filters,
        "spectra": spectra,
    }


def measure_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """:func:`measure` of one variant of one trained network."""
    family = config["family"]
    model = _variant(config, ctx)
    task, _, _, (x_test, _) = split_data(
        family, config["data_seed"], config["n_val"], config["n_test"]
    )
    keys = ("preserve_label", "translation", "convention", "device")
    return measure(
        model,
        family,
        task,
        x_test,
        moves=config["moves"],
        seed=config["seed"],
        options={k: config[k] for k in keys if k in config},
    )


def plan(config: ScaleDetectionConfig) -> tuple[list[list[Cell]], dict[tuple[str, int], dict]]:
    """Stages (training, measures) and, per (family, seed), the cells of each variant."""
    train_cells, measure_cells, index = [], [], {}
    common = {
        "batch_size": config.batch_size,
        "weight_decay": config.weight_decay,
        "ridge": config.ridge,
        "max_epochs": config.max_epochs,
        "stopping": config.stopping,
        "n_val": config.n_val,
        "n_test": config.n_test,
    }
    for name, family in config.tasks().items():
        data_seed = derive_seed(config.seed, "scale-data", name)
        for s in range(family["seeds"]):
            init_seed = derive_seed(config.seed, "scale-init", name, s)
            train = Cell(
                f"{PACKAGE}:train_cell",
                {
                    "name": name,
                    "family": family,
                    "data_seed": data_seed,
                    "init_seed": init_seed,
                    **common,
                },
                label=f"train {name} #{s}",
                threads=config.threads_per_cell,
            )
            train_cells.append(train)
            index[name, s] = {"train": train}
            variants = VARIANTS if "zoo" not in family else ZOO_VARIANTS
            for variant in variants:
                cell = Cell(
                    f"{PACKAGE}:measure_cell",
                    {
                        "family": family,
                        "model_cell": train.id,
                        "variant": variant,
                        "data_seed": data_seed,
                        "init_seed": init_seed,
                        "n_val": config.n_val,
                        "n_test": config.n_test,
                        "moves": config.moves_per_input,
                        "preserve_label": config.preserve_label,
                        "translation": config.translation,
                        "mean_channel": config.mean_channel,
                        "shuffle": config.shuffle,
                        **({"convention": "peer"} if config.convention == "peer" else {}),
                        "seed": derive_seed(config.seed, "scale-measure", name, s),
                        **config.cell_device(),
                    },
                    label=f"measure {name} #{s} {variant}",
                    threads=config.threads_per_cell,
                )
                measure_cells.append(cell)
                index[name, s][variant] = cell
    return [train_cells, measure_cells], index
