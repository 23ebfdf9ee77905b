"""The claims of the ``scale-detection`` experiment (paper B §3–4, Appendices B–C).

Every scaling exponent is fitted over the layers the paper fits ("the first large part of the
network", Fig. 7; Tables C2, C3: layers 1–9 of task 1, 1–4 of task 2; ``fit_layers`` of each
family) for the trained networks and for the same networks at initialisation, against the
trained networks' measured receptive fields ``A_k`` (one abscissa per layer, as in paper B
Fig. 7 where both curves share the axis). The same fits against the theoretical abscissa
(``√k`` for stride 1, ``F^k`` for stride F) are reported in the rule text and the tables. The
claims:

* ``{family}.{q}_exponent``: the trained exponent lies within ±0.5 of the prediction; control:
  the same networks at initialisation (for tanh G, the ReLU networks of task 1).
* ``{family}.{q}_training_shift``: training moves the exponent in the predicted direction
  (trained − init slope, interval from the two fits); control: one half of the untrained
  networks against the other half.
* ``{task}.{q}_flat_at_init`` (§4.1): an effect-versus-control rule: the slope at
  initialisation lies within ±0.5 of 0 *and* the trained networks' profile is steeper
  (``|s_trained| − |s_init| > 0``); control: one half of the untrained networks against the
  other half under the same rule (no steeper profile to find).
* ``{task}.test_error``, ``{task}.mean_channel``, ``{task}.positive_mean_filters`` (Tables C2,
  C3), ``task1.receptive_field_sqrt_k`` and ``zoo-*.constant_mode``, each with the untrained
  network as control.

Dead (NaN) layers are counted, never dropped: any dead value makes its claim not reproduced.
Every claim names the ledger fields its verdict depends on (``depends_on``).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ...results import Claim, verdict_above, verdict_below
from ...stats import hierarchical_bootstrap
from .._paper_b import (
    Fit,
    as_table,
    band_verdict,
    binomial_share,
    claim_with_control,
    fit_exponent,
    slope_difference,
)

__all__ = ["EXPONENT_TOLERANCE", "PREDICTIONS", "depends", "fit_range", "scale_claims"]

PREDICTIONS = {
    ("task1", "D"): -2.0,
    ("task1", "G"): 1.0,
    ("task1", "R"): -3.0,
    ("task2", "D"): -1.0,
    ("task2", "G"): 1.0,
    ("task2", "R"): -2.0,
    ("task1-tanh", "D"): -2.0,
    ("task1-tanh", "G"): 0.0,
    ("task1-tanh", "R"): -2.0,
}
"""Paper B eqs. 5, 7, 8, 9, R = D/G (§4.1: "R_k ∼ A_k^-3"), and Appendix B (tanh: D as for
ReLU, "the prediction does not depend on the activation function"; G flat)."""
EXPONENT_TOLERANCE = 0.5
"""An exponent agrees with its prediction when its 95 % interval lies within ±0.5 of it."""
ERROR_TOLERANCE = 0.02
"""'Zero test error' (paper §4.3) is met when the 95 % interval lies below 2 %."""
WHERE = {"task1": "§4.1, Fig. 7 top", "task2": "§4.2, Fig. 7 bottom", "task1-tanh": "Appendix B"}
_TRAINING = ("width", "bias", "boundary", "batch_size", "weight_decay", "ridge", "stopping")
_FIELDS = {
    "task1": (
        "t1_length", "t1_xi", "t1_gap", "t1_points", "t1_depth", "t1_filter", "t1_fit_layers",
        "lr", "interpolation_multiple", "preserve_label", *_TRAINING,
    ),
    "task2": (
        "t2_length", "t2_xi", "t2_points", "t2_depth", "t2_filter", "t2_fit_layers", "t2_moves",
        "lr", "interpolation_multiple", "preserve_label", *_TRAINING,
    ),
    "task1-tanh": (
        "t1_length", "t1_xi", "t1_gap", "t1_points", "t1_depth", "t1_filter", "t1_fit_layers",
        "lr_tanh", "interpolation_multiple_tanh", "preserve_label", *_TRAINING,
    ),
    "zoo": (
        "zoo_length", "zoo_xi", "zoo_gap", "zoo_points", "zoo_width", "lr_zoo",
        "zoo_interpolation_multiple", "batch_size", "weight_decay",
    ),
}  # fmt: skip
_LEVER = (
    "; the exponent itself moves with the training length (docs/scale_detection.md, "
    "convergence table): where interpolation_multiple deviates from the paper's, training "
    "length is the lever, not the count of layers (a deeper net is another protocol)"
)


def depends(family: str, *extra: str) -> tuple[str, ...]:
    """The ledger fields a claim on ``family`` depends on (``zoo-*`` families: ``"zoo"``)."""
    key = "zoo" if family.startswith("zoo-") else family
    return tuple(dict.fromkeys((*_FIELDS[key], *extra)))


def fit_range(fam: dict[str, Any]) -> int:
    """How many first hidden layers the family's fits read (all of them when not given)."""
    depth = len(fam["trained"][0]["A"])
    return min(depth, int(fam.get("fit_layers") or depth))


