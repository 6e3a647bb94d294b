"""A real ``shipyard server`` subprocess on 127.0.0.1, and the CLI around it, for the server tests.

:class:`TeamServer` starts the server with its output in files, waits until ``/health`` answers (polling with a
deadline, never sleeping blindly), and is stopped by its own pid. ``shipyard(...)`` runs one CLI command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SHIPYARD = Path(sys.executable).with_name("shipyard")
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shipyard(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``shipyard ARGS`` and return it (failing the test on a non-zero exit when ``check``)."""
    done = subprocess.run([str(SHIPYARD), *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"shipyard {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def create_token(database: str, name: str, role: str, *extra: str) -> str:
    """A new token: the last line of `token create`, which must be the token alone."""
    done = shipyard("server", "token", "create", "--name", name, "--role", role, "--backend-store-uri", database,
                    *extra)
    return done.stdout.strip().splitlines()[-1]


@dataclass
class TeamServer:
    """One running ``shipyard server``."""

    database: str
    objects: Path
    folder: Path
    extra: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return (self.folder / "server.out").read_text() + (self.folder / "server.err").read_text()

    def start(self) -> TeamServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "server.out", "wb") as out, open(self.folder / "server.err", "wb") as err:
            self.proc = subprocess.Popen(
                [str(SHIPYARD), "server", "--backend-store-uri", self.database, "--artifacts-destination",
                 str(self.objects), "--host", "127.0.0.1", "--port", str(self.port), *self.extra],
                stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"shipyard server exited {self.proc.returncode}:\n{self.output}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling interval of the readiness wait, bounded by the deadline
        self.stop()
        raise AssertionError(f"shipyard server did not answer /health within {START_TIMEOUT_S} s:\n{self.output}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: uvicorn's workers too
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def call_stream(self, method: str, path: str, token: str) -> Any:
        """A streamed request (a context manager), for bodies too large to hold."""
        return httpx.stream(method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)
