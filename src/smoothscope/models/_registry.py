"""A registry of model builders: ``build("autoencoder", activation="relu", pooling="max")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError

__all__ = ["available_models", "build", "register"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a builder under ``name``."""

    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise SmoothscopeError(f"model name {name!r} is registered twice")
        _BUILDERS[name] = fn
        return fn

    return decorate


def available_models() -> list[str]:
    """Names accepted by :func:`build`, sorted."""
    return sorted(_BUILDERS)


def build(name: str, *, seed: int | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`available_models`.
        seed: when given, the parameters are initialised from this seed without touching the
            global random state of the caller.
        **kwargs: passed to the builder.
    """
    if name not in _BUILDERS:
        raise SmoothscopeError(
            f"model: expected one of {', '.join(available_models())}, got {name!r}"
        )
    if seed is None:
        return _BUILDERS[name](**kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _BUILDERS[name](**kwargs)
