"""Liveness of a recorded process: a start key tells a live owner from a later process given the same pid."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from shipyard.store.processes import is_alive, start_key, this_process
from shipyard.store.reaper import HEARTBEAT_TIMEOUT_S, LOOP_LOCK_TTL_S, why_gone


def test_this_process_is_alive_and_keyed() -> None:
    me = this_process()
    assert (me.host, me.pid) == (socket.gethostname(), os.getpid())
    assert me.start is not None and me.start.split(":")[2] == str(os.getpid())
    assert is_alive(me.host, me.pid, me.start) is True


def test_a_finished_process_is_not_alive_and_neither_is_its_key_on_another_pid() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    key = start_key(child.pid)
    assert key is not None and is_alive(socket.gethostname(), child.pid, key) is True
    assert child.stdin is not None
    child.stdin.close()
    child.wait()
    assert is_alive(socket.gethostname(), child.pid, key) is False
    boot, namespace, _, ticks = key.split(":")
    assert is_alive(None, None, f"{boot}:{namespace}:{os.getpid()}:{ticks}") is False  # a reused pid


def test_another_machine_cannot_be_judged_here() -> None:
    assert is_alive("gpu-box-3", 1, "0123456789abcdef:4026531836:1:42") is None
    assert is_alive("gpu-box-3", 1, None) is None
    assert is_alive(socket.gethostname(), None, None) is None


def test_without_a_key_a_pid_on_this_host_is_checked_as_it_is() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert is_alive(socket.gethostname(), child.pid, None) is False
    assert is_alive(socket.gethostname(), os.getpid(), None) is True


def test_the_heartbeat_decides_only_what_this_machine_cannot_see() -> None:
    now_ms = 10_000_000_000
    far = "0123456789abcdef:4026531836:1:42"
    fresh, stale = now_ms - 1000, now_ms - int(HEARTBEAT_TIMEOUT_S * 1000) - 1000
    assert why_gone("run", ("id", "gpu-box-3", 1, far, fresh), now_ms) is None
    assert "no heartbeat for 301 s" in (why_gone("run", ("id", "gpu-box-3", 1, far, stale), now_ms) or "")
    me = this_process()
    assert why_gone("run", ("id", me.host, me.pid, me.start, stale), now_ms) is None  # alive here: a long run
    # A loop lock is taken from a live holder that stopped beating too: the loop must go on.
    late = now_ms - int(LOOP_LOCK_TTL_S * 1000) - 1000
    assert why_gone("loop", ("nightly", me.host, me.pid, me.start, late), now_ms) is not None


def test_the_reaper_looks_for_the_status_the_schema_calls_running() -> None:
    from shipyard.store import reaper, schema

    assert reaper.RUNNING == schema.RUN_RUNNING
