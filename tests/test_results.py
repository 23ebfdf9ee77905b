"""Claims schema and verdict rules."""

from __future__ import annotations

import pytest

from smoothscope import Claim, SmoothscopeError
from smoothscope.results import verdict_above, verdict_below


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
    ]
    assert d["uncertainty"] == [2.1, 3.0] and d["paper_value"] is None
    with pytest.raises(SmoothscopeError, match="paper"):
        Claim("x", "E", "", "", None, 0.0, None, "reproduced", "")
    with pytest.raises(SmoothscopeError, match="verdict"):
        Claim("x", "A", "", "", None, 0.0, None, "maybe", "")
