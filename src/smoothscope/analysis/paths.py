"""Straight paths in weight space and the layer outputs along them (paper C §3, eq. 1).

Paper C walks along a straight line in weight space,

    p(t) = f(x, W + α⁻¹ · t · D),   t ∈ [0, 1],   ‖D‖_F = 1            (§3, eq. 1)

and records every neuron of every layer along the walk. :func:`weight_path` does this batched
over path points, with the evaluation chosen per model and size (:mod:`.linear_paths`,
:mod:`.path_kernels`, :mod:`.path_fallback`);
:func:`freeze_batchnorm_stats` fixes BatchNorm's statistics at W (App. A). The spectra and the
fractal coefficient ``h`` of these paths are in :mod:`.spectra`.

**α** follows eq. 1 literally: the path has length ``1/α`` (the prose of §3 and App. D.1 speaks
of "a ball of radius α"; for radius ``r`` pass ``alpha=1/r``; see ``docs/blueshift.md``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from .._device import full_float32
from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, positive
from .linear_paths import linear_path_support, linear_recording
from .path_fallback import FALLBACK_MODES, check_chunk, fallback_mode, fallback_recording
from .path_kernels import shape_pass

__all__ = [
    "LOSS",
    "METHODS",
    "MIN_POINTS",
    "OUTPUT",
    "PathRecording",
    "freeze_batchnorm_stats",
    "weight_path",
]

OUTPUT = "output"
"""Layer name standing for the model's own output (as in :mod:`.stability`)."""
LOSS = "loss"
"""Name of the loss along the path in :func:`~.spectra.median_h_path` (``PathRecording.loss``)."""
MIN_POINTS = 4
METHODS = ("auto", "layerwise", "vmap", "loop")
"""Evaluations of :func:`weight_path` (``method=``)."""
"""Fewest path points accepted by :func:`weight_path` (a spectrum needs k = 1 and 2)."""


