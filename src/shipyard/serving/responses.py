"""JSON answers as bytes from orjson: a Starlette response for the FastAPI routes, ASGI messages for the fast path.

Both serialize the same way (numpy values allowed), so a route answers byte for byte what the fast path
does. The fast path serializes a large answer off the event loop (:mod:`.limits`) and can close the
connection after it (a timed-out body may still be arriving).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .limits import sized
from .types import Send

if TYPE_CHECKING:
    from starlette.responses import Response

_JSON_HEADERS = [(b"content-type", b"application/json")]
_CLOSE = [(b"connection", b"close")]


def json_response(content: Any, status: int = 200) -> Response:
    """``content`` as a JSON response of a FastAPI route."""
    import orjson
    from starlette.responses import Response

    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


async def send_json(send: Send, status: int, content: Any, *, close: bool = False) -> None:
    """Send ``content`` as a whole JSON answer over ASGI; ``close`` asks the server to close the connection."""
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
