"""Cells of the ``nonsmoothness`` experiment: data, training, evaluation, and the plan.

Data are a function of a small dict (:func:`data_spec`), so that every cell rebuilds them
deterministically anywhere. For each dataset and each of the two setups (ReLU + MaxPool,
Softplus + AvgPool) K autoencoders are trained (cells ``train``) and every smooth test video is
reconstructed frame by frame by each of them, one video at a time (cells ``evaluate``; the
ellipsoid videos twice: as paper A defines them and with the shadow terminator's pixels
blanked). Ellipsoid videos are sampled at a fixed number of frames per unit of light-path
length, so their frame counts follow their paths' lengths. Beside the cells: loading their
tables, the controls with a deliberate kink in time, and the toy examples of paper A §III-B
(closed form).

Device: a cell whose config names one (``"device"``; absent on the CPU, so CPU cells keep their
ids) trains its autoencoder there (model and frames resident, :func:`smoothscope.train.fit`
with :func:`~smoothscope.train.device_options`) or reconstructs its videos there (float64);
the data are made and the δ²/peak statistics computed on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from ...train import device_options, fit
from .config import (
    FASHION_CLASSES,
    MIN_PATH_LENGTH,
    PACKAGE,
    PAPER_PATH,
    PAPER_PATH_LENGTH,
    TOY_STEP,
    NonsmoothnessConfig,
    frames_on_path,
)

__all__ = [
    "VARIANTS",
    "data_spec",
    "evaluate_cell",
    "iter_test_videos",
    "kinked_control",
    "light_paths",
    "load_tables",
    "load_templates",
    "object_mask",
    "plan",
    "smooth_test_videos",
    "terminator_pixels",
    "toy_examples",
    "train_cell",
    "training_data",
    "training_spec",
    "video_statistics",
]


# ---------------------------------------------------------------------------------------------
# data: a function of a small dict, so that cells rebuild it deterministically anywhere


def data_spec(config: NonsmoothnessConfig, dataset: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"dataset": dataset, "size": config.image_size}
    if dataset == "ellipsoid":
        spec |= {
            "frames_per_unit": config.frames_per_unit,
            "train": config.ellipsoid_train,
            "val": config.ellipsoid_val,
            "videos": config.ellipsoid_videos,
        }
    else:
        fashion = dataset == "fashion"
        spec |= {
            "frames": config.frames,
            "digit": config.fashion_class if fashion else config.digit,
            "mnist_path": config.data_dir if fashion else config.mnist_path,
            "templates": config.fashion_templates if fashion else config.digit_templates,
            "angles": config.digit_angles,
            "val_angles": config.digit_val_angles,
            "videos": config.digit_videos,
        }
    spec["seed"] = derive_seed(config.seed, "data", dataset)
    return spec


TEST_KEYS = ("frames", "frames_per_unit", "videos")
"""Keys of a data spec that set the test videos only."""


def training_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a data spec that sets the training data (a training cell does not change
    with the test videos, so runs that differ only in them can share trained models)."""
    return {k: v for k, v in spec.items() if k not in TEST_KEYS}


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


def light_paths(spec: dict[str, Any]) -> list[torch.Tensor]:
    """The light paths ``[T_v, 2]`` (float64) of the ellipsoid test videos of a data spec.

    Path 0 is paper A's (-9, -9) → (9, 9); the others are straight constant-speed paths between
    two points iid U(-10, 10)², drawn again while shorter than :data:`MIN_PATH_LENGTH`. Every
    path is sampled at ``spec["frames_per_unit"]`` frames per unit of length
    (:func:`~.config.frames_on_path`), so videos of different lengths share one time step.
    """
    rho = spec["frames_per_unit"]
    start, end = (torch.tensor(p, dtype=torch.float64) for p in PAPER_PATH)
    paths = [ellipsoid.light_path(start, end, frames_on_path(PAPER_PATH_LENGTH, rho))]
    gen = torch.Generator().manual_seed(derive_seed(spec["seed"], "test"))
    while len(paths) < spec["videos"]:
        a, b = ellipsoid.random_lights(2, generator=gen)
        length = float((b - a).norm())
        if length >= MIN_PATH_LENGTH:
            paths.append(ellipsoid.light_path(a, b, frames_on_path(length, rho)))
    return paths


