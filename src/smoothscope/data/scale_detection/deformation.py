"""The deformation of the scale-detection inputs (paper B §3–4): one-step pixel moves.

**Deformation** (:func:`deform`). "Each of the active pixels is moved to either of its neighboring
pixels or left in its original position with equal probabilities", with displacements of 1 pixel
(§3 and its footnote 4); for the 1D analysis: "a random displacement of each active pixel at
either left or right with probability 1/2" (§4). Hence, by default, in 1D each active pixel moves
left or right with probability 1/2 each (no "stay", §4) and in 2D it stays or moves to one of its
4 nearest neighbours with probability 1/5 each (§3; displacements of exactly 1 pixel, so no
diagonal neighbours). ``stay=`` overrides the choice. Rules that the paper leaves open:

* *Border* (open boundary): a move that would leave the image is reflected, i.e. replaced by the
  opposite move along the same axis (a pixel on the left border that draws "left" goes right).
  Every pixel thus still moves by at most one step, and in 1D by exactly one step.
* *Collisions and labels*: the two moves are drawn independently and uniformly; a joint move is
  *invalid* if both pixels land on the same pixel or, with ``preserve_label=True`` (default), if
  it changes the label ``sign(ξ − d)`` (task 1, with ``d = ξ`` counting as a change) or the
  same-patch label (task 2). Invalid joint moves are rejected and redrawn; this is implemented
  exactly by drawing the joint move uniformly among the valid ones. If no joint move is valid
  (possible only without "stay", on tiny signals) the input is returned unchanged.
* *Local translations* (``translation=True``, the peers' variant): both active pixels take the
  *same* unit step, so the pair is translated rigidly and its distance never changes. With the
  open boundary a step that would take either pixel outside the image is not allowed (no
  reflection, which would change the distance); the step is drawn uniformly among the allowed
  ones, and ``preserve_label`` still applies (task 2 patches can be crossed).
* *Moves across patches* (task 2, ``undo_patch_crossings=True``, the original code's
  ``adding_diffeo`` and ``over_boundaries`` in ``UmbertoTomasini/scale_detection_1d``,
  ``diffeo_cluster_mean.py``): a pixel whose move would take it into another ξ-patch, or out of
  the image, stays where it is. Both pixels then always stay in their patches, so the label
  never changes and a layer whose blocks are aligned with the patches (``F^k ≥ ξ`` for a
  stride-F net) sees no deformation at all.
* For task 1 the gap makes label preservation automatic once ``g ≥ 4``: kept pairs satisfy
  ``|d − ξ| > g/2``, and one deformation changes ``d`` by at most ``MAX_DISTANCE_CHANGE = 2``
  (each pixel moves by at most a unit step, for every metric offered and either boundary), so
  no label-changing move ever exists and only collisions are rejected. The paper's ``g = 4`` is
  exactly this threshold. For task 2 (and task 1 with ``g < 4``) moves across the decision
  boundary do exist: ``preserve_label=True`` rejects them, ``preserve_label=False`` keeps the
  paper's unconditioned moves (only collisions are still rejected) and may change the label.

The tasks, their labels and boundaries are defined in
:mod:`smoothscope.data.scale_detection.tasks`.

Shapes: inputs ``[P, 1, L]`` (1D) or ``[P, 1, L, L]`` (2D) with exactly two non-zero pixels.
Randomness comes only from an explicit ``torch.Generator``; everything is vectorised over
samples.
"""

from __future__ import annotations

import torch

from ..._errors import SmoothscopeError
from ..._validate import as_tensor, check_generator, check_rank
from .tasks import ScaleTask, _check_task, _coords, _raw_labels

__all__ = ["MAX_DISTANCE_CHANGE", "deform"]

MAX_DISTANCE_CHANGE = 2
"""Largest change of the pair distance in one :func:`deform` (each pixel moves ≤ 1 step)."""


def _moves(dim: int, stay: bool) -> torch.Tensor:
    """Unit moves ``[m, dim]``; "stay" first when included."""
    if dim == 1:
        steps = [[-1], [1]]
    else:
        steps = [[-1, 0], [1, 0], [0, -1], [0, 1]]  # up, down, left, right
    if stay:
        steps = [[0] * dim, *steps]
    return torch.tensor(steps, dtype=torch.int64)


