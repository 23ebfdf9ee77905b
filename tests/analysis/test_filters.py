"""Filter frequency content (paper B): grid Laplacian, its modes, eqs. 3 and B.1, Fig. C5."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.analysis.filters import (
    filter_projections,
    frequency_content,
    grid_laplacian,
    grid_laplacian_modes,
    normalized_projections,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _reference_laplacian(F: int) -> np.ndarray:
    """D − A of the F × F grid, written out from the 4-neighbour rule (an independent oracle)."""
    A = np.zeros((F * F, F * F))
    for r, c, r2, c2 in itertools.product(range(F), repeat=4):
        if abs(r - r2) + abs(c - c2) == 1:
            A[r * F + c, r2 * F + c2] = 1.0
    return np.diag(A.sum(1)) - A


# --------------------------------------------------------------------------- Laplacian and modes


@pytest.mark.parametrize("F", [1, 2, 3, 4, 5])
def test_grid_laplacian_matches_the_definition(F):
    L = grid_laplacian(F)
    assert L.shape == (F * F, F * F) and L.dtype == torch.float64
    np.testing.assert_array_equal(L.numpy(), _reference_laplacian(F))


def test_grid_laplacian_3x3_by_hand():
    L = grid_laplacian(3)
    assert L.diagonal().tolist() == [2, 3, 2, 3, 4, 3, 2, 3, 2]  # corners, edges, centre
    assert L[0, 1] == L[0, 3] == -1 and L[0, 4] == 0  # no diagonal neighbours
    assert L[2, 3] == 0  # end of row 0 is not joined to the start of row 1


def test_path_laplacian_for_1d_filters():
    L = grid_laplacian(3, ndim=1)
    np.testing.assert_array_equal(L.numpy(), [[1, -1, 0], [-1, 2, -1], [0, -1, 1]])


@pytest.mark.parametrize(
    ("F", "ndim"), [(1, 2), (2, 2), (3, 2), (4, 2), (6, 2), (3, 1), (5, 1), (3, 3)]
)
def test_modes_are_orthonormal_eigenvectors_sorted_low_to_high(F, ndim):
    lam, psi = grid_laplacian_modes(F, ndim=ndim)
    n = F**ndim
    assert lam.shape == (n,) and psi.shape == (n, n)
    assert lam.dtype == psi.dtype == torch.float64
    L = grid_laplacian(F, ndim=ndim)
    torch.testing.assert_close(psi.T @ psi, torch.eye(n, dtype=torch.float64))
    torch.testing.assert_close(L @ psi, psi * lam, atol=1e-12, rtol=0)
    assert bool((lam[1:] >= lam[:-1] - 1e-12).all())
    torch.testing.assert_close(lam, torch.linalg.eigvalsh(L), atol=1e-12, rtol=0)
    assert lam[0] == 0
    torch.testing.assert_close(psi[:, 0], torch.full((n,), n**-0.5, dtype=torch.float64))


def test_3x3_modes_closed_form_and_tie_order():
    lam, psi = grid_laplacian_modes(3)
    torch.testing.assert_close(
        lam, torch.tensor([0, 1, 1, 2, 3, 3, 4, 4, 6.0], dtype=torch.float64)
    )
    # degenerate λ = 1: (i, j) = (0, 1) first — varies along columns (horizontally) — then (1, 0)
    m01, m10 = psi[:, 1].reshape(3, 3), psi[:, 2].reshape(3, 3)
    assert torch.allclose(m01, m01[0].expand(3, 3)) and m01[0, 0] > 0 > m01[0, 2]
    torch.testing.assert_close(m10, m01.T)
    # the highest mode is the checkerboard-like product of the two highest path modes
    top = psi[:, -1].reshape(3, 3)
    v2 = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64) / 6**0.5
    torch.testing.assert_close(top, torch.outer(v2, v2))


def test_modes_are_deterministic():
    a, b = grid_laplacian_modes(6), grid_laplacian_modes(6)  # F = 6 has accidental degeneracies
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True, None])
def test_bad_filter_size_raises(bad):
    with pytest.raises(SmoothscopeError, match="F"):
        grid_laplacian(bad)
    with pytest.raises(SmoothscopeError, match="F"):
        grid_laplacian_modes(bad)


def test_bad_ndim_raises():
    with pytest.raises(SmoothscopeError, match="ndim"):
        grid_laplacian_modes(3, ndim=4)


# --------------------------------------------------------------------------- eq. 3 and eq. B.1


def test_constant_filter_has_all_its_power_in_mode_0():
    w = torch.full((4, 3, 3, 3), 0.7)
    g = normalized_projections(w)
    expected = torch.zeros(9, dtype=torch.float64)
    expected[0] = 1.0
    torch.testing.assert_close(g, expected, atol=1e-14, rtol=0)
    gamma = filter_projections(w)
    torch.testing.assert_close(gamma[0], torch.tensor(9 * 0.7**2, dtype=torch.float64))


@pytest.mark.parametrize("mode", range(9))
def test_a_mode_as_filter_has_power_only_in_that_mode(mode):
    _, psi = grid_laplacian_modes(3)
    w = (2.0 * psi[:, mode]).reshape(1, 1, 3, 3)
    gamma = filter_projections(w)
    expected = torch.zeros(9, dtype=torch.float64)
    expected[mode] = 4.0
    torch.testing.assert_close(gamma, expected, atol=1e-13, rtol=0)
    torch.testing.assert_close(normalized_projections(w), expected / 4, atol=1e-13, rtol=0)


def test_eq3_against_a_loop_and_parseval():
    w = torch.randn(5, 4, 3, 3, generator=_gen(1))
    _, psi = grid_laplacian_modes(3)
    loop = torch.zeros(9, dtype=torch.float64)
    for m, c, cp in itertools.product(range(9), range(5), range(4)):
        loop[m] += (psi[:, m] @ w[c, cp].double().reshape(-1)) ** 2
    loop /= 5 * 4
    gamma = filter_projections(w)
    torch.testing.assert_close(gamma, loop)
    mean_sq_norm = w.double().square().sum(dim=(2, 3)).mean()
    torch.testing.assert_close(gamma.sum(), mean_sq_norm)  # Parseval
    # eq. B.1: ratio of channel averages == γ normalised by its sum
    torch.testing.assert_close(normalized_projections(w), gamma / mean_sq_norm)
    torch.testing.assert_close(
        normalized_projections(w).sum(), torch.tensor(1.0, dtype=torch.float64)
    )


def test_normalized_projections_are_scale_free_and_ratio_of_averages():
    w = torch.randn(3, 2, 3, 3, generator=_gen(2))
    w[0] *= 100.0  # one loud output channel dominates a ratio of averages
    g = normalized_projections(w)
    torch.testing.assert_close(normalized_projections(7.0 * w), g)
    torch.testing.assert_close(g, normalized_projections(w[:1]), atol=2e-3, rtol=0)


def test_accepts_modules_and_1d_filters():
    conv = nn.Conv2d(3, 4, 3)
    torch.testing.assert_close(filter_projections(conv), filter_projections(conv.weight))
    assert filter_projections(nn.ConvTranspose2d(4, 2, 3)).shape == (9,)
    conv1d = nn.Conv1d(2, 5, 3)
    g = normalized_projections(conv1d)
    assert g.shape == (3,)
    torch.testing.assert_close(g.sum(), torch.tensor(1.0, dtype=torch.float64))
    w = torch.ones(2, 2, 5)
    torch.testing.assert_close(frequency_content(w), torch.tensor(0.0, dtype=torch.float64))


def test_output_is_detached_float64():
    conv = nn.Conv2d(2, 2, 3)
    g = filter_projections(conv)
    assert g.dtype == torch.float64 and not g.requires_grad


# --------------------------------------------------------------------------- Fig. C5


def test_frequency_content_of_constant_filter_is_zero():
    w = torch.full((2, 2, 3, 3), -0.3)
    assert abs(float(frequency_content(w))) < 1e-14
    assert abs(float(frequency_content(w, normalized=False))) < 1e-14


@pytest.mark.parametrize("F", [2, 3, 5])
def test_frequency_content_of_the_highest_mode(F):
    lam, psi = grid_laplacian_modes(F)
    w = psi[:, -1].reshape(1, 1, F, F)
    lam_max = float(lam[-1])
    assert float(frequency_content(w, normalized=False)) == pytest.approx(lam_max)
    assert float(frequency_content(w)) == pytest.approx(lam_max / float(lam.mean()))
    if F == 3:  # Σλ = 24 (twice the 12 edges), N = 9: 9 · 6 / 24
        assert float(frequency_content(w)) == pytest.approx(2.25)


def test_frequency_content_is_the_weighted_mean_eigenvalue():
    w = torch.randn(6, 5, 3, 3, generator=_gen(3))
    lam, _ = grid_laplacian_modes(3)
    g = normalized_projections(w)
    torch.testing.assert_close(frequency_content(w, normalized=False), (lam * g).sum())
    torch.testing.assert_close(frequency_content(w), 9 * (lam * g).sum() / lam.sum())


def test_white_noise_filters_score_one():
    w = torch.randn(200, 200, 3, 3, generator=_gen(4))
    assert float(frequency_content(w)) == pytest.approx(1.0, abs=0.02)


def test_smoothing_lowers_frequency_content():
    w = torch.randn(8, 8, 3, 3, generator=_gen(5))
    smooth = 0.2 * w + 0.8 * w.mean(dim=(2, 3), keepdim=True)
    assert float(frequency_content(smooth)) < float(frequency_content(w))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad",
    [
        torch.randn(3, 3),  # rank 2
        torch.randn(1, 2, 3, 3, 3, 3),  # rank 6
        torch.randn(2, 2, 3, 5),  # non-square
        torch.randn(2, 2, 3, 3, 2),  # non-cubic
        torch.randn(0, 2, 3, 3),  # no filters
    ],
)
def test_bad_shapes_raise(bad):
    for fn in (filter_projections, normalized_projections, frequency_content):
        with pytest.raises(SmoothscopeError, match="weight"):
            fn(bad)


def test_bad_values_and_types_raise():
    with pytest.raises(SmoothscopeError, match="finite"):
        filter_projections(torch.full((1, 1, 3, 3), float("nan")))
    with pytest.raises(SmoothscopeError, match="zero"):
        normalized_projections(torch.zeros(2, 2, 3, 3))
    with pytest.raises(SmoothscopeError, match="Linear"):
        filter_projections(nn.Linear(3, 3))
    with pytest.raises(SmoothscopeError, match=r"complex|real"):
        filter_projections(torch.ones(1, 1, 3, 3, dtype=torch.complex64))
    with pytest.raises(SmoothscopeError, match="normalized=False"):
        frequency_content(torch.ones(2, 2, 1, 1))
    assert float(frequency_content(torch.ones(2, 2, 1, 1), normalized=False)) == 0.0
