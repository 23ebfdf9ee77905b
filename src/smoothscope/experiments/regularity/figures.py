"""Figures of the ``regularity`` experiment (paper D), each declared with its caption; the data
are the cells' summaries and their ``cuts.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_figure
from .._base import Figure
from .cells import mean_over_scenes as _mean
from .config import MAIN, SMOOTH, RegularityConfig

__all__ = ["CUTS_AND_JUMPS", "FIGURES", "L2_SWEEP", "figures"]

CUTS_AND_JUMPS = Figure(
    "cuts_and_jumps_vs_s.png",
    "Paper D (abstract; the paper has no figure): a U-net's output along a cut across a disc "
    "edge at every scale s (left; dashed: the same weights with fixed pixel kernels at the "
    "largest s; black: the target at s = 1), the largest jump relative to s = 1 against s "
    "(middle; mean over training seeds; U-net, deep image prior and generator, continuous and "
    "with fixed pixel kernels, dotted 1/s) and max |Δ²u|/h² against s (right, log axes; "
    "relu/max/nearest and softplus/avg/bilinear U-nets, continuous and with fixed pixel "
    "kernels). Look at: the resolution-independent networks' jumps falling like 1/s while the "
    "U-net's and DIP's pixel-kernel controls' and the target's stay (the generator with pixel "
    "kernels turns into a mosaic of its coarse cells and loses the disc edge, so its jumps fall "
    "too); the softplus U-net's curvature staying bounded while the relu U-net's grows.",
    claims=(
        "D.output_jumps_vanish",
        "D.curvature_smooth",
        "D.curvature_relu",
        "D.dip_jumps_vanish",
        "D.generator_jumps_vanish",
    ),
)
L2_SWEEP = Figure(
    "l2_sweep.png",
    "Paper D (abstract; the paper has no figure): effect of the L2 weight penalty λ — output "
    "cuts at s = 1 (left, seed 0), the slope width step/max|u'| (middle; dots: single training "
    "seeds) and the deep image prior's total variation (right; dots: single fits). Look at: "
    "edges widening and the DIP's total variation falling as λ grows, against the spread over "
    "seeds at λ = 0.",
    claims=("D.l2_widens_edges", "D.dip_l2_smooths"),
)
FIGURES: tuple[Figure, ...] = (CUTS_AND_JUMPS, L2_SWEEP)
"""Every figure the experiment draws (at every scale), with its caption."""


def figures(
    run_dir: Path,
    config: RegularityConfig,
    cells: dict[str, Any],
    ev: dict[Any, Any],
    dip: dict[Any, Any],
    gen: dict[Any, Any] | None = None,
) -> list[str]:
    """Draw :data:`FIGURES` into ``run_dir/figures`` from the summaries (``ev``, ``dip``, ``gen``
    keyed as :func:`~smoothscope.experiments.regularity.cells.plan`'s roles) and the cells'
    ``cuts.npz``; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def cuts(cell: Any) -> Any:
        return np.load(run_dir / "cells" / cell.id / "cuts.npz")

    scales = list(config.eval_scales)
    s_max = max(scales)
    seeds = range(config.seeds)
    written = []
    f, axes = plt.subplots(1, 3, figsize=(15, 4))
    data = cuts(cells["eval"][MAIN, 1, 0.0, 0])
    for s in scales:
        axes[0].plot(data[f"s{s}_x"], data[f"s{s}_continuous"], marker=".", ms=3, label=f"s={s}")
    axes[0].plot(
        data[f"s{s_max}_x"], data[f"s{s_max}_pixel"], "--", color="C3", label=f"pixel s={s_max}"
    )
    axes[0].step(data["s1_x"], data["s1_target"], where="mid", color="k", lw=1, label="target")
    axes[0].set(xlabel="x (physical)", ylabel="intensity", title="U-net output across an edge")
    axes[0].legend(fontsize=7)

    def relative(values: list[float]) -> list[float]:
        return [v / values[0] for v in values]

    curves = {}
    for name, key in (("U-net relu", MAIN), ("U-net softplus", SMOOTH)):
        if (key, 1, 0.0, 0) not in ev:
            continue
        for mode in ("continuous", "pixel"):
            for metric in ("jump", "max_curvature"):
                curves[name, mode, metric] = [
                    float(np.nanmean([_mean(ev[key, 1, 0.0, r], mode, s, metric) for r in seeds]))
                    for s in scales
                ]
    target = [
        float(np.nanmean([_mean(ev[MAIN, 1, 0.0, r], "target", s, "jump") for r in seeds]))
        for s in scales
    ]
    for (name, mode, metric), values in curves.items():
        style = "-" if mode == "continuous" else "--"
        ax = axes[1] if metric == "jump" else axes[2]
        y = relative(values) if metric == "jump" else values
        ax.plot(scales, y, style, marker="o", label=f"{name} {mode}")
    for mode in ("continuous", "pixel"):
        values = [
            float(np.mean([dip[0.0, r][mode][str(s)]["jump"] for r in seeds])) for s in scales
        ]
        axes[1].plot(
            scales,
            relative(values),
            "-" if mode == "continuous" else "--",
            marker="s",
            label=f"DIP {mode}",
        )
    for mode in ("continuous", "pixel") if gen else ():
        values = [
            float(np.nanmean([_mean(g, mode, s, "jump") for g in gen.values()])) for s in scales
        ]
        axes[1].plot(
            scales,
            relative(values),
            "-" if mode == "continuous" else "--",
            marker="^",
            label=f"generator {mode}",
        )
    axes[1].plot(scales, relative(target), "k-", lw=2, label="target")
    axes[1].plot(scales, [1 / s for s in scales], "k:", label="1/s")
    axes[1].set(
        xlabel="scale s",
        ylabel="largest jump / its value at s = 1",
        xscale="log",
        yscale="log",
        title="jumps vs resolution",
    )
    axes[2].set(
        xlabel="scale s",
        ylabel="max |Δ²u|/h²",
        xscale="log",
        yscale="log",
        title="second difference quotient vs resolution",
    )
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    f.suptitle("Regularity of CNN outputs as the resolution grows (paper D)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / CUTS_AND_JUMPS.file)))

    f, axes = plt.subplots(1, 3, figsize=(15, 4))
    lams = sorted(config.lambdas)
    for lam in lams:
        data = cuts(cells["eval"][MAIN, 1, lam, 0])
        axes[0].plot(data["s1_x"], data["s1_continuous"], marker=".", label=f"λ = {lam:g}")
    axes[0].set(xlabel="x (physical)", title="U-net cut at s = 1 vs λ (seed 0)")
    axes[0].legend(fontsize=7)
    for i, lam in enumerate(lams):
        reps = [r for r in seeds if (MAIN, 1, lam, r) in ev]
        widths = [_mean(ev[MAIN, 1, lam, r], "continuous", 1, "slope_width") for r in reps]
        axes[1].plot([i] * len(widths), widths, "o", color="C0", alpha=0.5)
        axes[1].plot([i], [np.nanmean(widths)], "_", color="k", ms=20)
    axes[1].set_xticks(range(len(lams)), [f"{lam:g}" for lam in lams])
    axes[1].set(xlabel="λ", ylabel="slope width (physical)", title="U-net edge width vs λ")
    dip_lams = sorted(config.dip_lambdas)
    for i, lam in enumerate(dip_lams):
        tvs = [d["continuous"]["1"]["tv"] for (lm, _), d in dip.items() if lm == lam]
        axes[2].plot([i] * len(tvs), tvs, "o", color="C1", alpha=0.5)
        axes[2].plot([i], [np.mean(tvs)], "_", color="k", ms=20)
    axes[2].set_xticks(range(len(dip_lams)), [f"{lam:g}" for lam in dip_lams])
    axes[2].set(xlabel="λ", ylabel="total variation (s = 1)", title="deep image prior TV vs λ")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / L2_SWEEP.file)))
    return written
