#!/usr/bin/env python
"""Regenerate a markdown table of claims and per-paper tallies from a ``reproduce`` folder.

Usage::

    python scripts/results_table.py runs/reproduce-standard-seed0 \\
        --baseline runs/reproduce-quick-seed0 [--digits runs/reproduce-standard-digits] \\
        --out docs/results-standard.md
    python scripts/results_table.py runs/reproduce-standard-seed0 --section tallies  # README

The input is what ``smoothscope reproduce --out DIR`` writes: ``DIR/<experiment>/results.json``
(and ``config.json``). Nothing is computed again and nothing is edited by hand: the output says
which folder and which command produced it.

Every claim that is not reproduced here gets a *cause* (:mod:`smoothscope.causes`):
``deviation (fields)`` when a field it depends on deviates from the paper in the run's protocol
ledger; ``control also passes`` or ``disagreement`` only when every such field is at the paper's
value (the first when the measurement passes its rule and its control passes too);
``undecided`` when inconclusive. With ``--baseline`` (the same reproduce at another scale,
normally quick), a claim reproduced here but not there gets ``scale``, ``data``,
``scale + data`` or ``scale or data`` (``--digits``: this scale run on the embedded digits
tells scale from data). Each experiment's ledger is printed as a "protocol vs paper" table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smoothscope._errors import SmoothscopeError
from smoothscope.causes import annotate_claims, claim_cause
from smoothscope.report import PAPERS, claim_kind, verdict_counts
from smoothscope.report.loading import collect_runs
from smoothscope.results import VERDICTS

SECTIONS = ("all", "tallies", "claims")


def load_runs(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every ``<experiment>/results.json`` under ``folder``, checked as the report checks them
    (:func:`smoothscope.report.loading.collect_runs`: a folder with two runs of one experiment
    is refused, their claims would be counted twice), sorted by experiment, each with
    ``run_dir`` and ``wall_s`` (``config.json`` to ``results.json`` modification times: the last
    session of a resumed run)."""
    root = Path(folder)
    if not root.is_dir():
        raise SmoothscopeError(f"run folder: expected a reproduce output folder, got {str(root)!r}")
    runs = []
    for results in collect_runs(root):
        run_dir = Path(results["run_dir"])
        config = run_dir / "config.json"
        results["wall_s"] = (
            (run_dir / "results.json").stat().st_mtime - config.stat().st_mtime
            if config.is_file()
            else None
        )
        runs.append(results)
    return runs


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(x: Any) -> str:
    if x is None:
        return "—"
    try:
        return f"{float(x):.3g}"
    except (TypeError, ValueError):
        return _cell(x)


def _interval(u: Any) -> str:
    return "—" if u is None else f"[{_num(u[0])}, {_num(u[1])}]"


