"""Cells of the ``forensic`` experiment: the video pipeline, the features and :func:`plan`.

Two stages of independent cells:

1. ``train_cell``: one network per family (:mod:`smoothscope.forensic.processors`) is trained
   on frames of authentic videos (:func:`training_frames`); the same network at initialisation
   is kept too;
2. ``features_cell``: per content and half (training or test source videos), authentic smooth
   videos (:mod:`smoothscope.forensic.videos`, each at its own speed) are passed through every
   network (at init and trained) and through the smooth non-network processings (labelled
   authentic); each version then goes through storage pipelines
   (:mod:`smoothscope.forensic.pipelines`): a test video through every pipeline of the config,
   a training video through ``float``, ``quant8`` and ``train_pipelines`` others drawn at
   random (:func:`pipelines_of`). The features of every stored video (:func:`feature_rows`)
   are written to ``features.npz``.

Where things are: the videos (authentic, processed, stored) in the first section below; the
features of a batch of videos in :func:`feature_rows`; ``features.npz`` is read back by
:func:`load_table`, at the end.
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
from ...forensic.features import batch_features, video_features
from ...forensic.pipelines import apply_pipeline, codecs_available, pipeline_family
from ...forensic.processors import VARIANTS, build_processor, process_videos, train_processor
from ...forensic.videos import (
    SMOOTH_PROCESSINGS,
    authentic_videos,
    available_contents,
    smooth_processing,
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
    "pipelines_here",
    "pipelines_of",
    "plan",
    "source_videos",
    "train_cell",
    "training_frames",
    "variant_names",
]

PACKAGE = "smoothscope.experiments.forensic"
"""The import path the cells name their functions by (it enters the cell ids and seeds: the
package re-exports the cell functions so that these paths resolve)."""


# ---------------------------------------------------------------------------------------------
# the videos: authentic, processed, stored


def contents_here(config: ForensicConfig) -> tuple[str, ...]:
    """The config's contents that can be generated on this machine (Fashion-MNIST may lack)."""
    here = available_contents(config.fashion_dir)
    return tuple(c for c in config.contents if c in here)


def pipelines_here(config: ForensicConfig) -> tuple[str, ...]:
    """The config's pipelines that can run here (the codecs need PyAV and their encoders)."""
    codecs = codecs_available()
    return tuple(
        p
        for p in config.pipelines
        if pipeline_family(p) not in ("h264", "mpeg4") or pipeline_family(p) in codecs
    )


def variant_names(families: tuple[str, ...]) -> list[str]:
    """Every version of a source video: ``authentic``, ``smooth:<processing>`` (labelled
    authentic) and ``net:<family>:<init|trained>`` (labelled processed)."""
    return (
        ["authentic"]
        + [f"smooth:{p}" for p in SMOOTH_PROCESSINGS]
        + [f"net:{f}:{v}" for f in families for v in VARIANTS]
    )


def pipelines_of(
    pipelines: list[str], source: int, variant: int, *, test: bool, extra: int, seed: int
) -> list[int]:
    """Indices (into ``pipelines``) of the pipelines one stored video goes through.

    A test video goes through every pipeline; a training video through ``float``, ``quant8``
    (when listed) and ``extra`` of the others, drawn at random for each (source, variant).
    """
    if test:
        return list(range(len(pipelines)))
    always = [i for i, p in enumerate(pipelines) if p in ("float", "quant8")]
    others = [i for i in range(len(pipelines)) if i not in always]
    rng = np.random.default_rng(derive_seed(seed, "pipelines", source, variant))
    pick = rng.permutation(len(others))[: min(extra, len(others))]
    return sorted(always + [others[i] for i in pick])


def source_videos(config: dict[str, Any]) -> tuple[torch.Tensor, np.ndarray]:
    """The content's source videos ``[N, T, 1, S, S]`` (all halves, so a source is the same
    video whichever cell makes it) and each one's speed ``[N]``, log-uniform in ``speeds``."""
    generator = torch.Generator().manual_seed(config["seed"])
    low, high = config["speeds"]
    u = torch.rand(config["videos"], generator=generator, dtype=torch.float64)
    speeds = np.exp(np.log(low) + u.numpy() * (np.log(high) - np.log(low)))
    videos = torch.cat(
        [
            authentic_videos(
                config["content"],
                1,
                frames=config["frames"],
                size=config["size"],
                generator=generator,
                fashion_dir=config["fashion_dir"],
                speed=float(s),
            )
            for s in speeds
        ]
    )
    return videos, speeds


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


