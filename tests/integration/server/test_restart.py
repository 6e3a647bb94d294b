"""A run an MLflow client logs through the server outlives a restart of the server.

The client's process is elsewhere and cannot be checked, so the run belongs to "the server" rather than to one
server process: any server process keeps its heartbeat, and a restarted server neither kills it nor stops
taking its metrics. Only a run whose server stays away longer than the heartbeat timeout is ended (KILLED).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.tracking.heartbeat import SERVER_OWNER
from tests.integration.server._server import TeamServer
from tests.integration.server.conftest import Team

API = "/api/2.0/mlflow"
pytestmark = pytest.mark.slow


def test_a_client_run_stays_running_across_a_server_restart(team: Team, tmp_path: Path) -> None:
    token = team.tokens["writer"]
    experiment = team.server.call("POST", f"{API}/experiments/create", token, json={"name": "long"}).json()
    run = team.server.call("POST", f"{API}/runs/create", token, json={"experiment_id": experiment["experiment_id"]})
    run_id = run.json()["run"]["info"]["run_id"]
    logged = team.server.call("POST", f"{API}/runs/log-metric", token,
                              json={"run_id": run_id, "key": "loss", "value": 0.5, "step": 1, "timestamp": 1})
    assert logged.status_code == 200
    team.server.stop()
    restarted = TeamServer(team.database, team.objects, tmp_path / "restarted").start()
    try:
        after = restarted.call("GET", f"{API}/runs/get", token, params={"run_id": run_id}).json()["run"]
        assert after["info"]["status"] == "RUNNING", after["info"]
        assert restarted.call("POST", f"{API}/runs/log-metric", token, json={
            "run_id": run_id, "key": "loss", "value": 0.25, "step": 2, "timestamp": 2}).status_code == 200
        ended = restarted.call("POST", f"{API}/runs/update", token, json={"run_id": run_id, "status": "FINISHED"})
        assert ended.json()["run_info"]["status"] == "FINISHED"
        # mlflow.start_run(run_id=...) resumes an ended run: RUNNING again, still the server's to keep alive
        resumed = restarted.call("POST", f"{API}/runs/update", token, json={"run_id": run_id, "status": "RUNNING"})
        assert resumed.json()["run_info"]["status"] == "RUNNING" and "end_time" not in resumed.json()["run_info"]
        with sqlite3.connect(team.database.removeprefix("sqlite:///")) as conn:
            owner = conn.execute("SELECT process_start FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        assert owner == SERVER_OWNER
    finally:
        restarted.stop()
