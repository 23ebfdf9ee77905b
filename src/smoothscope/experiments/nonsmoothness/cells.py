"""Cells of the ``nonsmoothness`` experiment: data, training, evaluation, and the plan.

Data are a function of a small dict (:func:`data_spec`), so that every cell rebuilds them
deterministically anywhere. For each dataset and each of the two setups (ReLU + MaxPool,
Softplus + AvgPool) K autoencoders are trained (cells ``train``) and every smooth test video is
reconstructed frame by frame by each of them (cells ``evaluate``). Beside the cells: loading
their tables, the controls with a deliberate kink in time, and the toy examples of paper A
§III-B (closed form).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._errors import SmoothscopeError
from ..._io import load_state_dict, save_npz, save_state_dict
from ...analysis.nonsmoothness import reconstruct_videos, video_nonsmoothness
from ...data import digits as digits_data
from ...data import ellipsoid
from ...models import SETUPS, build
from ...sweep import Cell, CellContext, derive_seed
from ...train import fit
from .config import FASHION_CLASSES, PACKAGE, TOY_STEP, NonsmoothnessConfig

__all__ = [
    "data_spec",
    "evaluate_cell",
    "kinked_control",
    "load_tables",
    "load_templates",
    "object_mask",
    "plan",
    "smooth_test_videos",
    "toy_examples",
    "train_cell",
    "training_data",
]


# ---------------------------------------------------------------------------------------------
# data: a function of a small dict, so that cells rebuild it deterministically anywhere


def data_spec(config: NonsmoothnessConfig, dataset: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"dataset": dataset, "size": config.image_size, "frames": config.frames}
    if dataset == "ellipsoid":
        spec |= {
            "train": config.ellipsoid_train,
            "val": config.ellipsoid_val,
            "videos": config.ellipsoid_videos,
        }
    else:
        fashion = dataset == "fashion"
        spec |= {
            "digit": config.fashion_class if fashion else config.digit,
            "mnist_path": config.data_dir if fashion else config.mnist_path,
            "templates": config.fashion_templates if fashion else config.digit_templates,
            "angles": config.digit_angles,
            "val_angles": config.digit_val_angles,
            "videos": config.digit_videos,
        }
    spec["seed"] = derive_seed(config.seed, "data", dataset)
    return spec


def load_templates(spec: dict[str, Any]) -> tuple[torch.Tensor, str]:
    generator = torch.Generator().manual_seed(derive_seed(spec["seed"], "templates"))
    if spec["dataset"] == "fashion":
        from ...data.real import load_images

        images, _, info = load_images(
            "fashion-mnist",
            split="train",
            size=None,
            channels=1,
            n=spec["templates"],
            classes=spec["digit"],
            data_dir=spec["mnist_path"],
            seed=derive_seed(spec["seed"], "templates"),
        )
        templates = images.to(torch.float64)
        source = (
            f"Fashion-MNIST class {spec['digit']} ({FASHION_CLASSES[spec['digit']]}), "
            f"{templates.shape[0]} templates ({info.source})"
        )
    else:
        templates, source = digits_data.load_digit_templates(
            spec["mnist_path"], digit=spec["digit"], limit=spec["templates"], generator=generator
        )
    if templates.shape[-1] != spec["size"]:
        templates = torch.nn.functional.interpolate(
            templates, size=(spec["size"], spec["size"]), mode="bilinear", align_corners=False
        )
    return templates, source


def training_data(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and validation frames ``[N, 1, H, W]`` (float32) of a data spec."""
    if spec["dataset"] == "ellipsoid":
        gen = torch.Generator().manual_seed(derive_seed(spec["seed"], "lights"))
        lights = ellipsoid.random_lights(spec["train"] + spec["val"], generator=gen)
        frames = ellipsoid.render_ellipsoid(lights, size=spec["size"]).float()
        return frames[: spec["train"]], frames[spec["train"] :]
    templates, _ = load_templates(spec)
    gen = torch.Generator().manual_seed(derive_seed(spec["seed"], "angles"))
    train, _ = digits_data.rotation_dataset(templates, spec["angles"], generator=gen)
    val, _ = digits_data.rotation_dataset(templates, spec["val_angles"], generator=gen)
    return train.float(), val.float()


