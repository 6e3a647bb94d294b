"""SIGTERM ends a tracked program the way Ctrl-C does: buffered points written, its runs KILLED; then it dies.

SIGTERM is what ``kill``, systemd, Kubernetes and ``timeout`` send. Its default action ends the process on
the spot: the metric points still in the buffer (up to a second of them) were lost and the run stayed
RUNNING. Ctrl-C raises ``KeyboardInterrupt``, which ``with start_run()`` and the exit hook turn into a
KILLED run with every point written. SIGTERM now gets the same ending, and then the default action, so the
process still dies *by SIGTERM* (exit status 143 in a shell), as whoever sent it expects.

The cleanup cannot run inside the signal handler: the handler interrupts the main thread anywhere, possibly
inside a metric flush that holds the writer's lock or a database transaction, and waiting there would
deadlock. So the handler only wakes a thread started beforehand, which writes and ends what is open while
the main thread goes on, and then sends the signal again with the default action restored. A second SIGTERM,
or ``GRACE_S`` without the cleanup finishing, ends the process at once.

It is installed only where it cannot break a program: in the main thread (the only one that may), and only
while SIGTERM has its default action. A program with its own handler keeps it; a forked child (a
multiprocessing worker, which its pool ends with SIGTERM) gets the default action straight away.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

GRACE_S = 10.0

_wake = threading.Event()
_installed_in: int | None = None  # the pid that installed the handler and started the thread
_cleanup: Callable[[str], None] | None = None
_received: list[int] = []


def install(cleanup: Callable[[str], None]) -> None:
    """Handle SIGTERM with ``cleanup(reason)`` then the default action, if SIGTERM has its default action now.

    Does nothing outside the main thread, when a handler is already set, or when this process did it before.
    """
    global _installed_in, _cleanup
    if _installed_in == os.getpid() or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        _cleanup = cleanup
        threading.Thread(target=_wait_and_finish, name="shipyard-sigterm", daemon=True).start()
        signal.signal(signal.SIGTERM, _on_signal)
    except (ValueError, OSError):  # an embedded interpreter that does not allow it: keep the default
        return
    _installed_in = os.getpid()


def _on_signal(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    if _installed_in != os.getpid():  # a forked child inherited the handler but not the thread
        os.kill(os.getpid(), signum)
        return
    _received.append(signum)
    _wake.set()  # the only thing done here: see the module docstring


def _wait_and_finish() -> None:
    _wake.wait()
    signum = _received[0]
    backstop = threading.Timer(GRACE_S, os.kill, (os.getpid(), signum))
    backstop.daemon = True
    backstop.start()
    try:
        if _cleanup is not None:
            _cleanup(f"terminated by {signal.Signals(signum).name}")
    except Exception as exc:
        print(f"shipyard: could not end the runs on {signal.Signals(signum).name}: {exc}", file=sys.stderr)
    finally:
        os.kill(os.getpid(), signum)
