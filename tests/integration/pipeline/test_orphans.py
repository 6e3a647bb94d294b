"""No orphans: a stage dies with the ``shipyard repro`` that started it, and runs of dead processes end KILLED.

The ``train`` stage takes an exclusive ``flock`` on ``train.flock`` for as long as it lives: a second ``train``
started while an orphan of the first is still running cannot take it, writes ``overlap`` and exits 3. So "one
train at a time" is checked by the kernel, not by timing. Each start appends the stage's pid to ``starts.log``;
the stage writes ``model.txt`` line by line until it has written 1,200 lines (a minute), or 3 when ``quick``
exists, which the test creates before the rerun.

Repro is killed the two ways a machine kills it: SIGKILL (no chance to clean up: the stage must still die)
and SIGTERM (repro ends the stage's process group, records the run KILLED and dies by SIGTERM itself).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

import shipyard
from shipyard.loop.history import cycles
from shipyard.store import current_store
from tests._support import wait_until
from tests.integration._children import query
from tests.integration.pipeline._pipelines import SHIPYARD_SCRIPT, make_project, plain, stage_runs, use_venv_python

TRAIN = """\
import fcntl
import os
import pathlib
import sys
import time

guard = open("train.flock", "w")
try:
    fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    pathlib.Path("overlap").write_text(f"train {os.getpid()} started while another train was running\\n")
    sys.exit(3)
with open("starts.log", "a") as log:
    log.write(f"{os.getpid()}\\n")
lines = 3 if pathlib.Path("quick").exists() else 1200
with open("model.txt", "w") as model:
    for line in range(lines):
        model.write(f"{line}\\n")
        model.flush()
        time.sleep(0.05)
"""

SPEC = """\
stages:
  train:
    cmd: python src/train.py
    deps: [src/train.py]
    outs: [model.txt]
"""

TWO_STAGES = """\
stages:
  left:
    cmd: python src/train.py left
    deps: [src/train.py]
    outs: [left.txt]
  right:
    cmd: python src/train.py right
    deps: [src/train.py]
    outs: [right.txt]
"""

# Two independent stages for --jobs 2: each records its pid and then runs for a minute.
PARALLEL = """\
import os
import pathlib
import sys
import time

name = sys.argv[1]
pathlib.Path(f"{name}.pid").write_text(str(os.getpid()))
for _ in range(1200):
    time.sleep(0.05)
pathlib.Path(f"{name}.txt").write_text("done\\n")
"""

DEADLINE_S = 10.0  # the stage of a killed repro must be gone within this


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_venv_python(monkeypatch)
    return make_project(tmp_path / "guarded", spec=SPEC, params=None, files={"src/train.py": TRAIN})


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started in their own session; any left running are killed with their group, and so is
    any process still working under ``tmp_path`` (an orphaned stage, when the code under test lets one live)."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for pid in processes_under(tmp_path):
        os.kill(pid, signal.SIGKILL)


def processes_under(folder: Path) -> list[int]:
    """The processes whose working directory is inside ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == str(folder) or cwd.startswith(f"{folder}{os.sep}"):
            found.append(int(entry.name))
    return found


