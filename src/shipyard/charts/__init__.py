"""Charts for HTML pages: one spec format, drawn in the browser by the vendored uPlot (no CDN, works offline).

The monitoring report and the web UI both call these functions, so a histogram or a time series looks and
behaves the same everywhere (hover values, drag to zoom on time series). Python builds small JSON specs;
``assets/charts.js`` draws them (parallel coordinates, which uPlot does not do, on a canvas of its own).
Everything a page needs is inlined by :func:`inline_assets`, so a report is one self-contained file.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from ..errors import ValidationError


@functools.cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def inline_assets() -> str:
    """The ``<style>`` and ``<script>`` tags every page with charts needs (about 55 kB)."""
    return (f"<style>{_asset('uPlot.min.css')}</style>\n<script>{_asset('uPlot.iife.min.js')}</script>\n"
            f"<script>{_asset('charts.js')}</script>")


def report_stylesheet() -> str:
    """The monitoring report's styles (``assets/report.css``): the one-file report inlines this text, the web
    UI's deployment page links the same file (``/static/charts/report.css``) around the report's markup."""
    return _asset("report.css")


def histogram(labels: Sequence[object], series: dict[str, list[float]], *, percent: bool = True, height: int = 200,
              x_label: str = "", y_label: str = "") -> dict[str, Any]:
    """Grouped bars over labelled bins (e.g. reference vs current shares per bin).

    Args:
        labels: one label per bin, shown under the bars (long ones are shortened on the axis, whole in the
            legend when hovered).
        series: name -> one value per bin; ``None`` or a non-finite number leaves a gap.
        percent: the values are shares in 0-1, shown as percentages.
        x_label: what a bin is (the legend's first column when hovering), e.g. "bin from".
    """
    return {"kind": "histogram", "labels": [str(label) for label in labels], "percent": percent, "height": height,
            "x_label": x_label, "y_label": y_label,
            "series": [{"name": str(name), "values": [_number(value) for value in values]}
                       for name, values in series.items()]}


def timeseries(times_s: list[float], series: dict[str, list[float | None]], *, y_label: str = "",
               height: int = 200, utc: bool = False, y_min: float | None = None,
               span_gaps: bool = False) -> dict[str, Any]:
    """Lines over time (epoch seconds): volume, latency, quality per window.

    Args:
        times_s: the x values, epoch seconds, ascending.
        series: name -> one value per time; ``None`` is a gap (joined over when ``span_gaps``).
        utc: show times in UTC (reports that state their window in UTC) rather than the browser's zone.
        y_min: keep this value in view at the bottom of the y axis (0 for counts).
    """
    return {"kind": "timeseries", "x": [float(value) for value in times_s], "y_label": y_label, "height": height,
            "utc": utc, "y_min": y_min, "span_gaps": span_gaps,
            "series": [{"name": str(name), "values": [_number(value) for value in values]}
                       for name, values in series.items()]}


def lines(x: list[float], series: dict[str, list[float | None]], *, x_label: str = "step", y_label: str = "",
          height: int = 220, y_min: float | None = None, span_gaps: bool = True) -> dict[str, Any]:
    """Lines over a numeric axis (metric curves over steps)."""
    return {"kind": "lines", "x": [float(value) for value in x], "x_label": x_label, "y_label": y_label,
            "height": height, "y_min": y_min, "span_gaps": span_gaps,
            "series": [{"name": str(name), "values": [_number(value) for value in values]}
                       for name, values in series.items()]}


def parallel(axes: Sequence[str], lines: Mapping[str, Sequence[object]], *, color_axis: str | None = None,
             categories: Mapping[str, Sequence[str]] | None = None, height: int = 320) -> dict[str, Any]:
    """Parallel coordinates: one vertical axis per name, one polyline per line crossing them (params -> a metric).

    An axis whose values are all numbers (or missing) is numeric, scaled from its smallest to its largest
    value, logarithmically when they are all positive and span a factor of 100 or more (learning rates);
    any other axis is categorical, its values placed in order as text. Hovering a line highlights it
    and shows its name and values.

    Args:
        axes: the axis names, left to right.
        lines: line name (e.g. a run) -> one value per axis: a number, a text or ``None`` (missing: the line
            breaks around that axis; a non-finite number counts as missing).
        color_axis: colour each line by its value on this (numeric) axis, low to high; default one colour.
        categories: the order of a categorical axis's values (default: numbers-as-text by value, then text).

    Raises:
        ValidationError: ``color_axis`` is not an axis, or a line has not one value per axis.
    """
    names = [str(name) for name in axes]
    if color_axis is not None and color_axis not in names:
        raise ValidationError(f"color_axis {color_axis!r} is not one of the axes {names}.", field="color_axis")
    rows = {str(name): list(values) for name, values in lines.items()}
    for name, values in rows.items():
        if len(values) != len(names):
            raise ValidationError(f"Line {name!r} has {len(values)} values for {len(names)} axes.", field="lines")
    spec_axes: list[dict[str, Any]] = []
    columns: list[list[float | None]] = []
    for index, name in enumerate(names):
        present = [values[index] for values in rows.values() if _present(values[index])]
        if all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
            numbers = [float(value) for value in present]  # type: ignore[arg-type]
            low, high = min(numbers, default=0.0), max(numbers, default=1.0)
            spec_axes.append({"name": name, "type": "number", "min": low, "max": high,
                              "log": low > 0 and high >= 100 * low})
            columns.append([_number(values[index]) if _present(values[index]) else None for values in rows.values()])
            continue
        texts = [str(value) for value in present]
        order = [str(item) for item in (categories or {}).get(name, [])]
        order += sorted(set(texts) - set(order), key=_category_key)
        spec_axes.append({"name": name, "type": "category", "categories": order})
        position = {text: float(at) for at, text in enumerate(order)}
        columns.append([position[str(values[index])] if _present(values[index]) else None for values in rows.values()])
    return {"kind": "parallel", "height": height, "axes": spec_axes,
            "color_axis": None if color_axis is None else names.index(color_axis),
            "lines": [{"name": name, "values": [column[row] for column in columns]}
                      for row, name in enumerate(rows)]}


def chart(spec: dict[str, Any], *, title: str = "", css_class: str = "") -> str:
    """An HTML figure holding one chart; ``title`` and every string in the spec are escaped.

    The spec travels as JSON in an attribute (escaped there), so no label ever becomes markup; the chart
    box carries ``role="img"`` and the title as its accessible name.
    """
    data = html.escape(json.dumps(spec, separators=(",", ":"), allow_nan=False), quote=True)
    caption = f"<figcaption>{html.escape(title)}</figcaption>" if title else ""
    label = f' aria-label="{html.escape(title, quote=True)}"' if title else ""
    return (f'<figure class="sy-figure {html.escape(css_class, quote=True)}">{caption}'
            f'<div class="sy-chart" role="img"{label} data-spec="{data}"></div></figure>')


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def _category_key(text: str) -> tuple[int, float, str]:
    """Numbers written as text first, by value (``"2"`` before ``"10"``), then other text alphabetically."""
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    return (0, number, text) if math.isfinite(number) else (1, 0.0, text)
