"""Processes that end badly: SIGKILL while logging, no ``with`` block, an uncaught exception, Ctrl-C.

A killed process may lose the points it had not flushed yet, but what it flushed must be whole: a
contiguous prefix of its steps, consistent with ``latest_metrics``, in a database that still passes
SQLite's integrity check and accepts new runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

import shipyard
from tests._support import wait_until
from tests.integration._children import query

# Logs forever and never calls shipyard.flush(): only the background flusher writes. argv[1] is the
# seconds of "training" between points; 0 makes the batches (so the transactions a kill may cut) large.
LOG_FOREVER = """
import sys
import time

import shipyard

pace = float(sys.argv[1])
run = shipyard.start_run(experiment="crash", name="doomed")
print(run.id, flush=True)
step = 0
while True:
    shipyard.log_metric("loss", step * 0.5)
    step += 1
    if pace:
        time.sleep(pace)
"""


@pytest.mark.parametrize(("pace", "flushes"), [(0.0, 1), (0.0002, 2)], ids=["tight-loop", "paced-loop"])
def test_sigkill_keeps_a_whole_prefix_of_the_flushed_points(tmp_path: Path, meta_db: Path, pace: float,
                                                           flushes: int) -> None:
    shipyard.current_store()  # the parent polls meta.db, so it must exist before the child starts
    with (tmp_path / "child.out").open("wb") as out, (tmp_path / "child.err").open("wb") as err:
        child = subprocess.Popen([sys.executable, "-c", LOG_FOREVER, str(pace)], stdout=out, stderr=err)
    try:
        stored = 0
        for _ in range(flushes):  # with two, the prefix spans several transactions
            stored = wait_until(partial(_points_beyond, meta_db, stored), timeout=20,
                                what=f"the background flush to store more than {stored} points")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=20) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    run_id = (tmp_path / "child.out").read_text().split()[0]
    assert "Traceback" not in (tmp_path / "child.err").read_text()

    run = shipyard.get_run(run_id)
    assert (run.status, run.end_time, run.error, run.name) == ("RUNNING", None, None, "doomed")
    rows = query(meta_db, "SELECT step, value FROM metrics WHERE run_id = ? AND key = 'loss' ORDER BY step",
                 (run_id,))
    assert len(rows) >= stored
    assert rows == [(step, step * 0.5) for step in range(len(rows))]  # steps 0..k, every value intact
    last = len(rows) - 1
    assert query(meta_db, "SELECT step, value FROM latest_metrics WHERE run_id = ? AND key = 'loss'",
                 (run_id,)) == [(last, last * 0.5)]
    assert run.metrics == {"loss": last * 0.5}

    assert query(meta_db, "PRAGMA integrity_check") == [("ok",)]
    with shipyard.start_run(experiment="crash", name="survivor") as survivor:
        shipyard.log_metric("loss", 1.0)
    assert shipyard.get_run(survivor.id).status == "FINISHED"
    assert shipyard.get_run(survivor.id).metrics == {"loss": 1.0}
    assert query(meta_db, "PRAGMA integrity_check") == [("ok",)]


def _points_beyond(db: Path, seen: int) -> int:
    """How many metric points are stored, or 0 while that is still no more than ``seen``."""
    stored = int(query(db, "SELECT COUNT(*) FROM metrics")[0][0])
    return stored if stored > seen else 0


def test_an_implicit_run_finishes_when_the_script_exits(run_python) -> None:  # type: ignore[no-untyped-def]
    done = run_python(
        "import shipyard\n"
        "shipyard.log_param('C', 0.5)\n"
        "for step in range(1000):\n"
        "    shipyard.log_metric('loss', 1 / (step + 1))\n"
        "print(shipyard.active_run().id)\n"
    )
    run = shipyard.get_run(done.stdout.strip())
    assert run.status == "FINISHED"
    assert run.end_time is not None and run.error is None
    assert run.params == {"C": "0.5"}
    assert run.metrics == {"loss": 1 / 1000}
    assert list(shipyard.metric_history(run.id, "loss")["step"]) == list(range(1000))


def test_an_uncaught_exception_fails_the_implicit_run(run_python) -> None:  # type: ignore[no-untyped-def]
    done = run_python(
        "import shipyard\n"
        "for step in range(10):\n"
        "    shipyard.log_metric('loss', float(step))\n"
        "print(shipyard.active_run().id, flush=True)\n"
        "raise RuntimeError('diverged at epoch 3')\n",
        check=False,
    )
    assert done.returncode == 1
    assert "RuntimeError: diverged at epoch 3" in done.stderr  # the user still sees their traceback
    run = shipyard.get_run(done.stdout.strip())
    assert run.status == "FAILED"
    assert run.error == "RuntimeError: diverged at epoch 3"
    assert run.end_time is not None
    assert run.metrics == {"loss": 9.0}  # the points logged before the crash are kept


# Ctrl-C in a training loop: the interpreter exits through KeyboardInterrupt, running atexit handlers.
# Each step "trains" for 5 ms, so the signal lands in the loop, not in a garbage collection of the main
# thread: CPython ignores a KeyboardInterrupt raised inside a weakref callback (SQLAlchemy registers
# some), and a loop that only logs would keep running.
INTERRUPTED_IN_BLOCK = """
import time

