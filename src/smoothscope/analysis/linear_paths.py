"""Weight paths evaluated layer by layer, all points of a chunk in one batch (paper C eq. 1).

Along ``p(t) = f(x, W + t·D)`` (paper C §3, eq. 1, with ``t`` already divided by α) the
activations of all points of a chunk are put in one batch ``[P·B, ...]`` (point-major) and
every parametrised module's forward is replaced for the call:

* a linear or (transposed) convolution layer whose weights are perturbed runs in the mode that
  :func:`.path_kernels.choose_mode` picks for its shape, the chunk, dtype and device: its
  linearity in its own weights, ``L(h; W + tD, b + t·db) = L(h; W, b) + t·L(h; D, db)``, with
  **one dense call** on ``[W; D]`` stacked along the output channels and one per-sample
  ``addcmul`` with the sample's ``t`` ("split"; layers grouped themselves make two dense calls);
  per-point weights ``W + t_p·D`` in one grouped call ("grouped"); or per-point weights in a loop
  of dense calls over the points ("loop");
* a BatchNorm with frozen (running) statistics is elementwise in ``γ(t) = γ + t·dγ`` and
  ``β(t) = β + t·dβ``: one per-sample, per-channel scale and shift; with batch statistics
  (``track_running_stats=False`` or training mode) it normalises each path point over its own
  ``B`` inputs;
* a layer below the first perturbed one sees the ``B`` inputs themselves, once per chunk (its
  output is the same at every point); the first perturbed layer expands to ``P·B``.

Supported parametrised modules (exact types): ``nn.Linear``, ``nn.Conv1d/2d/3d``,
``nn.ConvTranspose1d/2d/3d`` and ``nn.BatchNorm1d/2d/3d``; any parameter-free module is
fine as long as it treats the samples of a batch independently (all of ``torch.nn``'s
activations, pools, ``Flatten``, ``Dropout`` in eval mode do). :func:`linear_path_support`
says why a model is not supported (another parametrised module, a parametrisation, a
parameter outside ``weight``/``bias``); :func:`~.paths.weight_path` then evaluates whole
forward passes per point (:mod:`.path_fallback`) after a one-time note. A layer that meets a
batch not of size ``P·B`` (a model that moves the batch axis) stops the evaluation with
:class:`LinearPathUnsupported`, and ``weight_path`` falls back too.

Speed against the loop a user writes, per model and dtype: ``benchmarks/bench_weight_paths.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .._device import full_float32
from .._errors import SmoothscopeError
from . import path_kernels

__all__ = [
    "LinearPathUnsupported",
    "linear_path_support",
    "linear_recording",
    "linear_weight_path",
    "note_vmap_fallback",
]

OUTPUT = "output"

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = {nn.ConvTranspose1d: 1, nn.ConvTranspose2d: 2, nn.ConvTranspose3d: 3}
_CONV_T_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_SUPPORTED = (nn.Linear, *_CONV, *_CONV_T, *_BN)
_NOTED: set[str] = set()
ENABLED = True
"""Set to False to make :func:`~.paths.weight_path` evaluate point by point (benchmarks)."""


class LinearPathUnsupported(SmoothscopeError):
    """The model cannot be evaluated by the linear path evaluator (the caller falls back)."""


def linear_path_support(model: nn.Module) -> str | None:
    """None when every parametrised module of ``model`` is supported, else the first reason."""
    for name, module in model.named_modules():
        own = [k for k, v in module._parameters.items() if v is not None]
        if not own:
            continue
        label = name or "<root>"
        if type(module) not in _SUPPORTED:
            return f"module {label!r} ({type(module).__name__}) has parameters"
        if parametrize.is_parametrized(module):
            return f"module {label!r} is parametrised (torch.nn.utils.parametrize)"
        extra = [k for k in own if k not in ("weight", "bias")]
        if extra:
            return f"module {label!r} has parameter {extra[0]!r}"
        if isinstance(module, _CONV) and module.padding_mode not in ("zeros", "reflect",
                                                                     "replicate", "circular"):
            return f"module {label!r} has padding_mode {module.padding_mode!r}"
    return None


def note_vmap_fallback(reason: str) -> None:
    """Warn once per process and reason that a weight path falls back to whole forward passes
    per point (``vmap`` or a loop, :mod:`.path_fallback`)."""
    if reason in _NOTED:
        return
    _NOTED.add(reason)
    warnings.warn(
        f"weight_path: the layerwise evaluator does not apply ({reason}); falling back to "
        "whole forward passes per point (vmap or a loop; usually slower, same numbers)",
        UserWarning,
        stacklevel=3,
    )


class _State:
    """Per-chunk state shared by the replaced forwards: the per-sample ``t`` and sizes.

    While ``share`` is on, the model is called on the ``B`` inputs themselves: every layer up
    to the first perturbed one sees the same activations at every point, so they are computed
    once, and the first perturbed layer expands its output to ``P·B`` samples.
    """

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.scale = torch.empty(0)
        self.t = torch.empty(0)
        self.points = 0
        self.share = True

    def shared(self, h: torch.Tensor, label: str) -> bool:
        """True when ``h`` is the same for every point (``[B, ...]``), False for ``[P·B, ...]``."""
        if self.share and h.dim() > 0 and h.shape[0] == self.batch:
            return True
        if h.dim() == 0 or h.shape[0] != self.points * self.batch:
            raise LinearPathUnsupported(
                f"module {label!r} got a batch of shape {tuple(h.shape)}, expected the first axis "
                f"to be points × inputs = {self.points * self.batch}"
            )
        return False

    def column(self, h: torch.Tensor) -> torch.Tensor:
        """The per-sample t as a column broadcasting over ``h [P·B, ...]``."""
        return self.scale.view(-1, *([1] * (h.dim() - 1)))

    def expand(self, h: torch.Tensor) -> torch.Tensor:
        """``[B, ...]`` -> ``[P·B, ...]`` (point-major copies)."""
        return h.unsqueeze(0).expand(self.points, *h.shape).reshape(-1, *h.shape[1:])

    def combine(self, y0: torch.Tensor, y1: torch.Tensor) -> torch.Tensor:
        """``y0 + t·y1`` for ``[B, ...]`` parts shared by all points -> ``[P·B, ...]``."""
        t = self.scale.view(self.points, self.batch, *([1] * (y0.dim() - 1)))[:, :1]
        return torch.addcmul(y0.unsqueeze(0), t, y1.unsqueeze(0)).reshape(-1, *y0.shape[1:])


def _stacked(w: torch.Tensor, d: torch.Tensor | None, dim: int) -> torch.Tensor:
    return torch.cat([w, torch.zeros_like(w) if d is None else d], dim=dim)


def _weights_forward(module, label, state, w, d_w, b, d_b):
    """The replaced forward of a linear or (transposed) convolution layer."""
    if isinstance(module, nn.Linear):
        out_dim, call = 0, F.linear
        ones = True
    elif isinstance(module, _CONV):
        out_dim, ones = 0, module.groups == 1

        def call(h, weight, bias):
            return module._conv_forward(h, weight, bias)

    else:
        nd = _CONV_T[type(module)]
        out_dim, ones = 1, module.groups == 1
        fn = _CONV_T_FN[nd]

        def call(h, weight, bias, output_size=None):
            pad = module._output_padding(h, output_size, module.stride, module.padding,
                                         module.kernel_size, nd, module.dilation)  # fmt: skip
            return fn(h, weight, bias, module.stride, module.padding, pad, module.groups,
                      module.dilation)  # fmt: skip

    if d_w is None and d_b is None:

        def forward(h, *args):
            state.shared(h, label)
            return call(h, w, b, *args)

        return forward
    modes: dict[tuple, str] = {}

    def mode_of(h: torch.Tensor) -> str:
        """The chunk's mode for a per-point input (cached per input shape: deterministic)."""
        key = (tuple(h.shape), state.points)
        if key not in modes:
            modes[key] = path_kernels.choose_mode(module, tuple(h.shape), state.points,
                                                  state.batch, h.dtype, h.device)  # fmt: skip
        return modes[key]

    if ones:  # split: one dense call with [W; D] stacked along the output channels
        weight = _stacked(w, d_w, out_dim)
        bias = None if b is None else _stacked(b, d_b, 0)
        channels = w.shape[out_dim]

        def forward(h, *args):
            shared = state.shared(h, label)
            if not shared:
                mode = mode_of(h)
                if mode != "split":
                    return path_kernels.perturbed_forward(module, mode, h, state.t, state.batch,
                                                          w, d_w, b, d_b, *args)  # fmt: skip
            y = call(h, weight, bias, *args)
            if isinstance(module, nn.Linear):
                y0, y1 = y[..., :channels], y[..., channels:]
            else:
                y0, y1 = y[:, :channels], y[:, channels:]
            if shared:
                return state.combine(y0, y1)
            return torch.addcmul(y0, state.column(y0), y1)

        return forward
    zero_w = torch.zeros_like(w) if d_w is None else d_w

    def forward(h, *args):  # grouped layers: two dense calls
        shared = state.shared(h, label)
        if not shared:
            mode = mode_of(h)
            if mode != "split":
                return path_kernels.perturbed_forward(module, mode, h, state.t, state.batch,
                                                      w, d_w, b, d_b, *args)  # fmt: skip
        y0, y1 = call(h, w, b, *args), call(h, zero_w, d_b, *args)
        return state.combine(y0, y1) if shared else torch.addcmul(y0, state.column(y0), y1)

    return forward


