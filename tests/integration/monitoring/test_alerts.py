"""``monitoring.alerts.post`` against real HTTP servers on 127.0.0.1: what a receiver gets, and what the
sender learns when the webhook answers an error, refuses the connection or never answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipyard.monitoring import alerts


@dataclass
class Hook:
    """A webhook answering every POST with ``status`` and recording it (method, path, headers, JSON body)."""

    url: str
    status: list[int]
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    status = [204]
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"method": self.command, "path": self.path, "type": self.headers.get("Content-Type"),
                             "agent": self.headers.get("User-Agent"), "body": json.loads(body)})
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="hook", daemon=True)
    thread.start()
    try:
        yield Hook(f"http://127.0.0.1:{server.server_address[1]}/hooks/alert", status, received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_one_json_post_with_the_senders_agent(hook: Hook) -> None:
    sent_at = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    assert alerts.post(hook.url, {"verdict": "alert", "at": sent_at}, agent=alerts.LOOP_AGENT) is None
    assert hook.received == [{"method": "POST", "path": "/hooks/alert", "type": "application/json",
                              "agent": "shipyard-loop", "body": {"verdict": "alert", "at": str(sent_at)}}]


@pytest.mark.parametrize(("status", "reason"), [(500, "Internal Server Error"), (404, "Not Found")])
def test_an_error_status_is_the_reason_returned(hook: Hook, status: int, reason: str) -> None:
    hook.status[0] = status
    assert alerts.post(hook.url, {"verdict": "warn"}, agent=alerts.MONITOR_AGENT) == reason
    assert len(hook.received) == 1  # sent once: no retry


def test_a_refused_connection_is_the_reason_returned() -> None:
    with socket.socket() as probe:  # a port the OS just handed out, then released: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reason = alerts.post(f"http://127.0.0.1:{port}/hook", {}, agent=alerts.MONITOR_AGENT)
    assert reason == "[Errno 111] Connection refused"


def test_a_webhook_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.monotonic()
        reason = alerts.post(f"http://127.0.0.1:{silent.getsockname()[1]}/hook", {"verdict": "alert"},
                             agent=alerts.MONITOR_AGENT, timeout_s=0.3)
        elapsed = time.monotonic() - started
    assert reason == "timed out"
    assert 0.3 <= elapsed < 5
