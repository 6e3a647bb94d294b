"""``shipyard add``, ``checkout`` and ``gc --force`` take the workspace lock that ``repro`` takes.

Real processes only. A *holder* is a small Python process that takes the lock through the library, says so
by creating a ``ready`` file and keeps it until the test creates ``release`` (or 30 s pass), so the test
decides when the lock is free instead of guessing with sleeps. The commands under test are the installed
``shipyard`` script in the background, with their output in files, polled with a deadline.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.pipeline import repro, workspace_lock
from tests._support import Background, Launcher, wait_until
from tests.integration.pipeline._data import (
    Project,
    assert_ok,
    cli,
    digest,
    make_project,
    pointer_text,
    run_script,
    write,
)

HOLDER = """\
import pathlib
import sys
import time

from shipyard.pipeline.workspace_lock import lock_path, workspace_lock

root, ready, release = (pathlib.Path(arg) for arg in sys.argv[1:4])
with workspace_lock(lock_path(root), timeout=10):
    ready.touch()
    deadline = time.monotonic() + 30
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""

RAW_A = b"id,churn\n1,0\n"
RAW_B = b"id,churn\n1,0\n2,1\n3,1\n"
RAW_KEPT = b"id,churn\n9,1\n"


@dataclass
class Holder:
    proc: subprocess.Popen[bytes]
    release: Path

    def let_go(self) -> None:
        self.release.touch()
        assert self.proc.wait(timeout=30) == 0


Start = Callable[..., Background]


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return make_project(tmp_path, isolated_store, monkeypatch)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """``start(cwd, *args)``: the ``shipyard`` script in the background, in its own process group."""
    launcher = Launcher(tmp_path, new_session=True, traceback_is_failure=True)

    def run(cwd: Path, *args: str) -> Background:
        return launcher.start(*args, cwd=cwd)

    yield run
    launcher.kill_leftovers()


@pytest.fixture
def hold(tmp_path: Path) -> Iterator[Callable[[Path], Holder]]:
    """``hold(root)``: a process holding ``root``'s workspace lock until told to let go."""
    holders: list[Holder] = []

    def take(root: Path) -> Holder:
        index = len(holders)
        ready, release = tmp_path / f"holder{index}.ready", tmp_path / f"holder{index}.release"
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), str(ready), str(release)])
        holders.append(Holder(proc, release))
        wait_until(lambda: ready.exists() or proc.poll() is not None, timeout=30, what="the holder to take the lock")
        assert proc.poll() is None, "the holder died before taking the lock"
        return holders[-1]

    yield take
    for holder in holders:
        if holder.proc.poll() is None:
            holder.proc.kill()
        holder.proc.wait()


def _says_waiting_for(command: Background, pid: int) -> bool:
    return f"waiting for the workspace lock held by pid {pid} (" in command.stderr


def test_add_checkout_and_repro_share_one_lock_file(tmp_path: Path) -> None:
    (tmp_path / "with-git" / ".git").mkdir(parents=True)
    (tmp_path / "without-git").mkdir()
    for root in (tmp_path / "with-git", tmp_path / "without-git"):
        assert workspace_lock.lock_path(root) == repro.lock_path(root)
    assert workspace_lock.lock_path(tmp_path / "with-git").parent.name == ".git"


def test_two_adds_at_once_both_wait_for_the_holder_and_both_land(project: Project, start: Start,
                                                                 hold: Callable[[Path], Holder]) -> None:
    write(project.root, {"data/a.csv": RAW_A, "data/b.csv": RAW_B})
    holder = hold(project.root)

    first = start(project.root, "add", "data/a.csv")
    second = start(project.root, "add", "data/b.csv")
    for command in (first, second):
        wait_until(lambda command=command: _says_waiting_for(command, holder.proc.pid), timeout=30,
                   what="both adds to say whom they wait for")
    assert first.proc.poll() is None and second.proc.poll() is None  # waiting, not done
    assert not (project.root / "data/a.csv.ship").exists() and not (project.root / "data/b.csv.ship").exists()
    holder.let_go()

    assert first.wait() == 0, first.stderr
    assert second.wait() == 0, second.stderr
    assert f"Tracking data/a.csv ({len(RAW_A)} bytes)" in first.stdout
    assert f"Tracking data/b.csv ({len(RAW_B)} bytes)" in second.stdout
    assert (project.root / "data/a.csv.ship").read_text() == pointer_text(digest(RAW_A), len(RAW_A))
    assert (project.root / "data/b.csv.ship").read_text() == pointer_text(digest(RAW_B), len(RAW_B))
    assert (project.root / "data/.gitignore").read_text() in {"/a.csv\n/b.csv\n", "/b.csv\n/a.csv\n"}
    assert project.object_hashes() >= {digest(RAW_A), digest(RAW_B)}
    assert not workspace_lock.lock_path(project.root).exists()