def _bn_forward(module, label, state, w, d_w, b, d_b):
    """The replaced forward of a BatchNorm: frozen statistics, or batch statistics per point."""
    frozen = not module.training and module.running_mean is not None
    eps = module.eps

    def forward(h):
        if state.shared(h, label):
            if d_w is None and d_b is None:  # still the same at every point
                return F.batch_norm(h, module.running_mean if frozen else None,
                                    module.running_var if frozen else None, w, b,
                                    not frozen, 0.0, eps)  # fmt: skip
            h = state.expand(h)
        s = state.column(h)  # [N, 1, ...]
        shape = (1, h.shape[1]) + (1,) * (h.dim() - 2)
        if frozen:
            inv = torch.rsqrt(module.running_var + eps).view(shape)
            mean = module.running_mean.view(shape)
        else:  # batch statistics of each path point over its own B inputs
            grouped = h.reshape(state.points, state.batch, *h.shape[1:])
            dims = (1, *range(3, grouped.dim()))
            var, mean = torch.var_mean(grouped, dim=dims, correction=0, keepdim=True)
            reps = state.batch
            inv = torch.rsqrt(var + eps).repeat_interleave(reps, 0).reshape(-1, *shape[1:])
            mean = mean.repeat_interleave(reps, 0).reshape(-1, *shape[1:])
        gamma = torch.ones(shape, dtype=h.dtype, device=h.device) if w is None else w.view(shape)
        if d_w is not None:
            gamma = torch.addcmul(gamma, s, d_w.view(shape))
        beta = torch.zeros(shape, dtype=h.dtype, device=h.device) if b is None else b.view(shape)
        if d_b is not None:
            beta = torch.addcmul(beta, s, d_b.view(shape))
        a = gamma * inv  # per sample and channel: out = h·a + (β − mean·a)
        return torch.addcmul(beta - mean * a, h, a)

    return forward


