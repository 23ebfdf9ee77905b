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
