"""Weight paths linear in each layer's weights: the same numbers as one forward pass per point."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.analysis import linear_paths
from smoothscope.analysis.linear_paths import (
    LinearPathUnsupported,
    linear_path_support,
    linear_weight_path,
)
from smoothscope.analysis.paths import OUTPUT, freeze_batchnorm_stats, weight_path


def _direction(model, seed=1, skip=()):
    g = torch.Generator().manual_seed(seed)
    return {
        n: torch.randn(p.shape, generator=g, dtype=p.dtype)
        for n, p in model.named_parameters()
        if not n.startswith(skip)
    }


@torch.no_grad()
def _loop(model, x, direction, steps, layers=()):
    """The baseline: write W + t·D into the parameters, one forward pass per point."""
    work = copy.deepcopy(model)
    params = dict(work.named_parameters())
    base = {n: p.detach().clone() for n, p in params.items()}
    store: dict[str, torch.Tensor] = {}
    modules = dict(work.named_modules())
    for name in layers:
        modules[name].register_forward_hook(lambda m, a, o, n=name: store.__setitem__(n, o.clone()))
    outs, recs = [], {n: [] for n in layers}
    for t in steps.tolist():
        for n, p in params.items():
            p.copy_(base[n] + t * direction[n] if n in direction else base[n])
        outs.append(work(x))
        for n in layers:
            recs[n].append(store[n])
    return torch.stack(outs), {n: torch.stack(v) for n, v in recs.items()}


def _cnn(seed=0, track=True):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6, track_running_stats=track), nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1, groups=3, padding_mode="circular"), nn.Tanh(),
        nn.ConvTranspose2d(6, 4, 2, stride=2), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(4 * 8 * 8, 5), nn.BatchNorm1d(5), nn.GELU(), nn.Linear(5, 3, bias=False),
    )  # fmt: skip


def _seq1d(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(3, 4, 5), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 12, 2))  # fmt: skip


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_matches_the_per_point_loop_with_frozen_batchnorm(dtype, tol):
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(0), dtype=dtype)
    model = freeze_batchnorm_stats(_cnn().to(dtype), x)
    direction = _direction(model)
    steps = torch.linspace(-1.5, 2.0, 11, dtype=torch.float64)
    ref, recs = _loop(model, x, direction, steps, layers=["1", "5"])
    base = {n: p.detach() for n, p in model.named_parameters()}
    (out, bn, convt), order = linear_weight_path(
        model, x, base, direction, steps, chunk_size=4, dtype=dtype, record=[OUTPUT, "1", "5"]
    )
    assert order == ["1", "5"]
    for got, want in [(out, ref), (bn, recs["1"]), (convt, recs["5"])]:
        assert got.shape == want.shape and got.dtype == dtype
        assert float((got - want).abs().max() / want.abs().max()) < tol


def test_batch_statistics_are_per_point_and_partial_directions_work():
    """BatchNorm without running statistics normalises each point over its own inputs."""
    x = torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model = _cnn(track=False).double().eval()
    direction = _direction(model, skip=("0.",))  # the first layer is not perturbed: shared
    steps = torch.linspace(0.0, 1.0, 7, dtype=torch.float64)
    ref, _ = _loop(model, x, direction, steps)
    base = {n: p.detach() for n, p in model.named_parameters()}
    (out,), _ = linear_weight_path(model, x, base, direction, steps, chunk_size=3)
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-10


def test_conv1d_and_chunk_size_do_not_change_the_numbers():
    x = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    model = freeze_batchnorm_stats(_seq1d().double(), x)
    direction = _direction(model)
    steps = torch.linspace(0.0, 3.0, 9, dtype=torch.float64)
    base = {n: p.detach() for n, p in model.named_parameters()}
    ref, _ = _loop(model, x, direction, steps)
    one = linear_weight_path(model, x, base, direction, steps, chunk_size=1)[0][0]
    all_ = linear_weight_path(model, x, base, direction, steps, chunk_size=100)[0][0]
    assert float((one - ref).abs().max() / ref.abs().max()) < 1e-10
    assert torch.allclose(one, all_, rtol=1e-12, atol=1e-14)
    assert not hasattr(model[0], "forward") or "forward" not in vars(model[0])  # restored


class _Skip(nn.Module):
    """The input itself on a skip path after the first perturbed layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x)) + x


