"""D, G, R (paper B eq. 1): closed forms, batching, layers, determinism, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.analysis.stability import OUTPUT, default_temperature, relative_stability
from smoothscope.data.diffeo import random_diffeo


def _images(n=12, side=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.avg_pool2d(
        torch.rand(n, 1, side + 4, side + 4, generator=g), 5, stride=1
    )
    return smooth.double()


def test_identity_has_R_exactly_one():
    """f(x) = x: the noise has the norm of the deformation, so D = G sample by sample."""
    result = relative_stability(nn.Identity(), _images(), diffeos_per_input=3, batch_size=4)
    (row,) = result.rows
    assert row["layer"] == OUTPUT and row["relative_depth"] == 1.0
    assert row["R"] == pytest.approx(1.0, rel=1e-9)
    assert row["D"] == pytest.approx(row["G"], rel=1e-9)
    assert 0 < row["D"] < 1


def test_layers_from_one_forward_pass_match_their_own_runs():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(256, 3)
    )
    x = _images()
    both = relative_stability(model, x, layers=["1", OUTPUT], seed=3, batch_size=6)
    alone = relative_stability(model, x, layers=["1"], seed=3, batch_size=6)
    assert [r["layer"] for r in both.rows] == ["1", OUTPUT]
    assert both.rows[0]["D"] == pytest.approx(alone.rows[0]["D"], rel=1e-12)
    again = relative_stability(model, x, layers=["1", OUTPUT], seed=3, batch_size=6)
    assert again.rows == both.rows
    other = relative_stability(model, x, layers=["1", OUTPUT], seed=4, batch_size=6)
    assert other.rows != both.rows


def test_batched_agrees_with_a_one_at_a_time_computation():
    """The straightforward way: each diffeomorphism and each layer in its own forward pass."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3))
    x = _images(n=16)
    T, cut = default_temperature(16), 3
    fast = relative_stability(
        model,
        x,
        layers=["1", "2"],
        temperature=T,
        cut=cut,
        diffeos_per_input=4,
        batch_size=16,
        seed=0,
    )
    g = torch.Generator().manual_seed(11)
    for k, layer in enumerate(["1", "2"]):
        sub = model[: int(layer) + 1].double()
        num_d, num_g = [], []
        for i in range(x.shape[0]):
            for _ in range(4):
                tau = random_diffeo(x[i : i + 1], T, cut, generator=g)
                noise = torch.randn(x[i : i + 1].shape, generator=g, dtype=torch.float64)
                noise *= (tau - x[i : i + 1]).norm() / noise.norm()
                with torch.no_grad():
                    f0 = sub(x[i : i + 1])
                    num_d.append(((sub(tau) - f0) ** 2).sum())
                    num_g.append(((sub(x[i : i + 1] + noise) - f0) ** 2).sum())
        with torch.no_grad():
            f = sub(x).flatten(1)
        den = torch.cdist(f, f).pow(2).sum() / (x.shape[0] * (x.shape[0] - 1))
        slow_d = torch.stack(num_d).mean() / den
        row = fast.rows[k]
        se = (row["D_se"] ** 2 + (row["D_se"]) ** 2) ** 0.5
        assert abs(float(slow_d) - row["D"]) < 4 * se + 1e-12


def test_zoo_style_models_use_their_representation_layers():
    class Net(nn.Sequential):
        def representation_layers(self):
            return ["1", "3"]

    torch.manual_seed(0)
    model = Net(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 14 * 14, 2))
    result = relative_stability(model, _images(n=6), batch_size=3)
    assert [r["layer"] for r in result.rows] == ["1", "3"]
    assert [r["relative_depth"] for r in result.rows] == [0.5, 1.0]


def test_bad_input():
    x = _images(n=4)
    with pytest.raises(SmoothscopeError, match="square"):
        relative_stability(nn.Identity(), x[..., :-1])
    with pytest.raises(SmoothscopeError, match="at least 2 images"):
        relative_stability(nn.Identity(), x[:1])
    with pytest.raises(SmoothscopeError, match="batch_size"):
        relative_stability(nn.Identity(), x, batch_size=1)
    with pytest.raises(SmoothscopeError, match="module names"):
        relative_stability(nn.Sequential(nn.ReLU()), x, layers=["9"])
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(SmoothscopeError, match="finite"):
        relative_stability(nn.Identity(), bad)
    with pytest.raises(SmoothscopeError, match=r"\[N, C, n, n\]"):
        relative_stability(nn.Identity(), x[0])


def test_a_dead_layer_has_undefined_sensitivities():
    dead = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with torch.no_grad():
        dead[0].weight.zero_()
        dead[0].bias.fill_(-1.0)
    (row,) = relative_stability(dead, _images(n=4), layers=["1"], batch_size=2).rows
    assert all(row[k] != row[k] for k in ("D", "G", "R"))  # NaN


def test_function_constant_and_identical_inputs_raise_clear_errors():
    x = _images(n=4)
    with pytest.raises(SmoothscopeError, match=r"torch\.nn\.Module"):
        relative_stability(lambda t: t, x)
    with pytest.raises(SmoothscopeError, match="constant images"):
        relative_stability(nn.Identity(), torch.rand(4, 1, 1, 1).expand(4, 1, 8, 8).double())
    with pytest.raises(SmoothscopeError, match="same image"):
        relative_stability(nn.Identity(), x[:1].expand(4, -1, -1, -1))
    with pytest.raises(SmoothscopeError, match="real"):
        relative_stability(nn.Identity(), x.to(torch.complex128))
    with pytest.raises(SmoothscopeError, match="both"):
        relative_stability(nn.Identity(), x, temperature=0.01, delta=1.0)
    for option in ({"convention": "theirs"}, {"pairs": "some"}, {"interpolation": "cubic"}):
        with pytest.raises(SmoothscopeError, match=next(iter(option))):
            relative_stability(nn.Identity(), x, **option)


