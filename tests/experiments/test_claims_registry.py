"""Every claim of every registered experiment is evidence (issue 12): it says what kind it is,
what its interval is over, and which control shows that its rule can fail (or why none exists).

The walk covers the registry, not a hand-written list: a new experiment without a tiny config in
``tests/experiments/test_<name>.py`` (a module-level ``TINY`` dict) fails here.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import ExperimentConfig, available_experiments, get_experiment
from smoothscope.protocol import PaperValue
from smoothscope.results import KINDS, VERDICTS, Claim, missing_fields

HERE = Path(__file__).parent


def _tiny_config(name: str) -> dict[str, Any]:
    path = HERE / f"test_{name.replace('-', '_')}.py"
    assert path.is_file(), f"experiment {name!r} has no test module {path.name} with a TINY config"
    spec = importlib.util.spec_from_file_location(f"_tiny_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tiny = getattr(module, "TINY", None)
    assert isinstance(tiny, dict), f"{path.name} defines no module-level TINY dict"
    return tiny


@pytest.mark.parametrize("name", [s.name for s in available_experiments()])
def test_every_claim_has_kind_replicates_and_a_control(name, tmp_path):
    results = run_experiment(name, out=tmp_path / name, options=_tiny_config(name), progress=False)
    claims = results["claims"]
    assert claims, f"{name} returned no claim"
    ids = [c["id"] for c in claims]
    assert len(ids) == len(set(ids)), f"{name}: duplicate claim ids"
    for c in claims:
        assert missing_fields(c) == [], (c["id"], missing_fields(c))
        assert c["kind"] in KINDS and c["verdict"] in VERDICTS
        assert all(isinstance(n, int) and n >= 1 for n in c["replicates"].values())
        control = c["control"]
        if control is not None:
            assert control["id"].startswith(c["id"] + "/"), control["id"]
            assert control["verdict"] in VERDICTS and control["description"]
            # the rule's own demotion: a measurement and a control that both reproduce
            # cannot stand as a reproduced claim
            assert not (c["verdict"] == "reproduced" and control["verdict"] == "reproduced")
        if c["verdict"] == "reproduced":
            assert isinstance(c["measured"], (int, float)) and math.isfinite(c["measured"])
        # the protocol ledger: every paper claim names the fields its verdict depends on, and
        # each of them is a field of the run's ledger
        if c["kind"] == "paper":
            assert c["depends_on"] is not None, f"{c['id']}: paper claim without depends_on"
        if c["depends_on"] is not None:
            assert set(c["depends_on"]) <= {e["field"] for e in results["protocol"]}, c["id"]
            assert isinstance(c["decided_under_deviation"], bool), c["id"]
    for entry in results["protocol"]:
        assert entry["source"].strip(), entry
        if entry["deviates"]:
            assert entry["reason"], f"{name}: {entry['field']} deviates without a reason"


@pytest.mark.parametrize("name", [s.name for s in available_experiments()])
@pytest.mark.parametrize("scale", ["quick", "standard", "paper"])
def test_every_scale_gives_the_reason_for_each_deviation(name, scale):
    spec = get_experiment(name)
    declared = spec.config.protocol()  # raises on a declaration of no field
    assert declared, f"{name}: no protocol ledger (PROTOCOL) declared"
    try:
        config = spec.config.preset(scale)
    except SmoothscopeError:  # an experiment without this scale
        pytest.skip(f"{name} has no {scale} preset")
    values = config.to_dict()
    for field, pv in declared.items():
        if field not in values:  # resolved by the run (RUNTIME_PROTOCOL)
            assert field in spec.config.RUNTIME_PROTOCOL
            continue
        if not pv.matches(values[field]):
            assert pv.reason(scale), f"{name} at {scale}: {field} deviates without a reason"


def test_bad_ledger_input_fails():
    # a paper value without a source cannot be declared
    with pytest.raises(SmoothscopeError, match="source"):
        PaperValue(500, " ")

    # a declaration of no field is refused before anything runs
    @dataclass(frozen=True)
    class Config(ExperimentConfig):
        width: int = 1
        PROTOCOL: ClassVar = {"depth": PaperValue(10, "B §4.3")}

    with pytest.raises(SmoothscopeError, match="depth"):
        Config.protocol()

    # a claim depending on a field the ledger does not declare fails the run
    claim = Claim(
        "B.x", "B", "§4", "s", None, 1.0, None, "reproduced", "r",
        kind="paper", no_control="none", replicates={"seeds": 1}, depends_on=("depth",),
    )  # fmt: skip
    with pytest.raises(SmoothscopeError, match="does not declare"):
        claim.with_ledger([{"field": "width", "deviates": False, "replicate": False}])
