"""Profiles: golden counts on hand-checked data, mergeability, and prediction distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


def test_huge_finite_values_give_finite_golden_statistics() -> None:
    """Values near the largest double: sums and squares would overflow (a numpy RuntimeWarning, an error under
    pytest, and inf or NaN results); computed on values scaled by a power of two they are exact and finite."""
    profile = numeric_profile(np.array([1e308, 1e308, 1e308, -1e308]))
    assert (profile["min"], profile["max"]) == (-1e308, 1e308)
    assert profile["mean"] == pytest.approx(5e307, rel=1e-15)
    # std: mean of squared deviations (3 x 5e307^2 + 1.5e308^2) / 4 = 7.5e615, square root 8.660254e307
    assert profile["std"] == pytest.approx(8.660254037844386e307, rel=1e-15)
    # numpy's linear interpolation between -1e308 and 1e308 (positions 0.03, 0.15, 0.75 of the sorted values)
    quantiles = profile["quantiles"]
    assert [quantiles[key] for key in ("0.01", "0.05", "0.25", "0.5")] == pytest.approx(
        [-9.4e307, -7e307, 5e307, 1e308], rel=1e-14)
    assert profile["decile_edges"] == pytest.approx([-4e307, 2e307, 8e307, 1e308], rel=1e-14)
    edges = profile["hist_edges"]
    assert len(edges) == 21 and edges[0] == -1e308 and edges[-1] == 1e308
    assert np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)
    assert edges[1] == pytest.approx(-9e307, rel=1e-14)
    assert profile["hist_counts"] == [1] + [0] * 18 + [3]
    assert profile["decile_counts"] == [1, 0, 0, 3, 0]


def test_huge_means_merge_without_overflow() -> None:
    reference = numeric_profile(np.array([1e308, 1e308, 1e308, -1e308]))
    first = numeric_profile(np.array([1e308, 1e308]), reference)
    second = numeric_profile(np.array([1e308, -1e308]), reference)
    merged = merge_numeric(first, second)
    assert merged["mean"] == pytest.approx(5e307, rel=1e-15)
    assert merged["decile_counts"] == reference["decile_counts"]


def test_ordinary_values_keep_their_exact_statistics() -> None:
    """The scaling is by a power of two and only for huge values: ordinary data gives numpy's own numbers."""
    rng = np.random.default_rng(8)
    values = rng.normal(1e6, 3e5, 5_000)
    profile = numeric_profile(values)
    assert profile["mean"] == float(values.mean()) and profile["std"] == float(values.std())
    assert profile["decile_edges"] == sorted(set(np.quantile(values, [i / 10 for i in range(1, 10)]).tolist()))
