"""Fixtures of the loop tests: ``python``/``shipyard`` from this venv, background CLI processes, a webhook.

Background processes (``shipyard scheduler``, a ``shipyard loop run`` held inside a slow step) are started by
``tests._support.Launcher`` with their output in files, and killed by their own pid at teardown if a test
left them running.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._support import Launcher
from tests.integration.pipeline._pipelines import use_venv_python


@pytest.fixture(autouse=True)
def _venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    group = Launcher(tmp_path)
    yield group
    group.kill_leftovers()


@dataclass
class Webhook:
    """A real HTTP server on 127.0.0.1 that records every POST (path, content type, JSON body)."""

    url: str
    received: list[dict[str, Any]]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                             "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/hooks/loop", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """The folder the ``gate`` stage watches (``LOOP_GATE``); opened at teardown so no stage is left waiting."""
    folder = tmp_path / "gate"
    folder.mkdir()
    yield folder
    (folder / "open").touch()
