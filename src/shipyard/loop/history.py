"""Cycles on record and the per-loop lock, both in the metadata database.

The lock is a row per loop: who holds it (a random token, host, pid and start key) and a heartbeat the holder
refreshes. A second scheduler (or ``shipyard loop run``) finds the row and refuses; a holder that was
killed stops its heartbeat, and after ``LOCK_TTL_S`` (or at once when its process is gone from this machine,
see ``store/processes.py``) the next one takes the lock over and marks the dead holder's cycle
``interrupted``. Any process that opens the store does the same for a dead holder (``store/reaper.py``).
Acquiring the lock and numbering the cycle happen in one transaction, so two processes can never both start
cycle N.

A cycle may carry a key, unique per loop: an orchestrator that runs a loop one step per task (the exported
Airflow DAG, keyed by its run id) starts the cycle with its first task, and every later or retried task of the
same run joins it again under the lock. Between two such tasks the cycle stays ``running`` with no lock held.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..errors import ConflictError
from ..store import Store
from ..store.processes import this_process
from ..store.reaper import LOOP_LOCK_TTL_S, why_gone
from ..store.schema import loop_cycles, loop_locks

LOCK_TTL_S = LOOP_LOCK_TTL_S


@dataclass
class Cycle:
    loop: str
    number: int
    trigger: str
    status: str
    started_at: float  # epoch seconds
    finished_at: float | None
    error: str | None
    steps: list[dict[str, Any]]
    host: str | None = None
    pid: int | None = None
    key: str | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {"loop": self.loop, "number": self.number, "key": self.key, "trigger": self.trigger,
                "status": self.status,
                "started_at": _iso(self.started_at),
                "finished_at": _iso(self.finished_at) if self.finished_at else None,
                "duration_s": self.duration_s, "error": self.error, "steps": self.steps}


class LoopLock:
    """The lock of one loop, held for one cycle, with a heartbeat thread while held."""

    def __init__(self, store: Store, loop: str, *, ttl: float = LOCK_TTL_S) -> None:
        self.store = store
        self.loop = loop
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def start_cycle(self, trigger: str, *, key: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """Take the lock and record a running cycle; returns its number and the step results it already has.

        Without ``key`` the cycle is new. With one, it is the loop's cycle of that key when there is one (a later
        or retried step of the same orchestrator run joins it, its results kept), else a new cycle with that key.

        Raises:
            ConflictError: another live process holds the loop.
        """
        now = time.time()
        me = this_process()
        host, pid = me.host, me.pid

        def write(conn: Connection) -> tuple[int, list[dict[str, Any]]]:
            held = conn.execute(select(loop_locks).where(loop_locks.c.loop == self.loop)).mappings().first()
            if held is not None:
                if not _stale(held, now, self.ttl):
                    raise ConflictError(
                        f"Loop '{self.loop}' is already running (pid {held['pid']} on {held['host']}, since "
                        f"{_iso(held['acquired_at'] / 1000)}); wait for that cycle or stop it.")
                # Only the dead holder's cycle: a keyed cycle waiting for its orchestrator's next task is not dead.
                conn.execute(update(loop_cycles).where(loop_cycles.c.loop == self.loop,
                                                       loop_cycles.c.status == "running",
                                                       loop_cycles.c.host == held["host"],
                                                       loop_cycles.c.pid == held["pid"]).values(
                    status="interrupted", finished_at=int(now * 1000),
                    error=f"the process running it (pid {held['pid']} on {held['host']}) stopped"))
                conn.execute(delete(loop_locks).where(loop_locks.c.loop == self.loop))
            conn.execute(insert(loop_locks).values(loop=self.loop, holder=self.token, host=host, pid=pid,
                                                   process_start=me.start, acquired_at=int(now * 1000),
                                                   heartbeat_at=int(now * 1000)))
            if key is not None:
                keyed = conn.execute(select(loop_cycles.c.number, loop_cycles.c.steps).where(
                    loop_cycles.c.loop == self.loop, loop_cycles.c.cycle_key == key)).first()
                if keyed is not None:
                    conn.execute(update(loop_cycles).where(loop_cycles.c.loop == self.loop,
                                                           loop_cycles.c.number == keyed.number).values(
                        status="running", finished_at=None, error=None, host=host, pid=pid))
                    return int(keyed.number), list(json.loads(keyed.steps))
            number = (conn.execute(select(func.max(loop_cycles.c.number)).where(
                loop_cycles.c.loop == self.loop)).scalar() or 0) + 1
            conn.execute(insert(loop_cycles).values(loop=self.loop, number=number, trigger=trigger, status="running",
                                                    started_at=int(now * 1000), steps="[]", host=host, pid=pid,
                                                    cycle_key=key))
            return int(number), []

        started = self.store.db.write(write)
        self._beat = threading.Thread(target=self._heartbeat, name=f"shipyard-loop-{self.loop}", daemon=True)
        self._beat.start()
        return started

    def record_steps(self, number: int, steps: list[dict[str, Any]]) -> None:
        text = json.dumps(steps, default=str)

        def write(conn: Connection) -> None:
            conn.execute(update(loop_cycles).where(loop_cycles.c.loop == self.loop, loop_cycles.c.number == number)
                         .values(steps=text))

        self.store.db.write(write)

    def finish(self, number: int, status: str, error: str | None = None) -> None:
        """Record the outcome and release the lock, in one transaction.

        ``running`` is an outcome too: a keyed cycle whose orchestrator has steps left to run stays open.
        """
        self._stop.set()
        if self._beat is not None:
            self._beat.join()

        def write(conn: Connection) -> None:
            finished = None if status == "running" else int(time.time() * 1000)
            conn.execute(update(loop_cycles).where(loop_cycles.c.loop == self.loop, loop_cycles.c.number == number)
                         .values(status=status, error=error, finished_at=finished))
            conn.execute(delete(loop_locks).where(loop_locks.c.loop == self.loop, loop_locks.c.holder == self.token))

        self.store.db.write(write)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            beat = int(time.time() * 1000)

            def write(conn: Connection, beat: int = beat) -> None:
                conn.execute(update(loop_locks).where(loop_locks.c.loop == self.loop,
                                                      loop_locks.c.holder == self.token).values(heartbeat_at=beat))

            self.store.db.write(write)


def cycles(store: Store, loop: str, *, limit: int = 50) -> list[Cycle]:
    """The latest cycles of a loop, newest first."""
    def read(conn: Connection) -> list[Cycle]:
        rows = conn.execute(select(loop_cycles).where(loop_cycles.c.loop == loop)
                            .order_by(loop_cycles.c.number.desc()).limit(limit)).mappings().all()
        return [_cycle(row) for row in rows]

    return store.db.read(read)


def last_cycle(store: Store, loop: str, *, trigger_prefix: str | None = None) -> Cycle | None:
    for cycle in cycles(store, loop, limit=200):
        if trigger_prefix is None or cycle.trigger.startswith(trigger_prefix):
            return cycle
    return None


def _cycle(row: Any) -> Cycle:
    return Cycle(row["loop"], row["number"], row["trigger"], row["status"], row["started_at"] / 1000,
                 row["finished_at"] / 1000 if row["finished_at"] is not None else None, row["error"],
                 json.loads(row["steps"]), row["host"], row["pid"], row["cycle_key"])


def _stale(held: Any, now: float, ttl: float) -> bool:
    owner = (held["loop"], held["host"], held["pid"], held["process_start"], held["heartbeat_at"])
    return why_gone("loop", owner, int(now * 1000), timeout_s=ttl) is not None


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
