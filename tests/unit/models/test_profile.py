"""Profiles: golden counts on hand-checked data, mergeability, and prediction distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.models.profile import (
    categorical_profile,
    merge_numeric,
    numeric_profile,
    prediction_profile,
    profile_frame,
)
from shipyard.models.signature import infer_signature


def test_numeric_profile_golden_values() -> None:
    values = np.array([*range(1, 101), np.nan, np.nan], dtype="float64")  # 1..100 and two missing
    profile = numeric_profile(values)
    assert (profile["count"], profile["missing"], profile["min"], profile["max"]) == (100, 2, 1.0, 100.0)
    assert profile["mean"] == 50.5
    expected = [10.9, 20.8, 30.7, 40.6, 50.5, 60.4, 70.3, 80.2, 90.1]  # numpy's linear interpolation
    assert np.allclose(profile["decile_edges"], expected, rtol=0, atol=1e-9)
    assert profile["decile_counts"] == [10] * 10
    assert sum(profile["hist_counts"]) == 100 and len(profile["hist_counts"]) == 20


def test_live_values_reuse_the_reference_edges_and_outliers_land_in_the_open_bins() -> None:
    reference = numeric_profile(np.arange(1, 101, dtype="float64"))
    live = numeric_profile(np.array([-1000.0, 5.0, 99.0, 1e9]), reference)
    assert live["decile_edges"] == reference["decile_edges"]
    assert live["decile_counts"] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert live["hist_counts"][0] == 2 and live["hist_counts"][-1] == 2


def test_windows_merge_into_the_whole() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(50, 10, 10_000)
    reference = numeric_profile(values)
    parts = [numeric_profile(chunk, reference) for chunk in np.array_split(values, 7)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merge_numeric(merged, part)
    assert merged["decile_counts"] == reference["decile_counts"]
    assert merged["hist_counts"] == reference["hist_counts"]
    assert merged["count"] == 10_000
    assert abs(merged["mean"] - reference["mean"]) < 1e-9


def test_all_missing_column() -> None:
    reference = numeric_profile(np.arange(10, dtype="float64"))
    empty = numeric_profile(np.array([np.nan, np.nan]), reference)
    assert empty["count"] == 0 and empty["missing"] == 2
    assert empty["decile_counts"] == [0] * (len(reference["decile_edges"]) + 1)


def test_categorical_profile() -> None:
    profile = categorical_profile(pd.Series(["a", "b", "a", None, "c", "a"]))
    assert profile == {"type": "categorical", "count": 5, "missing": 1, "levels": {"a": 3, "b": 1, "c": 1},
                       "other": 0}


def test_frame_profile_and_predictions() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan], "c": ["u", "v", "u"]})
    profile = profile_frame(frame, infer_signature(frame))
    assert profile["rows"] == 3
    assert profile["columns"]["x"]["missing"] == 1
    assert profile["columns"]["c"]["levels"] == {"u": 2, "v": 1}
    predictions = prediction_profile(np.array([0, 1, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.45, 0.55],
                                                                        [0.0, 1.0]]), (0, 1))
    assert predictions["class_counts"] == {"0": 1, "1": 3}
    assert sum(predictions["probability_counts"]["1"]) == 4
    assert predictions["probability_counts"]["1"][-1] == 1  # probability 1.0 lands in the last bin
    regression = prediction_profile(np.array([1.0, 2.0, 3.0]))
    assert regression["kind"] == "regressor" and regression["values"]["mean"] == 2.0