def _install(model, base, direction, state) -> list[nn.Module]:
    """Replace the forward of every parametrised module; returns the modules to restore."""
    canonical = {id(p): n for n, p in model.named_parameters()}
    replaced = []
    for name, module in model.named_modules():
        own = {k: v for k, v in module._parameters.items() if v is not None}
        if not own:
            continue
        args = []
        for key in ("weight", "bias"):
            p = own.get(key)
            full = canonical.get(id(p)) if p is not None else None
            value = None if p is None else base.get(full, p).detach()
            args += [value, None if full is None else direction.get(full)]
        w, d_w, b, d_b = args
        make = _bn_forward if isinstance(module, _BN) else _weights_forward
        module.forward = make(module, name or "<root>", state, w, d_w, b, d_b)
        replaced.append(module)
    return replaced


def _first_tensor(value: Any, layer: str) -> torch.Tensor:
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if not isinstance(value, torch.Tensor):
        raise SmoothscopeError(
            f"layer {layer!r}: expected a tensor as its output, got {type(value).__name__}"
        )
    return value


class _Recorder:
    """Forward hooks keeping each recorded module's output (cloned: in-place successors cannot
    change it) once per forward pass, and the order in which the modules ran."""

    def __init__(
        self,
        model: nn.Module,
        record: Sequence[str],
        transform: Callable[[torch.Tensor, str], torch.Tensor] = lambda value, name: value,
    ) -> None:
        modules = dict(model.named_modules())
        self.hooked = [n for n in record if n != OUTPUT]
        self.captured: dict[str, torch.Tensor] = {}
        self.order: list[str] = []
        self._transform = transform
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in self.hooked]

    def _hook(self, name: str):
        def hook(module, args, output):
            if name in self.captured:
                raise SmoothscopeError(
                    f"record: expected module {name!r} to run once per forward pass, got several "
                    "(a shared module); record a module that runs once"
                )
            self.captured[name] = self._transform(_first_tensor(output, name), name).clone()
            self.order.append(name)

        return hook

    def clear(self) -> None:
        """Forget the last forward pass."""
        self.captured.clear()
        self.order.clear()

    def values(self, out: torch.Tensor, record: Sequence[str]) -> list[torch.Tensor]:
        """The recorded values of the last forward pass in ``record``'s order (``out`` for
        ``"output"``), after checking that every hooked module ran."""
        missing = [n for n in self.hooked if n not in self.captured]
        if missing:
            raise SmoothscopeError(
                f"record: expected module {missing[0]!r} to run in the forward pass, it did not"
            )
        return [out if n == OUTPUT else self.captured[n] for n in record]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


