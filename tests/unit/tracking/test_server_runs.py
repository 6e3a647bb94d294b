"""Runs a remote client logs through a team server: the client's identity, and the server's heartbeat."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import shipyard
from shipyard.store.reaper import reap
from shipyard.tracking.heartbeat import SERVER_OWNER, beat_server_runs
from shipyard.tracking.runs import RunOrigin, create_run, get_run


def test_a_remote_run_records_the_client_and_not_this_process(isolated_store: Path) -> None:
    store = shipyard.set_store(isolated_store)
    assert store is not None
    origin = RunOrigin(user="alice", host="10.0.0.7", command="train.py")
    run_id = create_run(store, experiment="remote", name="r", origin=origin, start_ms=1_700_000_000_000)
    run = get_run(store, run_id)
    assert run.lineage["process"]["user"] == "alice" and run.lineage["process"]["host"] == "10.0.0.7"
    assert run.lineage["process"]["pid"] is None and run.lineage["git"] is None and run.lineage["environment"] is None
    assert run.start_time.timestamp() == 1_700_000_000


def test_the_server_beats_for_its_runs_and_the_reaper_ends_them_only_after_the_timeout(isolated_store: Path) -> None:
    store = shipyard.set_store(isolated_store)
    assert store is not None
    run_id = create_run(store, experiment="remote", origin=RunOrigin(user="bob"))
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    with sqlite3.connect(isolated_store / "meta.db") as conn:
        owner = conn.execute("SELECT process_start FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (an_hour_ago, run_id))
    assert owner == SERVER_OWNER
    assert beat_server_runs(store) == 1
    assert reap(store.db).runs == []  # beaten just now: alive, whatever process opens the store
    assert reap(store.db, now=time.time() + 3600).runs == [run_id]  # an hour without its server: ended
    assert get_run(store, run_id).status == "KILLED"
