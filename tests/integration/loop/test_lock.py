"""One cycle of a loop at a time: the database lock refuses a second run and survives a crash of its holder.

The first ``shipyard loop run`` is held inside the ``gate`` stage, which waits for a file the test creates,
so the overlap is real and no sleep decides it. Killing that process with SIGKILL ends its stage too (its
watchdog does) and leaves its lock row behind; the next run sees the holder's process is gone, takes the lock
over and records the killed cycle as interrupted.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests._support import pid_alive, wait_until
from tests.integration.loop._project import calls, make_project, rows
from tests.integration.pipeline._pipelines import plain, run_cli

GATED = {"schedule": "0 3 * * *", "steps": [{"repro": ["gate"]}]}


def test_a_second_run_is_refused_while_one_runs_and_a_killed_holder_is_taken_over(
        tmp_path: Path, launcher: Any, meta_db: Path, gate: Path) -> None:
    root = make_project(tmp_path / "loopy", {"gated": GATED})
    env = {"LOOP_GATE": str(gate)}

    first = launcher.start("loop", "run", "gated", cwd=root, env=env)
    wait_until(lambda: (gate / "entered").exists() or first.proc.poll() is not None, timeout=60,
             what="the first cycle to enter the gate stage")
    assert first.proc.poll() is None, first.output
    stage_pid = int((gate / "entered").read_text())

    second = run_cli("loop", "run", "gated", cwd=root, env=env)
    assert second.returncode == 2, second.stdout + second.stderr
    lines = plain(second.stderr).splitlines()
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith(f"Error: Loop 'gated' is already running (pid {first.pid} on "), lines[0]
    assert "Traceback" not in second.stdout + second.stderr
    assert rows(meta_db, "select loop, pid from loop_locks") == [("gated", first.pid)]
    assert rows(meta_db, "select number, status from loop_cycles where loop = 'gated'") == [(1, "running")]
    assert calls(root) == ["gate"]  # the refused run started nothing

    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: not pid_alive(stage_pid), timeout=10, what="the gate stage to end with its loop process")
    assert rows(meta_db, "select loop, pid from loop_locks") == [("gated", first.pid)]  # left behind by the crash

    (gate / "entered").unlink()
    (gate / "open").touch()
    third = run_cli("loop", "run", "gated", "--json", cwd=root, env=env)
    assert third.returncode == 0, third.stdout + third.stderr
    cycle = json.loads(third.stdout)
    assert (cycle["cycle"], cycle["status"]) == (2, "succeeded")
    (stage,) = cycle["steps"][0]["stages"]
    assert (stage["stage"], stage["status"]) == ("gate", "ran")
    assert calls(root) == ["gate", "gate"]

    assert rows(meta_db, "select * from loop_locks") == []
    recorded = rows(meta_db, "select number, status, error from loop_cycles where loop = 'gated' order by number")
    assert [(number, status) for number, status, _ in recorded] == [(1, "interrupted"), (2, "succeeded")]
    assert f"pid {first.pid}" in recorded[0][2] and "stopped" in recorded[0][2]


def test_sigterm_ends_the_stage_and_records_the_cycle_interrupted_before_dying_by_it(
        tmp_path: Path, launcher: Any, meta_db: Path, gate: Path) -> None:
    root = make_project(tmp_path / "loopy", {"gated": GATED})
    running = launcher.start("loop", "run", "gated", cwd=root, env={"LOOP_GATE": str(gate)})
    wait_until(lambda: (gate / "entered").exists() or running.proc.poll() is not None, timeout=60,
             what="the cycle to enter the gate stage")
    stage_pid = int((gate / "entered").read_text())

    assert running.stop(signal.SIGTERM) == -signal.SIGTERM, running.output
    wait_until(lambda: not pid_alive(stage_pid), timeout=10, what="the gate stage to end with its loop process")
    # Read with plain sqlite3: the dying process recorded all of it itself.
    assert rows(meta_db, "select number, status from loop_cycles where loop = 'gated'") == [(1, "interrupted")]
    assert rows(meta_db, "select * from loop_locks") == []
    assert rows(meta_db, "select name, status, error from runs") == [("gate", "KILLED", "terminated by SIGTERM")]
    assert "Traceback" not in running.output
