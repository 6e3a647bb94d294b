"""Writes a layer above tracking has deferred, drained before anyone reads or ends a run.

Autologging (:mod:`shipyard.models.autolog`) records a fit after ``fit`` returns, off the training loop's
critical path, and writes the run, its metrics and its model a moment later. Tracking must not import
models, so it offers this hook instead: the layer above registers a drain function, and every fluent call
whose answer depends on those writes (ending a run, ``flush``, ``get_run``, ``search_runs``,
``metric_history``, ``list_artifacts``) calls :func:`drain` first. That keeps read-your-writes: a program
that fits, then reads its run, sees everything the fit logged.

A drain function must not raise (a logging failure is the registrant's to report) and must return at
once when called again from inside itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Drain = Callable[[], None]

_drains: list[Drain] = []
_lock = threading.Lock()


def register(drain: Drain) -> None:
    """Have :func:`drain` call ``drain`` from now on (once, however often it is registered)."""
    with _lock:
        if drain not in _drains:
            _drains.append(drain)


def unregister(drain: Drain) -> None:
    with _lock:
        if drain in _drains:
            _drains.remove(drain)


def drain() -> None:
    """Write every deferred record now, in the calling thread (a no-op when nothing registered)."""
    if not _drains:  # the common case: one list check
        return
    with _lock:
        registered = list(_drains)
    for function in registered:
        function()
