"""``shipyard scheduler``: runs loops on their schedules and when monitoring says so, until SIGTERM.

APScheduler fires the schedules (cron or ``every 6h``, UTC) and a poll job that evaluates monitoring
triggers; cycles themselves run under each loop's database lock, so two schedulers never run a loop twice at
once. State lives in the metadata database, not in APScheduler's job store (which would pickle jobs): on
start, a loop whose last scheduled time passed while nothing ran gets one catch-up cycle, never a backlog.
SIGTERM or SIGINT stops new cycles, lets a running one finish its current step, records it as interrupted
and releases its lock.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..monitoring.config import Thresholds
from ..monitoring.monitor import monitor
from ..pipeline.spec import Pipeline
from ..store import Store
from .backend import LoopBackend, loop_backend
from .cycle import CycleResult, run_cycle
from .history import Cycle
from .spec import Loop, Trigger, load_loops, schedule_trigger

log = logging.getLogger("shipyard.loop")
STATUS_ORDER = {"ok": 0, "warn": 1, "alert": 2}


def trigger_reason(store: Store | LoopBackend, loop: Loop, *, log_dir: str | None = None,
                   thresholds: Thresholds | None = None) -> str | None:
    """The first monitoring trigger of ``loop`` that fires now (respecting cooldown and min_new_labels).

    ``thresholds`` are the project's (``monitoring.yaml``), so a trigger fires on the alerts ``shipyard monitor
    check`` reports; the defaults without them.
    """
    if not loop.triggers:
        return None
    backend = loop_backend(store)
    previous = last_cycle(backend, loop.name, trigger_prefix="monitor")
    if previous is not None and time.time() - previous.started_at < loop.cooldown_s:
        return None
    for trigger in loop.triggers:
        try:
            result = monitor(trigger.deployment, since=trigger.window, thresholds=thresholds, log_dir=log_dir,
                             store=backend.facts())
        except NotFoundError:  # no traffic in the window: nothing to react to
            continue
        if trigger.check == "quality" and loop.min_new_labels and result.labelled_rows < loop.min_new_labels:
            continue
        if fires(trigger, result.results):
            return f"monitor: {trigger.describe()}"
    return None


def last_cycle(backend: LoopBackend, loop: str, *, trigger_prefix: str | None = None) -> Cycle | None:
    """The loop's latest cycle (whose trigger starts with ``trigger_prefix``, when given)."""
    for cycle in backend.cycles(loop, limit=200):
        if trigger_prefix is None or cycle.trigger.startswith(trigger_prefix):
            return cycle
    return None


def fires(trigger: Trigger, results: list[Any]) -> bool:
    """Whether ``results`` (one monitoring pass) set the trigger off.

    With ``below``: a ``quality`` trigger fires when the realized metric is under it; an ``estimated_quality``
    trigger when the whole 90% interval of the estimate is (its upper bound), so a small window's noisy
    estimate does not start a retrain on its own.
    """
    if trigger.below is not None:
        if trigger.check == "estimated_quality":
            metric = trigger.metric or "accuracy"
            return any(item.check == "estimated_quality" and item.statistic == metric
                       and item.extra.get("high") is not None and item.extra["high"] < trigger.below
                       for item in results)
        metric = trigger.metric or "roc_auc"
        return any(item.check == "quality" and item.statistic == metric and item.value is not None
                   and item.value < trigger.below for item in results)
    wanted = STATUS_ORDER[trigger.level]
    return any((trigger.check == "any" or item.check == trigger.check) and STATUS_ORDER[item.status] >= wanted
               for item in results)


