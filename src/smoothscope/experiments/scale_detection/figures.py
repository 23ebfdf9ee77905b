"""Figures of the ``scale-detection`` experiment (paper B Figs. 4, 7, B1, B2, C1, C2, Tables C2,
C3), each declared with its caption and the claims it shows (:data:`FIGURES`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_figure
from .._base import Figure
from .claims import PREDICTIONS

__all__ = ["FIGURES", "draw_figures"]

SENSITIVITIES_VS_A = Figure(
    "sensitivities_vs_A.png",
    "Paper B §3–4, Figs. 7, B2: D_k, G_k and R_k against the effective receptive field "
    "A_k, at initialisation (grey), trained (blue) and the trained net's channel means "
    "(dotted: each layer's representation averaged over its channels), with the predicted "
    "power laws (dashed) drawn over the layers the exponents are fitted on (the first large "
    "part of the network, left of the vertical line). Look at: whether the trained curves run "
    "parallel to the dashed lines left of the line.",
    claims=(
        *(f"B.{family}.{q}_*" for family in ("task1", "task2", "task1-tanh") for q in "DGR"),
        "B.task1.mean_channel",
        "B.task2.mean_channel",
    ),
)
MEAN_FILTERS = Figure(
    "mean_filters.png",
    "Paper B Tables C2, C3: mean filters of the first layers at initialisation (dotted) "
    "and trained (solid). Look at: trained mean filters becoming smooth, "
    "pooling-like profiles.",
    claims=("B.task1.positive_mean_filters", "B.task2.positive_mean_filters"),
)
FILTER_SPECTRA = Figure(
    "filter_spectra.png",
    "Paper B Fig. 4 (bottom) and, for tanh, Fig. B1: spectra γ̃_l of the filters of the first "
    "simple CNN of each family (task 1, task 2, task 1 with tanh) on the 1-D grid Laplacian, "
    "from the constant mode l = 0 to the highest, for about four layers spread over the depth, "
    "at initialisation (dotted) and trained (solid), log axis. Look at: trained filters "
    "concentrating their power in the low modes (pooling), where the initial ones are flat.",
)
ZOO_SHUFFLED = Figure(
    "zoo_shuffled.png",
    "Paper B Fig. C2: D_k, G_k and R_k against relative depth of the deep nets trained on the "
    "2-D task 1 (VGG11bn by default), at initialisation (dotted), trained (solid) and trained "
    "with shuffled channels (dash-dotted: one random permutation of each conv layer's input "
    "channels, as the original code), log axis. Look at: whether shuffling the channels "
    "of the trained net undoes what training did to D_k and R_k in the deeper layers (the "
    "pooling across channels is broken). A figure, not a claim.",
)
ZOO_ERROR_VS_SENSITIVITY = Figure(
    "zoo_error_vs_sensitivity.png",
    "Paper B Fig. C1: test error against D_f, G_f and R_f of the output for the deep nets "
    "trained on the 2-D task 1, one point per architecture, log axes; drawn only when zoo lists "
    "two or more architectures (e.g. --set zoo=vgg11bn,alexnet,resnet18). Look at: the sign of "
    "the trend in each panel, as in the stability experiment's Fig. 1. One network per "
    "architecture: a figure, not a claim.",
)
FIGURES: tuple[Figure, ...] = (
    SENSITIVITIES_VS_A,
    MEAN_FILTERS,
    FILTER_SPECTRA,
    ZOO_SHUFFLED,
    ZOO_ERROR_VS_SENSITIVITY,
)
"""Every figure a run may draw, in the report's order."""


