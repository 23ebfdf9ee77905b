"""Why a claim did not reproduce: the one-line *cause* shown in the report and the results
tables.

The cause of a claim that is not reproduced in a run is:

* ``deviation (field, ...)``: a field the claim depends on deviates from the paper in this run
  (the run's protocol ledger, :mod:`smoothscope.protocol`); the verdict is about our protocol,
  not the paper's;
* ``control also passes``: every field the claim depends on is at the paper's value and the
  measurement passes its rule, but so does its control (:class:`smoothscope.results.Claim`
  then turns it into ``not reproduced``): the rule does not separate the effect from its
  absence at this scale, which is no evidence against the paper either;
* ``disagreement``: every field the claim depends on is at the paper's value, and the claim's own
  rule rejects its measurement (an interval on the wrong side, a dead model);
* ``protocol not recorded``: results older than schema 3, which carry no ledger.

An inconclusive claim is ``undecided`` (its power note says what would decide it). Against a
*baseline* (the same reproduce at another scale, normally quick), a claim reproduced here but not
there gets ``scale``, ``data``, ``scale + data`` or ``scale or data``, decided from the data the
two runs read and, when given, the same scale run on the embedded digits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .protocol import deviating_fields
from .results import CONTROL_PASSES

__all__ = ["annotate_claims", "claim_cause", "uses_real_data"]


def uses_real_data(run: Mapping[str, Any]) -> bool:
    """Whether a run read a dataset from files: a ``"data"`` entry not marked ``(embedded)``."""
    return any("(embedded)" not in str(v) for v in (run.get("data") or {}).values())


def annotate_claims(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The claims of ``runs`` (``results.json`` contents), each with the run's ``experiment``,
    ``real_data``, ``data_used`` (the run's data as a comparable string) and ``deviating`` (the
    fields of its ``depends_on`` that deviate in the run's ledger), sorted by paper and id."""
    claims = []
    for run in runs:
        protocol = run.get("protocol") or []
        known = {e.get("field") for e in protocol}
        for c in run["claims"]:
            depends = c.get("depends_on")
            deviating = (
                deviating_fields(protocol, [f for f in depends if f in known])
                if depends is not None
                else None
            )
            claims.append(
                dict(
                    c,
                    experiment=run["experiment"],
                    real_data=uses_real_data(run),
                    data_used=json.dumps(run.get("data") or {}, sort_keys=True),
                    deviating=deviating,
                )
            )
    return sorted(claims, key=lambda c: (str(c["paper"]), c["id"]))


def _own_cause(claim: Mapping[str, Any]) -> str:
    """The cause of a claim from its own run: ``""`` when reproduced."""
    verdict = claim["verdict"]
    if verdict == "reproduced":
        return ""
    if verdict == "inconclusive":
        return "undecided"
    if claim.get("depends_on") is None:
        return "protocol not recorded"
    deviating = claim.get("deviating")
    if deviating is None:  # a claim dict without annotate_claims: read its own flag
        if claim.get("decided_under_deviation"):
            return "deviation"
        deviating = ()
    if deviating:
        return f"deviation ({', '.join(deviating)})"
    return "control also passes" if CONTROL_PASSES in str(claim.get("rule", "")) else "disagreement"


def claim_cause(
    claim: Mapping[str, Any],
    baseline: Mapping[str, Any] | None = None,
    digits: Mapping[str, Any] | None = None,
) -> str:
    """The cause of ``claim`` (see the module docstring); ``""`` when there is nothing to
    explain (reproduced here, and reproduced in the baseline or no baseline given).

    Args:
        claim: a claim of :func:`annotate_claims`.
        baseline: the same claim in the baseline run, if any.
        digits: the same claim in the digits run at this scale, if any.
    """
    if claim["verdict"] != "reproduced":
        return _own_cause(claim)
    if baseline is None or baseline["verdict"] == "reproduced":
        return ""
    if not claim.get("real_data", True):
        return "scale"
    if claim.get("data_used") is not None and claim.get("data_used") == baseline.get("data_used"):
        # only the scale changed; a digits run that does not reproduce it says real data is
        # needed too
        if digits is not None and digits["verdict"] != "reproduced":
            return "scale + data"
        return "scale"
    if digits is None:
        return "scale or data"
    return "scale" if digits["verdict"] == "reproduced" else "data"