@torch.no_grad()
@full_float32()
def linear_weight_path(
    model: nn.Module,
    inputs: torch.Tensor,
    base: Mapping[str, torch.Tensor],
    direction: Mapping[str, torch.Tensor],
    t: torch.Tensor,
    *,
    chunk_size: int = 64,
    dtype: torch.dtype = torch.float64,
    record: Sequence[str] = (OUTPUT,),
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    targets: torch.Tensor | None = None,
) -> tuple[tuple[torch.Tensor, ...], list[str]]:
    """Outputs along ``f(inputs, base + t·direction)`` for every ``t``, linear in the weights.

    The same values as one forward pass per point with the parameters set to
    ``base + t·direction`` (1e-10 relative in float64, ~1e-5 in float32: only the rounding of
    the split ``L(h; W) + t·L(h; D)`` or of the per-point weights, and the kernels' summation
    order differ), evaluated ``chunk_size`` points at a time; each perturbed layer in the mode
    :func:`.path_kernels.choose_mode` picks.

    Args:
        model: built from the supported modules (see :func:`linear_path_support`) and
            parameter-free modules; its forwards are replaced during the call and restored.
            Its dtype must be ``dtype``; BatchNorm uses running statistics in eval mode.
        inputs: ``[B, ...]`` the fixed input batch, on the model's device.
        base: ``{parameter name: tensor}`` the weights W (missing names: the module's own).
        direction: ``{parameter name: tensor}`` D for the perturbed parameters (others: 0).
        t: ``[N]`` path coordinates multiplying D (``α⁻¹ t`` of eq. 1).
        chunk_size: path points per forward pass at most (memory: ``chunk_size × B``
            activations); on the CPU fewer where the largest activation would pass
            :data:`.path_kernels.CHUNK_BYTES` (:func:`.path_kernels.points_per_chunk`).
        dtype: evaluation dtype (the recording's dtype).
        record: module names (``"output"``: the model output), hooked like ``weight_path``.
        loss_fn, targets: when given, ``loss_fn(output at point p, targets)`` is appended.

    Returns:
        ``(values, order)``: one tensor ``[N, *shape]`` on the CPU per recorded name (in the
        order given), then the loss ``[N]`` when ``loss_fn`` is given; and the recorded modules
        in forward order. The same values as the ``vmap``-ped evaluation of
        :func:`~.paths.weight_path` for one direction.

    Raises:
        LinearPathUnsupported: the model has an unsupported module or moves the batch axis.
        SmoothscopeError: a recorded module runs several times or not at all.
    """
    reason = linear_path_support(model)
    if reason is not None:
        raise LinearPathUnsupported(reason)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise SmoothscopeError(f"chunk_size: expected a positive int, got {chunk_size!r}")
    x = inputs.to(dtype=dtype)
    device = x.device
    steps = t.to(device=device, dtype=dtype).reshape(-1)
    direction = {n: v.to(device=device, dtype=dtype) for n, v in direction.items()}
    base = {n: v.to(device=device, dtype=dtype) for n, v in base.items()}
    B = x.shape[0]
    state = _State(B)

    def _points(value: torch.Tensor, name: str) -> torch.Tensor:
        """``[P·B, ...]`` or a shared ``[B, ...]`` -> ``[P, B, ...]``."""
        if state.shared(value, name):
            return value.unsqueeze(0).expand(state.points, *value.shape)
        return value.reshape(state.points, B, *value.shape[1:])

    chunk_size = path_kernels.points_per_chunk(chunk_size, path_kernels.shape_pass(model, x)[2],
                                               device)  # fmt: skip
    replaced = _install(model, base, direction, state)
    recorder = _Recorder(model, record, _points)
    store: list[torch.Tensor] | None = None
    order: list[str] = []
    N = steps.numel()
    try:
        for start in range(0, N, chunk_size):
            stop = min(start + chunk_size, N)
            state.points = stop - start
            state.t = steps[start:stop]
            state.scale = state.t.repeat_interleave(B)
            recorder.clear()
            try:
                out = model(x if state.share else state.expand(x))
            except RuntimeError:
                if not state.share:
                    raise
                # an unexpanded tensor met an expanded one (e.g. the input on a skip path):
                # compute from the expanded batch from now on
                state.share = False
                recorder.clear()
                out = model(state.expand(x))
            out = _points(_first_tensor(out, OUTPUT), OUTPUT)
            values = recorder.values(out, record)
            if loss_fn is not None:
                values.append(torch.stack([loss_fn(o, targets).reshape(()) for o in out]))
            if store is None:
                order = [*recorder.order]
                store = [torch.empty((N, *v.shape[1:]), dtype=v.dtype) for v in values]
            for buf, v in zip(store, values, strict=True):
                buf[start:stop] = v.detach().to("cpu")
    finally:
        recorder.remove()
        for module in replaced:
            del module.forward
    return tuple(store or ()), order


