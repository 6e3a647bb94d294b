"""A client of ``shipyard server`` that dies without a word (SIGKILL) has its runs ended KILLED by the server, as a
dead local process has: the client beats for its open runs, the server's reaper ends those whose beats stopped.

The server and its clients run with a 0.5 s heartbeat and a 4 s timeout (``SHIPYARD_HEARTBEAT_INTERVAL_S``,
``SHIPYARD_HEARTBEAT_TIMEOUT_S``) so the test need not wait the default five minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests._support import git, init_repo
from tests.integration.server._server import SHIPYARD, TeamServer, create_token

pytestmark = pytest.mark.slow
API = "/api/shipyard/v1"
FAST_BEATS = {"SHIPYARD_HEARTBEAT_INTERVAL_S": "0.5", "SHIPYARD_HEARTBEAT_TIMEOUT_S": "4"}

PIPELINE = """\
stages:
  slow:
    cmd: PYTHON slow.py
    deps: [slow.py]
    outs: [done.txt]
"""
SLOW = """\
import pathlib, time
pathlib.Path("started").write_text("yes")
time.sleep(600)  # the work the test kills repro in the middle of
pathlib.Path("done.txt").write_text("done")
"""


def _poll(what: str, check: Any, *, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s")


@pytest.fixture
def fast_server(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in FAST_BEATS.items():
        monkeypatch.setenv(name, value)  # the server subprocess inherits them
    tokens = {role: create_token(database, f"{role}-person", role) for role in ("reader", "writer")}
    server = TeamServer(database, tmp_path / "objects", tmp_path / "server").start()
    try:
        yield server, tokens
    finally:
        server.stop()


def test_a_repro_killed_with_sigkill_has_its_stage_run_killed_by_the_server(fast_server: Any, tmp_path: Path) -> None:
    server, tokens = fast_server
    workspace = init_repo(tmp_path / "workspace")
    (workspace / "shipyard.yaml").write_text(PIPELINE.replace("PYTHON", sys.executable))
    (workspace / "slow.py").write_text(SLOW)
    git(workspace, "add", ".")
    git(workspace, "commit", "-q", "-m", "pipeline")
    bare = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    env = {**bare, **FAST_BEATS, "SHIPYARD_TRACKING_URI": server.url, "SHIPYARD_TOKEN": tokens["writer"]}
    # A client that cannot beat (as MLflow's) leaves its run to the server, which keeps it RUNNING.
    quiet = "0" * 31 + "1"
    assert server.call("POST", f"{API}/runs", tokens["writer"],
                       json={"run_id": quiet, "experiment": "quiet", "name": "no-beats"}).status_code == 200
    with open(tmp_path / "repro.out", "wb") as out:
        repro = subprocess.Popen([str(SHIPYARD), "repro"], cwd=workspace, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        _poll("the stage starting", lambda: (workspace / "started").exists() or repro.poll() is not None)
        assert repro.poll() is None, (tmp_path / "repro.out").read_text()

        def running() -> list[dict[str, Any]]:
            answer = server.call("GET", f"{API}/query/runs", tokens["reader"]).json()["runs"]
            return [run for run in answer if run["status"] == "RUNNING" and run["run_id"] != quiet]

        stage_run = _poll("the stage run on the server", running)[0]
        # Alive and beating: it stays RUNNING past the timeout (the server beats no more for it, its client does).
        alive_until = time.monotonic() + 6
        while time.monotonic() < alive_until:
            assert [item["run_id"] for item in running()] == [stage_run["run_id"]]
            time.sleep(0.2)  # the interval of a check that must hold throughout

        os.kill(repro.pid, signal.SIGKILL)
        repro.wait(timeout=30)
        killed_at = time.monotonic()

        def ended() -> dict[str, Any] | None:
            answer = server.call("GET", f"{API}/runs/{stage_run['run_id']}", tokens["reader"])
            run: dict[str, Any] = answer.json()["run"]
            return run if run["status"] != "RUNNING" else None

        run = _poll("the server ending the killed client's run", ended, timeout_s=60)
        waited = time.monotonic() - killed_at
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(repro.pid, signal.SIGKILL)  # the stage's own process, orphaned by the kill
    assert run["status"] == "KILLED"
    assert "sent no heartbeat" in run["error"]
    assert waited < 30, waited
    assert server.call("GET", f"{API}/runs/{quiet}", tokens["reader"]).json()["run"]["status"] == "RUNNING"