def test_paired_standard_error_of_R_vanishes_when_d_equals_g():
    """f(x) = x: d = g for every draw, so R = 1 exactly and its paired s.e. is 0."""
    (row,) = relative_stability(nn.Identity(), _images(), diffeos_per_input=3, batch_size=4).rows
    assert row["R"] == pytest.approx(1.0, rel=1e-12)
    assert row["R_se"] == pytest.approx(0.0, abs=1e-10)
    assert row["D_se"] > 0


def test_peer_options_all_pairs_delta_and_nearest():
    from smoothscope.data.diffeo import temperature_for_displacement

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 14 * 14, 2))
    x = _images(n=8)
    base = relative_stability(model, x, layers=["1", OUTPUT], batch_size=4, seed=2)
    every = relative_stability(model, x, layers=["1", OUTPUT], batch_size=4, seed=2, pairs="all")
    for a, b in zip(base.rows, every.rows, strict=True):  # same draws, denominator × (b-1)/b
        assert b["D"] == pytest.approx(a["D"] * 4 / 3, rel=1e-10)
        assert b["G"] == pytest.approx(a["G"] * 4 / 3, rel=1e-10)
        assert b["R"] == pytest.approx(a["R"], rel=1e-12)
    peer = relative_stability(model, x, layers=[OUTPUT], batch_size=4, seed=2, convention="peer")
    assert peer.temperature == pytest.approx(temperature_for_displacement(1.0, 3, 16))
    assert peer.extra["pairs"] == "all" and peer.extra["convention"] == "peer"
    explicit = relative_stability(model, x, layers=[OUTPUT], batch_size=4, seed=2, delta=1.0,
                                  pairs="all")  # fmt: skip
    assert explicit.rows == peer.rows
    override = relative_stability(model, x, layers=[OUTPUT], batch_size=4, seed=2,
                                  convention="peer", pairs="distinct")  # fmt: skip
    assert override.extra["pairs"] == "distinct"
    near = relative_stability(model, x, layers=[OUTPUT], batch_size=4, seed=2,
                              interpolation="nearest")  # fmt: skip
    assert near.extra["interpolation"] == "nearest" and near.rows[0]["D"] != base.rows[1]["D"]


def test_float32_forward_with_float64_accumulation_agrees_with_float64():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
    x = _images(n=8)
    r64 = relative_stability(model.double(), x, layers=["1", "3"], batch_size=4, seed=3)
    r32 = relative_stability(model.float(), x, layers=["1", "3"], batch_size=4, seed=3)
    for a, b in zip(r64.rows, r32.rows, strict=True):
        for key in ("D", "G", "R"):
            assert b[key] == pytest.approx(a[key], rel=1e-5)


def test_device_option_and_a_clear_error_without_cuda():
    x = _images(n=4)
    result = relative_stability(nn.Identity(), x, batch_size=2, device="cpu")
    assert result.extra["device"] == "cpu"
    auto = relative_stability(nn.Identity(), x, batch_size=2, device="auto")
    assert auto.rows == result.rows or torch.cuda.is_available()
    with pytest.raises(SmoothscopeError, match="device"):
        relative_stability(nn.Identity(), x, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SmoothscopeError, match="no CUDA"):
            relative_stability(nn.Identity(), x, device="cuda")


def test_channels_last_layout_gives_the_same_numbers():
    """Image models run in channels-last layout; the rows are read in memory order, which no
    quantity depends on (only squared norms and pair distances)."""
    from smoothscope.analysis import stability

    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3), nn.ReLU())
    x = _images(n=8)
    fast = relative_stability(model.double(), x, layers=["1", "3"], batch_size=4, seed=5)
    try:
        stability.CHANNELS_LAST = False
        plain = relative_stability(model.double(), x, layers=["1", "3"], batch_size=4, seed=5)
    finally:
        stability.CHANNELS_LAST = True
    for a, b in zip(fast.rows, plain.rows, strict=True):
        for key in ("D", "D_se", "G", "G_se", "R", "R_se"):
            assert a[key] == pytest.approx(b[key], rel=1e-10)


def test_target_rse_samples_until_the_precision_is_reached():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3))
    x = _images(n=8)
    one = relative_stability(model, x, layers=["1", "2"], diffeos_per_input=2, batch_size=4)
    assert one.extra["rounds"] == [2] and one.diffeos_per_input == 2
    last = one.rows[-1]
    assert last["R_se"] / last["R"] > 0.02  # the test needs more than the first round
    sampled = relative_stability(model, x, layers=["1", "2"], diffeos_per_input=2,
                                 batch_size=4, target_rse=0.02)  # fmt: skip
    rounds = sampled.extra["rounds"]
    assert len(rounds) >= 2 and rounds[0] == 2 and sampled.diffeos_per_input == sum(rounds)
    last = sampled.rows[-1]
    assert last["R_se"] / last["R"] <= 0.02
    # the first round is the fixed-count call itself: same generator, same first draws
    assert sampled.rows[0]["D"] != one.rows[0]["D"]  # later rounds pooled in
    capped = relative_stability(model, x, layers=["1", "2"], diffeos_per_input=2,
                                batch_size=4, target_rse=1e-6, max_diffeos_per_input=5)  # fmt: skip
    assert capped.diffeos_per_input == 5
    with pytest.raises(SmoothscopeError, match="target_rse"):
        relative_stability(model, x, target_rse=0)