def machine() -> str:
    """This machine in words: CPU model, logical CPUs, OS."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def tallies_table(claims: Sequence[Mapping[str, Any]]) -> str:
    """Markdown tallies per paper over paper claims, then the other kinds as one line."""
    rows = ["| paper | claims | " + " | ".join(VERDICTS) + " |", "|---|---:|" + "---:|" * 3]
    for paper, counts in verdict_counts(claims).items():
        total = sum(counts.values())
        if total == 0 and paper not in PAPERS:
            continue
        cells = " | ".join(str(counts.get(v, 0)) for v in VERDICTS)
        rows.append(f"| {paper} ({_cell(PAPERS.get(paper, paper))}) | {total} | {cells} |")
    total = verdict_counts(claims)
    sums = [sum(row.get(v, 0) for row in total.values()) for v in VERDICTS]
    rows.append(
        f"| **all papers** | **{sum(sums)}** | " + " | ".join(f"**{n}**" for n in sums) + " |"
    )
    others = [c for c in claims if claim_kind(c) != "paper"]
    if others:
        by_kind: dict[str, dict[str, int]] = {}
        for c in others:
            row = by_kind.setdefault(claim_kind(c), dict.fromkeys(VERDICTS, 0))
            row[c["verdict"]] += 1
        parts = [
            f"{kind}: {sum(row.values())} ({', '.join(f'{n} {v}' for v, n in row.items())})"
            for kind, row in sorted(by_kind.items())
        ]
        rows.append("")
        rows.append("Not counted above (not claims of the papers): " + "; ".join(parts) + ".")
    return "\n".join(rows)


def cost_note(power: str, wall_s: float | None) -> str:
    """What deciding an inconclusive claim would cost: the factor on the replicates that its
    power note asks for, and that factor times the experiment's wall time (an upper bound when
    only part of the experiment scales with those replicates)."""
    match = re.search(r"needs >= (\d+) (.*) \(has (\d+)\)", power)
    if not match or int(match.group(3)) == 0:
        return ""
    if "layer" in match.group(2):
        return " (more layers means a deeper network: another protocol, not a longer run)"
    factor = int(match.group(1)) / int(match.group(3))
    text = f"×{factor:.1f} the replicates of this run"
    if wall_s is not None:
        hours = factor * wall_s / 3600
        text += (
            f", about {hours:.1f} h of this experiment on this machine"
            if hours >= 1
            else f", about {hours * 60:.0f} min of this experiment on this machine"
        )
    return f" ({text})"


def claims_table(
    claims: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]] | None = None,
    digits: Sequence[Mapping[str, Any]] | None = None,
    baseline_label: str = "baseline",
    walls: Mapping[str, float | None] | None = None,
) -> str:
    """Markdown table of claims, with the baseline verdict and cause columns when given, and
    the power notes of inconclusive claims below it (with their cost, from ``walls``: the wall
    time of each experiment)."""
    base = {c["id"]: c for c in baseline or []}
    dig = {c["id"]: c for c in digits or []}
    head = ["claim", "kind", "verdict", "measured", "95% interval", "paper", "control"]
    if baseline is not None:
        head.append(f"{baseline_label} verdict")
    if digits is not None:
        head.append("on digits")
    head.append("cause")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for c in claims:
        control = c.get("control")
        ctrl = "—" if not control else f"{control['verdict']} ({_num(control['measured'])})"
        cells = [
            f"`{_cell(c['id'])}`",
            claim_kind(c),
            c["verdict"],
            _num(c["measured"]),
            _interval(c["uncertainty"]),
            _num(c["paper_value"]),
            _cell(ctrl),
        ]
        b = base.get(c["id"])
        if baseline is not None:
            cells.append(b["verdict"] if b else "(absent)")
            if digits is not None:
                d = dig.get(c["id"])
                cells.append(d["verdict"] if d else "(absent)")
        cells.append(_cell(claim_cause(c, b, dig.get(c["id"]))))
        rows.append("| " + " | ".join(cells) + " |")
        if c["verdict"] == "inconclusive":
            note = c.get("power") or "no power note (no threshold, interval or replicates)"
            cost = cost_note(note, (walls or {}).get(c.get("experiment", "")))
            notes.append(f"- `{_cell(c['id'])}`: {_cell(note)}{cost}")
    out = "\n".join(rows)
    if notes:
        out += "\n\nInconclusive claims, what would decide them:\n\n" + "\n".join(notes)
    return out


def protocol_tables(runs: Sequence[Mapping[str, Any]]) -> str:
    """One "protocol vs paper" table per experiment: each ledger field's value, the paper's,
    the source, and the reason where it deviates or the paper gives none."""
    out = []
    for r in runs:
        entries = r.get("protocol")
        out.append(f"### {r['experiment']}")
        out.append("")
        if not entries:
            out += ["No protocol ledger recorded (results older than schema 3).", ""]
            continue
        out += [
            "| field | value | paper | deviates | source | reason |",
            "|---|---|---|---|---|---|",
        ]
        for e in entries:
            mark = "yes" if e["deviates"] else "no"
            if e["deviates"] and e.get("replicate"):
                mark = "yes (replicates)"
            out.append(
                f"| `{_cell(e['field'])}` | {_cell(_value(e['value']))} | "
                f"{_cell(_value(e['paper']))} | {mark} | {_cell(e['source'])} | "
                f"{_cell(e.get('reason') or '')} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def runs_table(runs: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        "| experiment | scale | seed | data | claims | wall (min) |",
        "|---|---|---:|---|---:|---:|",
    ]
    for r in runs:
        data = r.get("data") or {}
        text = "; ".join(f"{k}: {v}" for k, v in data.items()) or "—"
        wall = "—" if r.get("wall_s") is None else f"{r['wall_s'] / 60:.1f}"
        rows.append(
            f"| {r['experiment']} | {r['scale']} | {r['seed']} | {_cell(text)} | "
            f"{len(r['claims'])} | {wall} |"
        )
    return "\n".join(rows)


def render(
    runs: Sequence[Mapping[str, Any]],
    *,
    source: str,
    baseline_runs: Sequence[Mapping[str, Any]] | None = None,
    digits_runs: Sequence[Mapping[str, Any]] | None = None,
    section: str = "all",
    machine_text: str | None = None,
    date: str | None = None,
    command: str = "python scripts/results_table.py",
) -> str:
    """The markdown text (``section``: ``all``, ``tallies`` or ``claims``)."""
    if section not in SECTIONS:
        raise SmoothscopeError(f"section: expected one of {', '.join(SECTIONS)}, got {section!r}")
    claims = annotate_claims(runs)
    baseline = annotate_claims(baseline_runs) if baseline_runs is not None else None
    digits = annotate_claims(digits_runs) if digits_runs is not None else None
    label = baseline_runs[0]["scale"] if baseline_runs else "baseline"
    if section == "tallies":
        return tallies_table(claims) + "\n"
    walls = {str(r["experiment"]): r.get("wall_s") for r in runs}
    table = claims_table(claims, baseline, digits, label, walls)
    if section == "claims":
        return table + "\n"
    scales = sorted({str(r["scale"]) for r in runs})
    env = runs[0].get("environment", {})
    versions = ", ".join(f"{k} {v}" for k, v in env.items())
    wall = [r["wall_s"] for r in runs if r.get("wall_s") is not None]
    parts = [
        f"# Results at scale {', '.join(scales)}",
        "",
        f"Generated by `{command}` from `{source}` on "
        f"{date or _dt.date.today().isoformat()}; regenerate it, do not edit it by hand.",
        "",
        f"- Machine: {machine_text or machine()}",
        f"- Software and threads (from results.json): {versions or 'not recorded'}",
    ]
    if wall:
        parts.append(f"- Wall time of the experiments (sum): {sum(wall) / 60:.1f} min")
    parts += ["", "## Runs", "", runs_table(runs), "", "## Verdicts per paper", ""]
    parts += [tallies_table(claims), "", "## Claims", ""]
    parts += [
        "Each claim not reproduced here has a cause: `deviation (fields)` (a field the claim "
        "depends on deviates from the paper in this run; see the protocol tables below), "
        "`control also passes` (every such field at the paper's value, the measurement passes "
        "its rule but so does its control: the rule does not separate the effect here), "
        "`disagreement` (every field it depends on is at the paper's value and its own rule "
        "rejects the measurement), `undecided` (inconclusive here; see its power note)."
        + (
            f" A claim reproduced here but not at the {label} scale gets `scale` (reproduced "
            f"here on the same data as the {label} run, or also on the digits at this scale), "
            f"`scale + data` (reproduced here on the {label} run's data, not on the digits), "
            "`data` (reproduced here, not on the digits) or `scale or data` (no digits run "
            "to tell; `scale` when the experiment reads no dataset from files)."
            if baseline is not None
            else ""
        ),
        "",
    ]
    parts.append(table)
    parts += ["", "## Protocol vs paper", "", protocol_tables(runs)]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="folder written by `smoothscope reproduce --out`")
    parser.add_argument("--baseline", help="the same reproduce at another scale (normally quick)")
    parser.add_argument(
        "--digits", help="this scale run on the embedded digits (--set dataset=digits)"
    )
    parser.add_argument("--section", choices=SECTIONS, default="all")
    parser.add_argument("--machine", help="describe the machine (default: this one)")
    parser.add_argument("--date", help="date to print (default: today)")
    parser.add_argument("--out", help="write here (default: standard output)")
    args = parser.parse_args(argv)
    try:
        if args.digits and not args.baseline:
            raise SmoothscopeError("--digits: needs --baseline (the causes compare against it)")
        text = render(
            load_runs(args.run),
            source=args.run,
            baseline_runs=load_runs(args.baseline) if args.baseline else None,
            digits_runs=load_runs(args.digits) if args.digits else None,
            section=args.section,
            machine_text=args.machine,
            date=args.date,
            command="python scripts/results_table.py " + " ".join(argv or sys.argv[1:]),
        )
    except SmoothscopeError as exc:
        print(f"results_table: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
