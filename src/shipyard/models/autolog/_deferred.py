"""Records of finished fits, written off the training loop's critical path.

A small fit takes a few milliseconds; writing its run, computing its training metrics (a predict over the
training data) and packaging its model take ten times that. So the patched ``fit`` only captures what
will not survive (a snapshot of the fitted model, the params, references to the data, the times) and
queues a record. The records are written, in the order the fits ended, by whichever comes first:

* the writer thread, once the process has been quiet for ``QUIET_S`` (no autologged fit running or ended
  in that time): a tight loop of fits is never slowed by competing for the GIL, a notebook cell sees its
  run written a moment after ``fit`` returns;
* any fluent call that reads or ends runs (``tracking/pending.py``): what a program reads is complete;
* interpreter exit (atexit, before the tracking layer ends the implicit runs);
* the fitting thread itself, when more than ``MAX_PENDING`` records wait (memory stays bounded).

A record that fails to write becomes one warning line (:func:`warn`); training is never interrupted.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable

from ...tracking import pending  # fluent first: its exit handlers must run after ours

QUIET_S = 0.5  # long enough that a loop preempted by a busy machine does not look idle
MAX_PENDING = 1000

Record = Callable[[], None]


class AutologWarning(UserWarning):
    """Autologging could not record something; the training itself went on unharmed."""


class _Queue:
    def __init__(self) -> None:
        self.records: deque[tuple[str, Record]] = deque()
        self.lock = threading.Lock()  # guards records and the activity fields
        self.writing = threading.RLock()  # one record written at a time, in order
        self.wake = threading.Event()
        self.active_fits = 0
        self.last_activity = 0.0
        self.thread: threading.Thread | None = None
        self.local = threading.local()  # .draining: this thread is writing records (no re-entry)


_queue = _Queue()


def fit_started() -> None:
    with _queue.lock:
        _queue.active_fits += 1


def fit_ended() -> None:
    with _queue.lock:
        _queue.active_fits -= 1
        _queue.last_activity = time.monotonic()


def submit(label: str, record: Record) -> None:
    """Queue ``record`` (``label`` names it in a warning if it fails)."""
    with _queue.lock:
        _queue.records.append((label, record))
        backlog = len(_queue.records)
    if _queue.thread is None:
        _start()
    _queue.wake.set()
    if backlog > MAX_PENDING:
        _write_one()


def drain() -> None:
    """Write every queued record now, in this thread; returns at once when called from inside a record."""
    if getattr(_queue.local, "draining", False):
        return
    while _write_one():
        pass


def pending_count() -> int:
    with _queue.lock:
        return len(_queue.records)


def warn(message: str) -> None:
    """One line on stderr through ``warnings`` (so filters and ``pytest.warns`` see it); never raises, even
    when warnings are turned into errors (``-W error``): then the line is printed instead."""
    try:
        warnings.warn(f"shipyard autolog: {message}", AutologWarning, stacklevel=2)
    except Exception:
        print(f"shipyard autolog: {message}", file=sys.stderr)


def _write_one() -> bool:
    with _queue.writing:
        with _queue.lock:
            if not _queue.records:
                return False
            label, record = _queue.records.popleft()
        _queue.local.draining = True
        try:
            record()
        except Exception as exc:  # a logging failure must never reach the user's training code
            warn(f"could not record {label}: {type(exc).__name__}: {exc}")
        finally:
            _queue.local.draining = False
        return True


def _start() -> None:
    with _queue.lock:
        if _queue.thread is not None:
            return
        _queue.thread = threading.Thread(target=_loop, name="shipyard-autolog", daemon=True)
        _queue.thread.start()


def _quiet_for() -> float:
    """Seconds the process must still stay quiet before the writer thread may write (0: go)."""
    with _queue.lock:
        if _queue.active_fits:
            return QUIET_S
        return max(0.0, _queue.last_activity + QUIET_S - time.monotonic())


def _loop() -> None:
    while True:  # a daemon thread: it ends with the process
        _queue.wake.wait()
        _queue.wake.clear()
        while pending_count():
            wait = _quiet_for()
            if wait > 0:
                time.sleep(wait)  # pacing, not synchronisation: drain() is what callers rely on
                continue
            _write_one()


pending.register(drain)
atexit.register(drain)  # registered after tracking's own exit handler, so it runs before runs are ended
