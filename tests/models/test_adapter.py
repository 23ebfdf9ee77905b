"""The model adapter: inputs, output selection, layer choice and its notes, one-line errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from _user_models import dict_net, resnet18, tuple_net
from smoothscope import SmoothscopeError
from smoothscope.models import build
from smoothscope.models.adapter import (
    OUTPUT,
    adapt_model,
    default_layers,
    infer_input_size,
    input_spec,
    select_output,
)


def _x(n=4, c=1, side=16):
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(0))


def test_input_spec_and_size_inference():
    assert input_spec(build("lenet", in_channels=1)) == (1, 32)
    assert input_spec(resnet18(num_classes=3)) == (3, None)
    assert input_spec(nn.Identity()) == (None, None)
    # a flattening model built for 28 × 28: the first side it accepts, in the order tried
    flat = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 2))
    assert infer_input_size(flat, 1) == (28, "")
    assert infer_input_size(nn.Sequential(nn.Flatten(), nn.Linear(7, 2)), 1)[0] is None


def test_default_layers_are_the_same_rule_everywhere():
    zoo = build("lenet", in_channels=1)
    assert default_layers(zoo) == zoo.representation_layers()
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    assert default_layers(seq) == ["0", "1", OUTPUT]

    class Wrapper(nn.Module):  # a lone child wrapping the real network is looked through
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())

        def forward(self, x):
            return self.net(x)

    assert default_layers(Wrapper()) == ["net.0", "net.1", OUTPUT]
    assert default_layers(nn.Identity()) == [OUTPUT]


def test_torchvision_resnet_layers_patterns_and_in_place_outputs():
    model = resnet18(num_classes=3)
    adapted = adapt_model(model, _x(c=3, side=32))
    assert adapted.layers[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert adapted.layers[-2:] == ["fc", OUTPUT] and adapted.notes == []
    assert adapted.modified_in_place == ["bn1"]  # ReLU(inplace=True) overwrites it
    blocks = adapt_model(model, _x(c=3, side=32), layers="layer*.*").layers
    assert blocks == [f"layer{s}.{b}" for s in range(1, 5) for b in (0, 1)]
    # the blocks' ReLU runs twice per pass: skipped with a note; the stem's is kept
    relus = adapt_model(model, _x(c=3, side=32), layers="**.relu")
    assert relus.layers == ["relu"]
    assert len(relus.notes) == 8 and "runs 2 times" in relus.notes[0]
    with pytest.raises(SmoothscopeError, match="runs 2 times"):
        adapt_model(model, _x(c=3, side=32), layers=["layer1.0.relu"])
    # or by a function of the name and the module
    convs = adapt_model(model, _x(c=3, side=32), layers=lambda n, m: isinstance(m, nn.Conv2d))
    assert len(convs.layers) == 20 and convs.layers[0] == "conv1" and OUTPUT not in convs.layers
    with pytest.raises(SmoothscopeError, match="selects no module"):
        adapt_model(model, _x(c=3, side=32), layers=lambda n, m: False)
    with pytest.raises(SmoothscopeError, match="matches no module"):
        adapt_model(model, _x(c=3, side=32), layers="block*")
    with pytest.raises(SmoothscopeError, match="did you mean"):
        adapt_model(model, _x(c=3, side=32), layers="conv2")


def test_tuple_and_dict_outputs():
    x = _x()
    net = tuple_net()
    adapted = adapt_model(net, x)
    assert adapted.output == "[0]" and "tuple of 2" in adapted.notes[0]
    assert adapted.module(x).shape == (4, 3)  # the copy returns the selected tensor
    assert isinstance(net(x), tuple)  # the caller's model is untouched
    second = adapt_model(tuple_net(), x, output=1)
    assert second.module(x).shape == (4, 4, 8, 8) and second.notes == []
    assert adapt_model(tuple_net(), x, output="1").output == "[1]"  # as --output gives it
    by_dict = adapt_model(dict_net(), x)
    assert by_dict.output == "['logits']" and by_dict.layers == ["features", OUTPUT]
    assert any("'heads' skipped" in n for n in by_dict.notes)  # an inner dict is skipped
    aux = adapt_model(dict_net(), x, output=lambda out: out["aux"] * 2)
    assert aux.module(x).shape == (4, 2) and aux.output == "<lambda>(...)"
    for bad, message in [("nope", "key among 'logits', 'aux'"), (5, "key among")]:
        with pytest.raises(SmoothscopeError, match=message):
            adapt_model(dict_net(), x, output=bad)
    with pytest.raises(SmoothscopeError, match=r"index in \[0, 1\]"):
        adapt_model(tuple_net(), x, output=2)
    with pytest.raises(SmoothscopeError, match="selector"):
        adapt_model(tuple_net(), x, output=lambda out: out["x"])
    with pytest.raises(SmoothscopeError, match="expected an index, a key or a callable"):
        adapt_model(tuple_net(), x, output=1.5)
    with pytest.raises(SmoothscopeError, match="no tensor"):
        select_output(("a", None))


def test_refusals_are_one_line():
    x = _x()
    nan = nn.Conv2d(1, 2, 3)
    with torch.no_grad():
        nan.weight[0, 0, 0, 0] = math.nan
    cases = [
        (nan, {}, "weight holds NaN"),
        (build("lenet", in_channels=3), {}, r"does not accept inputs of shape \[2, 1, 16, 16\]"),
        (nn.Conv2d(3, 2, 3), {}, "first layer takes 3 channels"),
        (nn.Sequential(nn.Conv2d(1, 1, 1), nn.Threshold(2.0, math.inf)), {}, "non-finite"),
        (nn.Conv2d(1, 2, 3), {"layers": ["output", "nope"]}, "module names"),
        (nn.Conv2d(1, 2, 3), {"layers": []}, "at least one"),
        (_Scalar(), {}, r"batch \[B, ...\]"),
        (lambda t: t, {}, "torch.nn.Module"),
    ]
    for model, options, message in cases:
        with pytest.raises(SmoothscopeError, match=message) as info:
            adapt_model(model, x, **options)
        assert "\n" not in str(info.value)


class _Scalar(nn.Module):
    def forward(self, x):
        return x.sum()


def test_the_trial_pass_leaves_the_callers_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapt_model(model, _x())
    assert all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model[1].eval()  # a mixed state is restored module by module
    adapt_model(model, _x())
    assert model.training and not model[1].training
