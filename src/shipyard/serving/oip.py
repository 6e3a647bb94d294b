"""The Open Inference Protocol (KServe V2) routes of the server, so existing clients work unchanged.

Tabular input follows the pandas-codec convention: one input per column with ``shape [N]``
(:func:`shipyard.serving.inputs.parse_v2`). ``/v2/models/{name}/infer`` routes like ``/predict`` (weights,
sticky key in ``parameters.sticky_key``); ``/versions/{v}/infer`` goes to the variant serving version ``v``.
The answers' shapes are :mod:`.answers`'; only the app factory imports this module, and once the app has
started the ``infer`` routes are answered by the fast path (:mod:`.fastpath`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from .answers import infer_content, metadata_content
from .bodies import read_body
from .inputs import parse_v2
from .prediction import infer_target, predict
from .responses import json_response
from .state import access_of, started_state, state_of

if TYPE_CHECKING:
    from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the V2 routes to the FastAPI ``app``."""

    @app.get("/v2", tags=["open inference protocol"])
    async def server_metadata() -> Response:
        from importlib.metadata import version

        return json_response({"name": "shipyard", "version": version("shipyard-ml"), "extensions": []})

    @app.get("/v2/health/live", tags=["open inference protocol"])
    async def v2_live() -> Response:
        return json_response({"live": True})

    @app.get("/v2/health/ready", tags=["open inference protocol"])
    async def v2_ready(request: Request) -> Response:
        state = started_state(request.app)
        ready = state is not None and state.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    @app.get("/v2/models/{name}", tags=["open inference protocol"])
    async def model_metadata(name: str, request: Request) -> Response:
        return json_response(metadata_content(name, state_of(request).deployment(name)))

    @app.get("/v2/models/{name}/ready", tags=["open inference protocol"])
    async def model_ready(name: str, request: Request) -> Response:
        state = state_of(request)
        state.deployment(name)
        return json_response({"name": name, "ready": state.ready}, 200 if state.ready else 503)

    @app.post("/v2/models/{name}/infer", tags=["open inference protocol"])
    async def infer(name: str, request: Request) -> Response:
        return await _infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["open inference protocol"])
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await _infer(request, name, version)


async def _infer(request: Request, name: str, version: str | None) -> Response:
    state = state_of(request)
    deployment, slot = infer_target(state, name, version)
    sticky = deployment.spec.sticky_key
    raw = await read_body(request.scope, request.receive, state.config.max_body_bytes,
                          timeout_s=state.config.body_timeout_s, decode=lambda body: parse_v2(body, sticky))
    authorized = access_of(request).authorized(request.headers.get("authorization"))
    predicted = await predict(state, deployment, raw, slot=slot, authorized=authorized)
    return json_response(infer_content(deployment.name, predicted))