def terminator_pixels(video: torch.Tensor) -> torch.Tensor:
    """Pixels crossed by the shadow terminator during a rendered video: ``[C, H, W]`` bool.

    The shading ``max(vᵀn, 0)`` of paper A §IV-A is 0 in the shadow; a pixel whose intensity is
    0 at some frames and positive at others has a kink in time where the terminator crosses it
    (a property of the paper's own shading model, not of the renderer). Every other pixel is
    smooth in time (lit throughout, or dark throughout).

    Args:
        video: ``[T, C, H, W]`` a rendered ellipsoid video.
    """
    return (video > 0).any(dim=0) & (video == 0).any(dim=0)


def iter_test_videos(spec: dict[str, Any], *, blanked: bool = False) -> Iterator[torch.Tensor]:
    """The smooth test videos ``[T_v, 1, H, W]`` (float64) of a data spec, one at a time.

    Ellipsoid: one video per :func:`light_paths` path (their lengths differ; ``blanked`` sets
    the :func:`terminator_pixels` of each video to 0 for the whole video, the variant without
    the shading's kink). Digits: noise ramps (eq. 9) on randomly chosen templates, all of
    ``spec["frames"]`` frames.
    """
    if spec["dataset"] == "ellipsoid":
        for path in light_paths(spec):
            video = ellipsoid.render_ellipsoid(path, size=spec["size"])
            yield video.masked_fill(terminator_pixels(video), 0.0) if blanked else video
        return
    if blanked:
        raise SmoothscopeError("blanked: only the ellipsoid videos have a shadow terminator")
    gen = torch.Generator().manual_seed(derive_seed(spec["seed"], "test"))
    templates, _ = load_templates(spec)
    if spec["videos"] > templates.shape[0]:
        raise SmoothscopeError(
            f"digit_videos: expected at most {templates.shape[0]} (the templates), "
            f"got {spec['videos']}"
        )
    pick = torch.randperm(templates.shape[0], generator=gen)[: spec["videos"]]
    yield from digits_data.noise_ramp_videos(templates[pick], frames=spec["frames"], generator=gen)


def smooth_test_videos(spec: dict[str, Any], *, blanked: bool = False) -> list[torch.Tensor]:
    """Every video of :func:`iter_test_videos` (small sizes; the cells stream them)."""
    return list(iter_test_videos(spec, blanked=blanked))


# ---------------------------------------------------------------------------------------------
# cells


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one autoencoder of one setup on one dataset; writes ``model.pt``."""
    device = torch.device(config.get("device", "cpu"))
    train, val = (t.to(device) for t in training_data(config["data"]))
    model = build("autoencoder", setup=config["setup"], seed=config["init_seed"]).to(device)
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
        **device_options(device),
    )
    save_state_dict(ctx.out / "model.pt", result.state_dict)
    return {
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "history": result.history,
    }


VARIANTS = {"ellipsoid": ("", "blanked_")}
"""Per dataset, the prefixes of the evaluated video sets: the videos as paper A defines them
(``""``) and, for the ellipsoid, the variant with the terminator pixels blanked."""


def video_statistics(model: torch.nn.Module, video: torch.Tensor, factor: float) -> dict[str, Any]:
    """The statistics of one test video ``[T, C, H, W]`` and its reconstruction by ``model``
    (any module mapping frames to frames), each a ``[1]`` tensor: AveNonSmooth (eq. 4), the
    share of pixels with a peak (§V-B), the share with a peak the input lacks
    (``new_peak_share``), the mean SMP, the MSE, and the input's AveNonSmooth, peak share and
    share of object pixels with a peak; and the reconstruction ``recon`` and its SMP map
    ``smp``."""
    recon = reconstruct_videos(model, video[None])
    out = video_nonsmoothness(recon, factor=factor)
    inp = video_nonsmoothness(video[None], factor=factor)
    appear = (out.n_peaks > 0) & (inp.n_peaks == 0)
    mask = object_mask(video[None]).flatten(1)
    on_object = ((inp.n_peaks.flatten(1) > 0) & mask).sum(1) / mask.sum(1).clamp_min(1)
    return {
        "ave_nonsmooth": out.ave_nonsmooth,
        "peak_share": out.peak_share,
        "new_peak_share": appear.flatten(1).double().mean(1),
        "smp_mean": out.smp_mean,
        "mse": ((recon - video[None]) ** 2).flatten(1).mean(1),
        "input_ave_nonsmooth": inp.ave_nonsmooth,
        "input_peak_share": inp.peak_share,
        "input_object_peak_share": on_object.double(),
        "recon": recon[0],
        "smp": out.smp[0],
    }


def evaluate_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Reconstruct the test videos with one trained autoencoder, one video at a time; writes
    ``nonsmoothness.npz``: per video ``[V]`` AveNonSmooth, peak share, the share of pixels
    where a peak appears that the input lacks, mean SMP, MSE and the input's own statistics
    (prefixed ``blanked_`` for the ellipsoid variant without the terminator kink), and the
    reconstruction and SMP map of video 0."""
    model = build("autoencoder", setup=config["setup"])
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / "model.pt"))
    model.to(config.get("device", "cpu"))  # reconstruct_videos: frames there, results back
    spec = config["data"]
    arrays: dict[str, Any] = {}
    for prefix in VARIANTS.get(spec["dataset"], ("",)):
        rows: dict[str, list[torch.Tensor]] = {}
        for index, video in enumerate(iter_test_videos(spec, blanked=prefix == "blanked_")):
            row = video_statistics(model, video, config["peak_factor"])
            recon, smp = row.pop("recon"), row.pop("smp")
            if index == 0 and not prefix:
                arrays |= {"video0": recon.float(), "smp0": smp}
            for key, value in row.items():
                rows.setdefault(key, []).append(value)
        arrays |= {prefix + key: torch.cat(v) for key, v in rows.items()}
    save_npz(ctx.out / "nonsmoothness.npz", **arrays)
    return {
        "median_ave_nonsmooth": float(arrays["ave_nonsmooth"].median()),
        "mean_mse": float(arrays["mse"].mean()),
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
                        "data": training_spec(data),
                        "setup": setup,
                        "index": index,
                        "init_seed": derive_seed(config.seed, "init", dataset, setup, index),
                        "epochs": config.epochs,
                        "batch_size": config.batch_size,
                        "lr": config.lr,
                        **config.cell_device(),
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
                            **config.cell_device(),
                        },
                        label=f"evaluate {dataset} {setup} #{index}",
                        threads=config.threads_per_cell,
                    )
                )
    return [train_cells, [c for cells in eval_cells.values() for c in cells]], eval_cells


