"""The detector: logistic regression agrees with scikit-learn; JSON storage refuses the rest."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from smoothscope import SmoothscopeError
from smoothscope.forensic.detector import FORMAT, fit_detector, load_detector


def fitted():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3)) * [1.0, 5.0, 0.1]
    y = (x[:, 0] + 0.4 * x[:, 1] / 5 + rng.normal(scale=0.5, size=80) > 0).astype(int)
    return fit_detector(x, y, ["a", "b", "c"], c=1.0), x, y


def test_probability_matches_sklearn_and_roundtrips(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    detector, x, y = fitted()
    reference = make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    ).fit(x, y)
    np.testing.assert_allclose(detector.probability(x), reference.predict_proba(x)[:, 1], atol=1e-6)
    path = detector.save(tmp_path / "d.json")
    loaded = load_detector(path)
    np.testing.assert_array_equal(loaded.probability(x), detector.probability(x))
    assert loaded.feature_names == ("a", "b", "c") and loaded.meta["n_train"] == 80


def test_untrusted_or_broken_files_are_refused(tmp_path):
    detector, _, _ = fitted()
    good = detector.to_dict()
    pkl = tmp_path / "d.pkl"
    pkl.write_bytes(pickle.dumps(good))
    with pytest.raises(SmoothscopeError, match="pickles are never loaded"):
        load_detector(pkl)
    cases = {
        "format": dict(good, format="other"),
        "coef": dict(good, coef=[1.0]),
        "scale": dict(good, scale=[1.0, 0.0, 1.0]),
        "finite": dict(good, mean=[float("nan"), 0.0, 0.0]),
        "feature_names": dict(good, feature_names="abc"),
        "intercept": dict(good, intercept="1"),
    }
    for message, payload in cases.items():
        path = tmp_path / f"{message}.json"
        path.write_text(json.dumps(payload))
        with pytest.raises(SmoothscopeError, match=message):
            load_detector(path)
    with pytest.raises(SmoothscopeError, match="could not read"):
        load_detector(tmp_path / "missing.json")
    assert good["format"] == FORMAT


def test_fit_validates():
    with pytest.raises(SmoothscopeError, match="both classes"):
        fit_detector(np.zeros((4, 2)), np.zeros(4), ["a", "b"])
    with pytest.raises(SmoothscopeError, match="finite"):
        fit_detector(np.full((4, 2), np.nan), np.array([0, 1, 0, 1]), ["a", "b"])
    with pytest.raises(SmoothscopeError, match="columns"):
        fitted()[0].decision(np.zeros((2, 5)))