def deform(
    x: torch.Tensor,
    task: ScaleTask,
    *,
    generator: torch.Generator,
    preserve_label: bool = True,
    stay: bool | None = None,
    translation: bool = False,
    undo_patch_crossings: bool = False,
) -> torch.Tensor:
    """Move each active pixel by one step (paper B, §3–4); see the module docstring for the rules.

    Args:
        x: ``[P, 1, L]`` (1D) or ``[P, 1, L, L]`` (2D) inputs with exactly two non-zero pixels.
        task: the task, which fixes the shape, the boundary and the label.
        generator: the only source of randomness.
        preserve_label: reject joint moves that change the label (default) or keep the paper's
            unconditioned moves; colliding moves are rejected either way.
        stay: whether "stay in place" is one of the equally likely moves; ``None`` follows the
            paper: no in 1D (§4, left or right with probability 1/2), yes in 2D (§3, stay or one
            of the 4 neighbours with probability 1/5).
        translation: move both pixels by the same step (a local translation of the pair)
            instead of independently.
        undo_patch_crossings: task 2 only: a pixel whose move would leave its ξ-patch (or the
            image) stays where it is (the original code's rule).

    Returns:
        A tensor like ``x`` where each active pixel (keeping its value) has moved by at most one
        step, never outside the image and never onto the other active pixel.

    Raises:
        SmoothscopeError: on a shape that does not match ``task`` or a sample without exactly
            two non-zero pixels.
    """
    task = _check_task(task)
    generator = check_generator(generator)
    if not isinstance(preserve_label, bool):
        raise SmoothscopeError(f"preserve_label: expected True or False, got {preserve_label!r}")
    if stay is None:
        stay = task.dim == 2
    elif not isinstance(stay, bool):
        raise SmoothscopeError(f"stay: expected True, False or None, got {stay!r}")
    if not isinstance(translation, bool):
        raise SmoothscopeError(f"translation: expected True or False, got {translation!r}")
    if not isinstance(undo_patch_crossings, bool):
        raise SmoothscopeError(
            f"undo_patch_crossings: expected True or False, got {undo_patch_crossings!r}"
        )
    if undo_patch_crossings and task.task != 2:
        raise SmoothscopeError(
            "undo_patch_crossings: only task 2 has patches, got task 1 (use False)"
        )
    t = as_tensor(x, "x")
    layout = "[P, 1, L]" if task.dim == 1 else "[P, 1, L, L]"
    check_rank(t, (task.dim + 2,), "x", layout)
    if tuple(t.shape[1:]) != (1, *([task.L] * task.dim)):
        raise SmoothscopeError(f"x: expected shape {layout} with L={task.L}, got {tuple(t.shape)}")
    P, n, L = t.shape[0], task.n_pixels, task.L
    flat = t.reshape(P, n)
    active = flat != 0
    count = active.sum(1)
    if bool((count != 2).any()):
        bad = int(torch.nonzero(count != 2)[0, 0])
        raise SmoothscopeError(
            f"x: expected exactly 2 non-zero pixels per sample, got {int(count[bad])} in "
            f"sample {bad}"
        )
    idx = torch.nonzero(active)[:, 1].reshape(P, 2)  # row-major, so idx[:, 0] < idx[:, 1]
    values = flat.gather(1, idx)
    coords = _coords(task, idx)  # [P, 2, dim]

    moves = _moves(task.dim, stay)
    m = moves.shape[0]
    if translation:
        joint = torch.stack([moves, moves], dim=1)  # [m, 2, dim]: the same step for both
    else:
        k = torch.arange(m * m)
        joint = torch.stack([moves[k // m], moves[k % m]], dim=1)  # [K, 2, dim]
    new = coords[:, None] + joint[None]  # [P, K, 2, dim]
    if undo_patch_crossings:  # a pixel leaving its patch or the image stays (the peers' rule)
        stays = ((new < 0) | (new > L - 1) | (new // task.xi != coords[:, None] // task.xi)).any(
            -1, keepdim=True
        )
        new = torch.where(stays, coords[:, None].expand_as(new), new)
    inside = ((new >= 0) & (new <= L - 1)).flatten(2).all(-1)  # [P, K]
    if task.boundary == "open":
        new = torch.where(new < 0, -new, new)  # reflect: the opposite move
        new = torch.where(new > L - 1, 2 * (L - 1) - new, new)
    else:
        new = new % L
        inside = torch.ones_like(inside)
    valid = (new[..., 0, :] != new[..., 1, :]).any(-1)  # [P, K]
    if translation:
        valid &= inside  # a reflected step would not be a translation
    if preserve_label:
        before = _raw_labels(task, coords[:, 0], coords[:, 1], exclude_gap=False)
        after = _raw_labels(task, new[..., 0, :], new[..., 1, :], exclude_gap=False)
        valid &= after == before[:, None]
    stuck = ~valid.any(1)
    weights = valid.to(torch.float64)
    weights[stuck, 0] = 1.0
    choice = torch.multinomial(weights, 1, generator=generator)[:, 0]
    picked = new[torch.arange(P), choice]  # [P, 2, dim]
    if task.dim == 1:
        new_idx = picked[..., 0]
    else:
        new_idx = picked[..., 0] * L + picked[..., 1]
    new_idx = torch.where(stuck[:, None], idx, new_idx)
    out = torch.zeros_like(flat)
    out.scatter_(1, new_idx, values)
    return out.reshape(t.shape)
