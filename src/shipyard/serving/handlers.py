"""Shipyard's own routes: ``/predict``, ``/feedback``, health, ``/deployments`` and ``/metrics``.

Routes read the body (:mod:`.bodies`), call the core (:mod:`.prediction`, :mod:`.feedback`) and render
its result (:mod:`.answers`); errors are answered by the app's one error layer (:mod:`.http_errors`).
Only the app factory imports this module. ``POST /predict`` is answered by the fast path
(:mod:`.fastpath`) once the app has started; this route serves it before then and documents it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .access import require_write
from .answers import describe, predict_content
from .bodies import read_body
from .feedback import record_feedback
from .inputs import parse_body
from .prediction import predict
from .responses import json_response
from .state import access_of, started_state, state_of

if TYPE_CHECKING:
    from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the routes to the FastAPI ``app``."""

    @app.post("/predict/{deployment}", tags=["predict"], summary="Predict with a deployment")
    async def predict_route(deployment: str, request: Request) -> Response:
        state = state_of(request)
        live = state.deployment(deployment)
        sticky = live.spec.sticky_key
        raw = await read_body(request.scope, request.receive, state.config.max_body_bytes,
                              timeout_s=state.config.body_timeout_s, decode=lambda body: parse_body(body, sticky))
        authorized = access_of(request).authorized(request.headers.get("authorization"))
        return json_response(predict_content(live.name, await predict(state, live, raw, authorized=authorized)))

    @app.post("/feedback/{deployment}", tags=["feedback"], summary="Send ground truth for logged predictions")
    async def feedback_route(deployment: str, request: Request) -> Response:
        state = state_of(request)
        require_write(access_of(request), request.headers.get("authorization"))
        live = state.deployment(deployment)
        body = await read_body(request.scope, request.receive, state.config.max_body_bytes,
                               timeout_s=state.config.body_timeout_s)
        return json_response(await record_feedback(state, live, body))

    @app.get("/health/live", tags=["health"])
    async def live_route() -> Response:
        return json_response({"live": True})

    @app.get("/health/ready", tags=["health"])
    async def ready_route(request: Request) -> Response:
        state = started_state(request.app)
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