def smooth_test_videos(spec: dict[str, Any]) -> torch.Tensor:
    """The smooth test videos ``[V, T, 1, H, W]`` (float64) of a data spec.

    Ellipsoid: video 0 follows paper A's path (-9, -9) → (9, 9); the others are random straight
    constant-speed paths. Digits: noise ramps (eq. 9) on randomly chosen templates.
    """
    gen = torch.Generator().manual_seed(derive_seed(spec["seed"], "test"))
    if spec["dataset"] == "ellipsoid":
        paper = ellipsoid.light_path(
            torch.tensor([-9.0, -9.0]), torch.tensor([9.0, 9.0]), spec["frames"]
        )
        paths = [paper[None]]
        if spec["videos"] > 1:
            paths.append(
                ellipsoid.random_light_paths(spec["videos"] - 1, spec["frames"], generator=gen)
            )
        lights = torch.cat(paths)  # [V, T, 2]
        frames = ellipsoid.render_ellipsoid(lights.reshape(-1, 2), size=spec["size"])
        return frames.reshape(*lights.shape[:2], *frames.shape[1:])
    templates, _ = load_templates(spec)
    if spec["videos"] > templates.shape[0]:
        raise SmoothscopeError(
            f"digit_videos: expected at most {templates.shape[0]} (the templates), "
            f"got {spec['videos']}"
        )
    pick = torch.randperm(templates.shape[0], generator=gen)[: spec["videos"]]
    return digits_data.noise_ramp_videos(templates[pick], frames=spec["frames"], generator=gen)


# ---------------------------------------------------------------------------------------------
# cells


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one autoencoder of one setup on one dataset; writes ``model.pt``."""
    train, val = training_data(config["data"])
    model = build("autoencoder", setup=config["setup"], seed=config["init_seed"])
    result = fit(
        model,
        train,
        train,
        val,
        val,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        seed=config["init_seed"],
        progress=ctx.progress,
        description=f"train {config['data']['dataset']} {config['setup']} #{config['index']}",
    )
    save_state_dict(ctx.out / "model.pt", result.state_dict)
    return {
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "history": result.history,
    }


def evaluate_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Reconstruct the test videos with one trained autoencoder; writes ``nonsmoothness.npz``."""
    model = build("autoencoder", setup=config["setup"])
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / "model.pt"))
    videos = smooth_test_videos(config["data"])
    recon = reconstruct_videos(model, videos)
    stats = video_nonsmoothness(recon, factor=config["peak_factor"])
    mse = ((recon - videos) ** 2).flatten(1).mean(1)
    save_npz(
        ctx.out / "nonsmoothness.npz",
        ave_nonsmooth=stats.ave_nonsmooth,
        peak_share=stats.peak_share,
        smp_mean=stats.smp_mean,
        mse=mse,
        video0=recon[0].float(),
        smp0=stats.smp[0],
    )
    return {
        "median_ave_nonsmooth": float(stats.ave_nonsmooth.median()),
        "mean_mse": float(mse.mean()),
    }


def plan(
    config: NonsmoothnessConfig,
) -> tuple[list[list[Cell]], dict[tuple[str, str], list[Cell]]]:
    """The stages of a run (training cells, then evaluation cells; the cells of a stage are
    independent) and the evaluation cells per (dataset, setup)."""
    train_cells, eval_cells = [], {}
    for dataset in config.datasets:
        data = data_spec(config, dataset)
        for setup in SETUPS:
            eval_cells[dataset, setup] = []
            for index in range(config.n_models):
                train = Cell(
                    f"{PACKAGE}:train_cell",
                    {
                        "data": data,
                        "setup": setup,
                        "index": index,
                        "init_seed": derive_seed(config.seed, "init", dataset, setup, index),
                        "epochs": config.epochs,
                        "batch_size": config.batch_size,
                        "lr": config.lr,
                    },
                    label=f"train {dataset} {setup} #{index}",
                    threads=config.threads_per_cell,
                )
                train_cells.append(train)
                eval_cells[dataset, setup].append(
                    Cell(
                        f"{PACKAGE}:evaluate_cell",
                        {
                            "data": data,
                            "setup": setup,
                            "model_cell": train.id,
                            "peak_factor": config.peak_factor,
                        },
                        label=f"evaluate {dataset} {setup} #{index}",
                        threads=config.threads_per_cell,
                    )
                )
    return [train_cells, [c for cells in eval_cells.values() for c in cells]], eval_cells


