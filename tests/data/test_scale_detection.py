"""Scale-detection tasks (paper B, §3–4): labels, class counts, sampling, deformation, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.data import scale_detection as sd
from smoothscope.data.scale_detection import (
    ScaleTask,
    active_value,
    class_counts,
    deform,
    enumerate_pairs,
    pair_labels,
    render_pairs,
    sample_dataset,
    sample_pairs,
)
from smoothscope.data.scale_detection import tasks as sd_tasks


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------
# brute-force reference, written independently of the module
# --------------------------------------------------------------------------------------------


def _brute_force(task: ScaleTask) -> dict[tuple[int, int], int]:
    """{(i, j): label} for every allowed unordered pair, by a double loop over pixels."""
    L, dim = task.L, task.dim
    pixels = list(itertools.product(range(L), repeat=dim))
    out = {}
    for a in range(len(pixels)):
        for b in range(a + 1, len(pixels)):
            pa, pb = pixels[a], pixels[b]
            if task.task == 2:
                same = all(u // task.xi == v // task.xi for u, v in zip(pa, pb, strict=True))
                out[(a, b)] = 1 if same else -1
                continue
            deltas = [abs(u - v) for u, v in zip(pa, pb, strict=True)]
            if task.boundary == "periodic":
                deltas = [min(d, L - d) for d in deltas]
            if task.distance == "euclidean":
                d = math.sqrt(sum(d * d for d in deltas))
            elif task.distance == "manhattan":
                d = sum(deltas)
            else:
                d = max(deltas)
            if task.xi - task.gap / 2 - 1e-9 <= d <= task.xi + task.gap / 2 + 1e-9:
                continue
            out[(a, b)] = 1 if d < task.xi else -1
    return out


CASES = [
    ScaleTask(task=1, dim=1, L=12, xi=5),
    ScaleTask(task=1, dim=1, L=12, xi=5, gap=4),
    ScaleTask(task=1, dim=1, L=32, xi=11, gap=4),  # paper B, §4.3
    ScaleTask(task=1, dim=1, L=12, xi=4, gap=2, boundary="periodic"),
    ScaleTask(task=1, dim=2, L=6, xi=3),
    ScaleTask(task=1, dim=2, L=6, xi=2.5, gap=1),
    ScaleTask(task=1, dim=2, L=7, xi=3, gap=2, distance="manhattan"),
    ScaleTask(task=1, dim=2, L=7, xi=3, distance="chebyshev"),
    ScaleTask(task=1, dim=2, L=6, xi=2, gap=1, boundary="periodic"),
    ScaleTask(task=2, dim=1, L=12, xi=3),
    ScaleTask(task=2, dim=1, L=16, xi=8, boundary="periodic"),
    ScaleTask(task=2, dim=2, L=6, xi=3),
    ScaleTask(task=2, dim=2, L=8, xi=2),
]


@pytest.mark.parametrize("task", CASES, ids=repr)
def test_enumeration_matches_brute_force(task):
    ref = _brute_force(task)
    pairs, labels = enumerate_pairs(task)
    assert pairs.dtype == torch.int64 and labels.dtype == torch.int64
    assert pairs.shape == (len(ref), 2) and bool((pairs[:, 0] < pairs[:, 1]).all())
    got = {(int(a), int(b)): int(y) for (a, b), y in zip(pairs, labels, strict=True)}
    assert got == ref
    n_plus = sum(v == 1 for v in ref.values())
    n_minus = sum(v == -1 for v in ref.values())
    assert class_counts(task) == (n_plus, n_minus)
    torch.testing.assert_close(pair_labels(task, pairs), labels)
    torch.testing.assert_close(pair_labels(task, pairs.flip(1)), labels)  # order-free


def test_known_counts_1d():
    # 1D open: L - d pairs at distance d
    task = ScaleTask(task=1, dim=1, L=32, xi=11, gap=4)  # keeps d <= 8 and d >= 14
    n_plus = sum(32 - d for d in range(1, 9))
    n_minus = sum(32 - d for d in range(14, 32))
    assert class_counts(task) == (n_plus, n_minus)
    # gap 0 only drops d = xi when xi is an integer (sign(0) = 0)
    task0 = ScaleTask(task=1, dim=1, L=32, xi=11)
    assert sum(class_counts(task0)) == math.comb(32, 2) - (32 - 11)
    # task 2: 4 patches of 32 pixels in 128
    task2 = ScaleTask(task=2, dim=1, L=128, xi=32)
    assert class_counts(task2) == (4 * math.comb(32, 2), math.comb(128, 2) - 4 * math.comb(32, 2))


def test_gap_excludes_pairs():
    no_gap = sum(class_counts(ScaleTask(task=1, dim=2, L=10, xi=4)))
    gap = sum(class_counts(ScaleTask(task=1, dim=2, L=10, xi=4, gap=3)))
    assert gap < no_gap
    # Euclidean in 2D: (3, 4) has d = 5 exactly
    task = ScaleTask(task=1, dim=2, L=10, xi=5)
    assert pair_labels(task, torch.tensor([[0, 3 * 10 + 4]])).tolist() == [0]
    assert pair_labels(task, torch.tensor([[0, 3 * 10 + 3]])).tolist() == [1]  # 4.24 < 5
    assert pair_labels(task, torch.tensor([[0, 4 * 10 + 4]])).tolist() == [-1]  # 5.66 > 5


def test_periodic_distance_wraps():
    task = ScaleTask(task=1, dim=1, L=10, xi=2.5, boundary="periodic")
    assert pair_labels(task, torch.tensor([[0, 9], [0, 5]])).tolist() == [1, -1]
    task_open = ScaleTask(task=1, dim=1, L=10, xi=2.5)
    assert pair_labels(task_open, torch.tensor([[0, 9]])).tolist() == [-1]


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task",
    [
        ScaleTask(task=1, dim=1, L=32, xi=11, gap=4),
        ScaleTask(task=2, dim=1, L=128, xi=32),
        ScaleTask(task=1, dim=2, L=16, xi=5, gap=4),
        ScaleTask(task=2, dim=2, L=16, xi=4),
    ],
    ids=repr,
)
def test_sample_dataset_balanced_norm_and_labels(task):
    P = 200
    x, y = sample_dataset(task, P, generator=_gen(1))
    assert x.shape == (P, 1, *([task.L] * task.dim)) and x.dtype == torch.float64
    assert y.shape == (P,) and y.dtype == torch.int64
    assert int((y == 1).sum()) == P // 2 and int((y == -1).sum()) == P // 2
    flat = x.reshape(P, -1)
    assert bool(((flat != 0).sum(1) == 2).all())
    assert bool((flat[flat != 0] == active_value(task)).all())
    # ||x||^2 = number of pixels (= L in 1D, paper B §4)
    torch.testing.assert_close(
        (flat**2).sum(1), torch.full((P,), float(task.n_pixels), dtype=torch.float64)
    )
    pairs = torch.nonzero(flat)[:, 1].reshape(P, 2)
    assert torch.unique(pairs[:, 0] * task.n_pixels + pairs[:, 1]).numel() == P  # no repeats
    torch.testing.assert_close(pair_labels(task, pairs), y)
    # classes are interleaved, not sorted
    assert not bool((y[: P // 2] == y[0]).all())


def test_norm_is_L_in_1d():
    task = ScaleTask(task=1, dim=1, L=32, xi=11, gap=4)
    x, _ = sample_dataset(task, 10, generator=_gen(0), dtype=torch.float32)
    assert x.dtype == torch.float32
    torch.testing.assert_close(x.pow(2).sum((1, 2)), torch.full((10,), 32.0))
    assert active_value(task) == math.sqrt(16)


def test_unbalanced_and_exhaustive_sampling():
    task = ScaleTask(task=1, dim=1, L=10, xi=3)
    n_plus, n_minus = class_counts(task)
    pairs, y = sample_pairs(task, 2 * min(n_plus, n_minus), generator=_gen(2))
    small = 1 if n_plus < n_minus else -1
    allp, ally = enumerate_pairs(task)
    assert set(map(tuple, pairs[y == small].tolist())) == set(
        map(tuple, allp[ally == small].tolist())
    )
    pairs, y = sample_pairs(task, n_plus + n_minus, generator=_gen(3), balanced=False)
    assert set(map(tuple, pairs.tolist())) == set(map(tuple, allp.tolist()))


def test_rejection_sampler(monkeypatch):
    """Force the rejection path on a small task: same guarantees as enumeration."""
    monkeypatch.setattr(sd, "ENUMERATE_LIMIT", 0)
    task = ScaleTask(task=1, dim=2, L=6, xi=2, gap=1)
    n_plus, n_minus = class_counts(task)
    P = 2 * min(n_plus, n_minus)  # every pair of the smaller class
    pairs, y = sample_pairs(task, P, generator=_gen(4))
    assert int((y == 1).sum()) == P // 2
    assert bool((pairs[:, 0] < pairs[:, 1]).all())
    keys = pairs[:, 0] * task.n_pixels + pairs[:, 1]
    assert torch.unique(keys).numel() == P
    allp, ally = enumerate_pairs(task)
    small = 1 if n_plus <= n_minus else -1
    assert set(map(tuple, pairs[y == small].tolist())) == set(
        map(tuple, allp[ally == small].tolist())
    )
    torch.testing.assert_close(pair_labels(task, pairs), y)
    pairs_u, y_u = sample_pairs(task, 30, generator=_gen(5), balanced=False)
    assert bool((y_u != 0).all()) and torch.unique(pairs_u[:, 0] * 36 + pairs_u[:, 1]).numel() == 30


def test_large_task_uses_rejection():
    task = ScaleTask(task=2, dim=2, L=64, xi=8)  # 8.4e6 pixel pairs > ENUMERATE_LIMIT
    assert task.n_pairs > sd.ENUMERATE_LIMIT
    with pytest.raises(SmoothscopeError, match="limit"):
        enumerate_pairs(task)
    x, y = sample_dataset(task, 100, generator=_gen(6))
    assert x.shape == (100, 1, 64, 64) and int(y.sum()) == 0


def test_sampling_is_deterministic():
    task = ScaleTask(task=1, dim=2, L=8, xi=3, gap=1)
    a = sample_dataset(task, 40, generator=_gen(7))
    b = sample_dataset(task, 40, generator=_gen(7))
    c = sample_dataset(task, 40, generator=_gen(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    xa = deform(a[0], task, generator=_gen(9))
    xb = deform(a[0], task, generator=_gen(9))
    xc = deform(a[0], task, generator=_gen(10))
    assert torch.equal(xa, xb) and not torch.equal(xa, xc)


# --------------------------------------------------------------------------------------------
# deformation
# --------------------------------------------------------------------------------------------


def _positions(task: ScaleTask, x: torch.Tensor) -> torch.Tensor:
    """[P, 2, dim] coordinates of the two active pixels (row-major order)."""
    flat = x.reshape(x.shape[0], -1)
    idx = torch.nonzero(flat)[:, 1].reshape(-1, 2)
    if task.dim == 1:
        return idx[..., None]
    return torch.stack([idx // task.L, idx % task.L], -1)


def _step(task: ScaleTask, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel Manhattan step length (wrapping when periodic)."""
    d = (a - b).abs()
    if task.boundary == "periodic":
        d = torch.minimum(d, task.L - d)
    return d.sum(-1)


