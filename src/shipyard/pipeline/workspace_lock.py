"""One ``shipyard`` process at a time per workspace, and a lock left by a killed process is taken over.

The lock is a file created exclusively (``O_EXCL``) holding the owner's pid, host, start key and command. A
second process waits, saying who holds the lock, until it is released or ``timeout`` passes. A lock whose
owner is gone (same machine, that process no longer alive: ``store/processes.py``) is stale and taken over,
unless the owner named a guard that still lives: repro's stage watchdog, which ends the stages of a repro
killed with SIGKILL, so that the next repro waits for them to be gone (``_stage_watchdog.py``).

Every command that writes the workspace or deletes from the cache takes it: ``repro``, ``add``,
``checkout`` (and ``pull``, which checks out), ``gc --force``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import ConflictError
from ..store.processes import is_alive, start_key

_POLL_S = 0.1
_UNREADABLE_GRACE_S = 2.0


def lock_path(root: Path) -> Path:
    """The workspace's lock file, whatever store each process uses: inside ``.git`` when there is one
    (never committed, never in the way), else beside shipyard.yaml."""
    git = root / ".git"
    return git / "shipyard-workspace.lock" if git.is_dir() else root / ".shipyard-workspace.lock"


def describe_holder(holder: dict[str, object]) -> str:
    """``pid 123 (shipyard add data, since 2026-01-01 10:00:00)``: who to wait for, in a message."""
    return f"pid {holder.get('pid')} ({holder.get('command')}, since {holder.get('since')})"


class HeldLock:
    """The lock while this process holds it."""

    def __init__(self, path: Path, record: dict[str, object]) -> None:
        self.path = path
        self.record = record

    def add_guard(self, pid: int) -> None:
        """Keep the lock held while process ``pid`` lives, even once this process is gone."""
        record = {**self.record, "guard_pid": pid, "guard_start": start_key(pid)}
        temp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(record))
        os.replace(temp, self.path)  # readers see the old record or the new one, never half of one
        self.record = record


@contextmanager
def workspace_lock(path: Path, *, timeout: float = 60.0,
                   on_wait: Callable[[dict[str, object]], None] | None = None) -> Iterator[HeldLock]:
    """Hold the lock file at ``path`` for the block, waiting up to ``timeout`` seconds for its holder.

    ``on_wait`` is called with the holder's record when waiting starts and again whenever another
    process takes the lock first, so the user always knows whom they are waiting for. Raises
    :class:`ConflictError` naming the holder when the wait times out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    told: dict[str, object] | None = None
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start": start_key(os.getpid()), "command": _command(),
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    while True:
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is None and _age(path) < _UNREADABLE_GRACE_S:
                time.sleep(_POLL_S)  # just created by another process and not written yet
                continue
            if holder is None or _is_stale(holder):
                _remove_if_same(path, holder)  # taken over: its owner is gone
                continue
            if time.monotonic() >= deadline:
                raise ConflictError(
                    f"The workspace is locked by pid {holder.get('pid')} on {holder.get('host')} "
                    f"({holder.get('command')}, since {holder.get('since')}); waited {timeout:g}s. Wait for it to "
                    f"finish or raise --lock-timeout; if that process is gone, delete {path}.") from None
            if holder != told and on_wait is not None:
                on_wait(holder)
                told = holder
            time.sleep(_POLL_S)
            continue
        with os.fdopen(descriptor, "w") as handle:
            json.dump(me, handle)
        break
    held = HeldLock(path, me)
    try:
        yield held
    finally:
        _remove_if_same(path, held.record)


def _command() -> str:
    """``shipyard add data/raw.csv``: the program's name (not its full path) and its first two arguments."""
    if not sys.argv:
        return "python"
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]])


def _holder(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None  # being written right now, or garbage: treated as stale only if it stays so
    return data if isinstance(data, dict) else None


def _is_stale(holder: dict[str, object]) -> bool:
    """The holder and its guard, if it named one, are both known to be gone (another machine's: never known)."""
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return True
    for who, start in ((pid, holder.get("start")), (holder.get("guard_pid"), holder.get("guard_start"))):
        if who is None:
            continue
        host = holder.get("host")
        alive = is_alive(host if isinstance(host, str) else None, who if isinstance(who, int) else None,
                         start if isinstance(start, str) else None)
        if alive is not False:
            return False  # alive, or another machine's process: we cannot tell, so we wait
    return True


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _remove_if_same(path: Path, holder: dict[str, object] | None) -> None:
    if _holder(path) == holder:
        with suppress(FileNotFoundError):
            path.unlink()
