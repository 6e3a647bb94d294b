"""The remote store's transport against real HTTP servers on 127.0.0.1: retries keep their idempotency key, back off
within their deadline, and the server's 4xx answers become Shipyard's own errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard.errors import ForbiddenError, TrackingServerError, ValidationError
from shipyard.store.http_client import HttpClient


class _Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next ``(status, body)`` of the server's script, recording what it received."""

    def do_POST(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        server.seen.append((self.headers.get("Idempotency-Key"), self.headers.get("Authorization"), body))
        status, answer = server.script.pop(0) if server.script else (200, {"ok": True})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    script: list[tuple[int, dict[str, object]]]
    seen: list[tuple[str | None, str | None, bytes]]


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Scripted)
    httpd.script, httpd.seen = [], []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _url(httpd: _Server) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_a_write_retried_after_503s_sends_the_same_key_each_time(server: _Server) -> None:
    server.script = [(503, {"error": {"message": "restarting"}}), (502, {}), (200, {"points": 3})]
    client = HttpClient(_url(server), "shy_token", retry_deadline_s=30)
    assert client.call("POST", "/api/shipyard/v1/metrics", {"points": []}, key="key-0000001") == {"points": 3}
    assert [key for key, _, _ in server.seen] == ["key-0000001"] * 3
    assert {auth for _, auth, _ in server.seen} == {"Bearer shy_token"}
    assert client.retries == 2


def test_a_4xx_is_the_servers_verdict_raised_at_once_with_its_field(server: _Server) -> None:
    server.script = [(422, {"error": {"type": "ValidationError", "message": "Point 0: bad step",
                                      "field": "points.step"}}),
                     (403, {"error": {"type": "RoleError", "message": "needs the writer role", "field": None}})]
    client = HttpClient(_url(server), None, retry_deadline_s=30)
    with pytest.raises(ValidationError) as refused:
        client.call("POST", "/x", {}, key="key-0000002")
    assert refused.value.field == "points.step" and "bad step" in str(refused.value)
    with pytest.raises(ForbiddenError, match="writer role"):
        client.call("POST", "/x", {}, key="key-0000003")
    assert len(server.seen) == 2 and client.retries == 0


def test_a_server_that_stays_away_ends_in_one_error_naming_it_after_bounded_retries() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", None, retry_deadline_s=0.5)
    with pytest.raises(TrackingServerError) as gone:
        client.call("POST", "/api/shipyard/v1/metrics", {"points": []}, key="key-0000004")
    assert gone.value.url == f"http://127.0.0.1:{port}" and "SHIPYARD_HTTP_RETRY_S" in str(gone.value)
    assert 1 <= client.retries <= 4  # 0.1, 0.2 s... doubling: a few attempts within half a second
