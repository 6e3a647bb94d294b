"""What one request may cost a worker: its rows, the time its body takes, and the event loop's time.

A request of more than ``max_request_rows`` rows is a 413, and a body not whole ``body_timeout_s`` after
its headers a 408 that closes the connection (the rest of the body may still be on its way), so neither a
huge request nor a stalled client holds a worker. Below those limits, work that grows with a request's
size leaves the event loop once the request is large.

A worker answers every connection from one event loop, so whatever runs on it is time in which nothing
else is answered, health probes included (an orchestrator that sees probes time out restarts a healthy
server). Measured on the churn pipeline, a 100,000-row request (8 MB) costs 0.05 s to parse as JSON, 0.04 s
to read into columns, 0.02 s to check, 0.3 s to build the model's inputs and score (either runtime) and
0.09 s to convert for the log: run on the loop, that stopped the worker for half a second. Above the
thresholds below those steps run in threads, where the loop gets the GIL back every switch interval.

Small requests stay on the loop: at 1,000 rows each step takes about a millisecond or less, while a trip
to a thread costs 0.09 ms when idle and up to the 5 ms GIL switch interval under load, which is more than
it would save. (``max_request_rows`` bounds the largest request a server takes at all.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import PayloadTooLargeError, RequestTimeoutError
from .inputs import RawRequest, parse_json

T = TypeVar("T")
LARGE_REQUEST_ROWS = 1000  # rows above which checking, scoring and log conversion run in threads
LARGE_BODY_BYTES = 64 * 1024  # bodies above which JSON parsing and reading into columns run in a thread


def check_rows(raw: RawRequest, limit: int) -> None:
    """Refuse a request of more than ``limit`` rows (413), naming the setting that raises the limit."""
    if raw.rows > limit:
        raise PayloadTooLargeError(f"The request has {raw.rows:,} rows; this server takes at most {limit:,} per "
                                   "request (max_request_rows in serving.yaml, or --max-request-rows); split it.",
                                   limit=limit, field=raw.source)


def body_timed_out(declared: bytes | str | None, received: int, timeout_s: float) -> RequestTimeoutError:
    """The 408 of a body still incomplete ``timeout_s`` after its headers (a stalled or deliberately slow client
    would otherwise hold its connection for as long as it likes)."""
    expected = f" of the {int(declared):,} bytes declared" if declared is not None and declared.isdigit() else ""
    return RequestTimeoutError(f"The request body was not complete {timeout_s:g} s after its headers ({received:,} "
                               f"bytes received{expected}); this server waits body_timeout_s ({timeout_s:g} s) "
                               "for a body. Send the whole body at once.", timeout_s=timeout_s)


def closes_connection(exc: BaseException) -> bool:
    """Whether the answer to ``exc`` must close the connection: the rest of a timed-out body may still come."""
    return isinstance(exc, RequestTimeoutError)


def is_large(rows: int) -> bool:
    return rows > LARGE_REQUEST_ROWS


async def decode_body(data: bytes, decode: Callable[[Any], T] | None = None) -> T | Any:
    """The body parsed as JSON and passed through ``decode`` (body -> request); a large one in a thread, and
    a large records body a slice at a time (:mod:`.sliced_json`: one parse would hold the GIL throughout)."""
    if len(data) <= LARGE_BODY_BYTES:
        return _decode(data, decode)
    return await asyncio.to_thread(_decode, data, decode, sliced=True)


def _decode(data: bytes, decode: Callable[[Any], T] | None, *, sliced: bool = False) -> T | Any:
    body = parse_json(data, sliced=sliced)
    return body if decode is None else decode(body)


async def sized(rows: int, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` here for a small request, in a thread for a large one."""
    if is_large(rows):
        return await asyncio.to_thread(function, *args)
    return function(*args)
