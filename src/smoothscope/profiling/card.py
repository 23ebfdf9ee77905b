"""The profile card: one self-contained HTML page (inline CSS, figures as base64 PNG data URIs,
no script) showing one profile, or two side by side with their differences. The HTML comes from
the jinja2 templates in ``templates/`` (autoescaped); this module computes what they show."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from .lenses import METRICS

__all__ = ["ProfileLike", "comparison_html", "figure", "profile_html", "render_card"]

PLOTTED: dict[str, tuple[tuple[str, ...], bool]] = {
    "A": (("peak_share", "smp_share"), False),
    "B": (("D", "G", "R"), True),
    "C": (("h",), False),
    "D": (("jump",), True),
}
"""Metrics drawn per lens, and whether on a log scale."""


class ProfileLike(Protocol):
    """What a card reads of a profile (:class:`smoothscope.profiling.Profile` has it all)."""

    model: str
    inputs: str
    seed: int
    layers: list[str]
    lenses: dict[str, dict[str, Any]]
    seconds: dict[str, float]


LENS_TEXT = {
    "A": (
        "A — nonsmoothness along smooth input videos (Liu, Wong, Dai)",
        "Each input image is moved along smooth trajectories (sub-pixel Fourier translation, "
        "three-shear Fourier rotation, a noise ramp), all analytic in time. Peak share: share "
        "of a layer's units whose second difference over time has at least one peak (a value "
        "above 10 × its series' mean and median; §V-B). SMP share: share of the |δ²| mass in "
        "peaks. AveNonSmooth: eq. 4. ReLU and max pooling put kinks (peaks) into smooth "
        "inputs; smooth activations do not. The 'input' row is the videos' own value.",
    ),
    "B": (
        "B — sensitivity to diffeomorphisms and noise (Tomasini et al.)",
        "D: relative change of a layer's representation under small smooth deformations; G: "
        "under noise of the same norm; R = D/G (eq. 1). A net that has learnt to be stable to "
        "deformations has R well below 1 in its last layers.",
    ),
    "C": (
        "C — weight-space path spectra (ringing ReLUs)",
        "Outputs along straight lines in weight space, p(t) = f(x, W + t·D/α). h: fractal "
        "coefficient of those paths (|z_k| ∼ k^-h); larger h = smoother. Blueshift: h falls "
        "with depth in ReLU networks.",
    ),
    "D": (
        "D — behaviour as the input resolution grows (Habring, Holler)",
        "A disc is sampled finer and finer (s = 1, 2, …); the largest jump of the output "
        "across the disc's edge is measured. β is the decay exponent of that jump (jump ∼ "
        "s^-β): β > 0 means the output tends to a continuous image, β ≈ 0 keeps the edge sharp.",
    ),
}


@lru_cache(maxsize=1)
def _templates():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("smoothscope.profiling", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, (int, float)):
        return f"{x:.3g}"
    return str(x)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(p: ProfileLike) -> str:
    return str(getattr(p, "label", p.model))


def _legend(p: ProfileLike) -> str:
    """A legend entry (matplotlib hides labels that start with an underscore)."""
    return _label(p).lstrip("_") or "model"


def _lens_axes(axes: Sequence[Any], profiles: Sequence[ProfileLike], lens: str) -> None:
    """One lens per layer on a row of axes (one metric each, 95 % error bars)."""
    metrics, log = PLOTTED[lens]
    for ax, metric in zip(axes, metrics, strict=False):
        for p in profiles:
            rows = p.lenses.get(lens, {}).get("layers", [])
            if not rows:
                continue
            y = [_float(r.get(metric)) for r in rows]
            e = [_float(r.get(metric + "_se")) for r in rows]
            e = [0.0 if not math.isfinite(v) else 1.96 * v for v in e]
            ax.errorbar(range(len(rows)), y, yerr=e, marker="o", ms=3, capsize=2, label=_legend(p))
            ax.set_xticks(range(len(rows)), [r["layer"] for r in rows], rotation=60, fontsize=7)
        if log:
            ax.set_yscale("log")
        ax.set_title(f"lens {lens}: {metric}")
    axes[0].legend(fontsize=7)


def _jump_axes(ax: Any, profiles: Sequence[ProfileLike]) -> None:
    for p in profiles:
        d = p.lenses.get("D", {})
        if d.get("applies"):
            beta = _float(d.get("beta"))
            ax.loglog(d["scales"], d["output_jump"], "o-", label=f"{_legend(p)} (β = {beta:.2f})")
            ax.loglog(d["scales"], d["input_jump"], "k:", label="input")
    ax.set(xlabel="scale s", ylabel="largest jump across the edge", title="lens D")
    ax.legend(fontsize=7)


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


def figure(profiles: Sequence[ProfileLike], lens: str | None = None):
    """A matplotlib Figure of ``lens`` per layer for the profiles, or of every lens they
    measured (one row of axes each) when ``lens`` is None."""
    import matplotlib.pyplot as plt

    from .._errors import SmoothscopeError

    applying = [
        name
        for name in ("A", "B", "C", "D")
        if any(p.lenses.get(name, {}).get("applies", name in p.lenses) for p in profiles)
    ]
    if lens is not None:
        lens = str(lens).upper()
        if lens not in applying:
            raise SmoothscopeError(
                f"lens: expected one of the measured lenses that apply "
                f"({', '.join(applying) or 'none'}), got {lens!r}"
            )
        applying = [lens]
    if not applying:
        raise SmoothscopeError("lens: no measured lens applies to these profiles")
    columns = max(len(PLOTTED[name][0]) for name in applying)
    fig, axes = plt.subplots(
        len(applying), columns, figsize=(4.2 * columns, 3.4 * len(applying)), squeeze=False
    )
    for row, name in zip(axes, applying, strict=True):
        used = 1 if name == "D" else len(PLOTTED[name][0])
        if name == "D":
            _jump_axes(row[0], profiles)
        else:
            _lens_axes(row[:used], profiles, name)
        for ax in row[used:]:
            ax.set_visible(False)
    fig.tight_layout()
    return fig


def _spectra_plot(profiles: Sequence[ProfileLike]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for p, style in zip(profiles, ("-", "--", ":", "-."), strict=False):
        spectra = p.lenses.get("C", {}).get("spectra", {})
        names = list(spectra)
        chosen = [names[0], names[len(names) // 2], names[-1]] if len(names) >= 3 else names
        for name in dict.fromkeys(chosen):
            s = spectra[name]
            ax.loglog(s["k"], s["power"], style, label=f"{_legend(p)}: {name}")
    ax.set(xlabel="frequency k", ylabel="mean normalised |z_k|²")
    ax.legend(fontsize=7)
    return _png(fig)


def _lens_table(p: ProfileLike, lens: str) -> dict[str, Any]:
    """One lens's table of a profile: metric names and, per layer, ``mean ± se`` cells."""
    metrics = METRICS[lens]
    rows = []
    for r in p.lenses.get(lens, {}).get("layers", []):
        cells = []
        for metric, se_key in metrics:
            text = _num(r.get(metric))
            if se_key and r.get(se_key) is not None and math.isfinite(r.get(se_key, math.nan)):
                text += f" ± {_num(r[se_key])}"
            cells.append(text)
        rows.append({"layer": r["layer"], "cells": cells})
    return {"metrics": [m for m, _ in metrics], "rows": rows}


