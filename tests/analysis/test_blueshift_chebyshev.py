"""Paper C §3.3: activations and their Chebyshev coefficients (analysis/chebyshev.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.analysis.chebyshev import (
    ACTIVATIONS,
    Activation,
    chebyshev_coefficients,
    coefficient_decay,
    get_activation,
)

# ---------------------------------------------------------------------------------------------
# Chebyshev coefficients (§3.3, Figs. 2/18/19)


def test_relu_chebyshev_coefficients_match_closed_form():
    c = chebyshev_coefficients("relu", interval=(-1, 1), degree=25)
    assert c.dtype == torch.float64 and c.shape == (26,)
    assert float(c[0]) == pytest.approx(1 / math.pi, abs=1e-9)
    assert float(c[1]) == pytest.approx(0.5, abs=1e-12)
    for k in range(1, 13):
        assert abs(float(c[2 * k])) == pytest.approx(2 / (math.pi * (4 * k * k - 1)), abs=1e-8)
        assert math.copysign(1, float(c[2 * k])) == (-1) ** (k + 1)
    assert float(c[3::2].abs().max()) < 1e-12


def test_interval_scaling_and_interpolation_equal_numpy():
    on_unit = chebyshev_coefficients("relu", interval=(-1, 1), degree=10)
    on_five = chebyshev_coefficients("relu", interval=(-5, 5), degree=10)
    torch.testing.assert_close(on_five, 5 * on_unit, rtol=1e-12, atol=1e-12)
    ours = chebyshev_coefficients("tanh", interval=(-5, 5), degree=25, method="interpolation")
    ref = np.polynomial.chebyshev.chebinterpolate(lambda u: np.tanh(5 * u), 25)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-13)


def test_coefficient_decay_orders_softplus_tanh_relu():
    decay = {n: coefficient_decay(n) for n in ("relu", "tanh", "softplus")}
    rates = {n: d.geometric_rate for n, d in decay.items()}
    assert rates["softplus"] > rates["tanh"] > rates["relu"] > 0
    assert decay["relu"].algebraic_exponent == pytest.approx(2.0, abs=0.15)
    assert not bool(decay["relu"].fitted[3::2].any())  # the exact zeros are not fitted
    assert not bool(decay["tanh"].fitted[2::2].any())


def test_every_registered_activation_has_finite_coefficients():
    for name in [*ACTIVATIONS, "leaky_relu:0.2"]:
        c = chebyshev_coefficients(name, degree=25)
        assert bool(torch.isfinite(c).all()), name
    x = torch.tensor([-2.0, 3.0])
    torch.testing.assert_close(get_activation("leaky_relu:0.2")(x), torch.tensor([-0.4, 3.0]))
    assert repr(Activation("tanh")) == "Activation('tanh')"


def test_chebyshev_errors():
    with pytest.raises(SmoothscopeError, match=r"activation 'log'.*NaN"):
        chebyshev_coefficients(torch.log, interval=(-5, 5))
    with pytest.raises(SmoothscopeError, match="activation: expected one of"):
        chebyshev_coefficients("nope")
    with pytest.raises(SmoothscopeError, match="leaky_relu:<finite slope>"):
        get_activation("leaky_relu:x")
    with pytest.raises(SmoothscopeError, match="interval"):
        chebyshev_coefficients("relu", interval=(1, -1))
    with pytest.raises(SmoothscopeError, match="degree"):
        chebyshev_coefficients("relu", degree=0)
    with pytest.raises(SmoothscopeError, match="method"):
        chebyshev_coefficients("relu", method="taylor")


def test_interpolation_aliasing_is_as_documented():
    """The degree-25 interpolant's c_k are aliased: ≤ 1 % off for k ≤ 4, ≈ 74 % at k = 24."""
    exact = chebyshev_coefficients("relu", interval=(-1, 1), degree=25)
    interp = chebyshev_coefficients("relu", interval=(-1, 1), degree=25, method="interpolation")
    rel = ((interp - exact).abs() / exact.abs())[0::2]  # the nonzero (even) coefficients
    assert float(rel[:3].max()) < 0.01
    assert float(rel[5]) == pytest.approx(0.07, abs=0.01)
    assert float(rel[12]) == pytest.approx(0.74, abs=0.01)
    coarse = chebyshev_coefficients("relu", interval=(-1, 1), degree=25, nodes=64)
    assert float((coarse - exact).abs().max()) < 2e-3  # projection with few nodes: still close
