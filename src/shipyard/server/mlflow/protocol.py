"""Requests and answers in MLflow's REST shape, and the one wrapper every handler runs inside.

MLflow's client sends GET parameters in the query string (a repeated field as repeated keys) and everything
else as a JSON object; it reads ``{"error_code": ..., "message": ...}`` from any answer that is not 200 and
raises it as its own ``MlflowException``, so the messages written here are what a notebook user reads.

:func:`endpoint` turns a plain function ``(call) -> dict`` into a Starlette endpoint: it identifies the caller
and checks the role first (401/403 before anything is read), reads the arguments, runs the function off the
event loop, and maps every ``ShipyardError`` to its MLflow error code and HTTP status. Anything else is a bug
of ours: logged with its traceback and answered 500 ``INTERNAL_ERROR``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import (
    AmbiguousError,
    ConflictError,
    ForbiddenError,
    IntegrityError,
    MalformedRequestError,
    NotFoundError,
    NotSupportedError,
    PayloadTooLargeError,
    ShipyardError,
    StoreUnavailableError,
    UnauthorizedError,
    ValidationError,
)
from ..auth import Identity, identify, identify_remembered, require
from ..settings import ServerSettings

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

_log = logging.getLogger(__name__)
_RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY_BYTES = 64 << 20  # a JSON request; artifacts stream through their own endpoint
_HANDLER_THREADS = 40  # as many as Starlette's own thread pool allows: a request may wait on the database
T = TypeVar("T")
_CODES: list[tuple[type[ShipyardError], str]] = [  # first match wins: subclasses before their parents
    (UnauthorizedError, "UNAUTHENTICATED"), (ForbiddenError, "PERMISSION_DENIED"),
    (NotFoundError, "RESOURCE_DOES_NOT_EXIST"), (ConflictError, "RESOURCE_ALREADY_EXISTS"),
    (AmbiguousError, "INVALID_PARAMETER_VALUE"), (PayloadTooLargeError, "REQUEST_LIMIT_EXCEEDED"),
    (MalformedRequestError, "MALFORMED_REQUEST"),
    (ValidationError, "INVALID_PARAMETER_VALUE"), (NotSupportedError, "NOT_IMPLEMENTED"),
    (StoreUnavailableError, "TEMPORARILY_UNAVAILABLE"), (IntegrityError, "DATA_LOSS"),
]
_STATUS = {"INVALID_PARAMETER_VALUE": 400, "MALFORMED_REQUEST": 400, "RESOURCE_ALREADY_EXISTS": 400}


@dataclass(frozen=True)
class Call:
    """One request to a handler: who asks, with which arguments, against which server."""

    identity: Identity
    args: Args
    settings: ServerSettings
    request: Request


class Args:
    """The request's arguments, read with a type each; a wrong one is a 400 naming the field."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, list) and name not in _REPEATED:
            return value[-1] if value else None
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.get(name)
        if value is None or value == "":
            if required:
                raise ValidationError(f"Missing value for required parameter '{name}'.", field=name)
            return None
        if not isinstance(value, str):
            raise ValidationError(f"Parameter '{name}' must be a string, got {json.dumps(value)[:80]}.", field=name)
        return value

    def required(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not re.fullmatch(r"-?\d+", str(value)):
            raise ValidationError(f"Parameter '{name}' must be an integer, got {json.dumps(value)[:80]}.", field=name)
        return int(value)

    def items(self, name: str) -> list[Any]:
        value = self.values.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValidationError(f"Parameter '{name}' must be a list, got {json.dumps(value)[:80]}.", field=name)
        return value

    def run_id(self) -> str:
        """``run_id`` (or the older ``run_uuid``): 32 hexadecimal digits."""
        value = self.text("run_id") or self.text("run_uuid")
        if value is None:
            raise ValidationError("Missing value for required parameter 'run_id'.", field="run_id")
        return check_run_id(value)


_REPEATED = {"experiment_ids", "order_by", "metrics", "params", "tags", "datasets", "models"}


def check_run_id(value: str) -> str:
    if not _RUN_ID_RE.match(value):
        raise ValidationError(f"Parameter 'run_id' must be a run id (32 hexadecimal digits), got {value[:80]!r}.",
                              field="run_id")
    return value


def pair(item: Any, what: str) -> tuple[str, Any]:
    """``(key, value)`` of one ``{"key": ..., "value": ...}`` entry of a list named ``what``."""
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        raise ValidationError(f"Each entry of '{what}' needs a string 'key', got {json.dumps(item)[:80]}.",
                              field=what)
    return item["key"], item.get("value")


def number(value: float) -> float | str:
    """A float as MLflow's JSON writes it: NaN and infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def endpoint(needed: str, action: str, handler: Callable[[Call], dict[str, Any] | Response]) -> Callable[..., Any]:
    """A Starlette endpoint running ``handler`` for callers whose role allows ``needed`` (see the module doc)."""

    async def run(request: Request) -> Response:
        settings: ServerSettings = request.app.state.server
        try:
            identity = await caller(request, settings)
            require(identity, needed, action)
            args = Args(await read_args(request))
            result = await in_thread(handler, Call(identity, args, settings, request))
        except Exception as exc:
            return error_response(exc, request)
        return result if not isinstance(result, dict) else json_response(result)

    return run


_THREADS: ThreadPoolExecutor | None = None
_THREADS_LOCK = threading.Lock()


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in this process's handler threads (it may block on the database), with the caller's
    context variables. A plain executor: AnyIO's ``to_thread`` (Starlette's ``run_in_threadpool``) spends more
    Python per call on cancel scopes and checkpoints than a ``log-metric`` handler spends on its work."""
    global _THREADS
    if _THREADS is None:
        with _THREADS_LOCK:
            if _THREADS is None:
                _THREADS = ThreadPoolExecutor(max_workers=_HANDLER_THREADS, thread_name_prefix="shipyard-handler")
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_THREADS, partial(context.run, function, *args))


