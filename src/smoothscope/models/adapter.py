"""One adapter between any PyTorch model and the analyses (``analyze``, ``profile``, the API).

A user's model may take images of its own channels and size, return a tensor, a tuple, a dict
or anything a function can reduce to a tensor, and hold modules whose outputs are not tensors.
:func:`adapt_model` settles all of that once, with one trial forward pass of two inputs:

* **Inputs.** :func:`input_spec` reads the channels and the side a model was built for
  (``in_channels`` / ``input_size`` attributes, else the first module that declares
  ``in_channels``); :func:`infer_input_size` tries the usual sides when nothing declares one.
* **Output.** ``output`` selects the tensor the analyses read: ``None`` (the output itself when
  it is a tensor; else the first tensor of a tuple, list or dict, with a note saying so), an
  index of a tuple or list, a key of a dict, or a callable ``output(value) -> tensor``. A model
  whose output needs selecting is evaluated through a copy whose forward hook returns that
  tensor, so every analysis (hooks, weight paths, ``torch.func``) sees one tensor.
* **Layers.** :func:`default_layers` is the one default everywhere: the model's
  ``representation_layers()`` when it has it (the zoo), else its top-level children (through
  a lone wrapping child) and ``"output"``. Layers may be named by pattern: ``*`` matches within
  one dotted name part, ``**`` across parts, ``?`` one character (``layer*`` → ``layer1`` …
  ``layer4``; ``layer1.*`` → its blocks), or chosen by a function of the name and module
  (``layers=lambda name, m: isinstance(m, nn.ReLU)``). Layers chosen by default, a pattern or
  a function are kept in the order they run; those whose output is not a tensor, that do not
  run, or that run more than once per forward pass (a shared module) are skipped with a note.
  A layer named exactly gets a one-line error for the same reasons.
* **Checks.** Shapes the model refuses, NaN or inf weights and non-finite outputs are one-line
  :class:`~smoothscope.SmoothscopeError` messages, before any compute.

The caller's model is never modified: the trial pass restores every module's training flag.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError

__all__ = [
    "OUTPUT",
    "SIZES",
    "AdaptedModel",
    "OutputSelector",
    "adapt_model",
    "default_layers",
    "infer_input_size",
    "input_spec",
    "select_output",
]

OUTPUT = "output"
"""Layer name standing for the (selected) model output."""
SIZES = (32, 28, 64, 96, 128, 224, 16)
"""Image sides :func:`infer_input_size` tries, in this order, when a model declares none."""

OutputSelector = int | str | Callable[[Any], torch.Tensor] | None
"""What :func:`select_output` accepts: None, an index, a key or a callable."""


@dataclass
class AdaptedModel:
    """A model ready for the analyses, with what the trial pass found.

    Attributes:
        module: the model itself, or (when its output needs selecting) a copy whose call
            returns the selected tensor; evaluate this one.
        layers: the layers to record, ``"output"`` last when chosen.
        output: how the output was chosen (``"tensor"``, ``"[0]"``, ``"['logits']"``,
            ``"fn(...)"``), for the record.
        output_shape: shape of the selected output for the trial batch ``[2, ...]``.
        notes: what was chosen by default or skipped, one sentence each (the CLI prints them).
        modified_in_place: chosen layers whose output a later in-place operation changes
            (``ReLU(inplace=True)`` after a BatchNorm): recorders must copy those outputs.
    """

    module: nn.Module
    layers: list[str]
    output: str
    output_shape: tuple[int, ...]
    notes: list[str] = field(default_factory=list)
    modified_in_place: list[str] = field(default_factory=list)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).strip().splitlines()[:1]).strip() if str(exc).strip() else ""
    return " ".join(text.split())[:300] or type(exc).__name__


def input_spec(model: nn.Module) -> tuple[int | None, int | None]:
    """``(channels, side)`` a model was built for, as far as it declares them.

    Channels: the model's ``in_channels`` attribute, else that of its first module declaring one
    (a convolution). Side: the model's ``input_size`` attribute (the zoo's). ``None`` where
    nothing declares it.
    """
    channels = getattr(model, "in_channels", None)
    if not (isinstance(channels, int) and channels > 0):
        channels = None
        for module in model.modules():
            value = getattr(module, "in_channels", None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                channels = value
                break
    size = getattr(model, "input_size", None)
    if not (isinstance(size, int) and not isinstance(size, bool) and size > 0):
        size = None
    return channels, size


class _Training:
    """Puts every module in eval mode and restores each one's own flag on exit."""

    def __init__(self, model: nn.Module) -> None:
        self.flags = [(m, m.training) for m in model.modules()]

    def __enter__(self) -> None:
        for module, _ in self.flags:
            module.training = False

    def __exit__(self, *exc: object) -> None:
        for module, flag in self.flags:
            module.training = flag


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def infer_input_size(
    model: nn.Module, channels: int, sizes: Sequence[int] = SIZES
) -> tuple[int | None, str]:
    """The first side in ``sizes`` whose ``[1, channels, s, s]`` zeros the model accepts, and
    the reason of the first refusal (``(None, reason)`` when it accepts none)."""
    declared = input_spec(model)[1]
    if declared is not None:
        return declared, ""
    device, dtype = _model_device_dtype(model)
    reason = ""
    with _Training(model), torch.no_grad():
        for side in sizes:
            try:
                model(torch.zeros(1, channels, side, side, device=device, dtype=dtype))
            except Exception as exc:  # any refusal means "not this side"
                reason = reason or _first_line(exc)
                continue
            return side, ""
    return None, reason


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor {list(value.shape)}"
    if isinstance(value, dict):
        keys = ", ".join(repr(k) for k in list(value)[:6])
        return f"a dict with keys {keys}" + (" …" if len(value) > 6 else "")
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def _selector_text(output: OutputSelector) -> str:
    if callable(output) and not isinstance(output, (int, str)):
        return f"{getattr(output, '__name__', type(output).__name__)}(...)"
    return f"[{output!r}]"


