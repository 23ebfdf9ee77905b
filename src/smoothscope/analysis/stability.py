"""Sensitivity of each layer to diffeomorphisms (D), to noise (G) and their ratio (R).

Paper B eq. 1 (after Petrini et al. 2021), for a representation f (a layer's output or the
network output)::

    D_f = E_{x,τ} ‖f(τx) − f(x)‖² / E_{x1,x2} ‖f(x1) − f(x2)‖²
    G_f = E_{x,η} ‖f(x+η) − f(x)‖² / E_{x1,x2} ‖f(x1) − f(x2)‖²
    R_f = D_f / G_f

τ is a random maximum-entropy diffeomorphism (:mod:`smoothscope.data.diffeo`), η Gaussian
noise rescaled sample by sample so that ``‖η‖ = ‖τx − x‖``, and x, x1, x2 are test inputs.
Every requested layer is recorded from one forward pass per batch: the batch holds the clean
inputs, their deformed copies and their noisy copies, and forward hooks keep each layer's
output. The denominator uses all pairs of distinct clean inputs of a batch (or, with
``pairs="all"`` as in the peers' code, all pairs including ``i = j``). ``convention="peer"``
gives the original authors' numbers directly (δ = 1 pixel, all pairs).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .._device import device_name, full_float32, resolve_device
from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, check_rank, positive
from ..data.diffeo import random_diffeo, temperature_for_displacement, temperature_range
from ..models.adapter import OUTPUT, OutputSelector, adapt_model

__all__ = [
    "CONVENTIONS",
    "OUTPUT",
    "PEER_DELTA",
    "StabilityResult",
    "default_temperature",
    "relative_stability",
]

DEFAULT_CUT = 3
"""High-frequency cut-off of the diffeomorphisms (Petrini et al. 2021 use c = 3)."""


def default_temperature(n: int, cut: float = DEFAULT_CUT) -> float:
    """The geometric middle of the natural temperature range ``[T_min, T_max]`` for side n."""
    low, high = temperature_range(n, cut)
    return math.sqrt(low * high)


@dataclass
class StabilityResult:
    """A tidy table: one row per layer with D, G, R and their standard errors.

    Attributes:
        rows: ``{"layer", "relative_depth", "D", "D_se", "G", "G_se", "R", "R_se"}`` records.
        temperature, cut: the diffeomorphisms' parameters.
        n_inputs, diffeos_per_input: sample sizes.
    """

    rows: list[dict[str, Any]]
    temperature: float
    cut: float
    n_inputs: int
    diffeos_per_input: int
    extra: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> list[float]:
        return [row[name] for row in self.rows]

    def plot(self, ax=None, *, quantity: str = "R", label: str | None = None, **style):
        """Plot a quantity (``"D"``, ``"G"`` or ``"R"``) against relative depth."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.errorbar(
            self.column("relative_depth"),
            self.column(quantity),
            yerr=self.column(f"{quantity}_se"),
            label=label,
            marker="o",
            ms=3,
            **style,
        )
        ax.set(xlabel="relative depth k/K", ylabel=f"{quantity}_k", yscale="log")
        return ax.figure


class _Capture:
    """Forward hooks storing the flattened output of each named layer (copied for the layers
    that a later in-place operation would change)."""

    def __init__(
        self, model: nn.Module, layers: Sequence[str], copy_of: Sequence[str] = ()
    ) -> None:
        modules = dict(model.named_modules())
        self.values: dict[str, torch.Tensor] = {}
        self.handles = [
            modules[name].register_forward_hook(self._hook(name, name in copy_of))
            for name in layers
            if name != OUTPUT
        ]

    def _hook(self, name: str, copied: bool):
        def hook(module, args, output):
            output = output.detach()
            self.values[name] = _rows(output.clone() if copied else output)

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _rows(f: torch.Tensor) -> torch.Tensor:
    """``[B, F]`` rows of a representation, without a copy where the memory layout allows.

    A channels-last 4-D tensor is read in its memory order (``[B, H, W, C]``): every quantity
    built from the rows (squared norms of differences, pair distances) is invariant to the
    order of the features.
    """
    channels_last = f.is_contiguous(memory_format=torch.channels_last)
    if f.dim() == 4 and not f.is_contiguous() and channels_last:
        return f.permute(0, 2, 3, 1).flatten(1)
    return f.flatten(1)


