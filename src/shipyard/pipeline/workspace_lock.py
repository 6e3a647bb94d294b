"""One ``shipyard`` process at a time per workspace, and a lock left by a killed process is taken over.

The lock is a file created exclusively (``O_EXCL``) holding the owner's pid, host and command. A second
process waits, saying who holds the lock, until it is released or ``timeout`` passes. A lock whose
owner is gone (same host, pid no longer alive) is stale and taken over.

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


@contextmanager
def workspace_lock(path: Path, *, timeout: float = 60.0,
                   on_wait: Callable[[dict[str, object]], None] | None = None) -> Iterator[None]:
    """Hold the lock file at ``path`` for the block, waiting up to ``timeout`` seconds for its holder.

    ``on_wait`` is called with the holder's record when waiting starts and again whenever another
    process takes the lock first, so the user always knows whom they are waiting for. Raises
    :class:`ConflictError` naming the holder when the wait times out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    told: dict[str, object] | None = None
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(),
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
    try:
        yield
    finally:
        _remove_if_same(path, me)


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
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process: we cannot tell, so we wait
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _remove_if_same(path: Path, holder: dict[str, object] | None) -> None:
    if _holder(path) == holder:
        with suppress(FileNotFoundError):
            path.unlink()
