"""The compare page's pure parts: thinning long histories onto a shared grid, legend names, differing rows."""

from __future__ import annotations

import math

from shipyard.ui._compare_data import overlay
from shipyard.ui.compare import series_names, side_by_side


def test_overlay_aligns_runs_on_shared_steps_with_gaps() -> None:
    x, series = overlay({"a": [(0, 1.0), (1, 0.5)], "b": [(1, 2.0), (3, None)]})
    assert x == [0.0, 1.0, 3.0]
    assert series == {"a": [1.0, 0.5, None], "b": [None, 2.0, None]}


def test_overlay_thins_long_histories_and_keeps_each_runs_last_value() -> None:
    long = [(step, float(step)) for step in range(10_000)]
    short = [(step, -float(step)) for step in range(0, 7)]
    x, series = overlay({"long": long, "short": short}, max_points=1000)
    assert len(x) <= 1001 and x[-1] == 9999.0 and x == sorted(x)
    assert series["long"][-1] == 9999.0  # the final value as logged
    assert [value for value in series["short"] if value is not None][-1] == -6.0
    # Each kept value is the run's value at the highest step of its bucket, drawn at that bucket's end.
    assert all(value == step for step, value in zip(x, series["long"], strict=True))


def test_series_names_add_a_short_id_only_where_names_repeat() -> None:
    runs = [{"name": "a", "run_id": "1" * 32}, {"name": "a", "run_id": "2" * 32}, {"name": "b", "run_id": "3" * 32}]
    assert series_names(runs) == ["a (1111111)", "a (2222222)", "b"]


def test_rows_differ_when_values_or_presence_differ_and_best_follows_the_metric_name() -> None:
    runs = [{"metrics": {"loss": 0.2, "auc": 0.8, "same": math.nan}},
            {"metrics": {"loss": 0.1, "auc": 0.9, "same": math.nan}},
            {"metrics": {"loss": 0.1, "same": math.nan}}]
    rows = {row.key: row for row in side_by_side(runs, "metrics", best=True)}
    assert rows["loss"].changed and rows["loss"].best == {1, 2}  # lower is better, ties both marked
    assert rows["auc"].changed and rows["auc"].best == {1}  # higher is better; a missing value differs
    assert not rows["same"].changed and rows["same"].best == set()  # NaN equals NaN here
