"""The calibration map shared by monitoring's estimates and the bandit's scores (shipyard/calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import isotonic_regression

from shipyard import calibration
from shipyard.monitoring.stats import estimation


def test_the_numpy_pool_adjacent_violators_equals_scipys() -> None:
    rng = np.random.default_rng(4)
    for size in (1, 2, 17, 500):
        values, weights = rng.random(size), rng.integers(1, 5, size).astype(float)
        expected = isotonic_regression(values, weights=weights).x
        assert calibration.pool_adjacent_violators(values, weights) == pytest.approx(expected, abs=1e-12)


def test_monitoring_uses_the_same_rule() -> None:
    assert estimation.choose_calibration is calibration.choose_calibration
    assert estimation.Calibration is calibration.Calibration


def test_overconfident_answers_are_mapped_to_their_real_p_correct() -> None:
    rng = np.random.default_rng(8)
    truth = rng.uniform(0.55, 1.0, 8_000)  # each answer's real P(correct)
    stated = np.clip(0.5 + 1.6 * (truth - 0.5), 0.5, 1.0)  # the model states more than that
    predicted = rng.integers(0, 3, 8_000)
    right = rng.random(8_000) < truth
    labels = np.where(right, predicted, (predicted + 1) % 3)
    proba = np.full((8_000, 3), 0.0)
    proba[np.arange(8_000), predicted] = stated
    proba[np.arange(8_000), (predicted + 1) % 3] = 1 - stated
    found = calibration.confidence_calibration(proba[:4_000], labels[:4_000])
    assert found.method == "isotonic"
    mapped = calibration.calibrated_confidence(found, stated[4_000:].tolist())
    accuracy = float(right[4_000:].mean())
    assert abs(np.mean(mapped) - accuracy) < 0.025  # two standard errors of 4,000 labels
    assert abs(stated[4_000:].mean() - accuracy) > 0.1
    again = calibration.confidence_calibration(proba[:4_000], labels[:4_000])  # seeded: every worker agrees
    assert all(np.array_equal(a, b) for a, b in zip(found.knots[0], again.knots[0], strict=True))


def test_calibrated_answers_keep_their_raw_confidence() -> None:
    rng = np.random.default_rng(9)
    stated = rng.uniform(0.5, 1.0, 3_000)
    predicted = rng.integers(0, 2, 3_000)
    labels = np.where(rng.random(3_000) < stated, predicted, 1 - predicted)
    proba = np.column_stack([np.where(predicted == 0, stated, 1 - stated),
                             np.where(predicted == 1, stated, 1 - stated)])
    found = calibration.confidence_calibration(proba, labels)
    assert found.method == "none"
    assert calibration.calibrated_confidence(found, [0.9, 0.6]) == [0.9, 0.6]
