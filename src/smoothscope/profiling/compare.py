"""Profiles side by side: ``b − a`` of every metric, with intervals that include seed noise.

Each side is one profile or several (the same architecture from different initialisations,
profiled with different seeds). Per (lens, layer, metric) a side's value is the mean over its
profiles and its standard error is

* with ``k ≥ 2`` profiles: ``sd(v₁ … v_k) / √k`` on ``k − 1`` degrees of freedom. The spread
  of the profiles' values holds the init-to-init variation *and* each profile's own sampling
  noise, so the interval is about the architecture, not about one set of weights;
* with one profile: that profile's own standard error (normal approximation). It ignores the
  init-to-init variation: two initialisations of one network then differ "significantly" on
  many metrics, so compare several seeds per side to speak about architectures.

The difference gets Welch's interval ``diff ± t_{0.975, ν}·√(se_a² + se_b²)`` (ν by
Welch–Satterthwaite; the normal quantile when neither side has replicates) and a two-sided
p-value; ``significant`` applies Holm's step-down correction over all rows of the comparison
(family-wise error 5 %), and ``covers_zero`` is the unadjusted interval's verdict.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import SmoothscopeError
from .._io import atomic_write_bytes
from .card import comparison_html, figure, render_card
from .core import Profile, to_dataframe

__all__ = ["ALPHA", "Comparison", "compare_profiles"]

ALPHA = 0.05
"""Family-wise error rate of ``significant`` (Holm) and 1 − coverage of the intervals."""
COLUMNS = (
    "lens", "layer", "metric", "a", "b", "difference", "se", "df", "low", "high", "p",
    "p_holm", "covers_zero", "significant", "n_a", "n_b",
)  # fmt: skip


@dataclass
class Comparison:
    """Two sides of profiles: per (lens, layer, metric) the side means, ``b − a``, its 95 %
    interval, the p-value and Holm's verdict (see the module docstring)."""

    a: list[Profile]
    b: list[Profile]
    rows: list[dict[str, Any]]

    @property
    def labels(self) -> tuple[str, str]:
        return _side_label(self.a), _side_label(self.b)

    @property
    def init_variation(self) -> bool:
        """Whether both sides have replicates, so that the intervals include seed noise."""
        return len(self.a) > 1 and len(self.b) > 1

    def summary(self) -> str:
        """One sentence: how many differences are significant, and under which model."""
        n = len(self.rows)
        significant = sum(bool(r["significant"]) for r in self.rows)
        excluding = sum(not r["covers_zero"] for r in self.rows)
        how = (
            f"init-to-init variation included ({len(self.a)} and {len(self.b)} profiles per "
            "side)"
            if self.init_variation
            else "one profile on a side: its intervals ignore init-to-init variation; give "
            "several seeds per side to compare architectures"
        )
        return (
            f"{significant} of {n} differences are significant (Holm, family-wise 5 %); "
            f"{excluding} of {n} 95 % intervals exclude 0 unadjusted; {how}"
        )

    def table(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def to_dataframe(self):
        """The rows as a pandas DataFrame (pandas is the optional extra ``[pandas]``)."""
        return to_dataframe(self.rows, COLUMNS)

    def plot(self, lens: str | None = None):
        """A matplotlib Figure of both sides' profiles per layer (see :meth:`Profile.plot`)."""
        return figure([*self.a, *self.b], lens)

    def _repr_html_(self) -> str:
        return comparison_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": [p.to_dict() for p in self.a],
            "b": [p.to_dict() for p in self.b],
            "labels": list(self.labels),
            "summary": self.summary(),
            "differences": self.rows,
        }

    def card(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        page = render_card([*self.a, *self.b], self.rows, titles=self.labels)
        atomic_write_bytes(path, page.encode("utf-8"))
        return path


def _side_label(profiles: Sequence[Profile]) -> str:
    models = list(dict.fromkeys(p.model for p in profiles))
    if len(profiles) == 1:
        return profiles[0].label
    weights = [Path(str(p.weights["path"])).name for p in profiles if p.weights]
    detail = ", ".join(weights) if weights else "seeds " + ", ".join(str(p.seed) for p in profiles)
    return f"{' + '.join(models)} ×{len(profiles)} ({detail})"


def _side(profiles: Sequence[Profile] | Profile, name: str) -> list[Profile]:
    items = [profiles] if isinstance(profiles, Profile) else list(profiles)
    if not items or not all(isinstance(p, Profile) for p in items):
        raise SmoothscopeError(f"{name}: expected a Profile or a non-empty list of Profiles")
    first = items[0]
    for p in items[1:]:
        if p.layers != first.layers:
            raise SmoothscopeError(
                f"{name}: expected profiles of one architecture (the same layers); "
                f"{p.label} has {len(p.layers)} layers, {first.label} {len(first.layers)}"
            )
        if p.settings != first.settings:
            raise SmoothscopeError(
                f"{name}: expected profiles measured with the same settings, got two kinds"
            )
    return items


def _layer_pairs(a: Profile, b: Profile) -> list[tuple[str, str]]:
    if a.layers == b.layers:
        return [(n, n) for n in a.layers]
    common = [n for n in a.layers if n in b.layers]
    if len(a.layers) == len(b.layers) and len(common) < len(a.layers):
        return list(zip(a.layers, b.layers, strict=True))  # same depth, other names: by position
    return [(n, n) for n in common]


def _side_stats(rows: Sequence[dict[str, Any]]) -> tuple[float, float, float, int]:
    """``(mean, se, degrees of freedom, count)`` of one side's rows for one metric."""
    values = [r["value"] for r in rows if math.isfinite(r["value"])]
    k = len(values)
    if k == 0:
        return math.nan, math.nan, math.inf, 0
    mean = math.fsum(values) / k
    if k == 1:
        se = next(r["se"] for r in rows if math.isfinite(r["value"]))
        return mean, se, math.inf, 1
    var = math.fsum((v - mean) ** 2 for v in values) / (k - 1)
    return mean, math.sqrt(var / k), float(k - 1), k


def _welch(se_a: float, df_a: float, se_b: float, df_b: float) -> float:
    """Welch–Satterthwaite degrees of freedom (inf: the normal approximation)."""
    terms = [s**4 / d for s, d in ((se_a, df_a), (se_b, df_b)) if math.isfinite(d) and s > 0]
    if not terms:
        return math.inf
    return (se_a**2 + se_b**2) ** 2 / math.fsum(terms)


def _holm(rows: list[dict[str, Any]]) -> None:
    """Holm's step-down adjusted p-values into ``p_holm``; ``significant`` at :data:`ALPHA`."""
    tested = sorted((r for r in rows if math.isfinite(r["p"])), key=lambda r: r["p"])
    m, running = len(tested), 0.0
    for i, row in enumerate(tested):
        running = max(running, min(1.0, (m - i) * row["p"]))
        row["p_holm"] = running
    for row in rows:
        if math.isfinite(row["p"]):
            row["significant"] = row["p_holm"] < ALPHA
        else:  # defined on one side only: a qualitative difference
            row["significant"] = not row["covers_zero"]


def compare_profiles(a: Profile | Sequence[Profile], b: Profile | Sequence[Profile]) -> Comparison:
    """Differences ``b − a`` of every metric both sides measured (see the module docstring).

    Args:
        a, b: a :class:`Profile` each, or lists of profiles of one architecture each (several
            initialisations or seeds; the same layers and settings within a side).

    Returns:
        :class:`Comparison`. Layers are matched by name, or by position when both sides have
        the same number of layers under other names. Metrics undefined on both sides (h of
        exactly linear paths) are left out; one defined on one side only does not cover 0. An
        exact zero difference covers 0 whatever the interval.
    """
    from scipy import stats

    side_a, side_b = _side(a, "a"), _side(b, "b")
    index_a: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    index_b: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for profiles, index in ((side_a, index_a), (side_b, index_b)):
        for p in profiles:
            for r in p.table():
                index.setdefault((r["lens"], r["layer"], r["metric"]), []).append(r)
    pairs = _layer_pairs(side_a[0], side_b[0])
    rows = []
    for lens, metric in dict.fromkeys((k[0], k[2]) for k in index_a):
        for la, lb in pairs:
            ra, rb = index_a.get((lens, la, metric)), index_b.get((lens, lb, metric))
            if ra is None or rb is None:
                continue
            va, sa, da, na = _side_stats(ra)
            vb, sb, db, nb = _side_stats(rb)
            if not (math.isfinite(va) or math.isfinite(vb)):
                continue  # undefined on both sides (e.g. h of exactly linear paths)
            diff = vb - va
            se = math.sqrt(sa**2 + sb**2)
            df = _welch(sa, da, sb, db)
            quantile = float(stats.norm.ppf(1 - ALPHA / 2) if math.isinf(df) else
                             stats.t.ppf(1 - ALPHA / 2, df))  # fmt: skip
            low, high = diff - quantile * se, diff + quantile * se
            if diff == 0:
                p = 1.0
            elif not (math.isfinite(diff) and math.isfinite(se)):
                p = math.nan
            elif se == 0:
                p = 0.0
            else:
                tail = stats.norm.sf if math.isinf(df) else (lambda z, d=df: stats.t.sf(z, d))
                p = float(min(1.0, 2 * tail(abs(diff) / se)))
            covers = diff == 0 or (math.isfinite(se) and low <= 0 <= high)
            rows.append(
                {
                    "lens": lens,
                    "layer": la if la == lb else f"{la} → {lb}",
                    "metric": metric,
                    "a": va,
                    "b": vb,
                    "difference": diff,
                    "se": se,
                    "df": df,
                    "low": low,
                    "high": high,
                    "p": p,
                    "p_holm": math.nan,
                    "covers_zero": bool(covers),
                    "significant": False,
                    "n_a": na,
                    "n_b": nb,
                }
            )
    _holm(rows)
    order = {n: i for i, n in enumerate(side_a[0].layers)}
    rows.sort(key=lambda r: (r["lens"], r["metric"], order.get(r["layer"].split(" → ")[0], 1e9)))
    return Comparison(side_a, side_b, rows)