def start_repro(root: Path, spawned: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    with (root.parent / f"repro{len(spawned)}.err").open("wb") as err:
        process = subprocess.Popen([str(SHIPYARD_SCRIPT), "repro", *args], cwd=root, stdout=subprocess.DEVNULL,
                                   stderr=err, start_new_session=True)
    spawned.append(process)
    return process


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")  # a zombie (exited, not yet reaped by pid 1) is not alive
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def started_pids(root: Path, count: int) -> list[int]:
    log = root / "starts.log"
    return wait_until(lambda: log.exists() and len(pids := [int(x) for x in log.read_text().split()]) >= count
                      and pids, timeout=60, what=f"{count} train start(s)")


def seconds_until_gone(pid: int, since: float | None = None) -> float:
    """Wait for process ``pid`` to end; returns the seconds from ``since`` (a monotonic time, default now)."""
    started = time.monotonic() if since is None else since
    wait_until(lambda: not alive(pid), timeout=DEADLINE_S, what=f"the stage process {pid} to end")
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_a_killed_repro_takes_its_stage_along_and_an_immediate_rerun_trains_alone(
        guarded: Path, spawned: list[subprocess.Popen[bytes]], meta_db: Path, kill: signal.Signals) -> None:
    first = start_repro(guarded, spawned)
    [orphan] = started_pids(guarded, 1)
    wait_until(lambda: (guarded / "model.txt").exists(), timeout=30, what="the stage to write")

    killed_at = time.monotonic()
    os.kill(first.pid, kill)
    assert first.wait(timeout=30) == -kill  # it dies by the signal it was sent, as a shell expects
    (guarded / "quick").touch()
    rerun = start_repro(guarded, spawned)  # at once, as a supervisor restarting it would
    gone_after = seconds_until_gone(orphan, since=killed_at)
    assert rerun.wait(timeout=60) == 0, (guarded.parent / "repro1.err").read_text()

    assert not (guarded / "overlap").exists(), (guarded / "overlap").read_text()
    assert len(started_pids(guarded, 2)) == 2  # the orphan's train and the rerun's: never at the same time
    assert (guarded / "model.txt").read_text() == "0\n1\n2\n"  # written by the rerun alone
    runs = stage_runs("guarded")
    assert [(run.name, run.status) for run in runs] == [("train", "KILLED"), ("train", "FINISHED")]
    print(f"{kill.name}: stage gone {gone_after:.2f} s after the signal to repro")


@pytest.mark.slow
def test_sigterm_of_repro_records_the_stage_run_killed_itself(guarded: Path, spawned: list[subprocess.Popen[bytes]],
                                                              meta_db: Path) -> None:
    first = start_repro(guarded, spawned)
    [stage] = started_pids(guarded, 1)
    os.kill(first.pid, signal.SIGTERM)
    assert first.wait(timeout=30) == -signal.SIGTERM
    seconds_until_gone(stage)
    # Read with plain sqlite3 (opening the store would let the reaper do it): repro recorded it before dying.
    assert query(meta_db, "SELECT status, error FROM runs") == [("KILLED", "terminated by SIGTERM")]
    assert "Traceback" not in plain((guarded.parent / "repro0.err").read_text())


@pytest.mark.slow
def test_sigterm_of_repro_with_parallel_stages_ends_all_of_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                spawned: list[subprocess.Popen[bytes]],
                                                                meta_db: Path) -> None:
    use_venv_python(monkeypatch)
    root = make_project(tmp_path / "pair", spec=TWO_STAGES, params=None, files={"src/train.py": PARALLEL})
    running = start_repro(root, spawned, "--jobs", "2")
    pids = [int(wait_until(lambda name=name: (root / f"{name}.pid").exists() and (root / f"{name}.pid").read_text(),
                           timeout=60, what=f"stage {name} to start")) for name in ("left", "right")]
    os.kill(running.pid, signal.SIGTERM)
    assert running.wait(timeout=30) == -signal.SIGTERM
    for pid in pids:
        seconds_until_gone(pid)
    assert sorted(query(meta_db, "SELECT name, status FROM runs")) == [("left", "KILLED"), ("right", "KILLED")]


KEEP_RUNNING = """
import time

import shipyard

run = shipyard.start_run(experiment="doomed", name="victim")
shipyard.log_metric("loss", 0.5)
shipyard.flush()
print(run.id, flush=True)
time.sleep(600)
"""


def update(db: Path, sql: str, parameters: tuple[object, ...]) -> None:
    """Change meta.db behind Shipyard's back (plain sqlite3, committed)."""
    with closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        conn.execute(sql, parameters)


def start_script(tmp_path: Path, code: str, name: str) -> tuple[subprocess.Popen[bytes], str]:
    out = tmp_path / f"{name}.out"
    with out.open("wb") as stdout:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=stdout, stderr=subprocess.DEVNULL)
    first_line = wait_until(lambda: out.read_text().strip(), timeout=60, what=f"{name} to start")
    return child, first_line


