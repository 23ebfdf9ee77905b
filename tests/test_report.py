"""`reproduce` and the HTML report: resume, bad input, self-containment, rendering in Chromium."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

import smoothscope
from smoothscope.cli import main
from smoothscope.experiments import _base
from smoothscope.experiments._base import ExperimentConfig, ExperimentSpec
from smoothscope.report import build_report, check_results, reproduce, verdict_counts
from smoothscope.results import Claim

FAKE = "zz-fake-report-test"
CAPTIONS = {"fake.png": "A caption from the experiment module <with markup & more>."}
CALLS: list[int] = []
FAKE_PNG: list[bytes] = []  # the figure the fake experiment writes


def _png(color: str, size: tuple[float, float] = (1.0, 0.8)) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    ax.plot([0, 1, 2], [0, 1, 0], color=color)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    plt.close(fig)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pngs() -> tuple[bytes, bytes]:
    return _png("tab:red"), _png("tab:blue")


@dataclass(frozen=True)
class FakeConfig(ExperimentConfig):
    size: int = 8

    QUICK: ClassVar[dict[str, Any]] = {"size": 2}


def fake_run(config: FakeConfig, run_dir: Path, *, progress: bool = True, executor=None):
    CALLS.append(config.size)
    figures = run_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    (figures / "fake.png").write_bytes(FAKE_PNG[0])
    claim = Claim(
        id="D.fake.claim",
        paper="D",
        where="Fig. 1",
        statement="A fake claim",
        paper_value=None,
        measured=float(config.size),
        uncertainty=(1.0, 3.0),
        verdict="reproduced",
        rule="interval above 0",
    )
    return {"claims": [claim], "measurements": {"figures": [str(figures / "fake.png")]}}


@pytest.fixture
def fake_experiment(monkeypatch, pngs):
    """Register a trivial experiment (removed again after the test)."""
    monkeypatch.setitem(
        _base._EXPERIMENTS,
        FAKE,
        ExperimentSpec(FAKE, "a fake experiment for the tests", FakeConfig, fake_run),
    )
    FAKE_PNG[:] = [pngs[0]]
    CALLS.clear()
    return FAKE


def _claim(cid: str, paper: str, verdict: str, statement: str = "s") -> dict[str, Any]:
    return {
        "id": cid,
        "paper": paper,
        "where": "Fig. 2",
        "statement": statement,
        "paper_value": 0.5 if paper == "A" else None,
        "measured": 0.25,
        "uncertainty": [0.125, 0.375] if verdict != "inconclusive" else None,
        "verdict": verdict,
        "rule": "reproduced if the interval lies above 0.1",
    }


def _write_run(
    root: Path,
    name: str,
    claims: list[dict[str, Any]],
    figures: dict[str, bytes],
    version: str | None = None,
) -> Path:
    run_dir = root / name
    (run_dir / "figures").mkdir(parents=True)
    for file, data in figures.items():
        (run_dir / "figures" / file).write_bytes(data)
    results = {
        "experiment": name,
        "scale": "quick",
        "seed": 0,
        "environment": {"smoothscope": version or smoothscope.__version__},
        "claims": claims,
        "measurements": {},
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


@pytest.fixture
def synthetic(tmp_path: Path, pngs) -> Path:
    """Two runs: a known experiment with a known figure, an unknown one with an odd figure."""
    root = tmp_path / "repro"
    _write_run(
        root,
        "nonsmoothness",
        [
            _claim("A.one", "A", "reproduced", "Outputs are <b>rough</b> & spiky"),
            _claim("A.two", "A", "not reproduced"),
        ],
        {"ellipsoid_histograms.png": pngs[0]},
    )
    _write_run(
        root,
        "mystery",
        [_claim("C.three", "C", "inconclusive", "<script>alert(1)</script>")],
        {"odd_figure_name.png": pngs[1], "broken.png": b"not a png"},
    )
    return root


def test_report_is_self_contained_and_escaped(synthetic: Path):
    result = build_report(synthetic)
    page = Path(result["report"]).read_text()
    assert Path(result["report"]) == synthetic / "report.html"
    assert len(result["claims"]) == 3
    # one file: no script, no external resource, figures inline
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count('src="data:image/png;base64,') == 2
    assert "broken.png is not a PNG file; skipped" in page
    # escaped text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Outputs are &lt;b&gt;rough&lt;/b&gt; &amp; spiky" in page
    # rows, verdict classes, captions, paper sections
    assert page.count('<tr class="claim"') == 3
    for cls in ("v-reproduced", "v-not-reproduced", "v-inconclusive"):
        assert f'class="verdict {cls}"' in page
    assert "Look at: the ReLU+MaxPool histogram" in page  # known caption
    assert "no caption is registered for odd_figure_name.png" in page  # generic caption
    for paper in "ABCD":
        assert f'<section id="paper-{paper}">' in page
    assert page.index('id="exp-nonsmoothness"') < page.index('id="paper-B"')
    assert page.index('id="paper-C"') < page.index('id="exp-mystery"') < page.index('id="paper-D"')
    assert "No experiment of this run covers this paper." in page


def test_verdict_counts():
    counts = verdict_counts(
        [_claim("a", "A", "reproduced"), _claim("b", "A", "inconclusive"), _claim("c", "C", "x")]
    )
    assert counts["A"] == {"reproduced": 1, "not reproduced": 0, "inconclusive": 1}
    assert counts["C"]["x"] == 1 and sum(counts["D"].values()) == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["environment"].update(smoothscope="0.0.9"), "written by smoothscope 0.0.9"),
        (lambda r: r["environment"].update(smoothscope="1.1.0"), "incompatible with"),
        (lambda r: r.pop("environment"), "missing environment"),
        (lambda r: r.pop("claims"), "missing claims"),
        (lambda r: r["claims"][0].pop("rule"), "lacks rule"),
        (lambda r: r["claims"][0].update(verdict="maybe"), "verdict 'maybe'"),
        (lambda r: r["claims"][0].update(measured="0.3"), "measured is str"),
        (lambda r: r["claims"][0].update(uncertainty=[1, 2, 3]), "uncertainty is not"),
        (lambda r: r["claims"][0].update(kind="guess"), "kind is 'guess'"),
        (lambda r: r["claims"][0].update(control={"id": "x"}), "control lacks"),
        (lambda r: r["claims"][0].update(replicates={"seeds": "3"}), "replicates is not"),
    ],
)
def test_incompatible_results_refused(synthetic: Path, edit, message, capsys):
    path = synthetic / "mystery" / "results.json"
    results = json.loads(path.read_text())
    edit(results)
    path.write_text(json.dumps(results))
    assert main(["report", str(synthetic)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("smoothscope: error:") and message in err
    assert not (synthetic / "report.html").exists()


def test_compatibility_rule():
    base = {
        "experiment": "x",
        "scale": "quick",
        "seed": 0,
        "claims": [],
        "measurements": {},
    }
    major, minor, *_ = smoothscope.__version__.split(".")
    assert check_results({**base, "environment": {"smoothscope": f"{major}.{minor}.99"}}, "p")
    # an explicit compatible schema is read whatever version wrote it
    assert check_results({**base, "environment": {"smoothscope": "9.9.9"}, "schema": 1}, "p")


def test_report_command(synthetic: Path, tmp_path: Path, capsys):
    assert main(["report", str(synthetic)]) == 0
    out = capsys.readouterr().out
    assert "A.one" in out and "C.three" in out and f"report: {synthetic / 'report.html'}" in out
    assert "A: 2 claim(s): 1 reproduced, 1 not reproduced, 0 inconclusive" in out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "expected a directory of reproduce results" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "found none" in capsys.readouterr().err


def test_reproduce_resumes(fake_experiment: str, tmp_path: Path):
    out = tmp_path / "out"
    first = reproduce(out=out, only=[fake_experiment], progress=False)
    assert CALLS == [2]  # quick scale
    assert first["experiments"][fake_experiment]["status"] == "ran"
    assert (out / fake_experiment / "results.json").is_file()
    page = Path(first["report"]).read_text()
    assert "A caption from the experiment module &lt;with markup &amp; more&gt;." in page
    assert page.count('<tr class="claim"') == 1

    second = reproduce(out=out, only=[fake_experiment], progress=False)
    assert CALLS == [2] and second["experiments"][fake_experiment]["status"] == "reused"

    # an interrupted run (config.json written, no results.json) is redone
    (out / fake_experiment / "results.json").unlink()
    third = reproduce(out=out, only=[fake_experiment], progress=False)
    assert CALLS == [2, 2] and third["experiments"][fake_experiment]["status"] == "ran"

    # another scale into the same folder is refused before anything runs
    with pytest.raises(smoothscope.SmoothscopeError, match="another experiment or config"):
        reproduce(out=out, only=[fake_experiment], scale="paper", progress=False)
    assert CALLS == [2, 2]


def test_reproduce_command(fake_experiment: str, tmp_path: Path, capsys):
    out = tmp_path / "out"
    argv = ["reproduce", "--only", fake_experiment, "--out", str(out), "--no-progress"]
    assert main([*argv, "--executor", "inprocess"]) == 0
    text = capsys.readouterr().out
    assert f"{fake_experiment}: ran" in text and "D.fake.claim" in text
    assert f"report: {out / 'report.html'}" in text
    assert main([*argv, "--executor", "inprocess"]) == 0
    assert f"{fake_experiment}: reused" in capsys.readouterr().out
    assert CALLS == [2]

    # results written by another version are refused with one line
    path = out / fake_experiment / "results.json"
    results = json.loads(path.read_text())
    assert results["schema"] == 3  # every run declares its results schema
    results["environment"]["smoothscope"] = "0.0.1"
    results.pop("schema")  # another version without a compatible schema
    path.write_text(json.dumps(results))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "written by smoothscope 0.0.1" in err
    assert CALLS == [2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reproduce", "--only", "nope"], "--only: expected experiments among"),
        (["reproduce", "--only", "blueshift,nope"], "got 'nope'"),
        (["reproduce", "--scale", "huge"], "huge"),
        (["reproduce", "--jobs", "0"], "0"),
        (["reproduce", "--executor", "kubernetes"], "kubernetes"),
    ],
)
def test_reproduce_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("smoothscope: error:") and message in err


def test_reproduce_bad_out(fake_experiment: str, tmp_path: Path, capsys):
    afile = tmp_path / "file"
    afile.write_text("")
    for out, message in ((afile, "expected a directory"), (afile / "sub", "writable directory")):
        assert main(["reproduce", "--only", fake_experiment, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["reproduce", "--only", fake_experiment, "--out", str(locked)]) == 2
        assert "writable directory" in capsys.readouterr().err
    assert CALLS == []


# ----------------------------------------------------------------------------- Chromium

_PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var div = document.createElement("div");
  div.id = "probe";
  div.textContent = "decoded=" + ok + " images=" + imgs.length +
    " rows=" + document.querySelectorAll("table.claims tbody tr").length;
  document.body.appendChild(div);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium not installed: apt-get install chromium")


def test_report_renders_in_headless_chromium(synthetic: Path, tmp_path: Path):
    chromium = _chromium()
    page = Path(build_report(synthetic)["report"]).read_text()
    assert "<script" not in page
    # a TEST copy with a probe script; the real report has none
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"))
    profile = tmp_path / "profile"
    profile.mkdir()
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r'id="probe">decoded=(\d+) images=(\d+) rows=(\d+)<', proc.stdout)
    assert match, proc.stdout[-2000:]
    decoded, images, rows = map(int, match.groups())
    assert (decoded, images, rows) == (2, 2, 3)


def test_kinds_controls_and_deviations_in_the_report(tmp_path: Path, pngs):
    root = tmp_path / "repro"
    paper = {
        **_claim("A.paper", "A", "reproduced"),
        "kind": "paper",
        "control": {
            "id": "A.paper/linear",
            "description": "a linear network: the rule must fail",
            "measured": 0.01,
            "uncertainty": [0.0, 0.02],
            "verdict": "not reproduced",
        },
        "replicates": {"trained models": 4, "videos": 8},
        "power": None,
    }
    extension = {**_claim("A.ext", "A", "reproduced"), "kind": "extension", "no_control": "n/a"}
    posthoc = {
        **_claim("A.late", "A", "inconclusive"),
        "kind": "post-hoc",
        "posthoc": "2026-11-30: added after the first run",
        "power": "needs >= 16 trained models (has 4) for the interval to exclude 2",
        "no_control": "none",
    }
    run_dir = _write_run(root, "nonsmoothness", [paper, extension, posthoc], {"a.png": pngs[0]})
    results = json.loads((run_dir / "results.json").read_text())
    results.update(schema=2, deviations={"n_models": 3}, data={"videos": "digits (embedded)"})
    (run_dir / "results.json").write_text(json.dumps(results))
    page = Path(build_report(root)["report"]).read_text()
    # tallies count paper claims only; the others are in their own groups
    counts = verdict_counts([paper, extension, posthoc])
    assert counts["A"] == {"reproduced": 1, "not reproduced": 0, "inconclusive": 0}
    assert verdict_counts([paper, extension, posthoc], "extension")["A"]["reproduced"] == 1
    assert 'id="claims-paper"' in page and 'id="claims-extension"' in page
    assert 'id="claims-post-hoc"' in page and "2026-11-30: added after the first run" in page
    assert "A.paper/linear" in page and "a linear network: the rule must fail" in page
    assert "over 4 trained models × 8 videos" in page
    assert "power: needs &gt;= 16 trained models" in page
    assert "quick (changed: n_models=3)" in page and "digits (embedded)" in page
    assert "no control: n/a" in page
