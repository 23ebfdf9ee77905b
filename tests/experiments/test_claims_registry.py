"""Every claim of every registered experiment is evidence (issue 12): it says what kind it is,
what its interval is over, and which control shows that its rule can fail (or why none exists).

The walk covers the registry, not a hand-written list: a new experiment without a tiny config in
``tests/experiments/test_<name>.py`` (a module-level ``TINY`` dict) fails here.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import pytest

from smoothscope import run_experiment
from smoothscope.experiments import available_experiments
from smoothscope.results import KINDS, VERDICTS, missing_fields

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
