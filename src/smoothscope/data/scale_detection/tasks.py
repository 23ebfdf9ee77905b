"""The two scale-detection tasks of paper B (Tomasini et al. 2023, §3–4): labels, pairs, inputs.

An input is an empty signal (1D, ``L`` pixels) or image (2D, ``L × L`` pixels) with exactly two
active pixels (paper B, §3: "input images x consisting of two active pixels on an empty
background").

* **Task 1.** "Inputs are classified by comparing the euclidean distance d between the two active
  pixels and some characteristic scale ξ [...] the label is y = sign(ξ − d)" (§3). "By
  introducing a gap g such that d ∈ [ξ − g/2, ξ + g/2]" (§3), pairs whose distance falls in the
  *closed* interval ``[ξ − g/2, ξ + g/2]`` are excluded from the task. The closed interval is the
  paper's and also removes ``d = ξ`` (where ``sign`` is 0) when ``g = 0``. The distance is the
  Euclidean one by default (§3 and Fig. 5 say "euclidean"); ``"manhattan"`` and ``"chebyshev"``
  are offered as alternatives. In 1D all three are ``|i − j|``.
* **Task 2.** "Inputs are partitioned into nonoverlapping patches of size ξ [...] The label y is
  +1 if the active pixels fall within the same patch, −1 otherwise" (§3). Patches tile the signal
  (``ξ × ξ`` squares tiling the image in 2D), so ``L`` must be a multiple of ``ξ``: §4.2 builds
  them as the receptive fields of a stride-``F`` CNN, ``L / F^k`` patches of ``F^k`` pixels, and
  §4.3 uses ``ξ = 2^5``, ``L = 2^7`` (printed "ξ = 25 and L = 27" in the text extraction). Pixels
  are indexed from 0, so patch ``p`` holds pixels ``p·ξ, …, (p + 1)·ξ − 1`` along each axis.

Paper B's experiments: task 1 with ``ξ = 11, g = 4, L = 32`` (§4.3, 1D), task 2 with
``ξ = 32, L = 128`` (§4.3, 1D).

**Active-pixel value.** "For the active pixels x_i = √(L/2), so that all input images have
‖x‖² = L" (§4, 1D). The paper gives no 2D value ("our analysis carries unaltered to the
two-dimensional case"); here it is ``√(L²/2)`` so that ‖x‖² = L², the number of pixels, in 2D as
in 1D.

**Boundary.** The paper's inputs are finite sequences ``x = (x_i)_{i=1..L}`` and its distance is
the Euclidean one in the image; no wrap-around is mentioned for the data (the periodic boundary
of Appendix A belongs to the network's circulant operator, not to the data). The default
``boundary="open"`` therefore measures distances without wrapping and keeps deformed pixels inside
the image. ``boundary="periodic"`` (a ring in 1D, a torus in 2D) is offered as an option: the
per-axis distance becomes ``min(|Δ|, L − |Δ|)`` and deformation moves wrap around.

The deformation of these inputs (one-step pixel moves, :func:`deform`) lives in
:mod:`smoothscope.data.scale_detection.deformation`.

Shapes: pairs ``[M, 2]`` int64 of flat pixel indices with ``pairs[:, 0] < pairs[:, 1]`` (in 2D the
flat index of row ``r``, column ``c`` is ``r·L + c``); labels ``[M]`` int64 in {−1, +1}; inputs
``[P, 1, L]`` (1D) or ``[P, 1, L, L]`` (2D), float64 by default. Randomness comes only from an
explicit ``torch.Generator``; everything is vectorised over samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..._errors import SmoothscopeError
from ..._validate import check_generator, positive

__all__ = [
    "BOUNDARIES",
    "DISTANCES",
    "ENUMERATE_LIMIT",
    "ScaleTask",
    "active_value",
    "class_counts",
    "enumerate_pairs",
    "pair_labels",
    "render_pairs",
    "sample_dataset",
    "sample_pairs",
]

DISTANCES = ("euclidean", "manhattan", "chebyshev")
"""Distances offered for task 1; the paper's (§3) is the Euclidean one."""
BOUNDARIES = ("open", "periodic")
"""``open``: no wrap-around (the paper's finite signals); ``periodic``: ring / torus."""
ENUMERATE_LIMIT = 5_000_000
"""Tasks with at most this many unordered pixel pairs are enumerated; larger ones are sampled by
rejection."""

_MAX_BATCH = 1 << 22  # candidate pairs drawn per rejection round
_MAX_DRAWS = 1 << 30  # total candidate pairs before the rejection sampler gives up