import shipyard

with shipyard.start_run() as run:
    shipyard.log_metric("loss", 0.5)
    print(run.id, flush=True)
    while True:
        shipyard.log_metric("loss", 0.5)
        time.sleep(0.005)
"""

INTERRUPTED_IMPLICIT = """
import time

import shipyard

shipyard.log_metric("loss", 0.5)
print(shipyard.active_run().id, flush=True)
while True:
    shipyard.log_metric("loss", 0.5)
    time.sleep(0.005)
"""


def _interrupt(tmp_path: Path, code: str) -> tuple[str, str]:
    """Run ``code`` until it prints its run id, send it SIGINT; return (run id, stderr)."""
    out_path, err_path = tmp_path / "interrupted.out", tmp_path / "interrupted.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err)
    try:
        run_id = wait_until(lambda: out_path.read_text().strip(), timeout=20, what="the child to print its run id")
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) == -signal.SIGINT
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return run_id, err_path.read_text()


def test_ctrl_c_inside_a_with_block_marks_the_run_killed(tmp_path: Path) -> None:
    run_id, stderr = _interrupt(tmp_path, INTERRUPTED_IN_BLOCK)
    assert "KeyboardInterrupt" in stderr
    run = shipyard.get_run(run_id)
    assert (run.status, run.metrics) == ("KILLED", {"loss": 0.5})
    assert run.end_time is not None


def test_ctrl_c_of_a_script_logging_implicitly_marks_the_run_killed(tmp_path: Path) -> None:
    """An uncaught KeyboardInterrupt gives the implicit run the status a ``with`` block gives it: KILLED."""
    run_id, stderr = _interrupt(tmp_path, INTERRUPTED_IMPLICIT)
    assert "KeyboardInterrupt" in stderr
    run = shipyard.get_run(run_id)
    assert run.metrics == {"loss": 0.5} and run.end_time is not None
    assert run.status == "KILLED"


# SIGTERM (what `kill`, systemd, Kubernetes and `timeout` send) gets what Ctrl-C gets: the buffered points are
# written and the run ends KILLED; then the process still dies by SIGTERM, as its parent expects. 500 points are
# logged and the signal sent at once, well inside the background flusher's one-second interval.
TERMINATED = """
import time

import shipyard

{start}
for step in range(500):
    shipyard.log_metric("loss", step * 0.5)