DEFORM_CASES = [
    ScaleTask(task=1, dim=1, L=32, xi=11, gap=4),
    ScaleTask(task=1, dim=1, L=12, xi=4),  # g = 0: label-changing moves exist and are rejected
    ScaleTask(task=1, dim=1, L=12, xi=3, gap=1, boundary="periodic"),
    ScaleTask(task=1, dim=2, L=7, xi=3),
    ScaleTask(task=1, dim=2, L=7, xi=2, distance="chebyshev", boundary="periodic"),
    ScaleTask(task=2, dim=1, L=12, xi=3),
    ScaleTask(task=2, dim=2, L=6, xi=2),
]


@pytest.mark.parametrize("task", DEFORM_CASES, ids=repr)
def test_deform_preserves_labels_and_pixels(task):
    pairs, y = enumerate_pairs(task)
    x = render_pairs(task, pairs).repeat(3, *([1] * (task.dim + 1)))
    y = y.repeat(3)
    xd = deform(x, task, generator=_gen(11))
    assert xd.shape == x.shape and xd.dtype == x.dtype
    flat = xd.reshape(xd.shape[0], -1)
    assert bool(((flat != 0).sum(1) == 2).all())
    assert bool((flat[flat != 0] == active_value(task)).all())
    new = _positions(task, xd)
    # raw label (no gap exclusion): sign(xi - d) or same-patch, compared with the original one
    new_idx = torch.nonzero(flat)[:, 1].reshape(-1, 2)
    raw_new = sd_tasks._raw_labels(
        task,
        sd_tasks._coords(task, new_idx[:, 0]),
        sd_tasks._coords(task, new_idx[:, 1]),
        exclude_gap=False,
    )
    assert torch.equal(raw_new, y)
    # every pixel moved by at most one step (under one of the two matchings)
    old = _positions(task, x)
    straight = torch.maximum(_step(task, old[:, 0], new[:, 0]), _step(task, old[:, 1], new[:, 1]))
    swapped = torch.maximum(_step(task, old[:, 0], new[:, 1]), _step(task, old[:, 1], new[:, 0]))
    assert bool((torch.minimum(straight, swapped) <= 1).all())


