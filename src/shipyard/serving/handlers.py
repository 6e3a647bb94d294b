"""Shipyard's own routes: ``/predict``, ``/feedback``, health, ``/metrics``, and the error mapping."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ShipyardError
from .app import Predicted, ServerState, error_body, predict, read_json, record_feedback, require_write
from .inputs import parse_body
from .limits import closes_connection

log = logging.getLogger("shipyard.serving")


def json_response(content: Any, status: int = 200) -> Any:
    import orjson
    from starlette.responses import Response

    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def state_of(request: Any) -> ServerState:
    state: ServerState = request.app.state.serving
    return state


def install(app: Any) -> None:
    @app.post("/predict/{deployment}", tags=["predict"], summary="Predict with a deployment")
    async def predict_route(deployment: str, request: Request) -> Response:
        state = state_of(request)
        live = state.deployment(deployment)
        sticky = live.spec.sticky_key
        raw = await read_json(request, state.config.max_body_bytes, timeout_s=state.config.body_timeout_s,
                              decode=lambda body: parse_body(body, sticky))
        authorized = request.app.state.access.authorized(request.headers.get("authorization"))
        return json_response(predict_content(live.name, await predict(state, live, raw, authorized=authorized)))

    @app.post("/feedback/{deployment}", tags=["feedback"], summary="Send ground truth for logged predictions")
    async def feedback_route(deployment: str, request: Request) -> Response:
        state = state_of(request)
        require_write(request.app.state.access, request.headers.get("authorization"))
        live = state.deployment(deployment)
        body = await read_json(request, state.config.max_body_bytes, timeout_s=state.config.body_timeout_s)
        return json_response(await record_feedback(state, live, body))

    @app.get("/health/live", tags=["health"])
    async def live_route() -> Response:
        return json_response({"live": True})

    @app.get("/health/ready", tags=["health"])
    async def ready_route(request: Request) -> Response:
        state = getattr(request.app.state, "serving", None)
        ready = state is not None and state.ready
        detail: dict[str, Any] = {"ready": ready}
        if state is not None:
            detail["deployments"] = describe(state)
            if state.predictions.last_error:
                detail["prediction_log_error"] = state.predictions.last_error
        return json_response(detail, 200 if ready else 503)

    @app.get("/deployments", tags=["health"], summary="What each deployment serves now")
    async def deployments_route(request: Request) -> Response:
        return json_response(describe(state_of(request)))

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics_route(request: Request) -> Response:
        state = state_of(request)
        state.metrics.log_queue.set(state.predictions.queued)
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    @app.exception_handler(ShipyardError)
    async def shipyard_error(request: Request, exc: ShipyardError) -> Response:
        if exc.http_status >= 500:
            log.error("Request %s %s failed: %s", request.method, request.url.path, exc)
        if request.url.path.startswith("/v2"):
            response = json_response({"error": exc.message}, exc.http_status)
        else:
            response = json_response(error_body(exc), exc.http_status)
        if closes_connection(exc):
            response.headers["connection"] = "close"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {404: f"No route {request.url.path}; see /docs for the API.",
                   405: f"{request.method} is not allowed on {request.url.path}; see /docs."}.get(
            exc.status_code, str(exc.detail))
        if request.url.path.startswith("/v2"):
            response = json_response({"error": message}, exc.status_code)
        else:
            response = json_response({"error": {"type": "HTTPError", "message": message, "field": None}},
                                     exc.status_code)
        response.headers.update(exc.headers or {})  # the Allow header of a 405
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("Bug: %s %s raised %s", request.method, request.url.path, type(exc).__name__)
        return json_response({"error": {"type": "InternalError", "message": f"{type(exc).__name__}: {exc}",
                                         "field": None}}, 500)


def predict_content(deployment: str, predicted: Predicted) -> dict[str, Any]:
    answer, runner = predicted.answer, predicted.runner
    content: dict[str, Any] = {
        "request_id": predicted.request_id, "deployment": deployment, "variant": predicted.slot.name,
        "model": {"name": runner.name, "version": runner.version, "uri": runner.uri},
        "predictions": answer.labels}
    if answer.probabilities is not None:
        content["classes"] = runner.classes
        content["probabilities"] = answer.probabilities
    if predicted.ignored:
        content["ignored_columns"] = predicted.ignored
    return content


def describe(state: ServerState) -> dict[str, Any]:
    described = {}
    for name, deployment in state.fleet.deployments.items():
        described[name] = {
            "variants": [{"name": slot.name, "model": slot.spec.model, "serving": slot.serving.resolved,
                          "weight": slot.spec.weight, "runtime": slot.serving.runner.runtime}
                         for slot in deployment.variants],
            "shadows": [{"name": slot.name, "model": slot.spec.model, "serving": slot.serving.resolved,
                         "runtime": slot.serving.runner.runtime} for slot in deployment.shadows],
            "sticky_key": deployment.spec.sticky_key,
            "batching": {"max_batch_size": deployment.spec.batching.max_batch_size,
                         "max_wait_ms": deployment.spec.batching.max_wait_ms},
        }
    return described
