"""The HTML report: finished runs in, one self-contained page out (jinja2 templates under
``templates/``, autoescaped; inline CSS, figures embedded as base64 PNG data URIs, no script and
no external resource).

The page opens with what a reader needs in one minute: per paper the tallies, the claims that
did not reproduce with their one-line cause (:mod:`smoothscope.causes`), the banners of
:mod:`smoothscope.report.evidence` (substituted data, undertrained models, the scale) and a table
of contents of experiments and figures. Each experiment then shows its claims (verdict, value
with interval and unit, the paper's value and the cause in view; statement, rule, control,
replicates, power note and ``depends_on`` in a ``<details>`` per claim), its "protocol vs
paper" ledger and its figures with the captions the experiment declares
(:class:`smoothscope.experiments.Figure`). A figure file that its experiment does not declare
is shown with a visible "undeclared figure" note: it is a defect of the experiment.

The report only displays verdicts: they are decided by rules fixed in the experiments' code.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._errors import SmoothscopeError
from .._io import atomic_write_bytes
from ..causes import annotate_claims, claim_cause
from ..experiments import get_experiment
from ..results import VERDICTS
from .claim_view import claim_view, figure_anchor
from .evidence import run_warnings, scale_note, substitutions, undertrained
from .loading import EXPERIMENT_PAPERS, PAPERS, claim_kind, collect_runs, paper_of, verdict_counts

__all__ = ["REPORT_FILE", "build_report", "render_report"]

REPORT_FILE = "report.html"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KIND_TITLES: dict[str, str] = {
    "paper": "Paper claims",
    "extension": "Extensions: the project's own questions, not in the tallies",
    "post-hoc": "Post-hoc rules: added after results had been seen, not in the tallies",
}


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("smoothscope.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _scale_text(run: Mapping[str, Any]) -> str:
    """The scale, with the exact config fields that ``--set`` changed from it."""
    deviations = run.get("deviations")
    text = str(run["scale"])
    if isinstance(deviations, Mapping) and deviations:
        changed = ", ".join(
            f"{k}={json.dumps(v, default=str)}" for k, v in sorted(deviations.items())
        )
        text += f" (changed: {changed})"
    return text


def _figures(run: Mapping[str, Any], spec: Any) -> list[dict[str, Any]]:
    """The run's PNG figures, declared ones first in the order the experiment declares them,
    each with its caption (or ``undeclared``), anchor and data URI."""
    folder = Path(run["run_dir"]) / "figures"
    found = {p.name: p for p in folder.glob("*.png") if p.is_file()} if folder.is_dir() else {}
    declared = {f.file: f for f in spec.figures} if spec is not None else {}
    order = [n for n in declared if n in found] + sorted(n for n in found if n not in declared)
    out = []
    for name in order:
        data = found[name].read_bytes()
        fig = declared.get(name)
        out.append(
            {
                "file": name,
                "anchor": figure_anchor(str(run["experiment"]), name),
                "caption": fig.caption if fig is not None else "",
                "declared": fig,
                "uri": (
                    "data:image/png;base64," + base64.b64encode(data).decode("ascii")
                    if data.startswith(_PNG_SIGNATURE)
                    else ""
                ),
                "claims": [],
            }
        )
    return out


def _protocol_rows(run: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    protocol = run.get("protocol")
    if not isinstance(protocol, list):
        return None

    def show(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)

    return [
        {
            "field": str(e.get("field")),
            "value": show(e.get("value")),
            "paper": show(e.get("paper")),
            "deviates": bool(e.get("deviates")),
            "replicate": bool(e.get("replicate")),
            "reason": str(e.get("reason") or ""),
            "source": str(e.get("source") or ""),
        }
        for e in protocol
        if isinstance(e, Mapping)
    ]


def _experiment_view(run: Mapping[str, Any], claims: Sequence[Mapping[str, Any]]) -> dict:
    name = str(run["experiment"])
    try:
        spec = get_experiment(name)
    except SmoothscopeError:
        spec = None
    figures = _figures(run, spec)
    views = []
    for c in claims:
        shown = [f for f in figures if f["declared"] is not None and f["declared"].shows(c["id"])]
        view = claim_view(c, [(f["anchor"], f["file"]) for f in shown])
        for f in shown:
            f["claims"].append({"id": view["id"], "anchor": view["anchor"]})
        views.append(view)
    groups = [
        {"kind": kind, "title": title, "claims": [v for v in views if v["kind"] == kind]}
        for kind, title in KIND_TITLES.items()
    ]
    protocol = _protocol_rows(run)
    env = run["environment"] if isinstance(run["environment"], dict) else {}
    return {
        "name": name,
        "anchor": f"exp-{name}",
        "description": spec.description if spec is not None else "",
        "scale": _scale_text(run),
        "seed": run["seed"],
        "n_claims": len(claims),
        "data": [(str(k), str(v)) for k, v in (run.get("data") or {}).items()],
        "groups": [g for g in groups if g["claims"]],
        "protocol": protocol,
        "deviating": [r["field"] for r in protocol or () if r["deviates"]],
        "figures": figures,
        "environment": ", ".join(f"{k} {v}" for k, v in env.items()),
        "folder": Path(run["run_dir"]).name + "/",
    }


def _by_cause(failed: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The claims that did not reproduce, grouped by verdict and cause (not reproduced
    first), so that a paper's summary says in a few lines what failed and why."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for v in failed:
        groups.setdefault((v["verdict"], v["cause"]), []).append(v)
    order = sorted(groups, key=lambda k: (k[0] != "not reproduced", k[1] != "disagreement", k))
    return [{"verdict": k[0], "cause": k[1], "claims": groups[k]} for k in order]


def _cause_counts(failed: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """How many claims did not reproduce for each kind of cause (``deviation`` whatever its
    fields), most frequent first."""
    counts: dict[str, int] = {}
    for v in failed:
        kind = str(v["cause"]).split(" (")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _by_experiment(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Undertrained models grouped by experiment (one banner line each)."""
    out: dict[str, dict[str, Any]] = {}
    for u in items:
        out.setdefault(u.experiment, {"experiment": u.experiment, "chance": u.chance, "models": []})
        out[u.experiment]["models"].append(u)
    return list(out.values())


