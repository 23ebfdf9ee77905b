"""What a reader must know before trusting a run's verdicts: substituted data, models that
barely trained, and the scale. The report shows these as banners at the top of each paper, and
``run`` / ``reproduce`` print them at the start and at the end.

*Substitution.* A run used other data than the paper's:

* a protocol-ledger entry of a data field (``dataset``, ``mnist_path``, ``images``, ...) that
  deviates from the paper (the run's ledger names the data used, the paper's and the reason);
* otherwise, what the run recorded under ``"data"``: a dataset that ``"auto"`` resolved to
  something other than CIFAR-10 (``auto`` takes CIFAR-10 first, as the papers do; the digits are
  the last fallback), or scikit-learn's 8×8 digits standing in for MNIST.

*Undertrained models.* A measurement record with a ``test_error`` (the stability networks, the
scale-detection families) whose error closes less than half of the distance from the chance
level to zero (``test_error > UNDERTRAINED_FRACTION × chance``), or does not improve on its own
error at initialisation (``init_test_error``). The chance level is what the experiment records
as ``measurements["chance_error"]`` (the error of a uniform guess over its classes).

*Scale.* A quick run decides only the large effects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "QUICK_NOTE",
    "UNDERTRAINED_FRACTION",
    "Substitution",
    "Undertrained",
    "planned_substitutions",
    "planned_warnings",
    "run_warnings",
    "scale_note",
    "substitutions",
    "undertrained",
]

UNDERTRAINED_FRACTION = 0.5
"""A model whose test error exceeds this fraction of the chance level is flagged."""

_DATA_FIELD = re.compile(r"(^|_)(data|dataset|datasets|mnist|mnist_path|cifar|images?)($|_)")
_DESCRIBED = re.compile(r"^(cifar10|fashion-mnist|mnist|digits) \((.*)\)$")
_SKLEARN_DIGITS = "scikit-learn's bundled 8x8 digits"
_MNIST_HINT = (
    "give MNIST's IDX folder: smoothscope run nonsmoothness --mnist DIR (or --set mnist_path=DIR)"
)


@dataclass(frozen=True)
class Substitution:
    """Data a run used in place of the paper's."""

    experiment: str
    used: str
    paper: str
    reason: str = ""
    install: str = ""

    def line(self) -> str:
        """One line for the terminal."""
        text = f"{self.experiment}: used {self.used} instead of {self.paper}"
        if self.reason:
            text += f" ({self.reason})"
        if self.install:
            text += f"; to use it: {self.install}"
        return text


@dataclass(frozen=True)
class Undertrained:
    """Models of one kind in a run that barely trained."""

    experiment: str
    model: str
    test_errors: tuple[float, ...]
    of: int
    chance: float | None
    init_errors: tuple[float, ...] = ()

    @property
    def error_range(self) -> str:
        low, high = f"{min(self.test_errors):.2f}", f"{max(self.test_errors):.2f}"
        return low if low == high else f"{low}–{high}"

    def line(self) -> str:
        """One line for the terminal."""
        chance = (
            f"chance level {self.chance:.2f}"
            if self.chance is not None
            else ("chance level not recorded")
        )
        n = len(self.test_errors)
        text = f"{self.experiment}: {self.model}: test error {self.error_range}"
        text += f" ({n} of {self.of} trained), {chance}"
        if self.init_errors:
            text += f"; no better than at initialisation ({min(self.init_errors):.2f})"
        return text


def install_hint(name: Any) -> str:
    """How to make the dataset ``name`` (a dataset name, or text naming one) available."""
    from ..data.real import INSTALL_HINTS

    text = str(name).lower().replace("_", "-")
    if "cifar" in text:
        return INSTALL_HINTS["cifar10"]
    if "fashion" in text:
        return INSTALL_HINTS["fashion-mnist"]
    if "mnist" in text:
        return _MNIST_HINT
    return ""


def _is_data_entry(entry: Mapping[str, Any]) -> bool:
    value, paper = entry.get("value"), entry.get("paper")
    return (
        bool(_DATA_FIELD.search(str(entry.get("field", ""))))
        and (value is None or isinstance(value, str))
        and isinstance(paper, str)
    )


def _from_recorded_data(experiment: str, text: str, asked: Any) -> Substitution | None:
    match = _DESCRIBED.match(text.strip())
    if match and match.group(1) != "cifar10" and asked in (None, "auto"):
        name = match.group(1)
        install = install_hint("cifar10")
        if name == "digits":
            install += "; or " + install_hint("fashion-mnist")
            used = "scikit-learn's 8×8 digits (the embedded fallback: no dataset file was found)"
        else:
            used = text
        return Substitution(experiment, used, "CIFAR-10 (taken first by dataset=auto)", "", install)
    if _SKLEARN_DIGITS in text:
        return Substitution(
            experiment, "scikit-learn's 8×8 digits resampled to 28×28", "MNIST", "", _MNIST_HINT
        )
    return None


def substitutions(run: Mapping[str, Any]) -> list[Substitution]:
    """The data substitutions of one run (``results.json`` content, with its ``config`` when
    :func:`smoothscope.report.loading.collect_runs` read it); see the module docstring."""
    name = str(run.get("experiment", "?"))
    found: list[Substitution] = []
    for entry in run.get("protocol") or ():
        if isinstance(entry, Mapping) and entry.get("deviates") and _is_data_entry(entry):
            used = entry.get("value")
            found.append(
                Substitution(
                    name,
                    f"{entry['field']} = {used if used is not None else 'none'}",
                    str(entry["paper"]),
                    str(entry.get("reason") or ""),
                    install_hint(entry["paper"]),
                )
            )
    if not found:
        asked = (run.get("config") or {}).get("dataset")
        for text in (run.get("data") or {}).values():
            sub = _from_recorded_data(name, str(text), asked)
            if sub is not None:
                found.append(sub)
    return list(dict.fromkeys(found))