def _differences_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "differs": bool(r.get("significant", not r["covers_zero"])),
            "lens": r["lens"],
            "layer": r["layer"],
            "metric": r["metric"],
            "a": _num(r["a"]),
            "b": _num(r["b"]),
            "difference": _num(r["difference"]),
            "low": _num(r["low"]),
            "high": _num(r["high"]),
            "p_holm": _num(r.get("p_holm")),
        }
        for r in rows
    ]


def _header(profiles: Sequence[ProfileLike]) -> dict[str, Any]:
    rows = []
    for p in profiles:
        weights = getattr(p, "weights", None) or {}
        rows.append(
            {
                "model": p.model,
                "weights": (
                    f"{weights.get('path')} (sha256 {str(weights.get('sha256', ''))[:12]}…)"
                    if weights
                    else "as built"
                ),
                "inputs": p.inputs,
                "seed": p.seed,
                "output": getattr(p, "output", "tensor"),
                "layers": len(p.layers),
                "seconds": ", ".join(f"{k} {v:.1f}" for k, v in p.seconds.items()),
            }
        )
    notes = [(_label(p), note) for p in profiles for note in getattr(p, "notes", None) or []]
    return {"rows": rows, "notes": notes}


def profile_html(p: ProfileLike) -> str:
    """A notebook's view of a profile: what was measured and one table per lens (no figure)."""
    tables = [
        (lens, _lens_table(p, lens))
        for lens in ("A", "B", "C")
        if p.lenses.get(lens, {}).get("applies", lens in p.lenses)
    ]
    d = p.lenses.get("D")
    d_text = ""
    if d is not None:
        d_text = (
            f"β = {_num(d.get('beta'))} ± {_num(d.get('beta_se'))}"
            if d.get("applies")
            else f"does not apply: {d.get('reason', '')}"
        )
    return (
        _templates()
        .get_template("profile.html.j2")
        .render(label=_label(p), head=_header([p]), tables=tables, d_text=d_text)
    )


