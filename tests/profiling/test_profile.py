"""smoothscope profile: the four lenses on known models, comparisons, the card and bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.cli import main
from smoothscope.profiling import (
    ProfileSettings,
    compare_profiles,
    fourier_rotate,
    fourier_shift,
    load_profile,
    profile,
    smooth_trajectories,
    write_profile_dir,
)
from smoothscope.signals import nonsmoothness_maps

TINY = ProfileSettings(
    a_images=2,
    a_frames=20,
    b_inputs=16,
    b_diffeos=1,
    c_images=2,
    c_directions=3,
    c_points=64,
    d_scales=(1, 2, 3),
)


def _images(n: int = 16, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(n, 1, size + 4, size + 4, generator=g), 5, 1)
    return smooth.float()


def _twin(activation: type[nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        activation(),
        nn.Conv2d(8, 8, 3, padding=1),
        activation(),
        nn.Conv2d(8, 1, 3, padding=1),
    )


@pytest.fixture(scope="module")
def twins():
    x = _images()
    return {
        act.__name__: profile(_twin(act), x, settings=TINY, seed=0, name=act.__name__)
        for act in (nn.ReLU, nn.Softplus)
    }


# ----------------------------------------------------------------------------- trajectories


def test_fourier_shift_and_rotation_are_exact_where_closed_forms_exist():
    x = torch.rand(2, 1, 12, 12, dtype=torch.float64)
    rolled = torch.roll(x, (1, -2), (-2, -1))
    assert torch.allclose(fourier_shift(x, torch.tensor(1.0), torch.tensor(-2.0)), rolled)
    assert torch.allclose(fourier_rotate(x, torch.tensor(0.0)), x, atol=1e-14)
    # shifts compose (odd sides: an even side's Nyquist term keeps only its real part)
    odd = torch.rand(2, 1, 13, 13, dtype=torch.float64)
    half = fourier_shift(fourier_shift(odd, torch.tensor(0.0), torch.tensor(0.3)), 0.0, 0.7)
    assert torch.allclose(half, torch.roll(odd, 1, -1), atol=1e-12)


def test_trajectories_are_smooth_in_time():
    videos = smooth_trajectories(_images(3), frames=24)
    assert set(videos) == {"translate", "rotate", "ramp"}
    for kind, v in videos.items():
        assert v.shape == (3, 24, 1, 16, 16) and v.dtype == torch.float64
        for video in v:  # paper A's peak rule finds no kink in any pixel's time series
            maps = nonsmoothness_maps(video)
            assert int((maps.n_peaks > 0).sum()) == 0, kind
    d2 = videos["ramp"][:, 2:] - 2 * videos["ramp"][:, 1:-1] + videos["ramp"][:, :-2]
    assert float(d2.abs().max()) < 1e-14  # exactly linear in t
    with pytest.raises(SmoothscopeError, match="kinds"):
        smooth_trajectories(_images(2), kinds=("zoom",))
    with pytest.raises(SmoothscopeError, match="frames"):
        smooth_trajectories(_images(2), frames=3)


# ----------------------------------------------------------------------------- known models


def test_linear_model_has_no_nonsmoothness_and_linear_paths():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1))
    p = profile(model, _images(), settings=TINY, lenses=("A", "C"))
    a = {r["layer"]: r for r in p.lenses["A"]["layers"]}
    for name in ("0", "output"):  # a linear map of smooth videos has no peak
        assert a[name]["peak_share"] == 0.0 and a[name]["smp_share"] == 0.0
    ramps = [k for k in p.lenses["A"]["by_trajectory"] if k.endswith("|ramp")]
    for key in ramps:  # and along the noise ramp it is exactly linear: eq. 4 is rounding noise
        assert p.lenses["A"]["by_trajectory"][key]["ave_nonsmooth"] < 1e-12
    for row in p.lenses["C"]["layers"]:  # a layer linear in its weights: linear paths, not fitted
        assert row["path_kind"] == "linear" and math.isnan(row["h"])


def test_relu_network_is_rougher_than_its_softplus_twin(twins):
    relu, soft = twins["ReLU"], twins["Softplus"]
    a_relu = {r["layer"]: r for r in relu.lenses["A"]["layers"]}
    a_soft = {r["layer"]: r for r in soft.lenses["A"]["layers"]}
    c_relu = {r["layer"]: r for r in relu.lenses["C"]["layers"]}
    c_soft = {r["layer"]: r for r in soft.lenses["C"]["layers"]}
    for layer in ("1", "2", "3", "4", "output"):  # every layer after the first ReLU
        # lens A: the ReLU twin has peaks in > 0.5 % of the units of every layer (measured
        # 0.8 %–12 %), the softplus twin in none
        assert a_relu[layer]["peak_share"] > 0.005
        assert a_soft[layer]["peak_share"] == 0.0
        # lens C: ReLU paths are rougher by more than 3 units of h (measured h 1.9–3.2 against
        # 6.6–6.8; the tapered estimator resolves h up to about 7 here)
        assert c_relu[layer]["h"] + 3.0 < c_soft[layer]["h"]
    assert max(a_relu[n]["peak_share"] for n in ("1", "2", "3", "4")) > 0.05
    assert a_relu["input"]["peak_share"] == a_soft["input"]["peak_share"] == 0.0


def test_lens_b_and_d_on_a_pixel_cnn(twins):
    relu = twins["ReLU"]
    rows = relu.lenses["B"]["layers"]
    assert [r["layer"] for r in rows] == relu.layers
    assert all(r["D"] > 0 and r["G"] > 0 and r["D_se"] >= 0 for r in rows)
    d = relu.lenses["D"]
    assert d["applies"] and len(d["output_jump"]) == 3
    # fixed pixel kernels shrink with the pixels: the edge stays sharp, beta ~ 0 (paper D's
    # continuity needs resolution-independent kernels)
    assert abs(d["beta"]) < 0.3
    assert all(j > 0.5 for j in d["input_jump"])  # the input edge itself stays sharp


def test_compare_with_itself_gives_zero_differences(twins, tmp_path):
    relu = twins["ReLU"]
    same = compare_profiles(relu, relu)
    assert same.rows and all(r["difference"] == 0 and r["covers_zero"] for r in same.rows)
    assert all(r["low"] <= 0 <= r["high"] for r in same.rows if math.isfinite(r["low"]))
    other = compare_profiles(relu, twins["Softplus"])
    assert any(not r["covers_zero"] for r in other.rows if r["lens"] == "C")
    files = write_profile_dir(other, tmp_path / "cmp")
    page = (tmp_path / "cmp" / "card.html").read_text()
    assert "Differences (b − a)" in page and "<script" not in page
    assert page.count('src="data:image/png;base64,') >= 4
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["differences"]
    assert set(files) == {"json", "card"}


def test_profile_round_trips_through_json(twins, tmp_path):
    files = write_profile_dir(twins["ReLU"], tmp_path / "p")
    back = load_profile(files["json"])
    assert back.layers == twins["ReLU"].layers
    assert compare_profiles(back, twins["ReLU"]).rows  # NaN/None survive the trip
    csv = (tmp_path / "p" / "profile.csv").read_text().splitlines()
    assert csv[0] == "lens,layer,metric,value,se" and len(csv) == len(twins["ReLU"].table()) + 1


# ----------------------------------------------------------------------------- bad input


def test_bad_models_and_inputs():
    x = _images(4)
    with pytest.raises(SmoothscopeError, match=r"does not accept inputs of shape \[2, 1, 16, 16\]"):
        profile(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), x, settings=TINY)
    with pytest.raises(SmoothscopeError, match="non-finite"):
        profile(nn.Sequential(nn.Conv2d(1, 1, 1), nn.LogSigmoid(), nn.Threshold(0, math.nan)), x)
    with pytest.raises(SmoothscopeError, match="lenses"):
        profile(_twin(nn.ReLU), x, lenses=("E",))
    with pytest.raises(SmoothscopeError, match="inputs"):
        profile(_twin(nn.ReLU), torch.rand(4, 16, 16))
    # no parameters: lens C does not apply, the others run
    p = profile(nn.Sequential(nn.ReLU(), nn.AvgPool2d(2)), x, settings=TINY, lenses=("A", "C"))
    assert p.lenses["C"]["applies"] is False and "no parameters" in p.lenses["C"]["reason"]
    assert p.lenses["A"]["layers"]
    # not fully convolutional: lens D says why
    flat = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 14 * 14, 3))
    d = profile(flat, x, settings=TINY, lenses=("D",)).lenses["D"]
    assert d["applies"] is False and "fully convolutional" in d["reason"]


def test_cli_profile_and_compare(tmp_path, capsys):
    images = tmp_path / "x.npy"
    import numpy as np

    np.save(images, _images(8, 28)[:, 0].numpy())
    out = tmp_path / "prof"
    argv = ["profile", "--model", "autoencoder", "--model-arg", "setup=relu_maxpool"]
    argv += ["--inputs", str(images), "--quick", "--lenses", "A,D", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "peak share" in text and "card:" in text
    assert {p.name for p in out.iterdir()} == {"profile.json", "profile.csv", "card.html"}
    assert main(["profile", "--compare", str(out / "profile.json"), str(out / "profile.json"),
                 "--out", str(tmp_path / "cmp")]) == 0
    assert "0 of" in capsys.readouterr().out
    # bad input: one line, exit 2, nothing written
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array(["a", "b"]))
    for args, message in [
        (["--inputs", str(bad)], "real numeric array"),
        (["--inputs", "nowhere"], "--inputs: expected one of"),
        (["--lenses", "A,Z"], "lenses"),
    ]:
        base = ["profile", "--model", "autoencoder", "--model-arg", "setup=relu_maxpool"]
        assert main([*base, *args, "--out", str(tmp_path / "never")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "never").exists()


# ----------------------------------------------------------------------------- issue 28


SEEDS = ProfileSettings(
    a_images=1,
    a_frames=12,
    b_inputs=8,
    b_diffeos=1,
    c_images=1,
    c_directions=3,
    c_points=32,
    d_scales=(1, 2),
)


@pytest.fixture(scope="module")
def seeds():
    """Profiles of four initialisations of one ReLU CNN and two of its softplus twin, each
    profiled with its own seed."""
    from _user_models import tiny_cnn

    x = _images(8, 12)
    relu = [profile(tiny_cnn(seed=s), x, settings=SEEDS, seed=s, name="relu") for s in range(4)]
    soft = [
        profile(tiny_cnn(seed=s, activation="softplus"), x, settings=SEEDS, seed=s, name="soft")
        for s in range(2)
    ]
    return relu, soft


def test_two_seeds_of_one_architecture_show_no_significant_difference(seeds):
    relu, soft = seeds
    # one initialisation per side: the intervals hold sampling noise only, and seed noise
    # passes for an effect (the defect of issue 28)
    single = compare_profiles(relu[0], relu[2])
    assert sum(not r["covers_zero"] for r in single.rows) > 0
    assert "ignore init-to-init variation" in single.summary()
    # two initialisations per side: their spread enters the intervals
    pooled = compare_profiles(relu[:2], relu[2:])
    assert pooled.init_variation and pooled.rows
    assert not any(r["significant"] for r in pooled.rows)
    assert all(r["n_a"] == 2 and r["n_b"] == 2 for r in pooled.rows if r["lens"] == "B")
    # the control on which the same rule can fail: ReLU against softplus, two seeds each
    control = compare_profiles(relu[:2], soft)
    assert any(r["significant"] and r["lens"] == "C" for r in control.rows)
    # Holm: adjusted p-values are monotone in the raw ones and never below them
    tested = sorted((r for r in control.rows if math.isfinite(r["p"])), key=lambda r: r["p"])
    assert all(r["p_holm"] >= r["p"] for r in tested)
    assert [r["p_holm"] for r in tested] == sorted(r["p_holm"] for r in tested)
    with pytest.raises(SmoothscopeError, match="one architecture"):
        compare_profiles([relu[0], twin_with_other_layers()], relu[1])


def twin_with_other_layers():
    x = _images(4, 12)
    return profile(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)), x, settings=SEEDS, lenses="A")


def test_compare_several_profiles_per_side_from_the_cli(seeds, tmp_path, capsys):
    relu, _ = seeds
    paths = []
    for i, p in enumerate(relu):  # profile.json files, or their folders
        (tmp_path / f"seed{i}").mkdir()
        paths.append(str(tmp_path / f"seed{i}" / "profile.json"))
        p.to_json(paths[-1])
    side_a, side_b = f"{paths[0]},{paths[1]}", f"{tmp_path / 'seed2'},{tmp_path / 'seed3'}"
    out = tmp_path / "cmp"
    assert main(["profile", "--compare", side_a, side_b, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("0 of") and "init-to-init variation included" in printed
    data = json.loads((out / "comparison.json").read_text())
    assert len(data["a"]) == 2 and data["labels"][0] == "relu ×2 (seeds 0, 1)"
    assert "Holm" in (out / "card.html").read_text()


def test_dataframe_html_and_figures(twins, seeds):
    pd = pytest.importorskip("pandas")
    relu = twins["ReLU"]
    frame = relu.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(relu.table())
    assert list(frame.columns) == ["model", "seed", "lens", "layer", "metric", "value", "se"]
    html = relu._repr_html_()
    assert "<table>" in html and "Lens B" in html and "<script" not in html
    figure = relu.plot("B")
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 3  # D, G, R
    assert len(relu.plot().axes) == 4 * 3  # one row per lens
    comparison = compare_profiles(seeds[0][:2], seeds[0][2:])
    assert list(comparison.to_dataframe().columns)[:3] == ["lens", "layer", "metric"]
    assert "Holm" in comparison._repr_html_() and comparison.plot("A").axes
    with pytest.raises(SmoothscopeError, match="lens"):
        relu.plot("Z")
    import matplotlib.pyplot as plt

    plt.close("all")


def test_to_dataframe_without_pandas_says_how_to_get_it(twins, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(SmoothscopeError, match=r"smoothscope\[pandas\]"):
        twins["ReLU"].to_dataframe()


def test_lens_b_on_non_square_images():
    from smoothscope.data.diffeo import random_diffeo
    from smoothscope.profiling.lenses import rectangular_diffeo

    # on a square image the rectangular deformation is the paper's (same draws, same remap)
    x = _images(3, 10).double()
    ours = rectangular_diffeo(x, 0.01, 3.0, 2, torch.Generator().manual_seed(5))
    reference = random_diffeo(x, 0.01, 3.0, generator=torch.Generator().manual_seed(5),
                              per_image=2)  # fmt: skip
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    wide = _images(8, 24)[..., :12, :]  # [8, 1, 12, 24]
    p = profile(_twin(nn.ReLU), wide, settings=TINY, lenses=("B",))
    rows = p.lenses["B"]["layers"]
    assert all(0 < r["D"] and 0 < r["R"] for r in rows)
    assert p.lenses["B"]["temperature"] > 0
