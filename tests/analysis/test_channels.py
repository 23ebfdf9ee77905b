"""SMP channels of paper A, §V: parameter recovery, likelihoods, sampling, chaining, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from smoothscope import SmoothscopeError
from smoothscope.analysis.channels import (
    PAPER_MAXPOOL_THRESHOLD,
    BernoulliGaussianChannel,
    EmpiricalChannel,
    LinearChannel,
    MaxPoolChannel,
    distribution_distance,
    r_squared,
    wilson_interval,
    zero_split_distance,
)

# ----------------------------------------------------------------------------- Bernoulli–Gaussian


def _bernoulli_gaussian_data(n, theta, sigma, beta, seed, scale=1.0, clip=True):
    """x ~ Exp(scale); y from eq. (7) with slope beta, clipped at 0 (an SMP) unless told."""
    rng = np.random.default_rng(seed)
    x = rng.exponential(scale, n)
    on = rng.random(n) < theta
    y = np.where(on, beta * x + sigma * rng.standard_normal(n), 0.0)
    return x, (np.maximum(y, 0.0) if clip else y)


# (θ, σ, scale of x): the case, a moderate one and two noisy ones (σ ~ x)
BG_CASES = [(0.35, 0.004, 0.02), (0.3, 0.05, 1.0), (0.7, 0.5, 1.0), (0.5, 1.0, 1.0)]


@pytest.mark.parametrize(("theta", "sigma", "scale"), BG_CASES)
@pytest.mark.parametrize("clip", [True, False])
def test_bernoulli_gaussian_censored_fit_recovers_the_parameters(theta, sigma, scale, clip):
    x, y = _bernoulli_gaussian_data(20000, theta, sigma, 1.0, seed=0, scale=scale, clip=clip)
    ch = BernoulliGaussianChannel.fit(x, y)
    assert ch.censored == clip and ch.converged and ch.n == 20000
    assert ch.theta == pytest.approx(theta, rel=0.03)
    assert ch.sigma == pytest.approx(sigma, rel=0.03)
    assert ch.slope == 1.0


def test_bernoulli_gaussian_naive_fit_is_biased_on_clipped_draws():
    # the reason for the censored fit: counting every zero as "off" biases θ and σ low
    theta, sigma = 0.35, 0.004
    x, y = _bernoulli_gaussian_data(20000, theta, sigma, 1.0, seed=0, scale=0.02)
    on = y > 0
    assert on.mean() < 0.95 * theta and np.sqrt(np.mean((y[on] - x[on]) ** 2)) < 0.97 * sigma
    censored = BernoulliGaussianChannel.fit(x, y)
    naive = BernoulliGaussianChannel(on.mean(), np.sqrt(np.mean((y[on] - x[on]) ** 2)))
    assert censored.loglik(x, y) > naive.loglik(x, y)


def test_bernoulli_gaussian_fits_the_slope_of_a_smooth_activation():
    x, y = _bernoulli_gaussian_data(20000, theta=0.3, sigma=0.05, beta=0.6, seed=1)
    ch = BernoulliGaussianChannel.fit(x, y, slope="fit")
    assert ch.slope == pytest.approx(0.6, rel=0.02)
    assert ch.theta == pytest.approx(0.3, rel=0.03)
    assert ch.sigma == pytest.approx(0.05, rel=0.03)
    np.testing.assert_allclose(ch.mean([0.0, 2.0]), [0.0, 2.0 * ch.theta * ch.slope])


def test_bernoulli_gaussian_ml_fit_beats_the_true_parameters():
    x, y = _bernoulli_gaussian_data(5000, theta=0.3, sigma=0.5, beta=1.0, seed=2)
    fitted = BernoulliGaussianChannel.fit(x, y)
    true = BernoulliGaussianChannel(theta=0.3, sigma=0.5)
    assert true.loglik(x, y) <= fitted.loglik(x, y)
    # the ML point is a maximum: nudging either parameter lowers the likelihood
    for theta, sigma in [(1.02, 1.0), (0.98, 1.0), (1.0, 1.02), (1.0, 0.98)]:
        nudged = BernoulliGaussianChannel(fitted.theta * theta, fitted.sigma * sigma)
        assert nudged.loglik(x, y) < fitted.loglik(x, y)


def log_n(v, m, s):
    return -0.5 * ((v - m) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))


def test_bernoulli_gaussian_loglik_by_hand():
    ch = BernoulliGaussianChannel(theta=0.4, sigma=0.5)
    x = [1.0, 2.0, 0.5]
    y = [0.0, 2.5, 0.5]
    # censored: a zero is "off" or "on with N(x, σ) <= 0"
    zero = math.log(0.6 + 0.4 * norm.cdf(-1.0 / 0.5))
    expected = zero + 2 * math.log(0.4) + log_n(2.5, 2.0, 0.5) + log_n(0.5, 0.5, 0.5)
    assert ch.loglik(x, y) == pytest.approx(expected, rel=1e-12)
    assert ch.loglik(torch.tensor(x), torch.tensor(y)) == pytest.approx(expected, rel=1e-6)
    assert ch.loglik([1.0], [-0.1]) == -math.inf  # a censored channel cannot emit y < 0
    # raw draws: a zero is the δ component alone, a negative value a Gaussian draw
    raw = BernoulliGaussianChannel(theta=0.4, sigma=0.5, censored=False)
    assert raw.loglik([*x, 1.0], [*y, -0.2]) == pytest.approx(
        math.log(0.6)
        + 3 * math.log(0.4)
        + log_n(2.5, 2.0, 0.5)
        + log_n(0.5, 0.5, 0.5)
        + log_n(-0.2, 1.0, 0.5),
        rel=1e-12,
    )
    # zero_tol moves the censoring point
    tol = BernoulliGaussianChannel(0.4, 0.5, zero_tol=0.6)
    assert tol.loglik(x, y) == pytest.approx(
        math.log(0.6 + 0.4 * norm.cdf((0.6 - 1.0) / 0.5))
        + math.log(0.6 + 0.4 * norm.cdf((0.6 - 0.5) / 0.5))
        + math.log(0.4)
        + log_n(2.5, 2.0, 0.5),
        rel=1e-12,
    )


def test_bernoulli_gaussian_sample_reproduces_the_zero_share():
    rng = np.random.default_rng(3)
    x = rng.exponential(1.0, 20000)
    ch = BernoulliGaussianChannel(theta=0.3, sigma=0.05)
    raw = ch.sample(x, np.random.default_rng(4), clip=False)
    assert raw.shape == x.shape
    assert np.mean(raw == 0) == pytest.approx(0.7, abs=0.01)
    clipped = ch.sample(x, np.random.default_rng(4))
    assert clipped.min() >= 0
    # clipped: the off nodes plus the on draws that fell below zero, P = Φ(−x/σ)
    expected = 0.7 + 0.3 * np.mean(norm.cdf(-x / 0.05))
    assert np.mean(clipped == 0) == pytest.approx(expected, abs=0.01)
    assert raw.mean() == pytest.approx(ch.mean(x).mean(), rel=0.03)
    assert ch.sample(np.ones((2, 3)), rng).shape == (2, 3)


# ----------------------------------------------------------------------------- max pooling

TRUE = dict(mu0=0.001, sigma0=0.0005, pi0=0.7, sigma1=0.002, mu2=0.01, sigma2=0.003)
NOISY = dict(mu0=0.002, sigma0=0.002, pi0=0.5, sigma1=0.004, mu2=0.006, sigma2=0.004)


def _max_pool_data(n, a, seed, params=TRUE, clip=True):
    """10 % x == 0, 30 % x ~ U(0, a), 60 % x ~ a + Exp(0.01); y from eq. (8), clipped at 0."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    x = np.where(
        u < 0.1, 0.0, np.where(u < 0.4, rng.uniform(0, a, n), a + rng.exponential(0.01, n))
    )
    return x, MaxPoolChannel(threshold=a, **params).sample(x, rng, clip=clip)


