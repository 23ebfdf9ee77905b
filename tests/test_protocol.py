"""The protocol ledger (smoothscope.protocol): declarations, run ledgers, claims under deviation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest

from smoothscope import SmoothscopeError
from smoothscope.experiments._base import ExperimentConfig, run_ledger
from smoothscope.protocol import (
    NO_VALUE,
    PaperValue,
    decided_under_deviation,
    deviating_fields,
    ledger,
)
from smoothscope.results import Claim


@dataclass(frozen=True)
class _Config(ExperimentConfig):
    multiple: int = 500
    frames: int = 1000
    seeds: int = 4
    radius: float = 1.0

    PROTOCOL: ClassVar = {
        "multiple": PaperValue(500, "B §4.3", reasons={"quick": "minutes on 2 cores"}),
        "frames": PaperValue(NO_VALUE, "A §IV-A gives none", reasons={"*": "T/10 events"}),
        "seeds": PaperValue(4, "B §4.3", replicate=True, reasons={"*": "time"}),
        "radius": PaperValue(1.0, "C App. A", rel_tol=1e-6),
    }
    QUICK: ClassVar = {"multiple": 20, "seeds": 2}
    STANDARD: ClassVar = {"multiple": 500}


def _claim(depends_on, verdict="not reproduced") -> Claim:
    return Claim(
        id="B.x",
        paper="B",
        where="§4",
        statement="s",
        paper_value=None,
        measured=1.0,
        uncertainty=(0.5, 1.5),
        verdict=verdict,
        rule="r",
        kind="paper",
        no_control="none",
        replicates={"seeds": 2},
        depends_on=depends_on,
    )


def test_a_paper_value_needs_a_source_and_an_open_value_a_reason() -> None:
    with pytest.raises(SmoothscopeError, match="source"):
        PaperValue(500, "")
    with pytest.raises(SmoothscopeError, match="no value"):
        PaperValue(NO_VALUE, "A §IV")


def test_the_ledger_marks_deviations_with_their_reasons() -> None:
    config = _Config.preset("quick")
    entries = {e["field"]: e for e in run_ledger(_Config, "quick", config)}
    assert entries["multiple"] == {
        "field": "multiple",
        "value": 20,
        "paper": 500,
        "source": "B §4.3",
        "deviates": True,
        "reason": "minutes on 2 cores",
        "replicate": False,
    }
    assert entries["frames"]["deviates"] is False
    assert entries["frames"]["paper"] == NO_VALUE
    assert entries["frames"]["reason"] == "T/10 events"
    assert entries["seeds"]["deviates"] and entries["seeds"]["replicate"]
    assert entries["radius"]["deviates"] is False and entries["radius"]["reason"] is None
    standard = {e["field"]: e for e in run_ledger(_Config, "standard", _Config.preset("standard"))}
    assert standard["multiple"]["deviates"] is False


def test_a_user_override_is_named_as_such() -> None:
    config = _Config.preset("standard", radius=10.0)
    entries = {e["field"]: e for e in run_ledger(_Config, "standard", config)}
    assert entries["radius"]["deviates"]
    assert "set by the user" in entries["radius"]["reason"]


def test_numbers_compare_with_the_declared_tolerance() -> None:
    pv = PaperValue(1.0, "C", rel_tol=1e-6)
    assert pv.matches(1.0 + 1e-9) and not pv.matches(1.01)
    assert PaperValue((3, 3), "x").matches([3, 3]) and not PaperValue((3, 3), "x").matches([3])
    assert PaperValue("circular", "x").matches("circular")
    assert not PaperValue(True, "x").matches(1.5)


def test_decided_under_deviation_ignores_replicate_counts() -> None:
    entries = run_ledger(_Config, "quick", _Config.preset("quick"))
    assert decided_under_deviation(entries, ["multiple"])
    assert deviating_fields(entries, ["multiple", "seeds", "radius"]) == ["multiple"]
    assert not decided_under_deviation(entries, ["seeds", "radius", "frames"])
    assert not decided_under_deviation(entries, [])


def test_claims_read_the_ledger_and_refuse_unknown_fields() -> None:
    entries = run_ledger(_Config, "quick", _Config.preset("quick"))
    assert _claim(("multiple",)).with_ledger(entries).decided_under_deviation is True
    assert _claim(("radius", "seeds")).with_ledger(entries).decided_under_deviation is False
    assert _claim(()).with_ledger(entries).decided_under_deviation is False
    assert _claim(None).with_ledger(entries).decided_under_deviation is None
    with pytest.raises(SmoothscopeError, match="does not declare"):
        _claim(("width",)).with_ledger(entries)
    with pytest.raises(SmoothscopeError, match="depends_on"):
        _claim("multiple")


def test_the_claim_round_trips_through_its_dict() -> None:
    from smoothscope.results import claim_from_dict

    entries = run_ledger(_Config, "quick", _Config.preset("quick"))
    claim = _claim(("multiple", "radius")).with_ledger(entries)
    again = claim_from_dict(claim.to_dict())
    assert again == claim
    assert again.to_dict()["depends_on"] == ["multiple", "radius"]


def test_a_declaration_of_no_field_is_refused() -> None:
    @dataclass(frozen=True)
    class Bad(ExperimentConfig):
        width: int = 1
        PROTOCOL: ClassVar = {"depth": PaperValue(10, "B")}

    with pytest.raises(SmoothscopeError, match="depth"):
        Bad.protocol()


def test_a_declared_field_must_have_a_value() -> None:
    with pytest.raises(SmoothscopeError, match="no value"):
        ledger({"depth": PaperValue(10, "B")}, {}, "quick")


def test_the_base_config_declares_nothing() -> None:
    assert ExperimentConfig.protocol() == {}
    assert {f.name for f in dataclasses.fields(_Config)} >= set(_Config.protocol())
