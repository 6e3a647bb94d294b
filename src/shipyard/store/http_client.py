"""The HTTP transport of a remote store (``SHIPYARD_TRACKING_URI``): JSON requests with retries, and streamed uploads.

Only the standard library (``http.client``): a user who installed the core package reaches a team server without
an HTTP extra. Each thread keeps one keep-alive connection, so a background sender and the main thread never wait
for each other's requests.

A request that fails on the way (connection refused or reset, a timeout, a server that answers 429, 502, 503 or
504: a restart, a proxy, an overload) is retried with exponential backoff and jitter, from ``0.1 s`` doubling to at
most ``5 s`` between attempts, until ``retry_deadline_s`` has passed since the first attempt (``SHIPYARD_HTTP_RETRY_S``,
default 120 s); then :class:`~shipyard.errors.TrackingServerError`. A write sends the same ``Idempotency-Key`` with
every attempt, so a retry after a lost answer is answered from the server's record and written once. Any other
answer outside 2xx is the server's verdict: raised at once as the matching Shipyard error, with the server's
message and the field it names.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urlsplit

from ..errors import (
    AmbiguousError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    IntegrityError,
    NotFoundError,
    NotSupportedError,
    ShipyardError,
    TrackingServerError,
    UnauthorizedError,
    ValidationError,
)

if TYPE_CHECKING:
    import http.client

RETRY_ENV = "SHIPYARD_HTTP_RETRY_S"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
DEFAULT_RETRY_DEADLINE_S = 120.0
_FIRST_DELAY_S = 0.1
_MAX_DELAY_S = 5.0
_TIMEOUT_S = 60.0
_UPLOAD_CHUNK = 1 << 20


def new_key() -> str:
    """A fresh idempotency key for one write (kept for every retry of it)."""
    return uuid.uuid4().hex


class HttpClient:
    """Requests to one server with one token; safe to share between threads (a connection per thread)."""

    def __init__(self, url: str, token: str | None, *, retry_deadline_s: float | None = None,
                 timeout_s: float = _TIMEOUT_S) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"The tracking URI {url!r} is not a server address; use http://host:port (or https).")
        self.url = url.rstrip("/")
        self.token = token
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        if retry_deadline_s is None:
            retry_deadline_s = _deadline_from_environment()
        self.retry_deadline_s = retry_deadline_s
        self._local = threading.local()
        self.retries = 0  # attempts that failed on the way and were retried (for tests and benchmarks)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, key: str | None = None) -> Any:
        """Send a JSON request (a write with its idempotency ``key``) and return the JSON answer."""
        data = json.dumps(body, allow_nan=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        return self._with_retries(method, path, headers, lambda: data)

    def upload(self, path: str, open_body: Callable[[], BinaryIO], size: int, headers: dict[str, str], *,
               key: str) -> Any:
        """PUT a body read from ``open_body()`` (opened anew for every attempt) in pieces; the JSON answer."""
        sent = {**headers, "Content-Type": "application/octet-stream", "Content-Length": str(size),
                IDEMPOTENCY_HEADER: key}
        return self._with_retries("PUT", path, sent, open_body)

    def download(self, path: str, dest: str | os.PathLike[str]) -> dict[str, str]:
        """GET ``path`` streamed into the file ``dest`` (written anew by every attempt, never held whole in
        memory); the answer's headers, lower-cased. An error answer raises as :meth:`call`'s do."""

        def receive(response: http.client.HTTPResponse) -> dict[str, str]:
            with open(dest, "wb") as handle:
                while chunk := response.read(_UPLOAD_CHUNK):
                    handle.write(chunk)
            return {key.lower(): value for key, value in response.getheaders()}

        result: dict[str, str] = self._with_retries("GET", path, {"Accept": "*/*"}, lambda: None, receive)
        return result

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _with_retries(self, method: str, path: str, headers: dict[str, str], body: Callable[[], Any],
                      receive: Callable[[http.client.HTTPResponse], Any] | None = None) -> Any:
        import http.client  # here, not at the top: importing it costs more than the rest of this module

        failures = (OSError, http.client.HTTPException)  # refused, reset, timed out (all OSError), cut short
        started = time.monotonic()
        delay = _FIRST_DELAY_S
        while True:
            try:
                status, payload = self._send(method, path, headers, body(), receive)
            except failures as exc:
                self.close()  # the connection may be half-used: the next attempt opens a new one
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if status < 300:
                    return payload if receive is not None else _json(payload)
                if status not in RETRYABLE_STATUS:
                    raise _error(status, payload, self.url)
                problem = f"HTTP {status}"
            waited = time.monotonic() - started
            if waited + delay > self.retry_deadline_s:
                raise TrackingServerError(
                    f"The tracking server {self.url} did not take {method} {path} after {waited:.0f} s of retries "
                    f"({problem}). Check that `shipyard server` runs there, or give it longer with {RETRY_ENV}.",
                    url=self.url)
            self.retries += 1
            time.sleep(delay * (0.5 + random.random() / 2))  # backoff between attempts, jittered
            delay = min(delay * 2, _MAX_DELAY_S)

    def _send(self, method: str, path: str, headers: dict[str, str], body: Any,
              receive: Callable[[http.client.HTTPResponse], Any] | None = None) -> tuple[int, Any]:
        """One attempt: the status, and the body (or what ``receive`` made of a successful answer)."""
        connection = self._connection()
        sent = {"Accept": "application/json", **headers}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        try:
            if body is None or isinstance(body, bytes):
                connection.request(method, self._base + path, body=body, headers=sent)
            else:
                with body:  # a file: http.client sends it in pieces
                    connection.request(method, self._base + path, body=_chunks(body), headers=sent)
            response = connection.getresponse()
            payload = receive(response) if receive is not None and response.status < 300 else response.read()
        except BaseException:
            self.close()
            raise
        if response.getheader("connection", "").lower() == "close":
            self.close()
        return response.status, payload

    def _connection(self) -> http.client.HTTPConnection:
        import http.client

        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self.timeout_s)
            self._local.connection = connection
        return connection


def quote_path(text: str) -> str:
    """``text`` as one URL path segment or path (slashes kept)."""
    return quote(text, safe="/")


def _chunks(stream: BinaryIO) -> Any:
    while chunk := stream.read(_UPLOAD_CHUNK):
        yield chunk


def _json(payload: bytes) -> Any:
    if not payload.strip():
        return {}
    return json.loads(payload)


_BY_STATUS: dict[int, type[ShipyardError]] = {
    400: ValidationError, 401: UnauthorizedError, 403: ForbiddenError, 404: NotFoundError, 409: ConflictError,
    413: ValidationError, 415: ValidationError, 422: ValidationError, 501: NotSupportedError,
}


def _error(status: int, payload: bytes, url: str) -> ShipyardError:
    """The Shipyard error the server's answer describes (``{"error": {"type", "message", "field"}}``)."""
    error: dict[str, Any] = {}
    try:
        document = json.loads(payload)
        error = document["error"] if isinstance(document.get("error"), dict) else {}
        message = str(error.get("message") or document.get("message") or "")
        field = error.get("field")
    except (ValueError, AttributeError, TypeError):
        message, field = payload[:200].decode("utf-8", "replace"), None
    if not message:
        message = f"The tracking server {url} answered HTTP {status}."
    cls = _BY_STATUS.get(status)
    if status == 409 and error.get("type") == AmbiguousError.__name__:  # a prefix: the class the store raises
        return AmbiguousError(message, candidates=[])
    if status == 500 and error.get("type") == IntegrityError.__name__:  # a damaged object: as the store raises it
        return IntegrityError(message, object_hash="")
    if cls is None:
        return ShipyardError(f"The tracking server {url} answered HTTP {status}: {message}")
    if cls in (ValidationError, UnauthorizedError):
        return cls(message, field=field)
    return cls(message)


def _deadline_from_environment() -> float:
    text = os.environ.get(RETRY_ENV)
    if not text:
        return DEFAULT_RETRY_DEADLINE_S
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{RETRY_ENV} is {text!r}; give the seconds a request may be retried, such as 120.") \
            from None
    if value < 0:
        raise ConfigError(f"{RETRY_ENV} is {text!r}; give a number of seconds of 0 or more.")
    return value