def _a(runs: list[dict[str, Any]], k: int | None = None) -> np.ndarray:
    a = np.array([[np.nan if w is None else w for w in r["A"]] for r in runs], dtype=np.float64)
    return a if k is None else a[:, :k]


def _theory_a(fam: dict[str, Any], k: int) -> np.ndarray:
    """``[networks, k]`` theoretical abscissa: √k (stride 1) or F^k (stride F)."""
    layers = np.arange(1, k + 1, dtype=np.float64)
    net = fam.get("net") or {}
    if net.get("stride", 1) > 1:
        layers = float(net["stride"]) ** layers
    else:
        layers = np.sqrt(layers)
    return np.broadcast_to(layers, (len(fam["trained"]), k))


def _est(fit: Fit) -> tuple[float, float, float]:
    return fit.value, fit.low, fit.high


def _band(centre: float) -> Any:
    return lambda lo, hi: band_verdict(lo, hi, centre, EXPONENT_TOLERANCE)


def _sign(predicted: float) -> Any:
    if predicted < 0:
        return lambda lo, hi: verdict_below(lo, hi, 0.0)
    return lambda lo, hi: verdict_above(lo, hi, 0.0)


def _power(fit: Fit, predicted: float, networks: int) -> str:
    """What would decide an inconclusive exponent claim: more networks narrow the interval as
    1/√n; the training length moves the exponent."""
    half = (fit.high - fit.low) / 2
    gaps = [abs(fit.value - (predicted + d)) for d in (-EXPONENT_TOLERANCE, EXPONENT_TOLERANCE)]
    distance = min(gaps)
    if not (math.isfinite(half) and distance > 0):
        return "the interval is not finite: no replicate count decides it" + _LEVER
    need = max(networks + 1, math.ceil(networks * (half / distance) ** 2))
    return (
        f"needs >= {need} trained networks (has {networks}) for the interval to clear the "
        f"band edge {predicted:g} ± {EXPONENT_TOLERANCE:g} at the observed spread" + _LEVER
    )


def _flatness(init: Fit, trained: Fit) -> tuple[Fit, str]:
    """``|s_trained| − |s_init|`` with a Welch interval, and the verdict of the flat-at-init
    rule: init slope within ±0.5 of 0 and the trained profile steeper (difference > 0)."""
    steeper = slope_difference(
        Fit(abs(trained.value), 0, 0, trained.se, trained.n, trained.dead),
        Fit(abs(init.value), 0, 0, init.se, init.n, init.dead),
    )
    flat = band_verdict(init.low, init.high, 0.0, EXPONENT_TOLERANCE)
    apart = verdict_above(steeper.low, steeper.high, 0.0)
    if "not reproduced" in (flat, apart):
        return steeper, "not reproduced"
    return steeper, "reproduced" if flat == apart == "reproduced" else "inconclusive"


