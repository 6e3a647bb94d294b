"""The one reader of request bodies, for the FastAPI routes and the fast path alike.

It reads the ASGI messages itself (a FastAPI route passes ``request.scope`` and ``request.receive``), so
every route refuses the same bodies with the same messages: Triton's binary extension (400), a declared
or actual size over ``max_body_bytes`` (413, before reading on when the size is declared), a client that
disconnects mid-body (400), a body not whole ``body_timeout_s`` after the headers (408, closing the
connection) and an empty body (400). Large bodies are decoded off the event loop (:mod:`.limits`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, overload

from ..errors import MalformedRequestError, PayloadTooLargeError
from .limits import body_timed_out, decode_body
from .spec import DEFAULT_BODY_TIMEOUT_S
from .types import Receive, Scope

Decoded = TypeVar("Decoded")


@overload
async def read_body(scope: Scope, receive: Receive, limit: int, *, timeout_s: float = ...,
                    decode: Callable[[Any], Decoded]) -> Decoded: ...


@overload
async def read_body(scope: Scope, receive: Receive, limit: int, *, timeout_s: float = ...,
                    decode: None = None) -> Any: ...


async def read_body(scope: Scope, receive: Receive, limit: int, *, timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
                    decode: Callable[[Any], Decoded] | None = None) -> Decoded | Any:
    """The JSON body through ``decode`` (body -> request), within ``limit`` bytes and ``timeout_s`` seconds.

    Raises:
        MalformedRequestError: binary tensors, a client gone mid-body, an empty body, or not JSON (400).
        PayloadTooLargeError: a body over ``limit`` bytes (413).
        RequestTimeoutError: the body was not whole ``timeout_s`` seconds after the headers (408).
    """
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
