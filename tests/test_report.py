"""`reproduce` and the HTML report: resume, bad input, self-containment, the top of the page
(tallies, causes, banners, contents), claims with units and anchors, the terminal summary, and
the layout in headless Chromium at 1,280 and 1,920 px (issue 26)."""

from __future__ import annotations

import html
import importlib.util
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import markupsafe
import pytest

import smoothscope
from _chromium import layout_problems, probe_layout
from smoothscope.cli import main
from smoothscope.experiments import _base, available_experiments, get_experiment, run_experiment
from smoothscope.experiments._base import ExperimentConfig, ExperimentSpec, Figure
from smoothscope.report import (
    build_report,
    check_results,
    reproduce,
    summary_text,
    unit_of,
    verdict_counts,
)
from smoothscope.results import Claim

HERE = Path(__file__).parent
FAKE = "zz-fake-report-test"
FAKE_CAPTION = "A caption from the experiment module <with markup & more>."
CALLS: list[int] = []
FAKE_PNG: list[bytes] = []  # the figure the fake experiment writes


def _png(color: str, size: tuple[float, float] = (1.0, 0.8), dpi: int = 40) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    ax.plot([0, 1, 2], [0, 1, 0], color=color)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
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
    failed = Claim(
        id="D.fake.failed",
        paper="D",
        where="Fig. 2",
        statement="A fake claim that fails",
        paper_value=None,
        measured=-1.0,
        uncertainty=(-2.0, -0.5),
        verdict="not reproduced",
        rule="interval above 0",
        depends_on=(),
    )
    return {
        "claims": [claim, failed],
        "measurements": {
            "figures": [str(figures / "fake.png")],
            "networks": [{"architecture": "tinynet", "seed": 0, "test_error": 0.8}],
            "chance_error": 0.9,
        },
        "data": {"images": "digits (embedded)"},
    }