def _flat_claim(name: str, q: str, fam: dict[str, Any], fits: dict[str, Any]) -> Claim:
    init, trained, split = fits["init"], fits["trained"], fits["split"]
    steeper, verdict = _flatness(init, trained)
    control = None
    control_verdict = None
    if split is not None:
        a_init, b_init = split
        ctrl, control_verdict = _flatness(a_init, b_init)
        control = (
            "init-vs-init",
            "one half of the untrained networks as 'trained' against the other half (no "
            "steeper profile to find)",
            _est(ctrl),
        )
    s = len(fam["trained"])
    return claim_with_control(
        cid=f"B.{name}.{q}_flat_at_init",
        where="§4.1 (Fig. 7, grey)",
        statement=f"At initialisation {q}_k is constant with respect to k, unlike after "
        f"training ({name})",
        paper_value=0.0,
        estimate=_est(steeper),
        rule=lambda lo, hi, v=verdict: v,
        rule_text=f"effect versus control: the init slope of log {q}_k vs log A_k "
        f"({init.value:.3g} [{init.low:.3g}, {init.high:.3g}]) lies within "
        f"±{EXPONENT_TOLERANCE} of 0 and the trained profile is steeper, |s_trained| − "
        "|s_init| (the measured value, 95 % Welch interval from the two fits) above 0; "
        "not reproduced if either part fails",
        replicates={"trained networks": s, "layers": fits["k"]},
        threshold=0.0,
        control=control,
        no_control=None if control else "one network per family: no second init to compare",
        control_verdict=control_verdict,
        dead=init.dead + trained.dead,
        dead_total=2 * s * fits["k"],
        dead_what="layer values (init and trained)",
        depends_on=depends(name),
    )


def _exponent_claims(name: str, fam: dict[str, Any], relu: dict[str, Any] | None) -> list[Claim]:
    claims = []
    k = fit_range(fam)
    a = _a(fam["trained"], k)
    s = a.shape[0]
    reps = {"trained networks": s, "layers": k}
    for q in "DGR":
        predicted = PREDICTIONS.get((name, q))
        if predicted is None:
            continue
        t_trained, t_init = as_table(fam["trained"], q)[:, :k], as_table(fam["init"], q)[:, :k]
        trained, init = fit_exponent(a, t_trained), fit_exponent(a, t_init)
        theory = fit_exponent(_theory_a(fam, k), t_trained)
        abscissa = "√k" if (fam.get("net") or {}).get("stride", 1) == 1 else "F^k"
        band = (
            f"least-squares slope of log {q}_k vs log A_k (A_k measured on the trained nets) "
            f"over hidden layers 1–{k} of every network, 95 % t interval; reproduced if it "
            f"lies within ±{EXPONENT_TOLERANCE} of {predicted:g}, not reproduced if it lies "
            f"outside (against the theoretical abscissa {abscissa}: {theory.value:.3g} "
            f"[{theory.low:.3g}, {theory.high:.3g}])"
        )
        if name == "task1-tanh" and q == "G" and relu is not None:
            kr = fit_range(relu)
            ctrl_fit = fit_exponent(_a(relu["trained"], kr), as_table(relu["trained"], "G")[:, :kr])
            control = (
                "relu",
                "the same simple CNN with ReLU (rectified noise builds up G_k ∝ A_k)",
                ctrl_fit,
            )
        else:
            control = ("init", "the same networks at initialisation, same fit", init)
        claims.append(
            claim_with_control(
                cid=f"B.{name}.{q}_exponent",
                where=WHERE[name],
                statement=f"{q}_k scales as A_k^{predicted:g} in trained networks ({name})",
                paper_value=predicted,
                estimate=_est(trained),
                rule=_band(predicted),
                rule_text=band,
                replicates=reps,
                threshold=predicted,
                control=(control[0], control[1], _est(control[2])),
                dead=trained.dead,
                dead_total=trained.n + trained.dead,
                dead_what="layer values",
                control_dead=control[2].dead,
                depends_on=depends(name),
                power=_power(trained, predicted, s),
            )
        )
        if predicted == 0:
            continue
        shift = slope_difference(trained, init)
        split = None
        if s >= 2:
            h = s // 2
            split = (fit_exponent(a[:h], t_init[:h]), fit_exponent(a[h:], t_init[h:]))
            halves = slope_difference(split[0], split[1])
            shift_control: Any = (
                "init-vs-init",
                f"one half of the untrained networks ({h}) against the other ({s - h})",
                _est(halves),
            )
            no_control = None
        else:
            halves, shift_control = None, None
            no_control = "one network per family: no second untrained network to compare"
        claims.append(
            claim_with_control(
                cid=f"B.{name}.{q}_training_shift",
                where=WHERE[name],
                statement=f"Training changes the exponent of {q}_k vs A_k towards "
                f"{predicted:g} from a flat profile at initialisation ({name})",
                paper_value=predicted,
                estimate=_est(shift),
                rule=_sign(predicted),
                rule_text=f"slope(trained) − slope(init) of log {q}_k vs log A_k over layers "
                f"1–{k}, 95 % interval from the two fits' standard errors (Welch df); "
                f"reproduced if {'below' if predicted < 0 else 'above'} 0",
                replicates=reps,
                threshold=0.0,
                control=shift_control,
                no_control=no_control,
                dead=shift.dead,
                dead_total=2 * (s * k),
                dead_what="layer values (trained and init)",
                control_dead=halves.dead if halves is not None else 0,
                depends_on=depends(name),
            )
        )
        if name in ("task1", "task2") and q in "DG":
            fits = {"init": init, "trained": trained, "split": split, "k": k}
            claims.append(_flat_claim(name, q, fam, fits))
    return claims


