"""A claim as the report shows it: its value with interval and unit, its cause, its anchor and
the figures that show it.

A claim's unit is its own ``unit`` when the experiment declares one
(:class:`smoothscope.results.Claim`), else the one declared here, keyed by claim-id patterns
(``fnmatch``; the first match wins), so that every number of the report carries one. A control
is measured in its claim's unit. A claim without either shows "unit not declared", and
``tests/test_report.py`` fails on it for the registered experiments.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..causes import claim_cause
from .loading import claim_kind

__all__ = ["UNITS", "Unit", "claim_anchor", "claim_view", "fmt", "unit_of"]


@dataclass(frozen=True)
class Unit:
    """The unit of a claim's value.

    Attributes:
        name: what the number is measured in (``"Spearman ρ"``, ``"ln ratio"``, ...).
        ln_ratio: the value is a natural-log ratio: the report adds the factor ``e^value``.
    """

    name: str
    ln_ratio: bool = False


_LN = Unit("ln ratio (natural log of a ratio)", ln_ratio=True)
_DLN = Unit("difference of ln ratios (natural log; the effect beyond the seed spread)", True)
_DF = Unit("Δ mean frequency (Σ k S_k / Σ S_k of the raw spectrum, frequency bins)")
_DH = Unit("Δh (difference of path-spectrum exponents h, dimensionless)")
UNITS: tuple[tuple[str, Unit], ...] = (
    # paper A
    ("A.fig*_kink_detected*", Unit("|δ²y| (eq. 2), in units of the curve's y")),
    ("A.*.excess_ratio_relu_vs_softplus*", Unit("ratio of AveNonSmooth increases (×)")),
    ("A.*.ratio_relu_vs_softplus*", Unit("ratio of AveNonSmooth increases (×)")),
    ("A.*.relu_raises_nonsmoothness*", Unit("share of pixels with a new peak (fraction)")),
    ("A.*.peak_share_difference*", Unit("difference of shares of pixels (fraction)")),
    ("A.*.input_smooth*", Unit("share of object pixels with a peak (fraction)")),
    ("A.*.input_zero*", Unit("AveNonSmooth (eq. 4; squared intensity)")),
    ("A.*.r2_*_above_*", Unit("ΔR²")),
    ("A.*.r2_*", Unit("R²")),
    ("A.*.weight_peak_correlation*", Unit("Pearson r")),
    ("A.*.discounting_factor*", Unit("γ (ratio of sums, 0–1)")),
    ("A.fig8e.chain_*", Unit("KS statistic (0–1)")),
    ("A.network.*", Unit("KS statistic (0–1)")),
    ("A.forensic.*_heldout*", Unit("ROC-AUC")),
    ("A.forensic.softplus_harder*", Unit("ΔROC-AUC")),
    ("A.forensic.*_baseline*", Unit("ΔROC-AUC")),
    # paper B
    ("B.*.test_error*", Unit("test error rate (fraction)")),
    ("B.*_training_shift*", Unit("Δ exponent (slope of log–log fits)")),
    ("B.*_exponent*", Unit("exponent (slope of log–log fit)")),
    ("B.*_flat_at_init*", Unit("Δ|exponent|, trained − at initialisation")),
    ("B.*.receptive_field_sqrt_k*", Unit("exponent (slope of log A_k vs log k)")),
    ("B.*.mean_channel*", Unit("|ln ratio| (natural log)")),
    ("B.*.positive_mean_filters*", Unit("share of layers (fraction)")),
    ("B.*.constant_mode*", Unit("share of layers (fraction)")),
    ("B.fig1.error_vs_*", Unit("Spearman ρ")),
    ("B.fig3.*", _LN),
    ("B.training_*", _LN),
    ("B.fig4.*", _LN),
    # paper C (the paper's convention reads the mean frequency of the raw spectrum; the
    # ".taper_h" variants read the boundary-free h)
    ("C.fig5.h_decreases_with_depth*", Unit("Δh per layer (slope)")),
    ("C.fig15.*.taper_h*", Unit("Δh per unit index (slope)")),
    ("C.fig15.*", Unit("Δ mean frequency per unit index (slope, frequency bins)")),
    ("C.fig7.v2_less_high_frequency_power*", Unit("difference of power shares (fraction)")),
    ("C.fig6.*", Unit("difference of |correlation| drops")),
    ("C.fig9.*", Unit("Spearman ρ")),
    ("C.*.taper_h*", _DH),
    ("C.fig1.*", _DF),
    ("C.fig3.*", _DF),
    ("C.fig5.shortcuts_smooth*", _DH),
    ("C.fig7.v2_smoother_than_v1*", _DH),
    ("C.fig8.*", _DH),
    # paper D
    ("D.curvature_*", Unit("growth factor from s = 1 to the largest s (×)")),
    ("D.*jumps_vanish*", Unit("ratio of largest jumps, largest s over s = 1 (×)")),
    ("D.l2_widens_edges*", _DLN),
    ("D.dip_l2_smooths*", _DLN),
)
"""Claim-id pattern -> unit; the first match wins."""


def unit_of(claim_id: str) -> Unit | None:
    """The declared unit of a claim (or of a control, ``"<claim id>/<name>"``)."""
    base = claim_id.split("/", 1)[0]
    for pattern, unit in UNITS:
        if fnmatch.fnmatchcase(base, pattern):
            return unit
    return None


def fmt(x: Any) -> str:
    """A number in three significant digits (``—`` for none, ``NaN`` spelt out)."""
    if x is None:
        return "—"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.3g}".replace("-", "−")


def _interval(u: Any) -> str:
    if isinstance(u, (list, tuple)) and len(u) == 2:
        return f"[{fmt(u[0])}, {fmt(u[1])}]"
    return ""


def _factor(value: Any, unit: Unit | None) -> str:
    if unit is None or not unit.ln_ratio or not isinstance(value, (int, float)):
        return ""
    if not math.isfinite(value) or abs(value) > 700:
        return ""
    return f"= ×{fmt(math.exp(value))}"


def claim_anchor(claim_id: str) -> str:
    """The HTML id of a claim's row: ``claim-B.fig1.error_vs_D``."""
    return "claim-" + "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in claim_id)


