"""Ending a repro's running stages: Ctrl-C and SIGTERM unwind repro, and every stage's process group ends.

Stages run in process groups of their own, so a signal to repro reaches none of them: repro passes it on.
Ctrl-C raises ``KeyboardInterrupt`` in repro's main thread; SIGTERM is made to do the same
(:func:`sigterm_as_interrupt`), as :class:`Terminated`, so the code written for Ctrl-C (stage runs recorded
KILLED, the lock file left as it was) serves both. The stages' groups get the same signal first (SIGINT or
SIGTERM, so code in them can write what it buffered), then SIGKILL after a grace period.

A caller that runs repro inside more work (``shipyard loop run``: a cycle to record ``interrupted``) wraps
that work in :func:`sigterm_as_interrupt` too: the outermost one ends the process, once everything unwound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

STOP_GRACE_S = 5.0  # from the first signal to a stage's group to SIGKILL


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during ``repro``: unwound like Ctrl-C (every cleanup written for that runs), after
    which repro ends its process by SIGTERM, so it never reaches the top level as a KeyboardInterrupt."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM unwinds like Ctrl-C; once it has, the process dies by SIGTERM.

    Only where that cannot break anything: in the main thread, while SIGTERM has its default action (which
    would have ended the process anyway, with no cleanup). A program with its own handler keeps it, and a
    block nested in another leaves the ending to the outer one.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise Terminated(f"terminated by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # what the signal would have done, now that the stages are ended
        raise  # only if SIGTERM is blocked in this thread
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def end_groups(processes: list[subprocess.Popen[str]], first: signal.Signals) -> None:
    """Signal the stages' whole process groups, then kill what is left after a grace period."""
    for signal_number in (first, signal.SIGKILL):
        for process in processes:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal_number)
        deadline = time.monotonic() + STOP_GRACE_S
        try:
            for process in processes:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            return
        except subprocess.TimeoutExpired:
            continue


def first_signal(interrupt: BaseException) -> signal.Signals:
    """What a stage's group gets first: SIGTERM when repro got one (its code writes its metrics then), else
    SIGINT, as Ctrl-C in a terminal would have sent it."""
    return signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT


def again(interrupt: KeyboardInterrupt) -> KeyboardInterrupt:
    """The same interrupt, for a stage thread to record its run as the main thread's interrupt says."""
    return type(interrupt)(*interrupt.args)
