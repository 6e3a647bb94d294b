"""The levels of ``estimated_quality`` from monitoring.yaml: drops and floors on the interval's upper bound.

Scores are calibrated by construction (each label drawn from its own score), so the estimate is right and the
test is about the statuses: a reference scored with confident probabilities, a window whose scores sit near 0.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.errors import ConfigError
from shipyard.monitoring.config import Thresholds
from shipyard.monitoring.estimated_quality import estimate_checks


def calibrated(rows: int, low: float, high: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    positive = rng.uniform(low, high, rows)
    return np.column_stack([1 - positive, positive]), (rng.random(rows) < positive).astype(np.int64)


REFERENCE = calibrated(2_000, 0.0, 1.0, seed=1)  # accuracy about 0.75
UNSURE = calibrated(1_000, 0.35, 0.65, seed=2)[0]  # accuracy about 0.57
EMPTY = (np.zeros((0, 2)), np.zeros(0, dtype=np.int64))


def statuses(thresholds: Thresholds, current: np.ndarray = UNSURE) -> dict[str, str]:
    found = estimate_checks(*REFERENCE, ["0", "1"], current, *EMPTY, thresholds, feature="champion")
    return {item.statistic: item.status for item in found if item.check == "estimated_quality"}


def test_a_window_far_under_the_reference_alerts_and_one_like_it_stays_ok() -> None:
    found = estimate_checks(*REFERENCE, ["0", "1"], UNSURE, *EMPTY, Thresholds(), feature="champion")
    accuracy = next(item for item in found if item.statistic == "accuracy")
    assert accuracy.status == "alert" and accuracy.feature == "champion"
    assert accuracy.extra["high"] < accuracy.extra["reference"] - 0.05
    assert accuracy.threshold == pytest.approx(accuracy.extra["reference"] - 0.05)
    assert "more than 0.05 below the reference" in accuracy.message
    assert statuses(Thresholds(), calibrated(1_000, 0.0, 1.0, seed=3)[0])["accuracy"] == "ok"


def test_the_lines_come_from_monitoring_yaml() -> None:
    only_f1 = Thresholds({"thresholds": {"estimated_quality": {"metric": "f1"}}})
    assert statuses(only_f1)["accuracy"] == "ok"
    far = Thresholds({"thresholds": {"estimated_quality": {"warn_drop": 0.08, "alert_drop": 0.4}}})
    assert statuses(far)["accuracy"] == "warn"
    floor = Thresholds({"thresholds": {"estimated_quality": {"warn_drop": 0.9, "alert_drop": 0.9,
                                                              "alert_below": 0.7}}})
    assert statuses(floor)["accuracy"] == "alert"


@pytest.mark.parametrize(("settings", "expected"), [
    ({"metric": "auc"}, "thresholds.estimated_quality.metric must be all or one of accuracy, precision, recall, "
                        "f1, roc_auc, got 'auc'."),
    ({"alert_below": "high"}, "thresholds.estimated_quality.alert_below must be a number, got 'high'."),
])
def test_a_bad_setting_names_the_file_and_the_key(settings: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        statuses(Thresholds({"thresholds": {"estimated_quality": settings}}, "monitoring.yaml"))
    assert str(caught.value) == f"monitoring.yaml: {expected}"
