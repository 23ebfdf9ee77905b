"""Spatial frequency content of convolutional filters (paper B, §2, Appendix B and Fig. C5).

Paper B measures how close the learned filters ``w^k_{c,c'}`` (eq. 2) are to the homogeneous filter
that realises spatial pooling by projecting them onto "Fourier modes" ``Ψ_l``: the eigenvectors
of the discrete Laplacian of the ``F × F`` filter grid, in which every node is joined to its
horizontal and vertical neighbours but not to the diagonal ones (§2, footnote 2).

* :func:`grid_laplacian` — the combinatorial Laplacian ``L = D − A`` of that grid graph.
* :func:`grid_laplacian_modes` — its eigenvalues ``λ_l`` and orthonormal eigenvectors ``Ψ_l``,
  low to high frequency, in closed form (a deterministic basis, see its docstring).
* :func:`filter_projections` — eq. (3): ``γ_{k,l}``, the squared projections averaged over
  channels.
* :func:`normalized_projections` — eq. (B.1): ``γ̃_{k,l}``, the same divided by the layer-wise
  mean squared norm of the filters, so that ``Σ_l γ̃_{k,l} = 1``.
* :func:`frequency_content` — Fig. C5's aggregate measure ``N (Σ_l λ_l)^{-1} Σ_l λ_l γ̃_{k,l}``.

The paper's figures use 2-D ``3 × 3`` filters (Conv2d, weights ``[H_k, H_{k-1}, F, F]``); its
scale-detection CNNs of §4 and Appendix B are one-dimensional ("the 3-grid Laplacian", Fig. B1),
so every function here also takes 1-D filters (Conv1d, ``[H_k, H_{k-1}, F]``, the path graph) and,
for free, 3-D ones (Conv3d). Filters must be square (cubic): the same size ``F`` on every spatial
axis. All outputs are float64 and detached from autograd.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import SmoothscopeError

__all__ = [
    "filter_projections",
    "frequency_content",
    "grid_laplacian",
    "grid_laplacian_modes",
    "normalized_projections",
]

_CONV_TYPES = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_NDIMS = (1, 2, 3)
_TIE_DECIMALS = 9  # eigenvalues equal to this many decimals count as degenerate when sorting


# --------------------------------------------------------------------------- validation helpers


def _check_size(F: Any, ndim: Any) -> tuple[int, int]:
    """Validate the filter size ``F`` and the number of spatial axes ``ndim``."""
    if isinstance(F, bool) or not isinstance(F, (int, np.integer)) or F < 1:
        raise SmoothscopeError(f"F: expected a positive integer filter size, got {F!r}")
    if isinstance(ndim, bool) or ndim not in _NDIMS:
        raise SmoothscopeError(f"ndim: expected one of {_NDIMS} spatial axes, got {ndim!r}")
    return int(F), int(ndim)


def _filters(weight: Any) -> tuple[torch.Tensor, int, int]:
    """The filters of ``weight`` as float64 ``[n_filters, F**ndim]``, with ``F`` and ``ndim``.

    ``weight`` is a conv weight ``[H_k, H_{k-1}, F, ..., F]`` (1 to 3 spatial axes) or a conv
    module (its ``.weight``; for transposed convs the two channel axes are swapped, which the
    channel averages of eqs. 3 and B.1 do not see).
    """
    if isinstance(weight, _CONV_TYPES):
        weight = weight.weight
    elif isinstance(weight, nn.Module):
        raise SmoothscopeError(
            f"weight: expected a conv weight tensor or a Conv1d/2d/3d module, "
            f"got a {type(weight).__name__} module"
        )
    if not isinstance(weight, torch.Tensor):
        try:
            weight = torch.as_tensor(weight)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SmoothscopeError(
                "weight: expected a tensor of shape [H_k, H_k-1, F, F], "
                f"got {type(weight).__name__}"
            ) from exc
    if weight.is_complex() or weight.dtype == torch.bool:
        raise SmoothscopeError(f"weight: expected real numbers, got dtype {weight.dtype}")
    ndim = weight.dim() - 2
    if ndim not in _NDIMS:
        raise SmoothscopeError(
            "weight: expected a conv weight of shape [H_k, H_k-1, F] (1-D), [H_k, H_k-1, F, F] "
            f"(2-D) or [H_k, H_k-1, F, F, F] (3-D), got shape {tuple(weight.shape)}"
        )
    spatial = tuple(weight.shape[2:])
    if len(set(spatial)) != 1:
        raise SmoothscopeError(
            f"weight: expected square filters (the same size F on every spatial axis), got "
            f"filters of size {' x '.join(map(str, spatial))} in shape {tuple(weight.shape)}"
        )
    if weight.numel() == 0:
        raise SmoothscopeError(
            f"weight: expected at least one filter, got shape {tuple(weight.shape)}"
        )
    w = weight.detach().to(torch.float64)
    if not bool(torch.isfinite(w).all()):
        raise SmoothscopeError("weight: expected finite values, got NaN or inf entries")
    F = spatial[0]
    return w.reshape(-1, F**ndim), F, ndim


# --------------------------------------------------------------------------- the grid Laplacian


def grid_laplacian(F: int, *, ndim: int = 2) -> torch.Tensor:
    """The combinatorial Laplacian ``L = D − A`` of the ``F × F`` filter grid (paper B, §2, fn. 2).

    Each node of the grid is joined to its horizontal and vertical neighbours (4-neighbour
    adjacency, no diagonals); ``D`` is the diagonal degree matrix. Nodes are numbered in the
    row-major order of the filter entries, node ``= row · F + col`` (so ``w.reshape(-1)`` of an
    ``F × F`` filter lines up with the nodes).

    Args:
        F: Filter size (nodes per side), ``F >= 1``.
        ndim: Spatial axes of the grid: 2 for ``F × F`` filters (the default, the paper's §2),
            1 for the path graph of 1-D filters (paper B, Appendix B), 3 for ``F × F × F``.

    Returns:
        ``[F**ndim, F**ndim]`` float64, symmetric, rows summing to zero.

    Raises:
        SmoothscopeError: ``F`` is not a positive integer or ``ndim`` not in (1, 2, 3).
    """
    F, ndim = _check_size(F, ndim)
    n = F**ndim
    L = torch.zeros(n, n, dtype=torch.float64)
    nodes = list(itertools.product(range(F), repeat=ndim))
    index = {pos: i for i, pos in enumerate(nodes)}  # row-major numbering
    for pos, i in index.items():
        for axis in range(ndim):
            if pos[axis] + 1 < F:
                nb = (*pos[:axis], pos[axis] + 1, *pos[axis + 1 :])
                j = index[nb]
                L[i, j] = L[j, i] = -1.0
                L[i, i] += 1.0
                L[j, j] += 1.0
    return L


def _path_modes(F: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form eigenpairs of the path-graph Laplacian on ``F`` nodes.

    ``μ_i = 2 − 2 cos(π i / F)`` and ``v_i(n) = cos(π i (n + 1/2) / F)``, normalised (the DCT-II
    basis), ``i = 0, ..., F − 1``; returns ``μ [F]`` and ``V [F, F]`` with ``V[:, i] = v_i``.
    """
    i = np.arange(F)
    n = np.arange(F)
    mu = 2.0 - 2.0 * np.cos(np.pi * i / F)
    V = np.cos(np.pi * np.outer(n + 0.5, i) / F)
    V /= np.linalg.norm(V, axis=0, keepdims=True)
    return mu, V


def grid_laplacian_modes(F: int, *, ndim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues ``λ_l`` and eigenvectors ``Ψ_l`` of :func:`grid_laplacian` (paper B, eq. 3).

    The basis is built in closed form, which makes it deterministic even where eigenvalues are
    degenerate: the grid Laplacian is the Kronecker sum of path-graph Laplacians, whose
    eigenvectors are the cosines ``v_i(n) = cos(π i (n + 1/2) / F)`` (normalised) with eigenvalues
    ``μ_i = 2 − 2 cos(π i / F)``. So for ``ndim = 2``, ``Ψ_{(i,j)}[row, col] = v_i(row) v_j(col)``
    with ``λ_{(i,j)} = μ_i + μ_j`` (outer products likewise for 1 or 3 axes). Modes are ordered by
    increasing eigenvalue (low to high frequency; eigenvalues equal to 9 decimals count as
    equal), then lexicographically by the frequency multi-index ``(i, j)``: e.g. for ``F = 3`` the
    two ``λ = 1`` modes come as ``(0, 1)`` (varying along columns, i.e. horizontally) then
    ``(1, 0)`` (varying along rows). Every cosine starts positive at ``n = 0``, which fixes the
    signs. Mode ``l = 0`` is the constant ``F**(-ndim/2)`` with ``λ_0 = 0``.

    Args:
        F: Filter size, ``F >= 1``.
        ndim: Spatial axes (2: ``F × F`` filters; 1: 1-D filters; 3: ``F × F × F``).

    Returns:
        ``(eigenvalues [F**ndim], eigenvectors [F**ndim, F**ndim])`` float64, with the mode
        ``Ψ_l = eigenvectors[:, l]`` (orthonormal columns, entries in row-major filter order).

    Raises:
        SmoothscopeError: ``F`` is not a positive integer or ``ndim`` not in (1, 2, 3).
    """
    F, ndim = _check_size(F, ndim)
    mu, V = _path_modes(F)
    freqs = list(itertools.product(range(F), repeat=ndim))  # lexicographic (i, j, ...)
    lam = np.array([sum(mu[i] for i in f) for f in freqs])
    vecs = np.empty((F**ndim, len(freqs)))
    for col, f in enumerate(freqs):
        v = V[:, f[0]]
        for i in f[1:]:
            v = np.multiply.outer(v, V[:, i])
        vecs[:, col] = v.reshape(-1)
    order = np.argsort(np.round(lam, _TIE_DECIMALS), kind="stable")  # ties keep (i, j) order
    lam = lam[order]
    lam[0] = 0.0  # exact, for the constant mode
    return torch.from_numpy(lam.copy()), torch.from_numpy(vecs[:, order].copy())


# --------------------------------------------------------------------------- projections


def _squared_projections(weight: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-filter squared projections ``(Ψ_l · w)^2`` ``[n_filters, N]``, the filters, ``λ``."""
    w, F, ndim = _filters(weight)
    lam, psi = grid_laplacian_modes(F, ndim=ndim)
    lam, psi = lam.to(w.device), psi.to(w.device)
    proj = torch.einsum("fn,nl->fl", w, psi)  # Ψ_l · w_{c,c'} for every filter (c, c')
    return proj.square(), w, lam


def filter_projections(weight: Any) -> torch.Tensor:
    """Squared projections of the filters onto the Laplacian modes, averaged over channels.

    Paper B, eq. (3)::

        γ_{k,l} = 1 / (H_{k-1} H_k) Σ_{c=1}^{H_k} Σ_{c'=1}^{H_{k-1}} (Ψ_l · w^k_{c,c'})^2

    with ``Ψ_l`` the modes of :func:`grid_laplacian_modes` (low to high frequency). Since the
    modes are an orthonormal basis, ``Σ_l γ_{k,l} = ⟨‖w^k_{c,c'}‖²⟩_{c,c'}`` (Parseval). The
    average runs over the filters the weight holds (for a grouped conv, the
    ``H_k · H_{k-1}/groups`` existing pairs).

    Args:
        weight: Conv weight ``[H_k, H_{k-1}, F, F]`` (or ``[H_k, H_{k-1}, F]`` for 1-D,
            ``[..., F, F, F]`` for 3-D filters), or a conv module whose ``.weight`` is used.

    Returns:
        ``γ_{k,l}``, ``[F**ndim]`` float64 (``[F²]`` for 2-D filters), index ``l`` as in
        :func:`grid_laplacian_modes`.

    Raises:
        SmoothscopeError: wrong rank, non-square filters, no filters, or non-finite entries.
    """
    sq, _, _ = _squared_projections(weight)
    return sq.mean(dim=0)


def _normalized(weight: Any) -> tuple[torch.Tensor, torch.Tensor]:
    sq, w, lam = _squared_projections(weight)
    norm2 = w.square().sum(dim=1).mean()  # ⟨‖w_{c,c'}‖²⟩_{c,c'}
    if not float(norm2) > 0.0:
        raise SmoothscopeError(
            "weight: all filters are zero, so the normalized projections (eq. B.1) are undefined"
        )
    return sq.mean(dim=0) / norm2, lam


def normalized_projections(weight: Any) -> torch.Tensor:
    """The projections of eq. (3) renormalised by the layer-wise filter norm (paper B, eq. B.1).

    Paper B, eq. (B.1)::

        γ̃_{k,l} = ⟨(Ψ_l · w^k_{c,c'})²⟩_{H_{k-1},H_k} / ⟨‖w^k_{c,c'}‖₂²⟩_{H_{k-1},H_k}

    a ratio of channel averages (not an average of per-filter ratios). By Parseval this is
    ``γ_{k,l} / Σ_l' γ_{k,l'}``: a distribution over the modes, ``γ̃ ≥ 0`` and ``Σ_l γ̃_{k,l} = 1``.

    Args:
        weight: Conv weight ``[H_k, H_{k-1}, F, F]`` (1-D and 3-D filters too) or a conv module.

    Returns:
        ``γ̃_{k,l}``, ``[F**ndim]`` float64.

    Raises:
        SmoothscopeError: as :func:`filter_projections`, or if every filter is zero.
    """
    gamma_tilde, _ = _normalized(weight)
    return gamma_tilde


def frequency_content(weight: Any, *, normalized: bool = True) -> torch.Tensor:
    """Fig. C5's aggregate measure of the spatial frequency content of a layer's filters.

    Paper B, Fig. C5 (caption)::

        N (Σ_{l=1}^{N} λ_l)^{-1} ⟨‖w^k_c‖²⟩_c^{-1} Σ_{l=1}^{F²} λ_l ⟨(Ψ_l · w^k_c)²⟩_c
            = Σ_l λ_l γ̃_{k,l} / ((1/N) Σ_l λ_l)

    i.e. the mean Laplacian eigenvalue weighted by the normalized power ``γ̃_{k,l}`` of eq. (B.1),
    divided by the plain mean eigenvalue. We read ``N`` as the number of modes, ``F²`` (the
    caption sums ``i = 1..N`` over ``λ_l``, a typo for ``l``), and the average ``⟨·⟩_c`` over
    "the ``c``-th filter" as the average over all filters ``(c, c')`` of the layer, as in eq. (B.1).
    With this normalisation the constant (homogeneous, pure spatial pooling) filter scores 0,
    white-noise filters score 1 in expectation (their power is spread evenly, ``γ̃_l = 1/N``) and
    the highest mode scores ``λ_max / mean(λ)`` (2.25 for ``3 × 3`` filters).

    Args:
        weight: Conv weight ``[H_k, H_{k-1}, F, F]`` (1-D and 3-D filters too) or a conv module.
        normalized: ``True`` (default) for the paper's measure above; ``False`` for the
            unnormalised ``Σ_l λ_l γ̃_{k,l}`` (in eigenvalue units: 0 for a constant filter,
            ``λ_max`` for the highest mode).

    Returns:
        A scalar float64 tensor.

    Raises:
        SmoothscopeError: as :func:`normalized_projections`, or ``normalized=True`` with ``F = 1``
            (every eigenvalue is 0, so the mean eigenvalue cannot normalise).
    """
    gamma_tilde, lam = _normalized(weight)
    value = (lam * gamma_tilde).sum()
    if not normalized:
        return value
    mean_lam = float(lam.mean())
    if not mean_lam > 0.0:
        raise SmoothscopeError(
            "weight: 1 x 1 filters have a single (constant) mode with eigenvalue 0, so Fig. C5's "
            "measure, normalised by the mean eigenvalue, is undefined; pass normalized=False"
        )
    return value / mean_lam
