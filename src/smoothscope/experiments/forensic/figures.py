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
    "PIPELINES",
    "ROC_CONTENT_SPLIT",
    "ROC_LEAVE_ONE_FAMILY_OUT",
    "ROUGHNESS_MAPS",
    "draw_figures",
]

ROC_LEAVE_ONE_FAMILY_OUT = "roc_leave_one_family_out.png"
ROC_CONTENT_SPLIT = "roc_content_split.png"
PIPELINES = "pipelines.png"
ROUGHNESS_MAPS = "roughness_maps.png"

_DETECTORS = (
    "Red: the 20 nonsmoothness features (smoothscope.forensic.features); blue: the single-frame "
    "DCT-spectrum baseline (Frank et al. 2020); purple: both feature sets together; each a "
    "logistic regression, its AUC in the legend; the dotted diagonal is chance."
)

FIGURES: tuple[Figure, ...] = (
    Figure(
        ROC_LEAVE_ONE_FAMILY_OUT,
        "Paper A §V, Fig. 7 (proposed there, built here): ROC curves of detectors tested on a "
        "network family they never saw in training (leave-one-family-out), one panel per "
        "held-out family: its networks' outputs (at initialisation and trained) against "
        "authentic and smoothly processed videos, all from test source videos, all in float "
        "(never stored). "
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
        "processed videos, in float. "
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
        PIPELINES,
        "Beyond paper A (issue 27): detectors on videos that went through storage pipelines, "
        "tested on source videos they never saw. Left: ROC-AUC (95 % cluster-bootstrap "
        "interval over source videos) per pipeline, x axis (float, 8-bit, H.264 by CRF, "
        "MPEG-4 by quantiser, JPEG by quality, resizing, noise then 8-bit): red, nonsmoothness "
        "features trained on the training half through all pipelines, every video measured as "
        "stored (a float video as its 8-bit copy, so its float point repeats its 8-bit one); "
        "orange, the features of the float values trained on float videos only (the detector "
        "before issue 27); blue, the DCT "
        "baseline trained through all pipelines; dotted line, chance. Right: at the red "
        "detector's calibrated threshold (chosen on leave-one-content-out scores of the "
        "training half), the share of authentic test videos flagged (black, the false-positive "
        "rate; the dashed line is the target) and of processed ones (red); grey, the control "
        "AUC of authentic videos through the pipeline against the same videos in float (0.5: "
        "the pipeline alone does not move the score). Look at: the red AUC under 8-bit and "
        "H.264 (A.forensic.quantised_heldout), whether the grey control stays near 0.5 under "
        "the codecs while the orange detector's does not (A.forensic.codec_not_the_signal), "
        "and the black false-positive rates against the target.",
        claims=("A.forensic.quantised_heldout", "A.forensic.codec_not_the_signal"),
    ),
    Figure(
        ROUGHNESS_MAPS,
        "Paper A §III-A (second differences in time, eq. 2), the signal the detector reads: for "
        "source video 0 of each content (rows), the middle frame and, per pixel, log10 of the "
        "energy of the kink filter over that of the noise filter (smoothscope.forensic."
        "_kinks: 0 for white noise, +0.55 for an isolated kink; both filters ignore cubic "
        "motion, but faster smooth motion leaks into both through its higher-order terms, so "
        "a map is read against the authentic one of its row), for the authentic video (left "
        "pair) and its version processed by a ReLU network (right pair: the trained "
        "ReLU+MaxPool autoencoder when the run has it, else the first trained network family), "
        "in float. The colour range is shared within a row. Look at: where the processed "
        "video's map is brighter than the authentic one (kinks where the content moves) and "
        "where both are alike.",
    ),
)


