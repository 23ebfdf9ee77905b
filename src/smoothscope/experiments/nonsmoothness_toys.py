"""The toy examples of paper A §III-B (Figs. 1-3) for the ``nonsmoothness`` experiment.

Fig. 1: ReLU vs softplus sampled at step 0.1 and the detector (2) with τ_d = 0.02; Fig. 2: max vs
average pooling of the smooth window ``(0, 0, 2 − t, t)`` (eq. 3); Fig. 3: a smooth input
through a "modern" (ReLU + max) and a "previous generation" (softplus + average) unit. The
first two are claims whose controls (softplus, average pooling) must fail the same rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import save_figure
from ..results import Claim, Control

__all__ = ["TAU_D", "TOY_STEP", "toy_claims", "toy_examples", "toy_figures"]

TAU_D = 0.02
"""Paper A's detection threshold of eq. 2 for the toy examples (§III-B)."""
TOY_STEP = 0.1
"""Paper A's sampling step of the toy examples (Figs. 1, 2)."""


def toy_examples(step: float = TOY_STEP) -> dict[str, dict[str, np.ndarray]]:
    """The toy examples of paper A §III-B, sampled at ``step`` (float64).

    * Fig. 1: ReLU and softplus on ``x ∈ [-1, 1]`` and their second differences (eq. 2);
    * Fig. 2: max and average pooling of the window ``(0, 0, 2 − t, t)``, ``t ∈ [0, 2]`` (eq. 3);
    * Fig. 3: a smooth input ``x(t)`` (four smooth curves) through a "modern" unit
      ``max(ReLU(x))`` and a "previous generation" unit ``mean(softplus(x))``.

    Returns:
        ``{"fig1" | "fig2" | "fig3": {"t", <curves>, "d2_<curve>"}}``; ``d2_*`` has two fewer
        entries than ``t`` (centred at ``t[1:-1]``).
    """

    def d2(y: np.ndarray) -> np.ndarray:
        return y[2:] + y[:-2] - 2.0 * y[1:-1]

    x = np.round(np.arange(-1.0, 1.0 + step / 2, step), 12)
    fig1 = {"t": x, "relu": np.maximum(x, 0.0), "softplus": np.logaddexp(0.0, x)}
    t = np.round(np.arange(0.0, 2.0 + step / 2, step), 12)
    window = np.stack([np.zeros_like(t), np.zeros_like(t), 2.0 - t, t])
    fig2 = {"t": t, "max_pool": window.max(0), "avg_pool": window.mean(0)}
    t3 = np.round(np.arange(0.0, 4.0 + step / 2, step), 12)
    smooth = np.stack([np.sin(t3), np.cos(1.3 * t3), 0.5 * t3 - 1.0, 0.8 * np.sin(0.7 * t3 + 1)])
    fig3 = {
        "t": t3,
        "input": smooth[0],
        "modern": np.maximum(smooth, 0.0).max(0),
        "previous": np.logaddexp(0.0, smooth).mean(0),
    }
    out = {}
    for name, curves in (("fig1", fig1), ("fig2", fig2), ("fig3", fig3)):
        out[name] = curves | {f"d2_{k}": d2(v) for k, v in curves.items() if k != "t"}
    return out


def toy_claims(toy: dict[str, dict[str, np.ndarray]]) -> list[Claim]:
    """Figs. 1, 2: the detector (2) with τ_d = 0.02 sees ReLU and max pooling, not their smooth
    counterparts (the controls)."""
    claims = []
    for fig, (name, smooth, where, statement, paper_value) in {
        "fig1": (
            "relu",
            "softplus",
            "§III-B, Fig. 1",
            "ReLU fulfils the detector (2) at 0 with τ_d = 0.02 at step 0.1; softplus does not",
            0.1,
        ),
        "fig2": (
            "max_pool",
            "avg_pool",
            "§III-B, Fig. 2, eq. 3",
            "Max pooling of the smooth "
            "window (0, 0, 2 − t, t) has a detected kink at t = 1 (second difference 0.2 "
            "at step 0.1); average pooling gives a constant",
            0.2,
        ),
    }.items():
        value = float(np.abs(toy[fig][f"d2_{name}"]).max())
        ctrl = float(np.abs(toy[fig][f"d2_{smooth}"]).max())
        claims.append(
            Claim(
                id=f"A.{fig}.{name}_kink_detected",
                paper="A",
                where=where,
                statement=statement,
                paper_value=paper_value,
                measured=value,
                uncertainty=None,
                verdict="reproduced" if value > TAU_D else "not reproduced",
                rule=f"largest |second difference| (eq. 2) of the toy curve sampled at step "
                f"{TOY_STEP}; reproduced if above τ_d = {TAU_D}",
                kind="paper",
                control=Control(
                    id=f"A.{fig}.{name}_kink_detected/{smooth}",
                    description=f"the same rule on {smooth.replace('_', ' ')} of the same input",
                    measured=ctrl,
                    uncertainty=None,
                    verdict="reproduced" if ctrl > TAU_D else "not reproduced",
                ),
                replicates={"toy inputs (closed form)": 1},
                threshold=TAU_D,
            )
        )
    return claims


def toy_figures(run_dir: Path, toy: dict[str, dict[str, np.ndarray]]) -> list[str]:
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
    return [str(save_figure(fig, run_dir / "figures" / "toy_examples.png"))]
