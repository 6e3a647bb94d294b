"""While a process owns RUNNING runs, it says so every ``HEARTBEAT_INTERVAL_S`` (store/reaper.py explains why).

One daemon thread per store and process refreshes ``heartbeat_at`` of the RUNNING runs whose recorded owner
(host, pid, start key) is this process: one short UPDATE every 30 s, and none while the process owns no
running run. A beat that fails (the database busy for longer than its retries) is skipped: the next one
comes 30 s later, and the reaper only gives up on an owner after ten silent intervals.

A run a remote client logs through ``shipyard server`` has no process here to check, so only a heartbeat can say
whether its client lives:

- Shipyard's own client (:class:`shipyard.tracking.remote.RemoteTracker`) beats for its open runs through the server
  (``POST /heartbeat``); their owner is :data:`CLIENT_OWNER`. A client killed with SIGKILL stops beating, and the
  reaper, which every server process runs every interval (:func:`keep_server_runs_alive`), ends its runs KILLED once
  the heartbeat timeout passes, as it ends a dead local process's.
- Clients that cannot beat (MLflow's, which has no such call) leave their runs to :data:`SERVER_OWNER`: every server
  process beats for all of those, so they stay RUNNING until the client ends them, across server restarts too; a
  server gone for longer than the timeout lets the reaper end them.
"""

from __future__ import annotations

import sys
import threading
import time

from sqlalchemy import Connection, update

from ..store import Store
from ..store.processes import this_process
from ..store.reaper import heartbeat_interval_s, reap
from ..store.schema import RUN_RUNNING, runs


class Heartbeat:
    """Beats for the runs this process owns in one store."""

    def __init__(self, store: Store, *, interval: float | None = None) -> None:
        self.store = store
        self.interval = heartbeat_interval_s() if interval is None else interval
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
CLIENT_OWNER = "shipyard-client"  # ... of those whose client beats for them itself (``POST /heartbeat``)
MAX_BEATEN_RUNS = 10_000  # run ids in one client beat


def beat_server_runs(store: Store) -> int:
    """Refresh the heartbeat of every RUNNING run owned by :data:`SERVER_OWNER`; returns how many."""
    beat = update(runs).where(runs.c.status == RUN_RUNNING, runs.c.process_start == SERVER_OWNER).values(
        heartbeat_at=time.time_ns() // 1_000_000)
    return int(store.db.write(lambda conn: conn.execute(beat).rowcount))


def beat_client_runs(conn: Connection, run_ids: list[str]) -> int:
    """A client's beat: refresh the heartbeat of those of ``run_ids`` that are RUNNING and owned by
    :data:`CLIENT_OWNER`; returns how many (an ended or reaped run is not brought back)."""
    if not run_ids:
        return 0
    beat = update(runs).where(runs.c.id.in_(run_ids), runs.c.status == RUN_RUNNING,
                              runs.c.process_start == CLIENT_OWNER).values(heartbeat_at=time.time_ns() // 1_000_000)
    return int(conn.execute(beat).rowcount)


def keep_server_runs_alive(store: Store, *, interval: float | None = None) -> None:
    """In a server process: now and every ``interval`` s (one daemon thread per store), beat for the runs of clients
    that cannot beat and end, by the reaper's rules, those whose client stopped beating (see the module doc)."""
    every = heartbeat_interval_s() if interval is None else interval
    with _beats_lock:
        if id(store) in _server_beats:
            return
        _server_beats.add(id(store))
    beat_server_runs(store)

    def loop() -> None:
        while True:  # a daemon thread: it ends with the process
            time.sleep(every)
            try:
                beat_server_runs(store)
                reap(store.db)
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
