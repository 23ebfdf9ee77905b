"""Claims of the ``blueshift`` experiment (paper C): the rules and their controls.

Every paper claim is judged on what the paper reads (``docs/blueshift.md``): the spectrum
averaged over paths under the paper's convention (raw DFT of the path samples, each path's
spectrum normalised by its norm), read by its power-law ``h`` where the paper speaks of
smoothness or plots ``h`` (Figs. 5, 7, 8, 9), by its mean frequency where it reads harmonics as
a bump moving up (Figs. 1, 3, 15), by its high-band share (Fig. 7), and for Fig. 6 by the
per-frequency correlation of the raw paths. A difference claim compares the statistic of two
configurations with a 95 % two-level bootstrap (initialisations, then directions within each
drawn one; the statistic of the mean drawn spectrum, :mod:`.bootstrap`); slope claims fit a line
through such estimates. Each claim names its control: the same rule where the paper's effect is
absent. Beside every paper claim, an ``extension`` claim ``<id>.taper_h`` applies the old rule
on the boundary-free (taper) ``h``. :func:`blueshift_claims` declares every claim a run gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ...analysis import paths as P
from ...analysis import spectral_shape as Q
from ...results import Claim, Control, verdict_above, verdict_below
from ...sweep import derive_seed
from .bootstrap import Statistic, difference, slope, spearman_interval
from .cells import h_table, spectrum_table
from .config import ACTIVATIONS, BAND_WIDTH, HIGH_BAND, LINEAR, BlueshiftConfig

__all__ = ["ROUNDING_EFFECT", "STATISTICS", "blueshift_claims"]

ROUNDING_EFFECT = 1e-10
"""An interval inside ``±ROUNDING_EFFECT`` is no effect (e.g. the identical spectra of exactly
linear paths differ by rounding only): the rule says ``not reproduced``."""


def _high_band(power: torch.Tensor) -> torch.Tensor:
    return Q.band_share(power, above=power.shape[-1] // HIGH_BAND)


STATISTICS: dict[str, tuple[Statistic, str]] = {
    "h": (
        lambda s: Q.spectrum_h(s, estimator="paper"),
        "h of the averaged raw spectrum (paper convention: raw DFT, each path normalised by its "
        "norm, power law fitted over k = 1 … K/2)",
    ),
    "mean_frequency": (
        Q.mean_frequency,
        "mean frequency Σ k S_k / Σ S_k of the averaged raw spectrum (paper convention)",
    ),
    "high": (
        _high_band,
        f"share of the averaged raw spectrum's power at k > K/{HIGH_BAND} (paper convention)",
    ),
}
"""The paper's readings of an averaged spectrum: name → (statistic, description)."""


