"""The hot routes as a plain ASGI callable in front of FastAPI.

FastAPI's middleware stack, dependency solving and request objects cost more per request than checking
and scoring one row with ONNX. ``POST /predict/{deployment}`` and the V2 ``infer`` routes are therefore
answered here, straight from the ASGI scope and messages, by the same functions the FastAPI routes call
(which stay for OpenAPI, ``/docs`` and everything else). Responses and errors are byte-for-byte the ones
the FastAPI routes give.

Being the outermost layer, it also screens every request (:class:`.access.Access`: Host, Origin, content
type, token) before anything else runs, so no route can forget it; the cost is one pass over the headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import MalformedRequestError, PayloadTooLargeError, ShipyardError
from .access import Access
from .limits import body_timed_out, closes_connection, decode_body, sized
from .spec import DEFAULT_BODY_TIMEOUT_S

log = logging.getLogger("shipyard.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_JSON_HEADERS = [(b"content-type", b"application/json")]
_CLOSE = [(b"connection", b"close")]


class FastPath:
    """Screen every request; serve ``/predict/*`` and ``/v2/models/*/infer`` directly, the rest through ``app``."""

    def __init__(self, app: Any, access: Access) -> None:
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
            await _send_json(send, exc.http_status, _error_content(scope["path"], exc))
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        parts = path.strip("/").split("/")
        state = getattr(self.app.state, "serving", None)
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

    async def _predict(self, state: Any, name: str, scope: Scope, receive: Receive, authorized: bool) -> Any:
        from .app import predict
        from .handlers import predict_content
        from .inputs import parse_body

        deployment = state.deployment(name)
        sticky = deployment.spec.sticky_key
        raw = await read_body(scope, receive, state.config.max_body_bytes, timeout_s=state.config.body_timeout_s,
                              decode=lambda body: parse_body(body, sticky))
        return predict_content(deployment.name, await predict(state, deployment, raw, authorized=authorized))

    async def _infer(self, state: Any, name: str, version: str | None, scope: Scope, receive: Receive,
                     authorized: bool) -> Any:
        from .inputs import parse_v2
        from .oip import infer_content, infer_target

        deployment, slot = infer_target(state, name, version)
        sticky = deployment.spec.sticky_key
        raw = await read_body(scope, receive, state.config.max_body_bytes, timeout_s=state.config.body_timeout_s,
                              decode=lambda body: parse_v2(body, sticky))
        return await infer_content(state, deployment, slot, raw, authorized=authorized)

    async def _answer(self, send: Send, path: str, work: Awaitable[Any], state: Any, deployment: str) -> None:
        from .app import record_error

        close = False
        try:
            content, status = await work, 200
        except ShipyardError as exc:
            close = closes_connection(exc)
            status = exc.http_status
            content = _error_content(path, exc)
            if status >= 500:
                log.error("POST %s failed: %s", path, exc)
            record_error(state, deployment, status, exc)
        except Exception as exc:
            log.exception("Bug: POST %s raised %s", path, type(exc).__name__)
            status = 500
            content = {"error": {"type": "InternalError", "message": f"{type(exc).__name__}: {exc}", "field": None}}
            record_error(state, deployment, status, exc)
        await _send_json(send, status, content, close=close)


def _error_content(path: str, exc: ShipyardError) -> Any:
    from .app import error_body

    return {"error": exc.message} if path.startswith("/v2") else error_body(exc)


async def _send_json(send: Send, status: int, content: Any, *, close: bool = False) -> None:
    import orjson

    payload = await sized(_rows(content), orjson.dumps, content, None, orjson.OPT_SERIALIZE_NUMPY)
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode()),
                            *(_CLOSE if close else ())]})
    await send({"type": "http.response.body", "body": payload})


def _rows(content: dict[str, Any]) -> int:
    """The rows of an answer (``/predict`` or V2), so a large one is serialized off the event loop."""
    if "predictions" in content:
        return len(content["predictions"])
    outputs = content.get("outputs") or [{}]
    return int((outputs[0].get("shape") or [0])[0])


async def read_body(scope: Scope, receive: Receive, limit: int, *, timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
                    decode: Callable[[Any], Any] | None = None) -> Any:
    """The JSON body through ``decode``, with the same limits and messages as
    :func:`shipyard.serving.app.read_json`."""
    declared = None
    for key, value in scope["headers"]:
        if key == b"content-length":
            declared = value
        elif key == b"inference-header-content-length":
            raise MalformedRequestError("This server speaks the JSON form of the inference protocol only; send "
                                        "tensors as JSON (tritonclient: binary_data=False).", field="body")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The body is {int(declared):,} bytes; this server accepts at most {limit:,} "
                                   "(max_body_bytes in serving.yaml); split the request.", limit=limit)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise MalformedRequestError("The client disconnected before sending the whole body.",
                                                field="body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"The body is over {limit:,} bytes, the most this server accepts; "
                                               "split the request.", limit=limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise body_timed_out(declared, size, timeout_s) from None
    if not size:
        raise MalformedRequestError("The request has no body; send a JSON object.", field="body")
    return await decode_body(chunks[0] if len(chunks) == 1 else b"".join(chunks), decode)
