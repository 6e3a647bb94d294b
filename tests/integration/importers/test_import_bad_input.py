"""``shipyard import mlflow`` on sources that are not there or not MLflow: one clear line, exit 2, no traceback."""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.server._server import shipyard


def _refused(*args: str) -> str:
    done = shipyard("import", "mlflow", *args, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _NotMlflow(BaseHTTPRequestHandler):
    """A web server that is something else: 404 with an HTML page everywhere."""

    def do_GET(self) -> None:
        self._answer(404, b"<html>not here</html>")

    def do_POST(self) -> None:
        self._answer(404, b"<html>not here</html>")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


class _ProtectedEmptyMlflow(_NotMlflow):
    """The REST answers of an empty MLflow server behind a token or a password, in MLflow's error shape."""

    accepted = {"Bearer let-me-in", "Basic " + base64.b64encode(b"ana:secret").decode()}

    def do_GET(self) -> None:
        self._mlflow()

    def do_POST(self) -> None:
        self._mlflow()

    def _mlflow(self) -> None:
        if self.headers.get("Authorization") not in self.accepted:
            self._answer(401, b'{"error_code": "UNAUTHENTICATED", "message": "a token is needed"}')
        elif "/api/2.0/mlflow/experiments/search" in self.path:
            self._answer(200, b'{"experiments": []}')
        elif "/api/2.0/mlflow/registered-models/search" in self.path:
            self._answer(200, b'{"registered_models": []}')
        else:
            self._answer(404, b'{"error_code": "ENDPOINT_NOT_FOUND", "message": "no"}')


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web_server() -> Iterator[str]:
    yield from _serve(_NotMlflow)


@pytest.fixture
def protected_server() -> Iterator[str]:
    yield from _serve(_ProtectedEmptyMlflow)


def test_a_protected_server_takes_a_token_or_a_password(protected_server: str) -> None:
    line = _refused("--from", protected_server)
    assert "refused the request (401: a token is needed)" in line and "--token" in line
    for how in (["--token", "let-me-in"], []):
        env = {} if how else {"MLFLOW_TRACKING_USERNAME": "ana", "MLFLOW_TRACKING_PASSWORD": "secret"}
        done = shipyard("import", "mlflow", "--from", protected_server, *how, "--json", env=env)
        assert json.loads(done.stdout)["runs"] == {"imported": 0, "resumed": 0, "already": 0}
    done = shipyard("import", "mlflow", "--from", protected_server, "--json",
                    env={"MLFLOW_TRACKING_TOKEN": "let-me-in"})
    assert json.loads(done.stdout)["experiments"] == 0


def test_an_unreachable_server(tmp_path: Path) -> None:
    line = _refused("--from", f"http://127.0.0.1:{_free_port()}")
    assert "Cannot reach the MLflow server" in line and "--from" in line


def test_a_web_server_that_is_not_mlflow(web_server: str) -> None:
    assert "does not answer like an MLflow server" in _refused("--from", web_server)


def test_a_database_that_is_not_an_mlflow_store(tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE runs (id TEXT)")
    line = _refused("--from", f"sqlite:///{database}")
    assert "is not an MLflow store" in line and "experiments" in line


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("these are notes, not a database\n" * 50)
    assert "Cannot open the MLflow database" in _refused("--from", f"sqlite:///{text}")


def test_a_missing_database_and_a_missing_artifacts_folder(tmp_path: Path) -> None:
    assert "does not exist" in _refused("--from", f"sqlite:///{tmp_path / 'nowhere.db'}")
    database = tmp_path / "mlflow.db"
    sqlite3.connect(database).close()
    line = _refused("--from", f"sqlite:///{database}", "--artifacts", str(tmp_path / "mlartifacts"))
    assert "mlartifacts" in line and "does not exist" in line


def test_a_source_that_is_neither(tmp_path: Path) -> None:
    assert "neither an MLflow server URL" in _refused("--from", "mlflow.db")


def test_the_help_names_both_sources() -> None:
    done = subprocess.run([sys.executable, "-m", "shipyard", "import", "mlflow", "--help"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert "--from" in done.stdout and "--artifacts" in done.stdout and "MLFLOW_TRACKING_TOKEN" in done.stdout
