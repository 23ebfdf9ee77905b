"""scripts/results_table.py: the markdown claims table and tallies of a reproduce folder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from smoothscope import __version__
from smoothscope._errors import SmoothscopeError
from smoothscope._io import load_json, save_json
from smoothscope.causes import claim_cause, uses_real_data
from smoothscope.results import Claim, Control

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "results_table.py"
_spec = importlib.util.spec_from_file_location("results_table", SCRIPT)
results_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results_table)


def _claim(cid: str, verdict: str, paper: str = "A", kind: str = "paper", **kw) -> dict:
    measured = {"reproduced": 2.0, "not reproduced": -1.0, "inconclusive": 0.5}[verdict]
    interval = {"reproduced": (1.0, 3.0), "not reproduced": (-2.0, -0.5)}.get(verdict, (-1, 2))
    return Claim(
        id=cid,
        paper=paper,
        where="Fig. 1",
        statement="a | b",
        paper_value=1.0,
        measured=measured,
        uncertainty=interval,
        verdict=verdict,
        rule="interval above 0",
        kind=kind,
        control=kw.get("control"),
        no_control=None if kw.get("control") else "none exists",
        replicates={"seeds": 4},
        threshold=0.0,
        posthoc="2026-11-30: test" if kind == "post-hoc" else None,
        depends_on=kw.get("depends_on", ("epochs",)),
    ).to_dict()


def _entry(field: str, value, paper, deviates: bool) -> dict:
    reason = "fits 60 minutes" if deviates else None
    return {
        "field": field,
        "value": value,
        "paper": paper,
        "source": "B §4.3",
        "deviates": deviates,
        "reason": reason,
        "replicate": False,
    }


FASHION = {"train": "fashion-mnist (/usr/share/datasets/fashion-mnist)"}
DIGITS = {"train": "scikit-learn digits (embedded)"}


def _write(
    folder: Path,
    scale: str,
    verdicts: dict[str, str],
    *,
    wall_s: float = 120.0,
    data: dict[str, str] = FASHION,
    depends: dict[str, tuple[str, ...]] | None = None,
):
    """One reproduce folder: experiment ``exp`` holding one claim per id; its ledger has
    ``epochs`` at the paper's value and ``width`` deviating."""
    run = folder / "exp"
    depends = depends or {}
    claims = [
        _claim(cid, v, depends_on=depends.get(cid, ("epochs",))) for cid, v in verdicts.items()
    ]
    claims.append(_claim("B.ext", "reproduced", paper="B", kind="extension"))
    save_json(run / "config.json", {"experiment": "exp", "scale": scale, "config": {}})
    save_json(
        run / "results.json",
        {
            "schema": 3,
            "experiment": "exp",
            "scale": scale,
            "seed": 0,
            "environment": {"smoothscope": __version__, "torch": "2", "threads": 2},
            "data": data,
            "protocol": [_entry("epochs", 500, 500, False), _entry("width", 0.25, 1, True)],
            "claims": claims,
            "measurements": {},
        },
    )
    start = os.stat(run / "config.json").st_mtime
    os.utime(run / "results.json", (start + wall_s, start + wall_s))
    return folder


VERDICTS = {
    "A.1": "reproduced",
    "A.2": "reproduced",
    "A.3": "not reproduced",
    "A.4": "inconclusive",
    "A.5": "reproduced",
}


def test_tallies_count_paper_claims_only(tmp_path):
    runs = results_table.load_runs(_write(tmp_path / "std", "standard", VERDICTS))
    text = results_table.render(runs, source="std", section="tallies")
    row_a = next(line for line in text.splitlines() if line.startswith("| A "))
    assert row_a.endswith("| 5 | 3 | 1 | 1 |")
    row_b = next(line for line in text.splitlines() if line.startswith("| B "))
    assert row_b.endswith("| 0 | 0 | 0 | 0 |")
    assert "extension: 1 (1 reproduced, 0 not reproduced, 0 inconclusive)" in text
    assert "| **all papers** | **5** | **3** | **1** | **1** |" in text


