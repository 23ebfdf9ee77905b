"""Claims schema and verdict rules."""

from __future__ import annotations

import pytest

from smoothscope import Claim, SmoothscopeError
from smoothscope.results import (
    Control,
    claim_from_dict,
    missing_fields,
    power_note,
    verdict_above,
    verdict_below,
)


def test_verdict_rules_are_inconclusive_when_the_interval_straddles():
    assert verdict_above(2.1, 3.0, 2.0) == "reproduced"
    assert verdict_above(1.0, 2.0, 2.0) == "not reproduced"
    assert verdict_above(1.5, 2.5, 2.0) == "inconclusive"
    assert verdict_below(0.1, 0.5, 1.0) == "reproduced"
    assert verdict_below(1.0, 2.0, 1.0) == "not reproduced"
    assert verdict_below(0.5, 1.5, 1.0) == "inconclusive"


def test_claim_schema():
    claim = Claim("A.x", "A", "Fig. 6", "s", None, 2.5, (2.1, 3.0), "reproduced", "rule")
    d = claim.to_dict()
    assert list(d) == [
        "id",
        "paper",
        "where",
        "statement",
        "paper_value",
        "measured",
        "uncertainty",
        "verdict",
        "rule",
        "kind",
        "control",
        "no_control",
        "replicates",
        "threshold",
        "power",
        "posthoc",
        "depends_on",
        "decided_under_deviation",
    ]
    assert d["uncertainty"] == [2.1, 3.0] and d["paper_value"] is None
    with pytest.raises(SmoothscopeError, match="paper"):
        Claim("x", "E", "", "", None, 0.0, None, "reproduced", "")
    with pytest.raises(SmoothscopeError, match="verdict"):
        Claim("x", "A", "", "", None, 0.0, None, "maybe", "")


def _control(verdict: str) -> Control:
    return Control("A.x/linear", "a linear network: no kink", 0.0, (-0.1, 0.1), verdict)


def test_a_claim_whose_control_reproduces_is_not_reproduced():
    claim = Claim(
        "A.x", "A", "Fig. 6", "s", None, 2.5, (2.1, 3.0), "reproduced", "above 2",
        kind="paper", control=_control("reproduced"), replicates={"models": 4},
    )
    assert claim.verdict == "not reproduced"
    assert "A.x/linear" in claim.rule and "does not separate" in claim.rule
    kept = Claim(
        "A.x", "A", "Fig. 6", "s", None, 2.5, (2.1, 3.0), "reproduced", "above 2",
        kind="paper", control=_control("not reproduced"), replicates={"models": 4},
    )
    assert kept.verdict == "reproduced" and kept.rule == "above 2"
    # only a reproduced measurement is demoted: a failing one stays as it is
    failing = Claim(
        "A.x", "A", "Fig. 6", "s", None, 1.0, (0.5, 1.5), "not reproduced", "above 2",
        kind="paper", control=_control("reproduced"), replicates={"models": 4},
    )
    assert failing.verdict == "not reproduced" and failing.rule == "above 2"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_measurement_is_never_reproduced(bad):
    claim = Claim("B.x", "B", "", "", None, bad, None, "reproduced", "r", kind="paper")
    assert claim.verdict == "not reproduced" and "not finite" in claim.rule
    nan_interval = Claim("B.x", "B", "", "", None, 1.0, (bad, 2.0), "reproduced", "r")
    assert nan_interval.verdict == "not reproduced"


def test_power_note_from_the_observed_spread():
    # half-width 0.5 at n = 4, estimate 0.25 from the threshold: n' = 4 * (0.5/0.25)^2 = 16
    claim = Claim(
        "C.x", "C", "", "", None, 0.25, (-0.25, 0.75), "inconclusive", "above 0",
        kind="paper", no_control="none", replicates={"initialisations": 4, "directions": 8},
        threshold=0.0,
    )
    assert claim.power is not None and claim.power.startswith("needs >= 16 initialisations")
    assert power_note(0.0, (-1.0, 1.0), 0.0, {"seeds": 3}).startswith("the estimate sits")
    # decided claims carry no power note
    decided = Claim(
        "C.x", "C", "", "", None, 1.0, (0.5, 1.5), "reproduced", "above 0",
        kind="paper", no_control="none", replicates={"seeds": 3}, threshold=0.0,
    )
    assert decided.power is None


def test_missing_fields_and_round_trip():
    legacy = Claim("A.x", "A", "", "", None, 1.0, None, "reproduced", "r")
    assert missing_fields(legacy) == ["kind", "replicates", "control or no_control"]
    full = Claim(
        "A.x", "A", "", "", 0.5, 1.0, (0.5, 1.5), "reproduced", "r", kind="post-hoc",
        control=_control("not reproduced"), replicates={"models": 3}, threshold=0.0,
        posthoc="2026-11-30: added after the first run",
    )
    assert missing_fields(full) == []
    assert claim_from_dict(full.to_dict()) == full
    assert claim_from_dict(legacy.to_dict()) == legacy
    with pytest.raises(SmoothscopeError, match="post-hoc"):
        Claim("A.x", "A", "", "", None, 1.0, None, "reproduced", "r", kind="post-hoc")
    with pytest.raises(SmoothscopeError, match="kind"):
        Claim("A.x", "A", "", "", None, 1.0, None, "reproduced", "r", kind="guess")
    with pytest.raises(SmoothscopeError, match="replicates"):
        Claim("A.x", "A", "", "", None, 1.0, None, "reproduced", "r", replicates={"m": 0})
