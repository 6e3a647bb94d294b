"""A real ``mlflow server`` (the cached MLflow venv of ``tests/integration/server/_mlflow.py``) on a SQLite store
with an artifacts folder, filled once per module by the real client: the source every import test reads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.server._mlflow import MLFLOW_ENV, mlflow_python

START_TIMEOUT_S = 120
FILL_SCRIPT = Path(__file__).with_name("mlflow_fill_script.py")


@dataclass
class MlflowStore:
    url: str
    database: str
    artifacts: Path
    logged: dict[str, Any]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def mlflow_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "SHIPYARD_"))}
    env.update(MLFLOW_ENV)
    return env


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowStore]:
    python = mlflow_python()
    folder = tmp_path_factory.mktemp("mlflow")
    database, artifacts, port = f"sqlite:///{folder / 'mlflow.db'}", folder / "mlartifacts", _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen([str(python.with_name("mlflow")), "server", "--backend-store-uri", database,
                                   "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port",
                                   str(port), "--workers", "1"], cwd=folder, env=mlflow_env(), stdout=log,
                                  stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)  # polling a deadline, not synchronising
        done = subprocess.run([str(python), "-W", "ignore", str(FILL_SCRIPT)], capture_output=True, text=True,
                              cwd=folder, timeout=600, env={**mlflow_env(), "MLFLOW_TRACKING_URI": url}, check=False)
        if done.returncode != 0:
            pytest.fail(f"the MLflow fill script failed:\n{done.stdout}\n{done.stderr}")
        yield MlflowStore(url, database, artifacts, json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its own session: uvicorn's workers go with it
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
