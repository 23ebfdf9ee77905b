"""Cells of the ``stability`` experiment (paper B §2): train one network, measure one variant.

:func:`train_cell` trains one architecture of the zoo on the images found offline
(:func:`smoothscope.data.real.load_images`, optionally with fixed Gaussian noise per image) with
the recipe of paper B §2 (:func:`.training.train_recipe`: SGD with momentum, weight decay, a
cosine schedule, crops and flips; Adam for the fully connected nets); :func:`analyse_cell`
measures D_k,
G_k and R_k (eq. 1) of one variant of it (:data:`.config.VARIANTS`) and its filter spectra (eq. 3,
B.1). :func:`plan` lays out both stages; the variants of one network share the measurement seed.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ..._errors import SmoothscopeError
from ..._io import load_state_dict, save_state_dict
from ...analysis import filters
from ...analysis.stability import relative_stability
from ...data.real import load_images, resolve_dataset
from ...models import build
from ...models.transforms import shuffle_channels
from ...sweep import Cell, CellContext, derive_seed
from .config import VARIANTS, StabilityConfig
from .training import Recipe, train_recipe

__all__ = ["PACKAGE", "analyse_cell", "plan", "train_cell"]

PACKAGE = "smoothscope.experiments.stability"
"""Import path of the cell functions (re-exported by the package): it enters every cell's id and
seed, so it must not change (an existing run directory would not resume, the bits would differ)."""


NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "fashion-mnist": ((0.5,), (0.5,)),
}
"""Per-channel (mean, std) of diffeo-sota ``main.py``'s ``transforms.Normalize``; the other
datasets (MNIST, the digits) take Fashion-MNIST's (0.5, 0.5)."""


def normalization(dataset: str, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[C, 1, 1]`` mean and standard deviation of the peers' normalisation of ``dataset``."""
    mean, std = NORMALIZATION.get(dataset, ((0.5,), (0.5,)))
    if len(mean) != channels:
        mean, std = (mean[0],) * channels, (std[0],) * channels
    return torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)


def crop_fill(config: dict[str, Any]) -> torch.Tensor | float:
    """The value of a black pixel in the network's input space: the peers pad the crops of
    the raw image with zeros before normalising it."""
    if not config.get("normalize"):
        return 0.0
    mean, std = normalization(config["dataset"], config["in_channels"])
    return (-mean / std).flatten()


def _images(config: dict[str, Any], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of a split in [0, 1], normalised as the peers' (``normalize``), then with
    the fixed noise of ``noise`` added."""
    n = config["n_train"] if split == "train" else config["n_test"]
    x, y, _ = load_images(
        config["dataset"],
        split=split,
        size=32,
        n=n or None,
        data_dir=config["data_dir"],
        seed=config["data_seed"],
    )
    x = x.float()
    if config.get("normalize"):
        mean, std = normalization(config["dataset"], x.shape[1])
        x = (x - mean) / std
    if config.get("noise"):  # fixed noise per image: the dataset itself is noisy (Fig. C3)
        generator = torch.Generator().manual_seed(derive_seed(config["data_seed"], "noise", split))
        x = x + config["noise"] * torch.randn(x.shape, generator=generator)
    return x, y


def _split(config: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (*_images(config, "train"), *_images(config, "test"))


def _model(config: dict[str, Any]) -> torch.nn.Module:
    return build(
        config["architecture"],
        in_channels=config["in_channels"],
        num_classes=10,
        width=config["width"],
        seed=config["init_seed"],
    )


@torch.no_grad()
def _error(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) != y).double().mean())


def recipe(config: dict[str, Any]) -> Recipe:
    """The training recipe of a cell's network: the config's for the convolutional nets; for
    the fully connected ones (with the paper's SGD recipe) Adam at ``fcn_lr``, no scheduler, no
    weight decay (paper B §2, relativestability experiments.md)."""
    common = dict(
        epochs=config["epochs"], batch_size=config["batch_size"], augment=config["augment"]
    )
    if config["architecture"] == "fcn" and config["optimizer"] == "sgd":
        return Recipe("adam", config["fcn_lr"], 0.0, 0.0, "none", **common)
    return Recipe(
        config["optimizer"],
        config["lr"],
        config["momentum"],
        config["weight_decay"],
        config["scheduler"],
        **common,
    )


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one network on ``config["device"]`` (default the CPU); writes ``init.pt`` and
    ``model.pt`` (the best test accuracy, on the CPU)."""
    device = torch.device(config.get("device", "cpu"))
    x_train, y_train, x_test, y_test = (t.to(device) for t in _split(config))
    model = _model(config)
    save_state_dict(ctx.out / "init.pt", model.state_dict())
    model.to(device)
    result = train_recipe(
        model,
        x_train,
        y_train,
        x_test,
        y_test,
        recipe=recipe(config),
        seed=config["init_seed"],
        fill=crop_fill(config),
        progress=ctx.progress,
        description=f"train {config['architecture']}",
    )
    save_state_dict(ctx.out / "model.pt", {k: v.cpu() for k, v in result.state_dict.items()})
    return {
        "test_error": _error(model, x_test, y_test),
        "train_error": result.train_error,
        "best_epoch": result.best_epoch,
        "init_test_error": _error(_model(config).to(device), x_test, y_test),
    }


def _peer_options(convention: str, interpolation: str = "") -> dict[str, Any]:
    """The peers' options for :func:`relative_stability` (``{}`` for the project's defaults)."""
    options: dict[str, Any] = {}
    if convention != "project":
        options["convention"] = convention
    if interpolation:
        options["interpolation"] = interpolation
    accepted = inspect.signature(relative_stability).parameters
    missing = [k for k in options if k not in accepted]
    if missing:
        raise SmoothscopeError(f"{missing[0]}: not offered by relative_stability in this version")
    return options


def analyse_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """D, G, R per layer of one variant (init, trained, shuffled, init-shuffled) and its filter
    spectra."""
    model = _model(config["train"])
    file = "model.pt" if config["variant"] in ("trained", "shuffled") else "init.pt"
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / file))
    if config["variant"] in ("shuffled", "init-shuffled"):
        model = shuffle_channels(
            model,
            generator=torch.Generator().manual_seed(config["seed"]),
            mode=config.get("shuffle", "shared"),
        )
    x_test, _ = _images(config["train"], "test")
    inputs = x_test[: config["n_inputs"]]
    result = relative_stability(
        model,
        inputs,
        temperature=config["temperature"] or None,
        cut=config["cut"],
        diffeos_per_input=config["diffeos_per_input"],
        seed=config["seed"],
        device=config["train"].get("device", "cpu"),
        **_peer_options(config.get("convention", "project"), config.get("interpolation", "")),
    )
    modules = dict(model.named_modules())
    spectra = {
        name: {
            "gamma_tilde": filters.normalized_projections(modules[name].weight).tolist(),
            "frequency": float(filters.frequency_content(modules[name].weight)),
        }
        for name in getattr(model, "conv_layers", list)()
        if modules[name].weight.shape[-1] > 1  # 1×1 shortcuts have a single mode
    }
    return {"rows": result.rows, "temperature": result.temperature, "spectra": spectra}


