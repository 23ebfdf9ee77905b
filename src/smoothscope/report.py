"""Reproduce every registered experiment and write one self-contained HTML report.

``reproduce(out=DIR)`` runs each registered experiment into ``DIR/<experiment>/`` (the usual run
directory: ``config.json``, ``results.json``, ``figures/*.png``, ``cells/``) and writes
``DIR/report.html``. ``build_report(DIR)`` rebuilds the HTML from the results on disk without
running anything.

Resuming: an experiment whose ``results.json`` exists, is compatible (below) and whose
``config.json`` matches the requested scale and seed is not recomputed; one without
``results.json`` (interrupted) is run again, which reuses its finished cells.

Compatibility of a ``results.json``: it must hold the keys of :data:`REQUIRED_KEYS` (and every
claim those of :data:`CLAIM_KEYS`, with a known verdict), and either have been written by a
smoothscope of the same ``major.minor`` version as the running one (``environment.smoothscope``)
or declare a ``schema`` listed in :data:`COMPATIBLE_SCHEMAS`. Anything else is refused with a
one-line :class:`SmoothscopeError` (exit code 2 on the CLI): rerun into another directory.

The report only displays verdicts: they are decided by rules fixed in the experiments' code.
It is a single HTML file with inline CSS, figures embedded as base64 PNG data URIs, no script
and no external resource.
"""

from __future__ import annotations

import base64
import html
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ._device import resolve_device
from ._errors import SmoothscopeError
from ._io import _jsonable, atomic_write_bytes, load_json
from .experiments import SCALES, available_experiments, get_experiment, run_experiment
from .experiments._base import DEVICE_ENV, check_data
from .results import KINDS, VERDICTS
from .sweep import ExecutorSpec

__all__ = [
    "CAPTIONS",
    "CLAIM_KEYS",
    "COMPATIBLE_SCHEMAS",
    "PAPERS",
    "REQUIRED_KEYS",
    "build_report",
    "check_results",
    "claim_kind",
    "render_report",
    "reproduce",
    "verdict_counts",
]

REPORT_FILE = "report.html"
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


def _nonsmoothness_captions() -> dict[str, str]:
    where = {
        "ellipsoid": ("ellipsoid under a moving light", "§IV", ("4", "5", "6")),
        "digits": ("digits under a noise ramp", "Appendix A", ("9", "10", "11")),
    }
    captions = {}
    for dataset, (what, section, figs) in where.items():
        captions[f"{dataset}_frames.png"] = (
            f"Paper A {section}, Fig. {figs[0]} ({what}): the first test video (top row) and its "
            "reconstructions by a ReLU+MaxPool and a Softplus+AvgPool autoencoder at the first, "
            "middle and last frames. Look at: frame by frame both reconstructions look alike; "
            "the nonsmoothness is only visible over time (next figures)."
        )
        captions[f"{dataset}_curves.png"] = (
            f"Paper A {section}, Fig. {figs[1]} ({what}): intensity (left) and second "
            "difference δ²y(t) (eq. 2, right) of one object pixel over the frames. Look at: "
            "isolated spikes of the ReLU+MaxPool second difference where the input and the "
            "Softplus+AvgPool reconstruction stay flat."
        )
        captions[f"{dataset}_histograms.png"] = (
            f"Paper A {section}, Fig. {figs[2]} ({what}): histograms of AveNonSmooth (eq. 4) "
            "over videos × models, log axis. Look at: the ReLU+MaxPool histogram lying to the "
            "right of the input's and the Softplus+AvgPool one."
        )
    return captions


