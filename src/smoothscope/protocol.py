"""The protocol ledger: what each paper fixes, and where a run deviates from it.

A verdict is about a paper only when it is decided under the paper's protocol (``STYLE.md``,
"Protocol fidelity"). Every config field that a paper fixes (training length and stopping
rule, optimiser, widths, biases, padding, frames per video, path radius, the estimator the
paper reads, ...) declares a :class:`PaperValue` in its config's ``PROTOCOL``, next to its
bound: the paper's value, where it comes from (a section of the paper, or a file of the
authors' code), and why a scale of ours may use another value. Where the paper gives no value,
:data:`NO_VALUE` says so and the declaration gives the reason for the project's choice.

Each run records its ledger in ``results.json`` (``"protocol"``, one :func:`ledger` entry per
declared field)::

    {"field", "value", "paper", "source", "deviates", "reason", "replicate"}

and each claim names the fields whose value can change its verdict (``depends_on``);
:func:`decided_under_deviation` then says whether any of them deviates. A claim decided under
a deviation that is not reproduced has the cause ``deviation`` (naming the fields), never
``disagreement``: that word is reserved for claims decided with every field they depend on at
the paper's value.

A *replicate count* (seeds, networks, test images, bootstrap draws; ``replicate=True``) only
sets the width of the interval that the verdict already reads, so a smaller count than the
paper's is recorded as a deviation but does not make the claim "decided under deviation". A
count that changes the *quantity* (frames per video, training multiples, images per class in
training) is a protocol field like any other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import SmoothscopeError

__all__ = [
    "ANY_SCALE",
    "NO_VALUE",
    "LedgerEntry",
    "PaperValue",
    "check_depends_on",
    "decided_under_deviation",
    "deviating_fields",
    "ledger",
]

NO_VALUE = "(paper gives none)"
"""The ``paper`` value of a field the paper leaves open."""
ANY_SCALE = "*"
"""Key of :attr:`PaperValue.reasons` that applies to every scale."""


def _same(a: Any, b: Any, rel_tol: float) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, rel_tol) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=0.0)
    return json.dumps(a, default=str) == json.dumps(b, default=str)


@dataclass(frozen=True)
class PaperValue:
    """What a paper fixes for one config field.

    Attributes:
        value: the paper's value, in the field's own type and units; :data:`NO_VALUE` when the
            paper gives none (then ``reasons[ANY_SCALE]`` says why the project's value).
        source: where the value comes from: the paper and section (``"B §4.3"``) and, for the
            authors' code, the repository and file (``"scale_detection_1d/ScaleDetection_SGD.py,
            stopping rule"``). Never empty.
        reasons: why a scale uses another value: ``{"quick": "...", "standard": "..."}``, or
            ``{"*": "..."}`` for every scale. A scale whose preset deviates without a reason
            here is a defect of the declaration (the claims registry test fails).
        replicate: a count of replicates (seeds, networks, test images): a smaller one only
            widens the interval, so it does not make a claim decided under deviation.
        rel_tol: relative tolerance when comparing numbers with the paper's.
        display: the paper's value in words when the field's value alone does not say it
            (``"500 (tanh: 200)"``).
    """

    value: Any
    source: str
    reasons: Mapping[str, str] = field(default_factory=dict)
    replicate: bool = False
    rel_tol: float = 1e-9
    display: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise SmoothscopeError("protocol: every paper value needs a source (section or file)")
        if self.value == NO_VALUE and not self.reasons.get(ANY_SCALE, "").strip():
            raise SmoothscopeError(
                f"protocol ({self.source}): the paper gives no value, so reasons['*'] must say "
                "why the project's value"
            )
        object.__setattr__(self, "reasons", dict(self.reasons))

    @property
    def open(self) -> bool:
        """Whether the paper leaves the value open."""
        return self.value == NO_VALUE

    def matches(self, value: Any) -> bool:
        """Whether ``value`` is the paper's (always true where the paper gives none)."""
        return self.open or _same(value, self.value, self.rel_tol)

    def reason(self, scale: str) -> str | None:
        """Why ``scale`` deviates (or, for an open field, why the project's value)."""
        return self.reasons.get(scale) or self.reasons.get(ANY_SCALE)


@dataclass(frozen=True)
class LedgerEntry:
    """One field of a run's ledger (see the module docstring)."""

    field: str
    value: Any
    paper: Any
    source: str
    deviates: bool
    reason: str | None
    replicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "value": self.value,
            "paper": self.paper,
            "source": self.source,
            "deviates": self.deviates,
            "reason": self.reason,
            "replicate": self.replicate,
        }


def ledger(
    protocol: Mapping[str, PaperValue],
    values: Mapping[str, Any],
    scale: str,
    *,
    user_set: Sequence[str] = (),
) -> list[LedgerEntry]:
    """The ledger of a run: each declared field's value beside the paper's.

    Args:
        protocol: the config's ``PROTOCOL`` (field -> :class:`PaperValue`).
        values: the run's value of each field (the config's, or the value resolved at run time,
            e.g. the dataset actually found).
        scale: the named scale the run started from.
        user_set: fields the user changed from the scale's preset (``--set``): their reason
            says so.

    Raises:
        SmoothscopeError: a declared field without a value in ``values``.
    """
    entries = []
    for name, pv in protocol.items():
        if name not in values:
            raise SmoothscopeError(f"protocol: field {name!r} is declared but has no value")
        value = values[name]
        deviates = not pv.matches(value)
        if pv.open:
            reason = pv.reason(scale)
        elif not deviates:
            reason = None
        elif name in user_set:
            reason = "set by the user (--set / options), not by the scale"
        else:
            reason = pv.reason(scale)
        entries.append(
            LedgerEntry(
                field=name,
                value=value,
                paper=pv.display or (NO_VALUE if pv.open else pv.value),
                source=pv.source,
                deviates=deviates,
                reason=reason,
                replicate=pv.replicate,
            )
        )
    return entries


def deviating_fields(entries: Sequence[Mapping[str, Any]], depends_on: Sequence[str]) -> list[str]:
    """The fields of ``depends_on`` that deviate from the paper (replicate counts excluded)."""
    by_field = {e["field"]: e for e in entries}
    return [f for f in depends_on if by_field[f]["deviates"] and not by_field[f]["replicate"]]


def decided_under_deviation(
    entries: Sequence[Mapping[str, Any]], depends_on: Sequence[str]
) -> bool:
    """Whether any field a claim depends on deviates from the paper (not counting replicate
    counts: they only widen the interval the verdict reads)."""
    return bool(deviating_fields(entries, depends_on))


def check_depends_on(claim_id: str, depends_on: Sequence[str], known: Sequence[str]) -> None:
    """Refuse a claim that depends on a field the ledger does not declare."""
    unknown = sorted(set(depends_on) - set(known))
    if unknown:
        raise SmoothscopeError(
            f"claim {claim_id}: depends_on names {', '.join(unknown)}, which the protocol "
            f"ledger does not declare (declared: {', '.join(sorted(known)) or 'none'})"
        )
