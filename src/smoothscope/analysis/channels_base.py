"""Shared validation and Gaussian helpers of the SMP channels (paper A, §V; :mod:`.channels`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy import special

from .._errors import SmoothscopeError

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_REL_SD_FLOOR = 1e-6  # standard deviations are floored at this fraction of the data scale


def _array(v: Any, name: str) -> np.ndarray:
    """``v`` (array, sequence, number or torch tensor) as a float64 array."""
    if isinstance(v, torch.Tensor):
        if v.is_complex() or v.dtype == torch.bool:
            raise SmoothscopeError(f"{name}: expected real numbers, got dtype {v.dtype}")
        return np.asarray(v.detach().cpu().to(torch.float64), dtype=np.float64)
    try:
        raw = np.asarray(v)
    except (TypeError, ValueError) as exc:
        raise SmoothscopeError(
            f"{name}: expected an array of real numbers, got {type(v).__name__}"
        ) from exc
    if raw.dtype.kind not in "iuf":
        raise SmoothscopeError(f"{name}: expected an array of real numbers, got dtype {raw.dtype}")
    return raw.astype(np.float64, copy=False)


def _values(v: Any, name: str, *, smp: bool = True, allow_empty: bool = False) -> np.ndarray:
    """Validated float64 array: non-empty (unless allowed), finite, non-negative for SMPs."""
    arr = _array(v, name)
    if arr.size == 0 and not allow_empty:
        raise SmoothscopeError(
            f"{name}: expected at least 1 value, got an empty array of shape {arr.shape}"
        )
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise SmoothscopeError(f"{name}: expected finite values, got {n_bad} NaN or inf entries")
    if smp:
        n_neg = int(np.count_nonzero(arr < 0))
        if n_neg:
            raise SmoothscopeError(
                f"{name}: expected non-negative SMPs, got {n_neg} negative entries "
                f"(min {float(arr.min()):.3g})"
            )
    return arr


def _pair(
    x: Any,
    y: Any,
    xname: str = "x",
    yname: str = "y",
    *,
    smp: bool = True,
    allow_empty: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Two validated arrays of the same shape, flattened to ``[n]``."""
    xa = _values(x, xname, smp=smp, allow_empty=allow_empty)
    ya = _values(y, yname, smp=smp, allow_empty=allow_empty)
    if xa.shape != ya.shape:
        raise SmoothscopeError(f"{yname}: expected the shape of {xname} {xa.shape}, got {ya.shape}")
    return xa.ravel(), ya.ravel()


def _number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite float within the given bounds, else a SmoothscopeError."""
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    v = float(value) if real else math.nan
    ok = math.isfinite(v)
    if ok and minimum is not None:
        ok = v > minimum if strict else v >= minimum
    if ok and maximum is not None:
        ok = v <= maximum
    if ok:
        return v
    if minimum is not None and maximum is not None:
        want = f"a finite number in [{minimum:g}, {maximum:g}]"
    elif minimum is not None:
        want = f"a finite number {'>' if strict else '>='} {minimum:g}"
    else:
        want = "a finite number"
    raise SmoothscopeError(f"{name}: expected {want}, got {value!r}")


def _count(value: Any, name: str, *, minimum: int = 0) -> int:
    """``value`` as an int ``>= minimum``."""
    if (
        isinstance(value, (int, np.integer))
        and not isinstance(value, (bool, np.bool_))
        and value >= minimum
    ):
        return int(value)
    raise SmoothscopeError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise SmoothscopeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _var_floor(*arrays: np.ndarray) -> float:
    """A tiny variance floor relative to the scale (largest magnitude) of the data."""
    scale = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    return (_REL_SD_FLOOR * (scale if scale > 0 else 1.0)) ** 2


def _log_normal(y: np.ndarray, mean: np.ndarray | float, sd: float) -> np.ndarray:
    """``log N(y; mean, sd)`` elementwise."""
    return -0.5 * ((y - mean) / sd) ** 2 - math.log(sd) - _LOG_SQRT_2PI


def _log(p: float) -> float:
    """``log p`` with ``log 0 = -inf``."""
    return math.log(p) if p > 0 else -math.inf


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _log_cdf(z: np.ndarray) -> np.ndarray:
    """``log Φ(z)`` elementwise, accurate far into the lower tail."""
    return special.log_ndtr(z)


def _mills(z: np.ndarray) -> np.ndarray:
    """``λ(z) = φ(z) / Φ(z)``, the inverse Mills ratio of an upper-truncated standard normal."""
    return np.exp(-0.5 * z * z - _LOG_SQRT_2PI - special.log_ndtr(z))


def _censoring(y: np.ndarray, censored: bool | str) -> bool:
    """Whether ``y`` is read as clipped at 0 (``"auto"``: yes unless some ``y < 0``)."""
    if censored == "auto":
        return not bool(np.any(y < 0))
    if isinstance(censored, (bool, np.bool_)):
        return bool(censored)
    raise SmoothscopeError(f"censored: expected 'auto', True or False, got {censored!r}")