def _verdict(value: float, lo: float, hi: float, sign: int) -> str:
    if not (np.isfinite(value) and np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if max(abs(lo), abs(hi)) <= ROUNDING_EFFECT:
        return "not reproduced"
    return verdict_above(lo, hi, 0.0) if sign > 0 else verdict_below(lo, hi, 0.0)


def _nan_note(tables: dict[str, np.ndarray]) -> str:
    notes = []
    for name, t in tables.items():
        bad = np.isnan(t).all(axis=-1) if t.ndim == 3 else np.isnan(t)
        if bad.any():
            notes.append(
                f"{name}: {int(bad.sum())}/{bad.size} directions without a value (linear, "
                "constant or below the rounding floor)"
            )
    return ("; " + "; ".join(notes)) if notes else ""


def _control(cid: str, label: str, description: str, estimate, sign: int) -> Control:
    value, lo, hi = estimate
    return Control(
        id=f"{cid}/{label}",
        description=description,
        measured=value,
        uncertainty=(lo, hi) if np.isfinite(lo) else None,
        verdict=_verdict(value, lo, hi, sign),
    )


def _fmt(estimate: tuple[float, float, float]) -> str:
    value, lo, hi = estimate
    if not np.isfinite(lo):
        return f"{value:+.3g} (no interval)"
    return f"{value:+.3g} [{lo:.3g}, {hi:.3g}]"


class _Judge:
    """Builds the claims of one run from the cell summaries ``s`` (by configuration name)."""

    def __init__(self, config: BlueshiftConfig, s: dict[str, Any]) -> None:
        self.config, self.s = config, s
        self.seed = derive_seed(config.seed, "blueshift-claims")
        self.judged = P.OUTPUT if config.path_output == "logits" else P.LOSS
        self.beside = P.LOSS if self.judged == P.OUTPUT else P.OUTPUT

    def table(self, name: str, layer: str, taper: bool) -> np.ndarray:
        if name.startswith("null-"):  # two halves of the ReLU network's initialisations
            full = self.table("transition-a1-nu0", layer, taper)
            half = full.shape[0] // 2
            return full[:half] if name == "null-first" else full[half : 2 * half]
        return h_table(self.s[name], layer) if taper else spectrum_table(self.s[name], layer)

    def claim(
        self,
        cid: str,
        where: str,
        statement: str,
        *,
        reading: str,
        layer: str,
        larger: str,
        smaller: str,
        control: tuple[str, str, str, str] | None,
        what: str,
        depends_on: tuple[str, ...],
        offset: int,
        taper: bool = False,
        no_control: str | None = None,
        beside: bool = False,
    ) -> Claim:
        """``estimate(larger) − estimate(smaller) > 0``; control: the same on
        ``(larger, smaller)`` of ``control = (larger, smaller, label, description)``."""
        cid, stat, quantity, seed = self._setup(cid, reading, taper, offset)
        boot = self.config.n_boot
        a, b = self.table(larger, layer, taper), self.table(smaller, layer, taper)
        estimate = difference(a, b, boot, seed, stat)
        ctrl = None
        if control is not None:
            c_a, c_b = self.table(control[0], layer, taper), self.table(control[1], layer, taper)
            c_est = difference(c_a, c_b, boot, seed + 1, stat)
            ctrl = _control(cid, control[2], control[3], c_est, +1)
        note = ""
        if beside:
            other = difference(
                self.table(larger, self.beside, taper),
                self.table(smaller, self.beside, taper),
                boot,
                seed + 2,
                stat,
            )
            label = "the loss (the captions' 'loss path')" if self.beside == P.LOSS else "logits"
            note = f". Beside it, the same on {label}: {_fmt(other)}"
        n_i, n_d = a.shape[:2]
        rule = (
            f"{what} of {'the ' + layer if layer not in (P.OUTPUT, P.LOSS) else layer}: "
            f"{quantity}, over {n_i} initialisations × {n_d} directions, 95 % two-level bootstrap "
            "(initialisations, then directions); reproduced if the interval is above 0 (an "
            f"interval within ±{ROUNDING_EFFECT:g} is no effect){note}"
            + _nan_note({larger: a, smaller: b})
        )
        return self._make(
            cid, where, statement, estimate, +1, rule, ctrl, no_control, (n_i, n_d), depends_on,
            taper,
        )  # fmt: skip

    def slope_claim(
        self,
        cid: str,
        where: str,
        statement: str,
        *,
        reading: str,
        layer: str,
        x: list[float],
        names: list[str],
        sign: int,
        control: tuple[list[str], str, str] | None,
        what: str,
        depends_on: tuple[str, ...],
        offset: int,
        taper: bool = False,
        no_control: str | None = None,
        beside: bool = False,
    ) -> Claim:
        cid, stat, quantity, seed = self._setup(cid, reading, taper, offset)
        boot = self.config.n_boot
        tables = [self.table(n, layer, taper) for n in names]
        estimate = slope(x, tables, boot, seed, stat)
        ctrl = None
        if control is not None:
            c_tables = [self.table(n, layer, taper) for n in control[0]]
            c_est = slope(x, c_tables, boot, seed + 1, stat)
            ctrl = _control(cid, control[1], control[2], c_est, sign)
        note = ""
        if beside:
            others = [self.table(n, self.beside, taper) for n in names]
            other = slope(x, others, boot, seed + 2, stat)
            label = "the loss (the captions' 'loss path')" if self.beside == P.LOSS else "logits"
            note = f". Beside it, the same on {label}: {_fmt(other)}"
        side = "above" if sign > 0 else "below"
        n_i, n_d = tables[0].shape[:2]
        rule = (
            f"{what} ({layer}): least-squares slope of the {quantity}, {n_i} initialisations × "
            f"{n_d} directions per point, 95 % two-level bootstrap; reproduced if the interval "
            f"is {side} 0 (an interval within ±{ROUNDING_EFFECT:g} is no effect){note}"
            + _nan_note({f"x = {xv:g}": t for xv, t in zip(x, tables, strict=True)})
        )
        return self._make(
            cid, where, statement, estimate, sign, rule, ctrl, no_control, (n_i, n_d),
            depends_on, taper,
        )  # fmt: skip

    def _setup(self, cid: str, reading: str, taper: bool, offset: int):
        """The claim's id, statistic (None: per-direction numbers), description and seed."""
        if taper:
            stat, quantity = None, "boundary-free (taper) h, mean over directions"
            return f"{cid}.taper_h", stat, quantity, self.seed + offset + 5000
        stat, quantity = STATISTICS[reading]
        return cid, stat, quantity, self.seed + offset

    @staticmethod
    def _make(cid, where, statement, estimate, sign, rule, ctrl, no_control, shape, depends_on,
              taper) -> Claim:  # fmt: skip
        value, lo, hi = estimate
        if taper:
            statement += " — read on the boundary-free (taper) h, an extension"
            depends_on = tuple(f for f in depends_on if f not in ("estimator", "fit_range"))
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
            kind="extension" if taper else "paper",
            control=ctrl,
            no_control=no_control,
            replicates={"initialisations": shape[0], "directions": shape[1]},
            threshold=0.0,
            depends_on=depends_on,
        )


