"""Runs through Shipyard's own API: create (with the client's run id), params, tags, metric batches, end, read.

A remote client (:mod:`shipyard.tracking.remote`) chooses the run id itself, so a create that is retried names the
same run; every write also carries an idempotency key (``protocol.Call.once``). A run created here records the
token's name as its user, the client's address as its host and the client's command; its owner is the server,
whose processes keep it alive (``tracking/heartbeat.py``), as for runs of MLflow clients, unless the client says it
beats for the run itself (``"heartbeat": true``, as Shipyard's client does): then a client that stops beating (killed)
has its runs ended KILLED by the server's reaper.

Metric batches may hold points of several runs (one client process logging nested runs): every run is checked to
exist in the same transaction that writes the points, and NaN travels as ``null``, infinities as ``"Infinity"`` and
``"-Infinity"``, since JSON has neither.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from ...errors import ConflictError, NotFoundError, ValidationError
from ...store.schema import runs as runs_table
from ...tracking.heartbeat import CLIENT_OWNER, MAX_BEATEN_RUNS, SERVER_OWNER, beat_client_runs
from ...tracking.metrics import Point, check_points, insert_points, metric_points
from ...tracking.provenance import GitState
from ...tracking.runs import (
    STATUSES,
    RunOrigin,
    check_params,
    check_run_id,
    check_status,
    check_tags,
    create_run,
    get_run,
    mark_ended,
    reopen,
    write_params,
    write_tags,
)
from ...tracking.validation import check_name
from .protocol import Call, field

MAX_POINTS = 100_000  # per batch: a client sends at most this many at once
_STEP_MIN, _STEP_END = -(2**63), 2**63
_COMMIT_RE = re.compile(r"^[0-9a-f]{4,64}$")
_SPECIAL = {"Infinity": float("inf"), "-Infinity": float("-inf"), "NaN": float("nan")}


def create(call: Call) -> dict[str, Any]:
    body, store = call.body, call.settings.store
    run_id = check_run_id(field(body, "run_id", str, required=True))
    experiment = check_name(field(body, "experiment", str, required=True), "experiment")
    name = check_name(field(body, "name", str, required=True), "run")
    tags = check_tags(field(body, "tags", dict) or {})
    parent = field(body, "parent_id", str)
    if parent is not None:
        parent = check_run_id(parent)
    start = field(body, "start_time", int)
    client = call.request.client
    origin = RunOrigin(user=call.identity.name or "anonymous", host=client.host if client else None,
                       command=field(body, "command", str), git=_git_state(field(body, "git", dict)),
                       owner=_owner(body))
    answer = {"run": {"run_id": run_id, "name": name, "experiment": experiment, "status": "RUNNING"}}
    replayed = call.recall()
    if replayed is not None:
        return replayed
    try:
        create_run(store, experiment=experiment, name=name, tags_=tags, parent_id=parent, origin=origin,
                   start_ms=start, run_id=run_id, also=lambda conn: call.remember(conn, answer))
    except IntegrityError:  # the same create arrived twice at once, or the id is taken
        replayed = call.recall()
        if replayed is not None:
            return replayed
        raise ConflictError(f"A run with the id {run_id} exists already; a new run needs a new id (or send the "
                            "first request's Idempotency-Key to retry it).") from None
    return answer


def _git_state(document: dict[str, Any] | None) -> GitState | None:
    """The client's work tree as it sent it (``RemoteTracker.create_run``): where the run's code came from."""
    if document is None:
        return None
    root = field(document, "root", str, required=True, what="the work tree's folder")
    commit = field(document, "commit", str)
    if commit is not None and not _COMMIT_RE.match(commit):
        raise ValidationError(f"The field 'git.commit' must be a hexadecimal commit id, got {commit[:80]!r}.",
                              field="git.commit")
    dirty = field(document, "dirty", bool)
    return GitState(root=root[:4000], commit=commit, branch=(field(document, "branch", str) or None),
                    dirty=bool(dirty), diff_hash=field(document, "diff_hash", str), diff=None)


def get(call: Call) -> dict[str, Any]:
    store = call.settings.store
    return {"run": get_run(store, check_run_id(call.path["run_id"])).to_dict()}


def _owner(body: dict[str, Any]) -> str:
    """Who keeps the run alive: the client when it says it beats for it (``"heartbeat": true``), else the server."""
    return CLIENT_OWNER if field(body, "heartbeat", bool) else SERVER_OWNER


def resume(call: Call) -> dict[str, Any]:
    """An ended run RUNNING again (``start_run(run_id=...)``), the server or the beating client its owner now."""
    store = call.settings.store
    run = get_run(store, check_run_id(call.path["run_id"]))
    if run.status != "RUNNING":
        reopen(store, run.id, by_server=True, owner=_owner(call.body))
    return {"run": {"run_id": run.id, "name": run.name, "experiment": run.experiment, "status": "RUNNING",
                    "was": run.status}}


def log_params(call: Call) -> dict[str, Any]:
    run_id = check_run_id(call.path["run_id"])
    checked = check_params(field(call.body, "params", dict, required=True))

    def work(conn: Connection) -> dict[str, Any]:
        _require_runs(conn, [run_id])
        write_params(conn, run_id, checked)
        return {"params": len(checked)}

    return call.once(work)


def set_tags(call: Call) -> dict[str, Any]:
    run_id = check_run_id(call.path["run_id"])
    checked = check_tags(field(call.body, "tags", dict, required=True))

    def work(conn: Connection) -> dict[str, Any]:
        _require_runs(conn, [run_id])
        write_tags(conn, run_id, checked)
        return {"tags": len(checked)}

    return call.once(work)


def end(call: Call) -> dict[str, Any]:
    run_id = check_run_id(call.path["run_id"])
    status = field(call.body, "status", str, required=True)
    if status not in STATUSES or status == "RUNNING":
        raise ValidationError(f"The field 'status' must be FINISHED, FAILED or KILLED, got {status[:40]!r}.",
                              field="status")
    check_status(status)
    error = field(call.body, "error", str)
    end_ms = field(call.body, "end_time", int)

    def work(conn: Connection) -> dict[str, Any]:
        _require_runs(conn, [run_id])
        mark_ended(conn, run_id, status, error, end_ms=end_ms)
        return {"run_id": run_id, "status": status}

    return call.once(work)


def log_metrics(call: Call) -> dict[str, Any]:
    """A batch of ``[run_id, key, step, value, timestamp_ms]`` points, all written or none."""
    items = field(call.body, "points", list, required=True)
    if len(items) > MAX_POINTS:
        raise ValidationError(f"A batch holds at most {MAX_POINTS} points; this one has {len(items)}. Send it in "
                              "several batches.", field="points")
    batch = _points(items)
    run_ids = sorted({point[0] for point in batch})

    def work(conn: Connection) -> dict[str, Any]:
        _require_runs(conn, run_ids)
        insert_points(conn, batch)
        return {"points": len(batch)}

    return call.once(work)


def _points(items: list[Any]) -> list[Point]:
    """The batch's points as rows to store. The common point (ids and keys seen before in the batch, whole numbers,
    a finite float) takes a few type checks; any other goes through the full checks, which name what is wrong."""
    batch: list[Point] = []
    runs_seen: set[str] = set()
    keys_seen: set[str] = set()
    for index, item in enumerate(items):
        if type(item) is list and len(item) == 5:
            run_id, key, step, value, stamp = item
            if run_id in runs_seen and key in keys_seen and type(step) is int and type(stamp) is int \
                    and type(value) is float and _STEP_MIN <= step < _STEP_END and 0 <= stamp < _STEP_END \
                    and value == value:
                batch.append((run_id, key, step, value, stamp))
                continue
        batch.append(_point(index, item))
        runs_seen.add(batch[-1][0])
        keys_seen.add(batch[-1][1])
    return batch


def _point(index: int, item: Any) -> Point:
    if not isinstance(item, list) or len(item) != 5:
        raise ValidationError(f"Point {index} of 'points' must be [run_id, key, step, value, timestamp_ms], got "
                              f"{json.dumps(item)[:80]}.", field="points")
    run_id, key, step, value, stamp = item
    try:
        return check_points(check_run_id(run_id), [(key, _number(value, key), step, stamp)])[0]
    except ValidationError as exc:
        raise ValidationError(f"Point {index} of 'points': {exc.message}", field=f"points.{exc.field}") from None


def metric_history(call: Call) -> dict[str, Any]:
    store = call.settings.store
    run_id = check_run_id(call.path["run_id"])
    get_run(store, run_id)
    points = metric_points(store, run_id, call.path["key"])
    return {"points": [[step, _json_number(value), stamp] for step, value, stamp in points]}


def heartbeat(call: Call) -> dict[str, Any]:
    """``{"run_ids": [...]}``: the client that sent it still runs these runs (``tracking/heartbeat.py``); the answer
    counts those still RUNNING here, so a client can tell when the reaper ended one."""
    run_ids = field(call.body, "run_ids", list, required=True)
    if len(run_ids) > MAX_BEATEN_RUNS:
        raise ValidationError(f"A heartbeat names at most {MAX_BEATEN_RUNS:,} runs, got {len(run_ids):,}.",
                              field="run_ids")
    checked = [check_run_id(run_id) for run_id in run_ids]
    return call.once(lambda conn: {"running": beat_client_runs(conn, checked)})


def _require_runs(conn: Connection, run_ids: list[str]) -> None:
    found = set(conn.execute(select(runs_table.c.id).where(runs_table.c.id.in_(run_ids))).scalars())
    missing = [run_id for run_id in run_ids if run_id not in found]
    if missing:
        raise NotFoundError(f"No run has the id {missing[0]!r} on this server; create it first (POST "
                            "/api/shipyard/v1/runs).")


def _number(value: Any, key: str) -> Any:
    if value is None:
        return float("nan")
    if isinstance(value, str):
        if value in _SPECIAL:
            return _SPECIAL[value]
        raise ValidationError(f"The value of metric {key!r} must be a number, null (NaN), \"Infinity\" or "
                              f"\"-Infinity\", got {value[:40]!r}.", field="value")
    return value


def _json_number(value: float) -> float | str | None:
    if value != value:
        return None
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value