def _pair_distances(f: torch.Tensor, pairs: str = "distinct") -> torch.Tensor:
    """Mean squared distance of each row to the other rows (``"distinct"``) or to all rows
    including itself (``"all"``, the peers' denominator), ``[b]``."""
    sq = (f * f).sum(1)
    d = (sq[:, None] + sq[None, :] - 2.0 * f @ f.T).clamp_min(0.0)
    d.fill_diagonal_(0.0)
    return d.sum(1) / (f.shape[0] - (1 if pairs == "distinct" else 0))


CHANNELS_LAST = True
"""Evaluate image models in channels-last layout (same numbers up to float rounding)."""

CONVENTIONS = ("project", "peer")
PEER_DELTA = 1.0
"""The peers' default typical displacement δ of the diffeomorphisms, in pixels."""


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SmoothscopeError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return value


def _check_inputs(x: torch.Tensor, custom: bool) -> None:
    """Shapes, and inputs that would leave D, G and R undefined (0/0)."""
    if not custom:
        check_rank(x, (4,), "inputs", "[N, C, n, n]")
    elif x.dim() < 3:
        raise SmoothscopeError(f"inputs: expected [N, C, ...], got shape {tuple(x.shape)}")
    check_finite(x, "inputs")
    if not custom and x.shape[-1] != x.shape[-2]:
        raise SmoothscopeError(f"inputs: expected square images [N, C, n, n], got {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise SmoothscopeError(
            f"inputs: expected at least 2 images (the denominator compares pairs), got {x.shape[0]}"
        )
    flat = x.flatten(1)
    if bool((flat == flat[:1]).all()):
        raise SmoothscopeError(
            "inputs: expected distinct images, got the same image every time (the denominator "
            "E‖f(x1) − f(x2)‖² is 0, so D and G are undefined)"
        )
    if not custom and bool((flat == flat[:, :1]).all()):
        raise SmoothscopeError(
            "inputs: expected images with some structure, got constant images (a "
            "diffeomorphism does not change a constant image and the noise is scaled to that "
            "change, so D = G = 0 and R is undefined)"
        )


