"""``/mlflow/runs/create``, ``get`` and ``update``: a run's life, over :mod:`shipyard.tracking.runs`.

A run created here is the client's: it records the token's name as its user (and as the ``mlflow.user`` tag,
so the two never disagree), the client's address as its host and ``mlflow.source.name`` as its command, and
none of the server's own git state or environment. ``mlflow.parentRunId`` makes it a nested run, as in MLflow.
Its owner is the server, not one server process: every server process beats for it until it ends, so a restart
leaves it running (``tracking/heartbeat.py``).
"""

from __future__ import annotations

from typing import Any

from ...errors import NotFoundError, NotSupportedError, ValidationError
from ...store import Store
from ...tracking.run_details import RunDetails, run_details
from ...tracking.runs import STATUSES, RunOrigin, create_run, end_run, rename_run, reopen, resolve_run_id, set_tags
from .protocol import Call, check_run_id, pair
from .shapes import PARENT_TAG, RUN_NAME_TAG, USER_TAG, resolve_experiment, run_info_json, run_json

_SOURCE_TAG = "mlflow.source.name"


def load_run(store: Store, run_id: str) -> RunDetails:
    """The run, or RESOURCE_DOES_NOT_EXIST in MLflow's words."""
    found = run_details(store, [run_id])
    if not found:
        raise NotFoundError(f"Run with id={run_id} not found")
    return found[0]


def require_run(call: Call, run_id: str) -> str:
    """``run_id`` if the run exists: what every log call checks before it writes. A run seen once is remembered by
    this process (runs are never deleted: :mod:`..cache`), so a logging call costs its write alone."""
    known = call.settings.runs
    if run_id in known:
        return run_id
    try:
        found = resolve_run_id(call.settings.store, run_id)
    except NotFoundError:
        raise NotFoundError(f"Run with id={run_id} not found") from None
    known.add(found)
    return found


def create(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    experiment = resolve_experiment(store, args.text("experiment_id") or "0")
    tags: dict[str, Any] = {}
    for item in args.items("tags"):
        key, value = pair(item, "tags")
        tags[key] = "" if value is None else value
    name = args.text("run_name") or tags.get(RUN_NAME_TAG) or None
    if name is not None:
        tags[RUN_NAME_TAG] = name
    parent = tags.pop(PARENT_TAG, None)
    if parent is not None:
        load_run(store, check_run_id(str(parent)))
    user = call.identity.name or args.text("user_id") or "anonymous"
    tags[USER_TAG] = user
    client = call.request.client
    origin = RunOrigin(user=user, host=client.host if client else None,
                       command=str(tags.get(_SOURCE_TAG)) if tags.get(_SOURCE_TAG) else None)
    run_id = create_run(store, experiment=experiment.name, name=name, tags_=tags, parent_id=parent, origin=origin,
                        start_ms=args.integer("start_time"))
    run = load_run(store, run_id)
    if name is None:  # a name Shipyard chose: the tag follows it
        set_tags(store, run_id, {RUN_NAME_TAG: run.name})
    return {"run": run_json(run)}


def get(call: Call) -> dict[str, Any]:
    return {"run": run_json(load_run(call.settings.store, call.args.run_id()))}


def update(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    run = load_run(store, args.run_id())
    name = args.text("run_name")
    if name is not None and name != run.name:
        apply_tags(store, run.id, {RUN_NAME_TAG: name})
    status = args.text("status")
    if status is not None:
        if status not in STATUSES:
            raise ValidationError(f"Parameter 'status' must be one of {', '.join(STATUSES)}, got {status[:40]!r}.",
                                  field="status")
        if status == "RUNNING":
            if run.status != "RUNNING":
                reopen(store, run.id, by_server=True)
        else:
            end_run(store, run.id, status, end_ms=args.integer("end_time"))
    return {"run_info": run_info_json(load_run(store, run.id))}


def set_tag(call: Call) -> dict[str, Any]:
    """``runs/set-tag``: ``mlflow.runName`` renames the run, as in MLflow."""
    args, store = call.args, call.settings.store
    run_id = require_run(call, args.run_id())
    key, value = args.required("key"), args.get("value")
    apply_tags(store, run_id, {key: "" if value is None else value})
    return {}


def apply_tags(store: Store, run_id: str, tags: dict[str, Any]) -> None:
    """Set tags, turning the two MLflow tags that are run attributes here into those attributes."""
    if RUN_NAME_TAG in tags:  # kept as a tag too, so that filters on tags.mlflow.runName find it
        rename_run(store, run_id, str(tags[RUN_NAME_TAG]))
    if PARENT_TAG in tags:
        raise NotSupportedError(f"The tag {PARENT_TAG!r} can only be given when a run is created (start_run(nested="
                                "True)); Shipyard keeps a run's parent fixed.")
    if tags:
        set_tags(store, run_id, tags)