CAPTIONS: dict[str, dict[str, str]] = {
    "nonsmoothness": _nonsmoothness_captions(),
    "propagation": {
        "fig8_propagation.png": (
            "Paper A §V, Fig. 8: propagation of nonsmoothness events through conv2 → ReLU → "
            "max-pool of the ReLU+MaxPool ellipsoid autoencoders, on held-out videos. Look at: "
            "(a, b) real against predicted SMP (eqs. 6 and 5) along a line, with R² in the "
            "titles next to the paper's; (c, d) the ReLU and max-pooling channels, points on or "
            "below the diagonal; (e) the chained prediction, red and blue outlines following the "
            "grey histogram (small KS distances)."
        ),
        "r2_per_layer.png": (
            "Paper A §V, Appendix B: R² of real against predicted SMP for every convolution "
            "(eq. 5 with |W|, eq. 6 with w0), next to the paper's values; the dotted line is the "
            "threshold of the claims. Look at: which bars clear the line."
        ),
        "whole_network.png": (
            "Beyond paper A: output-pixel SMP predicted from the input video alone by chaining "
            "every layer's channel model, on held-out autoencoders, for both setups. Look at: "
            "how closely the outlines follow the grey histogram (KS distance in the legend)."
        ),
    },
    "stability": {
        "R_vs_depth.png": (
            "Paper B §2, Fig. 3: relative stability R_k = D_k/G_k (eq. 1) against relative "
            "depth, trained networks (solid) and the same with shuffled channels (dashed), log "
            "axis. Look at: whether R_k falls with depth and whether shuffling raises it."
        ),
        "D_G_init_vs_trained.png": (
            "Paper B §2: D_k (diffeomorphisms, left) and G_k (noise, right) at initialisation "
            "(dotted) and after training (solid). Look at: how training moves each curve "
            "(the claims B.training_D and B.training_G)."
        ),
        "filter_spectra.png": (
            "Paper B Fig. 4: spectra γ̃_l of a VGG's 3×3 filters on the grid Laplacian, from low "
            "to high modes, at initialisation (dotted) and trained (solid). Look at: trained "
            "filters putting more weight on the low modes."
        ),
        "error_vs_sensitivity.png": (
            "Paper B Fig. 1 / C1: test error against D_f, G_f and R_f of the output across "
            "architectures, log axes. Look at: the sign of the trend in each panel (the claims "
            "B.fig1.error_vs_*); these networks are trained on digits, not CIFAR10."
        ),
    },
    "scale-detection": {
        "sensitivities_vs_A.png": (
            "Paper B §3–4, Figs. 7, B2: D_k, G_k and R_k against the effective receptive field "
            "A_k, at initialisation (grey), trained (blue) and with mean channels (dotted), with "
            "the predicted power laws (dashed). Look at: whether the trained curves run parallel "
            "to the dashed lines."
        ),
        "mean_filters.png": (
            "Paper B Tables C2, C3: mean filters of the first layers at initialisation (dotted) "
            "and trained (solid). Look at: trained mean filters becoming smooth, "
            "pooling-like profiles."
        ),
    },
    "blueshift": {
        "fig3_spectra_per_layer.png": (
            "Paper C Fig. 3: mean spectra of every layer's weight-space path in the Toy-CNN for "
            "ReLU, tanh, softplus and the linear control, shallow (dark) to deep (yellow), "
            "log–log; one row with the paper's raw DFT, one with the boundary-free tapered "
            "estimator the claims use. Look at: deeper layers carrying more high-frequency "
            "power (blueshift), most for ReLU, none for the linear network; the raw-DFT row "
            "cannot fall faster than 1/k."
        ),
        "fig5_6_7_8.png": (
            "Paper C Figs. 5–8: h against depth with and without shortcuts, the output spectra "
            "of ResNet v1, v2 and NoShort, feature averaging, and the correlation of the "
            "residual and shortcut branches per frequency. Look at: h falling with depth "
            "without shortcuts, and flatter (rougher) spectra for NoShort."
        ),
        "fig1_transition.png": (
            "Paper C Figs. 1 and 4: the loss along a weight-space path across the α–ν "
            "transition (linear, ReLU, ResNet), with h in the titles, and the path of median h "
            "over many directions. Look at: the path roughening with the nonlinearity and "
            "smoothing again with shortcuts."
        ),
        "fig2_9_chebyshev_trainability.png": (
            "Paper C Figs. 2, 9, 19: Chebyshev coefficients of the activations on [−5, 5] "
            "(left; slower decay means rougher) and training accuracy against h at "
            "initialisation (right). Look at: whether smoother initial paths (larger h) train "
            "better."
        ),
        "fig9_trainability.png": (
            "Paper C Fig. 9 per variant (NoShort, and v1/v2 where the scale trains them): "
            "training accuracy and h at initialisation against α, one line per depth."
        ),
        "fig11_during_training.png": (
            "Paper C Fig. 11: path spectra and h at checkpoints during training (ReLU, tanh, "
            "ReLU with shortcuts), at radii 1 and 10. One network per setting, as in the paper: "
            "a figure, not a claim."
        ),
        "fig12_delta_orthogonal.png": (
            "Paper C Fig. 12: delta-orthogonal initialisation (no BatchNorm), tanh and linear "
            "Toy-CNNs at small and large radius. Look at: tanh smooth near the initialisation "
            "and rough further out. No claim: its protocol was chosen after probing (see "
            "docs/blueshift.md)."
        ),
        "fig17_other_activations.png": (
            "Paper C Fig. 17: unit spectra for the other activations of App. F.1 (paper scale)."
        ),
    },
    "regularity": {
        "cuts_and_jumps_vs_s.png": (
            "Paper D: a U-net's output along a cut across a disc edge at scales s = 1…4 with "
            "the target step (left), the largest jump between neighbouring pixels against s "
            "(middle; dashed: the target's) and max |Δ²u|/h² against s (right, log axis). Look "
            "at: the output's jumps shrinking towards 0 as s grows while the target's stay — "
            "a continuous output cannot keep a sharp edge."
        ),
        "l2_sweep.png": (
            "Paper D: effect of the L2 weight penalty λ — output cuts at s = 1 (left), the "
            "10–90 % edge width (middle), and total variation (blue) and PSNR (orange) of a "
            "deep image prior (right). Look at: edges widening (over-smoothing) as λ grows."
        ),
    },
}
"""Captions per experiment and figure file; an experiment module may add its own ``CAPTIONS``
(a mapping of file names to captions), which takes precedence."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
table.claims { width: 100%; }
td.control { max-width: 18em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.55em; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.id { min-width: 14em; } td.id code { overflow-wrap: anywhere; font-size: 0.85em; }
td.where { min-width: 6em; }
td.statement { min-width: 16em; }
td.rule { color: #57606a; font-size: 0.92em; min-width: 14em; }
.verdict { font-weight: 600; white-space: nowrap; border-radius: 4px; padding: 0.1em 0.45em; }
.v-reproduced { background: #dafbe1; color: #116329; }
.v-not-reproduced { background: #ffebe9; color: #a40e26; }
.v-inconclusive { background: #fff8c5; color: #7d4e00; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: 0.92em; color: #424a53; max-width: 60em; }
.note { color: #57606a; font-size: 0.92em; }
"""