def feature_rows(
    videos: torch.Tensor, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nonsmoothness features, DCT features, AveNonSmooth and kink maps of each video of
    ``[V, T, C, H, W]``; the DCT baseline reads frames brought back to ``size × size``
    (bilinear) when a pipeline resized them, so that its columns stay the same.

    The nonsmoothness features are those of the values as they are (``as_stored=False``: a
    float video's float values, paper A's setting); the detector's features of a float video
    (its 8-bit copy) are taken by :func:`features_cell` beside them."""
    feats = [video_features(v, as_stored=False) for v in videos]
    ave = torch.stack(
        [(v[2:] + v[:-2] - 2 * v[1:-1]).abs().mean() for v in videos.to(torch.float64)]
    )
    frames = videos
    if videos.shape[-2:] != (size, size):
        v, t, c = videos.shape[:3]
        frames = torch.nn.functional.interpolate(
            videos.reshape(v * t, c, *videos.shape[-2:]),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
        ).reshape(v, t, c, size, size)
    return (
        np.stack([f.values for f in feats]),
        dct_features(frames),
        ave.numpy(),
        np.stack([f.kink_map for f in feats]),
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


def _processed(
    variant: str, videos: torch.Tensor, config: dict[str, Any], ctx: CellContext, vi: int
) -> torch.Tensor:
    if variant == "authentic":
        return videos
    if variant.startswith("smooth:"):
        generator = torch.Generator().manual_seed(derive_seed(config["seed"], "smooth", vi))
        return smooth_processing(variant[7:], videos, generator=generator)
    _, family, state = variant.split(":")
    model = build_processor(family, seed=config["init_seeds"][family])
    if state == "trained":
        model.load_state_dict(
            load_state_dict(ctx.path_of(config["model_cells"][family]) / "model.pt")
        )
    # on the cell's device (absent: the CPU); the frames go there and come back
    return process_videos(model.to(config.get("device", "cpu")), videos)


def features_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Every variant of one content's source videos of one half, through their pipelines;
    writes ``features.npz``."""
    videos, speeds = source_videos(config)
    sources = np.asarray(config["sources"])
    videos = videos[sources]
    pipelines = config["pipelines"]
    columns: dict[str, list[Any]] = {
        k: [] for k in ("ns", "stored", "dct", "ave", "variant", "source", "pipe", "speed")
    }
    maps = []
    for vi, variant in enumerate(config["variants"]):
        out = _processed(variant, videos, config, ctx, vi)
        chosen = [
            pipelines_of(
                pipelines,
                int(s),
                vi,
                test=config["test"],
                extra=config["train_pipelines"],
                seed=config["seed"],
            )
            for s in sources
        ]
        for pi, name in enumerate(pipelines):
            rows = np.array([i for i, c in enumerate(chosen) if pi in c], dtype=np.int64)
            if rows.size == 0:
                continue
            generator = torch.Generator().manual_seed(derive_seed(config["seed"], name, vi))
            stored = apply_pipeline(name, out[torch.from_numpy(rows)], generator=generator)
            ns, dct, ave, kink_maps = feature_rows(stored, config["size"])
            columns["ns"].append(ns)
            # the detector's features: a float video is measured as its 8-bit copy; every other
            # pipeline ends on 8 bits, so its features are the same either way
            columns["stored"].append(batch_features(stored) if name == "float" else ns)
            columns["dct"].append(dct)
            columns["ave"].append(ave)
            columns["variant"].append(np.full(rows.size, vi))
            columns["source"].append(sources[rows])
            columns["pipe"].append(np.full(rows.size, pi))
            columns["speed"].append(speeds[sources[rows]])
            if name == "float" and sources[0] == 0:  # the figure's maps: source video 0
                maps.append(kink_maps[0])
                maps.append(stored[0, stored.shape[1] // 2, 0].numpy())
    arrays = {k: np.concatenate(v) for k, v in columns.items()}
    if maps:
        arrays["maps"] = np.stack(maps)
    save_npz(ctx.out / "features.npz", **arrays)
    return {"rows": int(arrays["source"].size)}


def plan(config: ForensicConfig) -> tuple[list[list[Cell]], list[Cell], list[str], list[str]]:
    """Stages (training, features), the feature cells, the contents and the variants."""
    contents = contents_here(config)
    if config.holdout_content not in contents:
        raise SmoothscopeError(
            f"holdout_content: {config.holdout_content!r} cannot be generated here"
        )
    pipelines = pipelines_here(config)
    if "float" not in pipelines or len(pipelines) < 2:
        raise SmoothscopeError(
            f"pipelines: none of the lossy pipelines {config.pipelines} can run here (the "
            "codecs need the 'video' extra: pip install 'smoothscope[video]')"
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
    n = config.videos_per_content
    for content in contents:
        order = np.random.default_rng(derive_seed(config.seed, "split", content)).permutation(n)
        halves = {"train": order[: n // 2], "test": order[n // 2 :]}
        for half, members in halves.items():
            feature_cells.append(
                Cell(
                    f"{PACKAGE}:features_cell",
                    {
                        "content": content,
                        "videos": n,
                        "frames": config.frames,
                        "size": config.size,
                        "speeds": list(config.speeds),
                        "fashion_dir": config.fashion_dir,
                        "seed": derive_seed(config.seed, "videos", content),
                        "sources": sorted(int(i) for i in members),
                        "test": half == "test",
                        "variants": variants,
                        "init_seeds": init_seeds,
                        "model_cells": {f: c.id for f, c in train_cells.items()},
                        "pipelines": list(pipelines),
                        "train_pipelines": config.train_pipelines,
                        **config.cell_device(),  # the networks' passes; trainings: the CPU
                    },
                    label=f"features {content} {half}",
                    threads=config.threads_per_cell,
                )
            )
    return [list(train_cells.values()), feature_cells], feature_cells, list(contents), variants


# ---------------------------------------------------------------------------------------------
# reading the feature cells back


@dataclass
class FeatureTable:
    """Every stored video of the run: features and labels (one row per video and pipeline).

    Attributes:
        ns, dct: nonsmoothness (of the values as they are) and DCT features ``[N, F]``.
        stored: the detector's nonsmoothness features ``[N, F]``: as ``ns``, but a float
            video measured as its 8-bit copy (:func:`smoothscope.forensic.features.video_features`,
            ``as_stored=True``).
        ave: AveNonSmooth ``[N]``.
        variant, source, pipe, content: indices ``[N]`` into the run's variants, the content's
            source videos, the pipelines and the contents.
        speed: the source video's speed ``[N]``.
        test: whether the row's source video is a test one ``[N]``.
        pipelines: the pipelines' names.
        maps: per content, kink maps and middle frames of source video 0 (float).
    """

    ns: np.ndarray
    stored: np.ndarray
    dct: np.ndarray
    ave: np.ndarray
    variant: np.ndarray
    source: np.ndarray
    pipe: np.ndarray
    speed: np.ndarray
    content: np.ndarray
    test: np.ndarray
    pipelines: list[str]
    maps: dict[str, np.ndarray]

    @property
    def group(self) -> np.ndarray:
        """The source video of each row, unique across contents (the bootstrap's cluster)."""
        return self.content * 100000 + self.source


def load_table(root: Path, cells: list[Cell], contents: list[str]) -> FeatureTable:
    """The ``features.npz`` of the feature ``cells`` (two per content) under ``root``."""
    keys = ("ns", "stored", "dct", "ave", "variant", "source", "pipe", "speed")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (*keys, "content", "test")}
    maps = {}
    for cell in cells:
        ci = contents.index(cell.config["content"])
        with np.load(root / cell.id / "features.npz") as data:
            for key in keys:
                parts[key].append(data[key])
            parts["content"].append(np.full(data["source"].size, ci))
            parts["test"].append(np.full(data["source"].size, bool(cell.config["test"])))
            if "maps" in data.files:
                maps[cell.config["content"]] = data["maps"]
    pipelines = list(cells[0].config["pipelines"])
    return FeatureTable(
        **{k: np.concatenate(v) for k, v in parts.items()}, pipelines=pipelines, maps=maps
    )