def select_output(value: Any, output: OutputSelector = None) -> torch.Tensor:
    """The tensor ``output`` selects in a model's output ``value``.

    Args:
        value: what the model returned.
        output: None (``value`` when it is a tensor, else the first tensor of a tuple, list or
            dict), an int index of a tuple or list, a key of a dict (a string of digits also
            indexes a tuple, as ``--output 1`` gives it), or a callable returning the tensor.

    Raises:
        SmoothscopeError: nothing to select, or the selection is not a tensor.
    """
    if output is None:
        if isinstance(value, torch.Tensor):
            return value
        items = list(value.values()) if isinstance(value, dict) else value
        if isinstance(items, (tuple, list)):
            for item in items:
                if isinstance(item, torch.Tensor):
                    return item
        raise SmoothscopeError(
            f"output: the model returned {_describe(value)} with no tensor to analyse; choose "
            "one with --output (index or key) or output=callable"
        )
    if callable(output) and not isinstance(output, (int, str)):
        try:
            chosen = output(value)
        except Exception as exc:
            raise SmoothscopeError(
                f"output: the selector {_selector_text(output)} failed on {_describe(value)} "
                f"({_first_line(exc)})"
            ) from exc
    elif isinstance(value, dict):
        if output not in value:
            keys = ", ".join(repr(k) for k in value)
            raise SmoothscopeError(f"output: expected a key among {keys}, got {output!r}")
        chosen = value[output]
    elif isinstance(value, (tuple, list)):
        index = output
        if isinstance(index, str) and re.fullmatch(r"-?\d{1,6}", index.strip()):
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, int):
            raise SmoothscopeError(
                f"output: the model returned {_describe(value)}; expected an index, got "
                f"{output!r}"
            )
        if not -len(value) <= index < len(value):
            raise SmoothscopeError(
                f"output: expected an index in [0, {len(value) - 1}], got {output!r}"
            )
        chosen = value[index]
    else:
        raise SmoothscopeError(
            f"output: the model returned {_describe(value)}, which has no entry {output!r}"
        )
    if not isinstance(chosen, torch.Tensor):
        raise SmoothscopeError(
            f"output: expected the selection {_selector_text(output)} to be a tensor, got "
            f"{_describe(chosen)}"
        )
    return chosen


