"""Choosing a tracking server, and what a client does when it is away or asked for what it does not take."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import TrackingServerError
from shipyard.tracking import remote


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A tracking URI on a port nothing listens on, retried for a fraction of a second."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", url)
    monkeypatch.setenv("SHIPYARD_HTTP_RETRY_S", "0.3")
    yield url
    remote.set_tracking_uri(None)


def test_a_server_that_is_away_is_one_error_naming_it_and_nothing_goes_to_a_local_store(
        nowhere: str, isolated_store: Path) -> None:
    with pytest.raises(TrackingServerError) as away:
        shipyard.start_run("exp")
    assert away.value.url == nowhere and shipyard.active_run() is None
    assert not isolated_store.exists()


def test_set_tracking_uri_empty_keeps_runs_local_even_with_the_variable_set(nowhere: str, isolated_store: Path) -> None:
    shipyard.set_tracking_uri("")
    with shipyard.start_run("exp") as run:
        shipyard.log_metric("m", 1.0)
    assert shipyard.get_run(run.id).metrics == {"m": 1.0} and isolated_store.exists()
    assert remote.get_tracking_uri() is None


def test_onnx_export_goes_to_the_server_rather_than_write_a_local_store(nowhere: str, isolated_store: Path) -> None:
    pytest.importorskip("skl2onnx")
    with pytest.raises(TrackingServerError) as away:
        shipyard.export_onnx("models:/churn@champion", "model.onnx")
    assert away.value.url == nowhere and not isolated_store.exists()


def test_a_tracking_uri_that_is_no_server_address_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "ftp://host")
    with pytest.raises(shipyard.ShipyardError, match="not a server address"):
        shipyard.start_run("exp")


def test_a_tracker_left_for_another_server_closes_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that moves to another server (or back to its store) used to leave the old tracker's kept-alive
    socket to the garbage collector: an unclosed-socket ResourceWarning, which failed an unrelated test later."""
    import gc
    import threading
    import warnings
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the connection stays open between requests, as uvicorn's does

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SHIPYARD_TRACKING_URI", f"http://127.0.0.1:{server.server_port}")
        left = remote.tracking_server()
        assert left is not None and left.client.call("GET", "/ping") == {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            monkeypatch.setenv("SHIPYARD_TRACKING_URI", f"http://127.0.0.1:{server.server_port}/other")
            assert remote.tracking_server() is not left
            del left
            gc.collect()
        assert [str(item.message) for item in caught if issubclass(item.category, ResourceWarning)] == []
    finally:
        remote.set_tracking_uri(None)
        server.shutdown()
        server.server_close()
