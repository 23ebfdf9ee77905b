"""Paper B weight surgery: channel shuffling (§2), channel means (§4.3) and mean-channel
replacement (App. B, C)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.models.transforms import channel_mean_view, mean_channel, shuffle_channels


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cnn(seed: int = 0) -> nn.Sequential:
    """conv(3→6) relu conv(6→8) relu conv(8→8) relu pool flatten linear."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 2),
        ).double()


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _recover_permutations(new_w: torch.Tensor, old_w: torch.Tensor) -> torch.Tensor:
    """For each output channel c, the π_c with new[c, c'] == old[c, π_c(c')] (exact matches)."""
    h_out, h_in = old_w.shape[:2]
    perms = torch.empty(h_out, h_in, dtype=torch.long)
    for c in range(h_out):
        eq = (new_w[c].reshape(h_in, 1, -1) == old_w[c].reshape(1, h_in, -1)).all(-1)
        assert bool((eq.sum(1) == 1).all()), "every moved filter is one original filter"
        perms[c] = eq.float().argmax(1)
        assert sorted(perms[c].tolist()) == list(range(h_in)), (
            "filters moved, none dropped/duplicated"
        )
    return perms


# --------------------------------------------------------------------------- shuffle_channels


def test_shared_shuffle_is_the_peers_input_channel_permutation():
    """The original code (leonardopetrini/relativestability, utils.load_net_from_run with
    shuffle_channels=1) does, for every 4-D conv weight of the state dict,

        state[k] = state[k][:, torch.randperm(state[k].shape[1])]

    i.e. ONE permutation of the layer's input channels shared by all its output channels, a
    fresh one per layer, and nothing to the previous layer (its output channels, biases and
    BatchNorm statistics stay where they are). Written out here on a generator that replays
    the same draws."""
    model = _cnn()
    new = shuffle_channels(model, generator=_gen(0))  # mode="shared" is the default
    replay = _gen(0)
    for i in (0, 2, 4):  # every conv layer, the first included, in model order
        old_w = model[i].weight
        perm = torch.randperm(old_w.shape[1], generator=replay)
        assert torch.equal(new[i].weight, old_w[:, perm])  # w'[c, c'] = w[c, π(c')]
        assert torch.equal(new[i].bias, model[i].bias)  # biases untouched
    assert torch.equal(new[8].weight, model[8].weight)  # the classifier untouched


def test_shared_shuffle_is_not_a_relabelling_but_a_permutation_between_layers():
    """Why the peers' shuffle is not a no-op: renaming layer 1's channels by π would need
    layer 1's *outputs* (its filter rows and biases) permuted by the same π, which the peers do
    not do. What their shuffle does instead is insert the channel permutation π between
    layers 1 and 2: layer 2 reads channel π(c') where it learnt to read c'."""
    model = _cnn()
    x = torch.randn(4, 3, 8, 8, generator=_gen(2), dtype=torch.float64)
    new = shuffle_channels(model, generator=_gen(3), layers=["2"])
    perm = torch.randperm(6, generator=_gen(3))
    # the same function: layer 1, then the channels of f_1 permuted (channel j of the input
    # of layer 2 is channel π⁻¹(j) of f_1), then the rest unchanged
    f1 = model[:2](x)
    torch.testing.assert_close(new(x), model[2:](f1[:, torch.argsort(perm)]))
    assert not torch.allclose(new(x), model(x))  # it changes the function
    # the relabelling argument of the former test needed layer 1's outputs permuted as well:
    relabelled = _cnn()
    relabelled.load_state_dict(new.state_dict())
    with torch.no_grad():
        relabelled[0].weight.copy_(model[0].weight[perm])
        relabelled[0].bias.copy_(model[0].bias[perm])
    torch.testing.assert_close(relabelled(x), model(x))  # only then the same function


def test_per_output_shuffle_moves_filters_within_each_output_channel():
    model = _cnn()
    new = shuffle_channels(model, generator=_gen(0), mode="per-output")
    for i in (2, 4):
        old_w, new_w = model[i].weight, new[i].weight
        perms = _recover_permutations(new_w, old_w)  # the same multiset of filters per output c
        assert not bool((perms == torch.arange(old_w.shape[1])).all())
        # one permutation per output channel: they are not all equal (not a mere relabelling)
        assert len({tuple(p.tolist()) for p in perms}) > 1
        assert torch.equal(new[i].bias, model[i].bias)  # biases stay with their output channel


