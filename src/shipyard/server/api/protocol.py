"""The one wrapper every handler of Shipyard's own REST API runs inside, and its error shape.

:func:`endpoint` turns a plain function ``(call) -> dict`` into a Starlette endpoint: it identifies the caller and
checks the role first (401/403 before anything is read), reads the JSON body (bounded as it arrives), runs the
function off the event loop, and answers every ``ShipyardError`` as DESIGN.md section 5 says:
``{"error": {"type": ..., "message": ..., "field": ...}}`` with the error's own HTTP status. Anything else is a bug
of ours: logged with its traceback and answered 500.

Writes go through :func:`Call.once`: with an ``Idempotency-Key`` header the write, the claim of the key and the
answer are one transaction (:mod:`shipyard.store.idempotency`), so a retried request is answered from the database
and written once.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import MalformedRequestError, PayloadTooLargeError, ShipyardError, ValidationError
from ...store.db import Database
from ...store.idempotency import HEADER, check_key, fingerprint, prune, recall, remember, run_once
from ..auth import Identity, identify, require
from ..settings import ServerSettings

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from starlette.requests import Request
    from starlette.responses import Response

_log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 << 20  # a JSON request; artifacts stream through their own endpoint
REPLAYED_HEADER = "Idempotent-Replayed"
PRUNE_EVERY_S = 3600.0
_pruned_at = [-math.inf]


@dataclass(frozen=True)
class Call:
    """One request to a handler: who asks, the JSON body, the path parameters, the server, the idempotency key."""

    identity: Identity
    body: dict[str, Any]
    path: dict[str, Any]
    settings: ServerSettings
    request: Request
    key: str | None
    request_hash: str

    def once(self, work: Callable[[Connection], dict[str, Any]]) -> dict[str, Any]:
        """Run the write ``work`` in one transaction, at most once per idempotency key (see the module doc)."""
        db = self.settings.store.db
        _prune_now_and_then(db)
        if self.key is None:
            return db.write(work)
        answer = run_once(db, self.key, actor=self.identity.name, request_hash=self.request_hash, work=work)
        if answer.replayed:
            self.request.state.replayed = True
        return answer.body

    def recall(self) -> dict[str, Any] | None:
        """The stored answer of this request's key (for a write that cannot run inside :meth:`once`), or ``None``."""
        if self.key is None:
            return None
        answer = recall(self.settings.store.db, self.key, actor=self.identity.name, request_hash=self.request_hash)
        if answer is None:
            return None
        self.request.state.replayed = True
        return answer.body

    def remember(self, conn: Connection, body: dict[str, Any]) -> None:
        """Record ``body`` as the answer of this request's key, inside the write's own transaction."""
        if self.key is not None:
            remember(conn, self.key, actor=self.identity.name, request_hash=self.request_hash, body=body)


def _prune_now_and_then(db: Database) -> None:
    """Forget idempotency keys older than a week, at most once an hour per server process (a retry comes within
    minutes; the table would otherwise grow by a row per batch forever)."""
    now = time.monotonic()
    if now - _pruned_at[0] < PRUNE_EVERY_S:
        return
    _pruned_at[0] = now
    try:
        prune(db)
    except ShipyardError as exc:  # the write itself matters more; the next hour tries again
        _log.warning("Could not prune old idempotency keys: %s", exc.message)


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False,
          what: str | None = None) -> Any:
    """``body[name]`` if it has type ``kind`` (``None`` when absent and not required), else a 400 naming it."""
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationError(f"The request needs the field {name!r}.", field=name)
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kind):
        raise ValidationError(f"The field {name!r} must be {what or _describe(kind)}, got {json.dumps(value)[:80]}.",
                              field=name)
    return value


def _describe(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", dict: "an object", list: "a list", float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(item, item.__name__) for item in kinds)


def endpoint(needed: str, action: str, handler: Callable[[Call], dict[str, Any]]) -> Callable[..., Any]:
    """A Starlette endpoint running ``handler`` for callers whose role allows ``needed`` (see the module doc)."""

    async def run(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        settings: ServerSettings = request.app.state.server
        try:
            identity = await run_in_threadpool(identify, request, settings)
            require(identity, needed, action)
            raw = await read_body(request) if request.method not in ("GET", "HEAD") else b""
            body = parse_json(raw)
            key = request.headers.get(HEADER)
            call = Call(identity, body, dict(request.path_params), settings, request,
                        check_key(key) if key is not None else None,
                        fingerprint(request.method, request.url.path, raw))
            result = await run_in_threadpool(handler, call)
        except Exception as exc:
            return error_response(exc, request)
        return json_response(result, replayed=getattr(request.state, "replayed", False))

    return run


async def read_body(request: Request) -> bytes:
    """The body, counted as it arrives: an oversized one is refused (413) without being held whole."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"The request body is over {MAX_BODY_BYTES >> 20} MiB, the limit of a JSON "
                                       "request; send metrics in several batches and files as artifact uploads.",
                                       limit=MAX_BODY_BYTES)
        parts.append(chunk)
    return b"".join(parts)


def parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        document = _loads(raw)
    except (ValueError, RecursionError):
        raise MalformedRequestError("The request body is not valid JSON.", field="body") from None
    if not isinstance(document, dict):
        raise MalformedRequestError("The request body must be a JSON object.", field="body")
    return document


def _loads(raw: bytes) -> Any:
    """orjson where it is installed (the serve extra; several times faster on a batch of points), else json. Both
    refuse NaN and infinities, which travel as null and "Infinity" strings."""
    try:
        import orjson
    except ImportError:
        return json.loads(raw, parse_constant=_refuse_constant)
    return orjson.loads(raw)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and infinities travel as null and "Infinity" strings


def json_response(document: dict[str, Any], status: int = 200, *, replayed: bool = False) -> Response:
    from starlette.responses import Response

    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(json.dumps(document, allow_nan=False), status_code=status, media_type="application/json",
                    headers=headers)


def error_response(exc: BaseException, request: Request | None = None) -> Response:
    """DESIGN.md's error shape for ``exc``: its type, message and field with its status; 500 for a bug of ours."""
    if isinstance(exc, ShipyardError):
        return json_response({"error": {"type": type(exc).__name__, "message": exc.message,
                                        "field": getattr(exc, "field", None)}}, exc.http_status)
    where = f"{request.method} {request.url.path}" if request is not None else "a request"
    _log.error("Unexpected error answering %s", where, exc_info=exc)
    return json_response({"error": {"type": "InternalError", "field": None,
                                    "message": f"Shipyard failed unexpectedly answering {where}: "
                                               f"{type(exc).__name__}. This is a bug; the server log has the "
                                               "traceback."}}, 500)
