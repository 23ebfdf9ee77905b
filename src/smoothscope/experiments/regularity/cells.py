"""Cells of the ``regularity`` experiment (paper D): the independent units of work and the plan.

``train_cell`` (a denoising U-net), ``evaluate_cell`` (it at every scale, continuous and with
fixed pixel kernels), ``dip_cell`` (a deep image prior fit) and ``generator_cell`` (a generative
decoder); :func:`plan` lays them out in two stages. Every cell names its function by the import
path ``smoothscope.experiments.regularity:<name>`` (re-exported by the package), which enters the
cell id and the seed of the global RNGs: it must not change.

Device: a cell whose config names one (``"device"``; absent on the CPU, so CPU cells keep their
ids) draws and rasterises its scenes on the CPU, then trains and runs its network there
(:func:`smoothscope.train.fit` with :func:`~smoothscope.train.device_options`); the images come
back to the CPU for the edge cuts and metrics.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..._io import load_state_dict, save_npz, save_state_dict
from ...data import continuum as C
from ...models import at_scale, build, l2_penalty, set_scale
from ...sweep import Cell, CellContext, derive_seed
from ...train import device_options, fit
from .config import (
    DEAD_AT_INIT,
    DIP_LR,
    MAIN,
    MAX_REDRAWS,
    MODES,
    TRAIN_SUPERSAMPLE,
    RegularityConfig,
)

__all__ = [
    "PACKAGE",
    "dip_cell",
    "edge_scene",
    "evaluate_cell",
    "generator_cell",
    "mean_over_scenes",
    "plan",
    "train_cell",
]

PACKAGE = "smoothscope.experiments.regularity"
"""The import path the cells name their functions by (part of every cell id: keep it)."""


def _device(config: dict[str, Any]) -> torch.device:
    """The cell's device: ``config["device"]``, the CPU when absent."""
    return torch.device(config.get("device", "cpu"))


def _unet(spec: dict[str, Any]) -> torch.nn.Module:
    act, pool, up = spec["variant"]
    return build(
        "resolution-unet",
        width=spec["width"],
        depth=spec["depth"],
        activation=act,
        pooling=pool,
        upsampling=up,
        seed=spec["init_seed"],
    )


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one denoising U-net at one scale with one λ and one seed; writes ``model.pt``."""
    s, lam = config["train_scale"], config["lam"]
    g = torch.Generator().manual_seed(config["data_seed"])
    n_train = config["train_images"]
    scenes = C.random_discs(
        n_train + config["val_images"],
        n0=config["train_n0"],
        discs=tuple(config["train_discs"]),
        generator=g,
    )
    clean = C.rasterize(scenes, s, mode="area", supersample=TRAIN_SUPERSAMPLE)
    noisy = C.noisy(clean, config["sigma"], generator=g)
    device = _device(config)
    clean, noisy = clean.to(device), noisy.to(device)
    model = set_scale(_unet(config), s).to(device)

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mse = F.mse_loss(out, target)
        return mse + lam * l2_penalty(model) if lam else mse

    result = fit(
        model,
        noisy[:n_train],
        clean[:n_train],
        noisy[n_train:],
        clean[n_train:],
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        loss_fn=loss,
        seed=config["init_seed"],
        progress=ctx.progress,
        description=f"train s={s} λ={lam:g} {'/'.join(config['variant'])} #{config['rep']}",
        **device_options(device),
    )
    save_state_dict(ctx.out / "model.pt", result.state_dict)
    return {"best_val_loss": result.best_val_loss, "best_epoch": result.best_epoch}


def edge_scene(i: int, n0: int, seed: int) -> C.DiscScene:
    """Test disc ``i``: intensity 1 on 0, radius in [0.15, 0.25]·n0, centre within 0.05·n0 of
    the middle, so that ≥ 0.2·n0 of background lies left of the disc."""
    g = np.random.default_rng(derive_seed(seed, "test", i))
    radius = g.uniform(0.15, 0.25) * n0
    centre = n0 / 2 + g.uniform(-0.05, 0.05, size=2) * n0
    return C.DiscScene(n0, np.array([centre]), np.array([radius]), np.array([1.0]), 0.0)


def _edge(image: torch.Tensor, scene: C.DiscScene, s: int) -> tuple[dict[str, float], Any]:
    """Edge metrics on the cut through the disc centre.

    Jump, slope and curvature within ±3 units of the left edge; on the wide window from 6
    units outside the edge to the disc centre, the output's ``contrast`` (its range) and the
    10–90 % rise width; the slope width is that contrast over the steepest local slope (the
    edge's shape, whatever its amplitude; it reads the ramp's length however wide it is)."""
    cy, cx = (float(v) for v in np.asarray(scene.centres)[0])
    r = float(np.asarray(scene.radii)[0])
    profile, x = C.cut(image, s, y=cy, x0=cx - r - 3.0, x1=cx - r + 3.0)
    wide, wx = C.cut(image, s, y=cy, x0=max(0.5, cx - r - 6.0), x1=cx)
    contrast = float(wide.max() - wide.min())
    local = C.edge_metrics(profile, x, h=1.0 / s, contrast=contrast if contrast > 0 else None)
    out = vars(local) | {
        "rise_width": C.edge_metrics(wide, wx, h=1.0 / s).rise_width,
        "contrast": contrast,
    }
    return out, (np.asarray(profile), np.asarray(x))


@lru_cache(maxsize=16)
def _targets(n0: int, seed: int, count: int, s: int) -> tuple[list[C.DiscScene], torch.Tensor]:
    """The test scenes and their exact area rasterisation at scale s (shared by the cells of
    one process; read only)."""
    scenes = [edge_scene(i, n0, seed) for i in range(count)]
    return scenes, C.rasterize(scenes, s, mode="area")


@torch.no_grad()
def evaluate_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Evaluate one trained U-net at every scale, continuous and with fixed pixel kernels, on
    clean single-disc scenes (``cuts.npz``: the cuts of scene 0)."""
    model = _unet(config["train"])
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / "model.pt"))
    device = _device(config["train"])
    model.to(device).eval()
    out: dict[str, Any] = {"target": {}, **{m: {} for m in MODES}}
    arrays = {}
    for s in config["eval_scales"]:
        scenes, target = _targets(config["n0"], config["test_seed"], config["test_scenes"], s)
        images = {"target": target}
        for mode in MODES:
            with at_scale(model, s, pixel_kernels=mode == "pixel"):
                images[mode] = model(target.to(device)).cpu()
        for who, batch in images.items():
            rows = []
            for i, scene in enumerate(scenes):
                metrics, (p, x) = _edge(batch[i, 0], scene, s)
                rows.append(metrics)
                if i == 0:
                    arrays[f"s{s}_x"], arrays[f"s{s}_{who}"] = x, p
            out[who][str(s)] = rows
    save_npz(ctx.out / "cuts.npz", **arrays)
    return out


