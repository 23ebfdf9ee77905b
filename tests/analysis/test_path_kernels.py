"""Perturbed layers at many path points (paper C eq. 1): every mode gives the per-point numbers,
the choice of mode is a deterministic function of the layer and the sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from smoothscope.analysis import path_fallback, path_kernels
from smoothscope.analysis.path_kernels import (
    choose_mode,
    layer_flops,
    output_shape,
    perturbed_forward,
    points_per_chunk,
    shape_pass,
)

CPU = torch.device("cpu")
LAYERS = {
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, padding=1), (3, 9)),
    "conv1d-nobias-stride": (lambda: nn.Conv1d(4, 4, 2, stride=2, bias=False), (4, 8)),
    "conv2d-grouped-circular": (
        lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, padding_mode="circular"), (4, 5, 5)
    ),
    "conv2d-stride": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 7, 7)),
    "convT2d": (lambda: nn.ConvTranspose2d(3, 2, 2, stride=2), (3, 4, 4)),
    "linear-3d": (lambda: nn.Linear(5, 3), (2, 5)),
}


def _case(name: str, points: int = 5, batch: int = 3):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    make, shape = LAYERS[name]
    module = make().double()
    h = torch.randn(points * batch, *shape, generator=g, dtype=torch.float64)
    t = torch.linspace(-1.0, 2.0, points, dtype=torch.float64)
    w = module.weight.detach()
    d_w = torch.randn(w.shape, generator=g, dtype=torch.float64)
    b = None if module.bias is None else module.bias.detach()
    d_b = None if b is None else torch.randn(b.shape, generator=g, dtype=torch.float64)
    return module, h, t, batch, w, d_w, b, d_b


def _per_point(module, h, t, batch, w, d_w, b, d_b):
    """One dense call per point with the weights W + t·D written into the layer."""
    outs = []
    for p, tp in enumerate(t.tolist()):
        weights = {"weight": w + tp * d_w}
        if b is not None:
            weights["bias"] = b + tp * d_b
        outs.append(functional_call(module, weights, (h[p * batch : (p + 1) * batch],)))
    return torch.cat(outs)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("mode", ["grouped", "loop"])
def test_per_point_modes_equal_one_dense_call_per_point(name, mode, monkeypatch):
    case = _case(name)
    want = _per_point(*case)
    got = perturbed_forward(case[0], mode, *case[1:])
    assert got.shape == want.shape
    assert float((got - want).abs().max() / want.abs().max()) < 1e-12
    if mode == "grouped":  # the points in blocks of at most two: the same numbers
        monkeypatch.setattr(path_kernels, "BLOCK_BYTES", 2 * case[1][:1].numel() * 8 * 40)
        blocks = perturbed_forward(case[0], mode, *case[1:])
        assert float((blocks - want).abs().max() / want.abs().max()) < 1e-12


def test_an_unperturbed_bias_and_a_missing_one():
    module, h, t, batch, w, d_w, b, _ = _case("conv2d-stride")
    want = _per_point(module, h, t, batch, w, d_w, b, torch.zeros_like(b))
    for mode in ("grouped", "loop"):
        got = perturbed_forward(module, mode, h, t, batch, w, d_w, b, None)
        assert float((got - want).abs().max() / want.abs().max()) < 1e-12


def test_flops_and_output_shape():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    out = output_shape(conv, (10, 4, 9, 9))
    assert out == (10, 6, 5, 5)
    assert layer_flops(conv, (10, 4, 9, 9), out) == 2 * 6 * 25 * 2 * 9
    lin = nn.Linear(5, 3)
    assert output_shape(lin, (4, 2, 5)) == (4, 2, 3)
    assert layer_flops(lin, (4, 2, 5), (4, 2, 3)) == 2 * 2 * 5 * 3
    convt = nn.ConvTranspose1d(3, 2, 2, stride=2)
    assert output_shape(convt, (1, 3, 4)) == (1, 2, 8)
    assert layer_flops(convt, (1, 3, 4), (1, 2, 8)) == 2 * 12 * 2 * 2


def test_the_mode_rules_are_the_documented_ones(monkeypatch):
    wide = nn.Conv2d(16, 16, 3, padding=1)
    thin = nn.Conv2d(3, 16, 3, padding=1)
    f64, f32 = torch.float64, torch.float32
    assert choose_mode(nn.Linear(64, 10), (64 * 4, 64), 64, 4, f32, CPU) == "split"
    assert choose_mode(wide, (256, 16, 32, 32), 64, 4, f32, torch.device("cuda")) == "split"
    assert choose_mode(wide, (256, 16, 32, 32), 64, 4, f64, CPU) == "loop"
    assert choose_mode(wide, (64, 16, 32, 32), 64, 1, f64, CPU) == "grouped"
    assert choose_mode(thin, (64, 3, 32, 32), 64, 1, f64, CPU) == "loop"
    assert choose_mode(wide, (64, 16, 4, 4), 64, 1, f32, CPU) == "split"  # 74 kFLOP per point
    assert choose_mode(wide, (256, 16, 32, 32), 64, 4, f32, CPU) == "grouped"
    assert choose_mode(thin, (16, 3, 32, 32), 8, 2, f32, CPU) == "grouped"  # 1.2 MB in all
    assert choose_mode(thin, (256, 3, 32, 32), 64, 4, f32, CPU) == "loop"  # 20 MB
    calls = [choose_mode(wide, (256, 16, 32, 32), 64, 4, f32, CPU) for _ in range(3)]
    assert len(set(calls)) == 1
    monkeypatch.setattr(path_kernels, "FORCE_MODE", "loop")
    assert choose_mode(nn.Linear(64, 10), (64, 64), 64, 1, f32, CPU) == "loop"


def test_chunks_are_capped_by_the_bytes_of_the_largest_activation():
    big = path_kernels.CHUNK_BYTES // 4
    assert points_per_chunk(64, big, CPU) == 4
    assert points_per_chunk(64, 10 * path_kernels.CHUNK_BYTES, CPU) == 1
    assert points_per_chunk(3, 8, CPU) == 3
    assert points_per_chunk(64, big, torch.device("cuda")) == 64


def test_shape_pass_counts_products_and_calls_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 5 * 5, 3))  # fmt: skip
    model.train()
    before = model[1].running_mean.clone()
    flops, calls, largest = shape_pass(model, torch.randn(6, 2, 5, 5))
    assert flops == 6 * (2 * 4 * 25 * 2 * 9 + 2 * 100 * 3)
    assert calls == 5 and largest == 6 * 4 * 25 * 4
    assert model.training and all(m.training for m in model)
    assert torch.equal(model[1].running_mean, before)


def test_the_fallback_loops_only_where_float64_products_outweigh_the_calls():
    per_call = path_fallback.LOOP_FLOPS_PER_CALL
    assert path_fallback.fallback_mode(13 * per_call, 12, torch.float64, CPU) == "loop"
    assert path_fallback.fallback_mode(11 * per_call, 12, torch.float64, CPU) == "vmap"
    assert path_fallback.fallback_mode(1e12, 12, torch.float32, CPU) == "vmap"
    assert path_fallback.fallback_mode(1e12, 12, torch.float64, torch.device("cuda")) == "vmap"