def _check_selector(output: Any) -> OutputSelector:
    if output is None or callable(output):
        return output
    if isinstance(output, bool) or not isinstance(output, (int, str)):
        raise SmoothscopeError(
            f"output: expected an index, a key or a callable, got {type(output).__name__}"
        )
    if isinstance(output, str) and not output.strip():
        raise SmoothscopeError("output: expected an index, a key or a callable, got ''")
    return output


class _Selecting:
    """A forward hook on the root module returning the selected output (picklable state)."""

    def __init__(self, output: OutputSelector) -> None:
        self.output = output

    def __call__(self, module: nn.Module, args: Any, value: Any) -> torch.Tensor:
        return select_output(value, self.output)


def _lone_child_prefix(model: nn.Module) -> tuple[str, nn.Module]:
    """Descend through modules with exactly one child (a wrapper around the real network)."""
    prefix, module = "", model
    while True:
        children = list(module.named_children())
        if len(children) != 1 or not list(children[0][1].children()):
            return prefix, module
        name, module = children[0]
        prefix = f"{prefix}{name}."


def default_layers(model: nn.Module) -> list[str]:
    """The layers analysed when none are named: ``model.representation_layers()`` when the model
    has it (the zoo: its last entry is the output layer), else the top-level children (through
    a lone wrapping child) followed by ``"output"``."""
    method = getattr(model, "representation_layers", None)
    if callable(method):
        names = [str(n) for n in method()]
        if names:
            return list(dict.fromkeys(names))
    prefix, module = _lone_child_prefix(model)
    names = [f"{prefix}{name}" for name, _ in module.named_children()]
    return [*names, OUTPUT]


def _pattern(text: str) -> re.Pattern[str]:
    """``*`` within a name part, ``?`` one character, ``**`` any number of parts (``**.relu``
    also matches a top-level ``relu``)."""
    tokens = {"**.": r"(?:.*\.)?", ".**": r"(?:\..*)?", "**": ".*", "*": "[^.]*", "?": "[^.]"}
    parts = re.split(r"(\*\*\.|\.\*\*|\*\*|\*|\?)", text)
    return re.compile("".join(tokens.get(part, re.escape(part)) for part in parts) + r"\Z")


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?")


def _requested(model: nn.Module, layers: Any) -> tuple[list[str], set[str]]:
    """Expand names, patterns or a predicate; returns the names and those that were not named
    exactly (from a pattern or the predicate)."""
    if callable(layers):
        try:
            chosen = [n for n, m in model.named_modules() if n and layers(n, m)]
        except Exception as exc:
            raise SmoothscopeError(
                f"layers: the function {getattr(layers, '__name__', 'given')} failed "
                f"({type(exc).__name__}: {_first_line(exc)})"
            ) from exc
        if not chosen:
            raise SmoothscopeError("layers: the function selects no module of the model")
        return chosen, set(chosen)
    if isinstance(layers, str):
        layers = [p.strip() for p in layers.split(",")]
    layers = list(layers)
    if not layers:
        raise SmoothscopeError("layers: expected at least one layer name or pattern")
    modules = [n for n, _ in model.named_modules() if n]
    names: list[str] = []
    from_pattern: set[str] = set()
    for item in layers:
        if not isinstance(item, str) or not item.strip():
            raise SmoothscopeError(f"layers: expected module names or patterns, got {item!r}")
        item = item.strip()
        if item == OUTPUT or (not _is_pattern(item) and item in modules):
            names.append(item)
            continue
        if not _is_pattern(item):
            close = [n for n in modules if n.split(".")[-1] == item.split(".")[-1]][:4]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            known = ", ".join(modules[:8]) + (" …" if len(modules) > 8 else "")
            raise SmoothscopeError(
                f"layers: expected module names of the model ({known}), patterns or "
                f"{OUTPUT!r}, got {item!r}{hint}"
            )
        matched = [n for n in modules if _pattern(item).match(n)]
        if not matched:
            raise SmoothscopeError(f"layers: the pattern {item!r} matches no module of the model")
        names.extend(matched)
        from_pattern.update(matched)
    return list(dict.fromkeys(names)), from_pattern - {n for n in layers if n in modules}


