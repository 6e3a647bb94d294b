"""``/mlflow/runs/search`` and ``/mlflow/metrics/get-history``, over Shipyard's search and metric history.

Filters and orders are parsed by Shipyard's filter language (:mod:`shipyard.tracking.filters`), which reads
MLflow's (``metrics.rmse < 1 and params.alpha = '0.5'``, ``tags.mlflow.runName LIKE 'x%'``, ``attributes.status``);
a filter it cannot read is refused with its position, never ignored. Page tokens are offsets.
"""

from __future__ import annotations

from typing import Any

from ...errors import ValidationError
from ...tracking.experiments import list_experiments
from ...tracking.metrics import metric_points
from ...tracking.run_details import run_details
from ...tracking.search import search_run_records
from .protocol import Call, number
from .runs import require_run
from .shapes import resolve_experiment, run_json

_MAX_RUNS = 50_000  # MLflow's own limit per page
_MAX_POINTS = 1_000_000
_ORDER_ALIASES = {"attributes.run_name": "attributes.name", "attribute.run_name": "attributes.name",
                  "run_name": "attributes.name", "start_time": "attributes.start_time",
                  "end_time": "attributes.end_time", "status": "attributes.status"}


def search_runs(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    max_results = args.integer("max_results", default=1000)
    assert max_results is not None
    if not 1 <= max_results <= _MAX_RUNS:
        raise ValidationError(f"Parameter 'max_results' must be between 1 and {_MAX_RUNS}, got {max_results}.",
                              field="max_results")
    if (args.text("run_view_type") or "ACTIVE_ONLY") == "DELETED_ONLY":
        return {"runs": []}  # Shipyard never deletes runs
    ids = [str(item) for item in args.items("experiment_ids")]
    names = [resolve_experiment(store, given, "experiment_ids").name for given in ids]
    if not names:
        names = [experiment.name for experiment in list_experiments(store)]
    offset = _offset(args.text("page_token"))
    orders = [_order(text) for text in args.items("order_by")]
    records = search_run_records(store, experiment=names, filter=args.text("filter"), order_by=orders,
                                 max_results=max_results + 1, offset=offset) if names else []
    page = records[:max_results]
    answer: dict[str, Any] = {"runs": [run_json(run) for run in run_details(store, [r["run_id"] for r in page])]}
    if len(records) > max_results:
        answer["next_page_token"] = str(offset + max_results)
    return answer


def metric_history(call: Call) -> dict[str, Any]:
    args, store = call.args, call.settings.store
    run_id = require_run(call, args.run_id())
    key = args.required("metric_key")
    max_results = args.integer("max_results", default=_MAX_POINTS) or _MAX_POINTS
    if not 1 <= max_results <= _MAX_POINTS:
        raise ValidationError(f"Parameter 'max_results' must be between 1 and {_MAX_POINTS}, got {max_results}.",
                              field="max_results")
    offset = _offset(args.text("page_token"))
    points = metric_points(store, run_id, key)
    page = points[offset : offset + max_results]
    answer: dict[str, Any] = {"metrics": [{"key": key, "value": number(value), "step": step, "timestamp": stamp}
                                          for step, value, stamp in page]}
    if offset + max_results < len(points):
        answer["next_page_token"] = str(offset + max_results)
    return answer


def _order(text: Any) -> str:
    if not isinstance(text, str):
        raise ValidationError(f"Each entry of 'order_by' must be a string, got {text!r}.", field="order_by")
    field, _, rest = text.strip().partition(" ")
    return f"{_ORDER_ALIASES.get(field, field)} {rest}".strip()


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    if not token.isdigit():
        raise ValidationError(f"Parameter 'page_token' {token[:40]!r} is not a token this server gave.",
                              field="page_token")
    return int(token)
