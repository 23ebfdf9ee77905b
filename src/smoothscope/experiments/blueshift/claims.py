"""Claims of the ``blueshift`` experiment (paper C): the rules and their controls.

Every difference claim compares the mean of a per-direction statistic (mostly the boundary-free
taper h) between two configurations, with a 95 % two-level bootstrap over initialisations, then
the directions within each drawn one (:mod:`.bootstrap`); slope claims fit a line through such
means. Each claim names its control: the same rule applied where the paper's effect is absent.
:func:`blueshift_claims` declares every claim a run can give.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...analysis import paths as P
from ...results import Claim, Control, verdict_above, verdict_below
from ...sweep import derive_seed
from .bootstrap import difference, quiet, slope
from .cells import h_table
from .config import ACTIVATIONS, BAND_WIDTH, HIGH_BAND, LINEAR, BlueshiftConfig

__all__ = ["blueshift_claims"]


def _verdict(value: float, lo: float, hi: float, sign: int) -> str:
    if not (np.isfinite(value) and np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    return verdict_above(lo, hi, 0.0) if sign > 0 else verdict_below(lo, hi, 0.0)


def _nan_note(tables: dict[str, np.ndarray]) -> str:
    notes = [
        f"{name}: {int(np.isnan(t).sum())}/{t.size} directions not fitted (linear, constant or "
        "below the rounding floor)"
        for name, t in tables.items()
        if np.isnan(t).any()
    ]
    return ("; " + "; ".join(notes)) if notes else ""


def _labelled_control(
    cid: str, description: str, value: float, lo: float, hi: float, sign: int
) -> Control:
    """The control of claim ``cid`` from ``"id: description"``, judged by the same rule."""
    return Control(
        id=f"{cid}/{description.split(':')[0]}",
        description=description.split(":", 1)[1].strip(),
        measured=value,
        uncertainty=(lo, hi) if np.isfinite(lo) else None,
        verdict=_verdict(value, lo, hi, sign),
    )


def _h_claim(
    cid: str,
    where: str,
    statement: str,
    estimate: tuple[float, float, float],
    sign: int,
    rule: str,
    ctrl: Control | None,
    no_control: str | None,
    shape: tuple[int, int],
) -> Claim:
    """A paper C claim on a mean over initialisations × directions, threshold 0."""
    value, lo, hi = estimate
    return Claim(
        cid,
        "C",
        where,
        statement,
        None,
        value,
        (lo, hi) if np.isfinite(lo) else None,
        _verdict(value, lo, hi, sign),
        rule,
        kind="paper",
        control=ctrl,
        no_control=no_control,
        replicates={"initialisations": shape[0], "directions": shape[1]},
        threshold=0.0,
    )


def _difference_claim(
    cid: str,
    where: str,
    statement: str,
    tables: dict[str, np.ndarray],
    paper_tables: dict[str, np.ndarray] | None,
    smooth: str,
    rough: str,
    control: tuple[str, str, str] | None,
    what: str,
    n_boot: int,
    seed: int,
    no_control: str | None = None,
    quantity: str = "boundary-free (taper) h",
) -> Claim:
    """``mean h(smooth) − mean h(rough) > 0`` over initialisations × directions (taper h)."""
    value, lo, hi = difference(tables[smooth], tables[rough], n_boot, seed)
    paper_note = ""
    if paper_tables is not None:
        with quiet():
            paper = float(np.nanmean(paper_tables[smooth]) - np.nanmean(paper_tables[rough]))
        paper_note = f". Paper convention (raw DFT, capped near 1): {paper:+.3g}"
    n_i, n_d = tables[smooth].shape
    ctrl = None
    if control is not None:
        c_smooth, c_rough, description = control
        c_value, c_lo, c_hi = difference(tables[c_smooth], tables[c_rough], n_boot, seed + 1)
        ctrl = _labelled_control(cid, description, c_value, c_lo, c_hi, +1)
    rule = (
        f"{what}: {quantity}, mean over {n_i} initialisations × {n_d} directions, "
        "95 % two-level bootstrap (initialisations, then directions); reproduced if the "
        f"interval is above 0{paper_note}"
        + _nan_note({smooth: tables[smooth], rough: tables[rough]})
    )
    return _h_claim(cid, where, statement, (value, lo, hi), +1, rule, ctrl, no_control, (n_i, n_d))


def _slope_claim(
    cid: str,
    where: str,
    statement: str,
    x: list[float],
    tables: list[np.ndarray],
    sign: int,
    what: str,
    n_boot: int,
    seed: int,
    control: tuple[list[np.ndarray], str] | None,
    no_control: str | None = None,
) -> Claim:
    value, lo, hi = slope(x, tables, n_boot, seed)
    n_i, n_d = tables[0].shape
    ctrl = None
    if control is not None:
        c_tables, description = control
        c_value, c_lo, c_hi = slope(x, c_tables, n_boot, seed + 1)
        ctrl = _labelled_control(cid, description, c_value, c_lo, c_hi, sign)
    side = "above" if sign > 0 else "below"
    rule = (
        f"{what}: least-squares slope of the mean boundary-free (taper) h, mean over {n_i} "
        f"initialisations × {n_d} directions per point, 95 % two-level bootstrap; reproduced "
        f"if the interval is {side} 0"
        + _nan_note({f"x = {xv:g}": t for xv, t in zip(x, tables, strict=True)})
    )
    return _h_claim(
        cid, where, statement, (value, lo, hi), sign, rule, ctrl, no_control, (n_i, n_d)
    )


def blueshift_claims(config: BlueshiftConfig, s: dict[str, Any]) -> list[Claim]:
    """Every paper C claim of a run, from the cell summaries ``s`` by configuration name."""
    seed = derive_seed(config.seed, "blueshift-claims")
    boot = config.n_boot
    last = f"units.unit{config.toy_units}"
    deepest = config.toy_depths[-1]
    a = config.group_average

    def h(name: str, layer: str, key: str = "h") -> np.ndarray:
        return h_table(s[name], layer, key)

    out = P.OUTPUT
    # Fig. 3: the last unit of the Toy-CNN
    t3 = {n: h(f"toy-{n}", last) for n in (*ACTIVATIONS, LINEAR)}
    p3 = {n: h(f"toy-{n}", last, "h_paper") for n in (*ACTIVATIONS, LINEAR)}
    # Figs. 1, 5: the loss; Figs. 7, 8: the output
    loss = {
        n: h(n, P.LOSS)
        for n in s
        if n.startswith(("toy-depth", "transition")) and P.LOSS in s[n]["layers"]
    }
    loss_p = {
        n: h(n, P.LOSS, "h_paper")
        for n in s
        if n.startswith(("toy-depth", "transition")) and P.LOSS in s[n]["layers"]
    }
    res = {n: h(n, out) for n in ("resnet-v1", "resnet-v2", "noshort-avg1", f"noshort-avg{a}")}
    res["linear"] = h("transition-a0-nu0", out)
    res_p = {
        n: h(n, out, "h_paper")
        for n in ("resnet-v1", "resnet-v2", "noshort-avg1", f"noshort-avg{a}")
    }
    res_p["linear"] = h("transition-a0-nu0", out, "h_paper")
    # a null control: two halves of the initialisations of one configuration
    relu_nets = loss["transition-a1-nu0"]
    half = relu_nets.shape[0] // 2
    loss["null-first"], loss["null-second"] = relu_nets[:half], relu_nets[half : 2 * half]
    claims = [
        _difference_claim(
            "C.fig3.relu_rougher_than_tanh",
            "§4.2, Fig. 3",
            "ReLU blueshifts more than tanh (lower h at the last Toy-CNN layer)",
            t3,
            p3,
            "tanh",
            "relu",
            (
                "tanh",
                LINEAR,
                "linear: h(tanh) − h(linear Toy-CNN): the linear network in "
                "ReLU's place has no harmonics; the rule must not call it rougher",
            ),
            "h(tanh) − h(ReLU) at the last unit",
            boot,
            seed + 10,
        ),
        _difference_claim(
            "C.fig3.tanh_rougher_than_softplus",
            "§4.2, Fig. 3",
            "tanh blueshifts more than softplus (lower h at the last Toy-CNN layer)",
            t3,
            p3,
            "softplus",
            "tanh",
            (
                "softplus",
                LINEAR,
                "linear: h(softplus) − h(linear Toy-CNN): the linear network "
                "in tanh's place has no harmonics; the rule must not call it rougher",
            ),
            "h(softplus) − h(tanh) at the last unit",
            boot,
            seed + 20,
        ),
        _difference_claim(
            "C.fig5.shortcuts_smooth",
            "§4.3, Fig. 5 / 3c",
            "Shortcuts keep deep networks smooth (higher h of the loss path than without)",
            loss,
            loss_p,
            f"toy-depth{deepest}-short",
            f"toy-depth{deepest}-noshort",
            (
                f"toy-depth{deepest}-short",
                f"toy-depth{deepest}-linear",
                "linear: h(shortcut) − "
                "h(linear Toy-CNN) of the loss: the linear network has no harmonics to dampen; the "
                "rule must not call it rougher",
            ),
            f"h(shortcut) − h(no shortcut) of the loss path at depth {deepest}",
            boot,
            seed + 30,
        ),
        _difference_claim(
            "C.fig7.v2_smoother_than_v1",
            "§4.4, Fig. 7",
            "ResNet v2 (pre-activation) blocks give smoother output paths than v1",
            res,
            res_p,
            "resnet-v2",
            "resnet-v1",
            (
                "resnet-v2",
                "linear",
                "linear: h(v2) − h(linear ResNet, α = 0): the linear "
                "network is smoother than v2; the rule must not call it rougher",
            ),
            "h(v2) − h(v1) of the output",
            boot,
            seed + 40,
        ),
        _fig7_shape_claim(s, config, seed + 45),
        _difference_claim(
            "C.fig8.averaging_smooths",
            "§4.4, Fig. 8",
            f"Feature-group averaging (a = {a}) smooths a NoShort ResNet",
            res,
            res_p,
            f"noshort-avg{a}",
            "noshort-avg1",
            (
                f"noshort-avg{a}",
                "linear",
                "linear: h(averaged) − h(linear ResNet, α = 0): the "
                "linear network is smoother; the rule must not call it rougher",
            ),
            "h(averaged) − h(plain) of the output",
            boot,
            seed + 50,
        ),
        _difference_claim(
            "C.fig1.nonlinearity_roughens",
            "§4.1, Fig. 1",
            "Turning the activations from linear to ReLU (no shortcuts) roughens the loss path",
            loss,
            loss_p,
            "transition-a0-nu0",
            "transition-a1-nu0",
            (
                "null-first",
                "null-second",
                "identical: two halves of the ReLU network's "
                "initialisations: the same setup; the rule must not find a difference",
            ),
            "h(α=0, ν=0) − h(α=1, ν=0) of the loss path",
            boot,
            seed + 60,
        ),
        _difference_claim(
            "C.fig1.shortcuts_dampen",
            "§4.1, Fig. 1",
            "Switching the shortcuts on (ν = 1) dampens the harmonics of the ReLU network",
            loss,
            loss_p,
            "transition-a1-nu1",
            "transition-a1-nu0",
            (
                "transition-a1-nu1",
                "transition-a0-nu0",
                "linear: h(α=1, ν=1) − h(α=0, ν=0) of "
                "the loss: the linear network is smoother than the ResNet; the rule must not call "
                "it rougher",
            ),
            "h(α=1, ν=1) − h(α=1, ν=0) of the loss path",
            boot,
            seed + 70,
        ),
    ]
    depths = list(config.toy_depths)
    claims.append(
        _slope_claim(
            "C.fig5.h_decreases_with_depth",
            "§4.3, Fig. 5",
            "Without shortcuts the loss path gets rougher (h decreases) with depth",
            depths,
            [loss[f"toy-depth{d}-noshort"] for d in depths],
            -1,
            "h of the loss vs Toy-CNN depth without shortcuts",
            boot,
            seed + 80,
            (
                [loss[f"toy-depth{d}-linear"] for d in depths],
                "linear: the same slope for linear Toy-CNNs of the same depths (no harmonics); "
                "the rule must not find a decrease",
            ),
        )
    )
    walk = sorted((int(n.removeprefix("toy-walk")), n) for n in s if n.startswith("toy-walk"))
    claims.append(
        _slope_claim(
            "C.fig15.lower_layers_rougher",
            "Appendix D, Fig. 15",
            "Varying the weights of lower layers gives rougher output paths than higher layers",
            [u for u, _ in walk],
            [h(n, out) for _, n in walk],
            +1,
            "h of the output vs the index of the only perturbed unit (deeper unit ⇒ smoother)",
            boot,
            seed + 90,
            None,
            no_control="perturbing one unit of a linear network moves the output linearly "
            "(nothing to fit), and no nonlinear network is known to lack the trend",
        )
    )
    bands = {n: h(f"branches-{n}", "band_drop") for n in (*ACTIVATIONS, LINEAR)}
    claims.append(
        _difference_claim(
            "C.fig6.relu_decorrelates_more_than_softplus",
            "§4.3, Fig. 6",
            "The correlation of a block's residual and shortcut summands decays with frequency, "
            "most for ReLU, least for softplus",
            bands,
            None,
            "relu",
            "softplus",
            (
                "identity",
                "softplus",
                "linear: the linear ResNet in ReLU's place creates no "
                "harmonics to decorrelate; the rule must not find a larger drop",
            ),
            "drop of the mean |correlation| through Gaussian frequency filters (σ = "
            f"{BAND_WIDTH:g} bins) from the low band (k ≤ K/8) to the high band (k > K/4), "
            "ReLU − softplus, averaged over neurons and blocks",
            boot,
            seed + 100,
            quantity="the drop of mean |correlation|",
        )
    )
    claims.append(_fig9_claim(s))
    return claims


def _fig7_shape_claim(s: dict[str, Any], config: BlueshiftConfig, seed: int) -> Claim:
    """Fig. 7 compares spectra: the share of power at high frequencies, v1 above v2."""
    t = {n: h_table(s[n], P.OUTPUT, "high") for n in ("resnet-v1", "resnet-v2")}
    t["linear"] = h_table(s["transition-a0-nu0"], P.OUTPUT, "high")
    value, lo, hi = difference(t["resnet-v1"], t["resnet-v2"], config.n_boot, seed)
    c_value, c_lo, c_hi = difference(t["linear"], t["resnet-v2"], config.n_boot, seed + 1)
    n_i, n_d = t["resnet-v1"].shape
    return Claim(
        "C.fig7.v2_less_high_frequency_power",
        "C",
        "§4.4, Fig. 7",
        "The output spectrum of ResNet v2 carries less power at high frequencies than v1's",
        None,
        value,
        (lo, hi) if np.isfinite(lo) else None,
        _verdict(value, lo, hi, +1),
        f"share of the taper spectrum's power at k > K/{HIGH_BAND} (K = {config.points // 2}), "
        f"v1 − v2, mean over {n_i} initialisations × {n_d} directions, 95 % two-level "
        "bootstrap; reproduced if above 0",
        kind="paper",
        control=Control(
            id="C.fig7.v2_less_high_frequency_power/linear",
            description="the linear ResNet (α = 0) in v1's place: no harmonics, so it must not "
            "carry more high-frequency power than v2",
            measured=c_value,
            uncertainty=(c_lo, c_hi) if np.isfinite(c_lo) else None,
            verdict=_verdict(c_value, c_lo, c_hi, +1),
        ),
        replicates={"initialisations": n_i, "directions": n_d},
        threshold=0.0,
    )


def _fig9_claim(s: dict[str, Any]) -> Claim:
    from scipy.stats import spearmanr

    sweep = [v for n, v in s.items() if n.startswith("train noshort")]
    h = np.array([np.nan if v["h_init"] is None else v["h_init"] for v in sweep], float)
    acc = np.array([v["train_accuracy"] for v in sweep], float)
    untrained = np.array([v["untrained_accuracy"] for v in sweep], float)

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 3 or np.ptp(b[ok]) == 0 or np.ptp(a[ok]) == 0:
            return float("nan")
        return float(spearmanr(a[ok], b[ok]).statistic)

    def verdict(r: float) -> str:
        if not np.isfinite(r):
            return "inconclusive"
        return "reproduced" if r > 0.5 else "not reproduced" if r < 0 else "inconclusive"

    value, control = rho(h, acc), rho(h, untrained)
    return Claim(
        "C.fig9.smoothness_vs_trainability",
        "C",
        "§5, Fig. 9",
        "NoShort networks with less blueshift at initialisation (higher h) train better",
        None,
        value,
        None,
        verdict(value),
        f"Spearman correlation of the taper h at initialisation (output, mean over directions) "
        f"and the training accuracy over {len(sweep)} NoShort ResNets (depths × α); "
        "reproduced if above 0.5, not reproduced if below 0, else inconclusive (no interval: "
        "one trained model per setting)",
        kind="paper",
        control=Control(
            id="C.fig9.smoothness_vs_trainability/untrained",
            description="the same correlation with the accuracy of the untrained networks "
            "(chance level): without training the rule must not reproduce",
            measured=control,
            uncertainty=None,
            verdict=verdict(control),
        ),
        replicates={"trained models": max(1, len(sweep))},
        threshold=0.5,
    )
