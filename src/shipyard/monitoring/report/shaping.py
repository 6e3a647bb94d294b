"""Numbers and text as the report shows them, and the chart data kept small whatever the window's size.

The formatters are also the report templates' filters (``num``, ``thousands``, ``percent``, ``message``),
so a value reads the same in a table, a tile and a sentence. The shaping functions cap what goes into a
chart: at most ``MAX_LEVELS`` bars per feature and ``MAX_POINTS`` points per time series.
"""

from __future__ import annotations

import html
import math
import re
import time
from typing import Any

from ..windows import LATENCY_EDGES_MS

MAX_LEVELS = 30  # categories drawn per feature; the rest are summed into one "other" bar
MAX_POINTS = 1440  # points per time series; longer windows are summed into coarser buckets
MAX_TEXT = 2000  # characters shown of any one message
_MINUTES = (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
_CODE = re.compile(r"`([^`]+)`")


def capped(labels: list[Any], reference: list[float], current: list[float]) -> tuple[list[str], list[float],
                                                                                    list[float]]:
    """At most ``MAX_LEVELS`` bins: the largest (by either share) in their order, the rest summed as other."""
    labels = [str(label) for label in labels]
    reference = list(reference) + [0.0] * (len(labels) - len(reference))
    current = list(current) + [0.0] * (len(labels) - len(current))
    if len(labels) <= MAX_LEVELS:
        return labels, reference, current
    keep = sorted(range(len(labels)), key=lambda index: -max(reference[index] or 0, current[index] or 0))
    kept = sorted(keep[:MAX_LEVELS - 1])
    rest = keep[MAX_LEVELS - 1:]
    return ([labels[index] for index in kept] + [f"other ({len(rest):,} levels)"],
            [reference[index] for index in kept] + [sum(reference[index] or 0 for index in rest)],
            [current[index] for index in kept] + [sum(current[index] or 0 for index in rest)])


def per_minute_buckets(start_ms: int, end_ms: int, counts: dict[int, int],
                       previous: dict[int, int] | None) -> tuple[list[float], dict[str, list[float | None]]]:
    """Predictions per bucket over the whole window (zeros included: silence is news), the previous window too.

    Args:
        counts: rows per minute of the window (epoch minute -> rows).
        previous: rows per minute of the window before, drawn shifted onto this one; None to leave it out.

    Returns:
        The buckets' start times (epoch seconds) and the series, buckets of 1 minute or more so that there
        are at most ``MAX_POINTS``.
    """
    first, last = start_ms // 60_000, (end_ms - 1) // 60_000
    minutes = next((size for size in _MINUTES if (last - first + 1) / size <= MAX_POINTS), _MINUTES[-1])
    count = (last - first) // minutes + 1
    current = [0.0] * count
    for minute, rows in counts.items():
        if first <= minute <= last:
            current[(minute - first) // minutes] += rows
    series: dict[str, list[float | None]] = {"current window": list(current)}
    if previous is not None:
        shift = (end_ms - start_ms) // 60_000
        earlier: list[float | None] = [0.0] * count
        for minute, rows in previous.items():
            index = (minute + shift - first) // minutes
            if 0 <= index < count:
                earlier[index] = (earlier[index] or 0.0) + rows
        series["previous window (shifted)"] = earlier
    return [float((first + index * minutes) * 60) for index in range(count)], series


def latency_bins(counts: list[int]) -> tuple[list[str], list[float]]:
    """The latency histogram's buckets from the first to the last used one (one empty bucket either side)."""
    total = sum(counts) or 1
    used = [index for index, count in enumerate(counts) if count]
    start, stop = max(0, used[0] - 1), min(len(counts), used[-1] + 2)
    labels = [f"{LATENCY_EDGES_MS[index]:.3g}" if index < len(LATENCY_EDGES_MS) else f">{LATENCY_EDGES_MS[-1]:.3g}"
              for index in range(start, stop)]
    return labels, [counts[index] / total for index in range(start, stop)]


def edge(label: str) -> str:
    """A bin edge as the checks print it (``1.74e+03``) in a friendlier form (``1,740``, ``2.5M``)."""
    try:
        value = float(label)
    except ValueError:
        return label
    size = abs(value)
    if size >= 1e9:
        return f"{value / 1e9:.3g}G"
    if size >= 1e6:
        return f"{value / 1e6:.3g}M"
    if size >= 1e5:
        return f"{value / 1e3:.3g}k"
    if size >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def message(text: str) -> str:
    """A message as HTML: escaped, shortened past ``MAX_TEXT``, `names` in code style.

    The result is markup: callers mark it safe (the templates' ``message`` filter does).
    """
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT - 1] + "\u2026"
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def finite(value: Any) -> Any:
    """NaN and infinities as ``null``, so the embedded JSON is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def num(value: float | None) -> str:
    """A statistic or threshold for a table cell; ``-`` when missing or not finite."""
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def thousands(value: int | float) -> str:
    """A count with thousands separators (``20,000``)."""
    return f"{value:,}"


def percent(share: float) -> str:
    """A share in 0-1 as a percentage with one decimal (``10.0%``)."""
    return f"{share:.1%}"


def when(epoch_ms: int) -> str:
    """A moment in UTC to the minute, as the report states its window."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch_ms / 1000))


def duration(seconds: float) -> str:
    """``21600`` -> "6 hours", ``300`` -> "5 minutes", ``5400`` -> "1.5 hours"."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            value = seconds / size
            shown = f"{value:g}" if value == int(value) else f"{value:.1f}"
            return f"{shown} {unit}" + ("" if shown == "1" else "s")
    return f"{seconds:g} seconds"


def per(seconds: float) -> str:
    """The bucket in "per ...": "minute", "5 minutes"."""
    text = duration(seconds)
    return text[2:] if text.startswith("1 ") else text
