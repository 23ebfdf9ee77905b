"""Figures of the ``nonsmoothness`` experiment, each declared with its caption.

Per dataset: frames of a test video and its reconstructions (paper A Figs. 4, 9), the intensity
and second difference at one pixel (Figs. 5, 10) and the histograms of AveNonSmooth (Figs. 6,
11); and the toy examples of §III-B (Figs. 1-3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._io import save_figure
from ...models import SETUPS
from .._base import Figure
from .cells import object_mask
from .claims import ZERO_TOLERANCE
from .config import DATASETS, LABELS, TAU_D, TOY_STEP

__all__ = ["FIGURES", "dataset_figures", "toy_figures"]

FIGURE_KINDS = ("frames", "curves", "histograms")
"""The figures drawn per dataset: ``<dataset>_<kind>.png``."""
COLORS = {"input": "0.35", "relu_maxpool": "tab:red", "softplus_avgpool": "tab:blue"}

TOY_FIGURE = Figure(
    "toy_examples.png",
    "Paper A §III-B, Figs. 1-3 (toy examples, closed form): top, ReLU vs softplus on [−1, 1] "
    "(Fig. 1), max vs average pooling of the window (0, 0, 2 − t, t) (Fig. 2, eq. 3) and a "
    "smooth input through a modern unit max(ReLU(x)) vs a previous-generation unit "
    "mean(softplus(x)) (Fig. 3); bottom, their second differences δ² (eq. 2) at step 0.1 with "
    "the detector's threshold ±τ_d = 0.02 dotted. Look at: the single spikes of ReLU (0.1) and "
    "max pooling (0.2) crossing the dotted lines while softplus and average pooling stay "
    "between them.",
    claims=("A.fig1.*", "A.fig2.*"),
)


def _dataset_figures(dataset: str) -> dict[tuple[str, str], Figure]:
    """The three figures of one dataset, keyed by ``(dataset, kind)`` (see FIGURE_KINDS)."""
    source = {
        "ellipsoid": "Paper A §IV, Fig. {} (ellipsoid under a moving light)",
        "digits": "Paper A Appendix A, Fig. {} (digits under a noise ramp)",
        "fashion": "Beyond paper A: Appendix A's protocol, as in its Fig. {}, on rotated "
        "Fashion-MNIST templates of one class (default Sneaker) under a noise ramp",
    }[dataset]
    figs = {"ellipsoid": ("4", "5", "6")}.get(dataset, ("9", "10", "11"))
    inputs = "A.ellipsoid.input_smooth" if dataset == "ellipsoid" else f"A.{dataset}.input_zero"
    terminator = (
        " The input is paper A's own shading max(vᵀn, 0), whose shadow terminator is a kink in "
        "time at the rim pixels it crosses (a property of the paper's model, not a renderer "
        "defect); the claims A.ellipsoid_blanked.* repeat the comparison with those pixels "
        "blanked."
        if dataset == "ellipsoid"
        else ""
    )
    return {
        (dataset, "frames"): Figure(
            f"{dataset}_frames.png",
            f"{source.format(figs[0])}: the first test video (top row) and its reconstructions "
            "by a ReLU+MaxPool and a Softplus+AvgPool autoencoder at the first, middle and last "
            "frames. Look at: frame by frame both reconstructions look alike; the "
            "nonsmoothness is only visible over time (next figures).",
        ),
        (dataset, "curves"): Figure(
            f"{dataset}_curves.png",
            f"{source.format(figs[1])}: intensity (left) and second difference δ²y(t) (eq. 2, "
            "right) of one object pixel over the frames. Look at: isolated spikes of the "
            "ReLU+MaxPool second difference where the input and the Softplus+AvgPool "
            "reconstruction stay flat." + terminator,
            claims=(
                f"A.{dataset}.relu_raises_nonsmoothness",
                f"A.{dataset}.peak_share_difference",
            ),
        ),
        (dataset, "histograms"): Figure(
            f"{dataset}_histograms.png",
            f"{source.format(figs[2])}: histograms of AveNonSmooth (eq. 4) over videos × "
            "models, log axis. Look at: the ReLU+MaxPool histogram lying to the right of the "
            "input's and the Softplus+AvgPool one; the claims compare the increases over the "
            "input." + terminator,
            claims=(
                f"A.{dataset}.ratio_relu_vs_softplus",
                f"A.{dataset}.relu_raises_nonsmoothness",
                inputs,
            ),
        ),
    }


_DATASET_FIGURES = {k: v for dataset in DATASETS for k, v in _dataset_figures(dataset).items()}
FIGURES: tuple[Figure, ...] = (TOY_FIGURE, *_DATASET_FIGURES.values())
"""Every figure the experiment can draw: the toy examples and three per dataset."""


def _representative_pixel(smp0: np.ndarray, inside: np.ndarray) -> tuple[int, int]:
    """The object pixel whose ReLU+MaxPool SMP is the median among object pixels with a peak."""
    flat = np.where(inside.reshape(-1), smp0.reshape(-1), 0.0)
    nonzero = np.flatnonzero(flat > 0)
    if nonzero.size == 0:
        index = int(np.argmax(np.abs(flat)))
    else:
        order = nonzero[np.argsort(flat[nonzero])]
        index = int(order[order.size // 2])
    return divmod(index, smp0.shape[-1])


def dataset_figures(
    dataset: str, run_dir: Path, video: torch.Tensor, tables: dict[str, Any]
) -> list[str]:
    """Draw the three figures of ``dataset`` from test video 0 ``[T, 1, H, W]`` and the
    tables; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {kind: _DATASET_FIGURES[dataset, kind].file for kind in FIGURE_KINDS}
    written = []
    series = {"input": video[:, 0].numpy()}
    for setup in SETUPS:
        series[setup] = tables[setup]["video0"][0, :, 0].astype(np.float64)
    t_count = series["input"].shape[0]

    # frames: input and both reconstructions (model #0) at three times (Figs. 4, 9)
    times = [0, t_count // 2, t_count - 1]
    fig, axes = plt.subplots(3, 3, figsize=(6.6, 6.6))
    for row, key in enumerate(series):
        for col, t in enumerate(times):
            ax = axes[row, col]
            ax.imshow(series[key][t], cmap="gray", vmin=0, vmax=max(1e-9, series["input"].max()))
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(LABELS[key])
            if row == 0:
                ax.set_title(f"frame {t + 1}")
    fig.suptitle(f"{dataset}: test video 0 and its reconstructions (model #0)")
    written.append(str(save_figure(fig, run_dir / "figures" / files["frames"])))

    # intensity and second-difference curves at a representative pixel (Figs. 5, 10)
    inside = object_mask(video[None])[0, 0].numpy()
    row, col = _representative_pixel(tables["relu_maxpool"]["smp0"][0, 0], inside)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    t = np.arange(1, t_count + 1)
    for key, values in series.items():
        curve = values[:, row, col]
        d2 = curve[2:] + curve[:-2] - 2 * curve[1:-1]
        ax1.plot(t, curve, color=COLORS[key], label=LABELS[key])
        ax2.plot(t[1:-1], d2, color=COLORS[key], label=LABELS[key])
    ax1.set(xlabel="frame t", ylabel="intensity", title="intensity")
    ax2.set(xlabel="frame t", ylabel="second difference δ²y(t)", title="second difference (eq. 2)")
    fig.suptitle(
        f"{dataset}, test video 0, pixel (row {row}, col {col}): the object pixel with the "
        "median ReLU+MaxPool SMP among those with a peak",
        fontsize=9,
    )
    fig.tight_layout()
    ax1.legend(fontsize=8)
    written.append(str(save_figure(fig, run_dir / "figures" / files["curves"])))

    # histograms of AveNonSmooth (Figs. 6, 11)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    values = {k: np.ravel(tables[k]["ave_nonsmooth"]) for k in ("input", *SETUPS)}
    positive = np.concatenate([v[v > 0] for v in values.values()])
    floor = max(positive.min() if positive.size else 1e-12, 1e-12)
    bins = np.logspace(np.log10(floor) - 0.1, np.log10(max(positive.max(), floor)) + 0.1, 40)
    for key, v in values.items():
        label = LABELS[key]
        if v.max() < ZERO_TOLERANCE:
            label += f" (all < {ZERO_TOLERANCE:g}; drawn at the left edge)"
        ax.hist(np.clip(v, bins[0], None), bins=bins, alpha=0.55, color=COLORS[key], label=label)
    ax.set_xscale("log")
    ax.set(
        xlabel="AveNonSmooth (eq. 4)",
        ylabel="videos × models",
        title=f"{dataset}: AveNonSmooth of inputs and reconstructions",
    )
    ax.legend(fontsize=8)
    written.append(str(save_figure(fig, run_dir / "figures" / files["histograms"])))
    return written


def toy_figures(run_dir: Path, toy: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """Draw the toy examples of §III-B (Figs. 1-3) and their second differences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {
        "fig1": (("relu", "ReLU", "tab:red"), ("softplus", "softplus", "tab:blue"), "x"),
        "fig2": (
            ("max_pool", "max pool", "tab:red"),
            ("avg_pool", "average pool", "tab:blue"),
            "t",
        ),
        "fig3": (
            ("modern", "y1: max(ReLU(x))", "tab:red"),
            ("previous", "y2: mean(softplus(x))", "tab:blue"),
            "t",
        ),
    }
    titles = {
        "fig1": "Fig. 1: ReLU vs softplus",
        "fig2": "Fig. 2: pooling of (0, 0, 2 − t, t) (eq. 3)",
        "fig3": "Fig. 3: a smooth input through modern vs previous units",
    }
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4))
    for col, (name, (a, b, xlabel)) in enumerate(panels.items()):
        curves = toy[name]
        t = curves["t"]
        for key, label, color in (a, b):
            axes[0, col].plot(t, curves[key], color=color, label=label)
            axes[1, col].plot(t[1:-1], curves[f"d2_{key}"], "o-", ms=3, color=color, label=label)
        if name == "fig3":
            axes[0, col].plot(t, curves["input"], color="0.5", lw=1, label="x1(t) (one input)")
        axes[1, col].axhline(TAU_D, color="k", ls=":", lw=1, label=f"τ_d = {TAU_D}")
        axes[1, col].axhline(-TAU_D, color="k", ls=":", lw=1)
        axes[0, col].set(title=titles[name], xlabel=xlabel)
        axes[1, col].set(xlabel=xlabel, ylabel=f"δ² (step {TOY_STEP})")
        axes[0, col].legend(fontsize=7)
        axes[1, col].legend(fontsize=7)
    fig.suptitle("Paper A §III-B toy examples: second differences and the detector (2)")
    fig.tight_layout()
    return [str(save_figure(fig, run_dir / "figures" / TOY_FIGURE.file))]
