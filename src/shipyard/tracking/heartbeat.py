"""While a process owns RUNNING runs, it says so every ``HEARTBEAT_INTERVAL_S`` (store/reaper.py explains why).

One daemon thread per store and process refreshes ``heartbeat_at`` of the RUNNING runs whose recorded owner
(host, pid, start key) is this process: one short UPDATE every 30 s, and none while the process owns no
running run. A beat that fails (the database busy for longer than its retries) is skipped: the next one
comes 30 s later, and the reaper only gives up on an owner after ten silent intervals.

A run a remote client logs through ``shipyard server`` has no process here to check: its owner is recorded as
:data:`SERVER_OWNER`, which the reaper cannot judge by pid, and every server process beats for all such runs
(:func:`keep_server_runs_alive`). A server restart therefore leaves them RUNNING; a server gone for longer than the
heartbeat timeout lets the reaper end them.
"""

from __future__ import annotations

import sys
import threading
import time

from sqlalchemy import Connection, update

from ..store import Store
from ..store.processes import this_process
from ..store.reaper import HEARTBEAT_INTERVAL_S
from ..store.schema import RUN_RUNNING, runs


class Heartbeat:
    """Beats for the runs this process owns in one store."""

    def __init__(self, store: Store, *, interval: float = HEARTBEAT_INTERVAL_S) -> None:
        self.store = store
        self.interval = interval
        self._owned: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def own(self, run_id: str) -> None:
        """Start beating for ``run_id`` (created or resumed by this process)."""
        with self._lock:
            self._owned.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="shipyard-heartbeat", daemon=True)
                self._thread.start()

    def release(self, run_id: str) -> None:
        """Stop beating for ``run_id`` (it ended)."""
        with self._lock:
            self._owned.discard(run_id)

    def beat(self) -> int:
        """Refresh the heartbeat of this process's RUNNING runs now; returns how many rows it touched."""
        with self._lock:
            if not self._owned:
                return 0
        me = this_process()
        mine = (runs.c.process_start == me.start) if me.start is not None else \
            (runs.c.host == me.host) & (runs.c.pid == me.pid)
        beat = update(runs).where(runs.c.status == RUN_RUNNING, mine).values(heartbeat_at=time.time_ns() // 1_000_000)

        def write(conn: Connection) -> int:
            return conn.execute(beat).rowcount

        return int(self.store.db.write(write))

    def _loop(self) -> None:
        while True:  # a daemon thread: it ends with the process
            time.sleep(self.interval)
            try:
                self.beat()
            except Exception as exc:  # the next beat tries again
                print(f"shipyard: could not record a heartbeat ({exc}); will retry.", file=sys.stderr)


SERVER_OWNER = "shipyard-server"  # the owner (``process_start``) of runs logged through a team server


def beat_server_runs(store: Store) -> int:
    """Refresh the heartbeat of every RUNNING run owned by :data:`SERVER_OWNER`; returns how many."""
    beat = update(runs).where(runs.c.status == RUN_RUNNING, runs.c.process_start == SERVER_OWNER).values(
        heartbeat_at=time.time_ns() // 1_000_000)
    return int(store.db.write(lambda conn: conn.execute(beat).rowcount))


def keep_server_runs_alive(store: Store, *, interval: float = HEARTBEAT_INTERVAL_S) -> None:
    """In a server process: beat for the server's runs now and every ``interval`` s (one daemon thread per store)."""
    with _beats_lock:
        if id(store) in _server_beats:
            return
        _server_beats.add(id(store))
    beat_server_runs(store)

    def loop() -> None:
        while True:  # a daemon thread: it ends with the process
            time.sleep(interval)
            try:
                beat_server_runs(store)
            except Exception as exc:  # the next beat tries again
                print(f"shipyard: could not record the server runs' heartbeat ({exc}); will retry.", file=sys.stderr)

    threading.Thread(target=loop, name="shipyard-server-heartbeat", daemon=True).start()


_server_beats: set[int] = set()
_beats: dict[int, Heartbeat] = {}
_beats_lock = threading.Lock()


def heartbeat_for(store: Store) -> Heartbeat:
    """The heartbeat of ``store`` in this process (a forked child, which re-opens its store, gets a new one)."""
    beat = _beats.get(id(store))
    if beat is not None and beat.store is store:
        return beat
    with _beats_lock:
        beat = _beats.get(id(store))
        if beat is None or beat.store is not store:
            beat = _beats[id(store)] = Heartbeat(store)
        return beat