def test_gap_4_preserves_task1_labels_by_construction():
    """With g >= 2 * MAX_DISTANCE_CHANGE no move can flip a task-1 label: no rejection needed."""
    for task in [
        ScaleTask(task=1, dim=1, L=32, xi=11, gap=4),
        ScaleTask(task=1, dim=2, L=9, xi=4, gap=4),
    ]:
        pairs, y = enumerate_pairs(task)
        x = render_pairs(task, pairs).repeat(4, *([1] * (task.dim + 1)))
        xd = deform(x, task, generator=_gen(12), preserve_label=False)
        idx = torch.nonzero(xd.reshape(xd.shape[0], -1))[:, 1].reshape(-1, 2)
        raw = sd_tasks._raw_labels(
            task,
            sd_tasks._coords(task, idx[:, 0]),
            sd_tasks._coords(task, idx[:, 1]),
            exclude_gap=False,
        )
        assert torch.equal(raw, y.repeat(4))


def test_unconditioned_task2_moves_can_change_labels():
    task = ScaleTask(task=2, dim=1, L=12, xi=3)
    x = render_pairs(task, torch.tensor([[2, 4]]).repeat(2000, 1))  # across a patch border
    keep = deform(x, task, generator=_gen(13))
    free = deform(x, task, generator=_gen(13), preserve_label=False)

    def labels(z):
        idx = torch.nonzero(z.reshape(z.shape[0], -1))[:, 1].reshape(-1, 2)
        return sd_tasks._raw_labels(task, idx[:, :1], idx[:, 1:], exclude_gap=False)

    assert bool((labels(keep) == -1).all())
    frac = float((labels(free) == 1).float().mean())
    # joint moves: (1, 3) -1, (1, 5) -1, (3, 3) collision (rejected), (3, 5) +1: 1 of 3 valid
    assert frac == pytest.approx(1 / 3, abs=0.05)


