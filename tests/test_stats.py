"""Hierarchical bootstrap: coverage on a known distribution, pairing, errors."""

from __future__ import annotations

import numpy as np
import pytest

from smoothscope import SmoothscopeError
from smoothscope.stats import hierarchical_bootstrap, ratio_of_medians


def test_interval_covers_the_true_median_ratio_at_about_the_nominal_rate():
    rng = np.random.default_rng(0)
    covered = 0
    trials = 200
    for trial in range(trials):
        a = rng.lognormal(mean=np.log(3.0), sigma=0.5, size=(1, 60))
        b = rng.lognormal(mean=0.0, sigma=0.5, size=(1, 60))
        est = hierarchical_bootstrap([a, b], ratio_of_medians, n_boot=400, seed=trial)
        covered += est.low <= 3.0 <= est.high
        assert est.low <= est.value <= est.high or not np.isfinite(est.value)
    # binomial(200, 0.95): 3 sd below is 0.905
    assert covered / trials > 0.88


def test_model_level_spread_widens_the_interval():
    rng = np.random.default_rng(1)
    videos = rng.normal(size=(1, 50))
    same_models = np.repeat(videos, 4, axis=0)
    spread_models = same_models + np.array([[-3.0], [-1.0], [1.0], [3.0]])
    narrow = hierarchical_bootstrap([same_models], lambda a: a.mean(-1), seed=0)
    wide = hierarchical_bootstrap([spread_models], lambda a: a.mean(-1), seed=0)
    assert (wide.high - wide.low) > 3 * (narrow.high - narrow.low)


def test_point_estimate_is_the_statistic_of_the_data():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    est = hierarchical_bootstrap([a], lambda x: np.median(x, -1), n_boot=50)
    assert est.value == 3.5


def test_errors():
    with pytest.raises(SmoothscopeError, match="same number of inputs"):
        hierarchical_bootstrap([np.ones((2, 3)), np.ones((2, 4))], ratio_of_medians)
    with pytest.raises(SmoothscopeError, match="models, inputs"):
        hierarchical_bootstrap([np.ones(3)], lambda a: a.mean(-1))
    with pytest.raises(SmoothscopeError, match="level"):
        hierarchical_bootstrap([np.ones((2, 3))], lambda a: a.mean(-1), level=1.5)
