"""FeatureWindow sums: exact for ordinary data, finite for values near the largest double, mergeable across
windows whose sums were scaled differently, and readable from hourly caches written before the scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shipyard.monitoring.windows import FeatureWindow, WindowProfile


def window(values: list[float]) -> FeatureWindow:
    feature = FeatureWindow("numeric", count=len(values))
    feature.add_total(np.asarray(values, dtype="float64"))
    return feature


def test_ordinary_sums_are_numpys_own() -> None:
    values = np.random.default_rng(1).normal(65, 20, 10_000)
    feature = window(values.tolist())
    assert feature.total_exponent == 0 and feature.total == float(values.sum())
    assert feature.mean == float(values.sum()) / 10_000


def test_values_near_the_largest_double_keep_a_finite_mean() -> None:
    feature = window([1e308, 1e308, 1e308, 50.0])  # the plain sum is inf
    assert feature.total_exponent > 0
    assert feature.mean == pytest.approx(7.5e307, rel=1e-15)
    largest = window([1.7976931348623157e308] * 3)
    assert largest.mean == 1.7976931348623157e308  # the mean of equal values is that value, not inf


def test_windows_scaled_differently_merge_exactly() -> None:
    small, huge = window([10.0, 20.0, 30.0]), window([1e308, -1e308, 1e308])
    small.merge(huge)
    assert small.count == 6 and small.total_exponent == huge.total_exponent
    assert small.mean == pytest.approx(1e308 / 6, rel=1e-15)
    ordinary = window([1.0, 2.0])
    ordinary.merge(window([3.0]))
    assert (ordinary.total, ordinary.total_exponent, ordinary.mean) == (6.0, 0, 2.0)


def test_an_hourly_cache_written_before_the_scaling_still_loads() -> None:
    cached = WindowProfile(0, 3_600_000, rows=2, features={"x": window([1.0, 3.0])}).to_dict()
    cached["features"]["x"]["total_squares"] = 10.0  # a field older versions kept
    del cached["features"]["x"]["total_exponent"]
    loaded = WindowProfile.from_dict(cached)
    assert loaded.features["x"].mean == 2.0 and loaded.features["x"].total_exponent == 0
    assert math.isfinite(loaded.features["x"].total)
