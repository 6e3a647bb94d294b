"""One ``shipyard`` process at a time per workspace, and a lock left by a killed process is taken over.

The lock is a file created exclusively (``O_EXCL``) holding the owner's pid, host and command. A second
process waits, saying who holds the lock, until it is released or ``timeout`` passes. A lock whose
owner is gone (same host, pid no longer alive) is stale and taken over.
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


@contextmanager
def workspace_lock(path: Path, *, timeout: float = 60.0,
                   on_wait: Callable[[dict[str, object]], None] | None = None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    told = False
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv[:3]),
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
                    "finish, or raise --lock-timeout.") from None
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            time.sleep(_POLL_S)
            continue
        with os.fdopen(descriptor, "w") as handle:
            json.dump(me, handle)
        break
    try:
        yield
    finally:
        _remove_if_same(path, me)


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
