"""What the compare page reads: the chosen runs in one query, metric histories in one query per metric.

MLflow's compare view fetches each run's history separately and plots every point, which is why it stalls
past about a hundred runs. Here the runs come from one search (``run_id IN (...)``), each metric's
histories for all runs from one query, and a history longer than :data:`MAX_POINTS` is thinned onto a
shared grid of steps that keeps each run's last value, so a chart never carries more than about
``MAX_POINTS`` points per run.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from ..errors import NotFoundError
from ..store import Store
from ..store.schema import metrics
from ..tracking.metrics import thinned_steps
from ..tracking.runs import resolve_run_id
from ..tracking.search import search_run_records

MAX_POINTS = 2000
_FULL_ID = re.compile(r"^[0-9a-f]{32}$")
_ID_PREFIX = re.compile(r"^[0-9a-f]{1,32}$")
_ID_CHUNK = 900  # stays under every driver's limit on bound parameters


def load_runs(store: Store, given: list[str]) -> list[dict[str, Any]]:
    """The runs ``given`` names (full ids or unique prefixes), in that order, duplicates dropped.

    Full ids cost nothing to resolve; only prefixes are looked up one by one. Raises ``NotFoundError``
    naming an id no run has (also for text that cannot be a run id at all: for the page it is a missing
    run), ``AmbiguousError`` for a prefix that matches several.
    """
    ids: list[str] = []
    for text in given:
        wanted = text.strip().lower()
        if _FULL_ID.match(wanted):
            run_id = wanted
        elif _ID_PREFIX.match(wanted):
            run_id = resolve_run_id(store, wanted)
        else:
            raise NotFoundError(f"No run has the id {text!r}: run ids are 32 hexadecimal digits (a unique prefix "
                                "is enough); the runs page lists them.")
        if run_id not in ids:
            ids.append(run_id)
    if not ids:
        return []
    quoted = ", ".join(f"'{run_id}'" for run_id in ids)  # hex only, checked above: nothing to escape
    found = {record["run_id"]: record for record in
             search_run_records(store, filter=f"attributes.run_id IN ({quoted})", max_results=len(ids))}
    missing = [run_id for run_id in ids if run_id not in found]
    if missing:
        raise NotFoundError(f"No run has the id {missing[0]!r}"
                            f"{f' (nor {len(missing) - 1} more of the ids asked for)' if len(missing) > 1 else ''}; "
                            "the runs page lists the runs in this store.")
    return [found[run_id] for run_id in ids]


def curve_keys(store: Store, run_ids: list[str]) -> list[str]:
    """The metric keys that at least one of the runs logged at more than one step, sorted."""
    statement = (select(metrics.c.key).where(metrics.c.run_id.in_(bindparam("ids", expanding=True)))
                 .group_by(metrics.c.run_id, metrics.c.key).having(func.count(func.distinct(metrics.c.step)) > 1))

    def fetch(conn: Connection) -> set[str]:
        keys: set[str] = set()
        for start in range(0, len(run_ids), _ID_CHUNK):
            keys.update(conn.execute(statement, {"ids": run_ids[start : start + _ID_CHUNK]}).scalars())
        return keys

    return sorted(store.db.read(fetch))


def histories(store: Store, run_ids: list[str], key: str) -> dict[str, list[tuple[int, float | None]]]:
    """Run id -> the (step, value) points of metric ``key``, by step; a step logged twice keeps its later value."""
    statement = (select(metrics.c.run_id, metrics.c.step, metrics.c.value)
                 .where(metrics.c.run_id.in_(bindparam("ids", expanding=True)), metrics.c.key == key)
                 .order_by(metrics.c.run_id, metrics.c.step, metrics.c.timestamp))

    def fetch(conn: Connection) -> dict[str, dict[int, float | None]]:
        points: dict[str, dict[int, float | None]] = {}
        for start in range(0, len(run_ids), _ID_CHUNK):
            for run_id, step, value in conn.execute(statement, {"ids": run_ids[start : start + _ID_CHUNK]}):
                points.setdefault(run_id, {})[step] = value
        return points

    return {run_id: list(by_step.items()) for run_id, by_step in store.db.read(fetch).items()}


def overlay(points: dict[str, list[tuple[int, float | None]]], max_points: int = MAX_POINTS,
            ) -> tuple[list[float], dict[str, list[float | None]]]:
    """One shared x axis of steps and each run's values on it (``None`` where a run has no point).

    When the runs together have more than ``max_points`` distinct steps, the steps are cut into about
    ``max_points`` buckets (:func:`~shipyard.tracking.metrics.thinned_steps`, the rule the run page's
    charts follow too) and each run keeps, per bucket, its value at the highest step in it, drawn at the
    bucket's last step: the curve's shape survives and every run's final value is shown as logged.
    ``points`` must be ordered by step within each run (as :func:`histories` returns them).
    """
    grid = thinned_steps(sorted({step for run in points.values() for step, _ in run}), max_points)
    series: dict[str, list[float | None]] = {}
    for run_id, run in points.items():
        values: list[float | None] = [None] * len(grid)
        for step, value in run:  # later steps overwrite earlier ones in the same bucket
            values[bisect.bisect_left(grid, step)] = value
        series[run_id] = values
    return [float(step) for step in grid], series