# --------------------------------------------------------------------------------------------
# the task
# --------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ScaleTask:
    """One scale-detection task of paper B, §3; validated on construction.

    Attributes:
        task: 1 (distance ``d`` against the scale ``ξ``) or 2 (same patch of size ``ξ``).
        dim: 1 (signals of ``L`` pixels) or 2 (images of ``L × L`` pixels).
        L: signal length (1D) or image side (2D), at least 2.
        xi: the scale ``ξ``; a positive number ``≤ L`` for task 1, an integer ``≥ 2`` dividing
            ``L`` with ``ξ < L`` for task 2 (patches tile the signal, both classes non-empty).
        gap: task 1's gap ``g ≥ 0``: pairs with ``ξ − g/2 ≤ d ≤ ξ + g/2`` are excluded; must be 0
            for task 2.
        distance: task 1's distance, ``"euclidean"`` (the paper's), ``"manhattan"`` or
            ``"chebyshev"``; identical in 1D, ignored by task 2.
        boundary: ``"open"`` (the paper's; no wrap-around) or ``"periodic"``.

    Raises:
        SmoothscopeError: on a bad field or when one class of the task would be empty.
    """

    task: int
    dim: int
    L: int
    xi: float
    gap: float = 0.0
    distance: str = "euclidean"
    boundary: str = "open"

    def __post_init__(self) -> None:
        if not _is_int(self.task) or self.task not in (1, 2):
            raise SmoothscopeError(f"task: expected 1 or 2, got {self.task!r}")
        if not _is_int(self.dim) or self.dim not in (1, 2):
            raise SmoothscopeError(f"dim: expected 1 or 2, got {self.dim!r}")
        if not _is_int(self.L) or self.L < 2:
            raise SmoothscopeError(f"L: expected an integer of at least 2 pixels, got {self.L!r}")
        if self.distance not in DISTANCES:
            raise SmoothscopeError(f"distance: expected one of {DISTANCES}, got {self.distance!r}")
        if self.boundary not in BOUNDARIES:
            raise SmoothscopeError(f"boundary: expected one of {BOUNDARIES}, got {self.boundary!r}")
        if self.task == 1:
            xi = positive(self.xi, "xi")
            if xi > self.L:
                raise SmoothscopeError(f"xi: expected 0 < xi <= L = {self.L}, got {xi!r}")
            gap = self.gap
            ok = isinstance(gap, (int, float)) and not isinstance(gap, bool)
            if not ok or not math.isfinite(gap) or gap < 0:
                raise SmoothscopeError(f"gap: expected a finite number >= 0, got {gap!r}")
        else:
            xi = self.xi
            if isinstance(xi, float) and xi.is_integer():
                xi = int(xi)
            if not _is_int(xi) or xi < 2:
                raise SmoothscopeError(f"xi: expected an integer patch size >= 2, got {self.xi!r}")
            if xi >= self.L or self.L % xi:
                raise SmoothscopeError(
                    f"xi: expected a patch size that divides L = {self.L} into at least 2 "
                    f"patches, got {xi!r}"
                )
            if self.gap != 0:
                raise SmoothscopeError(f"gap: expected 0 for task 2, got {self.gap!r}")
        object.__setattr__(self, "xi", xi)
        if self.task == 1:
            n_plus, n_minus = class_counts(self)
            if n_plus == 0 or n_minus == 0:
                empty = "+1" if n_plus == 0 else "-1"
                raise SmoothscopeError(
                    f"xi, gap: expected both classes non-empty, got no {empty} pair for "
                    f"xi={self.xi!r}, gap={self.gap!r}, L={self.L}, dim={self.dim}, "
                    f"distance={self.distance!r}, boundary={self.boundary!r}"
                )

    @property
    def n_pixels(self) -> int:
        """``L`` in 1D, ``L²`` in 2D."""
        return self.L**self.dim

    @property
    def n_pairs(self) -> int:
        """Number of unordered pairs of distinct pixels (allowed or not)."""
        n = self.n_pixels
        return n * (n - 1) // 2


def _check_task(task: Any) -> ScaleTask:
    if not isinstance(task, ScaleTask):
        raise SmoothscopeError(f"task: expected a ScaleTask, got {type(task).__name__}")
    return task


def active_value(task: ScaleTask) -> float:
    """Value of the active pixels: ``√(L/2)`` in 1D (paper B, §4), ``√(L²/2)`` in 2D.

    Either way ``‖x‖²`` equals the number of pixels.
    """
    return math.sqrt(_check_task(task).n_pixels / 2)


