"""Figures of the ``stability`` experiment (paper B Figs. 1, 3, 4, C1, C2, C3), each declared
with its caption and the claims it shows (:data:`FIGURES`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_figure
from .._base import Figure

__all__ = ["FIGURES", "draw_figures", "noise_figure"]

R_VS_DEPTH = Figure(
    "R_vs_depth.png",
    "Paper B §2, Fig. 3: relative stability R_k = D_k/G_k (eq. 1) against relative "
    "depth, trained networks (solid) and the same with shuffled channels (dashed), log "
    "axis. Look at: whether R_k falls with depth and whether shuffling raises it.",
    claims=("B.fig3.R_decreases_with_depth", "B.fig3.shuffling_raises_R"),
)
D_G_INIT_VS_TRAINED = Figure(
    "D_G_init_vs_trained.png",
    "Paper B §2: D_k (diffeomorphisms, left) and G_k (noise, right) at initialisation "
    "(dotted) and after training (solid). Look at: how training moves each curve "
    "(the claims B.training_D and B.training_G).",
    claims=("B.training_D", "B.training_G"),
)
FILTER_SPECTRA = Figure(
    "filter_spectra.png",
    "Paper B Fig. 4: spectra γ̃_l of a VGG's 3×3 filters on the grid Laplacian, from low "
    "to high modes, at initialisation (dotted) and trained (solid). Look at: trained "
    "filters putting more weight on the low modes.",
    claims=("B.fig4.vgg_filters_low_frequency",),
)
ERROR_VS_SENSITIVITY = Figure(
    "error_vs_sensitivity.png",
    "Paper B Fig. 1 / C1: test error against D_f, G_f and R_f of the output across "
    "architectures, log axes: each network a small dot, each architecture's mean (seeds "
    "averaged, the points of the paper and of the claims) a large marker; the dashed line is "
    "the chance level. Look at: the sign of the trend of the large markers (the claims "
    "B.fig1.error_vs_*); these networks are trained on the images found offline "
    "(Fashion-MNIST or digits unless CIFAR-10 is given), not necessarily CIFAR10.",
    claims=("B.fig1.*",),
)
ERROR_CORRELATION_VS_NOISE = Figure(
    "error_correlation_vs_noise.png",
    "Paper B Fig. 1 (right) / C3: Spearman ρ between test error and D_f, G_f and R_f of the "
    "output across the trained networks, with 95 % Fisher-z intervals, against the standard "
    "deviation η of the Gaussian noise added once to every training and test image (drawn only "
    "when input_noise lists two or more levels; the claims B.fig1.error_vs_* use the smallest "
    "η). Look at: whether the correlation of the test error with R_f (positive) and G_f "
    "(negative) holds on noisy images as on clean ones.",
    claims=("B.fig1.*",),
)
FIGURES: tuple[Figure, ...] = (
    R_VS_DEPTH,
    D_G_INIT_VS_TRAINED,
    FILTER_SPECTRA,
    ERROR_VS_SENSITIVITY,
    ERROR_CORRELATION_VS_NOISE,
)
"""Every figure a run may draw, in the report's order."""