@pytest.mark.parametrize("params", [TRUE, NOISY], ids=["moderate", "noisy"])
@pytest.mark.parametrize("clip", [True, False])
def test_max_pool_censored_em_recovers_the_parameters(params, clip):
    x, y = _max_pool_data(20000, PAPER_MAXPOOL_THRESHOLD, seed=0, params=params, clip=clip)
    if clip:  # the noisy case clips 16 % of the low side and ~7 % of the high side
        assert np.mean(y == 0) > (0.1 if params is NOISY else 0.01)
    ch = MaxPoolChannel.fit(x, y, threshold=PAPER_MAXPOOL_THRESHOLD)
    assert ch.threshold == PAPER_MAXPOOL_THRESHOLD and ch.threshold_search is None
    assert ch.censored == clip
    assert ch.n_low + ch.n_high == 20000 and ch.n_low == np.count_nonzero(x < 0.0025)
    assert ch.converged and 1 <= ch.n_iter < 2000
    for name, value in params.items():
        assert getattr(ch, name) == pytest.approx(value, rel=0.03), name


def test_max_pool_naive_em_would_be_biased():
    # ignoring the censoring (zeros taken as observed values) shrinks σ0 and moves μ0
    x, y = _max_pool_data(20000, PAPER_MAXPOOL_THRESHOLD, seed=0, params=NOISY)
    low = x < PAPER_MAXPOOL_THRESHOLD
    assert np.std(y[low]) < 0.9 * NOISY["sigma0"]
    ch = MaxPoolChannel.fit(x, y, threshold=PAPER_MAXPOOL_THRESHOLD)
    assert ch.sigma0 == pytest.approx(NOISY["sigma0"], rel=0.03)


