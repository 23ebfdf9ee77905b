"""ROC-AUC with weights against scikit-learn, TPR at a fixed FPR, cluster-bootstrap weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from smoothscope import SmoothscopeError
from smoothscope.forensic.evaluation import (
    bootstrap_weights,
    roc_curve,
    tpr_at_fpr,
    weighted_auc,
)


def data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(bool)
    scores = np.round(rng.normal(size=n) + labels, 1)  # rounding makes ties
    return scores, labels


def test_auc_matches_sklearn_with_ties_and_with_integer_weights():
    scores, labels = data()
    assert weighted_auc(scores, labels)[0] == pytest.approx(roc_auc_score(labels, scores))
    weights = np.random.default_rng(1).integers(0, 4, size=(5, scores.size))
    got = weighted_auc(scores, labels, weights)
    for row, value in zip(weights, got, strict=True):
        repeat = np.repeat(np.arange(scores.size), row)
        assert value == pytest.approx(roc_auc_score(labels[repeat], scores[repeat]))


def test_roc_and_tpr_at_fpr():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    fpr, tpr = roc_curve(scores, labels)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert tpr_at_fpr(scores, labels, 0.01) == pytest.approx(2 / 3)
    assert tpr_at_fpr(scores, labels, 0.34) == pytest.approx(1.0)


def test_bootstrap_weights_resample_groups_whole():
    groups = np.array([3, 3, 7, 7, 7, 9])
    w = bootstrap_weights(groups, 200, seed=0)
    assert w.shape == (200, 6)
    assert np.all(w[:, 0] == w[:, 1]) and np.all(w[:, 2] == w[:, 4])
    # each replicate draws 3 groups
    assert np.all(w[:, [0, 2, 5]].sum(1) == 3)
    assert np.array_equal(w, bootstrap_weights(groups, 200, seed=0))


def test_one_class_is_refused():
    with pytest.raises(SmoothscopeError, match="both classes"):
        weighted_auc(np.ones(3), np.ones(3, dtype=bool))