class Scheduler:
    """Schedules and trigger polling for every loop of one pipeline."""

    def __init__(self, store: Store | LoopBackend, pipeline: Pipeline, *, poll_s: float = 60.0,
                 log_dir: str | None = None, thresholds: Thresholds | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.store = loop_backend(store)
        self.pipeline = pipeline
        self.loops = load_loops(pipeline)
        self.poll_s = poll_s
        self.log_dir = log_dir
        self.thresholds = thresholds
        self.say = say or (lambda message: log.warning("%s", message))
        self.stop = threading.Event()
        self.results: list[CycleResult] = []
        self._busy: set[str] = set()
        self._guard = threading.Lock()

    def run(self, *, install_signals: bool = True) -> None:
        """Block until SIGTERM/SIGINT (or ``stop`` is set)."""
        from apscheduler.schedulers.background import BackgroundScheduler

        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda signum, frame: self.stop.set())
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                      "misfire_grace_time": None})
        for loop in self.loops.values():
            trigger = schedule_trigger(loop)
            if trigger is not None:
                scheduler.add_job(self._cycle, trigger, args=[loop, "schedule"], id=f"schedule:{loop.name}")
        if any(loop.triggers for loop in self.loops.values()):
            scheduler.add_job(self._poll, "interval", seconds=self.poll_s, id="triggers",
                              next_run_time=datetime.now(UTC))
        scheduler.start()
        self.say(f"scheduler started: {len(self.loops)} loop(s) of {self.pipeline.name}; "
                 + "; ".join(f"{loop.name}: {loop.schedule or 'triggers only'}" for loop in self.loops.values()))
        for loop in self.loops.values():
            if self._missed(loop):
                threading.Thread(target=self._cycle, args=(loop, "catch-up"), daemon=True).start()
        try:
            while not self.stop.wait(0.5):
                pass
        finally:
            self.say("scheduler stopping: no new cycles; a running cycle ends after its current step")
            scheduler.shutdown(wait=True)
            while self._busy:
                time.sleep(0.05)
            self.say("scheduler stopped")

    def _missed(self, loop: Loop) -> bool:
        """Whether a scheduled run fell while nothing ran (only the latest one counts: one catch-up)."""
        trigger = schedule_trigger(loop)
        previous = last_cycle(self.store, loop.name)
        if trigger is None or previous is None:
            return False
        after = datetime.fromtimestamp(previous.started_at, UTC)
        # The last cycle as the previous fire time: without one, an interval trigger answers its own start
        # (creation time + interval, always in the future), so an "every 6h" loop never caught up.
        due = trigger.get_next_fire_time(after, after)
        return due is not None and due < datetime.now(UTC)

    def _poll(self) -> None:
        for loop in self.loops.values():
            if self.stop.is_set() or loop.name in self._busy:
                continue
            try:
                reason = trigger_reason(self.store, loop, log_dir=self.log_dir, thresholds=self.thresholds)
            except Exception as exc:  # a monitoring failure is reported; the scheduler carries on
                self.say(f"loop '{loop.name}': could not evaluate triggers: {exc}")
                continue
            if reason is not None:
                self._cycle(loop, reason)

    def _cycle(self, loop: Loop, trigger: str) -> None:
        with self._guard:
            if loop.name in self._busy or self.stop.is_set():
                return
            self._busy.add(loop.name)
        try:
            result = run_cycle(self.store, self.pipeline, loop, trigger=trigger, say=self._prefixed(loop),
                               stop=self.stop)
            self.results.append(result)
            self.say(f"loop '{loop.name}' cycle {result.number}: {result.status}"
                     + (f" ({result.error})" if result.error else ""))
        except ConflictError as exc:
            self.say(str(exc))
        except Exception as exc:
            self.say(f"loop '{loop.name}': cycle could not run: {type(exc).__name__}: {exc}")
        finally:
            with self._guard:
                self._busy.discard(loop.name)

    def _prefixed(self, loop: Loop) -> Callable[[str], None]:
        return lambda message: self.say(f"[{loop.name}] {message}")


def next_run(loop: Loop) -> datetime | None:
    trigger = schedule_trigger(loop)
    return None if trigger is None else trigger.get_next_fire_time(None, datetime.now(UTC))

