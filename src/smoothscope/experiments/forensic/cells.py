"""Cells of the ``forensic`` experiment: the video pipeline, the features and :func:`plan`.

Two stages of independent cells:

1. ``train_cell``: one network per family (:mod:`smoothscope.forensic.processors`) is trained
   on frames of authentic videos (:func:`training_frames`); the same network at initialisation
   is kept too;
2. ``features_cell``: per content, authentic smooth videos (:mod:`smoothscope.forensic.videos`)
   are passed through every network (at init and trained) and through the smooth non-network
   processings (labelled authentic); the features of every video (:func:`feature_rows`) are
   stored, also after each robustness perturbation of the test half (:func:`perturbation_names`)
   and after each augmentation of every video.

Where things are: the videos (authentic, processed, perturbed) in the first section below; the
features of a batch of videos in :func:`feature_rows`; the file each feature cell writes,
``features.npz``, is read back by :func:`load_table`, at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._errors import SmoothscopeError
from ..._io import load_state_dict, save_npz, save_state_dict
from ...forensic.baseline import dct_features
from ...forensic.features import video_features
from ...forensic.processors import VARIANTS, build_processor, process_videos, train_processor
from ...forensic.videos import (
    SMOOTH_PROCESSINGS,
    add_noise,
    authentic_videos,
    available_contents,
    jpeg_frames,
    quantize_8bit,
    smooth_processing,
    subsample,
)
from ...sweep import Cell, CellContext, derive_seed
from .config import ForensicConfig

__all__ = [
    "PACKAGE",
    "FeatureTable",
    "contents_here",
    "feature_rows",
    "features_cell",
    "load_table",
    "perturbation_names",
    "plan",
    "train_cell",
    "training_frames",
    "variant_names",
]

PACKAGE = "smoothscope.experiments.forensic"
"""The import path the cells name their functions by (it enters the cell ids and seeds: the
package re-exports the cell functions so that these paths resolve)."""


# ---------------------------------------------------------------------------------------------
# the videos: authentic, processed, perturbed


def contents_here(config: ForensicConfig) -> tuple[str, ...]:
    """The config's contents that can be generated on this machine (Fashion-MNIST may lack)."""
    here = available_contents(config.fashion_dir)
    return tuple(c for c in config.contents if c in here)


def variant_names(families: tuple[str, ...]) -> list[str]:
    """Every version of a source video: ``authentic``, ``smooth:<processing>`` (labelled
    authentic) and ``net:<family>:<init|trained>`` (labelled processed)."""
    return (
        ["authentic"]
        + [f"smooth:{p}" for p in SMOOTH_PROCESSINGS]
        + [f"net:{f}:{v}" for f in families for v in VARIANTS]
    )


def perturbation_names(config: dict[str, Any]) -> list[str]:
    """Robustness perturbations (of the test half) and augmentations (of every video)."""
    names = (
        [f"noise:{s:g}" for s in config["snrs"]]
        + ["quant8"]
        + [f"jpeg:{q}" for q in config["jpeg_qualities"]]
        + [f"subsample:{f}" for f in config["subsample_factors"]]
    )
    return names + [a for a in config["augment"] if a not in names]


