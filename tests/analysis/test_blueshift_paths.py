"""Paper C §3 eq. 1, App. D.3: straight paths in weight space (analysis/paths.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from smoothscope import SmoothscopeError
from smoothscope.analysis.paths import OUTPUT, freeze_batchnorm_stats, weight_path


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny vmapped ops: on a shared 2-core machine, 2 OpenMP threads ran them up to 80× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# helpers


def _small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )


# ---------------------------------------------------------------------------------------------
# Paths in weight space (§3 eq. 1, App. D.3)


def test_batched_path_equals_a_per_point_loop():
    model = freeze_batchnorm_stats(_small_cnn(), torch.randn(4, 3, 8, 8))
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    names = ["0.weight", "3.weight", "6.bias"]
    params = dict(model.named_parameters())
    direction = {n: torch.randn(2, *params[n].shape, generator=g) for n in names}
    alpha, points = 0.5, 7
    rec = weight_path(
        model, x, direction=direction, alpha=alpha, points=points, n_directions=2, chunk_size=5
    )
    assert rec.layers == ["0", "1", "2", "3", "4", "5", "6", OUTPUT]
    assert rec.output.shape == (points, 2, 2, 3) and rec.layer("2").shape == (points, 2, 2, 4, 8, 8)
    assert rec.parameters == tuple(names) and rec.direction == "given"

    evaluator = model.double().eval()
    captured = {}
    evaluator[0].register_forward_hook(lambda m, a, o: captured.__setitem__("0", o.clone()))
    evaluator[1].register_forward_hook(lambda m, a, o: captured.__setitem__("1", o.clone()))
    for d in range(2):
        norm = math.sqrt(sum(float((direction[n][d].double() ** 2).sum()) for n in names))
        for j, t in enumerate(rec.t.tolist()):
            w = {n: params[n].double() + t / alpha * direction[n][d].double() / norm for n in names}
            out = functional_call(evaluator, w, (x.double(),))
            torch.testing.assert_close(rec.output[j, d], out, rtol=1e-12, atol=1e-12)
            # layer "1" (BatchNorm) before the in-place ReLU "2" modifies its output
            torch.testing.assert_close(rec.layer("1")[j, d], captured["1"], rtol=0, atol=1e-12)
            assert bool((rec.layer("1")[j, d] < 0).any())


def test_random_direction_has_unit_norm_and_is_reproducible():
    """f(x) = W x with x = I: the output moves by (D/α)ᵀ, so ‖Δ output‖ = 1/α at t = 1."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3, bias=False)
    x = torch.eye(5)
    rec = weight_path(model, x, alpha=0.25, points=4, n_directions=3, seed=7)
    change = rec.output[-1] - rec.output[0]  # [3 directions, 5, 3]
    norms = change.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((3,), 4.0, dtype=torch.float64))
    again = weight_path(model, x, alpha=0.25, points=4, n_directions=1, seed=7, chunk_size=1)
    torch.testing.assert_close(again.output[:, 0], rec.output[:, 0], rtol=0, atol=0)
    other = weight_path(model, x, alpha=0.25, points=4, n_directions=1, seed=8)
    assert not torch.equal(other.output, again.output)
    assert torch.equal(rec.t, torch.linspace(0, 1, 4, dtype=torch.float64))


def test_gradient_direction_is_the_normalised_gradient():
    torch.manual_seed(0)
    model = nn.Linear(4, 2, bias=False)
    x, y = torch.eye(4), torch.randn(4, 2)
    loss_fn = nn.functional.mse_loss
    rec = weight_path(
        model, x, direction="gradient", alpha=2.0, points=5, loss_fn=loss_fn, targets=y
    )
    w = model.weight.detach().double().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(x.double() @ w.T, y.double()), [w])
    expected = (grad / grad.norm() / 2.0).T  # Δ output at t = 1 with x = I
    torch.testing.assert_close(rec.output[-1, 0] - rec.output[0, 0], expected)
    assert rec.direction == "gradient" and rec.loss.shape == (5, 1)
    assert float(rec.loss[-1, 0]) > float(rec.loss[0, 0])  # the ascent direction


def test_layers_to_perturb_leaves_earlier_layers_fixed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(5, 3)
    rec = weight_path(model, x, layers_to_perturb=["2"], alpha=0.5, points=6, n_directions=2)
    assert rec.parameters == ("2.weight", "2.bias")
    first = rec.layer("0")
    assert torch.equal(first, first[:1].expand_as(first))
    assert not torch.equal(rec.output, rec.output[:1].expand_as(rec.output))
    only_output = weight_path(model, x, record=[OUTPUT], points=4)
    assert only_output.layers == [OUTPUT]


def test_freeze_batchnorm_stats_uses_the_batch_at_w():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    x = torch.randn(64, 3) * 3 + 1
    frozen = freeze_batchnorm_stats(model, x)
    pre = model[0](x).detach()
    torch.testing.assert_close(frozen[1].running_mean, pre.mean(0))
    torch.testing.assert_close(frozen[1].running_var, pre.var(0))
    assert not frozen.training and torch.equal(model[1].running_mean, torch.zeros(4))
    out = frozen(x)
    torch.testing.assert_close(out.mean(0), frozen[1].bias.detach(), atol=1e-5, rtol=0)


def test_path_errors():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    x = torch.randn(3, 2)
    with pytest.raises(SmoothscopeError, match="points: expected at least 4, got 3"):
        weight_path(model, x, points=3)
    for alpha in (0, -1.0, math.nan):
        with pytest.raises(SmoothscopeError, match="alpha"):
            weight_path(model, x, alpha=alpha)
    with pytest.raises(SmoothscopeError, match=r"layers_to_perturb.*'nope'"):
        weight_path(model, x, layers_to_perturb=["nope"])
    with pytest.raises(SmoothscopeError, match=r"record.*'nope'"):
        weight_path(model, x, record=["nope"])
    with pytest.raises(SmoothscopeError, match=r"direction: expected parameter names.*'0.w'"):
        weight_path(model, x, direction={"0.w": torch.ones(2, 2)})
    with pytest.raises(SmoothscopeError, match=r"direction\['0.bias'\]: expected shape"):
        weight_path(model, x, direction={"0.bias": torch.ones(3)})
    with pytest.raises(SmoothscopeError, match="nonzero"):
        weight_path(model, x, direction={"0.bias": torch.zeros(2)})
    with pytest.raises(SmoothscopeError, match="loss_fn, targets"):
        weight_path(model, x, direction="gradient")
    with pytest.raises(SmoothscopeError, match="n_directions: expected 1"):
        weight_path(model, x, direction="gradient", n_directions=2, loss_fn=nn.MSELoss(),
                    targets=torch.zeros(3, 2))  # fmt: skip
    with pytest.raises(SmoothscopeError, match="direction: expected None"):
        weight_path(model, x, direction="sideways")


class _Sqrt(nn.Module):
    def forward(self, x):
        return torch.sqrt(x)


def test_nan_along_the_path_names_the_layer():
    model = nn.Sequential(nn.Linear(1, 1), _Sqrt(), nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(0.5)
    x = torch.ones(2, 1)
    with pytest.raises(SmoothscopeError, match=r"NaN or inf in layer '1' at t = 0\.333"):
        weight_path(model, x, direction={"0.bias": -torch.ones(1)}, alpha=0.5, points=7)
    with pytest.raises(SmoothscopeError, match="the model output"):
        weight_path(model, x, direction={"0.bias": -torch.ones(1)}, alpha=0.5, points=7,
                    record=[OUTPUT])  # fmt: skip