def linear_recording(
    model: nn.Module,
    x: torch.Tensor,
    base: Mapping[str, torch.Tensor],
    names: Sequence[str],
    direction_of: Callable[[int], list[torch.Tensor]],
    n_directions: int,
    steps: torch.Tensor,
    layers: Sequence[str],
    *,
    chunk_size: int,
    dtype: torch.dtype,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    targets: torch.Tensor | None,
    check: Callable[[tuple[torch.Tensor, ...], list[str], int], None],
    note: bool = True,
) -> list[torch.Tensor] | None:
    """The buffers ``[N, n_directions, ...]`` of :func:`~.paths.weight_path`, or None.

    None (after a one-time note when ``note``) when the model is not supported: the caller then
    evaluates whole forward passes per point (:mod:`.path_fallback`). ``check(values, order, d)``
    validates each direction's values.
    """
    if not ENABLED:
        return None
    reason = linear_path_support(model)
    store: list[torch.Tensor] = []
    for d in range(n_directions if reason is None else 0):
        direction = dict(zip(names, direction_of(d), strict=True))
        try:
            values, order = linear_weight_path(model, x, base, direction, steps,
                                               chunk_size=chunk_size, dtype=dtype,
                                               record=layers, loss_fn=loss_fn,
                                               targets=targets)  # fmt: skip
        except LinearPathUnsupported as err:
            reason = str(err)
            break
        check(values, order, d)
        if not store:
            store = [torch.empty((v.shape[0], n_directions, *v.shape[1:]), dtype=v.dtype)
                     for v in values]  # fmt: skip
        for buf, v in zip(store, values, strict=True):
            buf[:, d] = v
    if reason is not None:
        if note:
            note_vmap_fallback(reason)
        return None
    return store