print(shipyard.active_run().id, flush=True)
time.sleep(600)
"""

STARTS = {
    "implicit": "",
    "with-block": "run = shipyard.start_run(experiment='term')\nrun.__enter__()",
    "nested": "outer = shipyard.start_run(experiment='term')\ninner = shipyard.start_run(name='inner')",
}


def _terminate(tmp_path: Path, code: str) -> tuple[str, int, str]:
    """Run ``code`` until it prints its run id, send it SIGTERM; return (run id, exit status, stderr)."""
    out_path, err_path = tmp_path / "terminated.out", tmp_path / "terminated.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err)
    try:
        run_id = wait_until(lambda: out_path.read_text().strip(), timeout=20, what="the child to print its run id")
        child.send_signal(signal.SIGTERM)
        status = child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return run_id.splitlines()[-1], status, err_path.read_text()


@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
def test_sigterm_writes_the_buffered_points_and_marks_the_run_killed(tmp_path: Path, meta_db: Path,
                                                                     start: str) -> None:
    run_id, status, stderr = _terminate(tmp_path, TERMINATED.format(start=STARTS[start]))
    assert status == -signal.SIGTERM, stderr  # still dies by SIGTERM: the exit status a supervisor expects
    assert "Traceback" not in stderr
    assert query(meta_db, "SELECT COUNT(*) FROM metrics WHERE run_id = ?", (run_id,)) == [(500,)]
    run = shipyard.get_run(run_id)
    assert (run.status, run.error, run.metrics) == ("KILLED", "terminated by SIGTERM", {"loss": 499 * 0.5})
    assert run.end_time is not None
    if start == "nested":  # every run the process had open ends the same way
        statuses = query(meta_db, "SELECT name, status FROM runs ORDER BY seq")
        assert [status for _, status in statuses] == ["KILLED", "KILLED"]


OWN_HANDLER = """
import pathlib
import signal
import sys
import time

import shipyard


def mine(signum, frame):
    pathlib.Path("mine.txt").write_text("my handler ran")
    sys.exit(0)


signal.signal(signal.SIGTERM, mine)
with shipyard.start_run(experiment="own") as run:
    shipyard.log_metric("loss", 0.5)
    assert signal.getsignal(signal.SIGTERM) is mine
    print(run.id, flush=True)
    time.sleep(600)
"""


def test_a_program_with_its_own_sigterm_handler_keeps_it(tmp_path: Path) -> None:
    run_id, status, stderr = _terminate(tmp_path, OWN_HANDLER)
    assert status == 0, stderr
    assert (tmp_path / "mine.txt").read_text() == "my handler ran"
    run = shipyard.get_run(run_id)
    assert run.metrics == {"loss": 0.5}
    assert run.status in ("FINISHED", "FAILED")  # ended by the program's own exit, not by a SIGTERM of ours


def test_a_run_started_in_another_thread_leaves_sigterm_alone(run_python) -> None:  # type: ignore[no-untyped-def]
    """Only the main thread may set a signal handler: a run started elsewhere must neither fail nor try."""
    done = run_python(
        "import signal, threading\n"
        "import shipyard\n"
        "errors = []\n"
        "def work():\n"
        "    try:\n"
        "        with shipyard.start_run(experiment='threaded'):\n"
        "            shipyard.log_metric('loss', 0.5)\n"
        "    except BaseException as exc:\n"
        "        errors.append(exc)\n"
        "worker = threading.Thread(target=work)\n"
        "worker.start()\n"
        "worker.join()\n"
        "print(errors, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)\n"
    )
    assert done.stdout.split() == ["[]", "True"]


@pytest.mark.alone  # Pool.terminate() can hang in CPython itself when a loaded machine kills a worker mid-get
def test_forked_workers_of_a_tracked_program_still_die_by_sigterm(run_python) -> None:  # type: ignore[no-untyped-def]
    """A multiprocessing pool ends its workers with SIGTERM: they inherit the handler, not its thread."""
    done = run_python(
        "import multiprocessing\n"
        "import shipyard\n"
        "def square(value):\n"
        "    return value * value\n"
        "if __name__ == '__main__':\n"
        "    with shipyard.start_run(experiment='pool'):\n"
        "        pool = multiprocessing.get_context('fork').Pool(2)\n"
        "        print(sum(pool.map(square, range(10))))\n"
        "        pool.terminate()\n"
        "        pool.join()\n"
        "        print('terminated')\n",
        timeout=60,
    )
    assert done.stdout.split() == ["285", "terminated"]
