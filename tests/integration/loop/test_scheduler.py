"""``shipyard scheduler`` as a real process: seconds-level schedules, SIGTERM, restart after downtime.

Progress is read from ``meta.db`` with plain sqlite3, polled with deadlines. Downtime is simulated by moving
the recorded cycles an hour into the past (the clock the scheduler compares with), which is 1,800 missed
runs of an ``every 2s`` loop: a restart must run one catch-up cycle, not a backlog.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from tests._support import wait_until
from tests.integration.loop._project import calls, cycles, make_project, rows
from tests.integration.pipeline._pipelines import plain, run_cli

TICKING = {"schedule": "every 2s", "steps": [{"repro": ["prepare"]}]}


def _cycles(db: Path) -> list[tuple[int, str, str]]:
    return cycles(db, "ticking")


def test_the_scheduler_runs_a_due_loop_stops_cleanly_and_catches_up_once_after_downtime(
        tmp_path: Path, launcher: Any, meta_db: Path) -> None:
    root = make_project(tmp_path / "loopy", {"ticking": TICKING})

    scheduler = launcher.start("scheduler", "--poll", "1", cwd=root)
    wait_until(lambda: [c for c in _cycles(meta_db) if c[1] == "schedule" and c[2] == "succeeded"]
             or scheduler.proc.poll() is not None, timeout=60, what="a scheduled cycle to succeed")
    assert scheduler.proc.poll() is None, scheduler.output
    assert scheduler.stop(signal.SIGTERM, timeout=30) == 0, scheduler.output
    output = plain(scheduler.output)
    assert "scheduler started: 1 loop(s) of loopy; ticking: every 2s" in output
    assert "scheduler stopped" in output and "Traceback" not in output

    before = _cycles(meta_db)
    assert {trigger for _, trigger, _ in before} == {"schedule"}
    assert not [cycle for cycle in before if cycle[2] == "running"], before
    assert rows(meta_db, "select * from loop_locks") == []
    again = run_cli("loop", "run", "ticking", cwd=root)  # the lock is free at once
    assert again.returncode == 0, again.stdout + again.stderr
    assert rows(meta_db, "select * from loop_locks") == []

    rows(meta_db, "update loop_cycles set started_at = started_at - 3600000, finished_at = finished_at - 3600000")
    restarted_at = time.monotonic()
    restarted = launcher.start("scheduler", "--poll", "1", cwd=root)
    known = len(_cycles(meta_db))

    def caught_up_then_scheduled() -> bool:
        new = [trigger for _, trigger, status in _cycles(meta_db)[known:] if status != "running"]
        return ("catch-up" in new and "schedule" in new[new.index("catch-up"):]) or restarted.proc.poll() is not None

    wait_until(caught_up_then_scheduled, timeout=60, what="a catch-up cycle followed by a scheduled one")
    assert restarted.proc.poll() is None, restarted.output
    assert restarted.stop(signal.SIGTERM, timeout=30) == 0, restarted.output
    uptime = time.monotonic() - restarted_at

    new = _cycles(meta_db)[known:]
    assert [trigger for _, trigger, _ in new].count("catch-up") == 1, new
    assert new[0][1] == "catch-up"  # the first thing it did, before any schedule fired
    assert len(new) <= uptime / 2 + 2, (uptime, new)  # at the schedule's pace, no backlog of missed runs
    assert not [cycle for cycle in _cycles(meta_db) if cycle[2] == "running"]
    assert rows(meta_db, "select * from loop_locks") == []


def test_sigterm_mid_cycle_finishes_the_current_step_records_the_cycle_interrupted_and_frees_the_lock(
        tmp_path: Path, launcher: Any, meta_db: Path, gate: Path) -> None:
    gated = {"schedule": "every 2s", "steps": [{"repro": ["gate"]}, {"repro": ["prepare"]}]}
    root = make_project(tmp_path / "loopy", {"gated": gated})

    scheduler = launcher.start("scheduler", "--poll", "1", cwd=root, env={"LOOP_GATE": str(gate)})
    wait_until(lambda: (gate / "entered").exists() or scheduler.proc.poll() is not None, timeout=60,
             what="a scheduled cycle to enter the gate stage")
    assert scheduler.proc.poll() is None, scheduler.output
    scheduler.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "scheduler stopping" in plain(scheduler.output), timeout=30, what="the scheduler to stop")
    assert scheduler.proc.poll() is None  # it waits for the step in progress instead of abandoning it
    assert cycles(meta_db, "gated") == [(1, "schedule", "running")]
    (gate / "open").touch()
    assert scheduler.wait(timeout=30) == 0, scheduler.output

    ((number, status, error, steps),) = rows(meta_db, "select number, status, error, steps from loop_cycles")
    assert (number, status, error) == (1, "interrupted", "the scheduler was asked to stop between steps")
    assert [(step["step"], step["status"]) for step in json.loads(steps)] == [(1, "succeeded")]
    assert calls(root) == ["gate"]  # the step after the signal never started
    assert rows(meta_db, "select * from loop_locks") == []
    assert "scheduler stopped" in plain(scheduler.output)
