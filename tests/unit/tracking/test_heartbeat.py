"""A process beats for the RUNNING runs it owns, and for no other."""

from __future__ import annotations

import subprocess
import sys

import shipyard
from shipyard.store import current_store
from shipyard.tracking.heartbeat import Heartbeat
from tests._support import wait_until


def beat_of(run_id: str) -> int:
    rows = current_store().db.read_sqlite("SELECT heartbeat_at FROM runs WHERE id = ?", (run_id,))
    assert rows is not None
    return int(rows[0][0])


def test_a_run_beats_while_it_runs_and_stops_when_it_ends() -> None:
    with shipyard.start_run() as run:
        created = beat_of(run.id)
        quick = Heartbeat(current_store(), interval=0.02)
        quick.own(run.id)
        wait_until(lambda: beat_of(run.id) > created, timeout=10, what="a heartbeat")
    ended = beat_of(run.id)
    assert quick.beat() == 0  # FINISHED: no longer beaten for
    assert beat_of(run.id) == ended


def test_only_the_runs_this_process_owns_are_beaten() -> None:
    """A run another (live) process created is its owner's to beat for, even when this process logs to it."""
    with subprocess.Popen([sys.executable, "-c", OWN_A_RUN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        theirs = child.stdout.readline().strip()
        beats = Heartbeat(current_store())
        beats.own(theirs)
        assert beats.beat() == 0
        with shipyard.start_run():
            assert beats.beat() == 1  # this process's own run
        child.stdin.close()


OWN_A_RUN = """
import sys
import shipyard
run = shipyard.start_run()
print(run.id, flush=True)
sys.stdin.read()
"""