_COMMON = ("radius", "points", "images", "batchnorm", "initialisation", "estimator")
_TOY = (*_COMMON, "toy_units")


def blueshift_claims(config: BlueshiftConfig, s: dict[str, Any]) -> list[Claim]:
    """Every paper C claim of a run (and its taper-h extension), from the cell summaries ``s``."""
    j = _Judge(config, s)
    last = f"units.unit{config.toy_units}"
    deepest = config.toy_depths[-1]
    a = config.group_average
    out, judged = P.OUTPUT, j.judged
    specs: list[tuple[Callable[..., Claim], dict[str, Any], dict[str, Any]]] = []

    def pair(fn: Callable[..., Claim], paper: dict[str, Any], **taper: Any) -> None:
        """A paper claim and its extension on the taper h (``taper``: what differs)."""
        specs.append((fn, paper, {**paper, "taper": True, **taper}))

    for rough, smooth, offset in (("relu", "tanh", 10), ("tanh", "softplus", 20)):
        pair(
            j.claim,
            dict(
                cid=f"C.fig3.{rough}_rougher_than_{smooth}", where="§4.2, Fig. 3",
                statement=f"{rough} blueshifts more than {smooth}: more power at high "
                "frequencies at the last Toy-CNN layer",
                reading="mean_frequency", layer=last, larger=f"toy-{rough}",
                smaller=f"toy-{smooth}",
                control=(f"toy-{LINEAR}", f"toy-{smooth}", "linear",
                         f"mean frequency of the linear Toy-CNN in {rough}'s place − {smooth}'s: "
                         "no harmonics; the rule must not call it blueshifted more"),
                what=f"mean frequency({rough}) − mean frequency({smooth})", depends_on=_TOY,
                offset=offset,
            ),
            larger=f"toy-{smooth}", smaller=f"toy-{rough}",
            control=(f"toy-{smooth}", f"toy-{LINEAR}", "linear",
                     f"h({smooth}) − h(linear Toy-CNN in {rough}'s place): the rule must not "
                     "call the linear network rougher"),
            what=f"h({smooth}) − h({rough})",
        )  # fmt: skip
    fig5 = (*_COMMON, "toy_depths", "path_output", "fit_range")
    pair(
        j.claim,
        dict(
            cid="C.fig5.shortcuts_smooth", where="§4.3, Fig. 5 / 3c",
            statement="Shortcuts keep deep networks smooth (higher h of the path than without)",
            reading="h", layer=judged, larger=f"toy-depth{deepest}-short",
            smaller=f"toy-depth{deepest}-noshort",
            control=(f"toy-depth{deepest}-short", f"toy-depth{deepest}-linear", "linear",
                     "h(shortcut) − h(linear Toy-CNN): the linear network has no harmonics to "
                     "dampen; the rule must not call it rougher"),
            what=f"h(shortcut) − h(no shortcut) at depth {deepest}", depends_on=fig5, offset=30,
            beside=True,
        ),
    )  # fmt: skip
    depths = list(config.toy_depths)
    pair(
        j.slope_claim,
        dict(
            cid="C.fig5.h_decreases_with_depth", where="§4.3, Fig. 5",
            statement="Without shortcuts the path gets rougher (h decreases) with depth",
            reading="h", layer=judged, x=depths,
            names=[f"toy-depth{d}-noshort" for d in depths], sign=-1,
            control=([f"toy-depth{d}-linear" for d in depths], "linear",
                     "the same slope for linear Toy-CNNs of the same depths (no harmonics); the "
                     "rule must not find a decrease"),
            what="h vs Toy-CNN depth without shortcuts", depends_on=fig5, offset=80,
            beside=True,
        ),
    )  # fmt: skip
    pair(
        j.claim,
        dict(
            cid="C.fig7.v2_smoother_than_v1", where="§4.4, Fig. 7",
            statement="ResNet v2 (pre-activation) blocks give smoother output paths than v1",
            reading="h", layer=out, larger="resnet-v2", smaller="resnet-v1",
            control=("resnet-v2", "resnet-linear", "linear",
                     "h(v2) − h(linear ResNet v2, α = 0): the linear network has no harmonics; "
                     "the rule must not call it rougher"),
            what="h(v2) − h(v1) of the logits",
            depends_on=(*_COMMON, "v1v2_depth", "fit_range"), offset=40,
        ),
    )  # fmt: skip
    pair(
        j.claim,
        dict(
            cid="C.fig8.averaging_smooths", where="§4.4, Fig. 8",
            statement=f"Feature-group averaging (a = {a}) smooths a NoShort ResNet",
            reading="h", layer=out, larger=f"noshort-avg{a}", smaller="noshort-avg1",
            control=(f"noshort-avg{a}", "transition-a0-nu0", "linear",
                     "h(averaged) − h(linear ResNet, α = 0): the linear network has no harmonics; "
                     "the rule must not call it rougher"),
            what="h(averaged) − h(plain) of the logits",
            depends_on=(*_COMMON, "resnet_depth", "group_average", "fit_range"), offset=50,
        ),
    )  # fmt: skip
    fig1 = (*_COMMON, "resnet_depth", "path_output")
    null = ("null-first", "null-second", "identical",
            "two halves of the ReLU network's initialisations: the same setup; the rule must not "
            "find a difference")  # fmt: skip
    pair(
        j.claim,
        dict(
            cid="C.fig1.nonlinearity_roughens", where="§4.1, Fig. 1",
            statement="Turning the activations from linear to ReLU (no shortcuts) brings "
            "harmonics: the path's power moves to higher frequencies",
            reading="mean_frequency", layer=judged, larger="transition-a1-nu0",
            smaller="transition-a0-nu0", control=null,
            what="mean frequency(α=1, ν=0) − mean frequency(α=0, ν=0)", depends_on=fig1,
            offset=60, beside=True,
        ),
        larger="transition-a0-nu0", smaller="transition-a1-nu0",
        what="h(α=0, ν=0) − h(α=1, ν=0)",
    )  # fmt: skip
    pair(
        j.claim,
        dict(
            cid="C.fig1.shortcuts_dampen", where="§4.1, Fig. 1",
            statement="Switching the shortcuts on (ν = 1) dampens the harmonics of the ReLU "
            "network", reading="mean_frequency", layer=judged, larger="transition-a1-nu0",
            smaller="transition-a1-nu1",
            control=("transition-a0-nu0", "transition-a1-nu1", "linear",
                     "mean frequency(α=0, ν=0) − mean frequency(α=1, ν=1): the linear network has "
                     "no harmonics; the rule must not find more than in the ResNet"),
            what="mean frequency(α=1, ν=0) − mean frequency(α=1, ν=1)", depends_on=fig1,
            offset=70, beside=True,
        ),
        larger="transition-a1-nu1", smaller="transition-a1-nu0",
        control=("transition-a1-nu1", "transition-a0-nu0", "linear",
                 "h(α=1, ν=1) − h(α=0, ν=0): the linear network is smoother than the ResNet; "
                 "the rule must not call it rougher"),
        what="h(α=1, ν=1) − h(α=1, ν=0)",
    )  # fmt: skip
    walk = sorted(
        (int(n.removeprefix("toy-walk")), n)
        for n in s
        if n.startswith("toy-walk") and not n.endswith("-linear")
    )
    pair(
        j.slope_claim,
        dict(
            cid="C.fig15.lower_layers_rougher", where="App. E, Fig. 15",
            statement="Varying the weights of lower layers gives more blueshifted paths than "
            "higher layers", reading="mean_frequency", layer=judged, x=[u for u, _ in walk],
            names=[n for _, n in walk], sign=-1,
            control=([f"{n}-linear" for _, n in walk], "linear",
                     "the same units of the linear Toy-CNN walked one at a time: the path is "
                     "linear in t whichever unit moves; the rule must not find a trend"),
            what="mean frequency vs the index of the only perturbed unit",
            depends_on=(*_TOY, "walk_layers", "path_output"), offset=90, beside=True,
        ),
        sign=+1, control=None, layer=out, beside=False,
        no_control="the linear twins' paths are linear in t: the taper h has nothing to fit",
        what="taper h vs the index of the only perturbed unit (deeper ⇒ smoother)",
    )  # fmt: skip
    claims = []
    for fn, paper, taper in specs:
        claims += [fn(**paper), fn(**taper)]
    claims.append(_fig7_shape_claim(j))
    claims += _fig6_claims(j)
    claims += _fig9_claims(config, s)
    return claims