def test_per_output_shuffle_leaves_first_conv_classifier_and_caller_alone():
    model = _cnn()
    before = _state(model)
    new = shuffle_channels(model, generator=_gen(0), mode="per-output")
    assert new is not model
    for k, v in _state(model).items():
        assert torch.equal(v, before[k]), k  # the caller's model is unchanged
    assert torch.equal(new[0].weight, model[0].weight) and torch.equal(new[0].bias, model[0].bias)
    assert torch.equal(new[8].weight, model[8].weight) and torch.equal(new[8].bias, model[8].bias)
    assert new[0].weight.data_ptr() != model[0].weight.data_ptr()  # a true copy


@pytest.mark.parametrize("mode", ["shared", "per-output"])
def test_shuffle_is_deterministic_given_the_generator(mode):
    model = _cnn()
    a = shuffle_channels(model, generator=_gen(5), mode=mode)
    b = shuffle_channels(model, generator=_gen(5), mode=mode)
    c = shuffle_channels(model, generator=_gen(6), mode=mode)
    for k, v in _state(a).items():
        assert torch.equal(v, _state(b)[k])
    assert not torch.equal(a[2].weight, c[2].weight)


@pytest.mark.parametrize("mode", ["shared", "per-output"])
def test_shuffle_changes_the_function(mode):
    model = _cnn()
    x = torch.randn(4, 3, 8, 8, generator=_gen(1), dtype=torch.float64)
    new = shuffle_channels(model, generator=_gen(0), mode=mode)
    assert not torch.allclose(new(x), model(x))


def test_shuffle_selected_layers_only_and_first_if_named():
    model = _cnn()
    new = shuffle_channels(model, generator=_gen(0), layers=["4"])
    assert torch.equal(new[2].weight, model[2].weight)
    assert not torch.equal(new[4].weight, model[4].weight)
    first = shuffle_channels(model, generator=_gen(0), layers=["0"], mode="per-output")
    _recover_permutations(first[0].weight, model[0].weight)
    assert not torch.equal(first[0].weight, model[0].weight)


def test_shuffle_conv1d_and_nested_names():
    model = nn.Sequential()
    model.add_module("block", nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Conv1d(4, 5, 3)))
    new = shuffle_channels(model, generator=_gen(0), mode="per-output")
    assert torch.equal(new.block[0].weight, model.block[0].weight)
    _recover_permutations(new.block[2].weight, model.block[2].weight)
    assert not torch.equal(new.block[2].weight, model.block[2].weight)
    again = shuffle_channels(model, generator=_gen(0), layers=["block.2"], mode="per-output")
    assert torch.equal(again.block[2].weight, new.block[2].weight)


def test_shuffle_of_a_mean_channel_network_changes_nothing():
    """If every channel equals the mean channel, shuffling is invisible (paper B, §3, Fig. C2)."""
    flat = mean_channel(_cnn(), layers=["2", "4"])
    x = torch.randn(2, 3, 8, 8, generator=_gen(4), dtype=torch.float64)
    for mode in ("shared", "per-output"):
        shuffled = shuffle_channels(flat, generator=_gen(0), mode=mode, layers=["2", "4"])
        torch.testing.assert_close(shuffled(x), flat(x))


# --------------------------------------------------------------------------- mean_channel


def test_mean_channel_replaces_every_filter_and_bias_by_the_mean():
    model = _cnn()
    before = _state(model)
    new = mean_channel(model)
    for k, v in _state(model).items():
        assert torch.equal(v, before[k]), k  # the caller's model is unchanged
    for i in (0, 2, 4):  # every conv layer by default, the first included
        w, b = model[i].weight, model[i].bias
        mean_w = w.mean(dim=(0, 1))
        torch.testing.assert_close(new[i].weight, mean_w.expand_as(w))
        torch.testing.assert_close(new[i].bias, b.mean().expand_as(b))
    assert torch.equal(new[8].weight, model[8].weight)  # the classifier is untouched


def test_mean_channel_makes_all_channels_of_a_layer_identical():
    model = _cnn()
    new = mean_channel(model, layers=["2"])
    assert torch.equal(new[0].weight, model[0].weight) and torch.equal(
        new[4].weight, model[4].weight
    )
    x = torch.randn(3, 3, 8, 8, generator=_gen(7), dtype=torch.float64)
    h1 = new[:2](x)
    assert not torch.allclose(h1[:, 0], h1[:, 1])  # layer 1 channels still differ
    h2 = new[:4](x)  # after conv 2 and its ReLU
    torch.testing.assert_close(h2, h2[:, :1].expand_as(h2), rtol=1e-12, atol=1e-12)


