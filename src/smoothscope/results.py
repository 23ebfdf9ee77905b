"""The results schema shared by every experiment: claims with measured values and verdicts.

``results.json`` (schema 2) of a run holds ``{"schema", "experiment", "scale", "seed",
"environment", "data", "claims": [...], "measurements": {...}}``. Each claim records the paper's
statement, the paper's value (``None`` when the paper is qualitative), the measured value, its
uncertainty (a 95 % interval or ``None``), the verdict and the rule that decided it, and since
schema 2 also:

* ``kind``: ``paper`` (a claim the paper makes), ``extension`` (the project's own question) or
  ``post-hoc`` (a rule added after results were seen, with the date and the reason in
  ``posthoc``). Paper tallies count ``paper`` claims only.
* ``control``: a run beside the measurement on which the same rule must *not* reproduce (an
  untrained network for a claim about training, a linear network for a claim about ReLU, ...),
  with its value and the verdict the rule gives on it; or ``None`` with the reason in
  ``no_control``.
* ``replicates``: what the interval is taken over, ``{level: n}``; the first level is the one the
  interval is resampled over.
* ``threshold`` and ``power``: the rule's threshold, and for an inconclusive claim a note computed
  from the observed spread that says how many replicates would decide it.

Since schema 3 (the protocol ledger, :mod:`smoothscope.protocol`):

* ``depends_on``: the config fields of the run's ledger whose value can change the verdict;
* ``decided_under_deviation``: whether any of them deviates from the paper's value in this run
  (set by :func:`smoothscope.experiments.run_experiment` from the run's ledger). A claim decided
  under deviation that is not reproduced is never called a disagreement with the paper.

Rules are fixed in code before a run; the helpers here apply them and return ``inconclusive``
when the interval straddles the threshold. Two rules hold for every claim and are applied here,
so that no experiment can forget them: a claim whose control reproduces too is ``not
reproduced`` (the rule cannot tell the effect from its absence), and a claim whose measured value
is not finite (a dead, NaN or diverged model) is never ``reproduced``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ._errors import SmoothscopeError
from .protocol import check_depends_on, decided_under_deviation

__all__ = [
    "KINDS",
    "VERDICTS",
    "Claim",
    "Control",
    "claim_from_dict",
    "missing_fields",
    "power_note",
    "verdict_above",
    "verdict_below",
]

Verdict = Literal["reproduced", "not reproduced", "inconclusive"]
VERDICTS: tuple[str, ...] = ("reproduced", "not reproduced", "inconclusive")
CONTROL_PASSES = "rule does not separate the effect from its absence"
"""The end of the rule text of a claim that :class:`Claim` turned into ``not reproduced``
because its control reproduces too (:mod:`smoothscope.causes` reads it)."""
Kind = Literal["paper", "extension", "post-hoc"]
KINDS: tuple[str, ...] = ("paper", "extension", "post-hoc")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_interval(owner: str, uncertainty: Any) -> tuple[float, float] | None:
    if uncertainty is None:
        return None
    try:
        low, high = (float(v) for v in uncertainty)
    except (TypeError, ValueError) as exc:
        raise SmoothscopeError(
            f"{owner}: uncertainty must be None or [low, high], got {uncertainty!r}"
        ) from exc
    return (low, high)


@dataclass(frozen=True)
class Control:
    """The run that shows a claim's rule can fail: the same rule applied to a case without the
    paper's effect (or, for a positive control, with it known to be present).

    Attributes:
        id: ``"<claim id>/<control name>"``.
        description: one line: what the control is and what the rule should say on it.
        measured: the control's value of the claim's statistic.
        uncertainty: its 95 % interval, or ``None``.
        verdict: the verdict of the claim's own rule on the control.
    """

    id: str
    description: str
    measured: float
    uncertainty: tuple[float, float] | None
    verdict: Verdict

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise SmoothscopeError(f"control {self.id}: verdict must be one of {VERDICTS}")
        object.__setattr__(self, "uncertainty", _check_interval(self.id, self.uncertainty))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "measured": self.measured,
            "uncertainty": list(self.uncertainty) if self.uncertainty is not None else None,
            "verdict": self.verdict,
        }


def power_note(
    measured: float,
    uncertainty: tuple[float, float],
    threshold: float,
    replicates: Mapping[str, int],
) -> str:
    """What would decide an inconclusive claim, from the observed spread.

    The interval's half-width shrinks as ``1/sqrt(n)`` in the replicates it is resampled over
    (the first level of ``replicates``), so excluding ``threshold`` from an interval centred at
    ``measured`` needs ``n' = n * (half_width / |measured - threshold|)**2`` replicates.
    """
    level, n = next(iter(replicates.items()))
    low, high = uncertainty
    half = (high - low) / 2.0
    distance = abs(measured - threshold)
    if not (_finite(half) and _finite(distance)):
        return "the interval is not finite: no replicate count decides it"
    if distance <= 1e-12 * max(1.0, abs(threshold)):
        return (
            f"the estimate sits on the threshold {threshold:g}: more {level} narrow the "
            "interval but cannot move it off the threshold"
        )
    needed = max(int(n) + 1, math.ceil(int(n) * (half / distance) ** 2))
    return (
        f"needs >= {needed} {level} (has {n}) for the interval to exclude {threshold:g} "
        "at the observed spread"
    )


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
        kind: ``paper`` | ``extension`` | ``post-hoc`` (``None`` only in legacy results).
        control: the control run, or ``None`` (then ``no_control`` says why).
        no_control: one line: why no control exists.
        replicates: ``{level: n}``, what the interval is over; the first level is resampled.
        threshold: the rule's threshold (for the power note).
        power: for an inconclusive claim, what would decide it (computed when not given).
        posthoc: for ``kind="post-hoc"``: ``"YYYY-MM-DD: why the rule was added"``.
        depends_on: the ledger fields whose value can change the verdict (``()``: none, e.g. an
            analytic toy); ``None`` only in results older than schema 3.
        decided_under_deviation: whether a field of ``depends_on`` deviates from the paper in
            the run (``None`` until the run's ledger is applied, see :meth:`with_ledger`).
        unit: the unit of ``measured`` and ``paper_value`` (``"Spearman ρ"``, ``"ln ratio"``);
            optional: the report otherwise reads it from its units table
            (:data:`smoothscope.report.UNITS`). Written to ``results.json`` only when set.
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
    kind: Kind | None = None
    control: Control | None = None
    no_control: str | None = None
    replicates: Mapping[str, int] = field(default_factory=dict)
    threshold: float | None = None
    power: str | None = None
    posthoc: str | None = None
    depends_on: tuple[str, ...] | None = None
    decided_under_deviation: bool | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.paper not in ("A", "B", "C", "D"):
            raise SmoothscopeError(f"claim {self.id}: paper must be A-D, got {self.paper!r}")
        if self.verdict not in VERDICTS:
            raise SmoothscopeError(f"claim {self.id}: verdict must be one of {VERDICTS}")
        if self.kind is not None and self.kind not in KINDS:
            raise SmoothscopeError(f"claim {self.id}: kind must be one of {KINDS}")
        if self.kind == "post-hoc" and not self.posthoc:
            raise SmoothscopeError(
                f"claim {self.id}: a post-hoc claim needs posthoc='YYYY-MM-DD: reason'"
            )
        if self.control is not None and not isinstance(self.control, Control):
            raise SmoothscopeError(f"claim {self.id}: control must be a Control or None")
        replicates = dict(self.replicates)
        for level, n in replicates.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise SmoothscopeError(
                    f"claim {self.id}: replicates[{level!r}] must be a positive integer, got {n!r}"
                )
        object.__setattr__(self, "replicates", replicates)
        object.__setattr__(self, "uncertainty", _check_interval(self.id, self.uncertainty))
        if self.depends_on is not None:
            if isinstance(self.depends_on, str) or not all(
                isinstance(f, str) and f for f in self.depends_on
            ):
                raise SmoothscopeError(
                    f"claim {self.id}: depends_on must be a sequence of field names, "
                    f"got {self.depends_on!r}"
                )
            object.__setattr__(self, "depends_on", tuple(dict.fromkeys(self.depends_on)))
        verdict, rule = self.verdict, self.rule
        interval_finite = self.uncertainty is None or all(_finite(v) for v in self.uncertainty)
        if verdict == "reproduced" and not (_finite(self.measured) and interval_finite):
            verdict = "not reproduced"
            rule += (
                " — the measured value is not finite (a dead, NaN or diverged model or layer), "
                "so the claim cannot be reproduced"
            )
        if (
            verdict == "reproduced"
            and self.control is not None
            and self.control.verdict == "reproduced"
        ):
            verdict = "not reproduced"
            rule += (
                f" — the control ({self.control.id}) reproduces under the same rule, so the "
                + CONTROL_PASSES
            )
        object.__setattr__(self, "verdict", verdict)
        object.__setattr__(self, "rule", rule)
        if (
            verdict == "inconclusive"
            and self.power is None
            and self.threshold is not None
            and self.uncertainty is not None
            and replicates
            and _finite(self.measured)
        ):
            note = power_note(self.measured, self.uncertainty, self.threshold, replicates)
            object.__setattr__(self, "power", note)

    def to_dict(self) -> dict[str, Any]:
        unit = {"unit": self.unit} if self.unit is not None else {}
        return {
            "id": self.id,
            "paper": self.paper,
            "where": self.where,
            "statement": self.statement,
            "paper_value": self.paper_value,
            "measured": self.measured,
            "uncertainty": list(self.uncertainty) if self.uncertainty is not None else None,
            "verdict": self.verdict,
            "rule": self.rule,
            "kind": self.kind,
            "control": self.control.to_dict() if self.control is not None else None,
            "no_control": self.no_control,
            "replicates": dict(self.replicates),
            "threshold": self.threshold,
            "power": self.power,
            "posthoc": self.posthoc,
            "depends_on": list(self.depends_on) if self.depends_on is not None else None,
            "decided_under_deviation": self.decided_under_deviation,
            **unit,
        }

    def with_ledger(self, entries: Sequence[Mapping[str, Any]]) -> Claim:
        """This claim with ``decided_under_deviation`` read from a run's ledger entries.

        Raises:
            SmoothscopeError: ``depends_on`` names a field the ledger does not declare.
        """
        if self.depends_on is None:
            return self
        check_depends_on(self.id, self.depends_on, [e["field"] for e in entries])
        return replace(
            self, decided_under_deviation=decided_under_deviation(entries, self.depends_on)
        )


def claim_from_dict(d: Mapping[str, Any]) -> Claim:
    """Rebuild a :class:`Claim` from its ``to_dict`` form (schema 3, or older schemas without
    the newer fields)."""
    control = d.get("control")
    return Claim(
        id=d["id"],
        paper=d["paper"],
        where=d["where"],
        statement=d["statement"],
        paper_value=d["paper_value"],
        measured=d["measured"],
        uncertainty=d["uncertainty"],
        verdict=d["verdict"],
        rule=d["rule"],
        kind=d.get("kind"),
        control=Control(**control) if isinstance(control, Mapping) else None,
        no_control=d.get("no_control"),
        replicates=d.get("replicates") or {},
        threshold=d.get("threshold"),
        power=d.get("power"),
        posthoc=d.get("posthoc"),
        depends_on=tuple(d["depends_on"]) if d.get("depends_on") is not None else None,
        decided_under_deviation=d.get("decided_under_deviation"),
        unit=d.get("unit"),
    )


def missing_fields(claim: Claim | Mapping[str, Any]) -> list[str]:
    """What a claim lacks to count as evidence: ``kind``, ``replicates``, and a control or a
    stated reason for having none (``[]`` when complete)."""
    d = claim.to_dict() if isinstance(claim, Claim) else dict(claim)
    missing = []
    if d.get("kind") not in KINDS:
        missing.append("kind")
    if not d.get("replicates"):
        missing.append("replicates")
    if d.get("control") is None and not d.get("no_control"):
        missing.append("control or no_control")
    if d.get("verdict") == "inconclusive" and d.get("uncertainty") is not None:
        if d.get("threshold") is None and not d.get("power"):
            missing.append("threshold or power (for the power note)")
    return missing


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
