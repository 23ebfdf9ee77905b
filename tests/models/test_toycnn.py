"""Paper C's Toy-CNN: shapes, stride-5 input layer, shortcuts, feature-group averaging, names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import smoothscope.models.toycnn as toycnn  # registers "toycnn"
from smoothscope import SmoothscopeError
from smoothscope.models import build
from smoothscope.models.toycnn import GroupSum, ToyCNN, make_activation


def _record(model: nn.Module, names: list[str]):
    calls: list[tuple[str, torch.Tensor]] = []
    handles = [
        model.get_submodule(n).register_forward_hook(
            lambda _m, _i, out, n=n: calls.append((n, out.detach()))
        )
        for n in names
    ]
    return calls, handles


def test_logits_shape_and_first_unit_stride_five():
    model = ToyCNN(4, "relu")
    calls, _ = _record(model, model.unit_outputs())
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert model.units.unit1.conv.stride == (5, 5)
    assert all(model.get_submodule(f"units.unit{i}.conv").stride == (1, 1) for i in (2, 3, 4))
    for name, value in calls[:-1]:
        assert value.shape == (2, 16, 7, 7), name
    assert calls[-1][1].shape == (2, 10)


def test_unit_outputs_fire_once_in_depth_order():
    model = ToyCNN(5, "tanh", shortcut=True)
    names = model.unit_outputs()
    assert names == [f"units.unit{i}" for i in range(1, 6)] + ["classifier"]
    assert model.representation_layers() == names
    calls, _ = _record(model, names)
    model(torch.rand(3, 3, 20, 20))
    assert [n for n, _ in calls] == names


def test_shortcut_adds_the_unit_input_from_unit_two_on():
    torch.manual_seed(0)
    model = ToyCNN(3, "relu", shortcut=True).eval()
    x = torch.randn(2, 16, 7, 7)
    unit = model.units.unit2
    plain = unit.group(unit.act(unit.bn(unit.conv(x))))
    torch.testing.assert_close(unit(x), plain + x, rtol=0, atol=0)
    assert not model.units.unit1.residual
    no_short = ToyCNN(3, "relu", shortcut=False).eval()
    no_short.load_state_dict(model.state_dict())
    u = no_short.units.unit2
    torch.testing.assert_close(u(x), u.group(u.act(u.bn(u.conv(x)))), rtol=0, atol=0)


def test_group_average_one_is_the_plain_network():
    gs = GroupSum(1)
    x = torch.randn(2, 5, 3, 3)
    assert gs(x) is x
    assert ToyCNN(2, group_average=1).units.unit2.conv.out_channels == 16


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_group_average_sums_groups_after_the_activation(reduce):
    a, c = 3, 4
    model = ToyCNN(3, "softplus", channels=c, group_average=a, group_reduce=reduce)
    assert model.units.unit1.conv.out_channels == a * c
    assert model.units.unit2.conv.in_channels == c
    assert model.units.unit2.bn.num_features == a * c
    calls, _ = _record(model, ["units.unit2.act", "units.unit2"])
    model(torch.rand(2, 3, 16, 16))
    act_out, unit_out = calls[0][1], calls[1][1]
    assert unit_out.shape == (2, c, 4, 4)
    # Channel g*C + c of the activation goes to output channel c.
    expected = sum(act_out[:, g * c : (g + 1) * c] for g in range(a))
    if reduce == "mean":
        expected = expected / a
    torch.testing.assert_close(unit_out, expected)


def test_activation_names():
    x = torch.linspace(-3, 3, 13)
    for name in toycnn.ACTIVATION_NAMES:
        if "<" not in name:
            assert make_activation(name)(x).shape == x.shape
    torch.testing.assert_close(make_activation("leaky_relu:0.2")(x), torch.where(x > 0, x, 0.2 * x))
    assert torch.equal(make_activation("linear")(x), x)
    assert isinstance(make_activation("swish"), nn.SiLU)
    for bad in ["relu6", "leaky_relu:abc", "leaky_relu:inf", 3]:
        with pytest.raises(SmoothscopeError, match="activation"):
            make_activation(bad)


def test_no_batch_norm_gives_biased_convs():
    model = ToyCNN(2, batch_norm=False)
    assert isinstance(model.units.unit1.bn, nn.Identity)
    assert model.units.unit1.conv.bias is not None


def test_registered_and_seeded():
    a = build("toycnn", seed=3, units=2)
    b = build("toycnn", seed=3, units=2)
    assert isinstance(a, ToyCNN)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(a.eval()(x), b.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"units": 0}, "units"),
        ({"units": 2, "group_average": 0}, "group_average"),
        ({"units": 2, "group_reduce": "max"}, "group_reduce"),
        ({"units": 2, "activation": "nope"}, "activation"),
        ({"units": 2, "shortcut": 1}, "shortcut"),
        ({"units": 2, "first_stride": 0}, "first_stride"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(SmoothscopeError, match=match):
        ToyCNN(**kwargs)


def test_wrong_input_channels():
    with pytest.raises(SmoothscopeError, match="input"):
        ToyCNN(2)(torch.rand(1, 1, 8, 8))


def test_delta_orthogonal_centre_tap_is_an_isometry():
    """Delta-orthogonal (Xiao et al. 2018): orthogonal centre tap, zeros elsewhere, so every
    stride-1 'same' conv with c_out ≥ c_in preserves the norm of any feature map exactly."""
    from smoothscope.models.init import delta_orthogonal_, haar_orthogonal

    g = torch.Generator().manual_seed(3)
    model = build("toycnn", units=3, activation="tanh", in_channels=3)
    delta_orthogonal_(model, generator=g)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3
    for conv in convs:
        w = conv.weight.detach().double()
        centre = w[:, :, 1, 1]
        eye = torch.eye(centre.shape[1], dtype=torch.float64)
        torch.testing.assert_close(centre.T @ centre, eye, atol=1e-6, rtol=0)  # float32 weights
        off = w.clone()
        off[:, :, 1, 1] = 0
        assert off.abs().max() == 0
    conv = nn.Conv2d(16, 16, 3, padding=1, bias=True).double()
    delta_orthogonal_(conv, gain=2.0, generator=g)
    x = torch.randn(4, 16, 9, 9, generator=g, dtype=torch.float64)
    y = conv(x)  # linear map: isometry × gain on each whole feature map
    torch.testing.assert_close(y.flatten(1).norm(dim=1), 2.0 * x.flatten(1).norm(dim=1))
    wide = haar_orthogonal(3, 8, generator=g)  # c_out < c_in: orthonormal rows
    torch.testing.assert_close(wide @ wide.T, torch.eye(3, dtype=torch.float64))
    # the default (Kaiming-uniform) init is no isometry: the same check fails there
    plain = nn.Conv2d(16, 16, 3, padding=1, bias=False).double()
    ratio = plain(x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    assert (ratio - 1).abs().max() > 0.05
    with pytest.raises(SmoothscopeError):
        delta_orthogonal_(nn.Conv2d(2, 2, 2))
