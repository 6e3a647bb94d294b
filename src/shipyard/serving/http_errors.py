"""The one mapping from an exception to an HTTP answer, for the FastAPI routes and the fast path alike.

Every ``ShipyardError`` carries its HTTP status (``errors.py``); its body is
``{"error": {"type", "message", "field"}}``, except under ``/v2``, where Open Inference Protocol clients
expect ``{"error": "..."}``. An unknown route or method gets the same two shapes. Anything else is a bug of
ours: a 500 naming the exception, logged with its traceback, never something a client sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ShipyardError
from .limits import closes_connection
from .responses import json_response

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("shipyard.serving")
_ROUTE_MESSAGES = {404: "No route {path}; see /docs for the API.", 405: "{method} is not allowed on {path}; see /docs."}


@dataclass(frozen=True)
class ErrorAnswer:
    """An error's status and JSON body, and whether the connection closes after it."""

    status: int
    content: dict[str, Any]
    close: bool = False  # the rest of a timed-out body may still be on its way


def error_answer(method: str, path: str, exc: BaseException) -> ErrorAnswer:
    """The answer to ``exc``, raised while answering ``method path``; a 5xx is logged."""
    if isinstance(exc, ShipyardError):
        if exc.http_status >= 500:
            log.error("Request %s %s failed: %s", method, path, exc)
        content = _shaped(path, type(exc).__name__, exc.message, getattr(exc, "field", None))
        return ErrorAnswer(exc.http_status, content, close=closes_connection(exc))
    log.error("Bug: %s %s raised %s", method, path, type(exc).__name__, exc_info=exc)
    return ErrorAnswer(500, {"error": {"type": "InternalError", "message": f"{type(exc).__name__}: {exc}",
                                       "field": None}})


def route_error_answer(method: str, path: str, status: int, detail: str) -> ErrorAnswer:
    """The answer when no route takes ``method path`` (404, 405) or Starlette refuses it otherwise."""
    template = _ROUTE_MESSAGES.get(status)
    message = template.format(method=method, path=path) if template else detail
    return ErrorAnswer(status, _shaped(path, "HTTPError", message, None))


def _shaped(path: str, kind: str, message: str, field: str | None) -> dict[str, Any]:
    if path.startswith("/v2"):
        return {"error": message}
    return {"error": {"type": kind, "message": message, "field": field}}


def install(app: FastAPI) -> None:
    """Answer the FastAPI routes' errors through :func:`error_answer` (the fast path calls it directly)."""
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    def respond(answer: ErrorAnswer) -> Response:
        response = json_response(answer.content, answer.status)
        if answer.close:
            response.headers["connection"] = "close"
        return response

    @app.exception_handler(ShipyardError)
    async def shipyard_error(request: Request, exc: ShipyardError) -> Response:
        return respond(error_answer(request.method, request.url.path, exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        response = respond(route_error_answer(request.method, request.url.path, exc.status_code, str(exc.detail)))
        response.headers.update(exc.headers or {})  # the Allow header of a 405
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return respond(error_answer(request.method, request.url.path, exc))
