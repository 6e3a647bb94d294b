"""Fixtures shared by every test: each test gets its own store and working directory.

Nothing is mocked: the store is a real SQLite file under ``tmp_path``, and subprocesses inherit the
same ``SHIPYARD_STORE`` so they write to it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.tracking import fluent

pytest_plugins = ["tests._alone"]  # @pytest.mark.alone under xdist


def pytest_configure(config: pytest.Config) -> None:
    """A shell that starts the suite in the background without job control (``make test &`` in a script, some
    CI runners) leaves SIGINT ignored, and an ignored signal stays ignored in every child: the tests that press
    Ctrl-C on a real ``shipyard repro`` would wait out their timeouts. A handled signal is reset to the
    default in a child, so handle it here, as an interactive shell would have left it."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store at ``tmp_path/.shipyard`` for this test; the working directory is ``tmp_path``."""
    root = tmp_path / ".shipyard"
    monkeypatch.setenv("SHIPYARD_STORE", str(root))
    monkeypatch.delenv("SHIPYARD_RUN_ID", raising=False)
    monkeypatch.delenv("SHIPYARD_EXPERIMENT", raising=False)
    monkeypatch.chdir(tmp_path)
    shipyard.set_store(None)
    yield root
    while fluent.active_run() is not None:
        fluent.end_run()
    shipyard.set_store(None)


@pytest.fixture
def run_python(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run a Python snippet in a child process that uses the test's store; returns the CompletedProcess."""

    def run(code: str, *, check: bool = True, timeout: float = 120, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
            cwd=cwd or tmp_path, env={**os.environ, **(env or {})}, check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"child failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    return run