def plan(config: StabilityConfig) -> tuple[list[list[Cell]], dict[tuple[str, int], dict]]:
    """Stages (training, analysis) and, per (architecture, seed), the cells of each variant.

    The variants of one network share the measurement seed: they are compared on the same
    diffeomorphisms and noise (common random numbers). The dataset is resolved (and validated)
    here, before any cell runs.
    """
    info = resolve_dataset(config.dataset, config.data_dir)
    _peer_options(config.convention, config.interpolation)
    train_cells, analyse_cells, index = [], [], {}
    data_seed = derive_seed(config.seed, "image-subsets")
    for eta, arch, s in (
        (e, a, s)
        for e in config.input_noise
        for a in config.architectures
        for s in range(config.seeds)
    ):
        train_config = {
            "architecture": arch,
            "width": config.width,
            "in_channels": info.channels,
            "init_seed": derive_seed(config.seed, "init", arch, s),
            "dataset": info.name,
            "data_dir": config.data_dir,
            "data_seed": data_seed,
            "n_train": config.n_train,
            "n_test": config.n_test,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "optimizer": config.optimizer,
            "lr": config.lr,
            "momentum": config.momentum,
            "weight_decay": config.weight_decay,
            "scheduler": config.scheduler,
            "augment": config.augment,
            "fcn_lr": config.fcn_lr,
            "normalize": config.normalize,
            **config.cell_device(),
        }
        if eta:
            train_config["noise"] = eta
        tag = f"{arch} #{s}" + (f" η={eta:g}" if eta else "")
        train = Cell(
            f"{PACKAGE}:train_cell",
            train_config,
            label=f"train {tag}",
            threads=config.threads_per_cell,
        )
        train_cells.append(train)
        index[eta, arch, s] = {"train": train}
        convs = build(arch, in_channels=info.channels, width=config.width).conv_layers()
        variants = VARIANTS if len(convs) >= 2 else ("init", "trained")  # shuffling needs 2
        for variant in variants:
            cell_config = {
                "train": train_config,
                "model_cell": train.id,
                "variant": variant,
                "n_inputs": config.n_inputs,
                "diffeos_per_input": config.diffeos_per_input,
                "cut": config.cut,
                "temperature": config.temperature,
                "shuffle": config.shuffle,
                "seed": derive_seed(config.seed, "stability", arch, s),
            }
            if config.convention != "project":
                cell_config["convention"] = config.convention
            if config.interpolation:
                cell_config["interpolation"] = config.interpolation
            cell = Cell(
                f"{PACKAGE}:analyse_cell",
                cell_config,
                label=f"measure {tag} {variant}",
                threads=config.threads_per_cell,
            )
            analyse_cells.append(cell)
            index[eta, arch, s][variant] = cell
    return [train_cells, analyse_cells], index
