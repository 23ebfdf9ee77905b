"""Figures of the ``propagation`` experiment (paper A Fig. 8, Appendix B, whole network), each
declared with its caption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_figure
from .._base import Figure
from .claims import PAPER_R2, R2_THRESHOLD

__all__ = ["FIGURES", "draw_figures"]

FIG8 = Figure(
    "fig8_propagation.png",
    "Paper A §V, Fig. 8: propagation of nonsmoothness events through conv2 → ReLU → max-pool of "
    "the ReLU+MaxPool ellipsoid autoencoders; (a, b) on every model and video, (c–e) on the "
    "held-out videos of the fitting models. Look at: (a, b) real against predicted SMP (eqs. 6 "
    "and 5) along a line, with R² in the titles next to the paper's; (c, d) the ReLU and "
    "max-pooling channels, points on or below the diagonal; (e) the chained prediction, red and "
    "blue outlines following the grey histogram (small KS distances).",
    claims=("A.conv2.r2_abs", "A.conv2.r2_w0", "A.conv2.r2_abs_above_w0", "A.fig8e.*"),
)
R2_PER_LAYER = Figure(
    "r2_per_layer.png",
    "Paper A §V, Appendix B: R² of real against predicted SMP for every convolution and "
    "transposed convolution (eq. 5 with |W|, eq. 6 with w0, at channel level), next to the "
    "paper's values for |W|; the dotted line is the threshold of the claims. Look at: which "
    "bars clear the line, and whether |W| stands above w0.",
    claims=(
        "A.conv2.r2_abs",
        "A.conv2.r2_w0",
        "A.conv2.r2_abs_above_w0",
        "A.deconv1.r2_abs",
        "A.deconv2.r2_abs",
        "A.deconv3.r2_abs",
    ),
)
WHOLE_NETWORK = Figure(
    "whole_network.png",
    "Beyond paper A: output-pixel SMP predicted from the input video alone by chaining "
    "every layer's channel model, on held-out autoencoders, for both setups. Look at: "
    "how closely the outlines follow the grey histogram (KS distance in the legend).",
    claims=("A.network.*",),
)
FIGURES: tuple[Figure, ...] = (FIG8, R2_PER_LAYER, WHOLE_NETWORK)
"""Every figure the experiment draws (at every scale)."""


def draw_figures(run_dir: Path, fig: dict[str, Any]) -> list[str]:
    """Fig. 8 (a–e), the R² per layer and the whole-network prediction; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    written = []

    def scatter(ax, x, y, title, xlabel, ylabel, diagonal=False, limit=6000):
        keep = rng.permutation(x.size)[:limit]
        ax.scatter(x[keep], y[keep], s=3, alpha=0.35, color="tab:red", rasterized=True)
        if diagonal:
            top = max(x[keep].max(initial=0), y[keep].max(initial=0))
            ax.plot([0, top], [0, top], "k--", lw=1)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)

    f, axes = plt.subplots(1, 5, figsize=(22, 4.2))
    scatter(
        axes[0],
        *fig["a"],
        f"(a) conv2, w0: R² = {fig['r2_w0']:.3f} (paper 0.842)",
        "predicted (eq. 6)",
        "real SMP (channel mean)",
    )
    scatter(
        axes[1],
        *fig["b"],
        f"(b) conv2, |W|: R² = {fig['r2_abs']:.3f} (paper 0.944)",
        "predicted (eq. 5, channel mean)",
        "real SMP (channel mean)",
    )
    scatter(axes[2], *fig["c"], "(c) ReLU act2", "input SMP", "output SMP", diagonal=True)
    scatter(
        axes[3],
        *fig["d"],
        "(d) max pool2",
        "largest input SMP in window",
        "output SMP",
        diagonal=True,
    )
    real, par, emp = fig["e"]
    top = max(np.quantile(real, 0.995), 1e-12)
    bins = np.linspace(0, top, 50)
    axes[4].hist(real, bins=bins, alpha=0.5, density=True, label="real", color="0.3")
    axes[4].hist(
        par,
        bins=bins,
        histtype="step",
        density=True,
        lw=1.5,
        label=f"parametric (KS of positive part {fig['ks_par']:.3f})",
        color="tab:red",
    )
    axes[4].hist(
        emp,
        bins=bins,
        histtype="step",
        density=True,
        lw=1.5,
        label=f"empirical (KS of positive part {fig['ks_emp']:.3f})",
        color="tab:blue",
    )
    axes[4].set(yscale="log", title="(e) conv2→ReLU→pool2, chained", xlabel="SMP at pool2")
    axes[4].legend(fontsize=8)
    f.suptitle(
        "Propagation of nonsmoothness events, ReLU+MaxPool ellipsoid autoencoders (paper A "
        "Fig. 8): (a, b) every model and video; (c–e) held-out videos of the fitting models"
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / FIG8.file)))

    f, ax = plt.subplots(figsize=(7.5, 3.8))
    names = [row["layer"] for row in fig["table"]]
    pos = np.arange(len(names))
    ours = [row["r2_abs"] for row in fig["table"]]
    ours_w0 = [row["r2_w0"] for row in fig["table"]]
    paper = [PAPER_R2.get((n, "abs"), np.nan) for n in names]
    ax.bar(pos - 0.27, ours, 0.27, label="ours, |W| (eq. 5, channel means)", color="tab:red")
    ax.bar(pos, ours_w0, 0.27, label="ours, w0 (eq. 6, channel means)", color="tab:orange")
    ax.bar(pos + 0.27, paper, 0.27, label="paper, |W|", color="0.5")
    ax.set_xticks(pos, [n.split(".")[-1] for n in names])
    ax.set(ylabel="R²", ylim=(0, 1.05), title="Linear layers: R² of real vs predicted SMP")
    ax.axhline(R2_THRESHOLD, color="k", ls=":", lw=1)
    ax.legend(fontsize=8)
    written.append(str(save_figure(f, run_dir / "figures" / R2_PER_LAYER.file)))

    f, axes = plt.subplots(1, len(fig["network"]), figsize=(6 * len(fig["network"]), 3.8))
    for ax, (setup, rows) in zip(np.atleast_1d(axes), fig["network"].items(), strict=True):
        real = rows["real"]
        top = max(np.quantile(real, 0.995), 1e-12)
        bins = np.linspace(0, top, 50)
        ax.hist(real, bins=bins, density=True, alpha=0.5, color="0.3", label="real")
        for kind, color in (("parametric", "tab:red"), ("empirical", "tab:blue")):
            ax.hist(
                rows[kind],
                bins=bins,
                density=True,
                histtype="step",
                lw=1.5,
                color=color,
                label=f"{kind} (KS {rows['ks'][kind]:.3f})",
            )
        ax.set(yscale="log", xlabel="output-pixel SMP", title=f"{setup}: held-out autoencoders")
        ax.legend(fontsize=8)
    f.suptitle("Whole-network prediction from the input video alone (beyond paper A)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / WHOLE_NETWORK.file)))
    return written
