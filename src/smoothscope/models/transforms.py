"""Weight surgery on convolutional networks from paper B: channel shuffling and mean channels.

The functions return a NEW model (a :func:`copy.deepcopy` whose parameters are edited under
:func:`torch.no_grad`, or a wrapper around such a copy); the caller's model is never modified.
They act on ordinary convolutions (``nn.Conv1d``/``nn.Conv2d``/``nn.Conv3d`` with ``groups=1``)
whose weight is laid out as in paper B, eq. (2): ``w[c, c']`` is the ``F × F`` filter from input
channel ``c'`` to output channel ``c``. Linear layers (the classifier), normalisation layers and
transposed convolutions are left untouched. Layers are addressed by their
``model.named_modules()`` names and transformed in model order, whatever the order of the
``layers`` list.

* :func:`shuffle_channels` — §2 "Disentangling spatial and channel pooling": randomly permute the
  connections between channels of successive conv layers while keeping the weights unaltered.
  By default as the original authors' code does it (one shared permutation of each conv's
  input channels, ``mode="shared"``); ``mode="per-output"`` draws one per output channel.
* :func:`channel_mean_view` — §4.3, Fig. 7 and B2 (dotted): each layer's representation
  averaged over its channels, as the original code measures it (``.mean(1)``).
* :func:`mean_channel` — the weight-replacement reading of the same test (every filter of a
  layer replaced by the layer's mean filter, tables C2/C3), kept as an option.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError

__all__ = ["SHUFFLE_MODES", "channel_mean_view", "mean_channel", "shuffle_channels"]

SHUFFLE_MODES = ("shared", "per-output")
"""``shared``: the original authors' channel shuffling (one permutation of each conv's input
channels); ``per-output``: one permutation per output channel (a stronger scramble)."""

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
    model: nn.Module,
    *,
    generator: torch.Generator,
    layers: list[str] | None = None,
    mode: str = "shared",
) -> nn.Module:
    """A copy of ``model`` with the connections between channels randomly permuted (paper B, §2).

    Paper B, §2: "shuffle at random the connections between channels of successive convolutional
    layers, while keeping the weights unaltered. Channel shuffling amounts to randomly permuting
    the values of ``c, c'`` in equation (2), therefore it breaks any channel pooling while not
    affecting the individual filters".

    ``mode="shared"`` (default) is what the original authors' code does
    (``leonardopetrini/relativestability``, ``utils.load_net_from_run`` with
    ``shuffle_channels=1``: ``state[k] = state[k][:, torch.randperm(C_in)]`` for every 4-D conv
    weight): for each selected conv layer ``k``, ONE uniform random permutation ``π_k`` of its
    input channels, shared by all its output channels, and nothing else::

        w'^k_{c,c'} = w^k_{c, π_k(c')},    b'^k_c = b^k_c,    layer k − 1 untouched

    Because layer ``k − 1`` is left as it is, this is not a relabelling of its channels: it
    inserts a random permutation of the channels of ``f_{k−1}`` between layers ``k − 1`` and
    ``k``, so the filter that layer ``k`` learnt for channel ``c'`` now reads channel
    ``π_k(c')``. (Permuting the *outputs* of layer ``k − 1`` by the same ``π_k`` as well would
    give back the same function; the peers do not do that.) By default every conv layer is
    shuffled, the first included, as in the peers' code (for one input channel the first
    layer's permutation changes nothing).

    ``mode="per-output"`` draws one independent permutation ``π_c`` of the input channels per
    output channel, ``w'^k_{c,c'} = w^k_{c, π_c(c')}``: each output channel keeps its own filters
    and bias, but the input channel each filter reads from is reassigned independently. By
    default it skips the first conv layer, whose inputs are image channels.

    Permutations are drawn with :func:`torch.randperm` from ``generator``, layer by layer in model
    order (and, per output, output channel by output channel), so a seeded generator gives a
    reproducible result. The classifier (Linear layers), normalisation layers and all biases
    are untouched.

    Args:
        model: Any module containing conv layers; not modified.
        generator: The source of randomness (e.g. ``torch.Generator().manual_seed(0)``).
        layers: Names (from ``model.named_modules()``) of the ``Conv1d/2d/3d`` layers to shuffle;
            ``None`` (default): every conv layer (``shared``) or every conv layer but the first
            (``per-output``).
        mode: ``"shared"`` (the peers') or ``"per-output"``.

    Returns:
        A new model (deep copy) with the shuffled weights, on the same devices and dtypes.

    Raises:
        SmoothscopeError: an unknown mode, no conv layers (or, per output by default, only one),
            unknown or non-conv layer names, grouped convolutions, or ``generator`` not a
            ``torch.Generator``.
    """
    if not isinstance(generator, torch.Generator):
        raise SmoothscopeError(
            f"generator: expected a torch.Generator, got {type(generator).__name__}"
        )
    if mode not in SHUFFLE_MODES:
        raise SmoothscopeError(f"mode: expected one of {list(SHUFFLE_MODES)}, got {mode!r}")
    names = _select(model, layers, skip_first=mode == "per-output", what="channel shuffling")
    new = copy.deepcopy(model)
    modules = dict(new.named_modules())
    with torch.no_grad():
        for name in names:
            w = modules[name].weight  # [H_k, H_{k-1}, F, ..., F]
            h_out, h_in = w.shape[:2]
            if mode == "shared":
                perm = torch.randperm(h_in, generator=generator, device=generator.device)
                w.copy_(w[:, perm.to(w.device)])
                continue
            perms = torch.stack(
                [
                    torch.randperm(h_in, generator=generator, device=generator.device)
                    for _ in range(h_out)
                ]
            ).to(w.device)  # perms[c, c'] = π_c(c')
            index = perms.reshape(h_out, h_in, *([1] * (w.dim() - 2))).expand_as(w)
            w.copy_(torch.gather(w, 1, index))
    return new


class _ChannelMeanView(nn.Module):
    """A model whose taps ``mean{k}`` output the channel mean of the wrapped model's layers.

    The wrapped model runs unchanged; during each forward pass, hooks on its layers send
    ``f_k.mean(1, keepdim=True)`` through the identity modules ``mean{k}``, where forward hooks
    (:func:`smoothscope.analysis.stability.relative_stability`, receptive fields) can record
    them. The hooks live only for the duration of the call, so the view can be deep-copied.
    """

    def __init__(self, model: nn.Module, layers: list[str]) -> None:
        super().__init__()
        self.net = model
        self.layers = list(layers)
        self.taps = nn.ModuleList([nn.Identity() for _ in self.layers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        modules = dict(self.net.named_modules())

        def hook(tap: nn.Module):
            def fn(module, args, output):
                tap(output.mean(dim=1, keepdim=True))

            return fn

        handles = [
            modules[name].register_forward_hook(hook(tap))
            for name, tap in zip(self.layers, self.taps, strict=True)
        ]
        try:
            return self.net(x)
        finally:
            for handle in handles:
                handle.remove()

    def representation_layers(self) -> list[str]:
        """The channel means ``taps.k`` of the wrapped layers, in order, then the wrapped
        model's other representation layers (e.g. its readout) as ``net.<name>``."""
        method = getattr(self.net, "representation_layers", None)
        rest = [n for n in method() if n not in self.layers] if callable(method) else []
        return [f"taps.{k}" for k in range(len(self.layers))] + [f"net.{n}" for n in rest]


def channel_mean_view(model: nn.Module, layers: list[str] | None = None) -> nn.Module:
    """A view of ``model`` whose representations are the channel means of its layers.

    Paper B §4.3 (Fig. 7 and B2, dotted lines): "the sensitivities obtained by replacing each
    layer with the mean channel". The original code
    (``UmbertoTomasini/scale_detection_1d``, ``diffeo_cluster_mean.py``, ``Mean=True``) measures
    D_k and G_k on the trained network's representation averaged over channels,
    ``f_k(x).mean(1)``, layer by layer, the network itself unchanged::

        f̄_k(x)_i = 1/H_k Σ_c [f_k(x)]_{c,i}

    Args:
        model: the network (not modified; the view holds a deep copy).
        layers: module names whose outputs ``[B, C, ...]`` are averaged; default
            ``model.representation_layers()`` without its last entry (the readout).

    Returns:
        a module computing the same output as ``model``, whose ``representation_layers()``
        name the channel means ``[B, 1, ...]`` of the chosen layers, in order (then the
        model's other representation layers, such as its readout).

    Raises:
        SmoothscopeError: not a module, or unknown layer names.
    """
    if not isinstance(model, nn.Module):
        raise SmoothscopeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if layers is None:
        method = getattr(model, "representation_layers", None)
        if not callable(method):
            raise SmoothscopeError(
                "layers: expected module names, or a model with representation_layers()"
            )
        layers = list(method())[:-1]
    if isinstance(layers, str) or not layers or not all(isinstance(n, str) for n in layers):
        raise SmoothscopeError(f"layers: expected a non-empty list of module names, got {layers!r}")
    modules = dict(model.named_modules())
    unknown = [n for n in layers if n not in modules]
    if unknown:
        raise SmoothscopeError(f"layers: unknown module names {unknown}")
    return _ChannelMeanView(copy.deepcopy(model), list(layers))


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
