"""Weight surgery on convolutional networks from paper B: channel shuffling and mean channels.

Both functions return a NEW model (a :func:`copy.deepcopy` whose parameters are edited under
:func:`torch.no_grad`); the caller's model is never modified. They act on ordinary convolutions
(``nn.Conv1d``/``nn.Conv2d``/``nn.Conv3d`` with ``groups=1``) whose weight is laid out as in
paper B, eq. (2): ``w[c, c']`` is the ``F × F`` filter from input channel ``c'`` to output
channel ``c``. Linear layers (the classifier), normalisation layers and transposed convolutions
are left untouched. Layers are addressed by their ``model.named_modules()`` names and transformed
in model order, whatever the order of the ``layers`` list.

* :func:`shuffle_channels` — §2 "Disentangling spatial and channel pooling": randomly permute the
  connections between channels of successive conv layers while keeping the weights unaltered.
* :func:`mean_channel` — §3, §4 and Appendix B (Fig. B2; the tables C2/C3 show the mean filters):
  replace each layer by its mean channel.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError

__all__ = ["mean_channel", "shuffle_channels"]

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _conv_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, _CONV_TYPES)]


def _select(model: Any, layers: Any, *, skip_first: bool, what: str) -> list[str]:
    """Validate ``model`` and ``layers``; the conv layer names to transform, in model order."""
    if not isinstance(model, nn.Module):
        raise SmoothscopeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    convs = _conv_names(model)
    if not convs:
        raise SmoothscopeError(
            f"model: expected at least one Conv1d/Conv2d/Conv3d layer for {what}, got none "
            f"in a {type(model).__name__}"
        )
    modules = dict(model.named_modules())
    if layers is None:
        names = convs[1:] if skip_first else convs
        if not names:
            raise SmoothscopeError(
                f"model: {what} by default skips the first conv layer ({convs[0]!r}, whose inputs "
                "are image channels) and the model has no other; name layers explicitly to "
                "transform it"
            )
    else:
        if isinstance(layers, str) or not all(isinstance(n, str) for n in layers):
            raise SmoothscopeError(
                f"layers: expected a list of module names (str) or None, got {layers!r}"
            )
        layers = list(layers)
        if not layers:
            raise SmoothscopeError("layers: expected at least one layer name or None, got []")
        unknown = [n for n in layers if n not in modules]
        if unknown:
            raise SmoothscopeError(
                f"layers: unknown module names {unknown}; the conv layers are {convs}"
            )
        not_conv = [n for n in layers if n not in convs]
        if not_conv:
            kinds = [type(modules[n]).__name__ for n in not_conv]
            raise SmoothscopeError(
                f"layers: expected Conv1d/Conv2d/Conv3d layers, got {not_conv} of type {kinds}; "
                f"the conv layers are {convs}"
            )
        wanted = set(layers)
        names = [n for n in convs if n in wanted]
    grouped = [n for n in names if modules[n].groups != 1]
    if grouped:
        raise SmoothscopeError(
            f"layers: {what} needs ungrouped convolutions (groups=1), got grouped conv layers "
            f"{grouped} with groups={[modules[n].groups for n in grouped]}"
        )
    return names


def shuffle_channels(
    model: nn.Module, *, generator: torch.Generator, layers: list[str] | None = None
) -> nn.Module:
    """A copy of ``model`` with the connections between channels randomly permuted (paper B, §2).

    Paper B, §2: "shuffle at random the connections between channels of successive convolutional
    layers, while keeping the weights unaltered. Channel shuffling amounts to randomly permuting
    the values of ``c, c'`` in equation (2), therefore it breaks any channel pooling while not
    affecting the individual filters". We implement it, for each selected conv layer ``k``, as one
    independent uniform random permutation ``π_c`` of the input channels per output channel::

        w'^k_{c,c'} = w^k_{c, π_c(c')},    b'^k_c = b^k_c

    so each output channel keeps its own filters and bias (the same multiset of filters, moved),
    but the input channel each filter reads from is reassigned. A single permutation ``π`` shared
    by all output channels would not break channel pooling: it equals relabelling the outputs of
    layer ``k − 1``, which (for a conv layer ``k − 1`` permuted consistently) is the same function
    with renamed channels. The first conv layer is skipped by default, since its inputs are image
    channels (e.g. RGB), not the channels of a previous layer; the classifier (Linear layers),
    normalisation layers and all biases are untouched.

    Permutations are drawn with :func:`torch.randperm` from ``generator``, layer by layer in model
    order and output channel by output channel, so a seeded generator gives a reproducible result.

    Args:
        model: Any module containing conv layers; not modified.
        generator: The source of randomness (e.g. ``torch.Generator().manual_seed(0)``).
        layers: Names (from ``model.named_modules()``) of the ``Conv1d/2d/3d`` layers to shuffle;
            ``None`` (default) for every conv layer except the first.

    Returns:
        A new model (deep copy) with the shuffled weights, on the same devices and dtypes.

    Raises:
        SmoothscopeError: no conv layers (or, by default, only one), unknown or non-conv layer
            names, grouped convolutions, or ``generator`` not a ``torch.Generator``.
    """
    if not isinstance(generator, torch.Generator):
        raise SmoothscopeError(
            f"generator: expected a torch.Generator, got {type(generator).__name__}"
        )
    names = _select(model, layers, skip_first=True, what="channel shuffling")
    new = copy.deepcopy(model)
    modules = dict(new.named_modules())
    with torch.no_grad():
        for name in names:
            w = modules[name].weight  # [H_k, H_{k-1}, F, ..., F]
            h_out, h_in = w.shape[:2]
            perms = torch.stack(
                [
                    torch.randperm(h_in, generator=generator, device=generator.device)
                    for _ in range(h_out)
                ]
            ).to(w.device)  # perms[c, c'] = π_c(c')
            index = perms.reshape(h_out, h_in, *([1] * (w.dim() - 2))).expand_as(w)
            w.copy_(torch.gather(w, 1, index))
    return new


def mean_channel(model: nn.Module, *, layers: list[str] | None = None) -> nn.Module:
    """A copy of ``model`` in which each selected conv layer is replaced by its mean channel.

    Paper B tests the assumption that "all channels are approximately equal to the mean channel"
    (§3, Fig. C2) by replacing "each layer ... by its mean channel" (Appendix B, Fig. B2); the mean
    channel's filter is "the average over channels of filters in layer k" (tables C2, C3). We
    implement it as: every filter ``w^k_{c,c'}`` becomes the mean filter over all ``(c, c')``
    pairs, and every bias ``b^k_c`` the mean bias::

        w'^k_{c,c'} = w̄^k = 1/(H_k H_{k-1}) Σ_{c,c'} w^k_{c,c'},    b'^k_c = 1/H_k Σ_c b^k_c

    so every output channel of the layer computes ``φ(b̄ + Σ_{c'} w̄ · p_{i,j}[f_{k-1}]_{c'})``
    (eq. 2): all channels of the layer become identical (before any per-channel normalisation
    layer, which is left untouched). By default every conv layer is replaced, the first included
    (Fig. B2 replaces "each layer"; for the first layer the mean also runs over the image channels).

    Args:
        model: Any module containing conv layers; not modified.
        layers: Names (from ``model.named_modules()``) of the ``Conv1d/2d/3d`` layers to replace;
            ``None`` (default) for every conv layer.

    Returns:
        A new model (deep copy) with the mean-channel weights, on the same devices and dtypes.

    Raises:
        SmoothscopeError: no conv layers, unknown or non-conv layer names, grouped convolutions.
    """
    names = _select(model, layers, skip_first=False, what="mean-channel replacement")
    new = copy.deepcopy(model)
    modules = dict(new.named_modules())
    with torch.no_grad():
        for name in names:
            conv = modules[name]
            w = conv.weight
            w.copy_(w.mean(dim=(0, 1), keepdim=True).expand_as(w))
            if conv.bias is not None:
                conv.bias.fill_(conv.bias.mean())
    return new