def test_move_frequencies_1d():
    """1D (paper B, §4): left or right with probability 1/2 each, never stay."""
    task = ScaleTask(task=1, dim=1, L=32, xi=11, gap=4)
    n = 20000
    x = render_pairs(task, torch.tensor([[5, 25]]).repeat(n, 1))
    pos = _positions(task, deform(x, task, generator=_gen(14)))[..., 0]
    step = pos - torch.tensor([5, 25])
    assert bool((step.abs() == 1).all())
    for k in range(2):
        assert float((step[:, k] == 1).float().mean()) == pytest.approx(0.5, abs=0.015)
    # the two pixels move independently
    both_right = float(((step[:, 0] == 1) & (step[:, 1] == 1)).float().mean())
    assert both_right == pytest.approx(0.25, abs=0.015)
    # stay=True gives three moves with probability 1/3 each
    pos = _positions(task, deform(x, task, generator=_gen(15), stay=True))[..., 0]
    step = pos - torch.tensor([5, 25])
    for s in (-1, 0, 1):
        assert float((step[:, 0] == s).float().mean()) == pytest.approx(1 / 3, abs=0.015)


def test_move_frequencies_2d():
    """2D (paper B, §3): stay or one of the 4 neighbours with probability 1/5 each."""
    task = ScaleTask(task=1, dim=2, L=16, xi=5, gap=4)
    n = 20000
    a, b = 4 * 16 + 4, 11 * 16 + 11
    x = render_pairs(task, torch.tensor([[a, b]]).repeat(n, 1))
    pos = _positions(task, deform(x, task, generator=_gen(16)))
    step = pos - torch.tensor([[4, 4], [11, 11]])
    for k in range(2):
        moves = [tuple(s) for s in step[:, k].tolist()]
        assert set(moves) == {(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)}
        for mv in set(moves):
            assert moves.count(mv) / n == pytest.approx(0.2, abs=0.015)


