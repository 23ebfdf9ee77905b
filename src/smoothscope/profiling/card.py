"""The profile card: one self-contained HTML page (inline CSS, figures as base64 PNG data URIs,
no script) showing one profile, or two side by side with their differences."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any, Protocol

from .lenses import METRICS

__all__ = ["ProfileLike", "render_card"]


class ProfileLike(Protocol):
    """What a card reads of a profile (:class:`smoothscope.profiling.Profile` has it all)."""

    model: str
    inputs: str
    seed: int
    layers: list[str]
    lenses: dict[str, dict[str, Any]]
    seconds: dict[str, float]


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; max-width: 75em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.55em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.differs td { background: #fff4d6; }
figure { margin: 0.8em 0 1.6em; }
figure img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption, .note { color: #57606a; font-size: 0.9em; max-width: 60em; }
"""

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


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


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


def _figure(uri: str, caption: str) -> str:
    return (
        f'<figure><img src="{uri}" alt="{_esc(caption)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _layer_plot(
    profiles: Sequence[ProfileLike], lens: str, metrics: Sequence[str], log: bool
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for p in profiles:
            rows = p.lenses.get(lens, {}).get("layers", [])
            if not rows:
                continue
            y = [r.get(metric, math.nan) for r in rows]
            e = [r.get(metric + "_se", math.nan) for r in rows]
            e = [0.0 if v is None or not math.isfinite(v) else 1.96 * v for v in e]
            ax.errorbar(range(len(rows)), y, yerr=e, marker="o", ms=3, capsize=2, label=p.model)
            ax.set_xticks(range(len(rows)), [r["layer"] for r in rows], rotation=60, fontsize=7)
        if log:
            ax.set_yscale("log")
        ax.set_title(metric)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _spectra_plot(profiles: Sequence[ProfileLike]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for p, style in zip(profiles, ("-", "--"), strict=False):
        spectra = p.lenses.get("C", {}).get("spectra", {})
        names = list(spectra)
        chosen = [names[0], names[len(names) // 2], names[-1]] if len(names) >= 3 else names
        for name in dict.fromkeys(chosen):
            s = spectra[name]
            ax.loglog(s["k"], s["power"], style, label=f"{p.model}: {name}")
    ax.set(xlabel="frequency k", ylabel="mean normalised |z_k|²")
    ax.legend(fontsize=7)
    return _png(fig)


def _jump_plot(profiles: Sequence[ProfileLike]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for p in profiles:
        d = p.lenses.get("D", {})
        if d.get("applies"):
            ax.loglog(d["scales"], d["output_jump"], "o-", label=f"{p.model} (β = {d['beta']:.2f})")
            ax.loglog(d["scales"], d["input_jump"], "k:", label="input")
    ax.set(xlabel="scale s", ylabel="largest jump across the edge")
    ax.legend(fontsize=7)
    return _png(fig)


def _lens_table(p: ProfileLike, lens: str) -> str:
    rows = p.lenses.get(lens, {}).get("layers", [])
    metrics = METRICS[lens]
    head = "".join(f"<th>{_esc(m)}</th>" for m, _ in metrics)
    out = [f"<table><thead><tr><th>layer</th>{head}</tr></thead><tbody>"]
    for r in rows:
        cells = ""
        for metric, se_key in metrics:
            text = _num(r.get(metric))
            if se_key and r.get(se_key) is not None and math.isfinite(r.get(se_key, math.nan)):
                text += f" ± {_num(r[se_key])}"
            cells += f'<td class="num">{_esc(text)}</td>'
        out.append(f"<tr><td><code>{_esc(r['layer'])}</code></td>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _differences_table(rows: Sequence[dict[str, Any]]) -> str:
    out = [
        "<table><thead><tr><th>lens</th><th>layer</th><th>metric</th><th>a</th><th>b</th>"
        "<th>b − a</th><th>95 % interval</th></tr></thead><tbody>"
    ]
    for r in rows:
        cls = "" if r["covers_zero"] else ' class="differs"'
        out.append(
            f"<tr{cls}><td>{_esc(r['lens'])}</td><td><code>{_esc(r['layer'])}</code></td>"
            f"<td>{_esc(r['metric'])}</td><td class='num'>{_num(r['a'])}</td>"
            f"<td class='num'>{_num(r['b'])}</td><td class='num'>{_num(r['difference'])}</td>"
            f"<td class='num'>[{_num(r['low'])}, {_num(r['high'])}]</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def render_card(
    profiles: Sequence[ProfileLike], differences: Sequence[dict[str, Any]] | None = None
) -> str:
    """The HTML of a card for one profile, or two with ``differences`` (b − a)."""
    from .._version import __version__

    title = " vs ".join(p.model for p in profiles)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>smoothscope profile — {_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Profile card: {_esc(title)}</h1>",
        f'<p class="note">smoothscope {_esc(__version__)}. Values are means ± standard errors '
        "over each lens's replicates (trajectories, input pairs, directions).</p>",
        "<table><thead><tr><th>model</th><th>inputs</th><th>seed</th><th>layers</th>"
        "<th>seconds per lens</th></tr></thead><tbody>",
    ]
    for p in profiles:
        secs = ", ".join(f"{k} {v:.1f}" for k, v in p.seconds.items())
        out.append(
            f"<tr><td>{_esc(p.model)}</td><td>{_esc(p.inputs)}</td><td>{p.seed}</td>"
            f"<td>{len(p.layers)}</td><td>{_esc(secs)}</td></tr>"
        )
    out.append("</tbody></table>")
    if differences is not None:
        n_diff = sum(not r["covers_zero"] for r in differences)
        out.append("<h2>Differences (b − a)</h2>")
        out.append(
            f'<p class="note">a = {_esc(profiles[0].model)}, b = {_esc(profiles[-1].model)}. '
            f"{n_diff} of {len(differences)} differences have a 95 % interval that excludes 0 "
            "(highlighted; normal approximation, no correction for multiple comparisons).</p>"
        )
        out.append(_differences_table(differences))
    plots = {
        "A": lambda: _layer_plot(profiles, "A", ("peak_share", "smp_share"), log=False),
        "B": lambda: _layer_plot(profiles, "B", ("D", "G", "R"), log=True),
        "C": lambda: _layer_plot(profiles, "C", ("h",), log=False),
        "D": lambda: _jump_plot(profiles),
    }
    for lens, (heading, text) in LENS_TEXT.items():
        present = [p for p in profiles if lens in p.lenses]
        if not present:
            continue
        out.append(f"<h2>{_esc(heading)}</h2><p class='note'>{_esc(text)}</p>")
        applying = [p for p in present if p.lenses[lens].get("applies", True)]
        for p in present:
            if not p.lenses[lens].get("applies", True):
                reason = p.lenses[lens].get("reason", "")
                out.append(f"<p><b>{_esc(p.model)}</b>: does not apply — {_esc(reason)}</p>")
        if not applying:
            continue
        out.append(_figure(plots[lens](), f"Lens {lens}, per layer (95 % error bars)."))
        if lens == "C":
            out.append(_figure(_spectra_plot(applying), "Path spectra of three layers."))
        if lens in ("A", "B", "C"):
            for p in applying:
                out.append(f"<h3>{_esc(p.model)}</h3>{_lens_table(p, lens)}")
        if lens == "D":
            for p in applying:
                d = p.lenses["D"]
                jumps = ", ".join(
                    f"s={s}: {_num(j)}" for s, j in zip(d["scales"], d["output_jump"], strict=True)
                )
                out.append(
                    f"<p><b>{_esc(p.model)}</b>: β = {_num(d['beta'])} ± {_num(d['beta_se'])}; "
                    f"jumps {_esc(jumps)}</p>"
                )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