def test_max_pool_em_loglik_never_decreases():
    x, y = _max_pool_data(5000, PAPER_MAXPOOL_THRESHOLD, seed=1, params=NOISY)
    ch = MaxPoolChannel.fit(x, y, threshold=PAPER_MAXPOOL_THRESHOLD, tol=0.0, max_iter=60)
    trace = np.array(ch.loglik_trace)
    assert trace.size == ch.n_iter + 1 and ch.n_iter > 10
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    assert trace[-1] > trace[0]
    # the trace ends at the high side's (censored) log-likelihood under the fitted channel
    high = x >= ch.threshold
    assert ch.loglik(x[high], y[high]) == pytest.approx(trace[-1], rel=1e-9)


@pytest.mark.parametrize("true_a", [0.004, 0.012])
def test_max_pool_threshold_is_estimated_from_the_data(true_a):
    # a known a that is not the paper's value (the paper's value is one of the candidates)
    x, y = _max_pool_data(5000, true_a, seed=2)
    ch = MaxPoolChannel.fit(x, y)
    assert ch.threshold == pytest.approx(true_a, rel=0.05)
    search = ch.threshold_search
    assert search is not None and search.best == ch.threshold
    assert list(search.candidates) == sorted(search.candidates)
    assert PAPER_MAXPOOL_THRESHOLD in search.candidates
    assert max(search.logliks) == search.logliks[search.candidates.index(ch.threshold)]
    refit = MaxPoolChannel.fit(x, y, threshold=ch.threshold)
    assert refit.loglik(x, y) == pytest.approx(max(search.logliks), rel=1e-9)
    # the paper's value stays an option and fits worse here
    paper = MaxPoolChannel.fit(x, y, threshold=PAPER_MAXPOOL_THRESHOLD)
    assert paper.loglik(x, y) < refit.loglik(x, y)


def test_max_pool_sample_and_mean():
    ch = MaxPoolChannel(threshold=0.0025, **TRUE)
    x = np.repeat([0.001, 0.02], 20000)
    raw = ch.sample(x, np.random.default_rng(5), clip=False)
    np.testing.assert_allclose(
        [raw[:20000].mean(), raw[20000:].mean()], ch.mean([0.001, 0.02]), rtol=0.02
    )
    np.testing.assert_allclose(ch.mean([0.001, 0.02]), [0.001, 0.7 * 0.02 + 0.3 * 0.01])
    clipped = ch.sample(x, np.random.default_rng(5))
    assert clipped.min() == 0.0 and np.mean(clipped[:20000] == 0) == pytest.approx(
        norm.cdf(-2.0), abs=0.005
    )


# ----------------------------------------------------------------------------- empirical


