"""Parameter validation at the public boundary: messages name the parameter, expected and given."""

from __future__ import annotations

import math
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
