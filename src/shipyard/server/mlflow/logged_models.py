"""MLflow 3's logged models (``/mlflow/logged-models``), kept with the run that made them.

``mlflow.<flavor>.log_model`` creates a logged model, uploads MLflow's files (``MLmodel``, the model, the input
example) to the model's artifact location, marks it ready, and may register it. Shipyard has no such object of its
own: a logged model here is a record on its source run (the run tag ``mlflow.loggedModel.<id>``, a JSON object) and
its files are artifacts of that run under ``mlflow-models/<id>/``, so they are content-addressed, verified on read
and listed by ``shipyard runs show`` like any artifact. The id embeds the run id (``m-<run id><8 hex digits>``), so
finding a model is one indexed read of one run's tag. A logged model without a run is refused: Shipyard keeps every
model with the run that made it (its lineage).

Registering a logged model (``model-versions/create``, :mod:`.registration`) makes it a Shipyard version.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ...errors import NotFoundError, NotSupportedError, ValidationError
from ...store import Store
from ...store.schema import runs, tags
from ...tracking.runs import set_tags
from .names import matches, parse
from .protocol import Call, check_run_id, pair
from .runs import load_run
from .shapes import artifact_root, resolve_experiment

RECORD_TAG = "mlflow.loggedModel."
FILES_PREFIX = "mlflow-models"
_ID_RE = re.compile(r"^m-([0-9a-f]{32})[0-9a-f]{8}$")
_STATUSES = {"LOGGED_MODEL_PENDING": "PENDING", "LOGGED_MODEL_READY": "READY",
             "LOGGED_MODEL_UPLOAD_FAILED": "FAILED", "LOGGED_MODEL_STATUS_UNSPECIFIED": "PENDING"}
_WIRE = {"PENDING": "LOGGED_MODEL_PENDING", "READY": "LOGGED_MODEL_READY", "FAILED": "LOGGED_MODEL_UPLOAD_FAILED"}
_SEARCH_FIELDS = ("name", "source_run_id", "model_id", "status", "model_type")
_MAX_RESULTS = 1000


@dataclass
class LoggedModel:
    """One logged model: what its record holds, plus where it lives."""

    id: str
    run_id: str
    experiment_id: int
    name: str
    status: str = "PENDING"
    model_type: str | None = None
    created_ms: int = 0
    updated_ms: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    package: str | None = None  # the Shipyard package made of it when it was first registered

    @property
    def files(self) -> str:
        """Its files' folder among the run's artifacts."""
        return f"{FILES_PREFIX}/{self.id}"

    @property
    def artifact_uri(self) -> str:
        return f"{artifact_root(self.experiment_id, self.run_id)}/{self.files}"

    def record(self) -> str:
        return json.dumps({"name": self.name, "status": self.status, "model_type": self.model_type,
                           "created_ms": self.created_ms, "updated_ms": self.updated_ms, "tags": self.tags,
                           "params": self.params, "package": self.package}, sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "model_id": self.id, "experiment_id": str(self.experiment_id), "name": self.name,
            "artifact_uri": self.artifact_uri, "creation_timestamp_ms": self.created_ms,
            "last_updated_timestamp_ms": self.updated_ms, "status": _WIRE[self.status],
            "source_run_id": self.run_id, "tags": [{"key": k, "value": v} for k, v in sorted(self.tags.items())],
        }
        if self.model_type:
            info["model_type"] = self.model_type
        return {"info": info, "data": {"params": [{"key": k, "value": v} for k, v in sorted(self.params.items())],
                                       "metrics": []}}


def create(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    run_id = args.text("source_run_id")
    if run_id is None:
        raise NotSupportedError("Logging a model outside a run is not supported: Shipyard keeps every model with the "
                                "run that made it. Call log_model inside `with mlflow.start_run():`.")
    run = load_run(store, check_run_id(run_id))
    experiment = resolve_experiment(store, args.text("experiment_id") or str(run.experiment_id))
    if experiment.id != run.experiment_id:
        raise ValidationError(f"Run {run.id} is in experiment {run.experiment_id}, not {experiment.id}; log the model "
                              "in the run's experiment.", field="experiment_id")
    now = _now_ms()
    model = LoggedModel(id=f"m-{run.id}{secrets.token_hex(4)}", run_id=run.id, experiment_id=run.experiment_id,
                        name=args.text("name") or "model", model_type=args.text("model_type"), created_ms=now,
                        updated_ms=now, tags=_pairs(args.items("tags"), "tags"),
                        params=_pairs(args.items("params"), "params"))
    save(store, model)
    return {"model": model.to_json()}


def get(call: Call) -> dict[str, Any]:
    return {"model": find(call.settings.store, call.request.path_params["model_id"]).to_json()}


def finalize(call: Call) -> dict[str, Any]:
    store = call.settings.store
    model = find(store, call.request.path_params["model_id"])
    status = call.args.required("status")
    if status not in _STATUSES:
        raise ValidationError(f"Parameter 'status' must be one of {', '.join(_STATUSES)}, got {status[:60]!r}.",
                              field="status")
    model.status, model.updated_ms = _STATUSES[status], _now_ms()
    save(store, model)
    return {"model": model.to_json()}


def set_model_tags(call: Call) -> dict[str, Any]:
    store = call.settings.store
    model = find(store, call.request.path_params["model_id"])
    model.tags.update(_pairs(call.args.items("tags"), "tags"))
    model.updated_ms = _now_ms()
    save(store, model)
    return {}


def delete_model_tag(call: Call) -> dict[str, Any]:
    store = call.settings.store
    model = find(store, call.request.path_params["model_id"])
    key = call.request.path_params["key"]
    if model.tags.pop(key, None) is None:
        raise NotFoundError(f"Logged model {model.id} has no tag {key!r}.")
    save(store, model)
    return {}


def log_params(call: Call) -> dict[str, Any]:
    store = call.settings.store
    model = find(store, call.request.path_params["model_id"])
    model.params.update(_pairs(call.args.items("params"), "params"))
    save(store, model)
    return {}


def log_outputs(call: Call) -> dict[str, Any]:
    """``runs/outputs``: the run made these models. Each already names its source run; another run is refused."""
    store = call.settings.store
    run = load_run(store, call.args.run_id())
    for item in call.args.items("models"):
        model_id = item.get("model_id") if isinstance(item, dict) else None
        if not isinstance(model_id, str):
            raise ValidationError("Each entry of 'models' needs a string 'model_id'.", field="models")
        model = find(store, model_id)
        if model.run_id != run.id:
            raise NotSupportedError(f"Logged model {model_id} was made by run {model.run_id}; Shipyard records a "
                                    f"model as the output of its own run only, not of run {run.id}.")
    return {}


def search(call: Call) -> dict[str, Any]:
    """``logged-models/search`` over the given experiments, by ``name``, ``source_run_id``, ``model_id``, ``status``
    or ``model_type`` (what ``runs:/<run>/<name>`` URIs and ``mlflow.search_logged_models`` ask); newest first."""
    store, args = call.settings.store, call.args
    experiments = [resolve_experiment(store, str(given), "experiment_ids").id for given in args.items("experiment_ids")]
    clauses = parse(args.text("filter"), _SEARCH_FIELDS, "logged model")
    if args.items("datasets") or args.items("order_by"):
        raise NotSupportedError("Searching logged models by dataset or ordering them by metric is not supported: "
                                "Shipyard keeps a model's metrics on its run.")
    found = [model for model in _all(store, experiments) if matches(clauses, {
        "name": model.name, "source_run_id": model.run_id, "model_id": model.id, "status": _WIRE[model.status],
        "model_type": model.model_type})]
    max_results = args.integer("max_results", default=100) or 100
    if not 1 <= max_results <= _MAX_RESULTS:
        raise ValidationError(f"Parameter 'max_results' must be between 1 and {_MAX_RESULTS}, got {max_results}.",
                              field="max_results")
    token = args.text("page_token")
    if token is not None and not token.isdigit():
        raise ValidationError(f"Parameter 'page_token' {token[:40]!r} is not a token this server gave.",
                              field="page_token")
    offset = int(token or 0)
    answer: dict[str, Any] = {"models": [model.to_json() for model in found[offset:offset + max_results]]}
    if offset + max_results < len(found):
        answer["next_page_token"] = str(offset + max_results)
    return answer


def find(store: Store, model_id: str) -> LoggedModel:
    """The logged model ``model_id`` (RESOURCE_DOES_NOT_EXIST when this server made none by that id)."""
    match = _ID_RE.match(model_id)
    if match is None:
        raise NotFoundError(f"Logged model with ID '{model_id[:80]}' not found.")
    run_id = match.group(1)
    row = store.db.read(lambda conn: conn.execute(
        select(tags.c.value, runs.c.experiment_id).join(runs, runs.c.id == tags.c.run_id)
        .where(tags.c.run_id == run_id, tags.c.key == RECORD_TAG + model_id)).first())
    if row is None:
        raise NotFoundError(f"Logged model with ID '{model_id}' not found.")
    return _from_record(model_id, run_id, row.experiment_id, row.value)


def save(store: Store, model: LoggedModel) -> None:
    set_tags(store, model.run_id, {RECORD_TAG + model.id: model.record()})


def _all(store: Store, experiment_ids: list[int]) -> list[LoggedModel]:
    query = (select(tags.c.run_id, tags.c.key, tags.c.value, runs.c.experiment_id)
             .join(runs, runs.c.id == tags.c.run_id).where(tags.c.key.startswith(RECORD_TAG, autoescape=True)))
    if experiment_ids:
        query = query.where(runs.c.experiment_id.in_(experiment_ids))
    rows = store.db.read(lambda conn: conn.execute(query).all())
    found = [_from_record(row.key[len(RECORD_TAG):], row.run_id, row.experiment_id, row.value) for row in rows]
    return sorted(found, key=lambda model: (-model.created_ms, model.id))


def _from_record(model_id: str, run_id: str, experiment_id: int, value: str) -> LoggedModel:
    document = json.loads(value)
    return LoggedModel(id=model_id, run_id=run_id, experiment_id=experiment_id, name=document["name"],
                       status=document.get("status", "PENDING"), model_type=document.get("model_type"),
                       created_ms=document.get("created_ms", 0), updated_ms=document.get("updated_ms", 0),
                       tags=dict(document.get("tags") or {}), params=dict(document.get("params") or {}),
                       package=document.get("package"))


def _pairs(items: list[Any], what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, value = pair(item, what)
        found[key] = "" if value is None else str(value)
    return found


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
