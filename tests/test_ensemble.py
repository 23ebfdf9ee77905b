"""Training K networks at once (paper B §4.3 over seeds): each member follows its one-at-a-time
training up to float rounding and stops on its own; the batched path is deterministic and a
member's bits do not depend on the other members; bad input is refused before training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.data import scale_detection as sd
from smoothscope.ensemble import train_hinge_ensemble, train_to_interpolation_ensemble
from smoothscope.interpolation import InterpolationRule
from smoothscope.models import build

RTOL = 2e-5
"""Largest |ensemble − alone| / max|alone| of a parameter tensor after these trainings (float32,
55–215 epochs; measured ≤ 2.1e-6: grouped versus dense kernels, carried along by SGD)."""


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: one intra-op thread (as the experiments' cells run; two threads on a
    busy 2-core machine made these trainings ~10× slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _task(n_val: int = 0):
    """Paper B task 1 on 16 pixels (ξ = 5, gap 2): 32 training points, balanced."""
    task = sd.ScaleTask(task=1, dim=1, L=16, xi=5.0, gap=2.0)
    pairs, labels = sd.sample_pairs(task, 32 + n_val, generator=torch.Generator().manual_seed(0))
    x, y = sd.render_pairs(task, pairs).float(), labels.float()
    return x[:32], y[:32], x[32:], y[32:]


def _nets(k: int = 3) -> list[nn.Module]:
    return [build("simple-cnn", dim=1, seed=s, depth=3, filter_size=3, width=8,
                  padding="zeros") for s in range(k)]  # fmt: skip


def _gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert list(a) == list(b)
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max()) for k in b)


def test_members_follow_train_hinge_and_stop_on_their_own():
    x, y, _, _ = _task()
    nets = _nets()
    options = dict(seeds=[10, 11, 12], lr=0.2, interpolation_multiple=2.0, max_epochs=110,
                   progress=False)  # fmt: skip
    together = train_hinge_ensemble(nets, x, y, **options)
    alone = train_hinge_ensemble(nets, x, y, vectorize=False, **options)
    for a, b in zip(together, alone, strict=True):
        assert (a.interpolation_epoch, a.epochs) == (b.interpolation_epoch, b.epochs)
        assert [h["train_error"] for h in a.history] == [h["train_error"] for h in b.history]
        assert len(a.history) == a.epochs
        assert _gap(a.state_dict, b.state_dict) < RTOL
    stops = [r.epochs for r in together]
    assert len(set(stops)) > 1 and max(stops) < 110  # each stopped on its own
    assert all(r.interpolation_epoch is not None for r in together)
    for net in nets:  # the callers' models are not trained
        assert torch.equal(net.state_dict()["readout.weight"],
                           _nets()[nets.index(net)].state_dict()["readout.weight"])  # fmt: skip


def test_members_follow_train_to_interpolation_with_snapshots():
    x, y, x_val, y_val = _task(n_val=16)
    nets = _nets()
    options = dict(seeds=[10, 11, 12], lr=0.2, rule=InterpolationRule(multiple=2, check_every=2),
                   max_epochs=230, snapshots=(1.5,), progress=False)  # fmt: skip
    together = train_to_interpolation_ensemble(nets, x, y, x_val, y_val, **options)
    alone = train_to_interpolation_ensemble(nets, x, y, x_val, y_val, vectorize=False, **options)
    for a, b in zip(together, alone, strict=True):
        assert (a.interpolation_epoch, a.stop_epoch, a.epochs) == (
            b.interpolation_epoch, b.stop_epoch, b.epochs)  # fmt: skip
        assert [h["val_error"] for h in a.history] == [h["val_error"] for h in b.history]
        assert {m: e for m, (e, _) in a.snapshots.items()} == {
            m: e for m, (e, _) in b.snapshots.items()}  # fmt: skip
        assert _gap(a.state_dict, b.state_dict) < RTOL
    assert all(r.stop_epoch is not None for r in together)
    assert len({r.epochs for r in together}) > 1


def test_the_batched_path_is_deterministic_and_a_member_ignores_the_others():
    x, y, _, _ = _task()
    nets = _nets()
    options = dict(lr=0.2, interpolation_multiple=2.0, max_epochs=40, progress=False)
    full = train_hinge_ensemble(nets, x, y, seeds=[10, 11, 12], **options)
    again = train_hinge_ensemble(nets, x, y, seeds=[10, 11, 12], **options)
    pair = train_hinge_ensemble(nets[1:], x, y, seeds=[11, 12], **options)
    lone = train_hinge_ensemble(nets[2:], x, y, seeds=[12], **options)
    for a, b in zip(full, again, strict=True):
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    for a, b in [(full[1], pair[0]), (full[2], pair[1]), (full[2], lone[0])]:
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
        assert a.history == b.history


def test_bad_input_is_refused_before_training():
    x, y, x_val, y_val = _task(n_val=8)
    nets = _nets(2)
    with pytest.raises(SmoothscopeError, match="seeds"):
        train_hinge_ensemble(nets, x, y, seeds=[1], progress=False)
    with pytest.raises(SmoothscopeError, match="architecture"):
        other = build("simple-cnn", dim=1, seed=0, depth=2, width=8)
        train_hinge_ensemble([nets[0], other], x, y, seeds=[1, 2], progress=False)
    with pytest.raises(SmoothscopeError, match="buffers"):
        bn = [nn.Sequential(nn.Conv1d(1, 2, 3), nn.BatchNorm1d(2), nn.Flatten(0)) for _ in "ab"]
        train_hinge_ensemble(bn, x, y, seeds=[1, 2], progress=False)
    with pytest.raises(SmoothscopeError, match="dropout"):
        drop = [nn.Sequential(nn.Flatten(1), nn.Dropout(0.5), nn.Linear(16, 1), nn.Flatten(0))
                for _ in "ab"]  # fmt: skip
        train_hinge_ensemble(drop, x, y, seeds=[1, 2], progress=False)
    with pytest.raises(SmoothscopeError, match="labels"):
        train_hinge_ensemble(nets, x, torch.zeros(32), seeds=[1, 2], progress=False)
    with pytest.raises(SmoothscopeError, match="finite"):
        train_hinge_ensemble(nets, x * float("nan"), y, seeds=[1, 2], progress=False)
    with pytest.raises(SmoothscopeError, match="non-empty list"):
        train_hinge_ensemble([], x, y, seeds=[], progress=False)
    with pytest.raises(SmoothscopeError, match="weight_decay"):
        train_hinge_ensemble(nets, x, y, seeds=[1, 2], weight_decay=-1.0, progress=False)
    with pytest.raises(SmoothscopeError, match="y_val"):
        train_to_interpolation_ensemble(nets, x, y, x_val, y_val[:3], seeds=[1, 2],
                                        progress=False)  # fmt: skip
    with pytest.raises(SmoothscopeError, match="batch_size"):
        train_to_interpolation_ensemble(nets, x[:4], y[:4], x_val, y_val, seeds=[1, 2],
                                        progress=False)  # fmt: skip
