"""Hourly profiles: a finished hour is scanned once, then read from the cache until its files change."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.monitoring.monitor import monitor
from shipyard.predlog.layout import serving_root
from tests.integration.monitoring._traffic import Hours, Template, iso, log_traffic, world


@pytest.fixture
def hours(churn_store: Path) -> Hours:
    return Hours.recent()


def _cache_files() -> list[Path]:
    return sorted((serving_root() / "profiles").rglob("*.json"))


def test_finished_hours_are_cached_and_give_the_same_answer(template: Template, hours: Hours) -> None:
    log_traffic(template, world(800, seed=31), start_ms=hours.previous_start, end_ms=hours.current_start)
    log_traffic(template, world(900, seed=32, shift={"tenure": 3.0}), start_ms=hours.current_start,
                end_ms=hours.current_end)
    span = {"start": iso(hours.previous_start), "end": iso(hours.current_end)}

    first = monitor("churn", **span).to_dict()
    cached = _cache_files()
    assert len(cached) >= 2  # both whole hours of the window (and of the window before, for volume)
    stamps = {path: path.stat().st_mtime_ns for path in cached}
    second = monitor("churn", **span).to_dict()
    assert second == first  # the cache answers exactly as the scan did
    assert {path: path.stat().st_mtime_ns for path in _cache_files()} == stamps  # read, not rewritten

    log_traffic(template, world(100, seed=33), start_ms=hours.current_start, end_ms=hours.current_end)
    third = monitor("churn", **span).to_dict()
    assert third["current"]["rows"] == first["current"]["rows"] + 100  # new files in the hour: scanned again


def test_a_partial_hour_is_never_cached(template: Template, hours: Hours) -> None:
    middle = hours.current_start + 1_800_000
    log_traffic(template, world(300, seed=34), start_ms=hours.current_start, end_ms=middle)
    monitor("churn", start=iso(hours.current_start), end=iso(middle))
    assert _cache_files() == []


def test_a_long_window_visits_only_hours_that_have_files(template: Template, hours: Hours) -> None:
    log_traffic(template, world(400, seed=35), start_ms=hours.previous_start, end_ms=hours.current_end)
    logged_hours = {folder for folder in (serving_root() / "predictions").rglob("hour=*")}

    result = monitor("churn", since="60d")  # 1,440 hours, and as many in the window before it

    assert result.current.rows == 400
    assert len(logged_hours) == 2
    assert len(_cache_files()) == 2  # one per logged hour; an hour without files is neither scanned nor cached