def _fig7_shape_claim(j: _Judge) -> Claim:
    """Fig. 7 compares spectra: the share of power at high frequencies, v1 above v2."""
    return j.claim(
        "C.fig7.v2_less_high_frequency_power",
        "§4.4, Fig. 7",
        "The output spectrum of ResNet v2 carries less power at high frequencies than v1's",
        reading="high",
        layer=P.OUTPUT,
        larger="resnet-v1",
        smaller="resnet-v2",
        control=(
            "resnet-linear",
            "resnet-v2",
            "linear",
            "the linear ResNet v2 (α = 0) in v1's place: no harmonics, so it must not carry more "
            "high-frequency power than v2",
        ),
        what="high-band share(v1) − high-band share(v2) of the logits",
        depends_on=(*_COMMON, "v1v2_depth", "fig7_high_band"),
        offset=45,
    )


def _fig6_claims(j: _Judge) -> list[Claim]:
    """Fig. 6: the drop of the residual/shortcut correlation from low to high frequencies."""
    config = j.config
    depends = (*_COMMON, "resnet_depth", "branch_sample", "fig6_bands")
    tables = {
        (act, key): np.array(j.s[f"branches-{act}"]["band_drop"][key], float)
        for act in (*ACTIVATIONS, LINEAR)
        for key in ("paper", "taper")
    }
    n_i, n_d = tables[("relu", "paper")].shape
    what = (
        f"drop of the mean |correlation| of each block's residual and shortcut summands through "
        f"Gaussian frequency filters (σ = {BAND_WIDTH:g} bins) from the low band (k ≤ K/8) to "
        f"the high band (k > K/4), averaged over {config.branch_sample:.0%} of the neurons and "
        f"every block; {n_i} initialisations × {n_d} directions, 95 % two-level bootstrap; "
        "reproduced if the interval is above 0"
    )
    seed = j.seed + 100
    boot = config.n_boot
    est = difference(tables[("relu", "paper")], tables[("softplus", "paper")], boot, seed)
    ctrl = difference(tables[(LINEAR, "paper")], tables[("softplus", "paper")], boot, seed + 1)
    paper = Claim(
        "C.fig6.relu_decorrelates_more_than_softplus",
        "C",
        "§4.4, Fig. 6",
        "The correlation of a block's residual and shortcut summands decays with frequency, "
        "most for ReLU, least for softplus",
        None,
        est[0],
        (est[1], est[2]) if np.isfinite(est[1]) else None,
        _verdict(*est, +1),
        "ReLU − softplus: " + what + "; the paths' raw DFT (the paper's: 'Gaussian filters in "
        "Fourier domain' of the sampled paths)",
        kind="paper",
        control=_control(
            "C.fig6.relu_decorrelates_more_than_softplus",
            "linear",
            "the linear ResNet (no kink, no harmonics) in ReLU's place, − softplus: the rule must "
            "not find a larger drop without the kink",
            ctrl,
            +1,
        ),
        replicates={"initialisations": n_i, "directions": n_d},
        threshold=0.0,
        depends_on=depends,
    )
    est = difference(tables[("relu", "taper")], tables[(LINEAR, "taper")], boot, seed + 2)
    ctrl = difference(tables[("softplus", "taper")], tables[(LINEAR, "taper")], boot, seed + 3)
    taper = Claim(
        "C.fig6.kink_decorrelates.taper",
        "C",
        "§4.4, Fig. 6",
        "The kink decorrelates the summands at high frequencies: ReLU's drop exceeds the linear "
        "ResNet's — read on the tapered paths, an extension",
        None,
        est[0],
        (est[1], est[2]) if np.isfinite(est[1]) else None,
        _verdict(*est, +1),
        "ReLU − linear: " + what + "; the tapered paths (chord removed, × sin⁴(πt))",
        kind="extension",
        control=_control(
            "C.fig6.kink_decorrelates.taper",
            "softplus",
            "softplus (smooth, no kink) in ReLU's place, − linear: the rule must not find a "
            "larger drop without the kink",
            ctrl,
            +1,
        ),
        replicates={"initialisations": n_i, "directions": n_d},
        threshold=0.0,
        depends_on=tuple(f for f in depends if f != "estimator"),
    )
    return [paper, taper]


