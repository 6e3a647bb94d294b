"""``shipyard demo --server`` (``make demo-team``): the team story against a real ``shipyard server`` it starts.

Run as a user would, in a fresh folder; what the server stored is then read from its database with Shipyard's
own readers: the runs alice logged (one autologged), the two versions, and the champion the admin's gate chose.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.models.registry import alias_history, list_versions
from shipyard.store.location import location_for
from shipyard.store.store import Store
from shipyard.tracking.search import search_run_records

pytestmark = pytest.mark.slow


def test_the_team_demo_runs_the_story_through_a_server_and_leaves_it_readable(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    env.update(COLUMNS="200", SHIPYARD_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "shipyard", "demo", "--server", "--rows", "1500"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(".")[0] for line in lines if line[:1].isdigit()] == [str(step) for step in range(1, 10)]
    assert "resolved models:/churn@champion on the server and answered 450 holdout customers" in done.stdout
    assert "`shipyard lineage team-demo-holdout` traced row 0" in done.stdout and "by alice" in done.stdout
    assert "was refused: Moving the protected alias 'champion' needs the admin role" in done.stdout
    assert "Ask an admin for an admin token" in done.stdout
    assert not (tmp_path / ".shipyard").exists()  # nothing went to a local store

    folder = tmp_path / "shipyard-demo-team"
    store = Store(location_for(f"sqlite:///{folder / 'team.db'}", objects=str(folder / "objects")))
    try:
        runs = search_run_records(store, experiment="team-churn")
        versions = list_versions(store, "churn")
        events = alias_history(store, "churn")
    finally:
        store.close()
    by_name = {run["name"]: run for run in runs}
    assert {"logistic", "boosted"} <= set(by_name)
    assert by_name["boosted"]["tags"]["shipyard.autolog"] == "sklearn"
    assert [(version.version, version.created_by) for version in versions] == [(2, "alice"), (1, "alice")]
    assert events and all(event.actor == "admin" for event in events) and events[0].action == "promoted"
    assert f"v{events[0].to_version}" in done.stdout
