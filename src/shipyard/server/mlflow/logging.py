"""``/mlflow/runs/log-*``, ``set-tag``, ``delete-tag``: what a run records, over Shipyard's tracking functions.

Metrics are written before the answer (:func:`~shipyard.tracking.metrics.write_points`), so "200" means stored.
MLflow 3 may link a metric to a logged model or a dataset (``model_id``, ``dataset_name``): Shipyard keeps the
point and not the link, as docs/from-mlflow.md says.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ...errors import NotSupportedError, ValidationError
from ...tracking.inputs import DatasetInput, log_inputs
from ...tracking.metrics import write_points
from ...tracking.runs import delete_tag as delete_run_tag, log_params
from .protocol import Call, pair
from .runs import apply_tags, require_run
from .shapes import CONTEXT_TAG

_SPECIAL = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf, "-inf": -math.inf}


def log_metric(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    run_id = require_run(call, args.run_id())
    key = args.required("key")
    write_points(store, run_id, [(key, _value(args.get("value"), key), args.integer("step", default=0),
                                  args.integer("timestamp"))])
    return {}


def log_param(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    run_id = require_run(call, args.run_id())
    key = args.required("key")
    value = args.get("value")
    log_params(store, run_id, {key: "" if value is None else value})
    return {}


def delete_tag(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    run_id = require_run(call, args.run_id())
    delete_run_tag(store, run_id, args.required("key"))
    return {}


def log_batch(call: Call) -> dict[str, Any]:
    """Params, then tags, then metrics; each part checked whole before it is written."""
    args, store = call.args, call.settings.store
    run_id = require_run(call, args.run_id())
    params = dict(pair(item, "params") for item in args.items("params"))
    tags = dict(pair(item, "tags") for item in args.items("tags"))
    points = [_point(item) for item in args.items("metrics")]
    if params:
        log_params(store, run_id, {key: "" if value is None else value for key, value in params.items()})
    if tags:
        apply_tags(store, run_id, {key: "" if value is None else value for key, value in tags.items()})
    write_points(store, run_id, points)
    return {}


def log_inputs_(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    run_id = require_run(call, args.run_id())
    if args.items("models"):
        raise NotSupportedError("Parameter 'models' of runs/log-inputs (MLflow 3 logged models as inputs) is not "
                                "supported; log datasets only.")
    log_inputs(store, run_id, [_dataset(item) for item in args.items("datasets")])
    return {}


def _point(item: Any) -> tuple[str, float, int, int | None]:
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        raise ValidationError(f"Each entry of 'metrics' needs a string 'key', got {json.dumps(item)[:80]}.",
                              field="metrics")
    key = item["key"]
    return key, _value(item.get("value"), key), _whole(item.get("step", 0), key, "step") or 0, \
        _whole(item.get("timestamp"), key, "timestamp")


def _whole(value: Any, key: str, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"The {what} of metric {key!r} must be an integer, got {json.dumps(value)[:40]}.",
                              field=f"metrics.{what}")
    return value


def _value(value: Any, key: str) -> float:
    if isinstance(value, str) and value.strip().lower() in _SPECIAL:
        return _SPECIAL[value.strip().lower()]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"The value of metric {key!r} must be a number, got {json.dumps(value)[:40]}.",
                              field="value")
    return float(value)


def _dataset(item: Any) -> DatasetInput:
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        raise ValidationError(f"Each entry of 'datasets' needs a 'dataset' object, got {json.dumps(item)[:80]}.",
                              field="datasets")
    dataset = item["dataset"]
    context = next((value for key, value in (pair(tag, "datasets.tags") for tag in item.get("tags") or [])
                    if key == CONTEXT_TAG), None)
    fields = {name: dataset.get(name) for name in ("source_type", "source", "schema", "profile")}
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"Field 'dataset.{name}' must be a string.", field=f"dataset.{name}")
    return DatasetInput(name=dataset.get("name"), digest=dataset.get("digest"), context=context, **fields)