async def caller(request: Request, settings: ServerSettings) -> Identity:
    """Who sends ``request``: on the event loop when no database read is needed (:mod:`..cache`), else in a thread."""
    remembered = identify_remembered(request, settings)
    if remembered is not None:
        return remembered
    return await in_thread(identify, request, settings)


async def read_args(request: Request) -> dict[str, Any]:
    """Query parameters of a GET (repeated keys as lists), the JSON object of anything else."""
    if request.method in ("GET", "HEAD"):
        values: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            values.setdefault(key, []).append(value)
        return {key: items if key in _REPEATED else items[-1] for key, items in values.items()}
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # counted as it arrives: an oversized body is never held whole
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"The request body is over {MAX_BODY_BYTES >> 20} MiB, the limit of a JSON "
                                       "request; send artifacts through the mlflow-artifacts endpoint and metrics in "
                                       "several log-batch calls.", limit=MAX_BODY_BYTES)
        parts.append(chunk)
    body = b"".join(parts)
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedRequestError("The request body is not valid JSON.", field="body") from None
    if not isinstance(document, dict):
        raise MalformedRequestError("The request body must be a JSON object.", field="body")
    return document


def json_response(document: dict[str, Any], status: int = 200) -> Response:
    from starlette.responses import Response

    return Response(json.dumps(document, allow_nan=False), status_code=status, media_type="application/json")


def error_response(exc: BaseException, request: Request | None = None) -> Response:
    """MLflow's error shape for ``exc``: its code and status for a ShipyardError, 500 for a bug of ours."""
    if isinstance(exc, ShipyardError):
        code = next((name for cls, name in _CODES if isinstance(exc, cls)), "INTERNAL_ERROR")
        status = _STATUS.get(code, exc.http_status)
        return json_response({"error_code": code, "message": exc.message}, status)
    where = f"{request.method} {request.url.path}" if request is not None else "a request"
    _log.error("Unexpected error answering %s", where, exc_info=exc)
    return json_response({"error_code": "INTERNAL_ERROR",
                          "message": f"Shipyard failed unexpectedly answering {where}: {type(exc).__name__}. "
                                     "This is a bug; the server log has the traceback."}, 500)
