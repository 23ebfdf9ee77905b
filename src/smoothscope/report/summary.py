"""The terminal summary of ``run`` and ``reproduce``: the report's top in plain text.

Tallies per paper, then each claim that did not reproduce with its one-line cause
(:mod:`smoothscope.causes`), then the warnings (:mod:`smoothscope.report.evidence`): substituted
data, undertrained models, the scale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..causes import annotate_claims, claim_cause
from .evidence import run_warnings
from .loading import claim_kind, verdict_counts

__all__ = ["run_view", "summary_text"]

_TITLES = (
    ("paper", "verdicts per paper (paper claims only)"),
    ("extension", "extensions (the project's own questions)"),
    ("post-hoc", "post-hoc rules"),
)


def run_view(results: Mapping[str, Any]) -> dict[str, Any]:
    """The claims (each with its ``cause``) and warnings of one run (``results.json`` content
    with its ``run_dir``), as :func:`smoothscope.report.build_report` gives them for a
    folder."""
    run = dict(results)
    try:
        config = json.loads((Path(run["run_dir"]) / "config.json").read_text())
        run.setdefault("config", config.get("config", {}))
    except (KeyError, OSError, ValueError, AttributeError):
        run.setdefault("config", {})
    claims = [dict(c, cause=claim_cause(c)) for c in annotate_claims([run])]
    return {"claims": claims, "warnings": run_warnings([run])}


def summary_text(claims: Sequence[Mapping[str, Any]], warnings: Sequence[str] = ()) -> str:
    """Tallies, the claims that did not reproduce with their cause (one line each), then the
    warnings. ``claims`` carry ``cause`` (as :func:`run_view` and ``build_report`` give)."""
    lines: list[str] = []
    for kind, title in _TITLES:
        counts = verdict_counts(claims, kind)
        if kind != "paper" and not any(sum(r.values()) for r in counts.values()):
            continue
        lines.append(f"{title}:")
        for paper, row in counts.items():
            total = sum(row.values())
            if not total:
                continue
            parts = ", ".join(f"{n} {verdict}" for verdict, n in row.items())
            lines.append(f"  {paper}: {total} claim(s): {parts}")
    failed = [c for c in claims if c["verdict"] != "reproduced"]
    failed.sort(key=lambda c: (claim_kind(c) != "paper", str(c["paper"]), c["id"]))
    if failed:
        width = max(len(str(c["id"])) for c in failed)
        lines.append(f"\nnot reproduced ({len(failed)}), with the cause:")
        for c in failed:
            kind = "" if claim_kind(c) == "paper" else f"  [{claim_kind(c)}]"
            cause = c.get("cause") or claim_cause(c) or "—"
            lines.append(f"  {str(c['id']).ljust(width)}  {c['verdict']:<14}  {cause}{kind}")
    else:
        lines.append("\nevery claim reproduced")
    if warnings:
        lines.append(f"\nwarnings ({len(warnings)}):")
        lines += [f"  {w}" for w in warnings]
    return "\n".join(lines)