# --------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------


def _coords(task: ScaleTask, flat: torch.Tensor) -> torch.Tensor:
    """Flat pixel indices ``[...]`` → coordinates ``[..., dim]`` (row, col in 2D)."""
    if task.dim == 1:
        return flat.unsqueeze(-1)
    return torch.stack([flat // task.L, flat % task.L], dim=-1)


def _axis_distance(task: ScaleTask, delta: torch.Tensor) -> torch.Tensor:
    """Per-axis distance from per-axis offsets (wrapping when periodic)."""
    delta = delta.abs()
    if task.boundary == "periodic":
        delta = torch.minimum(delta, task.L - delta)
    return delta


def _metric(task: ScaleTask, axis_dist: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A float64 monotone transform of ``d`` from per-axis distances ``[..., dim]``.

    Returns ``(m, squared)``: ``m = d²`` (exact for integer offsets) when ``squared``, else ``d``.
    """
    a = axis_dist.to(torch.float64)
    if task.dim == 1:
        return a[..., 0], False
    if task.distance == "euclidean":
        return (a * a).sum(-1), True
    if task.distance == "manhattan":
        return a.sum(-1), False
    return a.amax(-1), False


def _task1_labels(task: ScaleTask, axis_dist: torch.Tensor, *, exclude_gap: bool) -> torch.Tensor:
    """``sign(ξ − d)`` as int64; 0 where ``d = ξ`` or (``exclude_gap``) ``|d − ξ| ≤ g/2``."""
    m, squared = _metric(task, axis_dist)

    def t(s: float) -> float:
        return s * s if squared else s

    xi = float(task.xi)
    labels = (m < t(xi)).long() - (m > t(xi)).long()
    if exclude_gap:
        lo, hi = xi - task.gap / 2, xi + task.gap / 2
        inside = m <= t(hi)
        if lo > 0:
            inside &= m >= t(lo)
        labels = labels.masked_fill(inside, 0)
    return labels


def _raw_labels(
    task: ScaleTask, ca: torch.Tensor, cb: torch.Tensor, *, exclude_gap: bool
) -> torch.Tensor:
    """Labels of pixel pairs given by coordinates ``[..., dim]``; 0 = excluded / undefined."""
    if task.task == 1:
        return _task1_labels(task, _axis_distance(task, ca - cb), exclude_gap=exclude_gap)
    same = ((ca // task.xi) == (cb // task.xi)).all(-1)
    return same.long() * 2 - 1


def _check_pairs(task: ScaleTask, pairs: Any) -> torch.Tensor:
    if isinstance(pairs, torch.Tensor):
        p = pairs
    else:
        try:
            p = torch.as_tensor(pairs)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SmoothscopeError(
                f"pairs: expected an integer tensor of shape [M, 2], got {type(pairs).__name__}"
            ) from exc
    if p.dtype.is_floating_point or p.is_complex() or p.dtype == torch.bool:
        raise SmoothscopeError(f"pairs: expected integer pixel indices, got dtype {p.dtype}")
    if p.dim() != 2 or p.shape[1] != 2:
        raise SmoothscopeError(f"pairs: expected shape [M, 2], got {tuple(p.shape)}")
    p = p.long()
    if p.numel() and (bool((p < 0).any()) or bool((p >= task.n_pixels).any())):
        raise SmoothscopeError(
            f"pairs: expected flat pixel indices in [0, {task.n_pixels}), got values in "
            f"[{int(p.min())}, {int(p.max())}]"
        )
    if bool((p[:, 0] == p[:, 1]).any()):
        n_bad = int((p[:, 0] == p[:, 1]).sum())
        raise SmoothscopeError(f"pairs: expected two distinct pixels per pair, got {n_bad} repeats")
    return p


def pair_labels(task: ScaleTask, pairs: torch.Tensor) -> torch.Tensor:
    """Labels of pixel pairs under ``task``.

    Args:
        task: the task.
        pairs: ``[M, 2]`` flat pixel indices of the two active pixels (any order).

    Returns:
        ``[M]`` int64 in {−1, 0, +1}; 0 marks a pair excluded by task 1's gap (or ``d = ξ``).
    """
    task = _check_task(task)
    p = _check_pairs(task, pairs)
    return _raw_labels(task, _coords(task, p[:, 0]), _coords(task, p[:, 1]), exclude_gap=True)


def class_counts(task: ScaleTask) -> tuple[int, int]:
    """Exact numbers ``(n_plus, n_minus)`` of allowed unordered pairs in each class.

    Computed from the ``O(L^dim)`` pixel offsets, so cheap also for tasks too large to enumerate.
    """
    task = _check_task(task)
    n, dim, L = task.n_pixels, task.dim, task.L
    if task.task == 2:
        n_plus = (L // task.xi) ** dim * math.comb(task.xi**dim, 2)
        return n_plus, math.comb(n, 2) - n_plus
    if task.boundary == "open":
        axis = torch.arange(-(L - 1), L)
        mult_axis = L - axis.abs()
    else:
        axis = torch.arange(L)
        mult_axis = torch.full((L,), L)
    grids = torch.meshgrid(*([axis] * dim), indexing="ij")
    offsets = torch.stack([g.reshape(-1) for g in grids], dim=-1)  # [K, dim]
    mult = torch.ones(offsets.shape[0], dtype=torch.int64)
    for m in torch.meshgrid(*([mult_axis] * dim), indexing="ij"):
        mult = mult * m.reshape(-1)
    nonzero = (offsets != 0).any(-1)
    labels = _task1_labels(task, _axis_distance(task, offsets), exclude_gap=True)
    # each unordered pair is counted twice, once per orientation of its offset
    n_plus = int(mult[nonzero & (labels == 1)].sum()) // 2
    n_minus = int(mult[nonzero & (labels == -1)].sum()) // 2
    return n_plus, n_minus


# --------------------------------------------------------------------------------------------
# pairs and datasets
# --------------------------------------------------------------------------------------------


def enumerate_pairs(
    task: ScaleTask, *, limit: int = ENUMERATE_LIMIT
) -> tuple[torch.Tensor, torch.Tensor]:
    """All allowed unordered pairs of distinct pixels and their labels.

    Args:
        task: the task.
        limit: refuse tasks with more than this many unordered pixel pairs.

    Returns:
        ``pairs`` ``[M, 2]`` int64 with ``pairs[:, 0] < pairs[:, 1]`` in lexicographic order, and
        ``labels`` ``[M]`` int64 in {−1, +1}. Pairs excluded by the gap are left out.

    Raises:
        SmoothscopeError: if the task has more than ``limit`` pixel pairs.
    """
    task = _check_task(task)
    limit = positive(limit, "limit", integer=True)
    if task.n_pairs > limit:
        raise SmoothscopeError(
            f"task: expected at most limit={limit} pixel pairs to enumerate, got "
            f"{task.n_pairs} (L={task.L}, dim={task.dim})"
        )
    idx = torch.triu_indices(task.n_pixels, task.n_pixels, offset=1)
    labels = _raw_labels(task, _coords(task, idx[0]), _coords(task, idx[1]), exclude_gap=True)
    keep = labels != 0
    return idx.T[keep].contiguous(), labels[keep]


def _first_distinct(keys: torch.Tensor) -> torch.Tensor:
    """Distinct values of ``keys`` in order of first occurrence."""
    if keys.numel() == 0:
        return keys
    uniq, inv = torch.unique(keys, return_inverse=True)
    first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.int64)
    first.scatter_reduce_(0, inv, torch.arange(keys.numel()), reduce="amin")
    return uniq[torch.argsort(first)]


def _rejection_pairs(
    task: ScaleTask, need: dict[int, int], frac: dict[int, float], generator: torch.Generator
) -> dict[int, torch.Tensor]:
    """Uniform samples without replacement of ``need[c]`` pairs of class ``c`` (0 = any allowed).

    Candidates are iid uniform unordered pixel pairs; the first distinct candidates of a class
    form a uniform sample without replacement from that class.
    """
    n = task.n_pixels
    found = {c: torch.empty(0, dtype=torch.int64) for c in need}
    drawn = 0
    while any(found[c].numel() < need[c] for c in need):
        missing = [c for c in need if found[c].numel() < need[c]]
        want = max((need[c] - found[c].numel()) / frac[c] for c in missing)
        batch = int(min(_MAX_BATCH, max(1024, 2 * want)))
        drawn += batch
        if drawn > _MAX_DRAWS:
            raise SmoothscopeError(
                f"P: expected a sample the rejection sampler can reach within {_MAX_DRAWS} "
                f"draws, got a request for {need} pairs per class out of {task.n_pairs} pairs"
            )
        i = torch.randint(0, n, (batch,), generator=generator)
        j = torch.randint(0, n - 1, (batch,), generator=generator)
        j = j + (j >= i).long()
        a, b = torch.minimum(i, j), torch.maximum(i, j)
        labels = _raw_labels(task, _coords(task, a), _coords(task, b), exclude_gap=True)
        keys = a * n + b
        for c in missing:
            sel = keys[labels != 0] if c == 0 else keys[labels == c]
            found[c] = _first_distinct(torch.cat([found[c], sel]))
    return {c: torch.stack([found[c][: need[c]] // n, found[c][: need[c]] % n], -1) for c in need}


def sample_pairs(
    task: ScaleTask, P: int, *, generator: torch.Generator, balanced: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``P`` distinct allowed pixel pairs, drawn uniformly without replacement, and their labels.

    With ``balanced`` each class contributes exactly ``P/2`` pairs drawn uniformly from that
    class; otherwise the ``P`` pairs are drawn uniformly from all allowed pairs. Tasks with at
    most :data:`ENUMERATE_LIMIT` pixel pairs are enumerated; larger ones use rejection sampling.

    Args:
        task: the task.
        P: number of pairs; even when ``balanced``.
        generator: the only source of randomness.
        balanced: ``P/2`` pairs per class (default) or plain uniform sampling.

    Returns:
        ``pairs`` ``[P, 2]`` int64 (``pairs[:, 0] < pairs[:, 1]``) in random order, ``labels``
        ``[P]`` int64 in {−1, +1}.

    Raises:
        SmoothscopeError: if ``P`` is odd with ``balanced``, or exceeds the available pairs.
    """
    task = _check_task(task)
    P = positive(P, "P", integer=True)
    generator = check_generator(generator)
    if not isinstance(balanced, bool):
        raise SmoothscopeError(f"balanced: expected True or False, got {balanced!r}")
    n_plus, n_minus = class_counts(task)
    if balanced:
        if P % 2:
            raise SmoothscopeError(f"P: expected an even number with balanced=True, got {P}")
        if P // 2 > min(n_plus, n_minus):
            raise SmoothscopeError(
                f"P: expected at most {2 * min(n_plus, n_minus)} (P/2 pairs per class; the task "
                f"has {n_plus} pairs labelled +1 and {n_minus} labelled -1), got {P}"
            )
        need = {1: P // 2, -1: P // 2}
    else:
        if P > n_plus + n_minus:
            raise SmoothscopeError(
                f"P: expected at most the {n_plus + n_minus} allowed pairs of the task, got {P}"
            )
        need = {0: P}
    if task.n_pairs <= ENUMERATE_LIMIT:
        pairs, labels = enumerate_pairs(task)
        chosen = {}
        for c, k in need.items():
            idx = torch.arange(labels.numel()) if c == 0 else torch.nonzero(labels == c)[:, 0]
            chosen[c] = pairs[idx[torch.randperm(idx.numel(), generator=generator)[:k]]]
    else:
        total = task.n_pairs
        frac = {1: n_plus / total, -1: n_minus / total, 0: (n_plus + n_minus) / total}
        chosen = _rejection_pairs(task, need, frac, generator)
    pairs = torch.cat([chosen[c] for c in need])
    pairs = pairs[torch.randperm(P, generator=generator)]
    return pairs, pair_labels(task, pairs)


def render_pairs(
    task: ScaleTask, pairs: torch.Tensor, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Inputs with the two pixels of each pair set to :func:`active_value`.

    Args:
        task: the task.
        pairs: ``[M, 2]`` flat pixel indices.
        dtype: floating dtype of the result.

    Returns:
        ``[M, 1, L]`` (1D) or ``[M, 1, L, L]`` (2D) with ``‖x‖² = L^dim`` per input.
    """
    task = _check_task(task)
    p = _check_pairs(task, pairs)
    if not dtype.is_floating_point:
        raise SmoothscopeError(f"dtype: expected a floating dtype, got {dtype}")
    x = torch.zeros(p.shape[0], task.n_pixels, dtype=dtype)
    x.scatter_(1, p, active_value(task))
    return x.reshape(p.shape[0], 1, *([task.L] * task.dim))


def sample_dataset(
    task: ScaleTask,
    P: int,
    *,
    generator: torch.Generator,
    balanced: bool = True,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``P`` inputs of ``task`` with their labels (see :func:`sample_pairs` for the sampling).

    Returns:
        ``x`` ``[P, 1, L]`` (1D) or ``[P, 1, L, L]`` (2D) of ``dtype``, and ``y`` ``[P]`` int64
        in {−1, +1}.
    """
    pairs, labels = sample_pairs(task, P, generator=generator, balanced=balanced)
    return render_pairs(task, pairs, dtype=dtype), labels
