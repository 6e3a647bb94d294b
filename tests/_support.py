"""Test support shared by every test folder: polling with a deadline, background commands, git repositories.

Each helper here was once written twice in different folders, each copy drifting on its own. What stays in a
folder's own ``_*.py`` module is what only that folder's tests need (its projects, its servers, its data).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

T = TypeVar("T")

SHIPYARD_SCRIPT = Path(sys.executable).with_name("shipyard")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class StoreTemplate(Protocol):
    """A store built once per session (models trained, aliases set) that each test copies into its own store."""

    def copy_to(self, root: Path) -> Path: ...


def wait_until(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process; a zombie (exited, not yet reaped) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run ``git`` in ``repo`` (never signing, whatever the machine says) and return its stdout.

    A failure fails the test with git's own output, unless ``check`` is false.
    """
    done = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args], cwd=repo,
                          capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def init_repo(root: Path) -> Path:
    """Make ``root`` (created if missing) an empty git repository on ``main`` with a local identity.

    The identity lives in the repository's own config, so commits work on a machine with no global git
    configuration; nothing is committed yet.
    """
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    git(root, "config", "commit.gpgsign", "false")
    return root


@dataclass
class Background:
    """A command running in the background, its output in files so a chatty one never blocks on a full pipe.

    ``stdout`` and ``stderr`` come without ANSI escapes, ``output`` is both as written. ``traceback_is_failure``
    makes :meth:`wait` also fail the test when the command printed a traceback.
    """

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    traceback_is_failure: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdout(self) -> str:
        return plain(self.out.read_text())

    @property
    def stderr(self) -> str:
        return plain(self.err.read_text())

    @property
    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit; fails the test if it does not come within ``timeout`` s."""
        self.proc.send_signal(sig)
        return self.wait(timeout=timeout)

    def wait(self, *, timeout: float = 60) -> int:
        """The exit code; a command still running after ``timeout`` s is killed and fails the test."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"pid {self.pid} did not exit within {timeout} s:\n{self.output}")
        if self.traceback_is_failure:
            assert "Traceback" not in self.stderr, self.stderr
        return code

    def kill(self) -> None:
        """SIGKILL the command, with its whole process group when it leads one of its own, and reap it."""
        if self.proc.poll() is None:
            try:
                if os.getpgid(self.pid) == self.pid:
                    os.killpg(self.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            except ProcessLookupError:  # it ended between the poll and the signal
                pass
        self.proc.wait()


@dataclass
class Launcher:
    """Starts the installed ``shipyard`` script in the background; :meth:`kill_leftovers` ends what is left.

    ``new_session`` starts each command in a process group of its own, so its children die with it.
    """

    workdir: Path
    new_session: bool = False
    traceback_is_failure: bool = False
    started: list[Background] = field(default_factory=list)

    def start(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Background:
        folder = self.workdir / "background"
        folder.mkdir(exist_ok=True)
        index = len(self.started)
        out, err = folder / f"{index}.out", folder / f"{index}.err"
        environment = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
        environment.update(env or {})
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen([str(SHIPYARD_SCRIPT), *args], cwd=cwd, env=environment, stdout=stdout,
                                    stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=self.new_session)
        background = Background(proc, out, err, self.traceback_is_failure)
        self.started.append(background)
        return background

    def kill_leftovers(self) -> None:
        for background in self.started:
            background.kill()


def plain(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves)."""
    return _ANSI.sub("", text)