def test_a_run_left_running_by_a_killed_script_is_killed_when_the_store_is_next_opened(
        tmp_path: Path, meta_db: Path) -> None:
    killed, killed_id = start_script(tmp_path, KEEP_RUNNING, "killed")
    living, living_id = start_script(tmp_path, KEEP_RUNNING, "living")
    try:
        killed.kill()
        assert killed.wait(timeout=20) == -signal.SIGKILL
        assert query(meta_db, "SELECT status FROM runs WHERE id = ?", (killed_id,)) == [("RUNNING",)]

        shipyard.set_store(None)  # this process opens the store now
        run = shipyard.get_run(killed_id)
        assert run.status == "KILLED" and run.end_time is not None
        assert f"pid {killed.pid}" in (run.error or "") and "gone" in (run.error or "")
        assert run.metrics == {"loss": 0.5}
        assert shipyard.get_run(living_id).status == "RUNNING"  # its process is alive: left alone
    finally:
        living.kill()
        living.wait()


def test_a_reused_pid_does_not_keep_a_dead_run_running(tmp_path: Path, meta_db: Path) -> None:
    """The pid of a dead run's process now belongs to another process: the start time tells them apart."""
    child, run_id = start_script(tmp_path, KEEP_RUNNING, "recycled")
    child.kill()
    child.wait()
    [(key,)] = query(meta_db, "SELECT process_start FROM runs WHERE id = ?", (run_id,))
    boot, namespace, pid, ticks = key.split(":")
    assert int(pid) == child.pid
    reused = os.getpid()  # alive, but not the process that started the run: it started at another tick
    update(meta_db, "UPDATE runs SET pid = ?, process_start = ? WHERE id = ?",
           (reused, f"{boot}:{namespace}:{reused}:{ticks}", run_id))
    shipyard.set_store(None)
    run = shipyard.get_run(run_id)
    assert run.status == "KILLED" and f"pid {reused}" in (run.error or "")


def test_runs_of_another_machine_end_only_when_their_heartbeat_stops(tmp_path: Path, meta_db: Path) -> None:
    from shipyard.store.reaper import HEARTBEAT_TIMEOUT_S

    with shipyard.start_run(experiment="remote") as quiet, shipyard.start_run(name="beating") as beating:
        pass
    now_ms = int(time.time() * 1000)
    late_ms = now_ms - int(HEARTBEAT_TIMEOUT_S * 1000) - 60_000
    elsewhere = "0123456789abcdef:4026531836:1:42"  # another machine's boot id
    for run_id, beat in ((quiet.id, late_ms), (beating.id, now_ms)):
        update(meta_db, "UPDATE runs SET status = 'RUNNING', end_time = NULL, host = 'gpu-box-3', pid = 1, "
                        "process_start = ?, heartbeat_at = ? WHERE id = ?", (elsewhere, beat, run_id))
    shipyard.set_store(None)
    stopped = shipyard.get_run(quiet.id)
    assert stopped.status == "KILLED" and "gpu-box-3" in (stopped.error or "") and "heartbeat" in (stopped.error or "")
    assert shipyard.get_run(beating.id).status == "RUNNING"


HOLD_A_LOOP = """
import time

from shipyard.loop.history import LoopLock
from shipyard.store import current_store

number, _ = LoopLock(current_store(), "nightly").start_cycle("manual")
print(number, flush=True)
time.sleep(600)
"""


def test_a_loop_cycle_of_a_killed_process_is_interrupted_when_the_store_is_next_opened(
        tmp_path: Path, meta_db: Path) -> None:
    child, number = start_script(tmp_path, HOLD_A_LOOP, "looper")
    child.kill()
    child.wait()
    assert query(meta_db, "SELECT status FROM loop_cycles") == [("running",)]
    assert query(meta_db, "SELECT pid FROM loop_locks") == [(child.pid,)]
    shipyard.set_store(None)
    [cycle] = cycles(current_store(), "nightly")
    assert (cycle.number, cycle.status) == (int(number), "interrupted")
    assert f"pid {child.pid}" in (cycle.error or "") and "stopped" in (cycle.error or "")
    assert query(meta_db, "SELECT COUNT(*) FROM loop_locks") == [(0,)]
