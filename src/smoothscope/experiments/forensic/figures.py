"""Figures of the ``forensic`` experiment, each declared with its caption and the claims it shows.

:func:`draw_figures` draws every figure of :data:`FIGURES` from the folds and tables the run
computed (it computes nothing the claims read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_figure
from ...forensic.evaluation import roc_curve, weighted_auc
from .._base import Figure

__all__ = [
    "FIGURES",
    "ROBUSTNESS",
    "ROC_CONTENT_SPLIT",
    "ROC_LEAVE_ONE_FAMILY_OUT",
    "ROUGHNESS_MAPS",
    "draw_figures",
]

ROC_LEAVE_ONE_FAMILY_OUT = "roc_leave_one_family_out.png"
ROC_CONTENT_SPLIT = "roc_content_split.png"
ROBUSTNESS = "robustness.png"
ROUGHNESS_MAPS = "roughness_maps.png"

_DETECTORS = (
    "Red: the 11 nonsmoothness features (smoothscope.forensic.features); blue: the single-frame "
    "DCT-spectrum baseline (Frank et al. 2020); purple: both feature sets together; each a "
    "logistic regression, its AUC in the legend; the dotted diagonal is chance."
)

FIGURES: tuple[Figure, ...] = (
    Figure(
        ROC_LEAVE_ONE_FAMILY_OUT,
        "Paper A §V, Fig. 7 (proposed there, built here): ROC curves of detectors tested on a "
        "network family they never saw in training (leave-one-family-out), one panel per "
        "held-out family: its networks' outputs (at initialisation and trained) against "
        "authentic and smoothly processed videos, all from test source videos. "
        + _DETECTORS
        + " Look at: whether the red curve of the ReLU+MaxPool autoencoder hugs the top-left "
        "corner (A.forensic.relu_maxpool_heldout), and whether the Softplus+AvgPool panel's "
        "red curve lies below it (A.forensic.softplus_harder).",
        claims=("A.forensic.relu_maxpool_heldout", "A.forensic.softplus_harder"),
    ),
    Figure(
        ROC_CONTENT_SPLIT,
        "Paper A §V, Fig. 7 (built here): ROC curves on a content the detectors never saw "
        "(the held-out content, by default photographs under camera motion), detectors trained "
        "on every other content; every network family against authentic and smoothly "
        "processed videos. "
        + _DETECTORS
        + " Look at: how far the red curve rises above the diagonal "
        "(A.forensic.content_heldout), and the red and purple curves against the blue one "
        "(A.forensic.beats_baseline, A.forensic.complements_baseline).",
        claims=(
            "A.forensic.content_heldout",
            "A.forensic.beats_baseline",
            "A.forensic.complements_baseline",
        ),
    ),
    Figure(
        ROBUSTNESS,
        "Beyond paper A: ROC-AUC (95 % cluster-bootstrap interval over source videos) of "
        "detectors trained on the training half of every content and family, tested on the "
        "unseen test half after a perturbation: additive noise by SNR in dB (left), JPEG by "
        "quality (middle), 8-bit quantisation and temporal subsampling by a factor (right); the "
        "first point of each panel is the clean test set. Red: nonsmoothness features trained "
        "on clean videos; orange: the same trained also on the augmented copies (8-bit, JPEG "
        "90); blue: the DCT baseline; the dotted line is chance (0.5). Look at: how fast red "
        "falls toward 0.5 as the perturbation grows, and how much of it the augmentation "
        "(orange) wins back; no claim is decided on these curves.",
    ),
    Figure(
        ROUGHNESS_MAPS,
        "Paper A §III-A (second differences in time, eq. 2), the signal the detector reads: for "
        "source video 0 of each content (rows), a middle frame and the per-pixel log10 "
        "mean|δ²|/mean|δ¹| (second over first differences in time) of the authentic video, "
        "then the same for its output through the trained ReLU+MaxPool autoencoder; the colour "
        "range is shared within a row and spans at most 3 decades (the colour bar is the last "
        "row's). Look at: where each video is rough in time: the authentic maps follow the "
        "moving content (the exactly linear noise ramps sit at the floor, black); whether the "
        "network's maps sit higher, with a pattern of their own rather than the content's.",
    ),
)
"""Every figure the experiment draws, at every scale."""


def draw_figures(
    run_dir: Path,
    *,
    lofo: dict[str, dict[str, dict[str, Any]]],
    content: dict[str, dict[str, Any]],
    holdout_content: str,
    robustness: list[dict[str, Any]],
    maps: dict[str, np.ndarray],
    variants: list[str],
) -> list[str]:
    """Draw :data:`FIGURES` under ``run_dir/figures``; returns their paths, in that order.

    Args:
        run_dir: the run directory.
        lofo: per held-out family, its folds per feature set (``ns``, ``dct``, ``both``).
        content: the folds of the content split per feature set.
        holdout_content: the held-out content.
        robustness: one row per (perturbation, detector) with ``auc`` and ``auc_interval``.
        maps: per content, the stacked ratio maps and frames of its source video 0.
        variants: the variant names, in the order of the maps.
    """
    folder = run_dir / "figures"
    return [
        _roc_figure(
            {f"held out: {f}": folds for f, folds in lofo.items()},
            "Leave-one-family-out ROC (AUC in brackets)",
            folder / ROC_LEAVE_ONE_FAMILY_OUT,
        ),
        _roc_figure(
            {f"held-out content: {holdout_content}": content},
            "Content split ROC",
            folder / ROC_CONTENT_SPLIT,
        ),
        _robustness_figure(robustness, folder / ROBUSTNESS),
        _maps_figure(maps, variants, folder / ROUGHNESS_MAPS),
    ]


def _roc_figure(panels: dict[str, dict[str, dict[str, Any]]], title: str, path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.3 * rows), squeeze=False)
    colors = {"ns": "tab:red", "dct": "tab:blue", "both": "tab:purple"}
    labels = {"ns": "nonsmoothness", "dct": "DCT baseline", "both": "both"}
    for ax, (name, folds) in zip(axes.flat, panels.items(), strict=False):
        for kind, fold in folds.items():
            fpr, tpr = roc_curve(fold["scores"], fold["labels"])
            auc = float(weighted_auc(fold["scores"], fold["labels"])[0])
            ax.plot(fpr, tpr, color=colors[kind], label=f"{labels[kind]} ({auc:.2f})")
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
        ax.set(title=name, xlabel="false-positive rate", ylabel="true-positive rate")
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return str(save_figure(fig, path))


def _robustness_figure(rows: list[dict[str, Any]], path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {"noise": "additive noise, SNR (dB)", "jpeg": "JPEG quality", "other": ""}
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    clean = {r["kind"]: r for r in rows if r["perturbation"] == "none"}
    for ax, (group, xlabel) in zip(axes, groups.items(), strict=True):
        for kind, color in (("ns", "tab:red"), ("ns_augmented", "tab:orange"), ("dct", "tab:blue")):
            sel = [
                r
                for r in rows
                if r["kind"] == kind
                and (
                    r["perturbation"].startswith(group)
                    if group != "other"
                    else r["perturbation"] in ("quant8",) or r["perturbation"].startswith("sub")
                )
            ]
            if group != "other":  # strongest perturbation last
                sel.sort(key=lambda r: -float(r["perturbation"].split(":")[1]))
            sel = [clean[kind], *sel]
            x = np.arange(len(sel))
            y = np.array([r["auc"] for r in sel])
            err = np.array(
                [[r["auc"] - r["auc_interval"][0], r["auc_interval"][1] - r["auc"]] for r in sel]
            ).T
            label = {
                "ns": "nonsmoothness",
                "ns_augmented": "nonsmoothness, trained with augmentations",
                "dct": "DCT baseline",
            }[kind]
            ax.errorbar(
                x, y, yerr=np.clip(err, 0, None), color=color, marker="o", capsize=3, label=label
            )
            ax.set_xticks(
                x,
                [
                    r["perturbation"].split(":")[-1] if r["perturbation"] != "none" else "clean"
                    for r in sel
                ],
                fontsize=8,
            )
        ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
        ax.set(xlabel=xlabel or "8-bit quantisation, temporal subsampling", ylim=(0.0, 1.02))
    axes[0].set_ylabel("ROC-AUC (95 % interval)")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "Robustness: detectors trained on clean videos, tested on perturbed unseen videos",
        fontsize=10,
    )
    fig.tight_layout()
    return str(save_figure(fig, path))


def _maps_figure(maps: dict[str, np.ndarray], variants: list[str], path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(maps), 4, figsize=(8, 2.1 * len(maps)), squeeze=False)
    relu = next(i for i, v in enumerate(variants) if v.startswith("net:ae_relu"))
    for row, (content, stack) in enumerate(maps.items()):
        # stack: per variant its peak map, plus a middle frame after variants 0 and relu init
        index = {}
        k = 0
        for vi in range(len(variants)):
            index[("map", vi)] = k
            k += 1
            if vi == 0 or vi in (relu, relu + 1):
                index[("frame", vi)] = k
                k += 1
        panels = [
            ("frame", 0, "authentic frame"),
            ("map", 0, "authentic: log10 |δ²|/|δ¹|"),
            ("frame", relu + 1, "ReLU+MaxPool AE (trained)"),
            ("map", relu + 1, "its log10 |δ²|/|δ¹|"),
        ]
        low = min(float(stack[index[("map", v)]].min()) for v in (0, relu + 1))
        high = max(float(stack[index[("map", v)]].max()) for v in (0, relu + 1))
        for col, (what, vi, title) in enumerate(panels):
            ax = axes[row, col]
            image = stack[index[(what, vi)]]
            if what == "frame":
                ax.imshow(image, cmap="gray")
            else:
                shown = ax.imshow(image, cmap="magma", vmin=max(low, high - 3), vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
            if col == 0:
                ax.set_ylabel(content, fontsize=8)
    fig.colorbar(shown, ax=axes[:, 3], shrink=0.6, label="log10 mean|δ²| / mean|δ¹| per pixel")
    fig.suptitle(
        "Where the video is rough in time: per-pixel second over first differences "
        "(source video 0 of each content; colour range shared within a row)",
        fontsize=9,
    )
    return str(save_figure(fig, path))