class _Trial:
    """Hooks on every module recording how often it ran, in which order, and its output type."""

    def __init__(self, model: nn.Module) -> None:
        self.calls: dict[str, int] = {}
        self.order: dict[str, int] = {}
        self.kinds: dict[str, str] = {}
        self.finite: dict[str, bool] = {}
        self.versions: dict[str, tuple[torch.Tensor, int]] = {}
        self.handles = [
            module.register_forward_hook(self._hook(name))
            for name, module in model.named_modules()
            if name
        ]

    def _hook(self, name: str):
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            self.order.setdefault(name, len(self.order))
            if isinstance(output, torch.Tensor):
                self.kinds[name] = "tensor"
                self.versions.setdefault(name, (output, output._version))
                if output.is_floating_point() or output.is_complex():
                    self.finite[name] = bool(torch.isfinite(output).all())
            else:
                self.kinds[name] = _describe(output)

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def modified(self) -> set[str]:
        """Modules whose output tensor was changed in place after they returned it."""
        return {n for n, (t, version) in self.versions.items() if t._version != version}


def _entry_of(value: dict | tuple | list, chosen: torch.Tensor) -> int | str:
    """The key or index of ``chosen`` in a model's dict, tuple or list output."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return next((key for key, item in items if item is chosen), 0)


def _usable(
    names: Sequence[str], trial: _Trial, notes: list[str], loose: Callable[[str], bool]
) -> list[str]:
    """The layers of ``names`` an analysis can record. One that returns no tensor, does not
    run, or runs more than once is skipped with a note when ``loose(name)`` (chosen by default,
    a pattern or a function), else refused; NaN or inf in a kept layer is refused."""
    kept: list[str] = []
    for name in names:
        runs, kind = trial.calls.get(name, 0), trial.kinds.get(name, "")
        problem = None
        if name == OUTPUT:
            pass
        elif runs == 0:
            problem = "does not run in the forward pass"
        elif runs > 1:
            problem = f"runs {runs} times per forward pass (a shared module)"
        elif kind != "tensor":
            problem = f"returns {kind}, not a tensor"
        elif not trial.finite.get(name, True):
            raise SmoothscopeError(f"model: layer {name!r} gives NaN or inf values")
        if problem is None:
            kept.append(name)
        elif loose(name):
            notes.append(f"layer {name!r} skipped: it {problem}")
        else:
            raise SmoothscopeError(
                f"layers: {name!r} {problem}; name a module inside it, or a pattern"
            )
    if not kept:
        raise SmoothscopeError(
            f"layers: every chosen layer was skipped ({'; '.join(notes)[:300]}); name other "
            f"modules or {OUTPUT!r}"
        )
    return kept


def _check_parameters(model: nn.Module) -> None:
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SmoothscopeError(
                f"model: {name} holds NaN or inf values (check the weights); every analysis "
                "would be NaN"
            )


def adapt_model(
    model: nn.Module,
    example: torch.Tensor,
    *,
    output: OutputSelector = None,
    layers: Sequence[str] | str | Callable[[str, nn.Module], bool] | None = None,
) -> AdaptedModel:
    """Check ``model`` on two inputs and settle its output and layers (see the module docstring).

    Args:
        model: any ``nn.Module`` (not modified).
        example: inputs ``[N, ...]``; the first two are evaluated once, in eval mode, without
            gradients, in the model's dtype and on its device.
        output: the output selector (:func:`select_output`).
        layers: module names, patterns and/or ``"output"``, or a predicate
            ``layers(name, module) -> bool`` choosing among the named modules (the output is
            then not recorded); None: :func:`default_layers`.

    Returns:
        :class:`AdaptedModel`.

    Raises:
        SmoothscopeError: not a module, NaN or inf weights, inputs the model refuses, no tensor
            output, non-finite outputs, unknown layer names or patterns, or a layer named
            exactly that returns no tensor, does not run, or runs more than once.
    """
    if not isinstance(model, nn.Module):
        raise SmoothscopeError(
            f"model: expected a torch.nn.Module, got {type(model).__name__} (wrap a function in "
            "a Module to record its output)"
        )
    output = _check_selector(output)
    _check_parameters(model)
    device, dtype = _model_device_dtype(model)
    trial = example[:2].to(device=device, dtype=dtype)
    if layers is None:
        names, from_pattern, defaulted = default_layers(model), set(), True
        known = {n for n, _ in model.named_modules() if n}
        unknown = [n for n in names if n != OUTPUT and n not in known]
        if unknown:
            raise SmoothscopeError(
                f"layers: representation_layers() names {unknown[0]!r}, which is not a module "
                "of the model"
            )
    else:
        names, from_pattern = _requested(model, layers)
        defaulted = False
    recorder = _Trial(model)
    try:
        with _Training(model), torch.no_grad():
            value = model(trial)
    except SmoothscopeError as exc:
        raise SmoothscopeError(
            f"model: does not accept inputs of shape {list(trial.shape)} ({exc})"
        ) from exc
    except Exception as exc:  # a user's model raises anything; one line, its first
        hint = ""
        channels, size = input_spec(model)
        if channels is not None and trial.dim() == 4 and channels != trial.shape[1]:
            hint = f"; the model's first layer takes {channels} channels"
        elif size is not None and trial.dim() == 4 and tuple(trial.shape[-2:]) != (size, size):
            hint = f"; the model was built for {size}×{size} images"
        raise SmoothscopeError(
            f"model: does not accept inputs of shape {list(trial.shape)} "
            f"({type(exc).__name__}: {_first_line(exc)}){hint}"
        ) from exc
    finally:
        recorder.remove()
    chosen = select_output(value, output)
    if isinstance(output, str) and isinstance(value, (tuple, list)):
        output = int(output)  # "--output 1" indexes a tuple
    notes: list[str] = []
    if isinstance(value, torch.Tensor) and output is None:
        described, module = "tensor", model
    else:
        if output is None:
            output = _entry_of(value, chosen)
            notes.append(
                f"the model returns {_describe(value)}; analysing entry {output!r} (choose "
                "another with --output or output=)"
            )
        described = _selector_text(output)
        module = copy.deepcopy(model)
        module.register_forward_hook(_Selecting(output))
    if chosen.dim() == 0 or chosen.shape[0] != trial.shape[0]:
        raise SmoothscopeError(
            f"output: expected a batch [B, ...] with B = {trial.shape[0]} (one row per input), "
            f"got shape {list(chosen.shape)}"
        )
    if chosen.is_floating_point() and not bool(torch.isfinite(chosen).all()):
        raise SmoothscopeError(
            f"model: non-finite outputs (NaN or inf) on inputs of shape {list(trial.shape)}"
        )
    loose = defaulted or bool(from_pattern)
    kept = _usable(names, recorder, notes, lambda n: defaulted or n in from_pattern)
    if loose and not (defaulted and callable(getattr(model, "representation_layers", None))):
        kept.sort(key=lambda n: 10**10 if n == OUTPUT else recorder.order.get(n, 10**9))
    modified = sorted(recorder.modified() & set(kept))
    return AdaptedModel(module, kept, described, tuple(chosen.shape), notes, modified)