def test_an_input_skip_path_still_gives_the_loop_numbers():
    torch.manual_seed(0)
    model = _Skip().double()
    x = torch.randn(3, 2, 5, 5, dtype=torch.float64)
    direction = _direction(model)
    steps = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    ref, _ = _loop(model, x, direction, steps)
    base = {n: p.detach() for n, p in model.named_parameters()}
    (out,), _ = linear_weight_path(model, x, base, direction, steps, chunk_size=2)
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-10


def test_weight_path_uses_it_and_falls_back_once_with_the_same_numbers():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    supported = freeze_batchnorm_stats(_cnn(), x)
    assert linear_path_support(supported) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the supported model runs without a note
        fast = weight_path(supported, x, points=6, n_directions=2, record=[OUTPUT, "2"],
                           chunk_size=4, seed=5)  # fmt: skip
    other = nn.Sequential(copy.deepcopy(supported), nn.LayerNorm(3))
    assert "LayerNorm" in linear_path_support(other)
    linear_paths._NOTED.clear()
    with pytest.warns(UserWarning, match="falling back to whole forward passes"):
        weight_path(other, x, points=4, record=[OUTPUT], chunk_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one-time: no second note
        weight_path(other, x, points=4, record=[OUTPUT], chunk_size=4)
    # the vmap reference: the same model with a parameter-free wrapper the linear path rejects
    wrapped = nn.Sequential(copy.deepcopy(supported))
    wrapped.register_parameter("unused", nn.Parameter(torch.zeros((), dtype=torch.float64)))
    with pytest.warns(UserWarning):
        slow = weight_path(wrapped, x, points=6, n_directions=2, record=[OUTPUT, "0.2"],
                           chunk_size=4, seed=5, layers_to_perturb=["0"])  # fmt: skip
    assert torch.allclose(fast.output, slow.output, rtol=1e-10, atol=1e-12)
    assert torch.allclose(fast.layer("2"), slow.layer("0.2"), rtol=1e-10, atol=1e-12)


def test_unsupported_models_raise_the_fallback_error():
    with pytest.raises(LinearPathUnsupported, match="LayerNorm"):
        linear_weight_path(nn.LayerNorm(3), torch.zeros(2, 3), {}, {}, torch.zeros(3))


@pytest.mark.parametrize("method", ["auto", "layerwise", "vmap", "loop"])
def test_every_method_gives_the_loop_numbers_and_the_same_bits_twice(method):
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    model = freeze_batchnorm_stats(_cnn().double(), x)
    raw = _direction(model, seed=7)
    norm = torch.sqrt(sum((v**2).sum() for v in raw.values()))
    steps = torch.linspace(0.0, 1.0, 9, dtype=torch.float64) / 0.5
    ref, recs = _loop(model, x, {n: v / norm for n, v in raw.items()}, steps, layers=["1"])
    runs = [weight_path(model, x, direction=raw, alpha=0.5, points=9, record=[OUTPUT, "1"],
                        chunk_size=4, method=method) for _ in range(2)]  # fmt: skip
    for got, want in [(runs[0].output[:, 0], ref), (runs[0].layer("1")[:, 0], recs["1"])]:
        assert float((got - want).abs().max() / want.abs().max()) < 1e-10
    assert torch.equal(runs[0].output, runs[1].output)
    assert torch.equal(runs[0].layer("1"), runs[1].layer("1"))


def test_method_errors():
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(SmoothscopeError, match="method"):
        weight_path(nn.Linear(3, 2), x, points=4, method="fast")
    with pytest.raises(SmoothscopeError, match=r"'layerwise' does not apply.*LayerNorm"):
        weight_path(nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)), x, points=4,
                    method="layerwise")  # fmt: skip