@pytest.fixture
def fake_experiment(monkeypatch, pngs):
    """Register a trivial experiment (removed again after the test)."""
    figure = Figure("fake.png", FAKE_CAPTION, claims=("D.fake.*",))
    monkeypatch.setitem(
        _base._EXPERIMENTS,
        FAKE,
        ExperimentSpec(FAKE, "a fake experiment for the tests", FakeConfig, fake_run, (figure,)),
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
    folder: str | None = None,
    config: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    run_dir = root / (folder or name)
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
        **extra,
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    if config is not None:
        (run_dir / "config.json").write_text(
            json.dumps({"experiment": name, "scale": "quick", "config": config})
        )
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


def _links_resolve(page: str) -> list[str]:
    """Internal links whose target id does not exist."""
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    return [h for h in re.findall(r'href="#([^"]+)"', page) if html.unescape(h) not in ids]


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
    assert "Figure broken.png is not a PNG file; skipped." in page
    # escaped text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Outputs are &lt;b&gt;rough&lt;/b&gt; &amp; spiky" in page
    # rows, verdict classes, captions from the experiment, paper sections
    assert page.count('<tr class="claim head"') == 3
    for cls in ("v-reproduced", "v-not-reproduced", "v-inconclusive"):
        assert f'class="verdict {cls}"' in page
    caption = get_experiment("nonsmoothness").figure("ellipsoid_histograms.png").caption
    assert str(markupsafe.escape(caption)) in page
    assert "Undeclared figure: experiment mystery does not declare odd_figure_name.png" in page
    assert "no caption is registered" not in page  # no fallback caption any more
    for paper in "ABCD":
        assert f'<section id="paper-{paper}" class="paper">' in page
    assert page.index('id="exp-nonsmoothness"') < page.index('id="paper-B"')
    assert page.index('id="paper-C"') < page.index('id="exp-mystery"') < page.index('id="paper-D"')
    assert "No experiment of this run covers this paper." in page
    assert not _links_resolve(page)


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
        (lambda r: r["claims"][0].update(depends_on="epochs"), "depends_on is not"),
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
    assert f"report: {synthetic / 'report.html'}" in out
    assert "A: 2 claim(s): 1 reproduced, 1 not reproduced, 0 inconclusive" in out
    # tallies, then each claim that did not reproduce with its cause, one line each
    assert re.search(r"not reproduced \(2\), with the cause:\n", out)
    assert re.search(r"\n  A\.two +not reproduced +protocol not recorded\n", out)
    assert re.search(r"\n  C\.three +inconclusive +undecided\n", out)
    assert "A.one" not in out  # reproduced claims are in the report, not in the summary
    assert "scale: Scale quick (every experiment): quick decides only the large effects" in out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "expected a directory of reproduce results" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "found none" in capsys.readouterr().err


def test_two_runs_of_one_experiment_are_refused(tmp_path: Path, pngs, capsys):
    root = tmp_path / "repro"
    for folder in ("stability", "stability-copy"):
        _write_run(root, "stability", [_claim("B.x", "B", "reproduced")], {}, folder=folder)
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "two runs of one experiment (stability in stability/, stability-copy/)" in err
    assert not (root / "report.html").exists()


def test_reproduce_resumes(fake_experiment: str, tmp_path: Path):
    out = tmp_path / "out"
    first = reproduce(out=out, only=[fake_experiment], progress=False)
    assert CALLS == [2]  # quick scale
    assert first["experiments"][fake_experiment]["status"] == "ran"
    assert (out / fake_experiment / "results.json").is_file()
    page = Path(first["report"]).read_text()
    assert "A caption from the experiment module &lt;with markup &amp; more&gt;." in page
    assert page.count('<tr class="claim head"') == 2
    # the figure links to the claims it shows, each claim to its figure
    assert '<a href="#claim-D.fake.claim">D.fake.claim</a>' in page
    assert f'<a href="#fig-{fake_experiment}-fake">fake.png</a>' in page
    assert not _links_resolve(page)

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
    captured = capsys.readouterr()
    text = captured.out
    assert f"{fake_experiment}: ran" in text and f"report: {out / 'report.html'}" in text
    # the summary: tallies, then the claim that did not reproduce with its cause
    assert "D: 2 claim(s): 1 reproduced, 1 not reproduced, 0 inconclusive" in text
    assert re.search(r"\n  D\.fake\.failed +not reproduced +disagreement\n", text)
    # warnings at the end (the run's substitution and undertrained model) ...
    assert f"data: {fake_experiment}: used scikit-learn's 8×8 digits" in text
    assert f"undertrained: {fake_experiment}: tinynet: test error 0.80 (1 of 1 trained)" in text
    assert "chance level 0.90" in text
    # ... and at the start (what is known before running: the scale)
    assert "warning: scale: every experiment at scale quick" in captured.err
    assert main([*argv, "--executor", "inprocess"]) == 0
    captured = capsys.readouterr()
    assert f"{fake_experiment}: reused" in captured.out
    # a reused run's undertrained model is known at the start too
    assert f"warning: undertrained: {fake_experiment}: tinynet" in captured.err
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
    for out in (afile, afile / "sub"):
        assert main(["reproduce", "--only", fake_experiment, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--out" in err and str(afile) in err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["reproduce", "--only", fake_experiment, "--out", str(locked)]) == 2
        assert "writable directory" in capsys.readouterr().err
    assert CALLS == []


# ----------------------------------------------------------------------------- the page's top

LEDGER = [
    {
        "field": "epochs",
        "value": 3,
        "paper": 30,
        "source": "B §2",
        "deviates": True,
        "reason": "quick: minutes on a laptop",
        "replicate": False,
    },
    {
        "field": "seeds",
        "value": 3,
        "paper": 5,
        "source": "B §2",
        "deviates": True,
        "reason": "quick",
        "replicate": True,
    },
    {
        "field": "dataset",
        "value": "digits",
        "paper": "cifar10",
        "source": "B §2 (CIFAR-10)",
        "deviates": True,
        "reason": "no CIFAR-10 file found",
        "replicate": False,
    },
    {
        "field": "lr",
        "value": 0.001,
        "paper": 0.001,
        "source": "B App. A",
        "deviates": False,
        "reason": None,
        "replicate": False,
    },
]


def _stability_run(root: Path, pngs) -> Path:
    def claim(cid: str, verdict: str, depends: list[str], measured: float = -2.09) -> dict:
        return {
            **_claim(cid, "B", verdict, f"statement of {cid}"),
            "measured": measured,
            "uncertainty": [-2.43, -1.54],
            "kind": "paper",
            "depends_on": depends,
            "no_control": "an analytic rule",
            "replicates": {"networks": 15},
            "power": "needs >= 40 networks" if verdict == "inconclusive" else None,
        }

    claims = [
        dict(claim("B.training_D", "reproduced", ["epochs"]), unit="ln ratio (declared)"),
        claim("B.training_G", "not reproduced", ["epochs", "lr"]),
        claim("B.fig3.shuffling_raises_R", "not reproduced", ["lr", "seeds"]),
        claim("B.fig1.error_vs_D", "inconclusive", ["epochs"], measured=-0.41),
    ]
    networks = [
        {"architecture": "vgg11", "seed": s, "test_error": e, "init_test_error": 0.877}
        for s, e in enumerate((0.82, 0.86, 0.877))
    ] + [{"architecture": "lenet", "seed": 0, "test_error": 0.12, "init_test_error": 0.9}]
    return _write_run(
        root,
        "stability",
        claims,
        {"R_vs_depth.png": pngs[0], "error_vs_sensitivity.png": pngs[1]},
        config={"dataset": "auto"},
        schema=3,
        protocol=LEDGER,
        data={"training": "digits (embedded)"},
        measurements={"networks": networks, "chance_error": 0.9},
    )


def test_top_of_the_page_causes_banners_and_contents(tmp_path: Path, pngs):
    root = tmp_path / "repro"
    _stability_run(root, pngs)
    result = build_report(root)
    page = Path(result["report"]).read_text()
    top = page[: page.index('<section id="paper-A"')]
    summary = page[page.index('id="summary-B"') : page.index('id="exp-stability"')]
    # the tallies and contents at the top: papers, experiments, figures
    assert 'href="#paper-B"' in top and 'href="#exp-stability"' in top
    assert 'href="#fig-stability-R_vs_depth">R_vs_depth.png' in top
    assert "quick decides only the large effects; see standard" in top
    # the summary of paper B: the claims that did not reproduce, grouped by their cause (the
    # one that disagrees with the paper first), each a link to its row
    groups = re.findall(
        r'<li><span class="verdict [^"]+">([^<]+)</span> <span class="cause[^"]*">'
        r"([^<]+)</span> \((\d+)\): (.*?)</li>",
        summary,
    )
    assert [(v, cause, n) for v, cause, n, _ in groups] == [
        ("not reproduced", "disagreement", "1"),
        ("not reproduced", "deviation (epochs)", "1"),
        ("inconclusive", "undecided", "1"),
    ]
    # a deviating replicate count does not make a deviation: the claim disagrees
    assert '<a href="#claim-B.fig3.shuffling_raises_R"><code>' in groups[0][3]
    assert '<a href="#claim-B.training_G"><code>B.training_G</code></a>' in groups[1][3]
    assert "B.fig1.error_vs_D" in groups[2][3]
    assert "B.training_D</code></a>" not in summary
    # at the top: why each paper's claims did not reproduce, and the banners: the data used
    # against the paper's with what to install, the undertrained models with the chance level
    assert re.search(r"1 deviation</a> · <a [^>]+>1 disagreement</a> · <a [^>]+>1 undecided", top)
    assert "<b>stability</b>: used dataset = digits instead of cifar10 (no CIFAR-10" in top
    assert "put cifar-10-binary.tar.gz" in top
    assert "<b>stability</b> (chance level 0.90): vgg11 test error 0.82–0.88 (3 of 3" in top
    assert "no better than at initialisation, 0.88)" in top
    assert "lenet" not in top
    # the paper's summary points at them
    assert 'href="#banner-data">data substituted</a> (stability)' in summary
    assert 'href="#banner-training">undertrained models</a> (stability)' in summary
    # the same in the terminal warnings
    warnings = "\n".join(result["warnings"])
    assert "data: stability: used dataset = digits instead of cifar10" in warnings
    assert "undertrained: stability: vgg11: test error 0.82–0.88 (3 of 3 trained)" in warnings
    causes = {c["id"]: c["cause"] for c in result["claims"]}
    assert causes["B.training_G"] == "deviation (epochs)" and causes["B.training_D"] == ""
    text = summary_text(result["claims"], result["warnings"])
    assert re.search(r"\n  B\.training_G +not reproduced +deviation \(epochs\)\n", text)
    # the protocol vs paper table of the run's ledger
    assert "3 of 4 field(s) deviate from the paper: epochs, seeds, dataset" in page
    assert '<tr class="dev"><td><code>epochs</code></td><td>3</td><td>30</td>' in page
    assert not _links_resolve(page)


def test_claim_rows_value_interval_unit_cause_and_details(tmp_path: Path, pngs):
    root = tmp_path / "repro"
    _stability_run(root, pngs)
    page = Path(build_report(root)["report"]).read_text()
    row = page[page.index('id="claim-B.training_G"') :]
    row = row[: row.index("</tbody>")]
    head, more = row.split('<tr class="more">')
    # in view: verdict, value with interval and unit, the paper's value, the cause, the figure
    assert "not reproduced" in head and "−2.09 <span" in head and "[−2.43, −1.54]" in head
    assert "ln ratio (natural log of a ratio) = ×0.124" in head
    assert "qualitative" in head and "deviation (epochs)" in head
    # expandable: statement, rule, control, replicates, power note, depends_on
    assert "<details" in more and "<summary>statement of B.training_G</summary>" in more
    assert "reproduced if the interval lies above 0.1" in more
    assert "no control: an analytic rule" in more and "over 15 networks" in more
    assert "epochs, lr; deviating in this run: epochs" in more
    inconclusive = page[page.index('id="claim-B.fig1.error_vs_D"') :]
    assert "power: needs &gt;= 40 networks" in inconclusive[: inconclusive.index("</tbody>")]
    # a unit the claim declares wins over the report's table
    declared = page[page.index('id="claim-B.training_D"') :]
    assert "ln ratio (declared) = ×0.124" in declared[: declared.index("</tbody>")]
    assert unit_of("B.fig1.error_vs_D").name == "Spearman ρ"
    assert unit_of("B.fig1.error_vs_D/untrained").name == "Spearman ρ"  # a control's unit
    assert unit_of("Z.unknown") is None


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
    assert 'id="claims-nonsmoothness-paper"' in page
    assert 'id="claims-nonsmoothness-extension"' in page
    assert 'id="claims-nonsmoothness-post-hoc"' in page
    assert "2026-11-30: added after the first run" in page
    assert "A.paper/linear" in page and "a linear network: the rule must fail" in page
    assert "over 4 trained models × 8 videos" in page
    assert "power: needs &gt;= 16 trained models" in page
    assert "quick (changed: n_models=3)" in page and "digits (embedded)" in page
    assert "no control: n/a" in page
    assert "not recorded (results older than schema 3)" in page  # depends_on of schema 2
    assert "No protocol ledger recorded (results older than schema 3)." in page
    assert "Undeclared figure: experiment nonsmoothness does not declare a.png" in page


# ----------------------------------------------------------------------------- Chromium


@pytest.fixture(scope="module")
def full_synthetic(tmp_path_factory, pngs) -> Path:
    """A report as large as a real one: 4 papers, 90 claims with long ids, statements and
    causes, wide figures, long ledgers, every banner."""
    root = tmp_path_factory.mktemp("full")
    wide = _png("tab:green", size=(22, 4.2), dpi=120)  # 2,640 px, as fig8_propagation was
    long = "a rather long sentence that a statement or a rule may hold, " * 4
    for paper, name in zip(
        "ABCD", ("nonsmoothness", "stability", "blueshift", "regularity"), strict=True
    ):
        claims = []
        for i in range(22):
            verdict = ("reproduced", "not reproduced", "inconclusive")[i % 3]
            claims.append(
                {
                    **_claim(f"{paper}.fig{i}.a_very_long_claim_identifier_{i}", paper, verdict),
                    "statement": long,
                    "rule": long * 2,
                    "kind": "paper",
                    "measured": -123456.789,
                    "uncertainty": [-1.5e-7, 3.25e12],
                    "depends_on": ["epochs", "a_field_with_a_long_name", "another_long_field"],
                    "replicates": {"trained networks": 15, "videos": 100},
                }
            )
        ledger = [
            {
                "field": f"{f}_field_with_a_long_name",
                "value": list(range(40)),
                "paper": "a paper value in words (tanh: 200, relu: 500)",
                "source": "B §4.3; UmbertoTomasini/scale_detection_1d ScaleDetection_SGD.py",
                "deviates": True,
                "reason": long,
                "replicate": False,
            }
            for f in ("epochs", "a", "another")
        ] + [dict(LEDGER[2])]
        _write_run(
            root,
            name,
            claims,
            {"wide_figure_" + "x" * 40 + ".png": wide, "small.png": pngs[0]},
            config={"dataset": "auto"},
            schema=3,
            protocol=ledger,
            data={"training": "digits (embedded)"},
            measurements={
                "networks": [
                    {"architecture": f"vgg11-{k}", "seed": 0, "test_error": 0.86} for k in range(4)
                ],
                "chance_error": 0.9,
            },
        )
    build_report(root)
    return root / "report.html"


@pytest.mark.parametrize("width", [1280, 1920])
def test_layout_of_a_full_report_in_chromium(full_synthetic: Path, width: int, tmp_path: Path):
    measured = probe_layout(full_synthetic, width, tmp_path)
    assert measured["claims"] == 88 and measured["decoded"] == measured["images"] == 8
    assert not layout_problems(measured, width)


def test_report_renders_in_headless_chromium(synthetic: Path, tmp_path: Path):
    page = Path(build_report(synthetic)["report"])
    measured = probe_layout(page, 1280, tmp_path)
    assert (measured["decoded"], measured["images"], measured["claims"]) == (2, 2, 3)
    assert not layout_problems(measured, 1280)


def _tiny_options(name: str) -> dict[str, Any]:
    """The tiny configs of tests/test_determinism.py (the TINY dicts of tests/experiments)."""
    spec = importlib.util.spec_from_file_location("_determinism", HERE / "test_determinism.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._tiny_options(name)


FAST = ("regularity", "stability")
"""Experiments whose tiny runs take seconds: their real report is checked in every test run;
the report of every registered experiment is checked with ``-m slow``."""


def _real_report(root: Path, names) -> Path:
    for name in names:
        run_experiment(
            name, scale="quick", out=root / name, options=_tiny_options(name), progress=False
        )
    return Path(build_report(root)["report"])


def _check_real_report(page: Path, names, tmp_path: Path) -> None:
    text = page.read_text()
    # every figure declared with its caption, every value with its unit, every link resolves
    assert "Undeclared figure" not in text, re.findall(r"does not declare (\S+)", text)
    assert "unit not declared" not in text, re.findall(
        r'id="claim-([^"]+)"[^§]*?unit not declared', text
    )
    assert not _links_resolve(text)
    for name in names:
        assert f'id="exp-{name}"' in text
    for width in (1280, 1920):
        measured = probe_layout(page, width, tmp_path)
        assert measured["claims"] > 0 and measured["decoded"] == measured["images"]
        assert not layout_problems(measured, width), width


def test_real_report_of_tiny_runs(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    page = _real_report(tmp_path / "repro", FAST)
    _check_real_report(page, FAST, tmp_path)


@pytest.mark.slow
def test_real_report_of_every_registered_experiment(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    names = [s.name for s in available_experiments()]
    page = _real_report(tmp_path / "repro", names)
    _check_real_report(page, names, tmp_path)


def test_profile_card_comes_from_an_autoescaped_template():
    from types import SimpleNamespace

    from smoothscope.profiling.card import render_card

    layers = [{"layer": "conv<1>", "peak_share": 0.5, "peak_share_se": 0.1}]
    profile = SimpleNamespace(
        model="<b>net</b> & co",
        inputs="digits",
        seed=0,
        layers=["conv<1>"],
        lenses={"A": {"applies": True, "layers": layers}, "D": {"applies": False, "reason": "1-D"}},
        seconds={"A": 1.25},
        notes=["a <note>"],
    )
    page = render_card([profile])
    assert "<script" not in page and "<style>" in page and "max-width: 75em" in page
    assert "Profile card: &lt;b&gt;net&lt;/b&gt; &amp; co" in page
    assert (
        "<code>conv&lt;1&gt;</code>" in page
        and "&lt;b&gt;net&lt;/b&gt; &amp; co: a &lt;note&gt;" in page
    )
    assert "does not apply — 1-D" in page and page.count('src="data:image/png;base64,') == 1
