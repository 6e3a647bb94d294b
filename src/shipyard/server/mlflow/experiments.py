"""``/mlflow/experiments/*``: find, create and search experiments; deleting, renaming and tags are refused.

Shipyard experiments are created on first use and never deleted, renamed or tagged, so those endpoints answer
``NOT_IMPLEMENTED`` (after the role check: an admin is told it is unsupported, a reader that it needs admin).
Search filters accept what ``mlflow.search_experiments`` is used for: ``name`` compared with ``=``, ``!=``,
``LIKE`` or ``ILIKE`` (:mod:`.names`); anything else is refused naming the filter.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConflictError, NotFoundError, NotSupportedError, ValidationError
from ...tracking.experiments import experiment_id, find_experiment, list_experiments
from ...tracking.validation import check_name
from . import names
from .protocol import Call
from .shapes import experiment_json, resolve_experiment

_ORDER_KEYS = {"name": "name", "experiment_id": "id", "creation_time": "created_at_ms",
               "last_update_time": "created_at_ms"}
_MAX_RESULTS = 50_000


def get_by_name(call: Call) -> dict[str, Any]:
    name = call.args.required("experiment_name")
    try:
        return {"experiment": experiment_json(find_experiment(call.settings.store, name=name))}
    except NotFoundError:
        raise NotFoundError(f"Could not find experiment with name '{name}'.") from None


def get(call: Call) -> dict[str, Any]:
    experiment = resolve_experiment(call.settings.store, call.args.required("experiment_id"))
    return {"experiment": experiment_json(experiment)}


def create(call: Call) -> dict[str, Any]:
    name = check_name(call.args.required("name"), "experiment")
    if call.args.text("artifact_location"):
        raise NotSupportedError("Parameter 'artifact_location' is not supported: every artifact goes to the "
                                "server's --artifacts-destination. Create the experiment without it.")
    if call.args.items("tags"):
        raise NotSupportedError("Parameter 'tags' is not supported: Shipyard experiments have no tags. Tag the "
                                "runs instead (mlflow.set_tags).")
    store = call.settings.store
    try:
        find_experiment(store, name=name)
    except NotFoundError:
        return {"experiment_id": str(experiment_id(store, name))}
    raise ConflictError(f"Experiment '{name}' already exists.")


def search(call: Call) -> dict[str, Any]:
    args = call.args
    max_results = args.integer("max_results", default=1000)
    assert max_results is not None
    if not 1 <= max_results <= _MAX_RESULTS:
        raise ValidationError(f"Parameter 'max_results' must be between 1 and {_MAX_RESULTS}, got {max_results}.",
                              field="max_results")
    view = args.text("view_type") or "ACTIVE_ONLY"
    found = [] if view == "DELETED_ONLY" else list_experiments(call.settings.store)
    clauses = names.parse(args.text("filter"), ("name",), "experiment")
    found = [item for item in found if names.matches(clauses, {"name": item.name})]
    for order in reversed(args.items("order_by") or ["creation_time DESC"]):
        key, descending = _order(order)
        found.sort(key=lambda item: getattr(item, key), reverse=descending)
    offset = _offset(args.text("page_token"))
    page = found[offset : offset + max_results]
    answer: dict[str, Any] = {"experiments": [experiment_json(item) for item in page]}
    if offset + max_results < len(found):
        answer["next_page_token"] = str(offset + max_results)
    return answer


def refuse(what: str) -> Any:
    """A handler refusing an experiment change Shipyard does not make."""

    def handler(call: Call) -> dict[str, Any]:
        raise NotSupportedError(f"{what} is not supported by Shipyard's MLflow-compatible API: Shipyard experiments "
                                "are created on first use and kept. See docs/from-mlflow.md.")

    return handler


def _order(text: Any) -> tuple[str, bool]:
    parts = str(text).split()
    column = parts[0].removeprefix("attributes.").removeprefix("attribute.") if parts else ""
    direction = parts[1].upper() if len(parts) > 1 else "ASC"
    if column not in _ORDER_KEYS or direction not in ("ASC", "DESC") or len(parts) > 2:
        raise ValidationError(f"Unsupported order_by {text!r}: use one of {', '.join(_ORDER_KEYS)} with ASC or DESC.",
                              field="order_by")
    return _ORDER_KEYS[column], direction == "DESC"


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    if not token.isdigit():
        raise ValidationError(f"Parameter 'page_token' {token[:40]!r} is not a token this server gave.",
                              field="page_token")
    return int(token)
