"""Parameter validation at the public boundary: messages name the parameter, expected and given."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ._errors import SmoothscopeError


def as_tensor(x: Any, name: str) -> torch.Tensor:
    """Return ``x`` as a floating-point tensor or raise a clear error."""
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SmoothscopeError(
                f"{name}: expected a tensor or array of numbers, got {type(x).__name__}"
            ) from exc
    if t.is_complex() or t.dtype == torch.bool:
        raise SmoothscopeError(f"{name}: expected real numbers, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise if ``t`` holds NaN or inf (an O(n) scan, done once at the boundary)."""
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise SmoothscopeError(f"{name}: expected finite values, got {n_bad} NaN or inf entries")


def check_dim(t: torch.Tensor, dim: int, name: str, *, min_length: int = 1) -> int:
    """Normalise ``dim`` for ``t`` and check the axis holds at least ``min_length`` samples."""
    if t.dim() == 0:
        raise SmoothscopeError(f"{name}: expected at least 1 dimension, got a scalar")
    if not -t.dim() <= dim < t.dim():
        raise SmoothscopeError(
            f"{name}: dim={dim} is out of range for a tensor of shape {tuple(t.shape)}"
        )
    dim = dim % t.dim()
    if t.shape[dim] < min_length:
        raise SmoothscopeError(
            f"{name}: expected at least {min_length} samples along dim {dim}, "
            f"got shape {tuple(t.shape)}"
        )
    return dim


def check_rank(t: torch.Tensor, ranks: tuple[int, ...], name: str, layout: str) -> None:
    """Raise unless ``t.dim()`` is one of ``ranks``; ``layout`` describes the expected axes."""
    if t.dim() not in ranks:
        raise SmoothscopeError(
            f"{name}: expected a tensor of shape {layout}, got shape {tuple(t.shape)}"
        )


