"""Models given by name on a command line: a zoo name or ``package.module:callable``, its
keyword arguments as ``KEY=VALUE`` text and a ``state_dict`` file (``smoothscope analyze`` and
``smoothscope profile``)."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._io import load_state_dict
from ._registry import available_models, build

__all__ = ["load_model", "weights_record"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return " ".join(text.split())[:300]


def _call(factory: Any, kwargs: dict[str, Any], spec: str) -> Any:
    try:
        return factory(**kwargs)
    except SmoothscopeError:
        raise
    except Exception as exc:  # a builder refuses its arguments with any exception
        where = f"--model-arg: {spec} rejected {kwargs}" if kwargs else f"--model: {spec} failed"
        raise SmoothscopeError(f"{where} ({type(exc).__name__}: {_first_line(exc)})") from exc


def weights_record(path: str | os.PathLike) -> dict[str, str]:
    """``{"path", "sha256"}`` of a weights file, as a profile records it."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(Path(path).resolve()), "sha256": digest.hexdigest()}


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
        if len(raw) > 400 and raw.strip().lstrip("+-").replace(".", "").isdigit():
            raise SmoothscopeError(
                f"--model-arg: expected a number of at most 400 digits for {key!r}, got one of "
                f"{len(raw)} characters"
            )
        if len(raw) > 10_000:
            raise SmoothscopeError(
                f"--model-arg: expected a value of at most 10000 characters for {key!r}, got "
                f"{len(raw)}"
            )
        try:
            kwargs[key.replace("-", "_")] = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or digits beyond Python's limit
            kwargs[key.replace("-", "_")] = raw
    if ":" in spec:
        module_name, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise SmoothscopeError(
                f"--model: expected an importable 'package.module:callable', got {spec!r}"
            ) from exc
        except Exception as exc:  # the user's module fails while importing
            raise SmoothscopeError(
                f"--model: importing {module_name} failed ({type(exc).__name__}: "
                f"{_first_line(exc)})"
            ) from exc
        if not callable(factory):
            raise SmoothscopeError(f"--model: {spec} is not callable")
        model = _call(factory, kwargs, spec)
    elif spec in available_models():
        model = _call(lambda **kw: build(spec, **kw), kwargs, spec)
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
