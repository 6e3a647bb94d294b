"""Fixtures of the team server tests: a migrated SQLite database, tokens of each role, a running server, and
scripts run by the real MLflow client in its own cached venv (``_mlflow.py``)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.server._mlflow import MLFLOW_ENV, mlflow_python
from tests.integration.server._server import TeamServer, create_token, shipyard


@dataclass
class Team:
    """A migrated database, its objects folder, a running server and one token per role."""

    database: str
    objects: Path
    server: TeamServer
    tokens: dict[str, str]


def migrated_database(root: Path) -> str:
    """A SQLite database in ``root`` brought to the schema's head by the server's own command."""
    uri = f"sqlite:///{root / 'team.db'}"
    shipyard("server", "db", "upgrade", "--backend-store-uri", uri)
    return uri


@contextmanager
def running_team(database: str, root: Path) -> Iterator[Team]:
    """A server on ``database`` (objects and its output in ``root``) and a token of each role, stopped after."""
    tokens = {role: create_token(database, f"{role}-person", role) for role in ("reader", "writer", "admin")}
    server = TeamServer(database, root / "objects", root / "server").start()
    try:
        yield Team(database, root / "objects", server, tokens)
    finally:
        server.stop()


@pytest.fixture
def database(tmp_path: Path) -> str:
    return migrated_database(tmp_path)


@pytest.fixture
def team(tmp_path: Path, database: str) -> Iterator[Team]:
    with running_team(database, tmp_path) as started:
        yield started


@pytest.fixture
def run_mlflow(tmp_path: Path) -> Callable[..., Any]:
    """Run a script with the real MLflow client against a server; returns the JSON it printed last."""
    python = mlflow_python()

    def run(script: str, url: str, token: str | None, *, check: bool = True) -> Any:
        path = tmp_path / "mlflow_script.py"
        path.write_text(script)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "SHIPYARD_"))}
        env.update(MLFLOW_ENV, MLFLOW_TRACKING_URI=url)
        if token is not None:
            env["MLFLOW_TRACKING_TOKEN"] = token
        done = subprocess.run([str(python), "-W", "ignore", str(path)], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path, env=env, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"the MLflow script failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        if not check:
            return done
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run
