"""Every path of the MLflow-compatible API, with the role each needs; every other MLflow path is refused by name.

The client calls ``/api/2.0/mlflow/...``; MLflow's web UI calls the same handlers under ``/ajax-api/2.0/mlflow/...``.
Endpoints Shipyard does not do answer ``NOT_IMPLEMENTED`` (501) with a sentence saying what to do instead, and a
path that is no MLflow endpoint at all answers ``ENDPOINT_NOT_FOUND`` (404): a client never gets a silent no-op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import NotSupportedError
from ..roles import ADMIN, READER, WRITER
from . import artifacts, experiments, logged_models, logging, registration, registry, runs, search
from .fixed import FixedPaths
from .protocol import Call, endpoint, json_response

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
READ, WRITE = ["GET"], ["POST"]
# path under a prefix -> (methods, role, what it does in words, handler)
TRACKING: dict[str, tuple[list[str], str, str, Any]] = {
    "/experiments/get-by-name": (READ, READER, "Reading an experiment", experiments.get_by_name),
    "/experiments/get": (READ, READER, "Reading an experiment", experiments.get),
    "/experiments/search": (["GET", "POST"], READER, "Searching experiments", experiments.search),
    "/experiments/create": (WRITE, WRITER, "Creating an experiment", experiments.create),
    "/experiments/delete": (WRITE, ADMIN, "Deleting an experiment", experiments.refuse("Deleting an experiment")),
    "/experiments/restore": (WRITE, ADMIN, "Restoring an experiment", experiments.refuse("Restoring an experiment")),
    "/experiments/update": (WRITE, ADMIN, "Renaming an experiment", experiments.refuse("Renaming an experiment")),
    "/experiments/set-experiment-tag": (WRITE, WRITER, "Tagging an experiment",
                                        experiments.refuse("Tagging an experiment")),
    "/experiments/delete-experiment-tag": (["DELETE", "POST"], WRITER, "Untagging an experiment",
                                           experiments.refuse("Untagging an experiment")),
    "/runs/create": (WRITE, WRITER, "Creating a run", runs.create),
    "/runs/get": (READ, READER, "Reading a run", runs.get),
    "/runs/update": (WRITE, WRITER, "Updating a run", runs.update),
    "/runs/log-metric": (WRITE, WRITER, "Logging a metric", logging.log_metric),
    "/runs/log-parameter": (WRITE, WRITER, "Logging a param", logging.log_param),
    "/runs/set-tag": (WRITE, WRITER, "Setting a tag", runs.set_tag),
    "/runs/delete-tag": (WRITE, WRITER, "Deleting a tag", logging.delete_tag),
    "/runs/log-batch": (WRITE, WRITER, "Logging a batch", logging.log_batch),
    "/runs/log-inputs": (WRITE, WRITER, "Logging inputs", logging.log_inputs_),
    "/runs/search": (["GET", "POST"], READER, "Searching runs", search.search_runs),
    "/metrics/get-history": (READ, READER, "Reading a metric history", search.metric_history),
    "/artifacts/list": (READ, READER, "Listing artifacts", artifacts.list_for_run),
    "/runs/outputs": (WRITE, WRITER, "Logging run outputs", logged_models.log_outputs),
    # MLflow 3's logged models, kept on their run (logged_models.py); search comes before the {model_id} paths.
    "/logged-models/search": (["GET", "POST"], READER, "Searching logged models", logged_models.search),
    "/logged-models": (WRITE, WRITER, "Creating a logged model", logged_models.create),
}
LOGGED_MODEL = "/logged-models/{model_id}"
LOGGED_MODELS: list[tuple[str, list[str], str, str, Any]] = [
    (LOGGED_MODEL, READ, READER, "Reading a logged model", logged_models.get),
    (LOGGED_MODEL, ["PATCH"], WRITER, "Finalizing a logged model", logged_models.finalize),
    (LOGGED_MODEL + "/tags", ["PATCH"], WRITER, "Tagging a logged model", logged_models.set_model_tags),
    (LOGGED_MODEL + "/tags/{key:path}", ["DELETE"], WRITER, "Untagging a logged model",
     logged_models.delete_model_tag),
    (LOGGED_MODEL + "/params", WRITE, WRITER, "Logging a logged model's params", logged_models.log_params),
]
# The registry: Shipyard's registered models and versions, read, aliased and registered (registration.py).
REGISTRY: dict[str, tuple[list[str], str, str, Any]] = {
    "/registered-models/get": (READ, READER, "Reading a registered model", registry.get_registered_model),
    "/registered-models/search": (READ, READER, "Searching registered models", registry.search_registered_models),
    "/registered-models/alias": (READ, READER, "Reading an alias", registry.get_by_alias),
    "/model-versions/get": (READ, READER, "Reading a model version", registry.get_model_version),
    "/model-versions/search": (READ, READER, "Searching model versions", registry.search_model_versions),
    "/registered-models/create": (WRITE, WRITER, "Registering a model", registration.create_model),
    "/model-versions/create": (WRITE, WRITER, "Registering a model version", registration.create_version),
    "/model-versions/get-download-uri": (READ, READER, "Loading a model version", registration.download_uri),
}
ALIAS_MOVES: dict[str, Any] = {"POST": registry.set_model_alias, "DELETE": registry.delete_model_alias}
# Known MLflow endpoints outside the supported subset: (role, what to say).
_LATER = ("it is not supported by this Shipyard server; log with shipyard.log_model and register with `shipyard "
          "models register`")
REFUSED: dict[str, tuple[str, str]] = {
    "/runs/delete": (ADMIN, "Deleting a run is not supported: Shipyard keeps every run for its lineage."),
    "/runs/restore": (ADMIN, "Restoring a run is not supported: Shipyard never deletes runs."),
    "/runs/log-model": (WRITER, f"Logging an MLflow model record (runs/log-model): {_LATER}."),
    "/registered-models": (WRITER, f"Changing registered models through the MLflow API: {_LATER}."),
    "/model-versions": (WRITER, f"Changing model versions through the MLflow API: {_LATER}."),
    "/logged-models": (ADMIN, "Deleting a logged model is not supported: Shipyard keeps every model of a run."),
    "/traces": (READER, "MLflow tracing is not supported by Shipyard."),
}


def fixed_paths() -> Any:
    """ONE route answering every MLflow endpoint whose path has no parameter (``runs/log-metric`` …) by a dict
    lookup. The app puts it first: an MLflow client sends a request per logged metric, and matching ~60
    regular expressions in turn (Starlette's router) cost more per request than the handler's own Python."""
    table: dict[str, dict[str, Any]] = {}
    for prefix in PREFIXES:
        for path, (methods, role, action, handler) in {**TRACKING, **REGISTRY}.items():
            for method in methods:
                table.setdefault(prefix + path, {})[method] = endpoint(role, action, handler)
        for method, handler in ALIAS_MOVES.items():  # the protected aliases need admin: registry.py checks them
            table.setdefault(prefix + "/registered-models/alias", {})[method] = \
                endpoint(WRITER, "Moving an alias", handler)
    return FixedPaths(table)


def routes() -> list[Any]:
    """The Starlette routes of the MLflow-compatible API that :func:`fixed_paths` does not answer (logged models,
    artifacts proxy, refusals, the rest)."""
    from starlette.routing import Route

    found: list[Any] = []
    for prefix in PREFIXES:
        for path, methods, role, action, handler in LOGGED_MODELS:
            found.append(Route(prefix + path, endpoint(role, action, handler), methods=methods))
    artifacts_root = "/api/2.0/mlflow-artifacts/artifacts"
    found += [
        Route(artifacts_root, artifacts.listing, methods=["GET"]),
        Route(artifacts_root + "/{path:path}", artifacts.download, methods=["GET"]),
        Route(artifacts_root + "/{path:path}", artifacts.upload, methods=["PUT"]),
        Route(artifacts_root + "/{path:path}", artifacts.refused, methods=["DELETE"]),
        Route("/api/2.0/mlflow-artifacts/mpu/{path:path}", artifacts.refused, methods=["POST"]),
    ]
    for base in ("/api", "/ajax-api"):
        found.append(Route(base + "/{rest:path}", _elsewhere, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return found


async def _elsewhere(request: Request) -> Response:
    """A refused MLflow endpoint (501, after its role check), or no endpoint at all (404)."""
    path = request.url.path
    for prefix in (*PREFIXES, "/api/2.0/preview/mlflow", "/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        if path.startswith(prefix + "/"):
            rest = path[len(prefix):]
            for start, (role, message) in REFUSED.items():
                if rest == start or rest.startswith(start + "/") or rest.startswith(start + "-"):
                    return await endpoint(role, message.split(":")[0], _refusal(message))(request)
    return await endpoint(READER, "Calling the API", _not_found)(request)


def _refusal(message: str) -> Any:
    def handler(call: Call) -> dict[str, Any]:
        raise NotSupportedError(f"{message} See docs/from-mlflow.md.")

    return handler


def _not_found(call: Call) -> Response:
    request = call.request
    return json_response({"error_code": "ENDPOINT_NOT_FOUND",
                          "message": f"Shipyard's MLflow-compatible API has no endpoint {request.method} "
                                     f"{request.url.path}; docs/from-mlflow.md lists the supported subset."}, 404)
