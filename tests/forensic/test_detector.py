"""The detector: logistic regression agrees with scikit-learn; the calibrated threshold; the
out-of-distribution notes; JSON storage refuses the rest."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from smoothscope import SmoothscopeError
from smoothscope.forensic.detector import (
    FORMAT,
    calibrate_threshold,
    feature_reference,
    fit_detector,
    load_detector,
    with_calibration,
)


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
        "threshold": dict(good, threshold=1.5),
        "reference": dict(good, reference={"features": {"a": [0, "x"]}}),
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


def test_calibrated_threshold_flags_at_most_the_target_share():
    rng = np.random.default_rng(1)
    p = np.r_[rng.random(200), 0.5 + 0.5 * rng.random(100)]
    y = np.r_[np.zeros(200), np.ones(100)]
    compressed = np.r_[np.arange(200) % 2 == 0, np.ones(100, bool)]
    threshold, cal = calibrate_threshold(p, y, compressed, 0.05)
    negatives = p[(y == 0) & compressed]
    assert (negatives > threshold).mean() <= 0.05 < (negatives >= threshold).mean()
    assert cal["fpr_authentic_compressed"] == (negatives > threshold).mean()
    assert cal["n_authentic_compressed"] == 100 and 0 < cal["tpr_processed_compressed"] < 0.2
    with pytest.raises(SmoothscopeError, match="target_fpr"):
        calibrate_threshold(p, y, compressed, 1.5)
    with pytest.raises(SmoothscopeError, match="compressed"):
        calibrate_threshold(p, y, np.zeros(300, bool), 0.05)


def test_out_of_distribution_notes_and_threshold_roundtrip(tmp_path):
    detector, x, _ = fitted()
    names = ("log_activity", "log_noise_floor", "c")
    detector = fit_detector(x, (x[:, 0] > 0).astype(int), names)
    reference = feature_reference(x, names, frames=[32], height=[28, 14], width=[28, 14])
    detector = with_calibration(detector, 0.7, {"target_fpr": 0.05}, reference)
    assert detector.ood_notes(np.median(x, axis=0), frames=32, shape=(1, 28, 28)) == []
    far = np.median(x, axis=0) + np.array([0.0, 100.0, 100.0])
    notes = detector.ood_notes(far, frames=64, shape=(1, 96, 96))
    text = "; ".join(notes)
    assert "length: 64 frames, the detector saw 32–32" in text
    assert "height: 96 pixels" in text and "width: 96 pixels" in text
    assert "dynamic range" in text and "features outside the training range: c" in text
    static = np.array([-3.0, 0.0, 0.0])
    assert any("static" in n for n in detector.ood_notes(static))
    loaded = load_detector(detector.save(tmp_path / "d.json"))
    assert loaded.threshold == 0.7 and loaded.reference == reference
    assert loaded.flagged(x).tolist() == (detector.probability(x) > 0.7).tolist()
    with pytest.raises(SmoothscopeError, match="finite"):
        detector.probability(np.array([np.nan, 0.0, 0.0]))


def test_an_older_detector_is_refused_with_the_way_out(tmp_path):
    detector, _, _ = fitted()
    path = tmp_path / "old.json"
    path.write_text(json.dumps(detector.to_dict() | {"format": "smoothscope-forensic-detector/1"}))
    with pytest.raises(SmoothscopeError, match="forensic fit"):
        load_detector(path)
