"""Charts for HTML pages: one spec format, drawn in the browser by the vendored uPlot (no CDN, works offline).

The monitoring report and the web UI both call these functions, so a histogram or a time series looks and
behaves the same everywhere (hover values, drag to zoom on time series). Python builds small JSON specs;
``assets/charts.js`` draws them. Everything a page needs is inlined by :func:`inline_assets`, so a report
is one self-contained file.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any


@functools.cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def inline_assets() -> str:
    """The ``<style>`` and ``<script>`` tags every page with charts needs (about 55 kB)."""
    return (f"<style>{_asset('uPlot.min.css')}</style>\n<script>{_asset('uPlot.iife.min.js')}</script>\n"
            f"<script>{_asset('charts.js')}</script>")


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
