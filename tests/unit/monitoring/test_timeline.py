"""Quality over time: labelled predictions scored per variant in round time buckets."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.monitoring.source import Labelled
from shipyard.monitoring.timeline import bucket_seconds, quality_timeline

START_MS = 1_800_000_000_000  # a multiple of 5 minutes and of an hour


def labelled(stamps_ms: list[int], variants: list[str], truth: list[str], predicted: list[str]) -> Labelled:
    return Labelled(variants, [1] * len(truth), predicted, truth, np.asarray(truth, dtype="float64"),
                    [None] * len(truth), np.asarray(stamps_ms, dtype="int64"))


@pytest.mark.parametrize(("span_s", "expected"), [
    (30, 60), (47 * 60, 60), (48 * 60, 300), (6 * 3600, 900), (23 * 3600, 1800), (24 * 3600, 3600),
    (30 * 86400, 86400), (10**9, 7 * 86400)])
def test_bucket_size_is_the_smallest_round_size_that_fits(span_s: int, expected: int) -> None:
    assert bucket_seconds(span_s, 48) == expected


def test_no_labels_no_timeline() -> None:
    assert quality_timeline(labelled([], [], [], []), ["0", "1"]) is None


def test_scores_per_variant_and_bucket_with_gaps_for_thin_buckets() -> None:
    # champion: bucket 0 all right (4 rows), bucket 1 empty, bucket 2 half right; challenger: 1 row in bucket 0.
    minute = 60_000
    stamps = [START_MS + 5_000] * 4 + [START_MS + 2 * minute + 1] * 4 + [START_MS + 10]
    variants = ["champion"] * 8 + ["challenger"]
    truth = ["1", "0", "1", "0", "1", "0", "1", "0", "1"]
    predicted = ["1", "0", "1", "0", "1", "1", "0", "0", "0"]
    timeline = quality_timeline(labelled(stamps, variants, truth, predicted), ["0", "1"], min_rows=2)
    assert timeline is not None
    assert timeline["bucket_s"] == 60 and timeline["min_rows"] == 2
    assert timeline["times_s"] == [START_MS // 1000 + offset for offset in (0, 60, 120)]
    assert list(timeline["variants"]) == ["challenger", "champion"]
    champion = timeline["variants"]["champion"]
    assert champion["rows"] == [4, 0, 4]
    assert champion["scores"]["accuracy"] == [1.0, None, 0.5]
    challenger = timeline["variants"]["challenger"]
    assert challenger["rows"] == [1, 0, 0] and challenger["scores"] == {}  # never enough labels: no metric


def test_regression_scores_errors() -> None:
    stamps = [START_MS + index * 1_000 for index in range(4)]
    data = Labelled(["a"] * 4, [1] * 4, ["1.0", "2.0", "3.0", "4.0"], ["1.5", "2.0", "3.0", "3.5"],
                    np.array([1.5, 2.0, 3.0, 3.5]), [None] * 4, np.asarray(stamps, dtype="int64"))
    timeline = quality_timeline(data, [], min_rows=1)
    assert timeline is not None
    assert timeline["variants"]["a"]["scores"]["mae"] == [pytest.approx(0.25)]
