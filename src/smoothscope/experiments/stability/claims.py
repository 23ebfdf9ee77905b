"""The claims of the ``stability`` experiment (paper B §1–2, Figs. 1, 3, 4, C1, C2, C5).

Each claim is decided on the trained networks and, under the same rule, on a control:

* ``fig1.error_vs_{D,G,R}``: Spearman ρ between test error and the output's sensitivity over
  the architectures, each architecture's seeds averaged (the paper's points; the error's mean
  and the sensitivity's geometric mean), 95 % interval from a bootstrap over architectures and
  their seeds (``correlation="networks"``: the former rule, every network a point with a
  Fisher-z interval); control: the same correlation with the sensitivities of the networks at
  initialisation (the paper: the correlation "is not seen at initialization").
* ``fig3.R_decreases_with_depth``: control: the untrained networks.
* ``fig3.shuffling_raises_R``: control: shuffling the channels of the untrained networks.
* ``training_{D,G}`` and ``fig4.vgg_filters_low_frequency`` compare trained with initial
  networks; control: one initialisation against another initialisation of the same
  architecture (no training at all).

Medians over networks get a 95 % bootstrap interval over networks. Every claim names the
ledger fields its verdict depends on (``depends_on``). A dead (NaN) layer or
network is counted, never dropped: it makes its claim not reproduced, the reason in the rule.
:func:`error_correlation_vs_noise` gives the Fig. 1 correlation at every input-noise level (a
measurement for Fig. 1 right / C3, not a claim: the claims use the smallest level).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...results import Claim, power_note, verdict_above, verdict_below
from ...stats import hierarchical_bootstrap
from .._paper_b import claim_with_control, spearman_interval, spearman_over_groups

__all__ = ["TRAINING_FIELDS", "error_correlation_vs_noise", "stability_claims"]

TRAINING_FIELDS = (
    "dataset", "width", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
    "scheduler", "augment", "normalize", "fcn_lr", "n_train",
)  # fmt: skip
"""The ledger fields of the training recipe and data: every trained-network claim reads them."""
LEVER = (
    "; the trained quantity itself moves with training: where epochs (or n_train) deviate "
    "from the paper's, training length is the lever, not the replicate count (issue 24)"
)
"""Appended to the power note of an undecided claim on trained networks."""
MEASURE_FIELDS = ("cut", "temperature", "convention", "interpolation")
"""The ledger fields of the diffeomorphisms and the noise."""


def _log_ratio(a: float, b: float) -> float:
    """log(a / b), NaN where undefined (a dead layer's NaN, a zero sensitivity)."""
    with np.errstate(all="ignore"):
        value = float(np.log(np.float64(a)) - np.log(np.float64(b)))
    return value if np.isfinite(value) else math.nan


def _median(values: list[float], n_boot: int, seed: int) -> tuple[tuple[float, float, float], int]:
    """Median over networks with a bootstrap interval over the live ones, and the dead count."""
    v = np.asarray(values, dtype=np.float64)
    live = v[np.isfinite(v)]
    dead = int(v.size - live.size)
    if live.size == 0:
        return (math.nan, math.nan, math.nan), dead
    est = hierarchical_bootstrap(
        [live[None, :]], lambda a: np.median(a, axis=-1), n_boot=n_boot, seed=seed
    )
    return (est.value, est.low, est.high), dead


def _rule(above: bool) -> Any:
    if above:
        return lambda lo, hi: verdict_above(lo, hi, 0.0)
    return lambda lo, hi: verdict_below(lo, hi, 0.0)


def _init_pairs(nets: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Consecutive seeds of each architecture: (network s + 1, network s)."""
    by_arch: dict[str, list[dict[str, Any]]] = {}
    for n in nets:
        by_arch.setdefault(n["architecture"], []).append(n)
    return [(g[i + 1], g[i]) for g in by_arch.values() for i in range(len(g) - 1)]


def _median_claim(
    cid: str,
    where: str,
    statement: str,
    values: list[float],
    control: tuple[str, str, list[float]] | None,
    above: bool,
    rule_text: str,
    n_boot: int,
    seed: int,
    level: str = "trained networks",
    no_control: str | None = None,
    extra_dead: int = 0,
    depends_on: tuple[str, ...] = (),
) -> Claim:
    est, dead = _median(values, n_boot, seed)
    replicates = {level: max(1, len(values))}
    power = None
    if all(math.isfinite(v) for v in est):
        power = power_note(est[0], (est[1], est[2]), 0.0, replicates) + LEVER
    ctrl = None
    ctrl_dead = 0
    if control is not None and control[2]:
        ctrl_est, ctrl_dead = _median(control[2], n_boot, seed + 1)
        ctrl = (control[0], control[1], ctrl_est)
    elif control is not None:
        no_control = no_control or "one network per architecture: no second initialisation"
    return claim_with_control(
        cid=cid,
        where=where,
        statement=statement,
        paper_value=None,
        estimate=est,
        rule=_rule(above),
        rule_text=rule_text + f"; reproduced if {'above' if above else 'below'} 0",
        replicates=replicates,
        power=power,
        threshold=0.0,
        control=ctrl,
        no_control=no_control,
        dead=dead + extra_dead,
        dead_total=len(values),
        dead_what="network values",
        control_dead=ctrl_dead,
        depends_on=depends_on,
    )


def _shuffle_gap(net: dict[str, Any], shuffled: str, original: str) -> tuple[float, int]:
    """Median over layers k ≥ 2 of log(R_k shuffled / R_k) and the number of dead layers."""
    ratios = [
        _log_ratio(sh["R"], tr["R"])
        for sh, tr in zip(net[shuffled]["rows"][1:], net[original]["rows"][1:], strict=True)
    ]
    live = [r for r in ratios if math.isfinite(r)]
    dead = len(ratios) - len(live)
    return (float(np.median(live)) if live else math.nan), dead


def _fig1_estimate(
    nets: list[dict[str, Any]], variant: str, quantity: str, how: str, n_boot: int, seed: int
) -> tuple[tuple[float, float, float], int]:
    """Spearman ρ of test error and log q_f of ``variant`` (architectures or networks) and the
    dead count."""
    q = np.array([n[variant]["rows"][-1][quantity] for n in nets], dtype=np.float64)
    with np.errstate(all="ignore"):
        logq = np.where(q > 0, np.log(q), np.nan)
    dead = int((~np.isfinite(logq)).sum())
    errors = np.array([n["test_error"] for n in nets], dtype=np.float64)
    if how == "networks":
        return spearman_interval(errors, logq), dead
    arch = [n["architecture"] for n in nets]
    groups = list(dict.fromkeys(arch))
    x = [errors[[a == g for a in arch]] for g in groups]
    y = [logq[[a == g for a in arch]] for g in groups]
    return spearman_over_groups(x, y, n_boot=n_boot, seed=seed), dead


def stability_claims(
    nets: list[dict[str, Any]], *, n_boot: int, seed: int, correlation: str = "architectures"
) -> list[Claim]:
    """All claims of the experiment from the per-network summaries."""
    claims: list[Claim] = []
    n_arch = len({n["architecture"] for n in nets})
    over = (
        "the architectures (each one's seeds averaged: mean test error, geometric mean of "
        f"{{q}}_f), 95 % percentile bootstrap over architectures and their seeds ({n_boot} "
        "resamples)"
        if correlation == "architectures"
        else "every trained network (architectures × seeds), 95 % Fisher-z interval "
        "(Bonett–Wright s.e.)"
    )
    reps = (
        {"architectures": n_arch, "trained networks": len(nets)}
        if correlation == "architectures"
        else {"trained networks": len(nets), "architectures": n_arch}
    )
    fig1_fields = (*TRAINING_FIELDS, *MEASURE_FIELDS, "architectures", "correlation")
    for i, (quantity, above, text) in enumerate(
        (("R", True, "positively"), ("D", True, "positively"), ("G", False, "negatively"))
    ):
        trained, dead = _fig1_estimate(
            nets, "trained", quantity, correlation, n_boot, seed + 20 + i
        )
        init, init_dead = _fig1_estimate(nets, "init", quantity, correlation, n_boot, seed + 30 + i)
        power = None
        if all(math.isfinite(v) for v in trained):
            power = power_note(trained[0], trained[1:], 0.0, reps) + LEVER
        elif math.isfinite(trained[0]):
            power = (
                f"{n_arch} architectures: fewer than 5 cannot give a 95 % interval (a perfect "
                "rank order of 4 has permutation p = 0.083); more architectures decide it"
            )
        claims.append(
            claim_with_control(
                cid=f"B.fig1.error_vs_{quantity}",
                where="Fig. 1 / C1 (after Petrini et al. 2021)",
                statement=f"Across trained networks the test error is {text} correlated with "
                f"{quantity}_f of the output",
                paper_value=None,
                estimate=trained,
                rule=_rule(above),
                rule_text=f"Spearman ρ of test error and {quantity}_f over "
                + over.format(q=quantity)
                + f"; reproduced if {'above' if above else 'below'} 0",
                replicates=reps,
                threshold=0.0,
                control=(
                    "init",
                    f"test error of the trained nets against {quantity}_f of the same nets at "
                    "initialisation (the paper: not seen at initialisation)",
                    init,
                ),
                dead=dead,
                dead_total=len(nets),
                dead_what="network outputs",
                control_dead=init_dead,
                depends_on=fig1_fields,
                power=power,
            )
        )

    def depth(variant: str) -> list[float]:
        return [_log_ratio(n[variant]["rows"][-1]["R"], n[variant]["rows"][0]["R"]) for n in nets]

    claims.append(
        _median_claim(
            "B.fig3.R_decreases_with_depth",
            "Fig. 3",
            "In trained networks the relative sensitivity R_k decreases from the first "
            "representation to the output",
            depth("trained"),
            ("init", "the same networks at initialisation", depth("init")),
            False,
            "median over networks of log(R_K / R_1), 95 % bootstrap over networks",
            n_boot,
            seed + 1,
            depends_on=(*TRAINING_FIELDS, *MEASURE_FIELDS, "architectures"),
        )
    )
    conv_nets = [n for n in nets if "shuffled" in n]
    gaps = [_shuffle_gap(n, "shuffled", "trained") for n in conv_nets]
    ctrl_gaps = [_shuffle_gap(n, "init-shuffled", "init")[0] for n in conv_nets]
    claims.append(
        _median_claim(
            "B.fig3.shuffling_raises_R",
            "Fig. 3 / C4",
            "Shuffling the channels of trained networks raises R_k (channel pooling is broken)",
            [g for g, _ in gaps],
            ("init", "shuffling the channels of the untrained networks", ctrl_gaps),
            True,
            "median over networks of the median over layers k ≥ 2 of log(R_k shuffled / R_k), "
            "95 % bootstrap over networks",
            n_boot,
            seed + 3,
            extra_dead=sum(d for _, d in gaps),
            depends_on=(*TRAINING_FIELDS, *MEASURE_FIELDS, "architectures", "shuffle"),
        )
    )
    pairs = _init_pairs(nets)
    for i, (quantity, above, text) in enumerate((("D", False, "decreases"), ("G", True, "raises"))):
        values = [
            _log_ratio(n["trained"]["rows"][-1][quantity], n["init"]["rows"][-1][quantity])
            for n in nets
        ]
        control = [
            _log_ratio(a["init"]["rows"][-1][quantity], b["init"]["rows"][-1][quantity])
            for a, b in pairs
        ]
        claims.append(
            _median_claim(
                f"B.training_{quantity}",
                "§1, Fig. C2",
                f"Training {text} {quantity}_f of the output",
                values,
                (
                    "init-vs-init",
                    "one initialisation against another of the same architecture",
                    control,
                ),
                above,
                f"median over networks of log({quantity}_f trained / at init), 95 % bootstrap "
                "over networks",
                n_boot,
                seed + 5 + 2 * i,
                depends_on=(*TRAINING_FIELDS, *MEASURE_FIELDS, "architectures"),
            )
        )
    vgg = [n for n in nets if n["architecture"].startswith("vgg11")]
    if vgg:

        def freq(n: dict[str, Any], variant: str, k: str) -> float:
            return n[variant]["spectra"][k]["frequency"]

        ratios, control = [], []
        for n in vgg:
            for k in list(n["trained"]["spectra"])[1:6]:  # layers 2–6
                ratios.append(_log_ratio(freq(n, "trained", k), freq(n, "init", k)))
        for a, b in _init_pairs(vgg):
            for k in list(a["init"]["spectra"])[1:6]:
                control.append(_log_ratio(freq(a, "init", k), freq(b, "init", k)))
        claims.append(
            _median_claim(
                "B.fig4.vgg_filters_low_frequency",
                "Fig. 4 / C5",
                "Filters of VGG11 layers 2–6 become low-frequency with training",
                ratios,
                ("init-vs-init", "one initialisation against another (layers 2–6)", control),
                False,
                "median over VGG11 networks and layers 2–6 of log(frequency content trained / "
                "init) (Fig. C5 measure), 95 % bootstrap over network-layers",
                n_boot,
                seed + 9,
                level="network layers",
                depends_on=TRAINING_FIELDS,
            )
        )
    return claims


def error_correlation_vs_noise(
    nets: list[dict[str, Any]], levels: tuple[float, ...]
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Spearman ρ (with its 95 % Fisher-z interval) of test error and D_f, G_f, R_f of the
    trained networks at each input-noise level η (paper B Fig. 1 right, C3), keyed by ``f"{η:g}"``.
    """
    return {
        f"{eta:g}": {
            q: spearman_interval(
                [n["test_error"] for n in nets if n["input_noise"] == eta],
                [n["trained"]["rows"][-1][q] for n in nets if n["input_noise"] == eta],
            )
            for q in "DGR"
        }
        for eta in levels
    }
