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
from collections.abc import Callable
from dataclasses import asdict, dataclass
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

    def to_record(self) -> dict[str, Any]:
        """Every field as it is kept (epoch seconds), for a team server's answer; :func:`cycle_from_record` reads it."""
        return asdict(self)

    def to_dict(self) -> dict[str, Any]:
        return {"loop": self.loop, "number": self.number, "key": self.key, "trigger": self.trigger,
                "status": self.status,
                "started_at": _iso(self.started_at),
                "finished_at": _iso(self.finished_at) if self.finished_at else None,
                "duration_s": self.duration_s, "error": self.error, "steps": self.steps}


@dataclass(frozen=True)
class Holder:
    """Who takes a loop's lock: a random token per lock, and the process (host, pid, start key) that holds it. Through
    a team server the client names its own process, so a holder that dies is found out as without one."""

    token: str
    host: str
    pid: int
    process_start: str | None

    @classmethod
    def of_this_process(cls) -> Holder:
        me = this_process()
        return cls(uuid.uuid4().hex, me.host, me.pid, me.start)


class HeldLock:
    """A loop's lock held for one cycle, with a heartbeat thread while held; :class:`LoopLock` keeps it in a store,
    ``loop/remote.py``'s ``ServerLoopLock`` through a team server."""

    def __init__(self, loop: str, *, ttl: float = LOCK_TTL_S) -> None:
        self.loop = loop
        self.ttl = ttl
        self.holder = Holder.of_this_process()
        self.token = self.holder.token
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def start_cycle(self, trigger: str, *, key: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """Take the lock and record a running cycle; returns its number and the step results it already has.

        Without ``key`` the cycle is new. With one, it is the loop's cycle of that key when there is one (a later
        or retried step of the same orchestrator run joins it, its results kept), else a new cycle with that key.

        Raises:
            ConflictError: another live process holds the loop.
        """
        started = self._acquire(trigger, key)
        self._beat = threading.Thread(target=self._heartbeat, name=f"shipyard-loop-{self.loop}", daemon=True)
        self._beat.start()
        return started

    def record_steps(self, number: int, steps: list[dict[str, Any]]) -> None:
        self._record(number, json.loads(json.dumps(steps, default=str)))

    def finish(self, number: int, status: str, error: str | None = None) -> None:
        """Record the outcome and release the lock, in one transaction.

        ``running`` is an outcome too: a keyed cycle whose orchestrator has steps left to run stays open.
        """
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        self._release(number, status, error)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            self._send_beat()

    def _acquire(self, trigger: str, key: str | None) -> tuple[int, list[dict[str, Any]]]:
        raise NotImplementedError

    def _record(self, number: int, steps: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _release(self, number: int, status: str, error: str | None) -> None:
        raise NotImplementedError

    def _send_beat(self) -> None:
        raise NotImplementedError


class LoopLock(HeldLock):
    """The lock of one loop in a store's metadata database."""

    def __init__(self, store: Store, loop: str, *, ttl: float = LOCK_TTL_S) -> None:
        super().__init__(loop, ttl=ttl)
        self.store = store

    def _acquire(self, trigger: str, key: str | None) -> tuple[int, list[dict[str, Any]]]:
        return acquire(self.store, self.loop, self.holder, trigger, key=key, ttl=self.ttl)

    def _record(self, number: int, steps: list[dict[str, Any]]) -> None:
        save_steps(self.store, self.loop, number, steps)

    def _release(self, number: int, status: str, error: str | None) -> None:
        release(self.store, self.loop, number, self.token, status, error)

    def _send_beat(self) -> None:
        beat(self.store, self.loop, self.token)


def acquire(store: Store, loop: str, holder: Holder, trigger: str, *, key: str | None = None,
            ttl: float = LOCK_TTL_S) -> tuple[int, list[dict[str, Any]]]:
    """Take ``loop``'s lock for ``holder`` and record a running cycle, in one transaction (the compare-and-set that
    makes a second scheduler harmless); see :meth:`HeldLock.start_cycle`.

    Raises:
        ConflictError: another live process holds the loop.
    """
    return store.db.write(acquisition(loop, holder, trigger, key=key, ttl=ttl))


def acquisition(loop: str, holder: Holder, trigger: str, *, key: str | None = None,
                ttl: float = LOCK_TTL_S) -> Callable[[Connection], tuple[int, list[dict[str, Any]]]]:
    """:func:`acquire` as a write to run in a caller's transaction (a team server's, with its idempotency key)."""
    now = time.time()
    host, pid = holder.host, holder.pid

    def write(conn: Connection) -> tuple[int, list[dict[str, Any]]]:
        held = conn.execute(select(loop_locks).where(loop_locks.c.loop == loop)).mappings().first()
        if held is not None:
            if not _stale(held, now, ttl):
                raise ConflictError(
                    f"Loop '{loop}' is already running (pid {held['pid']} on {held['host']}, since "
                    f"{_iso(held['acquired_at'] / 1000)}); wait for that cycle or stop it.")
            # Only the dead holder's cycle: a keyed cycle waiting for its orchestrator's next task is not dead.
            conn.execute(update(loop_cycles).where(loop_cycles.c.loop == loop,
                                                   loop_cycles.c.status == "running",
                                                   loop_cycles.c.host == held["host"],
                                                   loop_cycles.c.pid == held["pid"]).values(
                status="interrupted", finished_at=int(now * 1000),
                error=f"the process running it (pid {held['pid']} on {held['host']}) stopped"))
            conn.execute(delete(loop_locks).where(loop_locks.c.loop == loop))
        conn.execute(insert(loop_locks).values(loop=loop, holder=holder.token, host=host, pid=pid,
                                               process_start=holder.process_start, acquired_at=int(now * 1000),
                                               heartbeat_at=int(now * 1000)))
        if key is not None:
            keyed = conn.execute(select(loop_cycles.c.number, loop_cycles.c.steps).where(
                loop_cycles.c.loop == loop, loop_cycles.c.cycle_key == key)).first()
            if keyed is not None:
                conn.execute(update(loop_cycles).where(loop_cycles.c.loop == loop,
                                                       loop_cycles.c.number == keyed.number).values(
                    status="running", finished_at=None, error=None, host=host, pid=pid))
                return int(keyed.number), list(json.loads(keyed.steps))
        number = (conn.execute(select(func.max(loop_cycles.c.number)).where(
            loop_cycles.c.loop == loop)).scalar() or 0) + 1
        conn.execute(insert(loop_cycles).values(loop=loop, number=number, trigger=trigger, status="running",
                                                started_at=int(now * 1000), steps="[]", host=host, pid=pid,
                                                cycle_key=key))
        return int(number), []

    return write


def save_steps(store: Store, loop: str, number: int, steps: list[dict[str, Any]]) -> None:
    text = json.dumps(steps, default=str)

    def write(conn: Connection) -> None:
        conn.execute(update(loop_cycles).where(loop_cycles.c.loop == loop, loop_cycles.c.number == number)
                     .values(steps=text))

    store.db.write(write)


def release(store: Store, loop: str, number: int, token: str, status: str, error: str | None) -> None:
    """Record a cycle's outcome and release the lock ``token`` holds, in one transaction."""
    def write(conn: Connection) -> None:
        finished = None if status == "running" else int(time.time() * 1000)
        conn.execute(update(loop_cycles).where(loop_cycles.c.loop == loop, loop_cycles.c.number == number)
                     .values(status=status, error=error, finished_at=finished))
        conn.execute(delete(loop_locks).where(loop_locks.c.loop == loop, loop_locks.c.holder == token))

    store.db.write(write)


def beat(store: Store, loop: str, token: str) -> None:
    now = int(time.time() * 1000)
    store.db.write(lambda conn: conn.execute(update(loop_locks).where(
        loop_locks.c.loop == loop, loop_locks.c.holder == token).values(heartbeat_at=now)))


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


def cycle_from_record(record: dict[str, Any]) -> Cycle:
    return Cycle(**record)


def _cycle(row: Any) -> Cycle:
    return Cycle(row["loop"], row["number"], row["trigger"], row["status"], row["started_at"] / 1000,
                 row["finished_at"] / 1000 if row["finished_at"] is not None else None, row["error"],
                 json.loads(row["steps"]), row["host"], row["pid"], row["cycle_key"])


def _stale(held: Any, now: float, ttl: float) -> bool:
    owner = (held["loop"], held["host"], held["pid"], held["process_start"], held["heartbeat_at"])
    return why_gone("loop", owner, int(now * 1000), timeout_s=ttl) is not None


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
