"""Effective receptive fields: the random-walk closed form, stride-F blocks, exponent fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smoothscope import SmoothscopeError, build
from smoothscope.analysis.receptive_field import (
    effective_receptive_field,
    loglog_slope,
    paper_appendix_a_width,
    random_walk_width,
)


def _homogeneous(model):
    with torch.no_grad():
        for name in model.conv_layers():
            conv = dict(model.named_modules())[name]
            conv.weight.fill_(1.0 / conv.weight[0, 0].numel())
    return model


@pytest.mark.parametrize("filter_size", [3, 5, 2, 4])
def test_homogeneous_filters_match_the_random_walk_exactly(filter_size):
    model = _homogeneous(build("simple-cnn", depth=6, width=2, filter_size=filter_size, seed=0))
    widths = effective_receptive_field(model, model.representation_layers()[:-1], length=96)
    np.testing.assert_allclose(widths, random_walk_width(np.arange(1, 7), filter_size), rtol=1e-9)


def test_stride_f_blocks_grow_like_f_to_the_k():
    model = _homogeneous(build("simple-cnn", depth=4, width=2, filter_size=2, stride=2, seed=0))
    widths = effective_receptive_field(model, model.representation_layers()[:-1], length=32)
    blocks = 2.0 ** np.arange(1, 5)
    np.testing.assert_allclose(widths, np.sqrt((blocks**2 - 1) / 12), rtol=1e-9)
    assert loglog_slope(blocks[1:], widths[1:]).value == pytest.approx(1.0, abs=0.05)  # ∝ F^k


def test_two_dimensional_width_is_per_axis():
    model = _homogeneous(build("simple-cnn", depth=3, width=2, dim=2, seed=0))
    widths = effective_receptive_field(model, model.representation_layers()[:-1], length=24, dim=2)
    np.testing.assert_allclose(widths, random_walk_width(np.arange(1, 4), 3), rtol=1e-9)


def test_paper_formula_differs_from_the_exact_walk_by_a_constant_factor():
    k = np.arange(1, 50)
    ratio = paper_appendix_a_width(k, 3) / random_walk_width(k, 3)
    np.testing.assert_allclose(ratio, np.sqrt((2 * 8 / 36) / (8 / 12)))  # 0.816
    assert loglog_slope(k, paper_appendix_a_width(k, 3)).value == pytest.approx(0.5)


def test_loglog_slope_interval_and_errors():
    x = np.arange(1, 20, dtype=float)
    rng = np.random.default_rng(0)
    y = 3 * x**-2 * np.exp(rng.normal(0, 0.05, x.size))
    est = loglog_slope(x, y)
    assert est.low < -2 < est.high and est.high - est.low < 0.2
    with pytest.raises(SmoothscopeError, match="at least 3"):
        loglog_slope([1, 2], [1, 2])
    with pytest.raises(SmoothscopeError, match="module names"):
        effective_receptive_field(build("simple-cnn", width=2), ["nope"], length=8)
