"""The results schema shared by every experiment: claims with measured values and verdicts.

``results.json`` of a run holds ``{"experiment", "version", "scale", "seed", "claims": [...],
"measurements": {...}}``. Each claim records the paper's statement, the paper's value (``None``
when the paper is qualitative), the measured value, its uncertainty (a 95 % interval or
``None``), the verdict and the rule that decided it. Rules are fixed in code before a run; the
helpers here apply them and return ``inconclusive`` when the interval straddles the threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ._errors import SmoothscopeError

__all__ = ["VERDICTS", "Claim", "verdict_above", "verdict_below"]

Verdict = Literal["reproduced", "not reproduced", "inconclusive"]
VERDICTS: tuple[str, ...] = ("reproduced", "not reproduced", "inconclusive")


@dataclass(frozen=True)
class Claim:
    """One paper claim checked by a measurement.

    Attributes:
        id: stable identifier, e.g. ``"A.fig6.ellipsoid.ratio"``.
        paper: ``"A"`` … ``"D"``.
        where: figure or section of the paper.
        statement: what the paper says, in one sentence.
        paper_value: the paper's number, or ``None`` when it is qualitative.
        measured: our number.
        uncertainty: ``[low, high]`` 95 % interval, or ``None``.
        verdict: ``reproduced`` | ``not reproduced`` | ``inconclusive``.
        rule: how the verdict was decided.
    """

    id: str
    paper: str
    where: str
    statement: str
    paper_value: float | None
    measured: float
    uncertainty: tuple[float, float] | None
    verdict: Verdict
    rule: str

    def __post_init__(self) -> None:
        if self.paper not in ("A", "B", "C", "D"):
            raise SmoothscopeError(f"claim {self.id}: paper must be A-D, got {self.paper!r}")
        if self.verdict not in VERDICTS:
            raise SmoothscopeError(f"claim {self.id}: verdict must be one of {VERDICTS}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["uncertainty"] = list(self.uncertainty) if self.uncertainty is not None else None
        return d


def verdict_above(low: float, high: float, threshold: float) -> Verdict:
    """``reproduced`` if the whole interval is above ``threshold``, ``not reproduced`` if it is
    at or below it, ``inconclusive`` if it straddles it."""
    if low > threshold:
        return "reproduced"
    if high <= threshold:
        return "not reproduced"
    return "inconclusive"


def verdict_below(low: float, high: float, threshold: float) -> Verdict:
    """``reproduced`` if the whole interval is below ``threshold``, ``not reproduced`` if it is
    at or above it, ``inconclusive`` if it straddles it."""
    if high < threshold:
        return "reproduced"
    if low >= threshold:
        return "not reproduced"
    return "inconclusive"