# ---------------------------------------------------------------------------------------------
# aggregation: the cells' tables and the inputs with a deliberate kink


def load_tables(root: Path, cells: list[Cell], prefix: str = "") -> dict[str, np.ndarray]:
    """The evaluation cells' arrays of one video set (``prefix``: ``""`` or ``"blanked_"``),
    stacked over models: ``{key: [models, ...]}``, the inputs' statistics under
    ``"input_*"`` (the same in every cell); video 0 (``video0``, ``smp0``) of the first set
    only."""
    arrays = [np.load(root / c.id / "nonsmoothness.npz") for c in cells]
    keys = [k[len(prefix) :] for k in arrays[0].files if k.startswith(prefix)]
    if not prefix:
        keys = [k for k in keys if not k.startswith("blanked_")]
    return {key: np.stack([a[prefix + key] for a in arrays]) for key in keys}


def object_mask(videos: torch.Tensor) -> torch.Tensor:
    """Pixels that are not constant background over the whole video: ``[V, C, H, W]``."""
    return (videos != 0).any(dim=1)


def kinked_control(
    dataset: str, spec: dict[str, Any], first: torch.Tensor, factor: float, *, blanked=False
) -> dict[str, float]:
    """AveNonSmooth and object peak share of a test video given a deliberate kink in time.

    Ellipsoid: the light follows the paper's path to its middle and turns back (a kink at every
    lit pixel), at the run's frames per unit of path length; ``blanked`` blanks its terminator
    pixels as the variant does. Digits: ``first`` (the first test video ``[T, 1, H, W]``) with
    its ramp reversed at mid-video.
    """
    if dataset == "ellipsoid":
        frames = frames_on_path(PAPER_PATH_LENGTH, spec["frames_per_unit"])
        half = frames // 2 + 1
        start, end = (torch.tensor(p, dtype=torch.float64) for p in PAPER_PATH)
        out = ellipsoid.light_path(start, end, half)
        path = torch.cat([out, out.flip(0)[1 : frames - half + 1]])
        video = ellipsoid.render_ellipsoid(path, size=spec["size"])
        if blanked:
            video = video.masked_fill(terminator_pixels(video), 0.0)
        video = video[None]
    else:
        frames = first.shape[0]
        alpha = digits_data.noise_ramp_alpha(frames).to(torch.float64)
        kinked = (alpha - alpha[frames // 2]).abs()
        noise = (first[1] - first[0]) / (alpha[1] - alpha[0])
        template = first[0] - alpha[0] * noise
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
