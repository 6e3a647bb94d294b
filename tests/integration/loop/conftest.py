"""Fixtures of the loop tests: ``python``/``shipyard`` from this venv, background CLI processes, a webhook.

Background processes (``shipyard scheduler``, a ``shipyard loop run`` held inside a slow step) are started
with their output in files and are killed by their own pid at teardown if a test left them running.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration._pipelines import SHIPYARD_SCRIPT, use_venv_python


@pytest.fixture(autouse=True)
def _venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)


@dataclass
class Background:
    """A ``shipyard`` command running in the background, its output in files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit; fails the test if it does not come within ``timeout`` s."""
        self.proc.send_signal(sig)
        return self.wait(timeout=timeout)

    def wait(self, *, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"pid {self.pid} did not exit within {timeout} s:\n{self.output}")


@dataclass
class Launcher:
    workdir: Path
    started: list[Background] = field(default_factory=list)

    def start(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Background:
        folder = self.workdir / "background"
        folder.mkdir(exist_ok=True)
        index = len(self.started)
        out, err = folder / f"{index}.out", folder / f"{index}.err"
        environment = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
        environment.update(env or {})
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen([str(SHIPYARD_SCRIPT), *args], cwd=cwd, env=environment, stdout=stdout,
                                    stderr=stderr, stdin=subprocess.DEVNULL)
        background = Background(proc, out, err)
        self.started.append(background)
        return background

    def kill_leftovers(self) -> None:
        for background in self.started:
            if background.proc.poll() is None:
                background.proc.kill()
                background.proc.wait()


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