@lru_cache(maxsize=16)
def _phantom(n0: int, s: int) -> torch.Tensor:
    """The phantom's pixel averages at scale s (16 sub-samples per unit and axis; read only)."""
    return C.rasterize(C.phantom(n0), s, mode="area", supersample=TRAIN_SUPERSAMPLE)


def _image_jump(image: torch.Tensor) -> float:
    """Largest jump between horizontally or vertically neighbouring pixels of an image."""
    return float(max(image.diff(dim=0).abs().max(), image.diff(dim=1).abs().max()))


def dip_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Fit a deep image prior (piecewise-constant code) to a noisy phantom at s = 1 with weight
    decay λ; evaluate at every s, continuous and with fixed pixel kernels."""
    n0 = config["n0"]
    clean = _phantom(n0, 1)[None, None]
    g = torch.Generator().manual_seed(config["seed"])
    device = _device(config)
    target = C.noisy(clean, config["sigma"], generator=g).to(device)
    redraws, seed = 0, config["seed"]
    while True:  # a ReLU DIP whose output is constant before any fitting is redrawn (reported)
        model = build(
            "resolution-dip",
            n0=n0,
            width=config["width"],
            depth=config["depth"],
            seed=seed,
            code_seed=seed,
            code_interpolation="nearest",
            activation="lrelu",
        ).to(device)
        with torch.no_grad():
            start = model()
        if float(start.max() - start.min()) > DEAD_AT_INIT or redraws == MAX_REDRAWS:
            break
        redraws, seed = redraws + 1, derive_seed(config["seed"], "redraw", redraws + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=DIP_LR)
    for _ in range(config["iterations"]):
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(), target) + config["lam"] * l2_penalty(model)
        loss.backward()
        optimizer.step()
    model.eval()
    result: dict[str, Any] = {"redraws": redraws, **{m: {} for m in MODES}}
    arrays = {}
    with torch.no_grad():
        for s in config["eval_scales"]:
            truth = _phantom(n0, s)
            arrays[f"s{s}_target"] = np.asarray(C.cut(truth, s, y=n0 / 2)[0])
            for mode in MODES:
                with at_scale(model, s, pixel_kernels=mode == "pixel"):
                    image = model()[0, 0].cpu()
                mse = float(((image - truth) ** 2).mean())
                tv = float((image.diff(dim=0).abs().sum() + image.diff(dim=1).abs().sum()) / s)
                result[mode][str(s)] = {
                    "psnr": float(10 * np.log10(1.0 / max(mse, 1e-12))),
                    "tv": tv,
                    "jump": _image_jump(image),
                    "range": float(image.max() - image.min()),
                }
                profile, x = C.cut(image, s, y=n0 / 2)
                arrays[f"s{s}_x"], arrays[f"s{s}_{mode}"] = np.asarray(x), np.asarray(profile)
    save_npz(ctx.out / "cuts.npz", **arrays)
    return result


def _scene_code(scene: C.DiscScene) -> torch.Tensor:
    """The generator's code of a single-disc scene: centre (y, x) and radius, each mapped from
    its range in :func:`edge_scene` onto [-1, 1]."""
    n0 = scene.n0
    (cy, cx), r = np.asarray(scene.centres)[0], float(np.asarray(scene.radii)[0])
    return torch.tensor(
        [(cy - n0 / 2) / (0.05 * n0), (cx - n0 / 2) / (0.05 * n0), (r - 0.2 * n0) / (0.05 * n0)],
        dtype=torch.float32,
    )


def generator_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train a generative decoder (:class:`~smoothscope.models.resolution_nets.
    ResolutionGenerator`, LeakyReLU 0.2, nearest-sampled coarse features) at s = 1 by
    regression from the scene parameters to the rasterised single-disc scene (MSE, Adam; the
    validation scenes pick the epoch), then generate the test scenes at every s and measure
    their edges as the U-nets'. Modes: ``continuous``; ``pixel`` (``at_scale(...,
    pixel_kernels=True)``: at large s its kernels act within one coarse cell, so the image
    becomes a mosaic of the coarse cells and the disc edge is lost); ``upsampled`` (the
    fixed-pixel generator's own image, i.e. the s = 1 image, pixel-replicated onto the scale-s
    grid: what an ordinary CNN generator, whose output grid is fixed, gives at scale s)."""
    n0 = config["n0"]
    n = config["images"] + config["val_images"]
    scenes = [edge_scene(i, n0, config["data_seed"]) for i in range(n)]
    device = _device(config)
    codes = torch.stack([_scene_code(sc) for sc in scenes]).to(device)
    images = C.rasterize(scenes, 1, mode="area", supersample=TRAIN_SUPERSAMPLE).to(device)
    model = build(
        "resolution-generator",
        code_dim=3,
        width=config["width"],
        depth=config["depth"],
        n0=n0,
        activation="lrelu",
        feature_interpolation="nearest",
        seed=config["init_seed"],
    ).to(device)
    k = config["images"]
    result = fit(
        model,
        codes[:k],
        images[:k],
        codes[k:],
        images[k:],
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        seed=config["init_seed"],
        progress=ctx.progress,
        description=f"generator #{config['rep']}",
        **device_options(device),
    )
    model.load_state_dict(result.state_dict)
    model.eval()
    out: dict[str, Any] = {
        "best_val_loss": result.best_val_loss,
        "best_epoch": result.best_epoch,
        **{m: {} for m in MODES},
    }
    arrays = {}
    with torch.no_grad():
        base = None
        for s in sorted(config["eval_scales"]):
            tests, _ = _targets(n0, config["test_seed"], config["test_scenes"], s)
            z = torch.stack([_scene_code(sc) for sc in tests]).to(device)
            images = {}
            for mode in MODES:
                with at_scale(model, s, pixel_kernels=mode == "pixel"):
                    images[mode] = model(z).cpu()
            base = images["continuous"] if s == 1 else base
            images["upsampled"] = base.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)
            for who, batch in images.items():
                rows = []
                for i, scene in enumerate(tests):
                    metrics, (p, x) = _edge(batch[i, 0], scene, s)
                    rows.append(metrics)
                    if i == 0:
                        arrays[f"s{s}_x"], arrays[f"s{s}_{who}"] = x, p
                out.setdefault(who, {})[str(s)] = rows
    save_npz(ctx.out / "cuts.npz", **arrays)
    return out


