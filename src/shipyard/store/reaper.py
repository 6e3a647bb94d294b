"""Runs and loop cycles whose process is gone are ended when a store is opened: KILLED and interrupted.

A process killed with SIGKILL, or a machine that lost power, cannot record its own end, and its run would
stay RUNNING forever (a loop's cycle "running", its lock held). So every time a process opens a store it
looks at the owners of what is still running:

* an owner on this machine (same boot and pid namespace, see :mod:`.processes`) is checked directly: once
  its pid no longer belongs to the process that started the run, the run is KILLED;
* an owner on another machine, in another container, or recorded without a pid can only be judged by its
  heartbeat: a run whose owner has not refreshed ``heartbeat_at`` for ``HEARTBEAT_TIMEOUT_S`` is KILLED.
  A loop lock has its own ``LOOP_LOCK_TTL_S``, which also frees it from a live holder that stopped beating.

Owners refresh the heartbeat of their RUNNING runs every ``HEARTBEAT_INTERVAL_S`` (``tracking/heartbeat.py``):
30 s, against a 5-minute timeout, so ten beats in a row must be missed (a database busy for minutes, a
laptop asleep) before a live run is called dead. If that happens anyway, the owner's own end of the run
(FINISHED, FAILED) still overwrites the KILLED.

The usual case costs one read through the plain ``sqlite3`` driver and no write; a store that cannot be
written (read-only) is read as it is.

``SHIPYARD_HEARTBEAT_INTERVAL_S`` and ``SHIPYARD_HEARTBEAT_TIMEOUT_S`` change the two durations (a team server and
its clients, say, or a test that cannot wait five minutes); the timeout should stay several intervals long.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, StoreUnavailableError
from .processes import is_alive

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from .db import Database

HEARTBEAT_INTERVAL_S = 30.0
HEARTBEAT_TIMEOUT_S = 300.0
LOOP_LOCK_TTL_S = 60.0  # a loop's lock holder beats every third of it (loop/history.py)
INTERVAL_ENV = "SHIPYARD_HEARTBEAT_INTERVAL_S"
TIMEOUT_ENV = "SHIPYARD_HEARTBEAT_TIMEOUT_S"
# schema.RUN_RUNNING, spelled out: schema imports SQLAlchemy, which opening a store must not (a test keeps them equal).
RUNNING = "RUNNING"

_OWNERS = (
    f"SELECT 'run', id, host, pid, process_start, COALESCE(heartbeat_at, start_time) FROM runs "
    f"WHERE status = '{RUNNING}' "
    "UNION ALL SELECT 'loop', loop, host, pid, process_start, heartbeat_at FROM loop_locks"
)


@dataclass
class Reaped:
    """What one look ended: run ids, and (loop, holder token) of the locks taken from dead holders."""

    runs: list[str] = field(default_factory=list)
    loop_locks: list[tuple[str, str]] = field(default_factory=list)


def reap(db: Database, *, now: float | None = None) -> Reaped:
    """End the runs and loop cycles of processes that are gone; returns what was ended."""
    now_ms = int((time.time() if now is None else now) * 1000)
    owners = db.read_sqlite(_OWNERS)
    if owners is None:
        from sqlalchemy import text

        try:
            owners = db.read(lambda conn: [tuple(row) for row in conn.execute(text(_OWNERS))])
        except StoreUnavailableError:
            return Reaped()
    if not any(why_gone(kind, row, now_ms) for kind, *row in owners):
        return Reaped()
    try:
        return db.write(lambda conn: _end_dead(conn, now_ms))
    except StoreUnavailableError:
        return Reaped()  # read-only, or busy beyond the retries: the next opening tries again


def heartbeat_interval_s() -> float:
    """How often owners beat: ``SHIPYARD_HEARTBEAT_INTERVAL_S``, else :data:`HEARTBEAT_INTERVAL_S`."""
    return _seconds(INTERVAL_ENV, HEARTBEAT_INTERVAL_S)


def heartbeat_timeout_s() -> float:
    """How long a run's owner may stay silent: ``SHIPYARD_HEARTBEAT_TIMEOUT_S``, else :data:`HEARTBEAT_TIMEOUT_S`."""
    return _seconds(TIMEOUT_ENV, HEARTBEAT_TIMEOUT_S)


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:
        raise ConfigError(f"{name}={text[:40]!r} is not a duration: give a positive number of seconds, such as 30, or "
                          "unset it for the default.")
    return value


def why_gone(kind: str, owner: Any, now_ms: int, *, timeout_s: float | None = None) -> str | None:
    """Why the owner ``(id, host, pid, process_start, last beat ms)`` of a run (``kind`` "run") or a loop
    lock ("loop") counts as gone, as words that follow "the process", or ``None`` while it may be alive.
    ``timeout_s`` overrides the heartbeat timeout of that kind."""
    _, host, pid, start, last_beat = owner
    alive = is_alive(host, pid, start)
    if alive is False:
        return "is gone"
    if timeout_s is None:
        timeout_s = LOOP_LOCK_TTL_S if kind == "loop" else heartbeat_timeout_s()
    silent_s = (now_ms - (last_beat or 0)) / 1000
    # A loop lock is also given up by a live holder that stopped beating (hung): the loop must go on.
    if silent_s <= timeout_s or (alive and kind != "loop"):
        return None
    return f"sent no heartbeat for {silent_s:.0f} s (the limit is {timeout_s:.0f} s)"


def _who(host: str | None, pid: int | None) -> str:
    return f"pid {pid} on {host}" if pid is not None else f"on {host or 'an unknown host'}"


def _end_dead(conn: Connection, now_ms: int) -> Reaped:
    """Check again inside the write transaction (an owner may have ended or beaten meanwhile) and end the dead."""
    from sqlalchemy import text

    from .schema import RUN_KILLED, RUN_RUNNING

    reaped = Reaped()
    for kind, *owner in conn.execute(text(_OWNERS)).all():
        reason = why_gone(kind, owner, now_ms)
        if reason is None:
            continue
        name, host, pid = owner[0], owner[1], owner[2]
        if kind == "run":
            error = f"The process that ran it ({_who(host, pid)}) {reason}; marked KILLED by the store's reaper."
            conn.execute(text(f"UPDATE runs SET status = '{RUN_KILLED}', end_time = :now, error = :error "
                              f"WHERE id = :id AND status = '{RUN_RUNNING}'"),
                         {"now": now_ms, "id": name, "error": error})
            reaped.runs.append(name)
            continue
        holder = conn.execute(text("SELECT holder FROM loop_locks WHERE loop = :loop"), {"loop": name}).scalar()
        # Only the dead holder's cycle: a keyed cycle waiting for its orchestrator's next task is not dead.
        conn.execute(text("UPDATE loop_cycles SET status = 'interrupted', finished_at = :now, error = :error "
                          "WHERE loop = :loop AND status = 'running' AND host = :host AND pid = :pid"),
                     {"now": now_ms, "loop": name, "host": host, "pid": pid,
                      "error": f"the process running it ({_who(host, pid)}) stopped: it {reason}"})
        conn.execute(text("DELETE FROM loop_locks WHERE loop = :loop AND holder = :holder"),
                     {"loop": name, "holder": holder})
        reaped.loop_locks.append((name, str(holder)))
    return reaped
