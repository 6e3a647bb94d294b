"""Runs: creation with automatic lineage, params and tags, ending, lookup by (abbreviated) id."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from ..errors import AmbiguousError, NotFoundError, ValidationError
from ..store import Store
from ..store.dialect import insert_ignore, upsert
from ..store.processes import this_process
from ..store.schema import RUN_STATUSES, artifacts, environments, experiments, latest_metrics, params, runs, tags
from . import provenance
from ._names import random_run_name
from .experiments import experiment_id
from .heartbeat import SERVER_OWNER, heartbeat_for
from .key_catalogue import record_keys
from .validation import MAX_PARAM_LENGTH, MAX_TAG_LENGTH, check_key, check_name, check_text

RUNNING, FINISHED, FAILED, KILLED = STATUSES = RUN_STATUSES
_ID_PREFIX_RE = re.compile(r"^[0-9a-f]{1,32}$")
_RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_NEXT_SEQ = select(func.coalesce(func.max(runs.c.seq), 0) + 1)


@dataclass(frozen=True)
class RunOrigin:
    """Who logs a run through a server on their behalf (an MLflow client of ``shipyard server``).

    The server's own git state, environment and process say nothing about such a run, so none of them is
    recorded: the run keeps the client's ``user`` (the token's name), ``host`` (its address) and ``command``
    (what the client says it runs, MLflow's ``mlflow.source.name``), and ``git``, the state of the client's work
    tree when the client is Shipyard's own (``shipyard repro`` and the fluent API send it): the code behind the run,
    which the server cannot see. Its diff stays on the client; ``diff_hash`` names it. ``owner`` says who keeps the
    run alive (``heartbeat.py``): the server, or (:data:`~.heartbeat.CLIENT_OWNER`) a client that beats for it.
    """

    user: str
    host: str | None = None
    command: str | None = None
    git: provenance.GitState | None = None
    owner: str = SERVER_OWNER


@dataclass(frozen=True)
class Run:
    """Everything known about one run. ``metrics`` holds the latest value of each metric."""

    id: str
    experiment: str
    name: str
    status: str
    start_time: datetime
    end_time: datetime | None
    parent_id: str | None
    error: str | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (see docs/cli-json.md)."""
        return {
            "run_id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "duration_s": self.duration_s,
            "parent_run_id": self.parent_id,
            "error": self.error,
            "params": dict(self.params),
            "metrics": {key: _json_number(value) for key, value in self.metrics.items()},
            "tags": dict(self.tags),
            "lineage": self.lineage,
            "artifacts": list(self.artifacts),
        }


def create_run(
    store: Store,
    *,
    experiment: str,
    name: str | None = None,
    tags_: dict[str, Any] | None = None,
    parent_id: str | None = None,
    workdir: Path | None = None,
    start_ms: int | None = None,
    origin: RunOrigin | None = None,
    run_id: str | None = None,
    also: Callable[[Connection], None] | None = None,
) -> str:
    """Create a RUNNING run with its lineage captured (git state of ``workdir``, default the working
    directory); return its id. This process owns it: it beats for it until it ends (``heartbeat.py``).

    ``start_ms`` backdates the start (epoch milliseconds) for a run recorded after the work it describes
    began, as autologging records a fit once it returned, or as a remote client says it began.

    With ``origin`` the run is a remote client's (see :class:`RunOrigin`): nothing of this process is recorded,
    and its owner is the server (``heartbeat.SERVER_OWNER``), whose processes beat for it.

    ``run_id`` is the id a remote client chose (so that a retried create names the same run); ``also`` runs in
    the same transaction (the server records the request's idempotency key there).
    """
    exp_id = experiment_id(store, experiment)
    run_name = check_name(name, "run") if name is not None else random_run_name()
    tag_rows = _tag_rows(tags_ or {})
    git = provenance.git_state(workdir) if origin is None else origin.git
    env = provenance.environment() if origin is None else None
    proc = provenance.process_info()
    if git is not None and git.diff is not None and git.diff_hash is not None:
        store.objects.put_bytes(git.diff)  # the uncommitted code itself, so the run can be reproduced
    run_id = uuid.uuid4().hex if run_id is None else check_run_id(run_id)
    now = _now_ms()
    started = now if start_ms is None else int(start_ms)
    owner = this_process()
    known_environments: set[str] = store.cache.setdefault("environments", set())
    who = {"python_version": proc.python_version, "os": proc.os, "host": proc.host, "user_name": proc.user,
           "command": proc.command, "pid": proc.pid} if origin is None else {
           "python_version": None, "os": None, "host": origin.host, "user_name": origin.user,
           "command": origin.command, "pid": None}

    def write(conn: Connection) -> None:
        if env is not None and env.hash not in known_environments:
            insert_ignore(conn, environments, [
                {"hash": env.hash, "python": env.python, "packages": provenance.packages_json(env), "created_at": now}
            ])
        if parent_id is not None and conn.execute(select(runs.c.id).where(runs.c.id == parent_id)).first() is None:
            raise NotFoundError(f"The parent run {parent_id} does not exist.")
        seq = conn.execute(_NEXT_SEQ).scalar()
        conn.execute(runs.insert(), {
            "id": run_id, "seq": seq, "experiment_id": exp_id, "name": run_name, "status": RUNNING,
            "start_time": started, "end_time": None, "error": None, "parent_id": parent_id,
            "git_commit": git.commit if git else None, "git_branch": git.branch if git else None,
            "git_dirty": git.dirty if git else None, "git_diff_hash": git.diff_hash if git else None,
            "git_root": git.root if git else None, "environment_hash": env.hash if env else None,
            **who, "process_start": owner.start if origin is None else origin.owner, "heartbeat_at": now,
        })
        if tag_rows:
            conn.execute(tags.insert(), [{"run_id": run_id, **row} for row in tag_rows])
        if also is not None:
            also(conn)

    store.db.write(write)
    if env is not None:
        known_environments.add(env.hash)
    if origin is None:
        heartbeat_for(store).own(run_id)
    return run_id


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValidationError(f"Unknown run status {status!r}; use one of {', '.join(STATUSES)}.", field="status")
    return status


def end_run(store: Store, run_id: str, status: str = FINISHED, error: str | None = None, *,
            end_ms: int | None = None) -> None:
    """End a run; ``end_ms`` (epoch milliseconds) records when the work ended, if that was before now."""
    check_status(status)
    store.db.write(lambda conn: mark_ended(conn, run_id, status, error, end_ms=end_ms))
    heartbeat_for(store).release(run_id)


_END_STATEMENT = update(runs).where(runs.c.id == bindparam("run_id")).values(
    status=bindparam("status"), end_time=bindparam("end_time"), error=bindparam("error"))


def mark_ended(conn: Connection, run_id: str, status: str, error: str | None, *, end_ms: int | None = None) -> None:
    ended = _now_ms() if end_ms is None else int(end_ms)
    conn.execute(_END_STATEMENT, {"run_id": run_id, "status": status, "end_time": ended, "error": error})


def reopen(store: Store, run_id: str, *, by_server: bool = False, owner: str = SERVER_OWNER) -> None:
    """Mark an ended run RUNNING again (resumed with ``start_run(run_id=...)``), owned by this process now
    (or, ``by_server``, by ``owner``: the team server a remote client resumed it through, or that client).

    Its ``host`` and ``pid`` keep naming the process that created it; its start key names the new owner.
    """
    start = owner if by_server else this_process().start
    store.db.write(lambda conn: conn.execute(
        update(runs).where(runs.c.id == run_id).values(status=RUNNING, end_time=None, error=None,
                                                       process_start=start, heartbeat_at=_now_ms())))
    if not by_server:
        heartbeat_for(store).own(run_id)


def log_params(store: Store, run_id: str, values: dict[str, Any]) -> None:
    """Record params; logging a key again with the same value is fine, with another value is refused."""
    if not values:
        return
    checked = check_params(values)
    store.db.write(lambda conn: write_params(conn, run_id, checked))


def check_params(values: dict[str, Any]) -> dict[str, str]:
    """The params as stored text, every key and value checked (a ValidationError names the first bad one)."""
    return {check_key(key, "param"): check_text(value, "param", key, MAX_PARAM_LENGTH) for key, value in values.items()}


def write_params(conn: Connection, run_id: str, checked: dict[str, str]) -> None:
    """Write params checked by :func:`check_params` inside the caller's transaction (see :func:`log_params`)."""
    rows = [{"run_id": run_id, "key": key, "value": value} for key, value in checked.items()]
    if not rows:
        return
    inserted = insert_ignore(conn, params, rows)
    record_keys(conn, "params", ((run_id, key) for key in checked))
    if inserted == len(rows):
        return  # all new: the common case
    existing = dict(conn.execute(
        select(params.c.key, params.c.value).where(params.c.run_id == run_id, params.c.key.in_(list(checked)))
    ).all())
    for key, value in checked.items():
        if existing.get(key, value) != value:
            raise ValidationError(  # rolls the whole call back: nothing of it is written
                f"The param {key!r} of run {run_id[:8]} is already {existing[key]!r} and cannot become "
                f"{value!r}: params are fixed inputs. Start a new run, or log it as a metric or tag.",
                field=f"params.{key}",
            )


def set_tags(store: Store, run_id: str, values: dict[str, Any]) -> None:
    rows = [{"run_id": run_id, **row} for row in _tag_rows(values)]
    store.db.write(lambda conn: upsert(conn, tags, rows))


def check_tags(values: dict[str, Any]) -> dict[str, str]:
    """The tags as stored text, every key and value checked (a ValidationError names the first bad one)."""
    return {row["key"]: row["value"] for row in _tag_rows(values)}


def write_tags(conn: Connection, run_id: str, checked: dict[str, str]) -> None:
    """Set tags checked by :func:`check_tags` inside the caller's transaction."""
    upsert(conn, tags, [{"run_id": run_id, "key": key, "value": value} for key, value in checked.items()])


def delete_tag(store: Store, run_id: str, key: str) -> bool:
    """Remove one tag of the run; returns whether it was there."""
    check_key(key, "tag")
    deleted = store.db.write(lambda conn: conn.execute(
        tags.delete().where(tags.c.run_id == run_id, tags.c.key == key)).rowcount)
    return bool(deleted)


def rename_run(store: Store, run_id: str, name: str) -> None:
    """Give the run a new name (MLflow clients rename through ``mlflow.runName`` and ``update_run``)."""
    new_name = check_name(name, "run")
    store.db.write(lambda conn: conn.execute(update(runs).where(runs.c.id == run_id).values(name=new_name)))


def check_run_id(value: str) -> str:
    """``value`` if it is a whole run id (32 lowercase hexadecimal digits), else a ValidationError naming it."""
    if not isinstance(value, str) or not _RUN_ID_RE.match(value):
        raise ValidationError(f"{str(value)[:80]!r} is not a run id: run ids are 32 lowercase hexadecimal digits.",
                              field="run_id")
    return value


def resolve_run_id(store: Store, id_or_prefix: str) -> str:
    """The full id of the run that ``id_or_prefix`` names, which may be any unique prefix."""
    text = str(id_or_prefix).strip().lower()
    if not _ID_PREFIX_RE.match(text):
        raise ValidationError(
            f"{id_or_prefix!r} is not a run id: run ids are 32 hexadecimal digits (a unique prefix is enough).",
            field="run_id",
        )

    def query(conn: Connection) -> list[str]:
        if len(text) == 32:
            return list(conn.execute(select(runs.c.id).where(runs.c.id == text)).scalars())
        return list(conn.execute(select(runs.c.id).where(runs.c.id.like(text + "%")).limit(6)).scalars())

    found = store.db.read(query)
    if not found:
        raise NotFoundError(f"No run has the id {text!r}; `shipyard runs list` shows the runs in this store.")
    if len(found) > 1:
        shown = ", ".join(run[: len(text) + 4] for run in found[:5])
        raise AmbiguousError(
            f"The prefix {text!r} matches several runs ({shown}{', ...' if len(found) > 5 else ''}); "
            "give more characters.",
            candidates=found,
        )
    return found[0]


def get_run(store: Store, id_or_prefix: str) -> Run:
    run_id = resolve_run_id(store, id_or_prefix)
    return store.db.read(lambda conn: _load_run(conn, run_id))


def _load_run(conn: Connection, run_id: str) -> Run:
    row = conn.execute(
        select(runs, experiments.c.name.label("experiment_name"))
        .join(experiments, experiments.c.id == runs.c.experiment_id)
        .where(runs.c.id == run_id)
    ).one()
    env = conn.execute(select(environments).where(environments.c.hash == row.environment_hash)).first()

    def pairs(table: Any, value: Any) -> dict[str, Any]:
        return dict(conn.execute(select(table.c.key, value).where(table.c.run_id == run_id)
                                 .order_by(table.c.key)).all())

    metric_values = {key: (float("nan") if value is None else value)
                     for key, value in pairs(latest_metrics, latest_metrics.c.value).items()}
    artifact_rows = conn.execute(
        select(artifacts.c.path, artifacts.c.hash, artifacts.c.size)
        .where(artifacts.c.run_id == run_id).order_by(artifacts.c.path)
    ).mappings().all()
    start = _to_datetime(row.start_time)
    end = _to_datetime(row.end_time) if row.end_time is not None else None
    return Run(
        id=row.id, experiment=row.experiment_name, name=row.name, status=row.status, start_time=start,
        end_time=end, parent_id=row.parent_id, error=row.error, params=pairs(params, params.c.value),
        metrics=metric_values, tags=pairs(tags, tags.c.value), artifacts=[dict(item) for item in artifact_rows],
        lineage={
            "git": None if row.git_root is None else {
                "commit": row.git_commit, "branch": row.git_branch, "dirty": row.git_dirty,
                "diff_hash": row.git_diff_hash, "root": row.git_root,
            },
            "environment": None if env is None else {
                "hash": env.hash, "python": env.python, "packages": len(json.loads(env.packages)),
            },
            "process": {"host": row.host, "user": row.user_name, "command": row.command, "pid": row.pid,
                        "python_version": row.python_version, "os": row.os},
            "parent_run_id": row.parent_id,
            "start_time": start.isoformat(),
            "end_time": end.isoformat() if end else None,
            "duration_s": (end - start).total_seconds() if end else None,
        },
    )


def environment_packages(store: Store, env_hash: str) -> list[str]:
    """The ``name==version`` lines of a recorded environment."""
    row = store.db.read(lambda conn: conn.execute(
        select(environments.c.packages).where(environments.c.hash == env_hash)).scalar())
    if row is None:
        raise NotFoundError(f"No environment with hash {env_hash[:12]} is recorded in this store.")
    return list(json.loads(row))


def _tag_rows(values: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": check_key(key, "tag"), "value": check_text(value, "tag", key, MAX_TAG_LENGTH)}
            for key, value in values.items()]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _json_number(value: float) -> float | str:
    """JSON has no NaN or infinity; the stable JSON form writes them as strings."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value