# ---------------------------------------------------------------------------------------------
# plan


def plan(config: RegularityConfig) -> tuple[list[list[Cell]], dict[str, Any]]:
    """Stages (training; evaluation and DIP fits) and the cells by role.

    Roles: ``train``/``eval`` keyed ``(variant, train scale, λ, seed index)``, ``dip`` keyed
    ``(λ, seed index)``.
    """
    base = {
        "train_n0": config.train_n0,
        "train_discs": list(config.train_discs),
        "width": config.width,
        "depth": config.depth,
        "sigma": config.sigma,
        "train_images": config.train_images,
        "val_images": config.val_images,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
    }
    runs: dict[tuple[tuple[str, ...], int, float, int], Cell] = {}

    def train(variant: tuple[str, ...], s: int, lam: float, rep: int) -> None:
        key = (variant, s, lam, rep)
        if key in runs:
            return
        runs[key] = Cell(
            f"{PACKAGE}:train_cell",
            {
                **base,
                "variant": list(variant),
                "train_scale": s,
                "lam": lam,
                "rep": rep,
                "data_seed": derive_seed(config.seed, "regularity-data", rep, s),
                "init_seed": derive_seed(config.seed, "unet", *variant, rep),
                **config.cell_device(),
            },
            label=f"train {'/'.join(variant)} s={s} λ={lam:g} #{rep}",
            threads=config.threads_per_cell,
        )

    lam_max = max(config.lambdas)
    for rep in range(config.seeds):
        train(MAIN, 1, 0.0, rep)
        train(MAIN, 1, lam_max, rep)
        for v in config.variants:
            train(tuple(v.split("/")), 1, 0.0, rep)
    for lam in config.lambdas:
        train(MAIN, 1, lam, 0)
    for s in config.train_scales:
        train(MAIN, s, 0.0, 0)
    test_seed = derive_seed(config.seed, "regularity-test")
    evals = {
        key: Cell(
            f"{PACKAGE}:evaluate_cell",
            {
                "train": cell.config,
                "model_cell": cell.id,
                # the L2 claim reads s = 1 only: decayed nets are not evaluated beyond
                "eval_scales": list(config.eval_scales) if key[2] == 0.0 else [1],
                "test_scenes": config.test_scenes,
                "n0": config.n0,
                "test_seed": test_seed,
            },
            label=f"evaluate {cell.label.removeprefix('train ')}",
            threads=config.threads_per_cell,
        )
        for key, cell in runs.items()
    }
    dip_max = max(config.dip_lambdas)
    dip_keys = [(lam, rep) for lam in (0.0, dip_max) for rep in range(config.seeds)]
    dip_keys += [(lam, 0) for lam in config.dip_lambdas if lam not in (0.0, dip_max)]
    dips = {
        (lam, rep): Cell(
            f"{PACKAGE}:dip_cell",
            {
                "n0": config.dip_n0,
                "width": config.dip_width,
                "depth": config.depth,
                "sigma": config.sigma,
                "lam": lam,
                "iterations": config.dip_iterations,
                "eval_scales": list(config.eval_scales),
                "seed": derive_seed(config.seed, "dip", rep),
                **config.cell_device(),
            },
            label=f"dip λ={lam:g} #{rep}",
            threads=config.threads_per_cell,
        )
        for lam, rep in dip_keys
    }
    gens = {
        rep: Cell(
            f"{PACKAGE}:generator_cell",
            {
                "n0": config.n0,
                "width": config.gen_width,
                "depth": config.depth,
                "images": config.gen_images,
                "val_images": config.val_images,
                "epochs": config.gen_epochs,
                "batch_size": config.batch_size,
                "lr": config.lr,
                "rep": rep,
                "data_seed": derive_seed(config.seed, "generator-data", rep),
                "init_seed": derive_seed(config.seed, "generator", rep),
                "eval_scales": list(config.eval_scales),
                "test_scenes": config.test_scenes,
                "test_seed": test_seed,
                **config.cell_device(),
            },
            label=f"generator #{rep}",
            threads=config.threads_per_cell,
        )
        for rep in range(config.gen_seeds)
    }
    stages = [[*runs.values(), *gens.values()], [*evals.values(), *dips.values()]]
    return stages, {"train": runs, "eval": evals, "dip": dips, "gen": gens}


def mean_over_scenes(summ: dict[str, Any], mode: str, s: Any, name: str) -> float:
    """Mean of the edge metric ``name`` over the test scenes of one cell summary (``summ[mode]``
    at scale ``s``), ignoring missing and non-finite values; NaN when none is finite."""
    values = [row[name] for row in summ[mode][str(s)]]
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
