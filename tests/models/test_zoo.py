"""Paper B's CIFAR architectures: shapes, seeding, layer lists, conv counts, argument errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import smoothscope.models.zoo as zoo  # registers the builders
from smoothscope import SmoothscopeError
from smoothscope.models import available_models, build

NAMES = ["vgg11", "vgg11bn", "vgg16", "vgg16bn", "lenet", "alexnet", "resnet18", "fcn"]
TINY = 0.125


@pytest.fixture(scope="module")
def tiny_models():
    return {name: build(name, seed=0, width=TINY).eval() for name in NAMES}


def test_all_registered():
    assert set(NAMES) <= set(available_models())


@pytest.mark.parametrize("name", NAMES)
def test_maps_cifar_batch_to_logits(tiny_models, name):
    model = tiny_models[name]
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_parameters_other_seed_differs(tiny_models, name):
    a, b = tiny_models[name], build(name, seed=0, width=TINY)
    c = build(name, seed=1, width=TINY)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


@pytest.mark.parametrize("name", NAMES)
def test_representation_layers_run_once_in_depth_order(tiny_models, name):
    model = tiny_models[name]
    reps = model.representation_layers()
    modules = dict(model.named_modules())
    assert len(set(reps)) == len(reps) and all(r in modules for r in reps)
    calls, outputs = [], {}

    def hook(mod_name):
        def fn(_module, _inputs, output):
            calls.append(mod_name)
            outputs[mod_name] = output

        return fn

    handles = [modules[r].register_forward_hook(hook(r)) for r in reps]
    try:
        out = model(torch.rand(2, 3, 32, 32))
    finally:
        for h in handles:
            h.remove()
    assert calls == reps  # each exactly once, in the listed order
    assert torch.equal(outputs[reps[-1]], out)  # the last representation is the network output
    for r in reps[:-1]:  # hidden representations are post-ReLU
        assert (outputs[r] >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_conv_layers_in_execution_order(tiny_models, name):
    model = tiny_models[name]
    convs = model.conv_layers()
    modules = dict(model.named_modules())
    assert all(isinstance(modules[c], nn.Conv2d) for c in convs)
    calls = []
    handles = [modules[c].register_forward_hook(lambda *_a, c=c: calls.append(c)) for c in convs]
    try:
        model(torch.rand(1, 3, 32, 32))
    finally:
        for h in handles:
            h.remove()
    assert calls == convs


@pytest.mark.parametrize(
    ("name", "n_conv", "n_reps"),
    [
        ("vgg11", 8, 9),
        ("vgg11bn", 8, 9),
        ("vgg16", 13, 14),
        ("vgg16bn", 13, 14),
        ("lenet", 2, 5),
        ("alexnet", 5, 8),
        ("resnet18", 20, 10),
        ("fcn", 0, 4),
    ],
)
def test_standard_conv_counts_at_full_width(name, n_conv, n_reps):
    model = build(name, seed=0)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(model.conv_layers()) == n_conv
    assert len(model.representation_layers()) == n_reps
    if name.startswith("vgg"):
        assert model.classifier.in_features == 512  # CIFAR style: 512-d features, one Linear
        assert {c.out_channels for c in convs} == {64, 128, 256, 512}
        assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    if name == "resnet18":
        shortcuts = [c for c in convs if c.kernel_size == (1, 1)]
        assert len(shortcuts) == 3 and all(c.stride == (2, 2) for c in shortcuts)
        assert sum(c.kernel_size == (3, 3) for c in convs) == 17
        assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())


def test_vgg_module_names_and_width_scaling():
    model = build("vgg11bn", seed=0, width=TINY)
    names = dict(model.named_modules())
    for part in ("conv1", "bn1", "relu1", "pool1", "conv8", "bn8", "relu8", "pool5"):
        assert f"features.{part}" in names
    assert names["features.conv1"].out_channels == 8  # round(64 · 0.125)
    assert names["features.conv8"].out_channels == 64
    assert build("vgg11", width=0.001).get_submodule("features.conv1").out_channels == 1


@pytest.mark.parametrize("name", NAMES)
def test_batchnorm_only_in_bn_variants_and_resnet(tiny_models, name):
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in tiny_models[name].modules())
    assert has_bn == (name.endswith("bn") or name == "resnet18")


@pytest.mark.parametrize("name", NAMES)
def test_single_channel_inputs(name):
    model = build(name, seed=0, width=TINY, in_channels=1, num_classes=3).eval()
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 3)
    with pytest.raises(SmoothscopeError, match=r"\[B, 1, 32, 32\]"):
        model(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize("name", NAMES)
def test_wrong_input_size_is_rejected(tiny_models, name):
    with pytest.raises(SmoothscopeError, match=r"built for inputs \[B, 3, 32, 32\].*28, 28"):
        tiny_models[name](torch.rand(2, 3, 28, 28))
    with pytest.raises(SmoothscopeError, match="built for inputs"):
        tiny_models[name](torch.rand(3, 32, 32))


@pytest.mark.parametrize("name", NAMES)
def test_other_input_sizes_down_to_the_minimum(name):
    smallest = zoo.MIN_INPUT_SIZE[name]
    for size in (smallest, 40):
        model = build(name, seed=0, width=TINY, input_size=size).eval()
        assert model(torch.rand(2, 3, size, size)).shape == (2, 10)
    if smallest > 1:
        with pytest.raises(SmoothscopeError, match=f"at least {smallest}"):
            build(name, width=TINY, input_size=smallest - 1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widht": 0.5}, "unknown argument"),
        ({"width": 0}, "width"),
        ({"width": -1.0}, "width"),
        ({"in_channels": 0}, "in_channels"),
        ({"num_classes": 1.5}, "num_classes"),
    ],
)
def test_bad_arguments_raise(name, kwargs, message):
    with pytest.raises(SmoothscopeError, match=message):
        build(name, **{"width": TINY, **kwargs})


def test_architecture_specific_arguments():
    assert len(build("fcn", depth=5, width=TINY).representation_layers()) == 6
    assert build("fcn", depth=0).representation_layers() == ["classifier"]
    assert build("fcn", hidden=100).get_submodule("layers.fc1").out_features == 100
    drops = [m.p for m in build("alexnet", dropout=0.2).modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.2, 0.2]
    with pytest.raises(SmoothscopeError, match="dropout"):
        build("alexnet", dropout=1.0)
    with pytest.raises(SmoothscopeError, match="depth"):
        build("fcn", depth=-1)
    with pytest.raises(SmoothscopeError, match=r"unknown argument.*dropout"):
        build("vgg11", dropout=0.1)


def test_relative_depths():
    assert zoo.relative_depths(["a", "b", "c", "d"]) == [0.25, 0.5, 0.75, 1.0]
    reps = build("vgg11", width=TINY).representation_layers()
    depths = zoo.relative_depths(reps)
    assert len(depths) == 9 and depths[-1] == 1.0 and depths == sorted(depths)
    with pytest.raises(SmoothscopeError, match="non-empty"):
        zoo.relative_depths([])
