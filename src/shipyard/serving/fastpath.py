"""The hot routes as a plain ASGI callable in front of FastAPI.

FastAPI's middleware stack, dependency solving and request objects cost more per request than checking
and scoring one row with ONNX. ``POST /predict/{deployment}`` and the V2 ``infer`` routes are therefore
answered here, straight from the ASGI scope and messages, with the same body reader, core, answers and
error mapping as the FastAPI routes (which stay for OpenAPI, ``/docs`` and everything else), so responses
and errors are byte-for-byte the ones the FastAPI routes give.

Being the outermost layer, it also screens every request (:class:`.access.Access`: Host, Origin, content
type, token) before anything else runs, so no route can forget it; the cost is one pass over the headers.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ..errors import ShipyardError
from .access import Access
from .answers import infer_content, predict_content
from .bodies import read_body
from .http_errors import error_answer
from .inputs import parse_body, parse_v2
from .prediction import infer_target, predict, record_error
from .responses import send_json
from .state import ServerState, started_state
from .types import Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI


class FastPath:
    """Screen every request; serve ``/predict/*`` and ``/v2/models/*/infer`` directly, the rest through ``app``."""

    def __init__(self, app: FastAPI, access: Access) -> None:
        self.app = app
        self.access = access

    def __getattr__(self, name: str) -> Any:  # state, routes, openapi(): the FastAPI app's
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            authorized = self.access.screen(scope)
        except ShipyardError as exc:
            refused = error_answer(scope["method"], scope["path"], exc)
            await send_json(send, refused.status, refused.content)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        parts = path.strip("/").split("/")
        state = started_state(self.app)
        if state is None:
            await self.app(scope, receive, send)
            return
        if len(parts) == 2 and parts[0] == "predict":
            work = self._predict(state, parts[1], scope, receive, authorized)
            await self._answer(send, path, work, state, parts[1])
        elif len(parts) in (4, 6) and parts[:2] == ["v2", "models"] and parts[-1] == "infer" and (
                len(parts) == 4 or parts[3] == "versions"):
            version = parts[4] if len(parts) == 6 else None
            work = self._infer(state, parts[2], version, scope, receive, authorized)
            await self._answer(send, path, work, state, parts[2])
        else:
            await self.app(scope, receive, send)

    async def _predict(self, state: ServerState, name: str, scope: Scope, receive: Receive,
                       authorized: bool) -> dict[str, Any]:
        deployment = state.deployment(name)
        sticky = deployment.spec.sticky_key
        raw = await read_body(scope, receive, state.config.max_body_bytes, timeout_s=state.config.body_timeout_s,
                              decode=lambda body: parse_body(body, sticky))
        return predict_content(deployment.name, await predict(state, deployment, raw, authorized=authorized))

    async def _infer(self, state: ServerState, name: str, version: str | None, scope: Scope, receive: Receive,
                     authorized: bool) -> dict[str, Any]:
        deployment, slot = infer_target(state, name, version)
        sticky = deployment.spec.sticky_key
        raw = await read_body(scope, receive, state.config.max_body_bytes, timeout_s=state.config.body_timeout_s,
                              decode=lambda body: parse_v2(body, sticky))
        predicted = await predict(state, deployment, raw, slot=slot, authorized=authorized)
        return infer_content(deployment.name, predicted)

    async def _answer(self, send: Send, path: str, work: Awaitable[dict[str, Any]], state: ServerState,
                      deployment: str) -> None:
        try:
            content = await work
        except Exception as exc:
            refused = error_answer("POST", path, exc)
            record_error(state, deployment, refused.status, exc)
            await send_json(send, refused.status, refused.content, close=refused.close)
            return
        await send_json(send, 200, content)