def positive(value: Any, name: str, *, integer: bool = False) -> Any:
    """Return ``value`` if it is a finite positive number (an int when ``integer``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, int) or float(value).is_integer()
    if not ok or not math.isfinite(value) or value <= 0:
        kind = "a positive integer" if integer else "a positive finite number"
        raise SmoothscopeError(f"{name}: expected {kind}, got {value!r}")
    return int(value) if integer else value


def check_generator(generator: Any, name: str = "generator") -> torch.Generator:
    """Return ``generator`` if it is a ``torch.Generator`` (randomness is always explicit)."""
    if not isinstance(generator, torch.Generator):
        raise SmoothscopeError(
            f"{name}: expected a torch.Generator, got {type(generator).__name__}"
        )
    return generator


# ---------------------------------------------------------------------------------------------
# config fields: one declaration of type and bounds per field, checked at every entry point

DEFAULT_MAX_COUNT = 1_000_000
"""Largest integer a count field takes unless its declaration says otherwise."""
DEFAULT_MAX_NUMBER = 1e6
"""Largest magnitude a float field takes unless its declaration says otherwise."""
DEFAULT_MAX_ENTRIES = 64
"""Most entries of a tuple field unless its declaration says otherwise."""


@dataclass(frozen=True)
class Bound:
    """The declared range of a config field (of each entry, for a tuple field).

    Fields without a declaration get :meth:`default` for their type: an integer is a count in
    ``[1, DEFAULT_MAX_COUNT]``, a float is positive, finite and at most ``DEFAULT_MAX_NUMBER``,
    a tuple holds 1 to ``DEFAULT_MAX_ENTRIES`` distinct entries.

    Attributes:
        low, high: inclusive limits (None: unbounded on that side; non-finite values are always
            refused).
        low_open: ``low`` itself is refused (``Bound(0, low_open=True)``: positive).
        unit_bytes: memory per unit of this field in one run (e.g. bytes per frame of all
            videos), so that the message for a too-large value states what the maximum costs.
        unit: what one unit is, for that message.
        max_entries: most entries of a tuple field.
        min_entries: fewest entries of a tuple field.
        unique: refuse repeated entries of a tuple field.
        directory: a ``str`` field naming a folder that must exist.
    """

    low: float | None = 1
    high: float | None = DEFAULT_MAX_COUNT
    low_open: bool = False
    unit_bytes: float | None = None
    unit: str = ""
    max_entries: int = DEFAULT_MAX_ENTRIES
    min_entries: int = 1
    unique: bool = True
    directory: bool = False

    @staticmethod
    def default(hint: Any) -> Bound:
        """The bound of an undeclared field of type ``hint`` (an entry type for tuples)."""
        if hint is float:
            return Bound(0, DEFAULT_MAX_NUMBER, low_open=True)
        return Bound()

    def message_high(self, name: str) -> str:
        cost = ""
        if self.unit_bytes and self.high is not None:
            cost = (
                f" (≈ {_size(self.unit_bytes)} per {self.unit or 'unit'}: "
                f"{_size(self.unit_bytes * self.high)} of memory at the maximum)"
            )
        return f"{name}: expected at most {_number(self.high)}{cost}"


def _number(x: float | None) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.3g} TB"  # pragma: no cover


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


MAX_DIGITS = 400
"""Longest integer read from text (a count or a seed has far fewer digits; Python itself refuses
more than 4300)."""


def _parse_text(value: str, name: str = "value") -> Any:
    """A string from a command line or an API caller, read as JSON when it is JSON.

    Raises:
        SmoothscopeError: a number of more than :data:`MAX_DIGITS` digits.
    """
    stripped = value.strip()
    if len(stripped) > MAX_DIGITS and re.fullmatch(r"-?\d+(\.\d*)?([eE][+-]?\d+)?", stripped):
        raise SmoothscopeError(
            f"{name}: expected a number of at most {MAX_DIGITS} digits, got one of "
            f"{len(stripped)} characters"
        )
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # JSONDecodeError, or too many digits for an int
        return value


def coerce_field(name: str, value: Any, hint: Any) -> Any:
    """Convert ``value`` to the field type ``hint`` as the CLI does, or raise.

    Strings are read as JSON first (``"3"`` is 3 for an int field), a tuple field also takes a
    comma-separated string or a list; ints are accepted where floats are expected, nothing else
    is converted (``3.0`` is not an int, ``1`` is not a bool).
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.strip().lower() in ("none", "null"):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce_field(name, value, arg)
            except SmoothscopeError as exc:
                errors.append(str(exc))
        raise SmoothscopeError(errors[0] if errors else f"{name}: unexpected value {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            parsed = _parse_text(value, name)
            value = parsed if isinstance(parsed, list) else [v for v in value.split(",") if v]
        if isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        (arg, *_rest) = typing.get_args(hint) or (str,)
        return tuple(coerce_field(name, v, arg) for v in items)
    if isinstance(value, str) and hint in (bool, int, float):
        value = _parse_text(value.strip(), name)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SmoothscopeError(f"{name}: expected true or false, got {_short(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SmoothscopeError(f"{name}: expected an integer, got {_short(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                raise SmoothscopeError(
                    f"{name}: expected a finite number, got {_short(value)}"
                ) from None
        raise SmoothscopeError(f"{name}: expected a number, got {_short(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise SmoothscopeError(f"{name}: expected a string, got {_short(value)}")
    return value


def check_bound(name: str, value: Any, bound: Bound) -> None:
    """Raise unless the (coerced) scalar ``value`` lies within ``bound``."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str):
        if bound.directory and not Path(value).expanduser().is_dir():
            raise SmoothscopeError(f"{name}: expected an existing directory, got {value!r}")
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise SmoothscopeError(f"{name}: expected a finite number, got {value!r}")
    if bound.low is not None and (value < bound.low or (bound.low_open and value == bound.low)):
        if bound.low_open and bound.low == 0:
            expected = "a positive number"
        elif bound.low == 1 and isinstance(value, int):
            expected = "a positive integer"
        else:
            expected = f"at least {_number(bound.low)}" + (" (exclusive)" if bound.low_open else "")
        raise SmoothscopeError(f"{name}: expected {expected}, got {_short(value)}")
    if bound.high is not None and value > bound.high:
        raise SmoothscopeError(f"{bound.message_high(name)}, got {_short(value)}")


def validate_field(name: str, value: Any, hint: Any, bound: Bound | None = None) -> Any:
    """Coerce ``value`` to ``hint`` and check it against ``bound`` (or the type's default)."""
    value = coerce_field(name, value, hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and value is not None:
        hint = next(
            a for a in typing.get_args(hint) if isinstance(value, typing.get_origin(a) or a)
        )
        origin = typing.get_origin(hint)
    entry_hint = (typing.get_args(hint) or (str,))[0] if origin is tuple else hint
    bound = bound or Bound.default(entry_hint)
    fixed = origin is tuple and Ellipsis not in typing.get_args(hint)
    if fixed:  # tuple[int, int]: exactly that many entries, repeats allowed
        n = len(typing.get_args(hint))
        bound = dataclasses.replace(bound, min_entries=n, max_entries=n, unique=False)
    if origin is tuple:
        if not bound.min_entries <= len(value) <= bound.max_entries:
            raise SmoothscopeError(
                f"{name}: expected {bound.min_entries} to {bound.max_entries} entries, "
                f"got {len(value)}"
            )
        if bound.unique and len(set(value)) != len(value):
            repeated = sorted({v for v in value if value.count(v) > 1}, key=str)
            raise SmoothscopeError(
                f"{name}: expected distinct entries, got {', '.join(map(str, repeated))} "
                "more than once"
            )
        for entry in value:
            check_bound(name, entry, bound)
    else:
        check_bound(name, value, bound)
    return value


def validate_dataclass_fields(obj: Any, bounds: Mapping[str, Bound]) -> None:
    """Coerce and check every field of the (frozen) dataclass ``obj`` in place.

    ``bounds`` maps field names to their declarations; the others get :meth:`Bound.default`.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = validate_field(f.name, getattr(obj, f.name), hints[f.name], bounds.get(f.name))
        object.__setattr__(obj, f.name, value)
