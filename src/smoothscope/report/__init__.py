"""Reproduce every registered experiment and write one self-contained HTML report.

``reproduce(out=DIR)`` runs each registered experiment into ``DIR/<experiment>/`` and writes
``DIR/report.html``; ``build_report(DIR)`` rebuilds the HTML from the results on disk without
running anything. The parts, one idea each:

* :mod:`.loading`: reading ``results.json`` (the compatibility rule), one run per experiment,
  the tallies;
* :mod:`.evidence`: what a reader must know first: substituted data, undertrained models, the
  scale;
* :mod:`.claim_view`: a claim as shown: value, interval, unit, cause, anchor, figures;
* :mod:`.render` and ``templates/``: the page (jinja2, autoescaped, inline CSS, embedded PNGs,
  no script);
* :mod:`.summary`: the same top of the report as terminal text;
* :mod:`.reproducing`: running the experiments.
"""

from __future__ import annotations

from .claim_view import UNITS as UNITS
from .claim_view import unit_of as unit_of
from .evidence import planned_warnings as planned_warnings
from .evidence import run_warnings as run_warnings
from .loading import CLAIM_KEYS as CLAIM_KEYS
from .loading import COMPATIBLE_SCHEMAS as COMPATIBLE_SCHEMAS
from .loading import PAPERS as PAPERS
from .loading import REQUIRED_KEYS as REQUIRED_KEYS
from .loading import check_results as check_results
from .loading import claim_kind as claim_kind
from .loading import verdict_counts as verdict_counts
from .render import REPORT_FILE as REPORT_FILE
from .render import build_report as build_report
from .render import render_report as render_report
from .reproducing import _device_for as _device_for
from .reproducing import reproduce as reproduce
from .summary import run_view as run_view
from .summary import summary_text as summary_text

__all__ = [
    "CLAIM_KEYS",
    "COMPATIBLE_SCHEMAS",
    "PAPERS",
    "REPORT_FILE",
    "REQUIRED_KEYS",
    "UNITS",
    "build_report",
    "check_results",
    "claim_kind",
    "planned_warnings",
    "render_report",
    "reproduce",
    "run_view",
    "run_warnings",
    "summary_text",
    "unit_of",
    "verdict_counts",
]