def test_border_moves_are_reflected():
    task = ScaleTask(task=1, dim=1, L=32, xi=11, gap=4)
    x = render_pairs(task, torch.tensor([[0, 31]]).repeat(200, 1))
    pos = _positions(task, deform(x, task, generator=_gen(17)))[..., 0]
    assert bool((pos == torch.tensor([1, 30])).all())
    task2 = ScaleTask(task=1, dim=2, L=8, xi=4, gap=4)
    x = render_pairs(task2, torch.tensor([[0, 63]]).repeat(2000, 1))
    pos = _positions(task2, deform(x, task2, generator=_gen(18)))
    assert bool((pos >= 0).all() and (pos <= 7).all())
    # at the corner the 2 outward moves are reflected inward: each inward move has 2/5
    first = [tuple(s) for s in pos[:, 0].tolist()]
    assert first.count((1, 0)) / 2000 == pytest.approx(0.4, abs=0.05)
    # periodic boundary wraps
    task3 = ScaleTask(task=1, dim=1, L=32, xi=11, gap=4, boundary="periodic")
    x = render_pairs(task3, torch.tensor([[0, 16]]).repeat(500, 1))
    pos = torch.nonzero(deform(x, task3, generator=_gen(19)).reshape(500, -1))[:, 1]
    assert 31 in pos.tolist()


def test_no_collisions_for_close_pixels():
    task = ScaleTask(task=1, dim=1, L=12, xi=6, gap=4)  # keeps d <= 3
    x = render_pairs(task, torch.tensor([[4, 6]]).repeat(3000, 1))
    xd = deform(x, task, generator=_gen(20))
    assert bool(((xd.reshape(3000, -1) != 0).sum(1) == 2).all())
    pos = _positions(task, xd)[..., 0]
    # the colliding move (5, 5) is rejected: the 3 valid joint moves are equally likely
    counts = {tuple(p): 0 for p in [(3, 5), (3, 7), (5, 7)]}
    for p in pos.tolist():
        counts[tuple(p)] += 1
    assert sum(counts.values()) == 3000
    for c in counts.values():
        assert c / 3000 == pytest.approx(1 / 3, abs=0.04)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": 3, "dim": 1, "L": 10, "xi": 3}, "task: expected 1 or 2"),
        ({"task": 1, "dim": 3, "L": 10, "xi": 3}, "dim: expected 1 or 2"),
        ({"task": 1, "dim": 1, "L": 1, "xi": 1}, "L: expected an integer of at least 2"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 11}, r"xi: expected 0 < xi <= L = 10, got 11"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 0}, "xi: expected a positive"),
        ({"task": 1, "dim": 1, "L": 10, "xi": -2}, "xi: expected a positive"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 3, "gap": -1}, "gap: expected a finite number"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 5, "gap": 8}, "no \\+1 pair"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 8, "gap": 4}, "no -1 pair"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 10}, "no -1 pair"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 3, "distance": "l1"}, "distance: expected one"),
        ({"task": 1, "dim": 1, "L": 10, "xi": 3, "boundary": "wrap"}, "boundary: expected one"),
        ({"task": 2, "dim": 1, "L": 10, "xi": 3}, "xi: expected a patch size that divides L = 10"),
        ({"task": 2, "dim": 1, "L": 10, "xi": 10}, "at least 2 patches"),
        ({"task": 2, "dim": 1, "L": 10, "xi": 20}, "divides L"),
        ({"task": 2, "dim": 1, "L": 10, "xi": 1}, "xi: expected an integer patch size >= 2"),
        ({"task": 2, "dim": 1, "L": 10, "xi": 2.5}, "xi: expected an integer patch size"),
        ({"task": 2, "dim": 1, "L": 10, "xi": 5, "gap": 2}, "gap: expected 0 for task 2"),
    ],
)
def test_bad_task_parameters(kwargs, match):
    with pytest.raises(SmoothscopeError, match=match):
        ScaleTask(**kwargs)


def test_task2_accepts_integral_float_xi():
    assert ScaleTask(task=2, dim=1, L=12, xi=4.0).xi == 4


def test_bad_sampling_requests():
    task = ScaleTask(task=1, dim=1, L=10, xi=3)
    n_plus, n_minus = class_counts(task)
    with pytest.raises(SmoothscopeError, match="P: expected an even number"):
        sample_dataset(task, 7, generator=_gen())
    with pytest.raises(SmoothscopeError, match=f"P: expected at most {2 * min(n_plus, n_minus)}"):
        sample_dataset(task, 2 * min(n_plus, n_minus) + 2, generator=_gen())
    with pytest.raises(SmoothscopeError, match="allowed pairs"):
        sample_dataset(task, n_plus + n_minus + 1, generator=_gen(), balanced=False)
    with pytest.raises(SmoothscopeError, match="P: expected a positive integer"):
        sample_dataset(task, 0, generator=_gen())
    with pytest.raises(SmoothscopeError, match=r"generator: expected a torch\.Generator"):
        sample_dataset(task, 4, generator=0)
    with pytest.raises(SmoothscopeError, match="task: expected a ScaleTask"):
        sample_dataset("task1", 4, generator=_gen())
    sample_dataset(task, 7, generator=_gen(), balanced=False)  # odd P is fine unbalanced