def _context(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    from .._version import __version__

    by_paper: dict[str, list[Mapping[str, Any]]] = {p: [] for p in PAPERS}
    known = list(EXPERIMENT_PAPERS)
    for run in sorted(
        runs, key=lambda r: known.index(r["experiment"]) if r["experiment"] in known else 99
    ):
        by_paper.setdefault(paper_of(run), []).append(run)
    claims = annotate_claims(runs)
    counts = verdict_counts(claims)
    papers = []
    for paper, paper_runs in by_paper.items():
        experiments = []
        for run in paper_runs:
            own = [c for c in claims if c["experiment"] == run["experiment"]]
            own.sort(key=lambda c: (list(KIND_TITLES).index(claim_kind(c)), c["id"]))
            experiments.append(_experiment_view(run, own))
        views = {v["id"]: v for e in experiments for g in e["groups"] for v in g["claims"]}
        failed = [v for v in views.values() if v["verdict"] != "reproduced"]
        failed.sort(key=lambda v: (v["kind"] != "paper", v["id"]))
        others = {
            kind: sum(1 for c in claims if c["paper"] == paper and claim_kind(c) == kind)
            for kind in KIND_TITLES
            if kind != "paper"
        }
        papers.append(
            {
                "letter": paper,
                "title": PAPERS.get(paper, "experiments of no known paper"),
                "counts": counts.get(paper, dict.fromkeys(VERDICTS, 0)),
                "total": sum(counts.get(paper, {}).values()),
                "others": {k: n for k, n in others.items() if n},
                "failed": failed,
                "failed_groups": _by_cause(failed),
                "why_not": _cause_counts([v for v in failed if v["kind"] == "paper"]),
                "substitutions": [s for run in paper_runs for s in substitutions(run)],
                "undertrained": _by_experiment(
                    [u for run in paper_runs for u in undertrained(run)]
                ),
                "experiments": experiments,
            }
        )
    return {
        "version": __version__,
        "n_runs": len(runs),
        "verdicts": VERDICTS,
        "scale_note": scale_note(runs),
        "papers": papers,
        "substitutions": [s for p in papers for s in p["substitutions"]],
        "undertrained": [g for p in papers for g in p["undertrained"]],
    }


def render_report(runs: Sequence[Mapping[str, Any]]) -> str:
    """The HTML of the report for ``runs`` (``results.json`` contents, each with its
    ``run_dir``; one run per experiment)."""
    return _environment().get_template("report.html.j2").render(_context(runs))


def write_report(out: Path, runs: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``out/report.html`` atomically."""
    path = out / REPORT_FILE
    try:
        atomic_write_bytes(path, render_report(runs).encode("utf-8"))
    except OSError as exc:
        raise SmoothscopeError(f"report: cannot write {path} ({exc})") from exc
    return path


def build_report(out: str | os.PathLike) -> dict[str, Any]:
    """Rebuild ``out/report.html`` from the runs under ``out`` without running anything.

    Returns:
        ``{"out", "report", "runs": {name: run_dir}, "claims": [...], "warnings": [...]}``:
        the claims of every run, each with its ``experiment`` and ``cause``
        (:func:`smoothscope.causes.claim_cause`), and the banners as one-line warnings
        (:func:`smoothscope.report.evidence.run_warnings`).

    Raises:
        SmoothscopeError: no run, an incompatible run, two runs of one experiment, or an
            unwritable report.
    """
    out = Path(out)
    runs = collect_runs(out)
    path = write_report(out, runs)
    claims = [dict(c, cause=claim_cause(c)) for c in annotate_claims(runs)]
    return {
        "out": str(out),
        "report": str(path),
        "runs": {r["experiment"]: r["run_dir"] for r in runs},
        "claims": claims,
        "warnings": run_warnings(runs),
    }
