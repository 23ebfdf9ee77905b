"""Cells of the ``scale-detection`` experiment (paper B §3–4): train one network, measure one
variant.

:func:`train_cell` trains one network of a family (:meth:`.config.ScaleDetectionConfig.tasks`)
on its scale-detection task with SGD on the hinge loss and weight decay until a multiple of the
interpolation time (:func:`smoothscope.train.train_hinge`, §4.3); :func:`measure_cell` measures
A_k, D_k (the pixel moves of §3–4), G_k, R_k, the mean filters and their spectra of one variant
of it (:data:`.config.VARIANTS`, :data:`.config.ZOO_VARIANTS`). :func:`plan` lays out both
stages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..._io import load_state_dict, save_state_dict
from ...analysis import filters
from ...analysis.receptive_field import effective_receptive_field
from ...analysis.stability import relative_stability
from ...data import scale_detection as sd
from ...models import build, mean_channel
from ...models.transforms import shuffle_channels
from ...sweep import Cell, CellContext, derive_seed
from ...train import train_hinge
from .config import VARIANTS, ZOO_VARIANTS, ScaleDetectionConfig

__all__ = ["PACKAGE", "measure_cell", "plan", "train_cell"]

PACKAGE = "smoothscope.experiments.scale_detection"
"""Import path of the cell functions (re-exported by the package): it enters every cell's id and
seed, so it must not change (an existing run directory would not resume, the bits would differ)."""


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


def _build(family: dict[str, Any], seed: int) -> nn.Module:
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


def _data(family: dict[str, Any], seed: int, n_test: int):
    """Training and test sets: disjoint pairs, both balanced."""
    task = sd.ScaleTask(**family["task"])
    pairs, labels = sd.sample_pairs(
        task, family["points"] + n_test, generator=torch.Generator().manual_seed(seed)
    )
    train_idx = torch.cat(
        [torch.nonzero(labels == c).flatten()[: family["points"] // 2] for c in (1, -1)]
    )
    mask = torch.ones(labels.numel(), dtype=torch.bool)
    mask[train_idx] = False
    test_idx = torch.nonzero(mask).flatten()

    def render(idx):
        return sd.render_pairs(task, pairs[idx]).float(), labels[idx].float()

    return task, render(train_idx), render(test_idx)


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one network (writes ``init.pt`` and ``model.pt``) and report its errors."""
    family = config["family"]
    _, (x, y), (x_test, y_test) = _data(family, config["data_seed"], config["n_test"])
    model = _build(family, config["init_seed"])
    save_state_dict(ctx.out / "init.pt", model.state_dict())
    result = train_hinge(
        model,
        x,
        y,
        lr=family["lr"],
        batch_size=config["batch_size"],
        weight_decay=config["weight_decay"],
        interpolation_multiple=family["multiple"],
        max_epochs=config["max_epochs"],
        seed=config["init_seed"],
        progress=ctx.progress,
        description=f"train {config['name']}",
    )
    model.load_state_dict(result.state_dict)
    save_state_dict(ctx.out / "model.pt", result.state_dict)
    with torch.no_grad():
        init = _build(family, config["init_seed"]).eval()
        init_test_error = float((torch.sign(init(x_test)) != y_test).double().mean())
        model.eval()
        test_error = float((torch.sign(model(x_test)) != y_test).double().mean())
        train_error = float((torch.sign(model(x)) != y).double().mean())
    return {
        "interpolation_epoch": result.interpolation_epoch,
        "epochs": result.epochs,
        "train_error": train_error,
        "test_error": test_error,
        "init_test_error": init_test_error,
    }


def measure_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """A_k, D_k, G_k, R_k, mean filters and spectra of one variant of one trained network."""
    family = config["family"]
    model = _build(family, config["init_seed"])
    file = "init.pt" if config["variant"] == "init" else "model.pt"
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / file))
    if config["variant"] == "shuffled":
        inner = shuffle_channels(
            model.net if isinstance(model, _Score) else model,
            generator=torch.Generator().manual_seed(config["seed"]),
        )
        model = _Score(inner) if isinstance(model, _Score) else inner
    if config["variant"] in ("mean", "init-mean"):
        inner = model.net if isinstance(model, _Score) else model
        replaced = mean_channel(inner)
        model = _Score(replaced) if isinstance(model, _Score) else replaced
    task, _, (x_test, _) = _data(family, config["data_seed"], config["n_test"])
    layers = model.representation_layers()
    relu = family.get("net", {}).get("activation", "relu") == "relu"

    def moves(x: torch.Tensor, per: int, generator: torch.Generator) -> torch.Tensor:
        return sd.deform(
            x.repeat_interleave(per, dim=0),
            task,
            generator=generator,
            preserve_label=config.get("preserve_label", False),
            translation=config.get("translation", False),
        )

    result = relative_stability(
        model,
        x_test,
        layers=layers,
        diffeos_per_input=config["moves"],
        seed=config["seed"],
        deformation=moves,
        rectify_noise=relu,
        batch_size=64,
        device=config.get("device", "cpu"),
        **({"convention": config["convention"]} if "convention" in config else {}),
    )
    if "zoo" in family:  # no claim uses the deep nets' A_k: skip L² single-pixel passes
        widths = np.full(len(layers) - 1, np.nan)
    else:
        widths = effective_receptive_field(model, layers[:-1], length=task.L, dim=task.dim)
    modules = dict(model.named_modules())
    convs = [modules[name] for name in model.conv_layers()]
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


def plan(config: ScaleDetectionConfig) -> tuple[list[list[Cell]], dict[tuple[str, int], dict]]:
    """Stages (training, measures) and, per (family, seed), the cells of each variant."""
    train_cells, measure_cells, index = [], [], {}
    common = {
        "batch_size": config.batch_size,
        "weight_decay": config.weight_decay,
        "max_epochs": config.max_epochs,
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
                        "n_test": config.n_test,
                        "moves": config.moves_per_input,
                        "preserve_label": config.preserve_label,
                        "translation": config.translation,
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
