"""Delta-orthogonal initialisation of convolutions (Xiao et al. 2018; paper C App. D.2, Fig. 12).

Xiao et al. ("Dynamical isometry and a mean field theory of CNNs", Algorithm 2) initialise a
``k × k`` convolution ``W ∈ R^{c_out × c_in × k × k}`` with zeros everywhere except the centre
tap, ``W[:, :, ⌊k/2⌋, ⌊k/2⌋] = g · H``, where ``H`` is drawn uniformly (Haar) from the
``c_out × c_in`` matrices with orthonormal columns (``c_out ≥ c_in``; orthonormal rows when
``c_out < c_in``). The convolution is then a 1×1 map of every pixel by ``g · H``: for stride 1,
``'same'`` padding and ``c_out ≥ c_in`` it is an isometry (times ``g``) of the whole feature map,
so a deep linearised network has all singular values of its input-output Jacobian equal to
``g^L``. Paper C uses it to show that blueshift vanishes only in a small region around such an
initialisation point (Fig. 12).
"""

from __future__ import annotations

import torch
from torch import nn

from .._errors import SmoothscopeError

__all__ = ["delta_orthogonal_", "haar_orthogonal"]


def haar_orthogonal(rows: int, cols: int, *, generator: torch.Generator | None = None):
    """A Haar-distributed ``[rows, cols]`` float64 matrix with orthonormal columns (rows ≥ cols)
    or orthonormal rows (rows < cols): QR of a Gaussian matrix, signs fixed by ``diag(R) > 0``
    (Mezzadri 2007), so that the distribution is exactly Haar."""
    if rows < 1 or cols < 1:
        raise SmoothscopeError(f"haar_orthogonal: expected a positive shape, got {rows} × {cols}")
    tall = rows >= cols
    a = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))[None, :]
    return q if tall else q.T


def delta_orthogonal_(
    module: nn.Module, *, gain: float = 1.0, generator: torch.Generator | None = None
) -> nn.Module:
    """Delta-orthogonal initialisation, in place, of every ``nn.Conv2d`` in ``module``.

    Every convolution's weight becomes zero except its centre tap ``gain · H``
    (:func:`haar_orthogonal`), and its bias (if any) zero. Other modules (BatchNorm, the
    classifier) keep their initialisation, as in Xiao et al., whose scheme concerns the
    convolutions. Kernels must have odd sizes (a centre tap) and ``groups = 1``.

    Returns:
        ``module`` (for chaining).
    """
    if not gain > 0:
        raise SmoothscopeError(f"gain: expected > 0, got {gain}")
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        kh, kw = conv.kernel_size
        if kh % 2 == 0 or kw % 2 == 0 or conv.groups != 1:
            raise SmoothscopeError(
                f"delta_orthogonal_: needs odd kernels and groups = 1, got {conv.kernel_size} "
                f"with groups = {conv.groups}"
            )
    with torch.no_grad():
        for conv in convs:
            c_out, c_in, kh, kw = conv.weight.shape
            centre = gain * haar_orthogonal(c_out, c_in, generator=generator)
            conv.weight.zero_()
            conv.weight[:, :, kh // 2, kw // 2] = centre.to(conv.weight.dtype)
            if conv.bias is not None:
                conv.bias.zero_()
    return module