def test_causes_follow_the_rule(tmp_path):
    std = _write(tmp_path / "std", "standard", VERDICTS)
    quick = _write(
        tmp_path / "quick",
        "quick",
        {
            "A.1": "inconclusive",
            "A.2": "not reproduced",
            "A.3": "inconclusive",
            "A.4": "not reproduced",
            "A.5": "reproduced",
        },
        data=DIGITS,  # the baseline read other data: only a digits run can tell data from scale
    )
    digits = _write(
        tmp_path / "dig",
        "standard",
        {"A.1": "reproduced", "A.2": "not reproduced"},
        data=DIGITS,
    )
    text = results_table.render(
        results_table.load_runs(std),
        source="std",
        baseline_runs=results_table.load_runs(quick),
        digits_runs=results_table.load_runs(digits),
        machine_text="test machine",
        date="2026-11-30",
    )
    rows = {
        line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `A.")
    }
    cause = {cid[1:-1]: row.strip()[1:-1].split("|")[-1].strip() for cid, row in rows.items()}
    assert cause == {
        "A.1": "scale",
        "A.2": "data",
        "A.3": "disagreement",
        "A.4": "undecided",
        "A.5": "",
    }
    assert "| quick verdict | on digits | cause |" in text
    assert "`A.4`: needs >= " in text  # the power note of the inconclusive claim
    assert "a \\| b" not in text and "test machine" in text and "2026-11-30" in text
    assert "fashion-mnist (/usr/share/datasets/fashion-mnist)" in text
    assert "| 2.0 |" in text  # the wall time from the file times, in minutes
    no_digits = results_table.render(
        results_table.load_runs(std), source="std", baseline_runs=results_table.load_runs(quick)
    )
    assert "| scale or data |" in no_digits and "on digits" not in no_digits
    # the same data at both scales: only the scale changed
    same = _write(tmp_path / "quick-fashion", "quick", {"A.1": "inconclusive"})
    text = results_table.render(
        results_table.load_runs(std), source="std", baseline_runs=results_table.load_runs(same)
    )
    (row,) = [line for line in text.splitlines() if line.startswith("| `A.1`")]
    assert row.rstrip(" |").endswith("| scale")
    # ... and real data needed too when the digits at this scale do not reproduce it
    no = _write(tmp_path / "dig-no", "standard", {"A.1": "inconclusive"}, data=DIGITS)
    text = results_table.render(
        results_table.load_runs(std),
        source="std",
        baseline_runs=results_table.load_runs(same),
        digits_runs=results_table.load_runs(no),
    )
    (row,) = [line for line in text.splitlines() if line.startswith("| `A.1`")]
    assert row.rstrip(" |").endswith("| scale + data")


def test_control_shown_and_cli(tmp_path, capsys):
    control = Control("A.1/ctrl", "no kink", -0.1, (-0.3, 0.1), "inconclusive")
    run = _write(tmp_path / "std", "standard", {"A.2": "reproduced"})
    data = load_json(run / "exp" / "results.json")
    data["claims"][0]["control"] = control.to_dict()
    save_json(run / "exp" / "results.json", data)
    out = tmp_path / "table.md"
    assert results_table.main([str(run), "--out", str(out), "--machine", "m"]) == 0
    text = out.read_text()
    assert text.startswith("# Results at scale standard") and "inconclusive (-0.1)" in text
    assert results_table.main([str(tmp_path / "missing")]) == 2
    assert "expected a reproduce output folder" in capsys.readouterr().err
    with pytest.raises(SmoothscopeError, match="section"):
        results_table.render(results_table.load_runs(run), source="x", section="nope")


def test_runs_without_real_data_changed_only_their_scale():
    assert not uses_real_data({"data": {}})
    assert not uses_real_data({"data": {"train": "digits (embedded)"}})
    assert uses_real_data({"data": {"train": "cifar10 (/data/cifar10)"}})
    here = {"verdict": "reproduced", "real_data": False}
    assert claim_cause(here, {"verdict": "inconclusive"}, None) == "scale"
    here["real_data"] = True
    assert claim_cause(here, {"verdict": "inconclusive"}, None) == "scale or data"
    assert claim_cause(here, {"verdict": "reproduced"}, None) == ""
    assert claim_cause(here, None, None) == ""


def test_a_claim_decided_under_deviation_is_never_a_disagreement(tmp_path):
    verdicts = {"A.3": "not reproduced", "A.6": "not reproduced", "A.7": "not reproduced"}
    depends = {"A.3": ("epochs",), "A.6": ("epochs", "width"), "A.7": ()}
    run = _write(tmp_path / "std", "standard", verdicts, depends=depends)
    text = results_table.render(results_table.load_runs(run), source="std")
    lines = text.splitlines()
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| `A.")}
    assert rows["`A.3`"].rstrip(" |").endswith("| disagreement")
    assert rows["`A.6`"].rstrip(" |").endswith("| deviation (width)")
    assert rows["`A.7`"].rstrip(" |").endswith("| disagreement")
    # the protocol table of the experiment, with the reason of the deviation
    assert "## Protocol vs paper" in text and "### exp" in text
    assert "| `width` | 0.25 | 1 | yes | B §4.3 | fits 60 minutes |" in text
    # results without a ledger are not called disagreements either
    data = load_json(run / "exp" / "results.json")
    for c in data["claims"]:
        c.pop("depends_on")
    data.pop("protocol")
    save_json(run / "exp" / "results.json", data)
    text = results_table.render(results_table.load_runs(run), source="std")
    assert "| disagreement" not in text and "protocol not recorded" in text
    assert "No protocol ledger recorded" in text


def test_cost_of_deciding_an_inconclusive_claim():
    note = "needs >= 60 trained networks (has 20) for the interval to exclude 0"
    assert results_table.cost_note(note, 600.0) == (
        " (×3.0 the replicates of this run, about 30 min of this experiment on this machine)"
    )
    assert "about 2.0 h" in results_table.cost_note(note, 2400.0)
    assert results_table.cost_note(note, None) == " (×3.0 the replicates of this run)"
    assert results_table.cost_note("the interval is not finite: no replicate count", 60) == ""
    assert "deeper network" in results_table.cost_note("needs >= 11 layers (has 10) for", 60)


def test_two_runs_of_one_experiment_are_refused_not_counted_twice(tmp_path):
    run = _write(tmp_path / "std", "standard", {"A.1": "reproduced"})
    copy = run / "exp-again"
    copy.mkdir()
    for name in ("results.json", "config.json"):
        if (run / "exp" / name).is_file():
            (copy / name).write_bytes((run / "exp" / name).read_bytes())
    with pytest.raises(SmoothscopeError, match="two runs of one experiment"):
        results_table.load_runs(run)


def test_a_claim_whose_control_also_passes_is_not_called_a_disagreement():
    """Claim demotes a measurement whose control reproduces too: at the paper's protocol that is
    a rule that cannot separate the effect at this scale, not evidence against the paper."""
    from smoothscope.results import Claim, Control

    def claim(measured: float, control_verdict: str) -> dict:
        control = Control("C.1/linear", "no kink", 0.3, (0.1, 0.5), control_verdict)
        made = Claim(
            id="C.1", paper="C", where="Fig. 1", statement="s", paper_value=None,
            measured=measured,
            uncertainty=(measured - 1, measured + 1), verdict="reproduced" if measured > 1
            else "not reproduced", rule="above 0", kind="paper", control=control,
            replicates={"inits": 6}, depends_on=("radius",),
        )  # fmt: skip
        return {**made.to_dict(), "deviating": ()}

    passes = claim(10.0, "reproduced")
    assert passes["verdict"] == "not reproduced"
    assert claim_cause(passes) == "control also passes"
    assert claim_cause(claim(-3.0, "not reproduced")) == "disagreement"
    assert claim_cause({**passes, "deviating": ("radius",)}) == "deviation (radius)"