def _empirical_data(n, seed):
    """30 % x == 0 with y == 0; otherwise x ~ Exp(1), y = 2x·lognormal noise with mean 1."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.3, 0.0, rng.exponential(1.0, n))
    y = 2.0 * x * np.exp(0.1 * rng.standard_normal(n) - 0.005)
    return x, y


def test_empirical_channel_conditional_means():
    x, y = _empirical_data(20000, seed=0)
    ch = EmpiricalChannel.fit(x, y, bins=20)
    assert ch.zero_bin and ch.n_bins == 21 and ch.counts.sum() == 20000
    assert np.all(np.diff(ch.edges) > 0)
    # E[y | x] = 2x in every bin
    np.testing.assert_allclose(ch.y_means[1:], 2.0 * ch.x_means[1:], rtol=0.02)
    # on fresh data, the per-bin mean of sampled outputs matches the real conditional mean
    x_new, y_new = _empirical_data(20000, seed=1)
    idx = ch.bin_index(x_new)
    counts = np.bincount(idx, minlength=ch.n_bins)
    sampled = ch.sample(x_new, np.random.default_rng(2))
    np.testing.assert_allclose(
        np.bincount(idx, weights=sampled) / counts,
        np.bincount(idx, weights=y_new) / counts,
        rtol=0.05,
        atol=1e-12,
    )
    np.testing.assert_allclose(ch.mean(x_new), ch.y_means[idx])


def test_empirical_channel_zero_input_edges_and_determinism():
    x, y = _empirical_data(5000, seed=3)
    ch = EmpiricalChannel.fit(torch.tensor(x), torch.tensor(y), bins=10)
    rng = np.random.default_rng(0)
    assert np.all(ch.sample(np.zeros(100), rng) == 0.0)
    assert np.all(ch.conditional_quantiles(0.0, [0.1, 0.9]) == 0.0)
    # beyond the fitted range: the edge bins
    assert ch.bin_index([1e-12, 1e6]).tolist() == [1, ch.n_bins - 1]
    q = ch.conditional_quantiles([0.5, 1e6], [0.0, 0.5, 1.0])
    assert q.shape == (2, 3)
    top = ch.values[ch.offsets[-2] : ch.offsets[-1]]
    np.testing.assert_allclose(q[1], np.quantile(top, [0.0, 0.5, 1.0]))
    queries = np.linspace(0, 5, 1000)
    a = ch.sample(queries, np.random.default_rng(7))
    b = ch.sample(queries, np.random.default_rng(7))
    c = ch.sample(queries, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    pools = [set(ch.values[ch.offsets[j] : ch.offsets[j + 1]]) for j in range(ch.n_bins)]
    assert all(v in pools[j] for v, j in zip(a, ch.bin_index(queries), strict=True))


def test_empirical_channel_merges_empty_bins():
    # linear-interpolated quantile edges 0.13, 0.16, 0.19 leave [0.13, 0.16) and [0.16, 0.19) empty
    x = np.array([0.1, 0.2, 10.0, 20.0])
    ch = EmpiricalChannel.fit(x, [1.0, 2.0, 3.0, 4.0], bins=10)
    assert not ch.zero_bin and ch.n_bins == 4 and np.all(ch.counts == 1)
    assert ch.mean([0.1, 0.2, 10.0, 20.0]).tolist() == [1.0, 2.0, 3.0, 4.0]


# ----------------------------------------------------------------------------- chaining


def test_chained_bernoulli_gaussian_channels():
    theta1, theta2, sigma = 0.8, 0.7, 0.05
    ch1 = BernoulliGaussianChannel(theta=theta1, sigma=sigma)
    ch2 = BernoulliGaussianChannel(theta=theta2, sigma=sigma)
    rng = np.random.default_rng(0)
    x = 1.0 + rng.exponential(1.0, 40000)  # SMP of nodes with events, E[x] = 2
    y = ch2.sample(ch1.sample(x, rng), rng)
    # a node is dead after the chain when either ReLU is off: 1 − θ1·θ2 (on outputs stay ≈ x > 0.5)
    assert np.mean(y < 0.5) == pytest.approx(1 - theta1 * theta2, abs=0.01)
    # exactly zero: the second ReLU is off, or it is on with a zero input and N(0, σ) < 0
    assert np.mean(y == 0) == pytest.approx((1 - theta2) + theta2 * (1 - theta1) / 2, abs=0.01)
    # mean: both on, plus the clipped N(0, σ) of "first off, second on" (E[max(Z, 0)] = σ/√(2π))
    expected = theta1 * theta2 * 2.0 + (1 - theta1) * theta2 * sigma / math.sqrt(2 * math.pi)
    assert y.mean() == pytest.approx(expected, rel=0.02)
    assert ch2.mean(ch1.mean(x)).mean() == pytest.approx(theta1 * theta2 * x.mean(), rel=1e-12)


# ----------------------------------------------------------------------------- linear, comparisons


def test_linear_channel_recovers_the_line():
    rng = np.random.default_rng(0)
    p = rng.exponential(1.0, 10000)
    y = 0.1 + 2.0 * p + 0.05 * rng.standard_normal(p.size)
    ch = LinearChannel.fit(p, np.maximum(y, 0.0))
    assert ch.a == pytest.approx(0.1, abs=0.005) and ch.b == pytest.approx(2.0, rel=0.005)
    assert ch.sigma == pytest.approx(0.05, rel=0.05)
    assert ch.r2 == pytest.approx(r_squared(y, p), abs=1e-6)
    assert ch.sample(p, rng).min() >= 0 and ch.mean([1.0]).tolist() == [ch.a + ch.b]


def test_r_squared_and_distribution_distance():
    rng = np.random.default_rng(0)
    p = rng.exponential(1.0, 10000)
    assert r_squared(3.0 * p + 1.0, p) == pytest.approx(1.0, abs=1e-12)
    assert r_squared(rng.exponential(1.0, p.size), p) < 0.002
    same = distribution_distance(rng.exponential(1.0, 5000), rng.exponential(1.0, 4000))
    assert same["ks_statistic"] < 0.05 and same["ks_pvalue"] > 0.01
    assert abs(same["relative_mean_error"]) < 0.05 and same["wasserstein"] < 0.05
    shifted = distribution_distance(p, p + 0.5)
    assert shifted["ks_statistic"] > 0.3 and shifted["ks_pvalue"] < 1e-10
    assert shifted["wasserstein"] == pytest.approx(0.5, rel=1e-9)
    assert shifted["relative_mean_error"] == pytest.approx(0.5 / p.mean(), rel=1e-9)
    assert distribution_distance([0.0, 0.0], [0.0])["relative_mean_error"] == 0.0
    assert distribution_distance([0.0, 0.0], [1.0])["relative_mean_error"] == math.inf


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: BernoulliGaussianChannel.fit([1.0, 2.0], [1.0, 2.0, 3.0]), r"^y: .*shape"),
        (lambda: MaxPoolChannel.fit([], []), r"^x: .*empty"),
        (lambda: EmpiricalChannel.fit([1.0, 2.0], [1.0, math.nan]), r"^y: .*NaN"),
        (lambda: LinearChannel.fit([1.0, -2.0], [1.0, 2.0]), r"^p: .*negative"),
        (lambda: zero_split_distance([0.0, -1.0], [1.0]), r"^real: .*negative"),
        (lambda: BernoulliGaussianChannel.fit([1.0, 2.0], [0.0, 1.0]), r"^y: .*at least 2"),
        (lambda: BernoulliGaussianChannel.fit([1.0, 2.0], [1.0, 2.0], slope="free"), r"^slope:"),
        (lambda: MaxPoolChannel.fit([0.0, 0.1, 0.2], [0.0, 0.1, 0.2], threshold=0), r"^threshold:"),
        (lambda: MaxPoolChannel.fit([0.0, 0.1, 0.2], [0, 1, 2], threshold=-1.0), r"^threshold:"),
        (lambda: MaxPoolChannel.fit([0.0, 0.1, 0.2], [0.0, 0.1, 0.2]), r"^x: .*at least 2"),
        (lambda: MaxPoolChannel.fit([0.0, 0.1], [0.0, -0.1], censored=True), r"^y: .*negative"),
        (lambda: BernoulliGaussianChannel.fit([1.0], [1.0], censored="yes"), r"^censored:"),
        (lambda: EmpiricalChannel.fit([1.0], [1.0], bins=0), r"^bins:"),
        (lambda: BernoulliGaussianChannel(0.5, 0.1).sample([1.0], 0), r"^rng:"),
        (lambda: BernoulliGaussianChannel(1.5, 0.1), r"^theta:"),
        (lambda: r_squared([1.0, 1.0], [1.0, 2.0]), r"^real: .*constant"),
        (lambda: distribution_distance([1.0, math.inf], [1.0]), r"^real: .*NaN or inf"),
    ],
)
def test_bad_input_raises_naming_the_parameter(call, pattern):
    with pytest.raises(SmoothscopeError, match=pattern):
        call()


def test_zero_split_distance_separates_the_point_mass_from_the_positive_part():
    rng = np.random.default_rng(0)
    real = np.where(rng.random(8000) < 0.7, 0.0, rng.exponential(1.0, 8000))
    same = np.where(rng.random(6000) < 0.7, 0.0, rng.exponential(1.0, 6000))
    d = zero_split_distance(real, same)
    assert d["zero_real_low"] < 0.7 < d["zero_real_high"] and abs(d["zero_difference"]) < 0.03
    assert d["ks_positive"] < 0.05 and d["relative_wasserstein_positive"] < 0.1
    # the right positive part but too few zeros: only the zero fraction fails
    fewer = np.where(rng.random(6000) < 0.4, 0.0, rng.exponential(1.0, 6000))
    d = zero_split_distance(real, fewer)
    assert d["zero_difference"] == pytest.approx(-0.3, abs=0.03) and d["ks_positive"] < 0.05
    # the right zeros but a shifted positive part: only the positive part fails
    shifted = np.where(rng.random(6000) < 0.7, 0.0, 0.5 + rng.exponential(1.0, 6000))
    d = zero_split_distance(real, shifted)
    assert abs(d["zero_difference"]) < 0.03 and d["ks_positive"] > 0.3
    assert math.isnan(zero_split_distance([0.0, 0.0, 1.0], [1.0, 2.0])["ks_positive"])


def test_wilson_interval_closed_form():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