# ----------------------------------------------------------------------------- results


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
    """
    from ._version import __version__

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
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _claim_problem(claim: Mapping[str, Any]) -> str | None:
    """Why a claim's values cannot be displayed, or ``None`` (types only; NaN is allowed)."""
    if not isinstance(claim["id"], str):
        return "id is not a string"
    if not _is_number(claim["measured"]):
        return f"measured is {type(claim['measured']).__name__}, expected a number"
    if claim["paper_value"] is not None and not _is_number(claim["paper_value"]):
        return f"paper_value is {type(claim['paper_value']).__name__}, expected a number or null"
    u = claim["uncertainty"]
    if u is not None and not (
        isinstance(u, list) and len(u) == 2 and all(_is_number(v) for v in u)
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
        if control["verdict"] not in VERDICTS or not _is_number(control["measured"]):
            return "control has an unknown verdict or a non-numeric value"
    replicates = claim.get("replicates")
    if replicates is not None and not (
        isinstance(replicates, Mapping) and all(_is_number(n) for n in replicates.values())
    ):
        return "replicates is not a mapping of counts"
    return None


def _load_results(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "results.json"
    return check_results(load_json(path), path)


def _collect(out: Path) -> list[dict[str, Any]]:
    """Every compatible run under ``out`` (``out/<name>/results.json``), with its folder."""
    if not out.exists():
        raise SmoothscopeError(f"report: expected a directory of reproduce results, got {out}")
    if not out.is_dir():
        raise SmoothscopeError(f"report: expected a directory, got the file {out}")
    runs = []
    for run_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        if (run_dir / "results.json").is_file():
            results = dict(_load_results(run_dir))
            results["run_dir"] = str(run_dir)
            runs.append(results)
    if not runs:
        raise SmoothscopeError(
            f"report: expected <experiment>/results.json under {out}, found none "
            "(run `smoothscope reproduce --out DIR` first)"
        )
    return runs


def _paper_of(run: Mapping[str, Any]) -> str:
    papers = [c["paper"] for c in run["claims"] if c.get("paper") in PAPERS]
    if papers:
        return max(PAPERS, key=papers.count)
    return EXPERIMENT_PAPERS.get(run["experiment"], "?")


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


# ----------------------------------------------------------------------------- HTML


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f"{x:.3g}"
    return str(x)


def _interval(u: Any) -> str:
    if u is None:
        return ""
    if isinstance(u, (list, tuple)) and len(u) == 2:
        return f"[{_num(u[0])}, {_num(u[1])}]"
    return str(u)


def _captions_for(name: str) -> dict[str, str]:
    captions = dict(CAPTIONS.get(name, {}))
    try:
        spec = get_experiment(name)
    except SmoothscopeError:
        return captions
    if spec.figures:
        return {fig.file: fig.caption for fig in spec.figures}
    module = sys.modules.get(getattr(spec.run, "__module__", "") or "")
    extra = getattr(module, "CAPTIONS", None)
    if not isinstance(extra, Mapping):
        extra = getattr(spec.run, "__globals__", {}).get("CAPTIONS")
    if isinstance(extra, Mapping):
        captions.update({str(k): str(v) for k, v in extra.items()})
    return captions


def _generic_caption(path: Path) -> str:
    return f"Figure “{path.stem.replace('_', ' ')}” (no caption is registered for {path.name})."


def _figures(run_dir: Path, captions: Mapping[str, str]) -> list[tuple[Path, str]]:
    found = {p.name: p for p in (run_dir / "figures").glob("*.png") if p.is_file()}
    ordered = [n for n in captions if n in found] + sorted(n for n in found if n not in captions)
    return [(found[n], captions.get(n) or _generic_caption(found[n])) for n in ordered]


def _verdict_span(verdict: str) -> str:
    cls = "v-" + verdict.replace(" ", "-")
    return f'<span class="verdict {_esc(cls)}">{_esc(verdict)}</span>'


def _replicates_text(replicates: Any) -> str:
    if not isinstance(replicates, Mapping) or not replicates:
        return ""
    return " × ".join(f"{n} {level}" for level, n in replicates.items())


def _control_cell(c: Mapping[str, Any]) -> str:
    control = c.get("control")
    if isinstance(control, Mapping):
        value = _esc(_num(control.get("measured")))
        interval = _interval(control.get("uncertainty"))
        if interval:
            value += f' <span class="note">{_esc(interval)}</span>'
        return (
            f"{value}<br>{_verdict_span(str(control.get('verdict')))}"
            f'<br><span class="note"><code>{_esc(control.get("id", ""))}</code>: '
            f"{_esc(control.get('description', ''))}</span>"
        )
    reason = c.get("no_control")
    if reason:
        return f'<span class="note">no control: {_esc(reason)}</span>'
    return '<span class="note">no control recorded (results of schema 1)</span>'


def _claims_rows(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = []
    for c in claims:
        interval = _interval(c["uncertainty"])
        measured = _esc(_num(c["measured"]))
        if interval:
            measured += f'<br><span class="note">95 % interval {_esc(interval)}</span>'
        replicates = _replicates_text(c.get("replicates"))
        if replicates:
            measured += f'<br><span class="note">over {_esc(replicates)}</span>'
        paper_value = "— (qualitative)" if c["paper_value"] is None else _num(c["paper_value"])
        rule = _esc(c["rule"])
        if c.get("power"):
            rule += f'<br><span class="note power">power: {_esc(c["power"])}</span>'
        if c.get("posthoc"):
            rule += f'<br><span class="note">post-hoc: {_esc(c["posthoc"])}</span>'
        rows.append(
            f'<tr class="claim" data-verdict="{_esc(c["verdict"])}" '
            f'data-kind="{_esc(claim_kind(c))}">'
            f'<td class="id"><code>{_esc(c["id"])}</code></td>'
            f"<td>{_esc(c['paper'])}</td>"
            f'<td class="where">{_esc(c["where"])}</td>'
            f'<td class="statement">{_esc(c["statement"])}</td>'
            f'<td class="num">{_esc(paper_value)}</td>'
            f'<td class="num">{measured}</td>'
            f'<td class="control">{_control_cell(c)}</td>'
            f"<td>{_verdict_span(str(c['verdict']))}</td>"
            f'<td class="rule">{rule}</td></tr>'
        )
    return rows


KIND_TITLES: dict[str, tuple[str, str]] = {
    "paper": (
        "Paper claims",
        "Claims the papers make. The tallies above count these only.",
    ),
    "extension": (
        "Extensions",
        "The project's own questions (not claims of the papers); not counted in the tallies.",
    ),
    "post-hoc": (
        "Post-hoc rules",
        "Rules added after results had been seen, with the date and the reason; not counted "
        "in the tallies.",
    ),
}


def _claims_tables(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for kind, (title, note) in KIND_TITLES.items():
        group = [c for c in claims if claim_kind(c) == kind]
        if not group and kind != "paper":
            continue
        out.append(f'<h3 id="kind-{_esc(kind)}">{_esc(title)} ({len(group)})</h3>')
        out.append(f'<p class="note">{_esc(note)}</p>')
        out.append(
            f'<table id="claims-{_esc(kind)}" class="claims"><thead><tr><th>claim</th>'
            "<th>paper</th><th>figure / section</th><th>statement</th><th>paper value</th>"
            "<th>measured</th><th>control (same rule)</th><th>verdict</th><th>rule</th>"
            "</tr></thead><tbody>"
        )
        out.extend(_claims_rows(group))
        out.append("</tbody></table>")
    return out


def _counts_table(counts: Mapping[str, Mapping[str, int]]) -> str:
    head = "".join(f"<th>{_verdict_span(v)}</th>" for v in VERDICTS)
    lines = [
        f'<table class="counts"><thead><tr><th>paper</th>{head}<th>claims</th></tr></thead><tbody>'
    ]
    for paper, row in counts.items():
        cells = "".join(f'<td class="num">{row.get(v, 0)}</td>' for v in VERDICTS)
        total = sum(row.values())
        lines.append(
            f'<tr><td><a href="#paper-{_esc(paper)}">{_esc(paper)}</a></td>{cells}'
            f'<td class="num">{total}</td></tr>'
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _counts_line(row: Mapping[str, int]) -> str:
    parts = [f"{_verdict_span(v)}&nbsp;{row.get(v, 0)}" for v in VERDICTS]
    return f'<p class="counts">Verdicts: {" · ".join(parts)}</p>'


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


def render_report(runs: Sequence[Mapping[str, Any]]) -> str:
    """The HTML of the report for ``runs`` (``results.json`` contents with their ``run_dir``)."""
    from ._version import __version__

    by_paper: dict[str, list[Mapping[str, Any]]] = {p: [] for p in PAPERS}
    for run in runs:
        by_paper.setdefault(_paper_of(run), []).append(run)
    ordered = [run for paper in by_paper for run in by_paper[paper]]
    claims = [c for run in ordered for c in run["claims"]]
    counts = verdict_counts(claims)

    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>smoothscope — reproduction report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>smoothscope — reproduction report</h1>",
        f'<p class="note">Report built by smoothscope {_esc(__version__)} from '
        f"{len(runs)} experiment run(s). Each verdict is decided by a rule fixed in the "
        "experiment's code before the run (shown with the claim); this report only displays "
        "it. Intervals are 95 % intervals.</p>",
        "<h2>Runs</h2>",
        "<table><thead><tr><th>experiment</th><th>paper</th><th>scale</th><th>seed</th>"
        "<th>claims</th><th>environment</th><th>folder</th></tr></thead><tbody>",
    ]
    for run in ordered:
        env = run["environment"] if isinstance(run["environment"], dict) else {}
        env_text = ", ".join(f"{k} {v}" for k, v in env.items())
        out.append(
            f'<tr><td><a href="#exp-{_esc(run["experiment"])}">{_esc(run["experiment"])}</a></td>'
            f"<td>{_esc(_paper_of(run))}</td><td>{_esc(_scale_text(run))}</td>"
            f'<td class="num">{_esc(run["seed"])}</td>'
            f'<td class="num">{len(run["claims"])}</td>'
            f'<td class="note">{_esc(env_text)}</td>'
            f"<td><code>{_esc(Path(run['run_dir']).name)}/</code></td></tr>"
        )
    out.append("</tbody></table>")

    out.append("<h2>Verdicts per paper</h2>")
    out.append(_counts_table(counts))

    others = {
        kind: verdict_counts(claims, kind) for kind in KINDS if kind != "paper"
    }
    for kind, table in others.items():
        n = sum(sum(row.values()) for row in table.values())
        if n:
            out.append(
                f'<p class="note">Not in these tallies: {n} {_esc(KIND_TITLES[kind][0].lower())} '
                f"(below, in their own group).</p>"
            )

    out.append("<h2>Claims</h2>")
    out.extend(_claims_tables(claims))

    for paper, paper_runs in by_paper.items():
        title = PAPERS.get(paper, "experiments of no known paper")
        out.append(f'<section id="paper-{_esc(paper)}">')
        out.append(f"<h2>Paper {_esc(paper)}: {_esc(title)}</h2>")
        if paper in counts:
            out.append(_counts_line(counts[paper]))
        if not paper_runs:
            out.append('<p class="note">No experiment of this run covers this paper.</p>')
        for run in paper_runs:
            name = str(run["experiment"])
            out.append(f'<h3 id="exp-{_esc(name)}">Experiment <code>{_esc(name)}</code></h3>')
            try:
                description = get_experiment(name).description
            except SmoothscopeError:
                description = ""
            if description:
                out.append(f"<p>{_esc(description)}</p>")
            out.append(
                f'<p class="note">Scale {_esc(_scale_text(run))}, seed {_esc(run["seed"])}; '
                f"{len(run['claims'])} claim(s).</p>"
            )
            data = run.get("data")
            if isinstance(data, Mapping) and data:
                used = "; ".join(f"{k}: {v}" for k, v in data.items())
                out.append(f'<p class="note">Data: {_esc(used)}</p>')
            figures = _figures(Path(run["run_dir"]), _captions_for(name))
            if not figures:
                out.append('<p class="note">This run wrote no figure.</p>')
            for path, caption in figures:
                data = path.read_bytes()
                if not data.startswith(_PNG_SIGNATURE):
                    out.append(
                        f'<p class="note">Figure {_esc(path.name)} is not a PNG file; skipped.</p>'
                    )
                    continue
                uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
                out.append(
                    f'<figure><img src="{uri}" alt="{_esc(path.name)}">'
                    f"<figcaption><code>{_esc(path.name)}</code> — {_esc(caption)}"
                    "</figcaption></figure>"
                )
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _write_report(out: Path, runs: Sequence[Mapping[str, Any]]) -> Path:
    path = out / REPORT_FILE
    try:
        atomic_write_bytes(path, render_report(runs).encode("utf-8"))
    except OSError as exc:
        raise SmoothscopeError(f"report: cannot write {path} ({exc})") from exc
    return path


def build_report(out: str | os.PathLike) -> dict[str, Any]:
    """Rebuild ``out/report.html`` from the runs under ``out`` without running anything.

    Returns ``{"out", "report", "runs": {name: run_dir}, "claims": [...]}``.
    """
    out = Path(out)
    runs = _collect(out)
    path = _write_report(out, runs)
    return {
        "out": str(out),
        "report": str(path),
        "runs": {r["experiment"]: r["run_dir"] for r in runs},
        "claims": [c for r in runs for c in r["claims"]],
    }


# ----------------------------------------------------------------------------- reproduce


def _select(only: Iterable[str] | None) -> list[str]:
    registered = [s.name for s in available_experiments()]
    if not only:
        return registered
    wanted = [n.strip() for item in only for n in str(item).split(",") if n.strip()]
    for name in wanted:
        if name not in registered:
            raise SmoothscopeError(
                f"--only: expected experiments among {', '.join(registered)}, got {name!r}"
            )
    return [n for n in registered if n in wanted]


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SmoothscopeError(f"--out: expected a directory, got the file {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SmoothscopeError(f"--out: expected a writable directory, got {out} ({exc})") from exc


def _device_for(name: str, device: str | None) -> str:
    """The device of experiment ``name`` in a ``reproduce``: ``device`` (default
    ``$SMOOTHSCOPE_DEVICE``, else the CPU) where its cells can use it, else the CPU."""
    cls = get_experiment(name).config
    device = device if device is not None else os.environ.get(DEVICE_ENV, "cpu")
    if resolve_device(device).type in cls.DEVICES:
        return cls.cell_device_name(device)
    return "cpu"


def _plan(run_dir: Path, name: str, scale: str, seed: int, device: str = "cpu") -> str:
    """``"done"`` (finished, same config), ``"run"`` (new or interrupted); raise if foreign."""
    if run_dir.exists() and not run_dir.is_dir():
        raise SmoothscopeError(f"--out: expected {run_dir} to be a directory, got a file")
    config = get_experiment(name).config.preset(scale, seed=seed, device=device)
    check_data(config)  # a missing or corrupt dataset is refused before anything runs
    expected = config.to_dict()
    expected = json.loads(json.dumps(_jsonable(expected)))
    config_path = run_dir / "config.json"
    if not config_path.exists():
        return "run"
    previous = load_json(config_path)
    same = (
        isinstance(previous, dict)
        and previous.get("experiment") == name
        and previous.get("scale") == scale
        and previous.get("config") == expected
    )
    if not same:
        raise SmoothscopeError(
            f"--out: {run_dir} holds a run with another experiment or config (this run: scale "
            f"{scale}, seed {seed}); choose another --out or delete it"
        )
    if not (run_dir / "results.json").exists():
        return "run"
    results = _load_results(run_dir)
    if results["experiment"] != name or results["scale"] != scale or results["seed"] != seed:
        raise SmoothscopeError(
            f"--out: {run_dir / 'results.json'} holds results of another run; "
            "choose another --out or delete it"
        )
    return "done"


def reproduce(
    scale: str = "quick",
    out: str | os.PathLike | None = None,
    only: Iterable[str] | None = None,
    seed: int = 0,
    executor: ExecutorSpec | None = None,
    progress: bool = True,
    device: str | None = None,
) -> dict[str, Any]:
    """Run every registered experiment (or those in ``only``) into ``out/<name>/``, then write
    ``out/report.html``.

    Finished experiments (``results.json`` present and compatible, same config) are not rerun;
    interrupted ones are rerun and reuse their finished cells. Everything is checked before
    anything runs: unknown names, an output path that is a file or not writable, a folder
    holding another config or incompatible results raise :class:`SmoothscopeError`.

    Args:
        scale: ``"quick"``, ``"standard"`` or ``"paper"``.
        out: output folder (default ``runs/reproduce-<scale>-seed<seed>``).
        only: experiment names (or comma-separated lists of names); default all.
        seed: seed of every experiment.
        executor: where the cells run (default: in this process).
        progress: one bar over experiments, with each experiment's own bars below it.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (default ``$SMOOTHSCOPE_DEVICE``, else the
            CPU) for the experiments whose cells can use it; the others run on the CPU (each
            run's ``config.json`` and report state the device used).

    Returns:
        ``{"out", "report", "experiments": {name: {"status": "ran" | "reused", "run_dir"}},
        "runs": {name: run_dir}, "claims": [...]}``; ``claims`` are those of every run under
        ``out`` (the report's), ``experiments`` those of this call.
    """
    if scale not in SCALES:
        raise SmoothscopeError(f"scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SmoothscopeError(f"seed: expected a non-negative integer, got {seed!r}")
    names = _select(only)
    if device is not None:
        resolve_device(device)  # an unknown device or CUDA without CUDA: before any write
    out = Path(out) if out is not None else Path("runs") / f"reproduce-{scale}-seed{seed}"
    _check_out(out)
    devices = {name: _device_for(name, device) for name in names}
    plan = {name: _plan(out / name, name, scale, seed, devices[name]) for name in names}

    done: dict[str, dict[str, str]] = {}
    bar = tqdm(
        total=len(names),
        desc="reproduce",
        unit="experiment",
        position=0,
        disable=not progress,
    )
    try:
        for name in names:
            bar.set_description(f"reproduce {name}")
            run_dir = out / name
            if plan[name] == "run":
                run_experiment(
                    name,
                    scale=scale,
                    seed=seed,
                    out=run_dir,
                    progress=progress,
                    executor=executor,
                    options={"device": devices[name]},
                )
            done[name] = {
                "status": "ran" if plan[name] == "run" else "reused",
                "run_dir": str(run_dir),
            }
            bar.update()
        bar.set_description("reproduce")
    finally:
        bar.close()
    report = build_report(out)
    report["experiments"] = done
    return report
