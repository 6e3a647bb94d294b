"""Child processes that really overlap, and direct looks at meta.db (polling itself is ``tests._support.wait_until``).

Children are real Python processes sharing the test's store (they inherit ``SHIPYARD_STORE``). To make
them overlap instead of merely starting close together, each child imports Shipyard (the slow part),
touches a "ready" file and blocks on its stdin; once every child is ready the parent writes ``go`` to
all of them. Their output goes to files, so a chatty child can never block on a full pipe.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests._support import wait_until

_PRELUDE = """\
import pathlib
import sys

import shipyard

INDEX = int(sys.argv[1])
ARGS = sys.argv[3:]
pathlib.Path(sys.argv[2]).touch()
if sys.stdin.readline().strip() != "go":
    raise SystemExit("released without 'go'")
"""


def query(db: Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one SQL statement on ``db`` with the plain sqlite3 driver (no Shipyard code) and return the rows."""
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return conn.execute(sql, parameters).fetchall()


@dataclass
class Child:
    index: int
    proc: subprocess.Popen[bytes]
    ready: Path
    out: Path
    err: Path
    returncode: int | None = None

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def describe(self) -> str:
        return f"child {self.index} (pid {self.proc.pid}, exit {self.returncode}):\n{self.stdout}\n{self.stderr}"


@dataclass
class Children:
    """Start groups of child processes, release them together, and collect their results."""

    workdir: Path
    started: list[Child] = field(default_factory=list)

    def start(self, code: str, count: int, *args: str) -> list[Child]:
        """Start ``count`` children running ``code`` after the barrier; ``INDEX`` and ``ARGS`` are defined."""
        folder = self.workdir / f"children-{len(self.started)}"
        folder.mkdir()
        group = []
        for index in range(count):
            out, err = folder / f"{index}.out", folder / f"{index}.err"
            ready = folder / f"{index}.ready"
            with out.open("wb") as stdout, err.open("wb") as stderr:
                proc = subprocess.Popen(
                    [sys.executable, "-c", _PRELUDE + code, str(index), str(ready), *args],
                    stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, cwd=self.workdir,
                )
            child = Child(index, proc, ready, out, err)
            group.append(child)
            self.started.append(child)
        return group

    def release(self, group: list[Child], *, timeout: float = 60) -> None:
        """Wait until every child of ``group`` is ready, then let them all go at once."""

        def all_ready() -> bool:
            for child in group:
                if child.proc.poll() is not None:
                    child.returncode = child.proc.returncode
                    pytest.fail(f"a child died before the barrier: {child.describe()}")
            return all(child.ready.exists() for child in group)

        wait_until(all_ready, timeout=timeout, what=f"{len(group)} children to import shipyard")
        for child in group:
            assert child.proc.stdin is not None
            child.proc.stdin.write(b"go\n")
            child.proc.stdin.flush()
        for child in group:
            assert child.proc.stdin is not None
            child.proc.stdin.close()

    def finish(self, group: list[Child], *, timeout: float = 120) -> list[Child]:
        """Wait for every child of ``group`` to exit (failing the test on a hang) and return them."""
        deadline = time.monotonic() + timeout
        for child in group:
            try:
                child.returncode = child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"child {child.index} still running after {timeout} s:\n{child.describe()}")
        return group

    def run(self, code: str, count: int, *args: str, timeout: float = 120) -> list[Child]:
        """Start, release together and finish ``count`` children."""
        group = self.start(code, count, *args)
        self.release(group)
        return self.finish(group, timeout=timeout)

    def kill_leftovers(self) -> None:
        for child in self.started:
            if child.proc.poll() is None:
                child.proc.kill()
            child.proc.wait()
            if child.proc.stdin is not None and not child.proc.stdin.closed:
                child.proc.stdin.close()


def assert_clean_exit(children: list[Child]) -> None:
    """Every child exited 0 without a traceback or a "database is locked" on its stderr."""
    for child in children:
        assert child.returncode == 0, child.describe()
        assert "Traceback" not in child.stderr, child.describe()
        assert "locked" not in child.stderr.lower(), child.describe()