def draw_figures(run_dir: Path, tables: dict[str, Any]) -> list[str]:
    """Every figure of the run from the per-family tables of the measurements."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    simple = [n for n in tables if not n.startswith("zoo-")]
    f, axes = plt.subplots(len(simple), 3, figsize=(13, 3.4 * len(simple)), squeeze=False)
    for row, name in zip(axes, simple, strict=True):
        t = tables[name]
        a = np.asarray(t["A"])
        for ax, q in zip(row, "DGR", strict=True):
            for variant, style in (
                ("init", dict(color="0.5")),
                ("trained", dict(color="tab:blue")),
                ("mean", dict(color="tab:blue", ls=":")),
            ):
                if variant in t:
                    ax.plot(a, t[variant][q], marker="o", ms=3, label=variant, **style)
            expo = PREDICTIONS.get((name, q))
            k = int(t.get("fit_layers") or len(a))
            if expo is not None and np.isfinite(a[:k]).any():
                ref = np.asarray(t["trained"][q])[:k]
                with np.errstate(all="ignore"):
                    anchor = np.nanmedian(ref * a[:k] ** (-expo))
                ax.plot(a[:k], anchor * a[:k] ** expo, "k--", lw=1, label=f"∝ A^{expo:g}")
            if k < len(a) and np.isfinite(a[k - 1]):
                ax.axvline(a[k - 1], color="0.7", lw=0.8)
            ax.set(
                xscale="log", yscale="log", xlabel="A_k", ylabel=f"{q}_k", title=f"{name}: {q}_k"
            )
        row[0].legend(fontsize=7)
    f.suptitle("Sensitivities vs effective receptive field (paper B Fig. 7, B2)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / SENSITIVITIES_VS_A.file)))

    f, axes = plt.subplots(1, len(simple), figsize=(4.5 * len(simple), 3.4), squeeze=False)
    for ax, name in zip(axes[0], simple, strict=True):
        for variant, style in (("init", ":"), ("trained", "-")):
            filters_k = np.asarray(tables[name]["mean_filters"][variant])
            for k, filt in enumerate(filters_k[:4]):
                ax.plot(
                    filt,
                    ls=style,
                    marker="o",
                    ms=3,
                    color=f"C{k}",
                    label=f"layer {k + 1} {variant}" if variant == "trained" else None,
                )
        ax.set(title=f"{name}: mean filters (Tables C2, C3)", xlabel="filter position")
        ax.legend(fontsize=7)
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / MEAN_FILTERS.file)))

    f, axes = plt.subplots(1, len(simple), figsize=(4.5 * len(simple), 3.4), squeeze=False)
    for ax, name in zip(axes[0], simple, strict=True):
        for variant, style in (("init", ":"), ("trained", "-")):
            spectra = np.asarray(tables[name]["spectra"][variant])
            for k in range(0, len(spectra), max(1, len(spectra) // 4)):
                ax.plot(
                    spectra[k],
                    ls=style,
                    marker="o",
                    ms=3,
                    color=f"C{k % 10}",
                    label=f"layer {k + 1}" if variant == "trained" else None,
                )
        ax.set(
            title=f"{name}: γ̃_l (init dotted)",
            xlabel="mode l (low → high)",
            ylabel="γ̃_l",
            yscale="log",
        )
        ax.legend(fontsize=7)
    f.suptitle("Filter spectra of the simple CNNs (paper B Fig. B1 for tanh, Fig. 4 bottom)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / FILTER_SPECTRA.file)))

    zoo = [n for n in tables if n.startswith("zoo-")]
    if zoo:
        f, axes = plt.subplots(len(zoo), 3, figsize=(13, 3.4 * len(zoo)), squeeze=False)
        for row, name in zip(axes, zoo, strict=True):
            for ax, q in zip(row, "DGR", strict=True):
                for variant, style in (("init", ":"), ("trained", "-"), ("shuffled", "-.")):
                    t = tables[name].get(variant)
                    if t is not None:
                        ax.plot(
                            t["relative_depth"], t[q], ls=style, marker="o", ms=3, label=variant
                        )
                ax.set(
                    yscale="log",
                    xlabel="relative depth k/K",
                    ylabel=f"{q}_k",
                    title=f"{name}: {q}_k",
                )
            row[0].legend(fontsize=7)
        f.suptitle("Deep nets on 2-D task 1 with shuffled channels (paper B Fig. C2)")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / ZOO_SHUFFLED.file)))
    if len(zoo) >= 2:
        f, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for ax, q in zip(axes, "DGR", strict=True):
            for name in zoo:
                t = tables[name]
                ax.scatter(t["trained"]["output"][q], t["test_error"], label=name[4:])
            ax.set(xscale="log", xlabel=f"{q}_f (output)", ylabel="test error")
            # issue 26: the minor labels of a narrow log axis overlapped; tilt and shrink them
            ax.tick_params(axis="x", which="both", labelsize=8, labelrotation=30)
        axes[0].legend(fontsize=8)
        f.suptitle("Test error vs sensitivities across architectures on task 1 (paper B Fig. C1)")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / ZOO_ERROR_VS_SENSITIVITY.file)))
    return written