def test_mean_channel_without_bias():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False))
    new = mean_channel(model)
    assert new[0].bias is None
    assert torch.equal(new[0].weight[0, 0], new[0].weight[2, 1])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("fn", ["shuffle", "mean"])
def test_bad_inputs_raise(fn):
    def call(model, **kw):
        if fn == "shuffle":
            return shuffle_channels(model, generator=_gen(0), **kw)
        return mean_channel(model, **kw)

    with pytest.raises(SmoothscopeError, match="at least one"):
        call(nn.Sequential(nn.Linear(3, 3)))
    with pytest.raises(SmoothscopeError, match="unknown"):
        call(_cnn(), layers=["nope"])
    with pytest.raises(SmoothscopeError, match="ReLU"):
        call(_cnn(), layers=["1"])
    with pytest.raises(SmoothscopeError, match="list"):
        call(_cnn(), layers="2")
    with pytest.raises(SmoothscopeError, match="at least one layer"):
        call(_cnn(), layers=[])
    grouped = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(SmoothscopeError, match="groups"):
        call(grouped)
    with pytest.raises(SmoothscopeError, match="ConvTranspose2d"):
        call(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 2, 3)), layers=["1"])
    with pytest.raises(SmoothscopeError, match="Module"):
        call(torch.ones(3))


def test_shuffle_specific_errors():
    with pytest.raises(SmoothscopeError, match="generator"):
        shuffle_channels(_cnn(), generator=0)
    with pytest.raises(SmoothscopeError, match="first conv"):
        shuffle_channels(nn.Sequential(nn.Conv2d(3, 4, 3)), generator=_gen(0), mode="per-output")
    with pytest.raises(SmoothscopeError, match="mode"):
        shuffle_channels(_cnn(), generator=_gen(0), mode="both")


# --------------------------------------------------------------------------- channel_mean_view


def test_channel_mean_view_averages_the_representation_not_the_weights():
    """The original code (scale_detection_1d, diffeo_cluster_mean.py, Mean=True) measures
    f_k(x).mean(1) of the trained network, the network unchanged."""
    from smoothscope.analysis.stability import relative_stability
    from smoothscope.models import build

    model = build("simple-cnn", depth=3, width=6, padding="zeros", bias=True, seed=0).double()
    before = _state(model)
    view = channel_mean_view(model)
    x = torch.randn(5, 1, 16, generator=_gen(1), dtype=torch.float64)
    torch.testing.assert_close(view(x), model(x))  # the same network, the same output
    assert view.representation_layers() == ["taps.0", "taps.1", "taps.2", "net.readout"]
    seen = {}
    handles = [
        dict(view.named_modules())[n].register_forward_hook(
            lambda m, a, o, n=n: seen.__setitem__(n, o)
        )
        for n in ("taps.0", "taps.2")
    ]
    view(x)
    for h in handles:
        h.remove()
    torch.testing.assert_close(seen["taps.0"], model.features[:2](x).mean(1, keepdim=True))
    torch.testing.assert_close(seen["taps.2"], model.features(x).mean(1, keepdim=True))
    for k, v in _state(model).items():
        assert torch.equal(v, before[k]), k  # the caller's model is unchanged
    # it goes through the analyses (deep copies, hooks): D, G, R of the channel means
    rows = relative_stability(
        view,
        x,
        deformation=lambda z, per, g: z.repeat_interleave(per, 0).roll(1, -1),
        diffeos_per_input=2,
    ).rows
    assert [r["layer"] for r in rows] == view.representation_layers()
    assert all(r["D"] > 0 for r in rows)


def test_channel_mean_view_errors():
    with pytest.raises(SmoothscopeError, match="Module"):
        channel_mean_view(torch.ones(3))
    with pytest.raises(SmoothscopeError, match="layers"):
        channel_mean_view(nn.Sequential(nn.Conv1d(1, 2, 3)))
    with pytest.raises(SmoothscopeError, match="unknown"):
        channel_mean_view(nn.Sequential(nn.Conv1d(1, 2, 3)), layers=["7"])
