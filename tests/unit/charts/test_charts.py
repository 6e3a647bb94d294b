"""Chart specs and their HTML: the one way the report and the UI draw charts (drawing itself is checked in a
real browser by tests/integration/monitoring/test_report_browser.py)."""

from __future__ import annotations

import html
import json
import math
import re

import pytest

from shipyard import charts


def spec_of(markup: str) -> dict[str, object]:
    found = re.search(r'data-spec="([^"]*)"', markup)
    assert found is not None
    return json.loads(html.unescape(found.group(1)))


def test_histogram_spec_keeps_labels_as_text_and_drops_non_finite_values() -> None:
    spec = charts.histogram([1, "b", "c"], {"training": [0.5, math.nan, 0.5], "current": [0.2, 0.3, math.inf]},
                            x_label="level")
    assert spec == {"kind": "histogram", "labels": ["1", "b", "c"], "percent": True, "height": 200,
                    "x_label": "level", "y_label": "",
                    "series": [{"name": "training", "values": [0.5, None, 0.5]},
                               {"name": "current", "values": [0.2, 0.3, None]}]}


def test_timeseries_and_lines_carry_their_options() -> None:
    spec = charts.timeseries([1.0, 2.0], {"rows": [3, None]}, y_label="rows", utc=True, y_min=0)
    assert spec["kind"] == "timeseries" and spec["utc"] is True and spec["y_min"] == 0 and spec["span_gaps"] is False
    assert spec["series"] == [{"name": "rows", "values": [3.0, None]}]
    curve = charts.lines([0, 1, 2], {"loss": [1.0, 0.5, 0.25]}, x_label="epoch")
    assert curve["kind"] == "lines" and curve["x"] == [0.0, 1.0, 2.0] and curve["x_label"] == "epoch"


def test_chart_escapes_the_title_and_every_string_of_the_spec() -> None:
    evil = '"><script>alert(1)</script>'
    markup = charts.chart(charts.histogram([evil], {evil: [1.0]}), title=evil, css_class=evil)
    assert "<script>" not in markup
    assert re.findall(r"<(\w+)", markup) == ["figure", "figcaption", "div"]
    assert 'role="img"' in markup and f'aria-label="{html.escape(evil)}"' in markup
    spec = spec_of(markup)
    assert spec["labels"] == [evil] and spec["series"] == [{"name": evil, "values": [1.0]}]


def test_a_spec_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError):
        charts.chart({"kind": "lines", "x": [math.nan]})


def test_inline_assets_hold_the_library_and_the_renderer_and_fetch_nothing() -> None:
    assets = charts.inline_assets()
    assert assets.count("<script>") == 2 and assets.count("<style>") == 1
    assert "uPlot" in assets and "shipyardCharts" in assets and 'data-drawn", "1"' in assets
    assert not re.search(r"""(?:src|href)\s*=|@import|fetch\(|XMLHttpRequest""", assets)
    assert 40_000 < len(assets.encode()) < 80_000


def test_parallel_makes_numeric_and_category_axes_and_one_line_per_name() -> None:
    spec = charts.parallel(
        ["lr", "optimizer", "depth", "auc"],
        {"a": [0.1, "sgd", "10", 0.7], "b": [0.01, "adam", "2", 0.9], "c": [None, "sgd", None, math.nan]},
        color_axis="auc",
    )
    assert spec["kind"] == "parallel" and spec["color_axis"] == 3 and spec["height"] == 320
    assert spec["axes"] == [
        {"name": "lr", "type": "number", "min": 0.01, "max": 0.1, "log": False},
        {"name": "optimizer", "type": "category", "categories": ["adam", "sgd"]},
        {"name": "depth", "type": "category", "categories": ["2", "10"]},  # numbers as text sort by value
        {"name": "auc", "type": "number", "min": 0.7, "max": 0.9, "log": False},
    ]
    assert spec["lines"] == [{"name": "a", "values": [0.1, 1.0, 1.0, 0.7]},
                             {"name": "b", "values": [0.01, 0.0, 0.0, 0.9]},
                             {"name": "c", "values": [None, 1.0, None, None]}]
    json.dumps(spec, allow_nan=False)  # drawable: no NaN reaches the page


def test_parallel_keeps_a_given_category_order_and_refuses_ragged_lines() -> None:
    spec = charts.parallel(["size"], {"x": ["big"], "y": ["small"]}, categories={"size": ["small", "big"]})
    assert spec["axes"][0]["categories"] == ["small", "big"] and spec["lines"][0]["values"] == [1.0]
    with pytest.raises(ValueError, match="2 values for 1 axes"):
        charts.parallel(["size"], {"x": [1, 2]})
    with pytest.raises(ValueError, match="color_axis"):
        charts.parallel(["size"], {"x": [1]}, color_axis="nope")


def test_parallel_uses_a_log_axis_for_positive_values_spanning_decades() -> None:
    spec = charts.parallel(["lr", "shift"], {"a": [0.001, -1.0], "b": [0.1, 100.0]})
    assert [axis["log"] for axis in spec["axes"]] == [True, False]  # a negative value keeps an axis linear
