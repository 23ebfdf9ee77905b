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
    "log–log; one row with the paper's raw DFT (what the claims read: the last unit's mean "
    "frequency), one with the boundary-free tapered estimator (the extension claims' h). Look "
    "at: deeper layers carrying more high-frequency power (blueshift), most for ReLU, none for "
    "the linear network; the raw-DFT row cannot fall faster than k⁻² (the jump where the "
    "path's periodic copies meet), so blueshift shows as power above that floor.",
    claims=("C.fig3.*",),
)
OTHER_ACTIVATIONS = Figure(
    "fig17_other_activations.png",
    "Paper C Fig. 17 (App. F.1): spectra of every unit's weight-space path in the Toy-CNN for "
    "the other activations (extra_activations: ELU, GELU, SELU, sigmoid, hardtanh and leaky "
    "ReLU 0.2 at the paper scale, the only scale that draws it), shallow (dark) to deep "
    "(yellow), log–log, the paper's raw DFT. Look at: the deep units' spectra "
    "flattening (blueshift) for every nonlinear activation, more for the kinked ones (leaky "
    "ReLU, hardtanh) than for the smooth ones. A figure, not a claim.",
)
DEPTH_BRANCHES_VARIANTS = Figure(
    "fig5_6_7_8.png",
    "Paper C Figs. 5–8, four panels, all under the paper's convention (averaged raw-DFT "
    "spectra): h of the logits' paths (solid) and of the loss (dotted) against Toy-CNN depth "
    "without and with shortcuts and for the linear control (Fig. 5); the logits' spectra of "
    "ResNet v1, v2 and the linear ResNet v2 (α = 0), the high band k > K/8 right of the dotted "
    "line (Fig. 7); the logits' spectra of a NoShort ResNet without and with feature-group "
    "averaging (Fig. 8); the mean |correlation| of each block's residual and shortcut summands "
    "per frequency for ReLU, tanh, softplus and the linear ResNet, raw DFT (solid, the claim) "
    "and tapered (dotted, the extension) (Fig. 6). Look at: h falling with depth without "
    "shortcuts only; less high-frequency power for v2 than v1 and for the averaged NoShort "
    "than the plain one; the correlation falling with frequency most for ReLU (the tapered "
    "curves of the analytic activations rise back through the window's leakage, see "
    "docs/blueshift.md).",
    claims=("C.fig5.*", "C.fig6.*", "C.fig7.*", "C.fig8.*"),
)
TRANSITION = Figure(
    "fig1_transition.png",
    "Paper C Figs. 1 and 4: the loss and one logit along a weight-space path across the α–ν "
    "transition (linear, ReLU, ResNet), with the mean frequency and h of the averaged raw "
    "spectrum of the logits in the titles, and the logits' path of median h (paper convention) "
    "over all initialisations × directions. Look at: the path roughening with the "
    "nonlinearity and smoothing again with shortcuts.",
    claims=("C.fig1.*",),
)
CHEBYSHEV_TRAINABILITY = Figure(
    "fig2_9_chebyshev_trainability.png",
    "Paper C Figs. 2, 9, 19: Chebyshev coefficients of the activations on [−5, 5] "
    "(left; slower decay means rougher) and training accuracy against h at "
    "initialisation (right; h of the averaged raw spectrum of the logits). Look at: whether "
    "smoother initial paths (larger h) train better.",
    claims=("C.fig9.*",),
)
TRAINABILITY = Figure(
    "fig9_trainability.png",
    "Paper C Fig. 9 per architecture (NoShort, and v1/v2 with shortcuts where the scale "
    "trains them): training accuracy (top) and h of the output path at initialisation "
    "(bottom, h of the averaged raw spectrum of the logits) against α (0 linear, 1 ReLU), one "
    "line per depth. Look at: accuracy "
    "and h at initialisation falling together as NoShort networks get deeper and more "
    "nonlinear; the claim reads the NoShort column only.",
    claims=("C.fig9.*",),
)
DURING_TRAINING = Figure(
    "fig11_during_training.png",
    "Paper C Fig. 11 (App. D.1): spectra of every unit's path of a Toy-CNN during training, "
    "one row per setting (ReLU, tanh, ReLU with shortcuts), one column per checkpoint epoch "
    "and path radius (paper: epochs 0 and 20, radii 1 and 10), shallow (dark) to deep "
    "(yellow), the paper's raw DFT, the last unit's h (raw; taper in brackets) in the titles; "
    "drawn at the standard and paper scales. "
    "Look at: less blueshift after training at radius 1, and the blueshift visible again at "
    "radius 10. One network per setting, as in the paper: a figure, not a claim.",
)
DELTA_ORTHOGONAL = Figure(
    "fig12_delta_orthogonal.png",
    "Paper C Fig. 12 (App. D.2): spectra of every unit's path in the delta-orthogonally "
    "initialised Toy-CNN without BatchNorm, tanh (top) and the linear reference (bottom), one "
    "column per path radius, shallow (dark) to deep (yellow), the paper's raw DFT, the "
    "last unit's h (raw; taper in brackets) in the titles. Look at: tanh smooth near the "
    "initialisation and rough "
    "further out. No claim: its protocol was chosen after probing (see docs/blueshift.md).",
)
RADIUS_SWEEP = Figure(
    "radius_sweep.png",
    "The path radius around initialisation (issue 25; the paper walks radius 1, App. D.1 also "
    "10): Fig. 3's Toy-CNNs (ReLU, tanh, softplus, linear) walked at each radius of "
    "radius_sweep; left: the mean frequency of the last unit's averaged raw spectrum (what "
    "C.fig3.* read at radius 1), middle: its h (paper convention), right: the mean taper h "
    "(the extension). Look at: whether the Fig. 3 order ReLU > tanh > softplus > linear holds "
    "at every radius or only from some radius on; at large radii BatchNorm frozen at W lets "
    "the pre-activations grow until every smooth activation acts like its asymptotes.",
    claims=("C.fig3.*",),
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
    RADIUS_SWEEP,
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
    """Draw every declared figure the config asks for; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def data(name: str):
        return np.load(run_dir / "cells" / cells[name].id / "spectra.npz")

    def spectra(name: str, tag: str = "paper") -> tuple[np.ndarray, list[np.ndarray | None]]:
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
            _unit_spectra(ax, cmap, k, specs[:-1], f"Toy-CNN {config.toy_units}, {title} ({tag})")
        axes[row][0].set_ylabel(f"normalised power ({tag})")
    f.suptitle(
        "Spectra of every unit's path, shallow (dark) to deep (yellow) (paper C Fig. 3); top: "
        "raw DFT (paper; the claims), bottom: boundary-free taper (the extension)"
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / SPECTRA_PER_LAYER.file)))

    if config.extra_activations:
        extra = list(config.extra_activations)
        f, axes = plt.subplots(1, len(extra), figsize=(4.5 * len(extra), 3.8), squeeze=False)
        for ax, act in zip(axes[0], extra, strict=True):
            k, specs = spectra(f"toy-{act}")
            _unit_spectra(ax, cmap, k, specs[:-1], f"Toy-CNN {config.toy_units}, {act} (raw)")
        f.suptitle("Unit spectra for the other activations (paper C Fig. 17), dark to yellow")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / OTHER_ACTIVATIONS.file)))

    # a 2 × 2 grid, readable in the report (issue 26: one row of four was 2,270 px wide and
    # the Fig. 7 title ran into its neighbour)
    f, grid = plt.subplots(2, 2, figsize=(12, 7.6))
    axes = grid.ravel()
    hv = m["h_vs_depth"]
    for variant, marker in (("noshort", "o"), ("short", "s"), ("linear", "^")):
        axes[0].plot(hv["depths"], _nan(hv[f"{variant}_{P.OUTPUT}"]), marker + "-", label=variant)
        axes[0].plot(hv["depths"], _nan(hv[f"{variant}_{P.LOSS}"]), marker + ":", color="grey")
    axes[0].set(xlabel="Toy-CNN depth", ylabel="h (raw, paper)", title="Fig. 5: h vs depth")
    axes[0].legend(fontsize=8, title="logits (loss dotted)", title_fontsize=7)
    for name, label in (("resnet-v1", "v1"), ("resnet-v2", "v2"), ("resnet-linear", "linear v2")):
        k, specs = spectra(name)
        if specs[0] is not None:
            axes[1].loglog(k, specs[0], label=label)
    axes[1].axvline(k.size / HIGH_BAND, color="grey", ls=":", lw=1)
    axes[1].set(xlabel="k", title="Fig. 7: logits' spectra (raw); dotted: high band starts")
    axes[1].legend(fontsize=8)
    for name, label in (
        ("noshort-avg1", "NoShort"),
        (f"noshort-avg{config.group_average}", f"NoShort, a={config.group_average}"),
    ):
        k, specs = spectra(name)
        if specs[0] is not None:
            axes[2].loglog(k, specs[0], label=label)
    axes[2].set(xlabel="k", title="Fig. 8: feature-group averaging (raw)")
    axes[2].legend(fontsize=8)
    for i, act in enumerate((*ACTIVATIONS, LINEAR)):
        arrays = data(f"branches-{act}")
        for detrend, style in (("none", "-"), ("taper", ":")):
            corr = arrays[f"branch_correlation_{detrend}"]
            axes[3].plot(np.arange(1, corr.size + 1), corr, style, color=f"C{i}",
                         label=act if detrend == "none" else None)  # fmt: skip
    axes[3].set(
        xscale="log", xlabel="k", ylabel="|correlation|", title="Fig. 6: residual vs shortcut"
    )
    axes[3].legend(fontsize=8, title="raw (taper dotted)", title_fontsize=7)
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / DEPTH_BRANCHES_VARIANTS.file)))

    written.append(_transition_figure(plt, run_dir, m, data))
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
        xlabel="h at initialisation (raw, logits)",
        ylabel="training accuracy",
        title="Fig. 9: blueshift vs trainability",
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / CHEBYSHEV_TRAINABILITY.file)))
    written += _extra_figures(plt, run_dir, config, s, m, data)
    plt.close("all")
    return written


def _nan(values: list) -> list[float]:
    return [np.nan if v is None else v for v in values]


def _unit_spectra(ax, cmap, k: np.ndarray, specs: list[np.ndarray | None], title: str) -> None:
    for i, spec in enumerate(specs):
        if spec is not None and np.isfinite(spec).all():
            ax.loglog(k, spec, color=cmap(i / max(1, len(specs) - 1)), lw=1)
    ax.set(title=title, xlabel="frequency k")


def _transition_figure(plt, run_dir, m, data) -> str:
    """Figs. 1 and 4: the loss and one logit along one path, and the median-h logits' path."""
    f, axes = plt.subplots(2, 3, figsize=(13, 6.4))
    for col, (alpha, nu, label) in enumerate(((0, 0, "linear"), (1, 0, "ReLU"), (1, 1, "ResNet"))):
        name = f"transition-a{alpha:g}-nu{nu:g}"
        arrays = data(name)
        loss, logits = arrays[f"paths_{P.LOSS}"], arrays[f"paths_{P.OUTPUT}"]  # [N, paths, ...]
        t = np.linspace(0, 1, loss.shape[0])
        axes[0][col].plot(t, loss[:, 0], label="loss")
        twin = axes[0][col].twinx()
        twin.plot(t, logits.reshape(logits.shape[0], logits.shape[1], -1)[:, 0, 0], "C1", lw=1)
        hm = m["h"][name][P.OUTPUT]
        axes[0][col].set(
            title=f"{label}: α={alpha}, ν={nu}; logits: k̄ = {hm['mean_frequency']:.2f}, "
            f"h = {hm['h_paper']:.2f}",
            xlabel="t",
            ylabel="loss (blue), logit 0 (orange)",
        )
        try:  # Fig. 4: the logits' path of median h over all initialisations × directions
            flat = torch.from_numpy(logits.reshape(logits.shape[0], logits.shape[1], -1))
            med = S.median_h_path(flat)
            axes[1][col].plot(t, med.path.numpy())
            axes[1][col].set(
                title=f"median-h logits' path of {logits.shape[1]}: h = {med.fit.h:.2f}",
                xlabel="t",
            )
        except SmoothscopeError as exc:
            axes[1][col].set(title=f"no median path: {exc}"[:60])
    f.suptitle("Paths through the α–ν transition (Fig. 1) and median-h paths (Fig. 4), raw DFT")
    f.tight_layout()
    return str(save_figure(f, run_dir / "figures" / TRANSITION.file))


def _extra_figures(plt, run_dir, config, s, m, data) -> list[str]:
    """Figs. 9 (every architecture), 11 (during training), 12 (delta-orthogonal) and the
    radius sweep."""
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
            axes[1][col].plot(alphas, _nan([r["h_init"] for r in mine]), "o-", label=depth)
        axes[0][col].set(title=f"Fig. 9: {variant}", ylabel="training accuracy")
        axes[1][col].set(xlabel="α (0 linear, 1 ReLU)", ylabel="h at init (logits, raw)")
        axes[0][col].legend(title="depth", fontsize=7)
    f.suptitle(
        f"Trainability ({config.sweep_epochs} epochs, {config.train_images} images) and "
        "blueshift at initialisation (paper C Fig. 9)"
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / TRAINABILITY.file)))

    trained = [n for n in s if n.startswith("trained-")]
    if trained:
        checkpoints, radii = config.train_checkpoints, config.train_radii
        cols = [(e, r_i) for r_i in range(len(radii)) for e in sorted(checkpoints)]
        f, axes = plt.subplots(
            len(trained), len(cols), figsize=(4 * len(cols), 3.4 * len(trained)), squeeze=False
        )
        for row, name in enumerate(trained):
            arrays = data(name)
            during = m["during_training"][name.removeprefix("trained-")]
            for col, (e, r_i) in enumerate(cols):
                key = f"e{e}_r{r_i}"
                specs = [arrays.get(f"paper_{key}_{j}") for j in range(units)]
                k = np.arange(1, specs[0].size + 1) if specs and specs[0] is not None else []
                _unit_spectra(
                    axes[row][col],
                    cmap,
                    k,
                    specs,
                    f"{name.removeprefix('trained-')}, epoch {e}, r = {radii[r_i]:g}, "
                    f"h_L = {_h_pair(during['h_paper'][key], during['h'][key], units)}",
                )
        f.suptitle(
            f"Unit spectra of Toy-CNN {units} during training (paper C Fig. 11), shallow (dark) "
            "to deep (yellow), raw DFT"
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
                h = m["delta_orthogonal"][act][f"{r:g}"]
                _unit_spectra(
                    axes[row][col],
                    cmap,
                    arrays["k_paper"],
                    [arrays.get(f"paper_{i}") for i in range(n - 1)],
                    f"{act}, delta-orthogonal, r = {r:g}, h_L = {_fmt(h['h_paper'])} "
                    f"({_fmt(h['h'])})",
                )
        f.suptitle(
            f"Unit spectra of the delta-orthogonal Toy-CNN {units} without BatchNorm, tanh "
            "(top) and linear (bottom), by path radius (paper C Fig. 12), raw DFT"
        )
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / DELTA_ORTHOGONAL.file)))

    sweep = m["radius_sweep"]
    if sweep:
        f, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        keys = (("mean_frequency", "mean frequency (raw)"), ("h_paper", "h (raw, paper)"),
                ("h", "taper h (extension)"))  # fmt: skip
        for ax, (key, label) in zip(axes, keys, strict=True):
            for act in (*ACTIVATIONS, LINEAR):
                ax.plot(sweep["radii"], _nan(sweep[act][key]), "o-", label=act)
            ax.axvline(config.radius, color="grey", ls=":", lw=1)
            ax.set(xscale="log", xlabel="path radius r", ylabel=label)
        axes[0].legend(fontsize=8)
        f.suptitle(
            f"The last unit of the Toy-CNN {units} (Fig. 3) by path radius; the claims read "
            f"r = {config.radius:g} (dotted)"
        )
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / RADIUS_SWEEP.file)))
    return written


def _fmt(h: float | None) -> str:
    return "—" if h is None else f"{h:.2f}"


def _h_pair(raw: dict, taper: dict, units: int) -> str:
    unit = f"units.unit{units}"
    return f"{_fmt(raw.get(unit))} ({_fmt(taper.get(unit))})"