def _error_claim(name: str, fam: dict[str, Any]) -> Claim:
    def pooled(key: str) -> tuple[float, float, float]:
        wrong = sum(round(t[key] * t["n_test"]) for t in fam["train"])
        return binomial_share(wrong, sum(t["n_test"] for t in fam["train"]))

    n_pairs = sum(t["n_test"] for t in fam["train"])
    return claim_with_control(
        cid=f"B.{name}.test_error",
        where="§4.3",
        statement=f"The trained simple CNNs generalise perfectly on {name} (zero test error)",
        paper_value=0.0,
        estimate=pooled("test_error"),
        rule=lambda lo, hi: verdict_below(lo, hi, ERROR_TOLERANCE),
        rule_text="test error pooled over networks and held-out balanced pairs, exact binomial "
        f"95 % interval; reproduced if below {ERROR_TOLERANCE}",
        replicates={"test pairs": n_pairs, "trained networks": len(fam["train"])},
        threshold=ERROR_TOLERANCE,
        control=("init", "the same networks at initialisation", pooled("init_test_error")),
        depends_on=depends(name),
    )


def _mean_channel_claim(name: str, fam: dict[str, Any], n_boot: int, seed: int) -> Claim:
    k = fit_range(fam)

    def gaps(replaced: str, original: str) -> tuple[tuple[float, float, float], int, int]:
        d_rep, d_orig = as_table(fam[replaced], "D"), as_table(fam[original], "D")
        with np.errstate(all="ignore"):
            g = np.abs(np.log(d_rep[:, :k] / d_orig[:, :k]))
        dead = int((~np.isfinite(g)).sum())
        live = np.where(np.isfinite(g), g, np.nan)
        if np.isfinite(live).sum() == 0:
            return (math.nan, math.nan, math.nan), dead, g.size
        with warnings.catch_warnings():  # resamples of dead layers only: NaN, not an error
            warnings.simplefilter("ignore", RuntimeWarning)
            est = hierarchical_bootstrap(
                [live], lambda t: np.nanmedian(t, axis=-1), n_boot=n_boot, seed=seed
            )
        return (est.value, est.low, est.high), dead, g.size

    est, dead, total = gaps("mean", "trained")
    ctrl, ctrl_dead, _ = gaps("init-mean", "init")
    s = len(fam["trained"])
    return claim_with_control(
        cid=f"B.{name}.mean_channel",
        where="§4.3, Fig. 7 (dotted)",
        statement="Each layer's mean channel has the sensitivity D_k of the whole layer in the "
        f"first large part of the network ({name})",
        paper_value=None,
        estimate=est,
        rule=lambda lo, hi: verdict_below(lo, hi, math.log(2)),
        rule_text="median over networks and hidden layers 1–"
        f"{k} of |log(D_k of the channel mean / D_k)|, 95 % bootstrap over networks and layers; "
        "reproduced if below log 2",
        replicates={"trained networks": s, "layers": total // max(s, 1)},
        threshold=math.log(2),
        control=("init", "the channel means of the untrained networks", ctrl),
        dead=dead,
        dead_total=total,
        dead_what="layers of the channel-mean representations",
        control_dead=ctrl_dead,
        depends_on=depends(name, "mean_channel"),
    )


def _positive_filters_claim(name: str, fam: dict[str, Any]) -> Claim:
    k = fit_range(fam)

    def share(variant: str) -> tuple[tuple[float, float, float], int]:
        positive, n, dead = 0, 0, 0
        for run in fam[variant]:
            first = np.asarray(run["mean_filters"], dtype=np.float64)[:k]
            dead += int((~np.isfinite(first)).any(axis=1).sum())
            positive += int((first > 0).all(axis=1).sum())
            n += len(first)
        return binomial_share(positive, n), dead

    est, dead = share("trained")
    ctrl, ctrl_dead = share("init")
    s = len(fam["trained"])
    table = "Table C2" if name == "task1" else "Table C3"
    return claim_with_control(
        cid=f"B.{name}.positive_mean_filters",
        where=f"Appendix C, {table}",
        statement="After training the mean filter over channels is positive in the first "
        f"layers ({name})",
        paper_value=1.0,
        estimate=est,
        rule=lambda lo, hi: verdict_above(lo, hi, 0.5),
        rule_text=f"share of (network, layer 1–{k}) whose channel-mean filter is positive at "
        "every tap, exact binomial 95 % interval; reproduced if above 0.5",
        replicates={"trained networks": s, "layers": k},
        threshold=0.5,
        control=("init", "the same networks at initialisation", ctrl),
        dead=dead,
        dead_total=s,
        dead_what="mean filters",
        control_dead=ctrl_dead,
        depends_on=depends(name),
    )


def _receptive_field_claim(fam: dict[str, Any]) -> Claim:
    k = fit_range(fam)
    a_tr, a_init = _a(fam["trained"], k), _a(fam["init"], k)
    layers = np.broadcast_to(np.arange(1, k + 1, dtype=np.float64), a_tr.shape)
    trained, init = fit_exponent(layers, a_tr), fit_exponent(layers, a_init)
    return claim_with_control(
        cid="B.task1.receptive_field_sqrt_k",
        where="§4.1, Appendix A",
        statement="The effective receptive field of the trained task-1 network grows as √k",
        paper_value=0.5,
        estimate=_est(trained),
        rule=lambda lo, hi: band_verdict(lo, hi, 0.5, 0.15),
        rule_text=f"slope of log A_k vs log k over hidden layers 1–{k} of every trained "
        "network, 95 % t interval; reproduced if the interval lies within 0.5 ± 0.15",
        replicates={"trained networks": a_tr.shape[0], "layers": k},
        threshold=0.5,
        control=("init", "A_k of the same networks at initialisation", _est(init)),
        dead=trained.dead,
        dead_total=a_tr.size,
        dead_what="layer widths",
        control_dead=init.dead,
        depends_on=depends("task1"),
    )


def _constant_mode_claim(name: str, fam: dict[str, Any]) -> Claim:
    def share(variant: str) -> tuple[float, float, float]:
        spectra = [s for run in fam[variant] for s in run["spectra"]]
        return binomial_share(sum(int(np.argmax(s) == 0) for s in spectra), len(spectra))

    trained = share("trained")
    n_layers = len(fam["trained"][0]["spectra"])
    return claim_with_control(
        cid=f"B.{name}.constant_mode",
        where="Fig. 4 (third row)",
        statement="On scale-detection task 1 the constant mode carries most of the filters' "
        f"power throughout the network ({name})",
        paper_value=None,
        estimate=trained,
        rule=lambda lo, hi: verdict_above(lo, hi, 0.5),
        rule_text="share of conv layers whose largest normalised projection γ̃_l is the "
        "constant mode l = 0 (trained), exact binomial 95 % interval over layers; reproduced if "
        "above 0.5",
        replicates={"trained networks": len(fam["trained"]), "conv layers": n_layers},
        threshold=0.5,
        control=("init", "the same network at initialisation", share("init")),
        depends_on=depends(name),
    )


def scale_claims(families: dict[str, dict[str, Any]], *, n_boot: int, seed: int) -> list[Claim]:
    """All claims of the experiment from the per-family measure summaries (each family holds
    its runs per variant, its training records under ``"train"`` and its network spec under
    ``"net"`` and ``"fit_layers"``)."""
    claims: list[Claim] = []
    for name, fam in families.items():
        if name.startswith("zoo-"):
            claims.append(_constant_mode_claim(name, fam))
            continue
        claims += _exponent_claims(name, fam, families.get("task1"))
        if name in ("task1", "task2"):
            claims.append(_error_claim(name, fam))
            claims.append(_mean_channel_claim(name, fam, n_boot, seed))
            claims.append(_positive_filters_claim(name, fam))
    if "task1" in families:
        claims.append(_receptive_field_claim(families["task1"]))
    return claims