def _fig9_claims(config: BlueshiftConfig, s: dict[str, Any]) -> list[Claim]:
    """Fig. 9: Spearman's ρ of h at initialisation and training accuracy over the NoShort
    networks, with a bootstrap interval over the networks."""
    sweep = [v for n, v in s.items() if n.startswith("train noshort")]
    acc = np.array([v["train_accuracy"] for v in sweep], float)
    untrained = np.array([v["untrained_accuracy"] for v in sweep], float)
    seed = derive_seed(config.seed, "blueshift-claims", "fig9")
    claims = []
    for key, suffix, kind in (("h_init", "", "paper"), ("h_init_taper", ".taper_h", "extension")):
        h = np.array([np.nan if v[key] is None else v[key] for v in sweep], float)
        est = spearman_interval(h, acc, config.n_boot, seed)
        ctrl = spearman_interval(h, untrained, config.n_boot, seed + 1)
        quantity = (
            "the h of the averaged raw spectrum of the logits (paper convention)"
            if kind == "paper"
            else "the mean boundary-free (taper) h of the logits"
        )
        cid = f"C.fig9.smoothness_vs_trainability{suffix}"
        claims.append(
            Claim(
                cid,
                "C",
                "§5, Fig. 9",
                "NoShort networks with less blueshift at initialisation (higher h) train better"
                + ("" if kind == "paper" else " — read on the taper h, an extension"),
                None,
                est[0],
                (est[1], est[2]) if np.isfinite(est[1]) else None,
                _verdict(*est, +1),
                f"Spearman correlation of {quantity} at initialisation and the training accuracy "
                f"over {len(sweep)} NoShort ResNets (depths × α), 95 % bootstrap interval over the "
                "networks; reproduced if the interval is above 0",
                kind=kind,
                control=_control(
                    cid,
                    "untrained",
                    "the same correlation with the accuracy of the untrained networks (chance "
                    "level): without training the rule must not reproduce",
                    ctrl,
                    +1,
                ),
                replicates={"networks": max(1, len(sweep))},
                threshold=0.0,
                depends_on=(
                    "radius", "points", "images", "batchnorm", "initialisation", "sweep_depths",
                    "sweep_alphas", "sweep_epochs", "train_images", "dataset_found",
                    *(("estimator", "fit_range") if kind == "paper" else ()),
                ),
            )
        )
    return claims