def figure_anchor(experiment: str, file: str) -> str:
    """The HTML id of a figure: ``fig-stability-R_vs_depth``."""
    stem = file.rsplit(".", 1)[0]
    return "fig-" + "".join(
        ch if ch.isalnum() or ch in "._-" else "_" for ch in f"{experiment}-{stem}"
    )


def _replicates(replicates: Any) -> str:
    if not isinstance(replicates, Mapping) or not replicates:
        return ""
    return " × ".join(f"{n} {level}" for level, n in replicates.items())


def claim_view(claim: Mapping[str, Any], figures: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """What the template shows of one claim (a claim of
    :func:`smoothscope.causes.annotate_claims`).

    Args:
        claim: the claim, with ``deviating`` from ``annotate_claims``.
        figures: ``(anchor, file)`` of the figures of the run that show it.
    """
    declared = claim.get("unit")
    unit = (
        Unit(declared, ln_ratio=declared.startswith("ln ratio"))
        if isinstance(declared, str) and declared
        else unit_of(str(claim["id"]))
    )
    control = claim.get("control")
    control_view = None
    if isinstance(control, Mapping):
        control_view = {
            "id": control.get("id", ""),
            "description": control.get("description", ""),
            "value": fmt(control.get("measured")),
            "interval": _interval(control.get("uncertainty")),
            "verdict": str(control.get("verdict")),
        }
    depends = claim.get("depends_on")
    return {
        "id": str(claim["id"]),
        "anchor": claim_anchor(str(claim["id"])),
        "paper": str(claim["paper"]),
        "kind": claim_kind(claim),
        "where": str(claim["where"]),
        "statement": str(claim["statement"]),
        "verdict": str(claim["verdict"]),
        "verdict_class": "v-" + str(claim["verdict"]).replace(" ", "-"),
        "value": "not finite" if claim["measured"] is None else fmt(claim["measured"]),
        "interval": _interval(claim["uncertainty"]),
        "factor": _factor(claim["measured"], unit),
        "unit": unit.name if unit is not None else "",
        "paper_value": "qualitative" if claim["paper_value"] is None else fmt(claim["paper_value"]),
        "paper_factor": _factor(claim["paper_value"], unit),
        "cause": claim_cause(claim) or "",
        "rule": str(claim["rule"]),
        "control": control_view,
        "no_control": claim.get("no_control")
        or ("" if control_view else "no control recorded (results of schema 1)"),
        "replicates": _replicates(claim.get("replicates")),
        "power": claim.get("power") or "",
        "posthoc": claim.get("posthoc") or "",
        "depends_on": (
            "not recorded (results older than schema 3)"
            if depends is None
            else (", ".join(depends) or "none (no protocol field can change it)")
        ),
        "deviating": ", ".join(claim.get("deviating") or ()),
        "figures": [{"anchor": a, "file": f} for a, f in figures],
    }
