"""Figures of the ``blueshift`` experiment (paper C Figs. 1-9, 11, 12, 17), each declared with
its caption in :data:`FIGURES`; :func:`blueshift_figures` draws those the config asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._errors import SmoothscopeError
from ..._io import save_figure
from ...analysis import paths as P
from ...analysis import spectra as S
from ...sweep import Cell
from .._base import Figure
from .cells import fig12_cell
from .config import ACTIVATIONS, HIGH_BAND, LINEAR, BlueshiftConfig

__all__ = ["FIGURES", "blueshift_figures"]

SPECTRA_PER_LAYER = Figure(
    "fig3_spectra_per_layer.png",
    "Paper C Fig. 3: mean spectra of every layer's weight-space path in the Toy-CNN for "
    "ReLU, tanh, softplus and the linear control, shallow (dark) to deep (yellow), "
    "log–log; one row with the paper's raw DFT, one with the boundary-free tapered "
    "estimator the claims use. Look at: deeper layers carrying more high-frequency "
    "power (blueshift), most for ReLU, none for the linear network; the raw-DFT row "
    "cannot fall faster than 1/k.",
    claims=("C.fig3.*",),
)
OTHER_ACTIVATIONS = Figure(
    "fig17_other_activations.png",
    "Paper C Fig. 17 (App. F.1): spectra of every unit's weight-space path in the Toy-CNN for "
    "the other activations (extra_activations: ELU, GELU, SELU, sigmoid, hardtanh and leaky "
    "ReLU 0.2 at the paper scale, the only scale that draws it), shallow (dark) to deep "
    "(yellow), log–log, boundary-free tapered estimator. Look at: the deep units' spectra "
    "flattening (blueshift) for every nonlinear activation, more for the kinked ones (leaky "
    "ReLU, hardtanh) than for the smooth ones. A figure, not a claim.",
)
DEPTH_BRANCHES_VARIANTS = Figure(
    "fig5_6_7_8.png",
    "Paper C Figs. 5–8, four panels: h of the loss path against Toy-CNN depth without and with "
    "shortcuts and for the linear control (Fig. 5); the output spectra of ResNet v1, v2 and the "
    "linear ResNet (α = 0), the high band k > K/8 right of the dotted line (Fig. 7); the "
    "output spectra of a NoShort ResNet without and with feature-group averaging (Fig. 8); "
    "the mean |correlation| of each block's residual and shortcut summands per frequency for "
    "ReLU, tanh, softplus and the linear ResNet (Fig. 6). Look at: h falling with depth "
    "without shortcuts only; less high-frequency power for v2 than v1 and for the averaged "
    "NoShort than the plain one; the correlation falling with frequency most for ReLU (the "
    "analytic activations' high band rises back through the taper's leakage, see "
    "docs/blueshift.md).",
    claims=("C.fig5.*", "C.fig6.*", "C.fig7.*", "C.fig8.*"),
)
TRANSITION = Figure(
    "fig1_transition.png",
    "Paper C Figs. 1 and 4: the loss along a weight-space path across the α–ν "
    "transition (linear, ReLU, ResNet), with h in the titles, and the path of median h "
    "over many directions. Look at: the path roughening with the nonlinearity and "
    "smoothing again with shortcuts.",
    claims=("C.fig1.*",),
)
CHEBYSHEV_TRAINABILITY = Figure(
    "fig2_9_chebyshev_trainability.png",
    "Paper C Figs. 2, 9, 19: Chebyshev coefficients of the activations on [−5, 5] "
    "(left; slower decay means rougher) and training accuracy against h at "
    "initialisation (right). Look at: whether smoother initial paths (larger h) train "
    "better.",
    claims=("C.fig9.*",),
)
TRAINABILITY = Figure(
    "fig9_trainability.png",
    "Paper C Fig. 9 per architecture (NoShort, and v1/v2 with shortcuts where the scale "
    "trains them): training accuracy (top) and h of the output path at initialisation "
    "(bottom, taper) against α (0 linear, 1 ReLU), one line per depth. Look at: accuracy "
    "and h at initialisation falling together as NoShort networks get deeper and more "
    "nonlinear; the claim reads the NoShort column only.",
    claims=("C.fig9.*",),
)
DURING_TRAINING = Figure(
    "fig11_during_training.png",
    "Paper C Fig. 11 (App. D.1): spectra of every unit's path of a Toy-CNN during training, "
    "one row per setting (ReLU, tanh, ReLU with shortcuts), one column per checkpoint epoch "
    "and path radius (paper: epochs 0 and 20, radii 1 and 10), shallow (dark) to deep "
    "(yellow), taper, the last unit's h in the titles; drawn at the standard and paper scales. "
    "Look at: less blueshift after training at radius 1, and the blueshift visible again at "
    "radius 10. One network per setting, as in the paper: a figure, not a claim.",
)
DELTA_ORTHOGONAL = Figure(
    "fig12_delta_orthogonal.png",
    "Paper C Fig. 12 (App. D.2): spectra of every unit's path in the delta-orthogonally "
    "initialised Toy-CNN without BatchNorm, tanh (top) and the linear reference (bottom), one "
    "column per path radius, shallow (dark) to deep (yellow), taper, the "
    "last unit's h in the titles. Look at: tanh smooth near the initialisation and rough "
    "further out. No claim: its protocol was chosen after probing (see docs/blueshift.md).",
)
FIGURES: tuple[Figure, ...] = (
    TRANSITION,
    CHEBYSHEV_TRAINABILITY,
    SPECTRA_PER_LAYER,
    DEPTH_BRANCHES_VARIANTS,
    TRAINABILITY,
    DURING_TRAINING,
    DELTA_ORTHOGONAL,
    OTHER_ACTIVATIONS,
)
"""Every figure a run can draw, in the paper's order (Fig. 17 at the paper scale only, Fig. 11
at the standard and paper scales)."""


def blueshift_figures(
    run_dir: Path,
    config: BlueshiftConfig,
    cells: dict[str, Cell],
    s: dict[str, Any],
    m: dict[str, Any],
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def data(name: str):
        return np.load(run_dir / "cells" / cells[name].id / "spectra.npz")

    def spectra(name: str, tag: str = "taper") -> tuple[np.ndarray, list[np.ndarray | None]]:
        arrays = data(name)
        n = len(s[name]["record"])
        return arrays[f"k_{tag}"], [arrays.get(f"{tag}_{i}") for i in range(n)]

    written = []
    f, axes = plt.subplots(2, 4, figsize=(18, 7), sharey="row")
    cmap = plt.get_cmap("viridis")
    panels = [(f"toy-{act}", act) for act in (*ACTIVATIONS, LINEAR)]
    for row, tag in enumerate(("paper", "taper")):
        for ax, (name, title) in zip(axes[row], panels, strict=True):
            k, specs = spectra(name, tag)
            for i, spec in enumerate(specs[:-1]):
                if spec is not None:
                    ax.loglog(k, spec, color=cmap(i / max(1, len(specs) - 2)), lw=1)
            ax.set(title=f"Toy-CNN {config.toy_units}, {title} ({tag})", xlabel="frequency k")
        axes[row][0].set_ylabel(f"normalised power ({tag})")
    f.suptitle(
        "Spectra of every unit's path, shallow (dark) to deep (yellow) (paper C Fig. 3); top: "
        "raw DFT (paper), bottom: boundary-free taper"
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / SPECTRA_PER_LAYER.file)))

    if config.extra_activations:
        extra = list(config.extra_activations)
        f, axes = plt.subplots(1, len(extra), figsize=(4.5 * len(extra), 3.8), squeeze=False)
        for ax, act in zip(axes[0], extra, strict=True):
            k, specs = spectra(f"toy-{act}")
            for i, spec in enumerate(specs[:-1]):
                if spec is not None:
                    ax.loglog(k, spec, color=cmap(i / max(1, len(specs) - 2)), lw=1)
            ax.set(title=f"Toy-CNN {config.toy_units}, {act} (taper)", xlabel="frequency k")
        f.suptitle("Unit spectra for the other activations (paper C Fig. 17), dark to yellow")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / OTHER_ACTIVATIONS.file)))

    f, axes = plt.subplots(1, 4, figsize=(19, 3.8))
    hv = m["h_vs_depth"]
    for variant, marker in (("noshort", "o-"), ("short", "s-"), ("linear", "^--")):
        axes[0].plot(hv["depths"], hv[variant], marker, label=variant)
    axes[0].set(xlabel="Toy-CNN depth", ylabel="h (loss, taper)", title="Fig. 5: h vs depth")
    axes[0].legend(fontsize=8)
    for name, label in (
        ("resnet-v1", "v1"),
        ("resnet-v2", "v2"),
        ("transition-a0-nu0", "linear (α = 0)"),
    ):
        k, specs = spectra(name)
        if specs[0] is not None:
            axes[1].loglog(k, specs[0], label=label)
    axes[1].axvline(config.points // 2 / HIGH_BAND, color="grey", ls=":", lw=1)
    axes[1].set(xlabel="k", title="Fig. 7: output spectra (taper), high band right of ⋮")
    axes[1].legend(fontsize=8)
    for name, label in (
        ("noshort-avg1", "NoShort"),
        (f"noshort-avg{config.group_average}", f"NoShort, a={config.group_average}"),
    ):
        k, specs = spectra(name)
        if specs[0] is not None:
            axes[2].loglog(k, specs[0], label=label)
    axes[2].set(xlabel="k", title="Fig. 8: feature-group averaging")
    axes[2].legend(fontsize=8)
    for act in (*ACTIVATIONS, LINEAR):
        corr = data(f"branches-{act}")["branch_correlation"]
        axes[3].plot(np.arange(1, corr.size + 1), np.abs(corr), label=act)
    axes[3].set(
        xscale="log", xlabel="k", ylabel="|correlation|", title="Fig. 6: residual vs shortcut"
    )
    axes[3].legend(fontsize=8)
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / DEPTH_BRANCHES_VARIANTS.file)))

    f, axes = plt.subplots(2, 3, figsize=(13, 6.4))
    for col, (alpha, nu, label) in enumerate(((0, 0, "linear"), (1, 0, "ReLU"), (1, 1, "ResNet"))):
        name = f"transition-a{alpha:g}-nu{nu:g}"
        loss = data(name)["loss"]  # [N, inits, directions]
        flat = torch.from_numpy(loss.reshape(loss.shape[0], -1))
        t = np.linspace(0, 1, loss.shape[0])
        axes[0][col].plot(t, loss[:, 0, 0])
        hm = m["h"][name][P.LOSS]
        axes[0][col].set(
            title=f"{label}: α={alpha}, ν={nu}, h={hm['h']:.2f} (paper {hm['h_paper']:.2f})",
            xlabel="t",
            ylabel="loss",
        )
        try:  # Fig. 4: the path of median h over all initialisations × directions
            med = S.median_h_path(
                flat, detrend="taper", k_range=S.default_k_range("taper", (loss.shape[0] - 1) // 2)
            )
            axes[1][col].plot(t, med.path.numpy())
            axes[1][col].set(
                title=f"median-h loss path of {flat.shape[1]}: h = {med.fit.h:.2f}",
                xlabel="t",
            )
        except SmoothscopeError as exc:
            axes[1][col].set(title=f"no median path: {exc}"[:60])
    f.suptitle("Loss paths through the α–ν transition (Fig. 1) and median-h paths (Fig. 4)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / TRANSITION.file)))

    f, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, values in m["chebyshev"].items():
        axes[0].semilogy(
            np.arange(len(values["magnitudes"])),
            np.maximum(values["magnitudes"], 1e-16),
            label=name,
        )
    axes[0].set(
        xlabel="degree j", ylabel="|c_j|", title="Chebyshev coefficients on [−5, 5] (Figs. 2, 19)"
    )
    axes[0].legend(fontsize=6, ncol=2)
    rows = [r for r in m["trainability"] if r["h_init"] is not None]
    axes[1].scatter([r["h_init"] for r in rows], [r["train_accuracy"] for r in rows])
    for r in rows:
        axes[1].annotate(
            r["label"].removeprefix("train "), (r["h_init"], r["train_accuracy"]), fontsize=6
        )
    axes[1].set(
        xlabel="h at initialisation (taper)",
        ylabel="training accuracy",
        title="Fig. 9: blueshift vs trainability (NoShort)",
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / CHEBYSHEV_TRAINABILITY.file)))
    written += _extra_figures(plt, run_dir, config, cells, s, m, data)
    plt.close("all")
    return written


def _unit_spectra(ax, cmap, k: np.ndarray, specs: list[np.ndarray | None], title: str) -> None:
    for i, spec in enumerate(specs):
        if spec is not None:
            ax.loglog(k, spec, color=cmap(i / max(1, len(specs) - 1)), lw=1)
    ax.set(title=title, xlabel="frequency k")


def _extra_figures(plt, run_dir, config, cells, s, m, data) -> list[str]:
    """Figs. 9 (every architecture), 11 (during training) and 12 (delta-orthogonal)."""
    written = []
    cmap = plt.get_cmap("viridis")
    units = config.toy_units
    variants = list(config.sweep_variants)
    f, axes = plt.subplots(2, len(variants), figsize=(4.6 * len(variants), 6.4), squeeze=False)
    for col, variant in enumerate(variants):
        rows = [r for r in m["trainability"] if r.get("variant", "noshort") == variant]
        for depth in config.sweep_depths:
            mine = sorted((r for r in rows if r["depth"] == depth), key=lambda r: r["alpha"])
            alphas = [r["alpha"] for r in mine]
            axes[0][col].plot(alphas, [r["train_accuracy"] for r in mine], "o-", label=depth)
            h = [np.nan if r["h_init"] is None else r["h_init"] for r in mine]
            axes[1][col].plot(alphas, h, "o-", label=depth)
        axes[0][col].set(title=f"Fig. 9: {variant}", ylabel="training accuracy")
        axes[1][col].set(xlabel="α (0 linear, 1 ReLU)", ylabel="h at init (output, taper)")
        axes[0][col].legend(title="depth", fontsize=7)
    f.suptitle(
        f"Trainability ({config.sweep_epochs} epochs, {config.train_images} images) and "
        "blueshift at initialisation (paper C Fig. 9)"
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / TRAINABILITY.file)))

    trained = [n for n in cells if n.startswith("trained-")]
    if trained:
        checkpoints, radii = config.train_checkpoints, config.train_radii
        cols = [(e, r_i) for r_i in range(len(radii)) for e in sorted(checkpoints)]
        f, axes = plt.subplots(
            len(trained), len(cols), figsize=(4 * len(cols), 3.4 * len(trained)), squeeze=False
        )
        for row, name in enumerate(trained):
            arrays = data(name)
            if "k_taper" not in arrays:
                continue
            n_units = len(s[name]["record"])
            for col, (e, r_i) in enumerate(cols):
                key = f"e{e}_r{r_i}"
                specs = [arrays.get(f"taper_{key}_{j}") for j in range(n_units - 1)]
                hs = m["during_training"][name.removeprefix("trained-")]["h"][key]
                h_last = hs[f"units.unit{units}"]
                _unit_spectra(
                    axes[row][col],
                    cmap,
                    arrays["k_taper"],
                    specs,
                    f"{name.removeprefix('trained-')}, epoch {e}, r = {radii[r_i]:g}, "
                    f"h_L = {'—' if h_last is None else f'{h_last:.2f}'}",
                )
        f.suptitle(
            f"Unit spectra of Toy-CNN {units} during training (paper C Fig. 11), shallow (dark) "
            "to deep (yellow), taper"
        )
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / DURING_TRAINING.file)))

    if config.delta_radii:
        radii = config.delta_radii
        f, axes = plt.subplots(2, len(radii), figsize=(4.2 * len(radii), 6.6), squeeze=False)
        for row, act in enumerate(("tanh", LINEAR)):
            for col, r in enumerate(radii):
                name = fig12_cell(act, r)
                arrays = data(name)
                n = len(s[name]["record"])
                h_last = m["delta_orthogonal"][act][f"{r:g}"]
                if "k_taper" in arrays:
                    _unit_spectra(
                        axes[row][col],
                        cmap,
                        arrays["k_taper"],
                        [arrays.get(f"taper_{i}") for i in range(n - 1)],
                        f"{act}, delta-orthogonal, r = {r:g}, h_L = {h_last:.2f}",
                    )
        f.suptitle(
            f"Unit spectra of the delta-orthogonal Toy-CNN {units} without BatchNorm, tanh "
            "(top) and linear (bottom), by path radius (paper C Fig. 12)"
        )
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / DELTA_ORTHOGONAL.file)))
    return written