def _bn_modules(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def freeze_batchnorm_stats(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of ``model`` in eval mode whose BatchNorm running statistics are those of ``x`` at W.

    Paper C (App. A) treats BatchNorm "statically as a fixed scaling and shifting". Along a path
    the statistics must not follow the perturbed weights, so :func:`weight_path` evaluates in
    eval mode with the running mean/var *as given*. A freshly initialised model has mean 0 and
    var 1 (BatchNorm is then the identity up to its affine part); to measure around W with the
    statistics of the data, call this first: every BatchNorm layer gets ``running_mean`` = the
    batch mean and ``running_var`` = the unbiased batch variance of its input for one forward
    pass of ``x`` at W (all other modules in eval mode, so dropout is off). The caller's model
    is not modified.

    Args:
        model: any module.
        x: ``[B, ...]`` the batch (its statistics become the running statistics).

    Returns:
        The copy, in eval mode, same dtype and device as ``model``.
    """
    x = as_tensor(x, "x")
    check_finite(x, "x")
    frozen = copy.deepcopy(model).eval()
    bns = _bn_modules(frozen)
    if not bns:
        return frozen
    momenta = []
    for bn in bns:
        if not bn.track_running_stats:
            raise SmoothscopeError(
                f"model: expected BatchNorm layers with track_running_stats=True, got {bn!r}"
            )
        momenta.append(bn.momentum)
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: after one batch, exactly that batch's stats
        bn.train()
    param = next(frozen.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    frozen(x)
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum
        bn.num_batches_tracked.zero_()
    return frozen.eval()


@dataclass(frozen=True)
class PathRecording:
    """Layer outputs along ``p(t) = f(x, W + α⁻¹ t D)`` (paper C §3, eq. 1).

    Attributes:
        t: ``[N]`` float64 path parameter, ``linspace(0, 1, N)`` (both ends included).
        alpha: α of eq. 1; the path has length ``1/α`` in weight space (``‖D‖_F = 1``).
        outputs: ``{layer: tensor [N, n_directions, *output_shape]}``; the key ``"output"`` is the
            model's output; ``output_shape`` includes the batch axis of ``x``.
        loss: ``[N, n_directions]`` the loss along the path when ``loss_fn`` was given, else None.
        parameters: names of the perturbed parameters (those where ``D`` is nonzero).
        direction: ``"random"``, ``"gradient"`` or ``"given"``.
        seed: the seed of the random directions.
    """

    t: torch.Tensor
    alpha: float
    outputs: dict[str, torch.Tensor]
    loss: torch.Tensor | None
    parameters: tuple[str, ...]
    direction: str
    seed: int

    @property
    def n_points(self) -> int:
        return int(self.t.numel())

    @property
    def n_directions(self) -> int:
        return int(next(iter(self.outputs.values())).shape[1])

    @property
    def layers(self) -> list[str]:
        """Recorded module names (``"output"`` = the model's output)."""
        return list(self.outputs)

    @property
    def output(self) -> torch.Tensor:
        """``[N, n_directions, *output_shape]`` the model's output along the path."""
        if OUTPUT not in self.outputs:
            raise SmoothscopeError("layer: expected the model output to be recorded, it was not")
        return self.outputs[OUTPUT]

    def layer(self, name: str) -> torch.Tensor:
        """``[N, n_directions, *shape]`` of a recorded module (``"output"``: the model output)."""
        if name not in self.outputs:
            raise SmoothscopeError(
                f"layer: expected one of the recorded layers {self.layers[:12]}, got {name!r}"
            )
        return self.outputs[name]

    def plot(self, ax=None, *, layer: str = OUTPUT, direction: int = 0, nodes: int = 8, **style):
        """The first ``nodes`` neurons of ``layer`` along the path in one direction."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        values = self.layer(layer)[:, direction].reshape(self.n_points, -1)[:, :nodes]
        ax.plot(self.t, values, **style)
        ax.set(xlabel="t", ylabel=f"{layer or 'output'}", title=f"α = {self.alpha:g}")
        return ax.figure


def _resolve_perturbed(params: Mapping[str, torch.Tensor], prefixes: Sequence[str] | None) -> list:
    if prefixes is None:
        return list(params)
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    chosen: dict[str, None] = {}
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix:
            raise SmoothscopeError(
                f"layers_to_perturb: expected non-empty parameter-name prefixes, got {prefix!r}"
            )
        hits = [n for n in params if n == prefix or n.startswith(prefix + ".")]
        if not hits:
            known = ", ".join(list(params)[:8])
            raise SmoothscopeError(
                f"layers_to_perturb: expected parameter names or prefixes (e.g. {known}), "
                f"got {prefix!r}"
            )
        chosen.update(dict.fromkeys(hits))
    return [n for n in params if n in chosen]  # registration order


def _resolve_record(model: nn.Module, record: Sequence[str] | None) -> list[str]:
    modules = dict(model.named_modules())
    if record is None:
        leaves = [n for n, m in modules.items() if n and n != OUTPUT and not list(m.children())]
        return [*leaves, OUTPUT]
    if isinstance(record, str):
        record = [record]
    for name in record:
        if name != OUTPUT and (not isinstance(name, str) or not name or name not in modules):
            known = ", ".join(n for n in list(modules)[1:9])
            raise SmoothscopeError(
                f"record: expected module names of the model (e.g. {known}) or {OUTPUT!r}, "
                f"got {name!r}"
            )
    return list(dict.fromkeys(record))


def _unit(directions: list[torch.Tensor], what: str) -> list[torch.Tensor]:
    norm = math.sqrt(sum(float((d.to(torch.float64) ** 2).sum()) for d in directions))
    if not math.isfinite(norm) or norm == 0.0:
        raise SmoothscopeError(f"direction: expected a finite nonzero {what}, got norm {norm}")
    return [d / norm for d in directions]


class _Directions:
    """Directions ``d`` as lists of tensors (perturbed parameters) with ``‖D‖_F = 1``.

    Chunks run direction-major, so only the directions of the current chunk are kept.
    """

    def __init__(self, make: Callable[[int], list[torch.Tensor]]) -> None:
        self.make = make
        self.cache: dict[int, list[torch.Tensor]] = {}

    def chunk(self, ds: Sequence[int]) -> dict[int, list[torch.Tensor]]:
        self.cache = {d: self.cache[d] if d in self.cache else self.make(d) for d in ds}
        return self.cache


@full_float32()
def weight_path(
    model: nn.Module,
    x: torch.Tensor,
    *,
    direction: str | Mapping[str, torch.Tensor] | None = None,
    layers_to_perturb: Sequence[str] | None = None,
    alpha: float = 1.0,
    points: int = 100,
    n_directions: int = 1,
    record: Sequence[str] | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    targets: torch.Tensor | None = None,
    seed: int = 0,
    chunk_size: int = 64,
    dtype: torch.dtype = torch.float64,
    method: str = "auto",
) -> PathRecording:
    """Record layer outputs along straight paths in weight space (paper C §3, eq. 1).

    ``p(t) = f(x, W + α⁻¹ t D)`` at ``t = linspace(0, 1, points)`` for ``n_directions``
    directions ``D``, each with ``‖D‖_F = 1`` over the perturbed parameters (zero elsewhere):

    * ``"random"`` (or None): iid ``N(0, 1)`` entries, normalised (§3; uniform on the sphere).
      Direction ``d`` is drawn from its own ``torch.Generator``, seeded by the ``d``-th integer
      drawn from a generator seeded with ``seed``: the first directions do not depend on
      ``n_directions`` or ``chunk_size``.
    * ``"gradient"``: ``D = ∇_W L(f(x, W), y) / ‖∇_W L‖`` at W (App. D.3), from ``loss_fn``
      and ``targets``; the ascent direction (``n_directions`` must be 1). For a descent path
      pass ``{name: -g}`` as a dict.
    * a dict ``{parameter name: tensor}``: shape of the parameter (one direction) or
      ``[n_directions, *shape]``; its keys are the perturbed parameters; each direction is
      normalised to ``‖D‖_F = 1``.

    Evaluation: a float64 (``dtype``) copy of the model in eval mode (BatchNorm uses its running
    statistics as given, see :func:`freeze_batchnorm_stats`; dropout off), ``chunk_size`` path
    points at a time (fewer on the CPU where the chunk's largest activation would exceed
    :data:`.path_kernels.CHUNK_BYTES`), chosen per model and size, never by timing:

    * ``method="auto"``, every parametrised module a Linear, Conv, ConvTranspose or BatchNorm
      layer: the **layerwise** evaluation (:mod:`.linear_paths`). All points of a chunk go
      through the model as one batch; the layers below the first perturbed one run once on
      ``x`` alone; each perturbed layer runs in the cheapest of three modes for its shape, the
      chunk, dtype and device (:func:`.path_kernels.choose_mode`: one dense call with
      ``[W; D]``, one grouped call with per-point weights, or a loop of dense calls over the
      points); BatchNorm is elementwise in ``γ(t)``, ``β(t)``.
    * otherwise (a one-time note says why): whole forward passes with per-point weights
      (:mod:`.path_fallback`), ``torch.func.vmap`` of ``torch.func.functional_call`` over the
      chunk's stacked parameters, or a plain loop over its points, whichever the cost model of
      :func:`.path_fallback.fallback_mode` prefers. Layer outputs are captured by forward hooks
      (under ``vmap`` returned from the vmapped function) and cloned, so in-place successors
      (``ReLU(inplace=True)``) do not alter them.

    ``method="layerwise"``, ``"vmap"`` or ``"loop"`` forces one. Every choice computes the same
    numbers up to float rounding; a given model, ``x`` size, ``points``, ``chunk_size``, dtype
    and device always takes the same choice, so repeated calls give the same bits. What can
    differ between choices is the rounding of ``W + t·D`` against ``L(h; W) + t·L(h; D)`` and
    the summation order of grouped, batched and dense kernels: float64 ≤ 1e-10 relative to the
    largest output (measured ~1e-15 on CNNs), float32 ~1e-6 relative per layer, compounding
    with depth like any float32 rounding (a 50-layer BatchNorm'd CNN: 8e-4 between any two
    evaluations, the per-point loop included; ``benchmarks/bench_weight_paths.py``).

    Args:
        model: any module taking ``x``; not modified.
        x: the fixed input batch ``[B, ...]`` (paper C: a batch of images).
        direction: see above.
        layers_to_perturb: parameter-name prefixes (``"0"``, ``"features.3.weight"``); None:
            all parameters. ``"conv1"`` matches ``conv1.weight`` and ``conv1.bias`` (App. E /
            Fig. 3b vary one layer only).
        alpha: α > 0; the path length is ``1/α``.
        points: N ≥ 4 samples along the path (paper C uses 100).
        n_directions: number of directions.
        record: module names whose outputs are recorded; ``"output"`` is the model output; None:
            every leaf module and the output. Memory: ``N × n_directions × output size`` each.
        loss_fn: ``loss_fn(output, targets) -> scalar``; required for ``"gradient"``; when given,
            the loss along the path is recorded too.
        targets: the targets ``y`` passed to ``loss_fn``.
        seed: seeds the random directions.
        chunk_size: path points per batched forward pass at most (memory: ``chunk_size ×``
            activations and perturbed parameters).
        dtype: evaluation precision (float64 by default: spectra of nearly linear paths cancel).
        method: ``"auto"`` (above), ``"layerwise"``, ``"vmap"`` or ``"loop"``.

    Returns:
        :class:`PathRecording`, tensors on the CPU in ``dtype``.

    Raises:
        SmoothscopeError: ``points < 4``, ``alpha ≤ 0``, an unknown ``method`` (or
            ``"layerwise"`` for a model it does not cover), unknown parameter names/prefixes or
            module names, a zero direction, or NaN/inf along the path (naming the first layer,
            in forward order, where it appears, with the t and direction).
    """
    if not isinstance(model, nn.Module):
        raise SmoothscopeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    alpha = float(positive(alpha, "alpha"))
    points = positive(points, "points", integer=True)
    if points < MIN_POINTS:
        raise SmoothscopeError(f"points: expected at least {MIN_POINTS}, got {points}")
    n_directions = positive(n_directions, "n_directions", integer=True)
    chunk_size = positive(chunk_size, "chunk_size", integer=True)
    if method not in METHODS:
        raise SmoothscopeError(f"method: expected one of {METHODS}, got {method!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SmoothscopeError(f"seed: expected an int, got {seed!r}")
    if dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise SmoothscopeError(f"dtype: expected a floating dtype, got {dtype}")
    x = as_tensor(x, "x")
    check_finite(x, "x")

    evaluator = copy.deepcopy(model).to(dtype=dtype).eval()
    param0 = next(evaluator.parameters(), None)
    if param0 is None:
        raise SmoothscopeError("model: expected a module with parameters, got none")
    device = param0.device
    x = x.to(device=device, dtype=dtype)
    if targets is not None and isinstance(targets, torch.Tensor):
        targets = targets.to(device)
    params = {n: p.detach() for n, p in evaluator.named_parameters()}
    for p in evaluator.parameters():
        p.requires_grad_(False)

    # ---- directions ------------------------------------------------------------------------
    if direction is None or (isinstance(direction, str) and direction == "random"):
        kind = "random"
        names = _resolve_perturbed(params, layers_to_perturb)
        base = torch.Generator().manual_seed(seed)
        seeds = torch.randint(0, 2**62, (n_directions,), generator=base).tolist()

        def make(d: int) -> list[torch.Tensor]:
            g = torch.Generator().manual_seed(int(seeds[d]))
            raw = [torch.randn(params[n].shape, generator=g, dtype=torch.float64) for n in names]
            return [v.to(device=device, dtype=dtype) for v in _unit(raw, "random direction")]

    elif isinstance(direction, str) and direction == "gradient":
        kind = "gradient"
        names = _resolve_perturbed(params, layers_to_perturb)
        if n_directions != 1:
            raise SmoothscopeError(
                f"n_directions: expected 1 with direction='gradient', got {n_directions}"
            )
        if loss_fn is None or targets is None:
            raise SmoothscopeError(
                "loss_fn, targets: expected both with direction='gradient', got "
                f"loss_fn={'given' if loss_fn else None}, targets="
                f"{'given' if targets is not None else None}"
            )
        with torch.enable_grad():
            leaves = {n: params[n].clone().requires_grad_(True) for n in names}
            loss = loss_fn(functional_call(evaluator, leaves, (x,)), targets)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise SmoothscopeError("loss_fn: expected a scalar tensor, got another value")
            grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        grad = [
            torch.zeros_like(leaves[n]) if g is None else g
            for n, g in zip(names, grads, strict=True)
        ]
        fixed = _unit([g.detach() for g in grad], "gradient (the loss is flat at W)")

        def make(d: int) -> list[torch.Tensor]:
            return fixed

    elif isinstance(direction, Mapping):
        kind = "given"
        unknown = [n for n in direction if n not in params]
        if unknown:
            known = ", ".join(list(params)[:8])
            raise SmoothscopeError(
                f"direction: expected parameter names as keys (e.g. {known}), got {unknown[0]!r}"
            )
        names = [n for n in params if n in direction]
        if not names:
            raise SmoothscopeError("direction: expected at least one parameter, got an empty dict")
        if layers_to_perturb is not None:
            wanted = _resolve_perturbed(params, layers_to_perturb)
            if set(wanted) != set(names):
                raise SmoothscopeError(
                    f"layers_to_perturb: expected the parameters of the direction dict "
                    f"({names[:6]}), got {wanted[:6]}"
                )
        stacked = []
        for n in names:
            v = as_tensor(direction[n], f"direction[{n!r}]")
            check_finite(v, f"direction[{n!r}]")
            shape = tuple(params[n].shape)
            if tuple(v.shape) == shape:
                v = v.expand(n_directions, *shape)
            elif tuple(v.shape) != (n_directions, *shape):
                raise SmoothscopeError(
                    f"direction[{n!r}]: expected shape {shape} or {(n_directions, *shape)}, got "
                    f"{tuple(v.shape)}"
                )
            stacked.append(v.to(torch.float64))

        def make(d: int) -> list[torch.Tensor]:
            unit = _unit([v[d] for v in stacked], f"direction {d}")
            return [u.to(device=device, dtype=dtype) for u in unit]

    else:
        raise SmoothscopeError(
            f"direction: expected None, 'random', 'gradient' or a dict of tensors, got "
            f"{direction!r}"
        )
    directions = _Directions(make)
    if kind != "random":
        for d in range(n_directions):  # validate every direction before the first forward pass
            directions.chunk([d])

    # ---- recording -------------------------------------------------------------------------
    layers = _resolve_record(evaluator, record)
    t = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    steps = (t / alpha).to(device=device, dtype=dtype)

    def check(values, order, d):  # NaN/inf of one direction's values along the whole path
        j_of, d_of = torch.arange(points), torch.full((points,), d)
        check_chunk(values, layers, order, loss_fn is not None, t, j_of, d_of)

    # the layerwise evaluation where every parametrised module allows it (.linear_paths: all
    # points of a chunk in one batch, each perturbed layer at its cheapest mode); else whole
    # forward passes per point, vmapped or looped (.path_fallback)
    store = None
    if method in ("auto", "layerwise"):
        if method == "layerwise" and (reason := linear_path_support(evaluator)) is not None:
            raise SmoothscopeError(f"method: 'layerwise' does not apply to this model ({reason})")
        store = linear_recording(evaluator, x, params, names, lambda d: directions.chunk([d])[d],
                                 n_directions, steps, layers, chunk_size=chunk_size, dtype=dtype,
                                 loss_fn=loss_fn, targets=targets, check=check,
                                 note=method == "auto")  # fmt: skip
        if store is None and method == "layerwise":
            raise SmoothscopeError("method: 'layerwise' does not apply to this model (it moves "
                                   "the batch axis, or linear_paths.ENABLED is off)")  # fmt: skip
    if store is None:
        flops, calls, point_bytes = shape_pass(evaluator, x)
        mode = method if method in FALLBACK_MODES else fallback_mode(flops, calls, dtype, device)
        store = fallback_recording(evaluator, x, params, names, directions.chunk, n_directions, t,
                                   steps, layers, mode=mode, chunk_size=chunk_size,
                                   point_bytes=point_bytes, dtype=dtype, loss_fn=loss_fn,
                                   targets=targets)  # fmt: skip
    loss = store[len(layers)] if loss_fn is not None else None
    outputs = dict(zip(layers, store[: len(layers)], strict=True))
    return PathRecording(t=t, alpha=alpha, outputs=outputs, loss=loss, parameters=tuple(names),
                         direction=kind, seed=seed)  # fmt: skip
