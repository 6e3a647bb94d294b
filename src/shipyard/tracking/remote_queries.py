"""Reading runs, experiments and lineage from a team server: the other source of ``shipyard runs``, ``experiments``
and ``lineage`` (and of ``shipyard.search_runs``, ``list_experiments``, ``get_run``) when a tracking URI is set.

The server answers with what the local query functions return (``server/api/queries.py`` calls the very same
functions on its store), so each reader here only turns the JSON back into those values: a command renders the
same table or JSON whichever of the two sources it read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..store.http_client import quote_path
from .experiments import Experiment
from .remote import RemoteTracker, run_from_json
from .runs import Run
from .search import record_from_json, runs_frame

if TYPE_CHECKING:
    import pandas as pd

API = "/api/shipyard/v1"


def search_run_records(tracker: RemoteTracker, *, experiment: str | list[str] | None = None, filter: str | None = None,
                       order_by: list[str] | str | None = None, max_results: int = 1000,
                       offset: int = 0) -> list[dict[str, Any]]:
    """:func:`shipyard.tracking.search.search_run_records` answered by the server."""
    tracker.flush()  # read-your-writes: the points this process logged are on the server first
    experiments = [experiment] if isinstance(experiment, str) else list(experiment or [])
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    query: list[tuple[str, Any]] = [("experiment", name) for name in experiments]
    query += [("order_by", text) for text in orders]
    query += [("max_results", max_results), ("offset", offset)]
    if filter:
        query.append(("filter", filter))
    answer = tracker.client.call("GET", f"{API}/query/runs?{urlencode(query)}")
    return [record_from_json(document) for document in answer["runs"]]


def search_runs(tracker: RemoteTracker, experiment: str | list[str] | None, filter: str | None,
                order_by: list[str] | str | None, max_results: int) -> pd.DataFrame:
    """``shipyard.search_runs``' DataFrame, built from the records the server sent as from a store's."""
    return runs_frame(search_run_records(tracker, experiment=experiment, filter=filter, order_by=order_by,
                                         max_results=max_results))


def get_run(tracker: RemoteTracker, id_or_prefix: str) -> Run:
    """The run a whole id or a unique prefix names (:func:`shipyard.tracking.runs.get_run` on the server)."""
    tracker.flush()
    text = str(id_or_prefix).strip() or "-"  # an empty prefix is the server's to refuse, not a different path
    return run_from_json(tracker.client.call("GET", f"{API}/query/runs/{quote_path(text)}")["run"])


def list_experiments(tracker: RemoteTracker) -> list[Experiment]:
    """:func:`shipyard.tracking.experiments.list_experiments` answered by the server."""
    answer = tracker.client.call("GET", f"{API}/query/experiments")
    return [Experiment(item["id"], item["name"], item["created_at_ms"], item["run_count"])
            for item in answer["experiments"]]


def lineage(tracker: RemoteTracker, target: str) -> dict[str, Any]:
    """The chain behind a model URI or a run id (``shipyard.models.lineage.lineage`` on the server's store)."""
    tracker.flush()
    chain: dict[str, Any] = tracker.client.call("GET", f"{API}/query/lineage?{urlencode({'target': target})}")["chain"]
    chain["metrics"] = {key: float(value) for key, value in chain.get("metrics", {}).items()}
    return chain
