"""Whole runs for clients that want everything at once: the MLflow-compatible API of ``shipyard server``.

A search answers with many runs, each with its params, tags, latest metrics (with their step and time) and
dataset inputs. Loading them one :func:`~shipyard.tracking.runs.get_run` at a time costs about six queries a
run; :func:`run_details` reads a page of runs in one query per table instead, in one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select

from ..store import Store
from ..store.schema import latest_metrics, params, run_inputs, runs, tags

_ID_CHUNK = 900  # under every driver's limit on bound parameters


@dataclass
class RunDetails:
    """One run as a client sees it. Times are epoch milliseconds; metric values NaN where NaN was logged."""

    id: str
    experiment_id: int
    name: str
    status: str
    start_time_ms: int
    end_time_ms: int | None
    parent_id: str | None
    user: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, step, timestamp ms
    inputs: list[dict[str, Any]] = field(default_factory=list)


def run_details(store: Store, run_ids: list[str]) -> list[RunDetails]:
    """The runs of ``run_ids`` that exist, in the order given."""
    if not run_ids:
        return []

    def read(conn: Connection) -> list[RunDetails]:
        found: dict[str, RunDetails] = {}
        for start in range(0, len(run_ids), _ID_CHUNK):
            chunk = {"ids": run_ids[start : start + _ID_CHUNK]}
            for row in conn.execute(select(runs.c.id, runs.c.experiment_id, runs.c.name, runs.c.status,
                                           runs.c.start_time, runs.c.end_time, runs.c.parent_id, runs.c.user_name)
                                    .where(runs.c.id.in_(bindparam("ids", expanding=True))), chunk):
                found[row.id] = RunDetails(row.id, int(row.experiment_id), row.name, row.status, int(row.start_time),
                                           None if row.end_time is None else int(row.end_time), row.parent_id,
                                           row.user_name)
            _fill(conn, found, chunk)
        return [found[run_id] for run_id in run_ids if run_id in found]

    return store.db.read(read)


def _fill(conn: Connection, found: dict[str, RunDetails], chunk: dict[str, list[str]]) -> None:
    def rows(*columns: Any) -> Any:
        return conn.execute(select(*columns).where(columns[0].in_(bindparam("ids", expanding=True))), chunk)

    for run_id, key, value in rows(params.c.run_id, params.c.key, params.c.value):
        found[run_id].params[key] = value
    for run_id, key, value in rows(tags.c.run_id, tags.c.key, tags.c.value):
        found[run_id].tags[key] = value
    for run_id, key, value, step, stamp in rows(latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value,
                                                latest_metrics.c.step, latest_metrics.c.timestamp):
        found[run_id].metrics.append((key, float("nan") if value is None else float(value), int(step), int(stamp)))
    for row in rows(run_inputs.c.run_id, run_inputs.c.name, run_inputs.c.digest, run_inputs.c.source_type,
                    run_inputs.c.source, run_inputs.c.schema, run_inputs.c.profile, run_inputs.c.context):
        found[row.run_id].inputs.append({
            "name": row.name, "digest": row.digest, "source_type": row.source_type, "source": row.source,
            "schema": row.schema, "profile": row.profile, "context": row.context})
