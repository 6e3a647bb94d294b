"""A stage never outlives the ``shipyard repro`` that started it, even one killed with SIGKILL.

Each stage runs in a process group of its own (so an interrupt reaches everything it started, not just the
shell in front of it), which also means nothing ends it when repro dies. Repro cannot react to SIGKILL, and
``PR_SET_PDEATHSIG`` would only reach the stage's first process (the shell), not the programs it started,
and fires when the *thread* that started it ends. So one small watchdog process per repro holds the read end
of a pipe whose write end only repro has: repro writes ``+PGID`` when a stage starts and ``-PGID`` when it
ends, and ``exit`` when it is done. If the pipe closes without ``exit``, repro has died (the kernel closes
its descriptors whatever killed it), and the watchdog ends every group still listed: SIGTERM, so tracked
code writes its buffered metrics (``tracking/_termination.py``), then SIGKILL after ``GRACE_S``. It then
waits until the groups are gone, and the workspace lock stays held while it lives
(``workspace_lock.HeldLock.add_guard``): a repro started at once waits for the old stage to end instead of
running a second one over it.

This file is also the watchdog's program, run as ``python -I -S <this file>``: standard library only, so
it starts in a few milliseconds. The watchdog sits in a session of its own, so neither Ctrl-C in the
terminal nor a signal to repro's process group ends it before it has done its work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

GRACE_S = 5.0  # from SIGTERM to SIGKILL
_GONE_WAIT_S = 5.0  # after SIGKILL, how long to wait for the groups to disappear
_POLL_S = 0.02


class StageWatchdog:
    """Repro's side: starts the watchdog, then tells it which process groups are running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).resolve())], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self._process.pid

    def watch(self, group: int) -> None:
        """End process group ``group`` if this process dies before :meth:`forget`."""
        self._send(f"+{group}")

    def forget(self, group: int) -> None:
        self._send(f"-{group}")

    def close(self) -> None:
        """This repro is done: the watchdog leaves without ending anything."""
        self._send("exit")
        with self._lock, contextlib.suppress(OSError):
            assert self._process.stdin is not None
            self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _send(self, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):  # a watchdog that died cannot be told
            assert self._process.stdin is not None
            self._process.stdin.write(f"{line}\n".encode())
            self._process.stdin.flush()


def main() -> int:
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)  # only the pipe tells this process when to act
    groups: set[int] = set()
    for raw in sys.stdin.buffer:
        line = raw.strip().decode()
        if line == "exit":
            return 0
        if line[:1] in "+-" and line[1:].isdigit():
            (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
    end_groups(groups)  # the pipe closed without "exit": repro is gone
    return 0


def end_groups(groups: set[int]) -> None:
    """SIGTERM to every group, SIGKILL to what is left after ``GRACE_S``, then wait for them to be gone."""
    for number, wait_s in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, _GONE_WAIT_S)):
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, number)
        deadline = time.monotonic() + wait_s
        while any(_group_alive(group) for group in groups):
            if time.monotonic() > deadline:
                break
            time.sleep(_POLL_S)
        else:
            return


def _group_alive(group: int) -> bool:
    """Whether any process of ``group`` still runs; zombies (finished, waiting to be reaped) do not count."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(group).encode() and fields[0] != b"Z":
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