def test_bad_pairs_and_deform_inputs():
    task = ScaleTask(task=1, dim=1, L=10, xi=3)
    with pytest.raises(SmoothscopeError, match="pairs: expected flat pixel indices"):
        pair_labels(task, torch.tensor([[0, 10]]))
    with pytest.raises(SmoothscopeError, match="pairs: expected two distinct pixels"):
        render_pairs(task, torch.tensor([[3, 3]]))
    with pytest.raises(SmoothscopeError, match="pairs: expected shape"):
        pair_labels(task, torch.tensor([0, 1]))
    with pytest.raises(SmoothscopeError, match="x: expected shape"):
        deform(torch.zeros(2, 1, 11), task, generator=_gen())
    with pytest.raises(SmoothscopeError, match="x: expected a tensor of shape"):
        deform(torch.zeros(2, 1, 10, 10), task, generator=_gen())
    x = render_pairs(task, torch.tensor([[1, 5], [2, 7]]))
    x[1, 0, 0] = 1.0
    with pytest.raises(SmoothscopeError, match="exactly 2 non-zero pixels per sample, got 3"):
        deform(x, task, generator=_gen())


@pytest.mark.parametrize(
    "task",
    [ScaleTask(task=1, dim=1, L=16, xi=5, gap=2), ScaleTask(task=2, dim=2, L=6, xi=3)],
    ids=repr,
)
def test_deform_local_translation_moves_the_pair_rigidly(task):
    """``translation=True``: both pixels take the same unit step (or both stay, in 2-D), so the
    offset between them never changes and no step leaves the image."""
    pairs, _ = enumerate_pairs(task)
    x = render_pairs(task, pairs)
    before = _positions(task, x)
    after = _positions(task, deform(x, task, generator=_gen(21), translation=True))
    assert torch.equal(after[:, 1] - after[:, 0], before[:, 1] - before[:, 0])
    step = (after[:, 0] - before[:, 0]).abs().sum(-1)
    assert bool((step <= 1).all()) and bool((step == 1).any())
    if task.dim == 1:  # no "stay" in 1-D: exactly one step unless the pair spans the signal
        span = (before[:, 0, 0] == 0) & (before[:, 1, 0] == task.L - 1)
        assert bool((step[~span] == 1).all()) and bool((step[span] == 0).all())
    # independent moves do change the offset for some pairs
    free = _positions(task, deform(x, task, generator=_gen(21)))
    assert not torch.equal(free[:, 1] - free[:, 0], before[:, 1] - before[:, 0])
    with pytest.raises(SmoothscopeError, match="translation"):
        deform(x, task, generator=_gen(), translation=1)


def test_task2_moves_across_patches_are_undone():
    """The original code (diffeo_cluster_mean.py, adding_diffeo and over_boundaries): a pixel
    whose ±1 move would leave its ξ-patch, or the image, stays where it is."""
    task = ScaleTask(task=2, dim=1, L=12, xi=3)
    pairs, _ = enumerate_pairs(task)
    x = render_pairs(task, pairs).repeat(20, 1, 1)
    before = _positions(task, x)[..., 0]
    after = _positions(task, deform(x, task, generator=_gen(5), undo_patch_crossings=True))[..., 0]
    assert torch.equal(after // 3, before // 3)  # never another patch: the label cannot change
    assert bool(((after - before).abs() <= 1).all())
    moved = after != before
    assert bool(moved.any()) and not bool(moved.all())
    # a pixel in the middle of its patch moves (it looks unmoved only when two adjacent pixels
    # swap); one on a patch border moves inwards only
    middle = before % 3 == 1
    assert float(moved[middle].double().mean()) > 0.9
    border = before % 3 == 0
    assert bool((after[border & moved] == before[border & moved] + 1).all())
    # without the rule the same draws cross patches
    free = _positions(task, deform(x, task, generator=_gen(5), preserve_label=False))[..., 0]
    assert bool((free // 3 != before // 3).any())
    with pytest.raises(SmoothscopeError, match="only task 2"):
        deform(
            render_pairs(ScaleTask(task=1, dim=1, L=10, xi=3), torch.tensor([[1, 5]])),
            ScaleTask(task=1, dim=1, L=10, xi=3),
            generator=_gen(),
            undo_patch_crossings=True,
        )
