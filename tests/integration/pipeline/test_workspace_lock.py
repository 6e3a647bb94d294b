"""Two ``shipyard repro`` in one workspace, a lock left by a dead process, and Ctrl-C during a stage.

The ``slow`` stage touches ``started`` (holding its pid) and then waits for the test to create ``release``
(up to 30 s), so the test decides when it ends instead of guessing with sleeps. The ``shipyard`` processes
are the installed script, each in its own process group with its output in files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import shipyard
from shipyard.pipeline.repro import lock_path, repro
from tests._support import pid_alive, wait_until
from tests.integration.pipeline._pipelines import (
    SHIPYARD_SCRIPT,
    calls,
    lock_file,
    make_project,
    plain,
    stage_runs,
    use_venv_python,
)

SLOW = """\
import os
import pathlib
import time

with open("calls.log", "a") as log:
    log.write("slow\\n")
pathlib.Path("started").write_text(str(os.getpid()))
print("slow: waiting for release", flush=True)
deadline = time.monotonic() + 30
while not pathlib.Path("release").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
pathlib.Path("out.txt").write_text("slow result\\n")
"""

SPEC = """\
stages:
  slow:
    cmd: python src/slow.py
    deps: [src/slow.py]
    outs: [out.txt]
"""


@dataclass
class Repro:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def stdout(self) -> str:
        return plain(self.out.read_text())

    @property
    def stderr(self) -> str:
        return plain(self.err.read_text())

    def wait(self) -> int:
        code = self.proc.wait(timeout=60)
        assert "Traceback" not in self.stderr, self.stderr
        return code


StartRepro = Callable[..., Repro]


@pytest.fixture
def start_repro(tmp_path: Path) -> Iterator[StartRepro]:
    """``start_repro(root, *args, env=...)``: ``shipyard repro`` in the background, in its own process group."""
    started: list[Repro] = []

    def start(root: Path, *args: str, env: dict[str, str] | None = None) -> Repro:
        index = len(started)
        out, err = tmp_path / f"repro{index}.out", tmp_path / f"repro{index}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen([str(SHIPYARD_SCRIPT), "repro", *args], cwd=root, stdout=stdout, stderr=stderr,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        started.append(Repro(proc, out, err))
        return started[-1]

    yield start
    for item in started:
        if item.proc.poll() is None:
            os.killpg(item.proc.pid, signal.SIGKILL)
            item.proc.wait()


@pytest.fixture
def slow_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_venv_python(monkeypatch)
    return make_project(tmp_path / "slowpoke", spec=SPEC, params=None, files={"src/slow.py": SLOW})


def wait_for_stage_start(root: Path) -> int:
    return int(wait_until(lambda: (root / "started").exists() and (root / "started").read_text(), timeout=30,
                          what="the slow stage to start"))


def test_a_second_repro_waits_for_the_first_or_gives_up_naming_it(slow_project: Path, start_repro: StartRepro,
                                                                  isolated_store: Path) -> None:
    first = start_repro(slow_project)
    wait_for_stage_start(slow_project)

    impatient = start_repro(slow_project, "--lock-timeout", "0.5")
    assert impatient.wait() == 2
    assert impatient.stdout == ""
    errors = [line for line in impatient.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, impatient.stderr
    assert errors[0].startswith(f"Error: The workspace is locked by pid {first.proc.pid} on {socket.gethostname()} (")
    assert "waited 0.5s" in errors[0] and "--lock-timeout" in errors[0]

    patient = start_repro(slow_project)
    wait_until(lambda: f"waiting for the workspace lock held by pid {first.proc.pid}" in patient.stderr, timeout=30,
               what="the second repro to say it waits for the first")
    assert patient.proc.poll() is None  # still waiting: it has not run anything
    (slow_project / "release").touch()

    assert first.wait() == 0, first.stderr
    assert first.stdout == "1 stages: 1 ran, 0 restored from the cache, 0 up to date.\n"
    assert patient.wait() == 0, patient.stderr
    assert patient.stdout == "1 stages: 0 ran, 0 restored from the cache, 1 up to date.\n"  # it saw the new lock
    assert calls(slow_project) == ["slow"]
    assert not lock_path(slow_project).exists()


@pytest.mark.parametrize("holder", ["dead-pid", "old-garbage"])
def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path, isolated_store: Path,
                                                     monkeypatch: pytest.MonkeyPatch, holder: str) -> None:
    use_venv_python(monkeypatch)
    root = make_project(tmp_path / "churn")
    lock = lock_path(root)
    if holder == "dead-pid":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "command": "shipyard repro",
                                    "since": "2026-01-01 00:00:00"}))
    else:  # a half-written lock file that stayed so: its writer died between creating and writing it
        lock.write_text("{")
        os.utime(lock, (1_000_000_000, 1_000_000_000))

    outcomes = repro(root=root, lock_timeout=0)  # no waiting: the lock must be recognised as stale at once

    assert [o.action for o in outcomes] == ["ran", "ran", "ran"]
    assert not lock.exists()


def test_a_lock_held_on_another_machine_is_respected(tmp_path: Path, isolated_store: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)
    root = make_project(tmp_path / "churn")
    holder = {"pid": 4242, "host": "build-box-7", "command": "shipyard repro", "since": "2026-01-01 00:00:00"}
    lock_path(root).write_text(json.dumps(holder))
    with pytest.raises(shipyard.ConflictError, match="locked by pid 4242 on build-box-7"):
        repro(root=root, lock_timeout=0.3)
    assert calls(root) == []
    assert json.loads(lock_path(root).read_text()) == holder  # not taken from its owner


def test_ctrl_c_during_a_stage_leaves_the_lock_file_and_the_cache_whole(slow_project: Path, isolated_store: Path,
                                                                        start_repro: StartRepro) -> None:
    (slow_project / "release").touch()
    repro(root=slow_project)
    (slow_project / "release").unlink()
    (slow_project / "started").unlink()
    before = (slow_project / "shipyard.lock").read_bytes()
    (slow_project / "src" / "slow.py").write_text(SLOW + "# tuned\n")

    running = start_repro(slow_project)
    stage_pid = wait_for_stage_start(slow_project)
    os.killpg(running.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group

    assert running.wait() == 130, running.stderr
    assert (slow_project / "shipyard.lock").read_bytes() == before  # untouched, so still valid
    assert lock_file(slow_project)["slow"]["outs"][0]["path"] == "out.txt"
    temp = isolated_store / "objects" / "tmp"
    assert not temp.exists() or list(temp.iterdir()) == []
    runs = stage_runs("slowpoke")
    assert [(run.name, run.status) for run in runs] == [("slow", "FINISHED"), ("slow", "KILLED")]
    assert not lock_path(slow_project).exists()
    wait_until(lambda: not pid_alive(stage_pid), timeout=10, what=f"the stage process {stage_pid} to end")
    assert (slow_project / "out.txt").read_text() == "slow result\n"  # the previous output, not a partial one

