"""Claims of the ``nonsmoothness`` experiment: thresholds (fixed before the runs) and rules.

Every claim's interval is over trained autoencoders, then videos, and every claim carries a
control through the same rule (Softplus+AvgPool compared with itself, the Softplus+AvgPool
setup in place of ReLU+MaxPool, inputs with a deliberate kink, softplus and average pooling in
the toy examples of §III-B).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...results import Claim, Control, verdict_above, verdict_below
from ...stats import hierarchical_bootstrap, ratio_of_medians
from ...sweep import derive_seed
from .config import TAU_D, TOY_STEP, NonsmoothnessConfig

__all__ = [
    "RATIO_THRESHOLD",
    "SMOOTH_INPUT_SHARE",
    "ZERO_TOLERANCE",
    "dataset_claims",
    "toy_claims",
]

RATIO_THRESHOLD = 2.0
"""'Far more': the ReLU+MaxPool / Softplus+AvgPool ratio of median AveNonSmooth must exceed 2."""
ZERO_TOLERANCE = 1e-10
"""AveNonSmooth below this (for intensities of order 1) is zero up to float64 rounding."""
SMOOTH_INPUT_SHARE = 0.01
"""An input video counts as smooth when under 1 % of its object pixels have a peak."""
EXCESS_POSTHOC = (
    "2026-11-30 (issue 12): the excess-ratio rule was added after the first run had been seen"
)


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


def dataset_claims(
    dataset: str, config: NonsmoothnessConfig, tables: dict[str, Any]
) -> list[Claim]:
    """The claims of one dataset (Figs. 6, 11) from the tables of the inputs, both setups and
    the kinked control input."""
    fig = "Fig. 6" if dataset == "ellipsoid" else "Fig. 11"
    where = "§IV-B, Fig. 6" if dataset == "ellipsoid" else "Appendix A, Fig. 11"
    kind = "extension" if dataset == "fashion" else "paper"  # a dataset the paper never used
    if dataset == "fashion":
        where += " (protocol applied to Fashion-MNIST)"
    relu, soft = (
        tables["relu_maxpool"]["ave_nonsmooth"],
        tables["softplus_avgpool"]["ave_nonsmooth"],
    )
    inputs = tables["input"]["ave_nonsmooth"][None, :]
    seed = derive_seed(config.seed, "bootstrap", dataset)
    boot = {"n_boot": config.n_boot}
    reps = {"trained autoencoders": int(relu.shape[0]), "videos": int(relu.shape[1])}
    ratio = hierarchical_bootstrap([relu, soft], ratio_of_medians, seed=seed, **boot)
    ratio_c = hierarchical_bootstrap([soft, soft], ratio_of_medians, seed=seed, **boot)
    median = lambda a: np.median(a, axis=-1)  # noqa: E731
    increase = hierarchical_bootstrap([relu - inputs], median, seed=seed + 1, **boot)
    increase_c = hierarchical_bootstrap([soft - inputs], median, seed=seed + 1, **boot)
    excess = hierarchical_bootstrap(
        [relu - inputs, soft - inputs], _ratio_of_median_excess, seed=seed + 4, **boot
    )
    excess_c = hierarchical_bootstrap(
        [soft - inputs, soft - inputs], _ratio_of_median_excess, seed=seed + 4, **boot
    )
    shares = [tables[s]["peak_share"] for s in ("relu_maxpool", "softplus_avgpool")]
    mean_diff = lambda a, b: a.mean(axis=-1) - b.mean(axis=-1)  # noqa: E731
    share = hierarchical_bootstrap(shares, mean_diff, seed=seed + 2, **boot)
    share_c = hierarchical_bootstrap([shares[1], shares[1]], mean_diff, seed=seed + 2, **boot)

    def itself(name: str, est, threshold: float) -> Control:
        return Control(
            id=f"A.{dataset}.{name}/softplus_vs_itself",
            description="the same rule comparing the Softplus+AvgPool autoencoders with "
            "themselves (identical setups): no difference to find",
            measured=est.value,
            uncertainty=(est.low, est.high),
            verdict=verdict_above(est.low, est.high, threshold),
        )

    claims = [
        Claim(
            id=f"A.{dataset}.ratio_relu_vs_softplus",
            paper="A",
            where=where,
            statement="ReLU+MaxPool raises AveNonSmooth far more than Softplus+AvgPool "
            f"({dataset} videos)",
            paper_value=None,
            measured=ratio.value,
            uncertainty=(ratio.low, ratio.high),
            verdict=verdict_above(ratio.low, ratio.high, RATIO_THRESHOLD),
            rule=f"ratio of median AveNonSmooth (ReLU+MaxPool / Softplus+AvgPool); 95 % "
            "bootstrap over trained autoencoders, then videos; reproduced if the interval lies "
            f"above {RATIO_THRESHOLD}",
            kind=kind,
            control=itself("ratio_relu_vs_softplus", ratio_c, RATIO_THRESHOLD),
            replicates=reps,
            threshold=RATIO_THRESHOLD,
        ),
        Claim(
            id=f"A.{dataset}.excess_ratio_relu_vs_softplus",
            paper="A",
            where=where,
            statement="Softplus+AvgPool hardly increases AveNonSmooth over the input while "
            f"ReLU+MaxPool increases it significantly ({dataset} videos)",
            paper_value=None,
            measured=excess.value,
            uncertainty=(excess.low, excess.high),
            verdict=verdict_above(excess.low, excess.high, RATIO_THRESHOLD),
            rule="ratio of the median increase AveNonSmooth(reconstruction) − AveNonSmooth(input) "
            "(paired by video) of ReLU+MaxPool to that of Softplus+AvgPool, a non-positive "
            f"Softplus increase counted as {ZERO_TOLERANCE:g}; reproduced if its 95 % "
            f"bootstrap interval lies above {RATIO_THRESHOLD}",
            kind="post-hoc",
            posthoc=EXCESS_POSTHOC,
            control=itself("excess_ratio_relu_vs_softplus", excess_c, RATIO_THRESHOLD),
            replicates=reps,
            threshold=RATIO_THRESHOLD,
        ),
        Claim(
            id=f"A.{dataset}.relu_raises_nonsmoothness",
            paper="A",
            where=where,
            statement="Reconstructions by ReLU+MaxPool autoencoders are less smooth than their "
            f"smooth input videos ({dataset})",
            paper_value=None,
            measured=increase.value,
            uncertainty=(increase.low, increase.high),
            verdict=verdict_above(increase.low, increase.high, 0.0),
            rule="median of AveNonSmooth(reconstruction) − AveNonSmooth(input); 95 % bootstrap "
            "over trained autoencoders, then videos; reproduced if the interval lies above 0 — "
            "and only if the same rule fails on Softplus+AvgPool, which the paper says "
            "'hardly increased' AveNonSmooth",
            kind=kind,
            control=Control(
                id=f"A.{dataset}.relu_raises_nonsmoothness/softplus_avgpool",
                description="the same rule on the Softplus+AvgPool autoencoders (smooth "
                "activation and pooling)",
                measured=increase_c.value,
                uncertainty=(increase_c.low, increase_c.high),
                verdict=verdict_above(increase_c.low, increase_c.high, 0.0),
            ),
            replicates=reps,
            threshold=0.0,
        ),
        Claim(
            id=f"A.{dataset}.peak_share_difference",
            paper="A",
            where=f"{fig}, §V-B",
            statement="A larger share of pixels carries nonsmoothness events (peaks of the second "
            f"difference) after ReLU+MaxPool than after Softplus+AvgPool ({dataset})",
            paper_value=None,
            measured=share.value,
            uncertainty=(share.low, share.high),
            verdict=verdict_above(share.low, share.high, 0.0),
            rule="mean share of pixels with ≥ 1 peak, ReLU+MaxPool minus Softplus+AvgPool; 95 % "
            "bootstrap over trained autoencoders, then videos; reproduced if above 0",
            kind=kind,
            control=itself("peak_share_difference", share_c, 0.0),
            replicates=reps,
            threshold=0.0,
        ),
    ]
    n_inputs = int(inputs.shape[1])
    if dataset != "ellipsoid":
        top = float(tables["input"]["ave_nonsmooth"].max())
        ctrl = float(tables["control_input"]["ave_nonsmooth"])
        claims.append(
            Claim(
                id=f"A.{dataset}.input_zero",
                paper="A",
                where="Appendix A, Fig. 11(a)" + ("" if kind == "paper" else " (Fashion-MNIST)"),
                statement="The noise-ramp input videos have AveNonSmooth 0",
                paper_value=0.0,
                measured=top,
                uncertainty=None,
                verdict="reproduced" if top < ZERO_TOLERANCE else "not reproduced",
                rule=f"largest AveNonSmooth over the input videos (float64); reproduced if below "
                f"{ZERO_TOLERANCE:g} (eq. 9 is linear in t, so this checks the generator and "
                "the float64 pipeline)",
                kind=kind,
                control=Control(
                    id=f"A.{dataset}.input_zero/kinked_ramp",
                    description="the first test video with its ramp reversed at mid-video "
                    "(I0 + |α(t) − α(T/2)|·Ie): one kink per pixel",
                    measured=ctrl,
                    uncertainty=None,
                    verdict="reproduced" if ctrl < ZERO_TOLERANCE else "not reproduced",
                ),
                replicates={"input videos": n_inputs},
                threshold=ZERO_TOLERANCE,
            )
        )
    else:
        obj_share = tables["input"]["object_peak_share"][None, :]
        est = hierarchical_bootstrap(
            [obj_share], lambda a: a.mean(axis=-1), n_boot=config.n_boot, seed=seed + 3
        )
        ctrl = float(tables["control_input"]["object_peak_share"])
        claims.append(
            Claim(
                id="A.ellipsoid.input_smooth",
                paper="A",
                where="§IV-B",
                statement="The rendered ellipsoid test videos are smooth in time (no nonsmoothness "
                "events in the input)",
                paper_value=0.0,
                measured=est.value,
                uncertainty=(est.low, est.high),
                verdict=verdict_below(est.low, est.high, SMOOTH_INPUT_SHARE),
                rule="mean share of object pixels whose input second-difference curve has ≥ 1 peak "
                "(the max(·, 0) shading has a kink at the shadow terminator); 95 % bootstrap over "
                f"videos; reproduced if the interval lies below {SMOOTH_INPUT_SHARE}",
                kind="paper",
                control=Control(
                    id="A.ellipsoid.input_smooth/reversing_light",
                    description="a video whose light moves (-9, -9) → (9, 9) and turns back at "
                    "mid-video: a kink in time at every lit pixel",
                    measured=ctrl,
                    uncertainty=None,
                    verdict="reproduced" if ctrl < SMOOTH_INPUT_SHARE else "not reproduced",
                ),
                replicates={"input videos": n_inputs},
                threshold=SMOOTH_INPUT_SHARE,
            )
        )
    return claims


def _ratio_of_median_excess(relu: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """Row-wise median(relu) / max(median(soft), ZERO_TOLERANCE) of increases over the input."""
    return np.median(relu, axis=-1) / np.maximum(np.median(soft, axis=-1), ZERO_TOLERANCE)
