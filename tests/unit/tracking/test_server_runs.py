"""Runs a remote client logs through a team server: the client's identity, and the server's heartbeat."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import ConfigError
from shipyard.store.reaper import reap
from shipyard.tracking.heartbeat import CLIENT_OWNER, SERVER_OWNER, beat_client_runs, beat_server_runs
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


def test_a_client_that_beats_keeps_its_run_the_server_does_not_and_the_timeout_can_be_set(
        isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = shipyard.set_store(isolated_store)
    assert store is not None
    run_id = create_run(store, experiment="remote", origin=RunOrigin(user="carol", owner=CLIENT_OWNER))
    assert beat_server_runs(store) == 0  # not the server's to keep alive
    assert store.db.write(lambda conn: beat_client_runs(conn, [run_id, "f" * 32])) == 1
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_TIMEOUT_S", "20")
    assert reap(store.db, now=time.time() + 10).runs == []
    assert reap(store.db, now=time.time() + 30).runs == [run_id]  # 30 s without a beat, past the 20 s set
    assert get_run(store, run_id).status == "KILLED" and "sent no heartbeat" in (get_run(store, run_id).error or "")
    assert store.db.write(lambda conn: beat_client_runs(conn, [run_id])) == 0  # a beat never revives a killed run

    create_run(store, experiment="remote", origin=RunOrigin(user="carol", owner=CLIENT_OWNER))
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="SHIPYARD_HEARTBEAT_TIMEOUT_S"):
        reap(store.db)