def _perturb(name: str, videos: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    kind, _, value = name.partition(":")
    if kind == "noise":
        return add_noise(videos, float(value), generator=generator)
    if kind == "quant8":
        return quantize_8bit(videos)
    if kind == "jpeg":
        return jpeg_frames(videos, int(value))
    return subsample(videos, int(value))


def training_frames(config: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and validation frames ``[N, 1, H, W]`` (float32) from every content, drawn from
    authentic videos that are not among the test videos (their own seed)."""
    n_total = config["train_frames"] + max(64, config["train_frames"] // 10)
    per = -(-n_total // (len(config["contents"]) * config["frames"]))
    generator = torch.Generator().manual_seed(config["data_seed"])
    frames = torch.cat(
        [
            authentic_videos(
                c,
                per,
                frames=config["frames"],
                size=config["size"],
                generator=generator,
                fashion_dir=config["fashion_dir"],
            ).flatten(0, 1)
            for c in config["contents"]
        ]
    )
    frames = frames[torch.randperm(frames.shape[0], generator=generator)[:n_total]].float()
    return frames[: config["train_frames"]], frames[config["train_frames"] :]


# ---------------------------------------------------------------------------------------------
# the features of a batch of videos


def feature_rows(videos: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nonsmoothness features, DCT features, AveNonSmooth and |δ²|/|δ¹| maps of each video."""
    feats = [video_features(v) for v in videos]
    ave = torch.stack(
        [(v[2:] + v[:-2] - 2 * v[1:-1]).abs().mean() for v in videos.to(torch.float64)]
    )
    return (
        np.stack([f.values for f in feats]),
        dct_features(videos),
        ave.numpy(),
        np.stack([f.ratio_map for f in feats]),
    )


# ---------------------------------------------------------------------------------------------
# the cells


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one network of one family on authentic frames; writes ``model.pt``."""
    train, val = training_frames(config["data"])
    model = build_processor(config["family"], seed=config["init_seed"])
    summary = train_processor(
        config["family"],
        model,
        train,
        val,
        epochs=config["epochs"],
        seed=config["init_seed"],
        batch_size=config["batch_size"],
        lr=config["lr"],
    )
    save_state_dict(ctx.out / "model.pt", model.state_dict())
    return summary


def features_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """All variants of one content's videos, clean and perturbed; writes ``features.npz``."""
    generator = torch.Generator().manual_seed(config["seed"])
    videos = authentic_videos(
        config["content"],
        config["videos"],
        frames=config["frames"],
        size=config["size"],
        generator=generator,
        fashion_dir=config["fashion_dir"],
    )
    test = np.asarray(config["test_sources"])
    columns: dict[str, list[Any]] = {
        k: [] for k in ("ns", "dct", "ave", "variant", "source", "pert")
    }
    maps = []
    perturbations = perturbation_names(config)
    for vi, variant in enumerate(config["variants"]):
        if variant == "authentic":
            out = videos
        elif variant.startswith("smooth:"):
            out = smooth_processing(variant[7:], videos, generator=generator)
        else:
            _, family, state = variant.split(":")
            model = build_processor(family, seed=config["init_seeds"][family])
            if state == "trained":
                cell = ctx.path_of(config["model_cells"][family])
                model.load_state_dict(load_state_dict(cell / "model.pt"))
            out = process_videos(model, videos)
        batches = [("none", out, np.arange(out.shape[0]))]
        for pi, name in enumerate(perturbations):
            pert_gen = torch.Generator().manual_seed(derive_seed(config["seed"], name, vi, pi))
            sources = np.arange(out.shape[0]) if name in config["augment"] else test
            batches.append((name, _perturb(name, out[sources], pert_gen), sources))
        for name, batch, sources in batches:
            ns, dct, ave, ratio_maps = feature_rows(batch)
            columns["ns"].append(ns)
            columns["dct"].append(dct)
            columns["ave"].append(ave)
            columns["variant"].append(np.full(len(sources), vi))
            columns["source"].append(sources)
            columns["pert"].append(np.full(len(sources), ["none", *perturbations].index(name)))
            if name == "none":
                maps.append(ratio_maps[0])
                if vi == 0 or variant.startswith("net:ae_relu"):
                    maps.append(batch[0, batch.shape[1] // 2, 0].numpy())
    save_npz(
        ctx.out / "features.npz",
        **{k: np.concatenate(v) for k, v in columns.items()},
        ratio_maps=np.stack(maps),
    )
    return {"rows": int(sum(len(v) for v in columns["source"]))}


def plan(config: ForensicConfig) -> tuple[list[list[Cell]], list[Cell], list[str], list[str]]:
    """Stages (training, features), the feature cells, the contents and the variants."""
    contents = contents_here(config)
    if config.holdout_content not in contents:
        raise SmoothscopeError(
            f"holdout_content: {config.holdout_content!r} cannot be generated here"
        )
    data = {
        "contents": list(contents),
        "frames": config.frames,
        "size": config.size,
        "train_frames": config.train_frames,
        "fashion_dir": config.fashion_dir,
        "data_seed": derive_seed(config.seed, "training-frames"),
    }
    init_seeds = {f: derive_seed(config.seed, "init", f) for f in config.families}
    train_cells = {
        f: Cell(
            f"{PACKAGE}:train_cell",
            {
                "data": data,
                "family": f,
                "init_seed": init_seeds[f],
                "epochs": config.epochs,
                "batch_size": config.batch_size,
                "lr": config.lr,
            },
            label=f"train {f}",
            threads=config.threads_per_cell,
        )
        for f in config.families
    }
    variants = variant_names(config.families)
    feature_cells = []
    for content in contents:
        order = np.random.default_rng(derive_seed(config.seed, "split", content)).permutation(
            config.videos_per_content
        )
        feature_cells.append(
            Cell(
                f"{PACKAGE}:features_cell",
                {
                    "content": content,
                    "videos": config.videos_per_content,
                    "frames": config.frames,
                    "size": config.size,
                    "fashion_dir": config.fashion_dir,
                    "seed": derive_seed(config.seed, "videos", content),
                    "test_sources": sorted(int(i) for i in order[config.videos_per_content // 2 :]),
                    "variants": variants,
                    "init_seeds": init_seeds,
                    "model_cells": {f: c.id for f, c in train_cells.items()},
                    "snrs": list(config.snrs),
                    "jpeg_qualities": list(config.jpeg_qualities),
                    "subsample_factors": list(config.subsample_factors),
                    "augment": list(config.augment),
                },
                label=f"features {content}",
                threads=config.threads_per_cell,
            )
        )
    return [list(train_cells.values()), feature_cells], feature_cells, list(contents), variants


# ---------------------------------------------------------------------------------------------
# reading the feature cells back


@dataclass
class FeatureTable:
    """Every video of the run: features and labels (one row per video and perturbation)."""

    ns: np.ndarray
    dct: np.ndarray
    ave: np.ndarray
    variant: np.ndarray
    source: np.ndarray
    pert: np.ndarray
    content: np.ndarray
    test: np.ndarray
    maps: dict[str, np.ndarray]

    @property
    def group(self) -> np.ndarray:
        """The source video of each row, unique across contents (the bootstrap's cluster)."""
        return self.content * 100000 + self.source


def load_table(root: Path, cells: list[Cell], contents: list[str]) -> FeatureTable:
    """The ``features.npz`` of the feature ``cells`` (one per content) under ``root``."""
    parts = {k: [] for k in ("ns", "dct", "ave", "variant", "source", "pert", "content", "test")}
    maps = {}
    for ci, cell in enumerate(cells):
        with np.load(root / cell.id / "features.npz") as data:
            for key in ("ns", "dct", "ave", "variant", "source", "pert"):
                parts[key].append(data[key])
            parts["content"].append(np.full(data["source"].size, ci))
            parts["test"].append(np.isin(data["source"], cell.config["test_sources"]))
            maps[contents[ci]] = data["ratio_maps"]
    return FeatureTable(**{k: np.concatenate(v) for k, v in parts.items()}, maps=maps)
