"""Reads for the CLI and the fluent API through a server: ``shipyard runs list|show|compare``, ``experiments list``
and ``lineage`` (:mod:`shipyard.tracking.remote_queries` is the client), and the run-id prefixes and artifact listings
of ``shipyard.metric_history``, ``list_artifacts``, ``read_artifact`` and ``download_artifacts``
(:mod:`shipyard.tracking.remote_artifacts`).

Each handler calls the query function the local command calls, on the server's store, and answers its result in
the JSON form the client turns back into the same values: one query, two transports, so a table or a ``--json``
read through the server is the one read from the store itself. Bad input (a filter that does not parse, an order
by an unknown field, a limit out of range) is a 400 naming the field, as the local function's error names it.
"""

from __future__ import annotations

from typing import Any

from ...errors import FilterSyntaxError, ValidationError
from ...models.lineage import lineage as model_lineage
from ...store.plain_json import plain
from ...tracking.artifacts import list_artifacts
from ...tracking.experiments import list_experiments
from ...tracking.filters import parse_order_by
from ...tracking.runs import get_run, resolve_run_id
from ...tracking.search import MAX_RESULTS_LIMIT, record_to_json, search_run_records
from .protocol import Call

_MAX_TARGET = 1000


def search_runs(call: Call) -> dict[str, Any]:
    """``GET /query/runs?experiment=..&filter=..&order_by=..&max_results=..&offset=..`` (experiment and order_by
    repeat)."""
    query = call.request.query_params
    orders = query.getlist("order_by")
    for text in orders:  # the local parser names the filter; here the parameter is order_by
        try:
            parse_order_by(text)
        except FilterSyntaxError as exc:
            raise ValidationError(exc.message, field="order_by") from None
    records = search_run_records(call.settings.store, experiment=query.getlist("experiment") or None,
                                 filter=query.get("filter") or None, order_by=orders,
                                 max_results=_whole(query.get("max_results"), "max_results", 1000, 1,
                                                    MAX_RESULTS_LIMIT),
                                 offset=_whole(query.get("offset"), "offset", 0, 0, None))
    return {"runs": [record_to_json(record) for record in records]}


def get_run_by_prefix(call: Call) -> dict[str, Any]:
    """``GET /query/runs/{prefix}``: a run by its whole id or any unique prefix (409 when several runs match)."""
    return {"run": get_run(call.settings.store, call.path["prefix"]).to_dict()}


def resolve_run(call: Call) -> dict[str, Any]:
    """``GET /query/run-ids/{prefix}``: the whole id a unique prefix names (404 for none, 409 when several match)."""
    return {"run_id": resolve_run_id(call.settings.store, call.path["prefix"])}


def run_artifacts(call: Call) -> dict[str, Any]:
    """``GET /query/runs/{prefix}/artifacts``: the run's whole id and its artifacts (path, hash, size) by path, as
    :func:`shipyard.tracking.artifacts.list_artifacts` lists them; the files come from ``GET /runs/{id}/artifacts/``."""
    run_id = resolve_run_id(call.settings.store, call.path["prefix"])
    return {"run_id": run_id, "artifacts": list_artifacts(call.settings.store, run_id)}


def experiments(call: Call) -> dict[str, Any]:
    return {"experiments": [{"id": item.id, "name": item.name, "created_at_ms": item.created_at_ms,
                             "run_count": item.run_count} for item in list_experiments(call.settings.store)]}


def lineage(call: Call) -> dict[str, Any]:
    """``GET /query/lineage?target=``: the chain behind a model URI or a run id (the prediction log, where a request
    id's chain starts, is the client's to read: it need not be where the server is)."""
    target = call.request.query_params.get("target", "").strip()
    if not target or len(target) > _MAX_TARGET:
        raise ValidationError("Give the model URI or run id to trace as the query parameter 'target' (at most "
                              f"{_MAX_TARGET} characters).", field="target")
    return {"chain": plain(model_lineage(call.settings.store, target))}


def _whole(text: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else " or more"
        raise ValidationError(f"The query parameter {name!r} must be a whole number {'between ' if high else ''}"
                              f"{low}{upper}, got {text[:40]!r}.", field=name)
    return value


