"""The project-wide lineage query behind ``shipyard.lineage()`` and ``shipyard lineage``: any link in, the chain out.

It reads the prediction log and the registry and belongs to neither serving nor models, so it sits beside
them: from the far end of the chain, one logged prediction back to the data the model learnt from.

``lineage(request_id)`` finds the request in the prediction log (live and shadow answers), adds the
feedback it got, and then the model-version lineage of each version that answered it (run, params,
metrics, commit, environment, pipeline stages and raw data hashes). Model URIs and run ids are answered
by :func:`shipyard.models.lineage.lineage` as before, so one function serves every link of the chain. With a
tracking server set, that part comes from the server (which runs the same function on its store), and only the
prediction log is read here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from .errors import ConfigError, NotFoundError, ValidationError
from .models.lineage import lineage as model_lineage
from .predlog.layout import HOUR_MS, LOG_DIR_ENV, serving_root
from .predlog.lookup import PREFIX_WINDOW_DAYS, ambiguous, find_request, is_request_prefix, requests_starting_with
from .predlog.readers import feedback_log
from .predlog.schema import INPUT_PREFIX
from .store import Store, current_store
from .tracking import remote_queries
from .tracking.remote import RemoteTracker, tracking_server

ChainOf = Callable[[str], dict[str, Any]]  # a model URI or run id -> its chain (from a store or a server)


def lineage(target: str, *, store: Store | None = None, log_dir: str | None = None,
            server: RemoteTracker | None = None) -> dict[str, Any]:
    """The chain behind a model URI (``models:/churn@champion``), a run id, or a logged prediction's request id.

    Run ids and request ids may be shortened to a unique prefix (request ids: at least 4 characters, matched
    among the requests of the last 30 days; see :mod:`shipyard.predlog.lookup`). A prefix that starts both a run id
    and a request id is ambiguous, as one that starts two of either.

    With a tracking server (``server``, or ``SHIPYARD_TRACKING_URI`` when neither ``store`` nor ``server`` is given)
    the run and model part of the chain is read from the server; the prediction log is read where ``log_dir``
    says, as it is never kept by the server.

    Args:
        target: the model URI, run id or request id (or a unique prefix of either).
        store: the store (default: the current one).
        log_dir: the ``log_dir`` of ``serving.yaml`` when it sets one.
        server: the team server to read runs and models from.

    Returns:
        A dict; for a request id it has ``prediction`` (per answer: deployment, variant, model version,
        inputs, outputs, latency, time), ``feedback`` and ``models`` (the lineage of each version that answered).

    Raises:
        NotFoundError: the target is none of these.
        AmbiguousError: a prefix matches several runs or requests (``candidates`` lists them).
        ValidationError: a prefix too short to look up a request by.
    """
    text = str(target).strip()
    if server is None and store is None:
        server = tracking_server()
    if server is not None:
        tracker = server
        log_dir = log_dir or os.environ.get(LOG_DIR_ENV) or None
        return _chain(text, lambda uri: remote_queries.lineage(tracker, uri), None, log_dir, server=tracker.url)
    found = store or current_store()
    return _chain(text, lambda uri: model_lineage(found, uri), found, log_dir)


def _chain(text: str, chain_of: ChainOf, store: Store | None, log_dir: str | None, *,
           server: str | None = None) -> dict[str, Any]:
    """:func:`lineage` over one source of run and model chains (``store`` None: a server's, beside no store)."""
    if ":/" in text:
        return chain_of(text)
    try:
        chain = chain_of(text)
    except (NotFoundError, ValidationError) as not_a_run:  # not a run id (or not hex at all): a request id?
        if server is not None and log_dir is None:
            raise NotFoundError(f"{text!r} is not a model URI or a run id on the tracking server {server}; for a "
                                "request id give the prediction log with --log-dir (or SHIPYARD_LOG_DIR): the "
                                "server does not keep it.") from not_a_run
        try:
            rows = find_request(text, store=store, log_dir=log_dir)
        except NotFoundError:
            window = f" (nor the start of one logged in the last {PREFIX_WINDOW_DAYS} days)" if is_request_prefix(
                text) else ""
            raise NotFoundError(f"{text!r} is not a model URI, a run id or a logged request id{window}; list "
                                "requests with `shipyard predictions DEPLOYMENT`.") from not_a_run
        return _prediction_chain(rows, chain_of, log_dir)
    run_id = chain["run"]["run_id"]
    if run_id != text and is_request_prefix(text) and (server is None or log_dir is not None):
        requests = _logged_requests_starting_with(store, text, log_dir)
        if requests:
            raise ambiguous(text, [f"run {run_id}", *(f"request {found}" for found in requests)], [run_id, *requests])
    return chain


def _logged_requests_starting_with(store: Store | None, prefix: str, log_dir: str | None) -> list[str]:
    """Request ids a run prefix also starts; none when this store keeps no prediction log."""
    try:
        serving_root(store, log_dir)
    except ConfigError:  # a database store without log_dir: there is no log to be ambiguous with
        return []
    return requests_starting_with(prefix, store=store, log_dir=log_dir)


def prediction_lineage(store: Store, rows: Any, *, log_dir: str | None = None) -> dict[str, Any]:
    """Lineage of the log rows of one request (see :func:`lineage`)."""
    return _prediction_chain(rows, lambda uri: model_lineage(store, uri), log_dir)


def _prediction_chain(rows: Any, chain_of: ChainOf, log_dir: str | None) -> dict[str, Any]:
    request_id = str(rows["request_id"].iloc[0])
    answers = []
    for _, row in rows.sort_values(["shadow", "variant", "row"]).iterrows():
        inputs = {name[len(INPUT_PREFIX):]: _plain(value) for name, value in row.items()
                  if str(name).startswith(INPUT_PREFIX) and not _missing(value)}
        answers.append({
            "deployment": row["deployment"], "variant": row["variant"], "shadow": bool(row["shadow"]),
            "row": int(row["row"]), "timestamp": row["timestamp"].isoformat(),
            "model_uri": row["model_uri"], "model_name": row["model_name"],
            "model_version": None if _missing(row["model_version"]) else int(row["model_version"]),
            "runtime": row["runtime"], "latency_ms": float(row["latency_ms"]), "sticky_key": row["sticky_key"],
            "prediction": row["prediction"],
            "probabilities": None if row["probabilities"] is None else [float(p) for p in row["probabilities"]],
            "inputs": inputs})
    deployments = sorted({answer["deployment"] for answer in answers})
    logged_ms = int(rows["timestamp"].min().value // 1_000_000)
    labels = []
    for deployment in deployments:
        received = feedback_log(deployment, request_id=request_id, since_ms=logged_ms - HOUR_MS, log_dir=log_dir)
        for _, item in received.iterrows():
            labels.append({"deployment": deployment, "row": int(item["row"]), "label": item["label"],
                           "received": item["timestamp"].isoformat()})
    models = {}
    for uri in sorted({answer["model_uri"] for answer in answers}):
        try:
            models[uri] = chain_of(uri)
        except NotFoundError as exc:  # the version was deleted since: say so rather than fail the whole answer
            models[uri] = {"error": str(exc)}
    return {"target": request_id, "request_id": request_id, "prediction": answers, "feedback": labels,
            "models": models}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