def comparison_html(comparison: Any) -> str:
    """A notebook's view of a comparison: the two sides, the summary and the differences."""
    a, b = comparison.labels
    return (
        _templates()
        .get_template("comparison.html.j2")
        .render(a=a, b=b, summary=comparison.summary(), rows=_differences_table(comparison.rows))
    )


def render_card(
    profiles: Sequence[ProfileLike],
    differences: Sequence[dict[str, Any]] | None = None,
    *,
    titles: Sequence[str] | None = None,
) -> str:
    """The HTML of a card for one profile, or of two sides with ``differences`` (b − a) and
    the sides' ``titles``."""
    import matplotlib

    from .._version import __version__

    matplotlib.use("Agg")
    title = " vs ".join(titles) if titles else " vs ".join(_label(p) for p in profiles)
    context: dict[str, Any] = {
        "title": title,
        "version": __version__,
        "head": _header(profiles),
        "differences": None,
        "lenses": [],
    }
    if differences is not None:
        a, b = titles or (_label(profiles[0]), _label(profiles[-1]))
        context.update(
            differences=_differences_table(differences),
            a=a,
            b=b,
            n_significant=sum(bool(r.get("significant")) for r in differences),
            n_excluding_zero=sum(not r["covers_zero"] for r in differences),
        )
    for lens, (heading, text) in LENS_TEXT.items():
        present = [p for p in profiles if lens in p.lenses]
        if not present:
            continue
        applying = [p for p in present if p.lenses[lens].get("applies", True)]
        section: dict[str, Any] = {
            "heading": heading,
            "text": text,
            "not_applying": [
                (_label(p), p.lenses[lens].get("reason", ""))
                for p in present
                if not p.lenses[lens].get("applies", True)
            ],
            "figures": [],
            "tables": [],
            "jumps": [],
        }
        context["lenses"].append(section)
        if not applying:
            continue
        caption = f"Lens {lens}, per layer (95 % error bars)."
        section["figures"].append((_png(figure(applying, lens)), caption))
        if lens == "C":
            section["figures"].append((_spectra_plot(applying), "Path spectra of three layers."))
        if lens in ("A", "B", "C"):
            section["tables"] = [(_label(p), _lens_table(p, lens)) for p in applying]
        if lens == "D":
            for p in applying:
                d = p.lenses["D"]
                jumps = ", ".join(
                    f"s={s}: {_num(j)}" for s, j in zip(d["scales"], d["output_jump"], strict=True)
                )
                section["jumps"].append(
                    (_label(p), f"β = {_num(d['beta'])} ± {_num(d['beta_se'])}; jumps {jumps}")
                )
    return _templates().get_template("card.html.j2").render(context)
