"""Metric points for a tracking server: buffered as locally, shipped in batches by a background sender.

``log_metric`` costs the same as with a local store (a check and an append); a daemon thread sends what is pending
every ``FLUSH_INTERVAL_S`` (or sooner once it is long) as batches of at most ``BATCH_POINTS`` points. The same send
runs at the end of every run, on ``shipyard.flush()``, at interpreter exit and on SIGTERM (``fluent.py``).

Each batch gets its idempotency key when it is cut from the buffer, and keeps it until the server acknowledged it:
a batch whose answer was lost (a server killed after its commit) is sent again with the same key and the server
answers from its record, so no point is ever written twice; a batch that did not get through stays first in line,
so no point is dropped and batches arrive in the order they were logged. The transport retries with backoff
(:mod:`shipyard.store.http_client`); only when the server stays away past that deadline does a flush raise.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..errors import ShipyardError, TrackingServerError
from ..store.http_client import HttpClient, new_key
from .metrics import FLUSH_INTERVAL_S, Point, PointBuffer

BATCH_POINTS = 20_000  # about 1 MB of JSON: one request's worth
_WAKE_AT = 20_000
_PATH = "/api/shipyard/v1/metrics"

WirePoint = tuple[str, str, int, float | str | None, int]  # infinities as "Infinity" / "-Infinity" (JSON has none)


@dataclass
class _Batch:
    key: str
    points: list[WirePoint]


def _wire(points: list[Point]) -> list[WirePoint]:
    """The points as JSON can carry them (done in the sender, off ``log_metric``'s path)."""
    return [point if point[3] is None or math.isfinite(point[3]) else
            (*point[:3], "Infinity" if point[3] > 0 else "-Infinity", point[4]) for point in points]


class MetricSender(PointBuffer):
    """The per-process buffer of points for one tracking server."""

    thread_name = "shipyard-metric-sender"
    retry_message = "could not send metrics yet ({exc}); will retry."
    wake_at = _WAKE_AT

    def __init__(self, client: HttpClient) -> None:
        super().__init__()
        self.client = client
        self._unsent: deque[_Batch] = deque()
        self._send_lock = threading.Lock()
        self.sent_points = 0
        self.sent_batches = 0
        self.dropped_points = 0  # refused by the server (4xx): retrying could never succeed

    def flush(self) -> int:
        """Send every pending point, in order; returns how many were acknowledged now. Safe from any thread.

        Raises:
            TrackingServerError: the server stayed away past the retries; the points stay queued for the next flush.
            ShipyardError: the server refused a batch (401, 403, 404...); that batch is dropped, the rest stay queued.
        """
        with self._send_lock:
            self._cut_batches()
            sent = 0
            while self._unsent:
                batch = self._unsent[0]
                try:
                    self.client.call("POST", _PATH, {"points": batch.points}, key=batch.key)
                except TrackingServerError:
                    raise  # the server is away: the batch stays first in line, with its key
                except ShipyardError:  # the server's verdict (a revoked token, a run it does not have): final
                    self._unsent.popleft()
                    self.dropped_points += len(batch.points)
                    raise
                self._unsent.popleft()
                sent += len(batch.points)
                self.sent_batches += 1
            self.sent_points += sent
            return sent

    def take_unsent(self) -> list[dict[str, Any]]:
        """Every point not yet acknowledged, as the requests that would send it (each batch with its key), removed
        from this sender: what an exit keeps on disk when the server stays away (:mod:`.spool`)."""
        with self._send_lock:
            self._cut_batches()
            taken = [{"method": "POST", "path": _PATH, "body": {"points": batch.points}, "key": batch.key}
                     for batch in self._unsent]
            self._unsent.clear()
            return taken

    def waiting(self) -> int:
        """Points logged and not yet acknowledged by the server."""
        with self._lock:
            return len(self._pending) + sum(len(batch.points) for batch in list(self._unsent))

    def _cut_batches(self) -> None:
        """Move the pending points into batches, each keyed once (called with the send lock held)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for start in range(0, len(pending), BATCH_POINTS):
            self._unsent.append(_Batch(new_key(), _wire(pending[start:start + BATCH_POINTS])))

    def _flush_interval_s(self) -> float:
        return FLUSH_INTERVAL_S  # this module's, read at each wait: a process may set it (the tests do)
