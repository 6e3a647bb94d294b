"""The project-wide lineage query behind ``shipyard.lineage()`` and ``shipyard lineage``: any link in, the chain out.

It reads the prediction log and the registry and belongs to neither serving nor models, so it sits beside
them: from the far end of the chain, one logged prediction back to the data the model learnt from.

``lineage(request_id)`` finds the request in the prediction log (live and shadow answers), adds the
feedback it got, and then the model-version lineage of each version that answered it (run, params,
metrics, commit, environment, pipeline stages and raw data hashes). Model URIs and run ids are answered
by :func:`shipyard.models.lineage.lineage` as before, so one function serves every link of the chain.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ConfigError, NotFoundError, ValidationError
from .models.lineage import lineage as model_lineage
from .predlog.layout import HOUR_MS, serving_root
from .predlog.lookup import PREFIX_WINDOW_DAYS, ambiguous, find_request, is_request_prefix, requests_starting_with
from .predlog.readers import feedback_log
from .predlog.schema import INPUT_PREFIX
from .store import Store, current_store


def lineage(target: str, *, store: Store | None = None, log_dir: str | None = None) -> dict[str, Any]:
    """The chain behind a model URI (``models:/churn@champion``), a run id, or a logged prediction's request id.

    Run ids and request ids may be shortened to a unique prefix (request ids: at least 4 characters, matched
    among the requests of the last 30 days; see :mod:`shipyard.predlog.lookup`). A prefix that starts both a run id
    and a request id is ambiguous, as one that starts two of either.

    Args:
        target: the model URI, run id or request id (or a unique prefix of either).
        store: the store (default: the current one).
        log_dir: the ``log_dir`` of ``serving.yaml`` when it sets one.

    Returns:
        A dict; for a request id it has ``prediction`` (per answer: deployment, variant, model version,
        inputs, outputs, latency, time), ``feedback`` and ``models`` (the lineage of each version that answered).

    Raises:
        NotFoundError: the target is none of these.
        AmbiguousError: a prefix matches several runs or requests (``candidates`` lists them).
        ValidationError: a prefix too short to look up a request by.
    """
    store = store or current_store()
    text = str(target).strip()
    if ":/" in text:
        return model_lineage(store, text)
    try:
        chain = model_lineage(store, text)
    except (NotFoundError, ValidationError) as not_a_run:  # not a run id (or not hex at all): a request id?
        try:
            rows = find_request(text, store=store, log_dir=log_dir)
        except NotFoundError:
            window = f" (nor the start of one logged in the last {PREFIX_WINDOW_DAYS} days)" if is_request_prefix(
                text) else ""
            raise NotFoundError(f"{text!r} is not a model URI, a run id or a logged request id{window}; list "
                                "requests with `shipyard predictions DEPLOYMENT`.") from not_a_run
        return prediction_lineage(store, rows, log_dir=log_dir)
    run_id = chain["run"]["run_id"]
    if run_id != text and is_request_prefix(text):
        requests = _logged_requests_starting_with(store, text, log_dir)
        if requests:
            raise ambiguous(text, [f"run {run_id}", *(f"request {found}" for found in requests)], [run_id, *requests])
    return chain


def _logged_requests_starting_with(store: Store, prefix: str, log_dir: str | None) -> list[str]:
    """Request ids a run prefix also starts; none when this store keeps no prediction log."""
    try:
        serving_root(store, log_dir)
    except ConfigError:  # a database store without log_dir: there is no log to be ambiguous with
        return []
    return requests_starting_with(prefix, store=store, log_dir=log_dir)


def prediction_lineage(store: Store, rows: Any, *, log_dir: str | None = None) -> dict[str, Any]:
    """Lineage of the log rows of one request (see :func:`lineage`)."""
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
            models[uri] = model_lineage(store, uri)
        except NotFoundError as exc:  # the version was deleted since: say so rather than fail the whole answer
            models[uri] = {"error": str(exc)}
    return {"target": request_id, "request_id": request_id, "prediction": answers, "feedback": labels,
            "models": models}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