def planned_substitutions(experiment: str, config: Any) -> list[Substitution]:
    """The substitutions a run of ``config`` will make, known before it runs: the dataset that
    ``dataset`` resolves to (checked against the ledger's paper value when declared, else
    against CIFAR-10 for ``"auto"``), and scikit-learn's digits for an unset ``mnist_path``."""
    from ..data.real import resolve_dataset

    found: list[Substitution] = []
    dataset = getattr(config, "dataset", None)
    if isinstance(dataset, str):
        info = resolve_dataset(dataset, getattr(config, "data_dir", None))
        declared = type(config).protocol().get("dataset")
        if declared is not None and not declared.open:
            if not declared.matches(info.name):
                found.append(
                    Substitution(
                        experiment,
                        info.describe(),
                        str(declared.display or declared.value),
                        "",
                        install_hint(declared.value),
                    )
                )
        else:
            sub = _from_recorded_data(experiment, info.describe(), dataset)
            if sub is not None:
                found.append(sub)
    if (
        hasattr(config, "mnist_path")
        and config.mnist_path is None
        and "digits" in tuple(getattr(config, "datasets", ("digits",)))
    ):
        found.append(
            Substitution(
                experiment,
                "scikit-learn's 8×8 digits resampled to 28×28",
                "MNIST",
                "",
                _MNIST_HINT,
            )
        )
    return found


def _records(measurements: Mapping[str, Any]) -> Iterable[tuple[str, float, float | None]]:
    """``(model label, test error, error at init)`` of every trained model a run records: a
    list of records with ``test_error`` (labelled by architecture / name and seed), or a mapping
    of families to lists of ``test_error``."""
    for key, value in measurements.items():
        if isinstance(value, list):
            for rec in value:
                if isinstance(rec, Mapping) and isinstance(rec.get("test_error"), (int, float)):
                    label = str(
                        rec.get("architecture") or rec.get("name") or rec.get("model") or key
                    )
                    noise = rec.get("input_noise")
                    if isinstance(noise, (int, float)) and noise:
                        label += f" (input noise {noise:g})"
                    init = rec.get("init_test_error")
                    yield (
                        label,
                        float(rec["test_error"]),
                        (float(init) if isinstance(init, (int, float)) else None),
                    )
        elif isinstance(value, Mapping):
            for family, rec in value.items():
                if not isinstance(rec, Mapping) or not isinstance(rec.get("test_error"), list):
                    continue
                inits = rec.get("init_test_error")
                inits = inits if isinstance(inits, list) else [None] * len(rec["test_error"])
                for err, init in zip(rec["test_error"], inits, strict=False):
                    if isinstance(err, (int, float)):
                        yield (
                            str(family),
                            float(err),
                            (float(init) if isinstance(init, (int, float)) else None),
                        )


def undertrained(run: Mapping[str, Any]) -> list[Undertrained]:
    """The models of one run that barely trained, grouped by model (see the module
    docstring)."""
    measurements = run.get("measurements") or {}
    if not isinstance(measurements, Mapping):
        return []
    chance = measurements.get("chance_error")
    chance = float(chance) if isinstance(chance, (int, float)) else None
    groups: dict[str, list[tuple[float, float | None, bool]]] = {}
    for label, err, init in _records(measurements):
        bad = (chance is not None and err > UNDERTRAINED_FRACTION * chance) or (
            init is not None and err >= init
        )
        groups.setdefault(label, []).append((err, init, bad))
    out = []
    for label, rows in groups.items():
        flagged = [r for r in rows if r[2]]
        if flagged:
            out.append(
                Undertrained(
                    str(run.get("experiment", "?")),
                    label,
                    tuple(r[0] for r in flagged),
                    len(rows),
                    chance,
                    tuple(r[1] for r in flagged if r[1] is not None and r[0] >= r[1]),
                )
            )
    return out


QUICK_NOTE = (
    "quick decides only the large effects; see standard (smoothscope reproduce --scale "
    "standard) before reading a verdict as the paper's."
)


def planned_warnings(experiment: str, config: Any, scale: str) -> list[str]:
    """The warnings known before a run of ``config`` at ``scale`` starts: its data
    substitutions, then the scale."""
    lines = [f"data: {s.line()}" for s in planned_substitutions(experiment, config)]
    if scale == "quick":
        lines.append(f"scale: {experiment} at scale quick: {QUICK_NOTE}")
    return lines


def scale_note(runs: Sequence[Mapping[str, Any]]) -> str:
    """The scale banner: ``""`` unless some run is at the quick scale."""
    quick = [str(r["experiment"]) for r in runs if r.get("scale") == "quick"]
    if not quick:
        return ""
    which = "every experiment" if len(quick) == len(runs) else ", ".join(quick)
    return f"Scale quick ({which}): {QUICK_NOTE}"


def run_warnings(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The banners of ``runs`` as one-line terminal warnings: substitutions, undertrained
    models, then the scale."""
    lines = [f"data: {s.line()}" for run in runs for s in substitutions(run)]
    lines += [f"undertrained: {u.line()}" for run in runs for u in undertrained(run)]
    note = scale_note(runs)
    if note:
        lines.append(f"scale: {note}")
    return lines
