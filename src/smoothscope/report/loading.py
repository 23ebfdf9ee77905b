"""Reading finished runs for the report: the compatibility check of ``results.json``, one run
per experiment, and the tallies.

Compatibility of a ``results.json``: it must hold the keys of :data:`REQUIRED_KEYS` (and every
claim those of :data:`CLAIM_KEYS`, with a known verdict), and either have been written by a
smoothscope of the same ``major.minor`` version as the running one (``environment.smoothscope``)
or declare a ``schema`` listed in :data:`COMPATIBLE_SCHEMAS`. Anything else is refused with a
one-line :class:`SmoothscopeError` (exit code 2 on the CLI): rerun into another directory.

A report holds one run per experiment: a folder with two runs of the same experiment (say
``stability/`` and a copied ``stability-old/``) is refused, naming both, rather than counting
their claims twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._errors import SmoothscopeError
from .._io import load_json
from ..results import KINDS, VERDICTS

__all__ = [
    "CLAIM_KEYS",
    "COMPATIBLE_SCHEMAS",
    "EXPERIMENT_PAPERS",
    "PAPERS",
    "REQUIRED_KEYS",
    "check_results",
    "claim_kind",
    "collect_runs",
    "load_results",
    "paper_of",
    "verdict_counts",
]

REQUIRED_KEYS = ("experiment", "scale", "seed", "environment", "claims", "measurements")
"""Keys every compatible ``results.json`` holds."""
CLAIM_KEYS = (
    "id",
    "paper",
    "where",
    "statement",
    "paper_value",
    "measured",
    "uncertainty",
    "verdict",
    "rule",
)
"""Keys every claim of a compatible ``results.json`` holds."""
COMPATIBLE_SCHEMAS: tuple[int, ...] = (1, 2, 3)
"""``results.json`` files declaring one of these ``schema`` values are read whatever version
wrote them."""

PAPERS: dict[str, str] = {
    "A": "Liu, Wong, Dai — nonsmoothness of network outputs on smooth videos",
    "B": "Tomasini et al. — sensitivity to diffeomorphisms and noise; scale-detection tasks",
    "C": "Ringing ReLUs — blueshift of weight-to-output paths",
    "D": "Habring, Holler — regularity of CNN-generated images as resolution grows",
}
EXPERIMENT_PAPERS: dict[str, str] = {
    "nonsmoothness": "A",
    "propagation": "A",
    "stability": "B",
    "scale-detection": "B",
    "blueshift": "C",
    "regularity": "D",
    "forensic": "A",
}
"""Paper of an experiment whose results hold no claim (otherwise its claims decide)."""


def _major_minor(version: Any) -> tuple[str, str] | None:
    if not isinstance(version, str):
        return None
    parts = version.split(".")
    return (parts[0], parts[1]) if len(parts) >= 2 else None


def check_results(results: Any, path: str | os.PathLike) -> dict[str, Any]:
    """Return ``results`` if it is a compatible ``results.json`` content, else raise.

    Compatible: the keys of :data:`REQUIRED_KEYS`, claims with the keys of :data:`CLAIM_KEYS`
    and a known verdict, and either the same ``major.minor`` smoothscope version in
    ``environment.smoothscope`` or a ``schema`` in :data:`COMPATIBLE_SCHEMAS`.

    Raises:
        SmoothscopeError: one line naming the file and what is wrong.
    """
    from .._version import __version__

    if not isinstance(results, dict):
        raise SmoothscopeError(f"{path}: expected a results object, got {type(results).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in results]
    if missing:
        raise SmoothscopeError(
            f"{path}: incompatible results (missing {', '.join(missing)}); "
            "rerun into another directory"
        )
    environment = results["environment"]
    written_by = environment.get("smoothscope") if isinstance(environment, dict) else None
    same_version = _major_minor(written_by) is not None and _major_minor(
        written_by
    ) == _major_minor(__version__)
    if not same_version and results.get("schema") not in COMPATIBLE_SCHEMAS:
        raise SmoothscopeError(
            f"{path}: written by smoothscope {written_by or 'of unknown version'}, incompatible "
            f"with {__version__} (results are read within the same major.minor version); "
            "rerun into another directory or delete it"
        )
    claims = results["claims"]
    if not isinstance(claims, list):
        raise SmoothscopeError(f"{path}: incompatible results (claims is not a list)")
    for i, claim in enumerate(claims):
        lacking = [k for k in CLAIM_KEYS if not isinstance(claim, dict) or k not in claim]
        if lacking:
            raise SmoothscopeError(
                f"{path}: incompatible results (claim {i} lacks {', '.join(lacking)})"
            )
        if claim["verdict"] not in VERDICTS:
            raise SmoothscopeError(
                f"{path}: incompatible results (claim {claim['id']!r} has verdict "
                f"{claim['verdict']!r}, expected one of {', '.join(VERDICTS)})"
            )
        problem = _claim_problem(claim)
        if problem:
            raise SmoothscopeError(
                f"{path}: incompatible results (claim {claim['id']!r}: {problem})"
            )
    return results


def _is_number(x: Any) -> bool:
    # issue 28: an integer too large for a float (a 400-digit "measured") cannot be displayed
    if isinstance(x, int) and not isinstance(x, bool):
        return abs(x) < 2**1000
    return isinstance(x, float)


def _claim_problem(claim: Mapping[str, Any]) -> str | None:
    """Why a claim's values cannot be displayed, or ``None`` (types only; a value that was not
    finite is null in the file and shown as such)."""
    if not isinstance(claim["id"], str):
        return "id is not a string"
    # issue 28: text fields are strings ("paper": ["A"] is unhashable where papers are counted)
    for key in ("paper", "where", "statement", "rule", "verdict"):
        if not isinstance(claim[key], str):
            return f"{key} is {type(claim[key]).__name__}, expected a string"
    # null: a value that was not finite (NaN, ±inf: save_json writes them as null)
    if claim["measured"] is not None and not _is_number(claim["measured"]):
        return f"measured is {type(claim['measured']).__name__}, expected a number"
    if claim["paper_value"] is not None and not _is_number(claim["paper_value"]):
        return f"paper_value is {type(claim['paper_value']).__name__}, expected a number or null"
    u = claim["uncertainty"]
    if u is not None and not (
        isinstance(u, list) and len(u) == 2 and all(v is None or _is_number(v) for v in u)
    ):
        return "uncertainty is not null or [low, high]"
    kind = claim.get("kind")
    if kind is not None and kind not in KINDS:
        return f"kind is {kind!r}, expected one of {', '.join(KINDS)}"
    control = claim.get("control")
    if control is not None:
        if not isinstance(control, Mapping) or any(
            k not in control for k in ("id", "description", "measured", "verdict")
        ):
            return "control lacks id, description, measured or verdict"
        measured = control["measured"]
        if control["verdict"] not in VERDICTS or not (measured is None or _is_number(measured)):
            return "control has an unknown verdict or a non-numeric value"
    replicates = claim.get("replicates")
    if replicates is not None and not (
        isinstance(replicates, Mapping) and all(_is_number(n) for n in replicates.values())
    ):
        return "replicates is not a mapping of counts"
    unit = claim.get("unit")
    if unit is not None and not isinstance(unit, str):
        return f"unit is {type(unit).__name__}, expected a string"
    depends_on = claim.get("depends_on")
    if depends_on is not None and not (
        isinstance(depends_on, list) and all(isinstance(f, str) for f in depends_on)
    ):
        return "depends_on is not null or a list of field names"
    return None


def load_results(run_dir: Path) -> dict[str, Any]:
    """The checked ``results.json`` of ``run_dir`` (see :func:`check_results`)."""
    path = run_dir / "results.json"
    return check_results(load_json(path), path)


def _run_config(run_dir: Path) -> dict[str, Any]:
    """The run's config fields from its ``config.json`` (``{}`` when absent or unreadable: the
    report then shows what ``results.json`` alone says)."""
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    inner = config.get("config") if isinstance(config, dict) else None
    return inner if isinstance(inner, dict) else {}


def collect_runs(out: Path) -> list[dict[str, Any]]:
    """Every compatible run under ``out`` (``out/<folder>/results.json``), each with its
    ``run_dir`` and ``config`` (the fields of its ``config.json``).

    Raises:
        SmoothscopeError: ``out`` is not a directory, holds no run, holds an incompatible run,
            or holds two runs of the same experiment (their claims would be counted twice).
    """
    if not out.exists():
        raise SmoothscopeError(f"report: expected a directory of reproduce results, got {out}")
    if not out.is_dir():
        raise SmoothscopeError(f"report: expected a directory, got the file {out}")
    runs = []
    for run_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        if (run_dir / "results.json").is_file():
            results = dict(load_results(run_dir))
            results["run_dir"] = str(run_dir)
            results["config"] = _run_config(run_dir)
            runs.append(results)
    if not runs:
        raise SmoothscopeError(
            f"report: expected <experiment>/results.json under {out}, found none "
            "(run `smoothscope reproduce --out DIR` first)"
        )
    folders: dict[str, list[str]] = {}
    for run in runs:
        folders.setdefault(str(run["experiment"]), []).append(Path(run["run_dir"]).name + "/")
    twice = {name: dirs for name, dirs in folders.items() if len(dirs) > 1}
    if twice:
        which = "; ".join(f"{name} in {', '.join(dirs)}" for name, dirs in sorted(twice.items()))
        raise SmoothscopeError(
            f"report: {out} holds two runs of one experiment ({which}); a report counts one "
            "run per experiment: move the others out, or report each folder separately"
        )
    return runs


def paper_of(run: Mapping[str, Any]) -> str:
    """The paper a run's section belongs to: the paper most of its claims name."""
    papers = [c["paper"] for c in run["claims"] if c.get("paper") in PAPERS]
    if papers:
        return max(PAPERS, key=papers.count)
    return EXPERIMENT_PAPERS.get(str(run["experiment"]), "?")


def claim_kind(claim: Mapping[str, Any]) -> str:
    """A claim's kind; results of schema 1 carry none and count as paper claims."""
    kind = claim.get("kind")
    return str(kind) if kind in KINDS else "paper"


def verdict_counts(
    claims: Iterable[Mapping[str, Any]], kind: str | None = "paper"
) -> dict[str, dict[str, int]]:
    """``{paper: {verdict: count}}`` for papers A–D (and any other paper met), over the claims of
    ``kind`` (``"paper"``: the paper tallies; ``None``: every claim)."""
    counts: dict[str, dict[str, int]] = {p: dict.fromkeys(VERDICTS, 0) for p in PAPERS}
    for c in claims:
        if kind is not None and claim_kind(c) != kind:
            continue
        row = counts.setdefault(str(c["paper"]), dict.fromkeys(VERDICTS, 0))
        row[c["verdict"]] = row.get(c["verdict"], 0) + 1
    return counts
