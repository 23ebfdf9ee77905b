"""Models given by name on a command line: a zoo name or ``package.module:callable``, its
keyword arguments as ``KEY=VALUE`` text and a ``state_dict`` file (``smoothscope analyze`` and
``smoothscope profile``)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._io import load_state_dict
from ._registry import available_models, build

__all__ = ["load_model"]


def load_model(spec: str, args: Sequence[str] = (), weights: str | None = None) -> nn.Module:
    """Build a model from a zoo name or an import path, optionally with a ``state_dict``.

    Args:
        spec: a zoo name (:func:`smoothscope.models.available_models`) or
            ``"package.module:callable"`` returning an ``nn.Module``.
        args: ``"KEY=VALUE"`` keyword arguments for the builder; a value is read as JSON when
            it parses (``3``, ``true``, ``[1, 2]``), else kept as text; ``-`` in a key becomes
            ``_``.
        weights: a ``state_dict`` file (.pt) that must fit the model exactly.

    Returns:
        The model. Errors are one-line :class:`SmoothscopeError` messages naming the command
        line option (``--model``, ``--model-arg``, ``--weights``) that was given.
    """
    kwargs: dict[str, Any] = {}
    for text in args:
        key, sep, raw = text.partition("=")
        if not sep:
            raise SmoothscopeError(f"--model-arg: expected KEY=VALUE, got {text!r}")
        try:
            kwargs[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key.replace("-", "_")] = raw
    if ":" in spec:
        module_name, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as exc:
            raise SmoothscopeError(
                f"--model: expected an importable 'package.module:callable', got {spec!r}"
            ) from exc
        try:
            model = factory(**kwargs)
        except TypeError as exc:
            raise SmoothscopeError(f"--model-arg: {spec} rejected {kwargs}: {exc}") from exc
    elif spec in available_models():
        model = build(spec, **kwargs)
    else:
        raise SmoothscopeError(
            f"--model: expected a zoo name ({', '.join(available_models())}) or "
            f"'package.module:callable', got {spec!r}"
        )
    if not isinstance(model, torch.nn.Module):
        raise SmoothscopeError(f"--model: expected it to build an nn.Module, got {type(model)}")
    if weights is not None:
        state = load_state_dict(weights)
        ours = model.state_dict()
        missing = [k for k in ours if k not in state]
        unexpected = [k for k in state if k not in ours]
        resized = [
            f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
            for k, v in ours.items()
            if k in state and state[k].shape != v.shape
        ]
        if missing or unexpected or resized:
            parts = [
                f"{label} {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''} ({len(keys)})"
                for label, keys in (
                    ("missing keys", missing),
                    ("unexpected keys", unexpected),
                    ("shape mismatch (file vs model)", resized),
                )
                if keys
            ]
            raise SmoothscopeError(f"--weights: does not fit the model: {'; '.join(parts)}")
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            message = " ".join(str(exc).split())
            raise SmoothscopeError(f"--weights: does not fit the model: {message}") from exc
    return model
