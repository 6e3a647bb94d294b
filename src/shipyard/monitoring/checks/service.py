"""Checks of the service around the model: prediction volume, refused or failed requests, latency."""

from __future__ import annotations

import math
from typing import Any

from ..config import Thresholds
from ..windows import WindowProfile
from .result import CheckResult, status_of


def volume_check(current: WindowProfile, previous: WindowProfile | None, thresholds: Thresholds) -> CheckResult:
    """Predictions in this window against the window of the same length before it."""
    minimum = thresholds.get("volume", "min_rows")
    series = _volume_series(current)
    if previous is None or previous.rows < minimum:
        return CheckResult("volume", None, "ok", "change_factor", None, None,
                           f"{current.rows:,} predictions in this window; no comparable earlier window with "
                           f"{minimum}+ predictions yet.", series)
    ratio = current.rows / previous.rows if previous.rows else math.inf
    spread = max(ratio, 1 / ratio) if ratio > 0 else math.inf
    status = status_of(spread, thresholds.get("volume", "warn_ratio"), thresholds.get("volume", "alert_ratio"))
    direction = "up" if ratio >= 1 else "down"
    series["ratio"] = ratio
    return CheckResult("volume", None, status, "change_factor", spread, thresholds.get("volume", "alert_ratio"),
                       f"{current.rows:,} predictions, {direction} {spread:.1f}x from {previous.rows:,} in the "
                       "previous window of the same length.", series)


def error_check(errors: dict[tuple[int, str, str], int], current: WindowProfile,
                thresholds: Thresholds) -> CheckResult:
    """Share of prediction requests the server refused (4xx) or failed (5xx), with the commonest causes."""
    failed = sum(errors.values())
    total = failed + current.requests
    rate = failed / total if total else 0.0
    status = status_of(rate, thresholds.get("errors", "warn_rate"), thresholds.get("errors", "alert_rate"))
    if not failed:
        return CheckResult("errors", None, "ok", "error_rate", 0.0, thresholds.get("errors", "alert_rate"),
                           f"No failed requests among {current.requests:,}.")
    causes = sorted(errors.items(), key=lambda item: -item[1])[:3]
    named = ", ".join(f"{count:,} {kind} ({code}{', field ' + field if field else ''})"
                      for (code, kind, field), count in causes)
    return CheckResult("errors", None, status, "error_rate", rate, thresholds.get("errors", "alert_rate"),
                       f"{rate:.1%} of requests failed ({failed:,} of {total:,}): {named}.",
                       {"causes": [{"status": code, "type": kind, "field": field or None, "count": count}
                                   for (code, kind, field), count in causes]})


def latency_check(current: WindowProfile, thresholds: Thresholds) -> CheckResult:
    p50, p95, p99 = (current.latency_quantile(q) for q in (0.5, 0.95, 0.99))
    if p99 is None:
        return CheckResult("latency", None, "ok", "p99_ms", None, None, "No requests in this window.")
    status = status_of(p99, thresholds.get("latency", "p99_warn_ms"), thresholds.get("latency", "p99_alert_ms"))
    return CheckResult("latency", None, status, "p99_ms", p99, thresholds.get("latency", "p99_alert_ms"),
                       f"Server latency p50 {p50:.3g} ms, p95 {p95:.3g} ms, p99 {p99:.3g} ms (bucket upper bounds).",
                       {"p50": p50, "p95": p95, "p99": p99})


def _volume_series(current: WindowProfile) -> dict[str, Any]:
    minutes = sorted(current.per_minute)
    return {"minutes": minutes, "counts": [current.per_minute[minute] for minute in minutes]}
