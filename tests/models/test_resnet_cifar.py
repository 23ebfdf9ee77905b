"""Paper C's CIFAR ResNets: shapes, depth rule, NoShort, the α and ν knobs, branch outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import smoothscope.models.resnet_cifar  # noqa: F401  (registers the builders)
from smoothscope import SmoothscopeError
from smoothscope.models import build
from smoothscope.models.resnet_cifar import CifarResNet


def _record(model: nn.Module, names: list[str]) -> dict[str, list[torch.Tensor]]:
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    for n in names:
        model.get_submodule(n).register_forward_hook(
            lambda _m, _i, out, n=n: seen[n].append(out.detach())
        )
    return seen


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("shortcut", [True, False])
@pytest.mark.parametrize("depth", [8, 14])
def test_shapes_blocks_and_convs(version, shortcut, depth):
    model = CifarResNet(depth, version, shortcut=shortcut)
    n = (depth - 2) // 6
    blocks = model.block_outputs()
    assert len(blocks) == 3 * n
    assert blocks[0] == "layer1.0" and blocks[-1] == f"layer3.{n - 1}"
    seen = _record(model, blocks)
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 10)
    sides = [seen[b][0].shape[-1] for b in blocks]
    assert sides == [16] * n + [8] * n + [4] * n
    assert [seen[b][0].shape[1] for b in blocks] == [16] * n + [32] * n + [64] * n
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert sum(c.kernel_size == (3, 3) for c in convs) == depth - 1
    assert sum(c.kernel_size == (1, 1) for c in convs) == (2 if shortcut else 0)


@pytest.mark.parametrize("depth", [0, 2, 7, 10, 21, 57])
def test_depth_must_be_6n_plus_2(depth):
    with pytest.raises(SmoothscopeError, match="depth"):
        CifarResNet(depth)


def test_noshort_has_no_shortcut_modules():
    model = CifarResNet(14, "v2", shortcut=False)
    assert model.shortcut_branches() == []
    assert not any("shortcut" in name for name, _ in model.named_modules())
    with_short = CifarResNet(14, "v2")
    assert len(with_short.shortcut_branches()) == 6
    for name in with_short.shortcut_branches():
        with_short.get_submodule(name)


def _second_differences(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Second and first differences of the logits along the line x0 + t·dx."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(1, 3, 8, 8, generator=gen, dtype=torch.float64)
    dx = torch.randn(1, 3, 8, 8, generator=gen, dtype=torch.float64)
    t = torch.linspace(-3, 3, 25, dtype=torch.float64).view(-1, 1, 1, 1)
    with torch.no_grad():
        y = model(x0 + t * dx)
    return y[2:] - 2 * y[1:-1] + y[:-2], y[1:] - y[:-1]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_alpha_zero_is_linear_alpha_one_is_not(version):
    torch.manual_seed(0)
    linear = CifarResNet(14, version, shortcut=False, alpha=0.0).double().eval()
    assert all(m.negative_slope == 1.0 for m in linear.modules() if isinstance(m, nn.LeakyReLU))
    d2, d1 = _second_differences(linear)
    assert d2.abs().max() < 1e-9 * d1.abs().max()
    torch.manual_seed(0)
    relu = CifarResNet(14, version, shortcut=False, alpha=1.0).double().eval()
    d2, d1 = _second_differences(relu)
    assert d2.abs().max() > 1e-2 * d1.abs().max()


def test_alpha_one_equals_relu_and_alpha_sets_the_negative_slope():
    x = torch.rand(2, 3, 16, 16)
    a = build("resnet-cifar", seed=1, depth=8, version="v2", alpha=1.0).eval()
    b = build("resnet-cifar", seed=1, depth=8, version="v2", activation="relu").eval()
    assert torch.equal(a(x), b(x))
    z = torch.linspace(-2, 2, 9)
    act = CifarResNet(8, alpha=0.25).layer1[0].act
    torch.testing.assert_close(act(z), torch.where(z >= 0, z, 0.75 * z))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_branches_sum_exactly(version):
    model = CifarResNet(14, version, nu=0.7).eval()
    blocks = model.block_outputs()
    names = blocks + model.residual_branches() + model.shortcut_branches()
    names += [f"{b}.add" for b in blocks]
    seen = _record(model, names)
    model(torch.rand(2, 3, 16, 16))
    for b in blocks:
        assert all(len(seen[n]) == 1 for n in (b, f"{b}.residual", f"{b}.shortcut"))
        total = seen[f"{b}.residual"][0] + seen[f"{b}.shortcut"][0]
        assert torch.equal(seen[f"{b}.add"][0], total)
        if version == "v2":
            assert torch.equal(seen[b][0], total)
        else:
            assert torch.equal(seen[b][0], torch.relu(total))


def test_nu_scales_the_residual_branch():
    model = CifarResNet(8, "v1", nu=0.3).eval()
    seen = _record(model, ["layer2.0.residual.bn2", "layer2.0.residual"])
    model(torch.rand(1, 3, 16, 16))
    torch.testing.assert_close(seen["layer2.0.residual"][0], 0.3 * seen["layer2.0.residual.bn2"][0])


def test_nu_zero_leaves_only_the_shortcut_v2():
    model = CifarResNet(14, "v2", nu=0.0).eval()
    names = model.block_outputs() + model.shortcut_branches()
    seen = _record(model, names)
    model(torch.rand(2, 3, 16, 16))
    for b in model.block_outputs():
        assert torch.equal(seen[b][0], seen[f"{b}.shortcut"][0])
    # identity shortcuts: inside a stage the block output equals the block input
    assert torch.equal(seen["layer1.1"][0], seen["layer1.0"][0])


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_representation_layers_fire_once_in_order(version):
    model = CifarResNet(8, version)
    names = model.representation_layers()
    assert names[0] == "stem" and names[-1] == "classifier"
    order: list[str] = []
    for n in names:
        model.get_submodule(n).register_forward_hook(lambda *_a, n=n: order.append(n))
    model(torch.rand(1, 3, 8, 8))
    assert order == names


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_nu_on_the_shortcut(version):
    model = CifarResNet(14, version, nu=0.5, nu_branch="shortcut").eval()
    assert model.layer1[0].residual.scale.factor == 1.0
    seen = _record(model, ["layer2.0.shortcut.bn", "layer2.0.shortcut", "layer1.1.shortcut"])
    seen.update(_record(model, ["layer1.0"]))
    model(torch.rand(2, 3, 16, 16))
    torch.testing.assert_close(seen["layer2.0.shortcut"][0], 0.5 * seen["layer2.0.shortcut.bn"][0])
    torch.testing.assert_close(seen["layer1.1.shortcut"][0], 0.5 * seen["layer1.0"][0])
    # nu = 0 on the shortcut is the NoShort network with the same weights
    torch.manual_seed(4)
    zero = CifarResNet(8, version, nu=0.0, nu_branch="shortcut").eval()
    torch.manual_seed(4)
    plain = CifarResNet(8, version, shortcut=False).eval()
    plain.load_state_dict(zero.state_dict(), strict=False)
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(zero(x), plain(x))


def test_group_average_v1_noshort():
    model = CifarResNet(8, "v1", shortcut=False, group_average=3)
    assert model.stem.conv.out_channels == 48
    assert model.layer2[0].residual.conv2.in_channels == 32
    seen = _record(model, ["layer2.0.act", "layer2.0"])
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 10)
    act = seen["layer2.0.act"][0]
    assert act.shape[1] == 96
    torch.testing.assert_close(seen["layer2.0"][0], act[:, :32] + act[:, 32:64] + act[:, 64:])


def test_named_builders():
    assert len(build("resnet20").block_outputs()) == 9
    assert build("resnet56", version="v2").version == "v2"
    assert len(build("resnet110", seed=0).block_outputs()) == 54
    wide = build("resnet-cifar", depth=8, planes=(28, 56, 112))
    assert wide.classifier.in_features == 112
    with pytest.raises(SmoothscopeError, match="depth"):
        build("resnet56", depth=20)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"version": "v3"}, "version"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": 0.5, "activation": "tanh"}, "alpha"),
        ({"activation": "nope"}, "activation"),
        ({"nu": -0.1}, "nu"),
        ({"nu": True}, "nu"),
        ({"shortcut": "no"}, "shortcut"),
        ({"group_average": 2}, "group_average"),
        ({"group_average": 2, "shortcut": False, "version": "v2"}, "group_average"),
        ({"planes": (16, 32)}, "planes"),
        ({"nu_branch": "both"}, "nu_branch"),
        ({"nu_branch": "shortcut", "shortcut": False}, "nu_branch"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(SmoothscopeError, match=match):
        CifarResNet(8, **kwargs)
