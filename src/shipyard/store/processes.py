"""Is the process that owns a run (or a lock) still alive? Asked without trusting a pid alone.

A pid names a process only while it lives: once it is gone the kernel hands the number to the next process,
so "pid 4242 is alive" may be about a stranger. A process is therefore recorded with a *start key*: the
machine's boot id, its pid namespace, its pid and its start time in clock ticks since boot
(``/proc/<pid>/stat``, field 22). Two processes never share all four, and a key from another boot or another
container (same host name, other pid namespace) says "not on this machine": only a heartbeat can tell then.
The key names its process by itself, so a run resumed by another process gets that process's key while its
``host`` and ``pid`` columns keep describing the process that created it (its lineage).

Without ``/proc`` (not Linux) there is no key, and the answer falls back to the pid on the same host name.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class ProcessIdentity:
    """Where and which process: host name, pid and start key (``None`` where it cannot be read)."""

    host: str
    pid: int
    start: str | None


def this_process() -> ProcessIdentity:
    """The identity of the calling process (a forked child gets its own)."""
    pid = os.getpid()
    known = _mine.get(pid)
    if known is None:
        known = _mine[pid] = ProcessIdentity(socket.gethostname(), pid, start_key(pid))
    return known


_mine: dict[int, ProcessIdentity] = {}


def start_key(pid: int) -> str | None:
    """``<boot id>:<pid namespace>:<pid>:<start ticks>`` of a live process on this machine, else ``None``."""
    machine = _machine_key()
    ticks = _start_ticks(pid)
    if machine is None or ticks is None:
        return None
    return f"{machine}:{pid}:{ticks}"


def is_alive(host: str | None, pid: int | None, start: str | None) -> bool | None:
    """Whether the process recorded as (host, pid, start key) still runs: ``None`` when this machine cannot tell.

    A start key decides when it was taken on this machine (same boot, same pid namespace); a key from
    elsewhere cannot be checked here. Without a key, a pid on the same host name is checked as it is.
    """
    machine = _machine_key()
    if start is not None and machine is not None:
        boot, namespace, owner, _ = [*start.split(":"), "", "", "", ""][:4]
        if f"{boot}:{namespace}" != machine or not owner.isdigit():
            return None  # another boot or another container: its pids mean nothing here
        return start_key(int(owner)) == start
    if pid is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


@lru_cache(maxsize=1)
def _machine_key() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            boot = handle.read().strip().replace("-", "")
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return None
    return f"{boot}:{namespace.removeprefix('pid:[').removesuffix(']')}"


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and parentheses: split after it.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] == b"Z":  # a zombie has finished; only its exit status is left
        return None
    return fields[19].decode()  # field 22 of the line: start time, in clock ticks since boot