# ---------------------------------------------------------------------------------------------
# aggregation: the cells' tables and the inputs with a deliberate kink


def load_tables(root: Path, cells: list[Cell]) -> dict[str, np.ndarray]:
    """The evaluation cells' arrays, stacked over models: ``{key: [models, ...]}``."""
    arrays = [np.load(root / c.id / "nonsmoothness.npz") for c in cells]
    return {key: np.stack([a[key] for a in arrays]) for key in arrays[0].files}


def object_mask(videos: torch.Tensor) -> torch.Tensor:
    """Pixels that are not constant background over the whole video: ``[V, C, H, W]``."""
    return (videos != 0).any(dim=1)


def kinked_control(dataset: str, spec: dict[str, Any], videos: torch.Tensor, factor: float):
    """AveNonSmooth and object peak share of a test video given a deliberate kink in time."""
    frames = videos.shape[1]
    if dataset == "ellipsoid":
        half = frames // 2 + 1
        out = ellipsoid.light_path(torch.tensor([-9.0, -9.0]), torch.tensor([9.0, 9.0]), half)
        path = torch.cat([out, out.flip(0)[1 : frames - half + 1]])
        video = ellipsoid.render_ellipsoid(path, size=spec["size"])[None]
    else:
        alpha = digits_data.noise_ramp_alpha(frames).to(torch.float64)
        kinked = (alpha - alpha[frames // 2]).abs()
        noise = (videos[0, 1] - videos[0, 0]) / (alpha[1] - alpha[0])
        template = videos[0, 0] - alpha[0] * noise
        video = (template[None] + kinked[:, None, None, None] * noise[None])[None]
    stats = video_nonsmoothness(video, factor=factor)
    mask = object_mask(video).flatten(1)
    share = ((stats.n_peaks.flatten(1) > 0) & mask).sum(1) / mask.sum(1).clamp_min(1)
    return {
        "ave_nonsmooth": float(stats.ave_nonsmooth[0]),
        "object_peak_share": float(share[0]),
    }


# ---------------------------------------------------------------------------------------------
# the toy examples of paper A §III-B (Figs. 1-3)


def toy_examples(step: float = TOY_STEP) -> dict[str, dict[str, np.ndarray]]:
    """The toy examples of paper A §III-B, sampled at ``step`` (float64).

    * Fig. 1: ReLU and softplus on ``x ∈ [-1, 1]`` and their second differences (eq. 2);
    * Fig. 2: max and average pooling of the window ``(0, 0, 2 − t, t)``, ``t ∈ [0, 2]`` (eq. 3);
    * Fig. 3: a smooth input ``x(t)`` (four smooth curves) through a "modern" unit
      ``max(ReLU(x))`` and a "previous generation" unit ``mean(softplus(x))``.

    Returns:
        ``{"fig1" | "fig2" | "fig3": {"t", <curves>, "d2_<curve>"}}``; ``d2_*`` has two fewer
        entries than ``t`` (centred at ``t[1:-1]``).
    """

    def d2(y: np.ndarray) -> np.ndarray:
        return y[2:] + y[:-2] - 2.0 * y[1:-1]

    x = np.round(np.arange(-1.0, 1.0 + step / 2, step), 12)
    fig1 = {"t": x, "relu": np.maximum(x, 0.0), "softplus": np.logaddexp(0.0, x)}
    t = np.round(np.arange(0.0, 2.0 + step / 2, step), 12)
    window = np.stack([np.zeros_like(t), np.zeros_like(t), 2.0 - t, t])
    fig2 = {"t": t, "max_pool": window.max(0), "avg_pool": window.mean(0)}
    t3 = np.round(np.arange(0.0, 4.0 + step / 2, step), 12)
    smooth = np.stack([np.sin(t3), np.cos(1.3 * t3), 0.5 * t3 - 1.0, 0.8 * np.sin(0.7 * t3 + 1)])
    fig3 = {
        "t": t3,
        "input": smooth[0],
        "modern": np.maximum(smooth, 0.0).max(0),
        "previous": np.logaddexp(0.0, smooth).mean(0),
    }
    out = {}
    for name, curves in (("fig1", fig1), ("fig2", fig2), ("fig3", fig3)):
        out[name] = curves | {f"d2_{k}": d2(v) for k, v in curves.items() if k != "t"}
    return out
