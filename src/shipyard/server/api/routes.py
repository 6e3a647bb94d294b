"""Every path of Shipyard's own REST API (``/api/shipyard/v1``), with the role each needs.

What the remote tracking client (:mod:`shipyard.tracking.remote`) calls: runs are created with the client's run
id, written in batches with an ``Idempotency-Key`` each, ended, and read back; artifacts are uploaded and
downloaded streamed and hash-verified. The remote registry (:mod:`shipyard.models.remote`) resolves model URIs,
registers versions and moves aliases (:mod:`.models`). The CLI's reading commands search runs, list experiments
and trace lineage (:mod:`.queries`). Any other path under ``/api/shipyard`` answers 404 in the
same error shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import NotFoundError
from ..roles import READER, WRITER
from . import artifacts, loops, models, operations, queries, runs, serving
from .protocol import Call, endpoint

if TYPE_CHECKING:
    from starlette.requests import Request

PREFIX = "/api/shipyard/v1"
# path -> (method, role, what it does in words, handler)
ENDPOINTS: list[tuple[str, str, str, str, Any]] = [
    ("/runs", "POST", WRITER, "Creating a run", runs.create),
    ("/runs/{run_id}", "GET", READER, "Reading a run", runs.get),
    ("/runs/{run_id}/resume", "POST", WRITER, "Resuming a run", runs.resume),
    ("/runs/{run_id}/params", "POST", WRITER, "Logging params", runs.log_params),
    ("/runs/{run_id}/tags", "POST", WRITER, "Setting tags", runs.set_tags),
    ("/runs/{run_id}/end", "POST", WRITER, "Ending a run", runs.end),
    ("/runs/{run_id}/metrics/{key:path}", "GET", READER, "Reading a metric history", runs.metric_history),
    ("/metrics", "POST", WRITER, "Logging metrics", runs.log_metrics),
    ("/models", "GET", READER, "Listing models", models.list_models),
    ("/models/resolve", "GET", READER, "Resolving a model URI", models.resolve),
    ("/models/{name}/versions", "GET", READER, "Listing model versions", models.list_versions),
    ("/models/{name}/versions", "POST", WRITER, "Registering a model version", models.register),
    ("/models/{name}/versions/{version}", "GET", READER, "Reading a model version", models.get_version),
    ("/models/{name}/versions/{version}/tags", "POST", WRITER, "Tagging a model version", models.set_version_tags),
    ("/models/{name}/aliases/{alias}", "PUT", WRITER, "Moving an alias", models.set_alias),
    ("/models/{name}/aliases/{alias}", "DELETE", WRITER, "Deleting an alias", models.delete_alias),
    ("/models/{name}/history", "GET", READER, "Reading the alias history", models.alias_history),
    ("/models/{name}/decisions", "POST", WRITER, "Recording a promotion decision", models.decide),
    # reads for `shipyard runs`, `experiments` and `lineage` through a server (queries.py)
    ("/query/runs", "GET", READER, "Searching runs", queries.search_runs),
    ("/query/runs/{prefix}", "GET", READER, "Reading a run", queries.get_run_by_prefix),
    ("/query/experiments", "GET", READER, "Listing experiments", queries.experiments),
    ("/query/lineage", "GET", READER, "Reading lineage", queries.lineage),
    # monitoring's facts about model versions, and canary rollouts (operations.py)
    ("/monitoring/reference", "GET", READER, "Reading a training profile", operations.monitoring_reference),
    ("/monitoring/baseline", "GET", READER, "Reading a training baseline", operations.monitoring_baseline),
    ("/rollouts", "GET", READER, "Reading rollouts", operations.latest_rollout),
    ("/rollouts", "POST", WRITER, "Starting a rollout", operations.start_rollout),
    ("/rollouts/abort", "POST", WRITER, "Aborting a rollout", operations.abort_rollout),
    ("/rollouts/{rollout_id}", "GET", READER, "Reading a rollout", operations.get_rollout),
    ("/rollouts/{rollout_id}/checks", "POST", WRITER, "Judging a rollout", operations.record_check),
    ("/loops/stage-run", "GET", READER, "Finding a stage's latest run", loops.stage_run),
    ("/loops/{loop}/cycles", "GET", READER, "Reading a loop's cycles", loops.list_cycles),
    ("/loops/{loop}/cycles", "POST", WRITER, "Starting a loop cycle", loops.start_cycle),
    ("/loops/{loop}/cycles/{number}/steps", "PUT", WRITER, "Recording a cycle's steps", loops.record_steps),
    ("/loops/{loop}/cycles/{number}/finish", "POST", WRITER, "Finishing a loop cycle", loops.finish_cycle),
    ("/loops/{loop}/heartbeat", "POST", WRITER, "Keeping a loop's lock", loops.heartbeat),
    # shipyard serve through the team server (serving/remote_source.py)
    ("/serving/rollouts", "GET", READER, "Reading the running rollouts", serving.rollouts),
    ("/serving/bandits", "GET", READER, "Reading bandit posteriors", serving.bandits),
    ("/serving/rewards", "POST", WRITER, "Counting bandit rewards", serving.rewards),
    ("/serving/scores", "POST", WRITER, "Adding bandit scores", serving.scores),
    # run-id prefixes and artifact listings for the fluent readers through a server (tracking/remote_artifacts.py)
    ("/query/run-ids/{prefix}", "GET", READER, "Resolving a run id", queries.resolve_run),
    ("/query/runs/{prefix}/artifacts", "GET", READER, "Listing a run's artifacts", queries.run_artifacts),
    ("/heartbeat", "POST", WRITER, "Keeping runs alive", runs.heartbeat),
]


def routes() -> list[Any]:
    """The Starlette routes of the API (mounted before the MLflow API, whose catch-all takes the rest of /api)."""
    from starlette.routing import Route

    found = [Route(PREFIX + path, endpoint(role, action, handler), methods=[method])
             for path, method, role, action, handler in ENDPOINTS]
    found.append(Route(PREFIX + "/runs/{run_id}/artifacts/{path:path}", artifacts.upload, methods=["PUT"]))
    found.append(Route(PREFIX + "/runs/{run_id}/artifacts/{path:path}", artifacts.download, methods=["GET"]))
    found.append(Route("/api/shipyard/{rest:path}", endpoint(READER, "Calling the API", _not_found),
                       methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return found


def _not_found(call: Call) -> dict[str, Any]:
    request: Request = call.request
    raise NotFoundError(f"Shipyard's API has no endpoint {request.method} {request.url.path}; the endpoints are "
                        f"under {PREFIX} (see shipyard/server/api/routes.py).")