def draw_figures(
    run_dir: Path, nets: list[dict[str, Any]], chance: float | None = None
) -> list[str]:
    """Figs. 3, C2, 4 and 1 / C1 of the networks trained on the clean (least noisy) images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    arch_color = {
        a: colors[i % len(colors)]
        for i, a in enumerate(dict.fromkeys(n["architecture"] for n in nets))
    }

    def curve(ax, rows, key, **style):
        ax.plot(
            [r["relative_depth"] for r in rows], [r[key] for r in rows], marker="o", ms=3, **style
        )

    f, ax = plt.subplots(figsize=(6.5, 4))
    for n in nets:
        c = arch_color[n["architecture"]]
        curve(
            ax,
            n["trained"]["rows"],
            "R",
            color=c,
            label=n["architecture"] if n["seed"] == 0 else None,
        )
        if "shuffled" in n:
            curve(ax, n["shuffled"]["rows"], "R", color=c, ls="--")
    ax.set(
        yscale="log",
        xlabel="relative depth k/K",
        ylabel="R_k",
        title="R_k of trained networks (solid) and with shuffled channels (dashed)",
    )
    ax.legend(fontsize=8)
    written.append(str(save_figure(f, run_dir / "figures" / R_VS_DEPTH.file)))

    f, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("D", "G"), strict=True):
        for n in nets:
            c = arch_color[n["architecture"]]
            curve(ax, n["init"]["rows"], key, color=c, ls=":")
            curve(
                ax,
                n["trained"]["rows"],
                key,
                color=c,
                label=n["architecture"] if n["seed"] == 0 else None,
            )
        ax.set(
            yscale="log",
            xlabel="relative depth k/K",
            ylabel=f"{key}_k",
            title=f"{key}_k at initialisation (dotted) and trained (solid)",
        )
    axes[0].legend(fontsize=8)
    written.append(str(save_figure(f, run_dir / "figures" / D_G_INIT_VS_TRAINED.file)))

    vgg = next((n for n in nets if n["architecture"].startswith("vgg")), None)
    if vgg is not None:
        names = list(vgg["trained"]["spectra"])
        f, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names), 2.8), sharey=True)
        for ax, name in zip(np.atleast_1d(axes), names, strict=True):
            for variant, style in (("init", ":"), ("trained", "-")):
                g = vgg[variant]["spectra"][name]["gamma_tilde"]
                ax.plot(range(1, len(g) + 1), g, ls=style, marker="o", ms=3, label=variant)
            ax.set(title=name.split(".")[-1], xlabel="mode l (low → high)")
        np.atleast_1d(axes)[0].set_ylabel("γ̃_l")
        np.atleast_1d(axes)[0].legend(fontsize=7)
        f.suptitle(f"{vgg['architecture']} filter spectra on the 3×3 grid Laplacian (Fig. 4)")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / FILTER_SPECTRA.file)))

    f, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key in zip(axes, ("D", "G", "R"), strict=True):
        for n in nets:
            ax.scatter(
                n["trained"]["rows"][-1][key],
                n["test_error"],
                color=arch_color[n["architecture"]],
                s=10,
                alpha=0.6,
            )
        for arch, color in arch_color.items():
            group = [n for n in nets if n["architecture"] == arch]
            with np.errstate(all="ignore"):
                q = np.exp(np.mean(np.log([n["trained"]["rows"][-1][key] for n in group])))
            error = float(np.mean([n["test_error"] for n in group]))
            ax.scatter(q, error, color=color, s=70, edgecolor="k", label=arch)
        if chance is not None:
            ax.axhline(chance, color="0.5", ls="--", lw=0.8)
        ax.set(xscale="log", xlabel=f"{key}_f (output)", ylabel="test error")
        # issue 26: the minor labels of a narrow log axis overlapped; tilt and shrink them
        ax.tick_params(axis="x", which="both", labelsize=8, labelrotation=30)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0].legend(unique.values(), unique.keys(), fontsize=8)
    f.suptitle("Test error vs sensitivities of the output across architectures (Fig. 1 / C1)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / ERROR_VS_SENSITIVITY.file)))
    return written


def noise_figure(run_dir: Path, by_noise: dict[str, dict[str, Any]]) -> list[str]:
    """Spearman ρ(test error, D_f / G_f / R_f) against the input noise η (Fig. 1 right)."""
    if len(by_noise) < 2:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eta = [float(e) for e in by_noise]
    f, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, q in enumerate("DGR"):
        rho = np.array([by_noise[e][q] for e in by_noise], dtype=np.float64)
        ax.errorbar(
            np.asarray(eta) + 0.003 * i,
            rho[:, 0],
            yerr=np.abs(rho[:, 1:].T - rho[:, 0]),
            marker="o",
            capsize=3,
            label=f"{q}_f",
        )
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="input noise η", ylabel="Spearman ρ with test error", ylim=(-1.05, 1.05))
    ax.legend(fontsize=8)
    ax.set_title("Error–sensitivity correlation on noisy images (paper B Fig. 1 right, C3)")
    return [str(save_figure(f, run_dir / "figures" / ERROR_CORRELATION_VS_NOISE.file))]