@pytest.mark.parametrize("command", [("add", "data/raw.csv"), ("checkout",), ("gc", "--force")])
def test_a_held_lock_makes_a_command_give_up_after_its_timeout_naming_the_holder(
        project: Project, start: Start, hold: Callable[[Path], Holder], command: tuple[str, ...]) -> None:
    write(project.root, {"data/raw.csv": RAW_A, "data/old.csv": RAW_B, "data/kept.csv": RAW_KEPT})
    assert_ok(cli("add", "data/old.csv", "data/kept.csv"))
    (project.root / "data/old.csv").unlink()
    (project.root / "data/old.csv.ship").unlink()  # its object is now unreferenced: what gc would delete
    (project.root / "data/kept.csv").unlink()  # what checkout would restore
    # and data/raw.csv is what add would cache
    before = {path.relative_to(project.root).as_posix() for path in project.root.rglob("*") if ".git" not in path.parts}
    holder = hold(project.root)

    impatient = start(project.root, *command, "--lock-timeout", "0.5")

    assert impatient.wait() == 2
    assert impatient.stdout == ""
    errors = [line for line in impatient.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, impatient.stderr
    assert errors[0].startswith(f"Error: The workspace is locked by pid {holder.proc.pid} on {socket.gethostname()} (")
    assert "waited 0.5s" in errors[0] and "--lock-timeout" in errors[0]
    assert str(workspace_lock.lock_path(project.root)) in errors[0]
    assert _says_waiting_for(impatient, holder.proc.pid)
    after = {path.relative_to(project.root).as_posix() for path in project.root.rglob("*") if ".git" not in path.parts}
    assert after == before  # nothing written, nothing restored
    assert project.object_hashes() == {digest(RAW_B), digest(RAW_KEPT)}  # nothing deleted, nothing cached
    holder.let_go()


def test_a_lock_left_by_a_killed_process_is_taken_over(project: Project, hold: Callable[[Path], Holder]) -> None:
    write(project.root, {"data/raw.csv": RAW_A})
    holder = hold(project.root)
    holder.proc.send_signal(signal.SIGKILL)  # no chance to clean up
    holder.proc.wait()
    lock = workspace_lock.lock_path(project.root)
    assert json.loads(lock.read_text())["pid"] == holder.proc.pid  # left behind

    done = run_script("add", "data/raw.csv", "--lock-timeout", "0", cwd=project.root)  # no waiting allowed

    assert done.returncode == 0, done.stderr
    assert "waiting" not in done.stderr
    assert (project.root / "data/raw.csv.ship").read_text() == pointer_text(digest(RAW_A), len(RAW_A))
    assert not lock.exists()

    (project.root / "data/raw.csv").unlink()
    lock.write_text(json.dumps({"pid": holder.proc.pid, "host": socket.gethostname(), "command": "shipyard add",
                                "since": "2026-01-01 00:00:00"}))
    done = run_script("checkout", "--lock-timeout", "0", cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert (project.root / "data/raw.csv").read_bytes() == RAW_A
    assert not lock.exists()


def test_a_checkout_waits_for_a_running_add_and_then_sees_its_pointer(
        project: Project, start: Start, hold: Callable[[Path], Holder]) -> None:
    write(project.root, {"data/raw.csv": RAW_A})
    holder = hold(project.root)
    adding = start(project.root, "add", "data/raw.csv")
    wait_until(lambda: _says_waiting_for(adding, holder.proc.pid), timeout=30, what="the add to wait")
    holder.let_go()
    assert adding.wait() == 0, adding.stderr
    (project.root / "data/raw.csv").unlink()

    checking = start(project.root, "checkout")

    assert checking.wait() == 0, checking.stderr
    assert checking.stdout.splitlines() == ["restored data/raw.csv", "1 restored, 0 already current."]
    assert (project.root / "data/raw.csv").read_bytes() == RAW_A