def draw_figures(
    run_dir: Path,
    *,
    lofo: dict[str, dict[str, dict[str, Any]]],
    content: dict[str, dict[str, Any]],
    holdout_content: str,
    pipelines: list[dict[str, Any]],
    target_fpr: float,
    maps: dict[str, np.ndarray],
    variants: list[str],
) -> list[str]:
    """Draw :data:`FIGURES` under ``run_dir/figures``; returns their paths, in that order.

    Args:
        run_dir: the run directory.
        lofo: per held-out family, its folds per feature set (``ns``, ``dct``, ``both``).
        content: the folds of the content split per feature set.
        holdout_content: the held-out content.
        pipelines: one row per pipeline (``measurements["pipelines"]``).
        target_fpr: the calibration's target false-positive rate.
        maps: per content, the kink maps and middle frames of its source video 0, two per
            variant in the order of ``variants``.
        variants: the variant names.
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
        _pipelines_figure(pipelines, target_fpr, folder / PIPELINES),
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


def _pipelines_figure(rows: list[dict[str, Any]], target_fpr: float, path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["pipeline"] for r in rows]
    x = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    for key, color, label, shift in (
        ("all_pipelines", "tab:red", "nonsmoothness, trained through all pipelines", -0.15),
        ("float_only", "tab:orange", "nonsmoothness, trained on float only", 0.0),
        ("dct", "tab:blue", "DCT baseline, trained through all pipelines", 0.15),
    ):
        y = np.array([r[key]["auc"] for r in rows])
        lo = np.array([r[key]["auc_interval"][0] for r in rows])
        hi = np.array([r[key]["auc_interval"][1] for r in rows])
        err = np.clip(np.stack([y - lo, hi - y]), 0, None)
        left.errorbar(
            x + shift, y, yerr=err, color=color, marker="o", ls="", capsize=3, label=label
        )
    left.axhline(0.5, color="0.7", lw=0.8, ls=":")
    left.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    left.set(ylabel="ROC-AUC (95 % interval)", ylim=(0.0, 1.02), title="held-out test videos")
    left.legend(fontsize=7, loc="lower left")
    fpr = [r["fpr_at_threshold"] for r in rows]
    tpr = [r["tpr_at_threshold"] for r in rows]
    right.plot(x, fpr, "ko-", label="authentic flagged (false-positive rate)")
    right.plot(x, tpr, "o-", color="tab:red", label="processed flagged (true-positive rate)")
    right.axhline(target_fpr, color="k", lw=0.8, ls="--")
    ctrl = [r.get("control") for r in rows]
    have = [i for i, c in enumerate(ctrl) if c is not None]
    if have:
        y = np.array([ctrl[i]["auc"] for i in have])
        lo = np.array([ctrl[i]["auc_interval"][0] for i in have])
        hi = np.array([ctrl[i]["auc_interval"][1] for i in have])
        right.errorbar(
            np.array(have),
            y,
            yerr=np.clip(np.stack([y - lo, hi - y]), 0, None),
            color="0.5",
            marker="s",
            ls="",
            capsize=3,
            label="control: AUC authentic stored vs float",
        )
    right.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    right.set(ylim=(0.0, 1.02), title="at the calibrated threshold")
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle("Storage pipelines: detectors on videos they never saw", fontsize=10)
    fig.tight_layout()
    return str(save_figure(fig, path))


def _shown_variant(variants: list[str]) -> int:
    """The processed variant of the maps figure: the trained ReLU+MaxPool autoencoder when the
    run has it, else the first trained network, else the first network."""
    tests = (
        lambda v: v == "net:ae_relu_maxpool:trained",
        lambda v: v.startswith("net:") and v.endswith(":trained"),
        lambda v: v.startswith("net:"),
    )
    for test in tests:
        for i, v in enumerate(variants):
            if test(v):
                return i
    raise ValueError("variants: expected at least one network variant")


def _maps_figure(maps: dict[str, np.ndarray], variants: list[str], path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = _shown_variant(variants)
    name = variants[shown].removeprefix("net:")
    fig, axes = plt.subplots(len(maps), 4, figsize=(8.4, 2.1 * len(maps)), squeeze=False)
    image = None
    for row, (content, stack) in enumerate(maps.items()):
        # stack: per variant, its kink map then its middle frame
        panels = (
            (stack[1], "authentic frame", "gray"),
            (stack[0], "authentic: kink / noise energy", "magma"),
            (stack[2 * shown + 1], f"{name} frame", "gray"),
            (stack[2 * shown], f"{name}: kink / noise", "magma"),
        )
        low = min(float(stack[0].min()), float(stack[2 * shown].min()))
        high = max(float(stack[0].max()), float(stack[2 * shown].max()))
        for col, (values, title, cmap) in enumerate(panels):
            ax = axes[row, col]
            if cmap == "gray":
                ax.imshow(values, cmap=cmap)
            else:
                image = ax.imshow(values, cmap=cmap, vmin=low, vmax=max(high, low + 1e-9))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
            if col == 0:
                ax.set_ylabel(content, fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes[:, 3], shrink=0.6, label="log10 kink / noise energy per pixel")
    fig.suptitle(
        "Where the video bends in time: per-pixel energy of the kink filter over the noise "
        "filter (source video 0 of each content; colour range shared within a row)",
        fontsize=9,
    )
    return str(save_figure(fig, path))