@torch.no_grad()
@full_float32()
def relative_stability(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    layers: Sequence[str] | str | None = None,
    output: OutputSelector = None,
    temperature: float | None = None,
    cut: float = DEFAULT_CUT,
    diffeos_per_input: int = 4,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
    deformation: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor] | None = None,
    rectify_noise: bool = False,
    delta: float | None = None,
    interpolation: str | None = None,
    pairs: str | None = None,
    convention: str = "project",
    device: str | torch.device | None = None,
    target_rse: float | None = None,
    max_diffeos_per_input: int = 4096,
) -> StabilityResult:
    """D, G and R (paper B eq. 1) of chosen layers of ``model`` on ``inputs``.

    Args:
        model: a ``torch.nn.Module`` mapping ``[B, C, n, n]`` images to outputs (evaluated in
            eval mode on a copy; the caller's model is untouched).
        inputs: test images ``[N, C, n, n]`` (square), N ≥ 2, not all identical and not all
            constant (D, G, R would be 0/0); with a custom ``deformation`` any ``[N, C, ...]``
            (e.g. 1-D signals ``[N, C, L]``).
        layers: module names, patterns (``"layer*"``) and/or ``"output"``, or a predicate
            ``layers(name, module) -> bool``; default: the model's ``representation_layers()``
            when it has it, else its top-level children and the output
            (:func:`smoothscope.models.adapter.default_layers`; layers that return no tensor
            are skipped, with a note in ``extra["notes"]``).
        output: which tensor of the model's output is f when it returns a tuple, list or
            dict: an index, a key or a callable
            (:func:`~smoothscope.models.adapter.select_output`; default: the first tensor,
            noted in ``extra["notes"]``).
        temperature: T of the diffeomorphisms (default :func:`default_temperature`; the
            peers' convention: from ``delta``).
        cut: their high-frequency cut-off c.
        diffeos_per_input: independent diffeomorphisms (and noise draws) per input, drawn and
            evaluated in one batch with the clean inputs (whose features are computed once).
        batch_size: clean inputs per forward pass (≥ 2: the denominator needs pairs; the inputs
            are split into nearly equal batches of at least this size); each pass evaluates
            ``b · (1 + 2·diffeos_per_input)`` images.
        seed: seeds the diffeomorphisms and the noise (CPU generators on every device).
        progress: show a progress bar over batches.
        deformation: replaces the diffeomorphisms: ``deformation(x [b, ...], per, generator)``
            returns ``[b·per, ...]`` deformed copies grouped by input (e.g. the pixel moves of
            the scale-detection tasks, :func:`smoothscope.data.scale_detection.deform`).
        rectify_noise: apply ReLU to the Gaussian noise before rescaling it to
            ``‖τx − x‖`` (paper B §4.3 measures G_k with rectified noise).
        delta: the diffeomorphisms' typical displacement δ in pixels instead of ``temperature``
            (``T = 4δ²/(π n² log c)``,
            :func:`~smoothscope.data.diffeo.temperature_for_displacement`).
        interpolation: ``"bilinear"`` (paper B's text) or ``"nearest"`` for the diffeomorphisms.
        pairs: the denominator ``E‖f(x1) − f(x2)‖²`` over ``"distinct"`` pairs ``i ≠ j`` of a
            batch (unbiased) or over ``"all"`` pairs including ``i = j`` (the peers' code; a
            factor ``(b − 1)/b`` smaller, so D and G are ``b/(b − 1)`` larger; R is unchanged).
        convention: ``"project"`` (defaults: T in the middle of the natural range, bilinear,
            distinct pairs) or ``"peer"`` (the original authors' code: δ = 1 pixel, bilinear,
            all pairs). Arguments given explicitly override the convention.
        device: ``"cpu"``, ``"cuda"``, ``"auto"`` or a ``torch.device``; None: the model's.
        target_rse: sample to a precision instead of a fixed count: after a first round of
            ``diffeos_per_input`` draws per input, further rounds (sized from the relative
            standard error reached so far) until ``R_se / R`` of the *last* requested layer
            is at most ``target_rse``; every draw of every round is pooled.
            ``extra["rounds"]`` lists the draws per input of each round.
        max_diffeos_per_input: the most draws per input with ``target_rse`` (a layer whose R
            cannot reach the precision stops there).

    Returns:
        :class:`StabilityResult` with one row per layer, in the order given. A layer whose
        representation is the same for every input (e.g. all its ReLUs dead) has NaN D, G, R,
        and ``extra["undefined"][layer]`` gives the reason. ``extra`` also holds the options
        used (``convention``, ``interpolation``, ``pairs``, ``delta``, ``device``).

    Raises:
        SmoothscopeError: a model that is not a module, bad shapes or values (see ``inputs``),
            unknown layers or options, ``temperature`` together with ``delta``, or CUDA
            requested without a CUDA device.

    Precision: the forward passes run in the model's dtype (float32 for a float32 model); the
    differences of the features are taken in that dtype (correctly rounded) and squared and
    summed in float64. ``R_se`` is the delta-method standard error of the ratio of the paired
    means, ``sd(d − R·g) / (√n · mean g)`` (d and g of a draw share ``‖τx − x‖``).
    """
    if not isinstance(model, nn.Module):
        raise SmoothscopeError(
            f"model: expected a torch.nn.Module, got {type(model).__name__} (wrap a function in "
            "a Module to record its output)"
        )
    x = as_tensor(inputs, "inputs")
    _check_inputs(x, deformation is not None)
    convention = _check_choice(convention, "convention", CONVENTIONS)
    peer = convention == "peer"
    interpolation = _check_choice(
        interpolation or "bilinear", "interpolation", ("bilinear", "nearest")
    )
    pairs = _check_choice(pairs or ("all" if peer else "distinct"), "pairs", ("distinct", "all"))
    batch_size = positive(batch_size, "batch_size", integer=True)
    if batch_size < 2:
        raise SmoothscopeError(
            f"batch_size: expected at least 2 (pairs of inputs), got {batch_size}"
        )
    per = positive(diffeos_per_input, "diffeos_per_input", integer=True)
    max_per = positive(max_diffeos_per_input, "max_diffeos_per_input", integer=True)
    if target_rse is not None:
        target_rse = positive(target_rse, "target_rse")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SmoothscopeError(f"seed: expected an int, got {seed!r}")
    adapted = adapt_model(model, x, output=output, layers=layers)
    model, names = adapted.module, adapted.layers
    n = x.shape[-1]
    if delta is not None and temperature is not None:
        raise SmoothscopeError("temperature, delta: expected one of them, got both")
    if deformation is None:
        if delta is None and temperature is None and peer:
            delta = PEER_DELTA
        if delta is not None:
            temperature = temperature_for_displacement(delta, cut, n)
        elif temperature is None:
            temperature = default_temperature(n, cut)

        def deformation(images: torch.Tensor, per: int, generator: torch.Generator):
            return random_diffeo(images, temperature, cut, generator=generator, per_image=per,
                                 interpolation=interpolation)  # fmt: skip

    param = next(model.parameters(), None)
    if device is None:
        dev = param.device if param is not None else torch.device("cpu")
    else:
        dev = resolve_device(device)
    dtype = param.dtype if param is not None and param.is_floating_point() else x.dtype
    evaluator = copy.deepcopy(model).to(dev).eval()
    # image batches in channels-last layout: oneDNN's convolutions run ~1.5x faster on the CPU
    memory_format = torch.channels_last if CHANNELS_LAST and x.dim() == 4 else None
    if memory_format is not None:
        evaluator = evaluator.to(memory_format=memory_format)
    capture = _Capture(evaluator, names, adapted.modified_in_place)
    generator = torch.Generator().manual_seed(seed)
    sums = {name: {"d": [], "g": [], "pairs": []} for name in names}
    # nearly equal batches of at least batch_size inputs (never a batch of one)
    batches = torch.tensor_split(x, max(1, x.shape[0] // batch_size))
    rounds = [per]  # draws per input of each round (one round without target_rse)
    try:
        while rounds[-1] > 0:
            first = len(rounds) == 1
            k = rounds[-1]
            bar = tqdm(batches, desc="stability", disable=not progress, leave=False)
            for clean in bar:
                b = clean.shape[0]
                clean64 = clean.to(torch.float64)
                deformed = deformation(clean64, k, generator).to(torch.float64)
                noise = torch.randn(deformed.shape, generator=generator, dtype=torch.float64)
                if rectify_noise:
                    noise = noise.clamp_min(0.0)
                shape = (b, k, *deformed.shape[1:])
                change = deformed.view(shape) - clean64.unsqueeze(1)  # τx − x, no copy of x
                scale = change.flatten(2).norm(dim=2) / noise.view(b, k, -1).norm(dim=2)
                noisy = torch.addcmul(
                    clean64.unsqueeze(1), noise.view(shape), scale.view(b, k, *[1] * (x.dim() - 1))
                ).view(deformed.shape)
                batch = torch.cat([clean64, deformed, noisy]).to(device=dev, dtype=dtype)
                if memory_format is not None:
                    batch = batch.contiguous(memory_format=memory_format)
                out = evaluator(batch)
                values = dict(capture.values)
                if OUTPUT in names:
                    values[OUTPUT] = _rows(out)
                for name in names:
                    f = values[name]
                    f_clean = f[:b].unsqueeze(1)  # [b, 1, F], broadcast over the draws
                    d = f[b : b + b * k].view(b, k, -1) - f_clean
                    g = f[b + b * k :].view(b, k, -1) - f_clean
                    # differences in the model's dtype (exact rounding), squares summed in
                    # float64 (vector_norm's float64 path: faster than square + sum)
                    for key, diff in (("d", d), ("g", g)):
                        norm = torch.linalg.vector_norm(diff, dim=2, dtype=torch.float64)
                        sums[name][key].append(norm.square_().flatten().cpu())
                    if first:  # the same clean inputs in every round: their pairs once
                        pairs_b = _pair_distances(f[:b].to(torch.float64), pairs)
                        sums[name]["pairs"].append(pairs_b.cpu())
            rounds.append(_next_round(sums[names[-1]], sum(rounds), target_rse, max_per))
    finally:
        capture.remove()
    rows, undefined = [], {}
    for k, name in enumerate(names, start=1):
        d = torch.cat(sums[name]["d"])
        g = torch.cat(sums[name]["g"])
        pairs_k = torch.cat(sums[name]["pairs"])
        row = {"layer": name, "relative_depth": k / len(names), **_ratios(d, g, pairs_k)}
        if float(pairs_k.mean()) == 0:
            undefined[name] = "the same representation for every input (e.g. all units dead)"
        elif float(g.mean()) == 0:
            undefined[name] = "no input changed under the deformations (G = 0)"
        rows.append(row)
    t = math.nan if temperature is None else float(temperature)
    extra = {"convention": convention, "interpolation": interpolation, "pairs": pairs,
             "delta": None if delta is None else float(delta), "device": device_name(dev),
             "undefined": undefined, "output": adapted.output,
             "notes": adapted.notes}  # fmt: skip
    extra["rounds"] = rounds[:-1]
    return StabilityResult(rows, t, float(cut), int(x.shape[0]), sum(rounds), extra)


def _next_round(
    layer: dict[str, list[torch.Tensor]], drawn: int, target: float | None, cap: int
) -> int:
    """Draws per input of the next round: 0 without a target, once it is reached or at the
    cap; else enough to reach it by the ``1/√n`` law (+5 %), at least one."""
    if target is None or drawn >= cap:
        return 0
    r = _ratios(torch.cat(layer["d"]), torch.cat(layer["g"]), torch.cat(layer["pairs"]))
    rse = r["R_se"] / abs(r["R"]) if r["R"] else math.nan
    if not math.isfinite(rse) or rse <= target:
        return 0
    need = math.ceil(drawn * (rse / target) ** 2 * 1.05)
    return max(1, min(need - drawn, cap - drawn))


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    se = float(v.std(unbiased=True) / math.sqrt(v.numel())) if v.numel() > 1 else 0.0
    return float(v.mean()), se


def _ratios(d: torch.Tensor, g: torch.Tensor, pairs: torch.Tensor) -> dict[str, float]:
    """D, G, R and delta-method standard errors (the denominator cancels in R)."""
    md, sd = _mean_se(d)
    mg, sg = _mean_se(g)
    mp, sp = _mean_se(pairs)
    if mp == 0:  # a dead layer: the same representation for every input; D and G are 0/0
        return dict.fromkeys(("D", "D_se", "G", "G_se", "R", "R_se"), math.nan)

    def ratio(m: float, s: float) -> tuple[float, float]:
        value = m / mp
        return value, abs(value) * math.sqrt((s / m) ** 2 + (sp / mp) ** 2) if m else s / mp

    D, D_se = ratio(md, sd)
    G, G_se = ratio(mg, sg)
    R = md / mg if mg else (math.nan if md == 0 else math.inf)
    # delta method for the ratio of paired means: Var(d̄ − R ḡ) / ḡ² (covariance included)
    R_se = _mean_se(d - R * g)[1] / mg if md and mg else math.nan
    return {"D": D, "D_se": D_se, "G": G, "G_se": G_se, "R": R, "R_se": R_se}
