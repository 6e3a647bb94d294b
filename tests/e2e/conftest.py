"""End-to-end CLI fixtures: a store filled through the public API, and two ways to run ``shipyard``.

Most tests drive the real Typer app in-process with ``typer.testing.CliRunner`` (milliseconds each); a
handful run the installed console script in a child process (about half a second each) to prove the
same behaviour holds for a real process: exit codes, stderr, no tracebacks. Both read the test's own
store through ``SHIPYARD_STORE``, set by the autouse fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import shipyard
from shipyard.cli.main import app

SHIPYARD_SCRIPT = Path(sys.executable).with_name("shipyard")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

CliInvoker = Callable[..., Result]
ScriptRunner = Callable[..., "subprocess.CompletedProcess[str]"]
ErrorCheck = Callable[..., str]


@dataclass(frozen=True)
class Seeded:
    """The ids of the runs ``seeded`` logs (see the fixture for what each one holds)."""

    baseline: str
    sweep: str
    small: str
    large: str
    failed: str

    @property
    def all(self) -> set[str]:
        return {self.baseline, self.sweep, self.small, self.large, self.failed}


@pytest.fixture
def seeded() -> Seeded:
    """Five runs in two experiments, logged with the real fluent API.

    churn / logreg-l2 (baseline): C=1.0 penalty=l2; auc 0.84, f1 0.61, loss NaN; tags team, stage;
        artifact notes/summary.txt
    churn / sweep (parent): search=grid; best_auc 0.9
        churn / sweep-c0.1 (small, nested): C=0.1 penalty=l1; auc 0.7, f1 0.5, n_features 19, loss NaN
        churn / sweep-c0.5 (large, nested): C=0.5 penalty=l1; auc 0.9, f1 0.66, n_features 19, loss 0.3
    fraud / boom (failed): C=2; RuntimeError("diverged at epoch 3")
    """
    with shipyard.start_run(experiment="churn", name="logreg-l2", tags={"team": "ds"}) as baseline:
        shipyard.log_params({"C": 1.0, "penalty": "l2"})
        shipyard.log_metrics({"auc": 0.84, "f1": 0.61})
        shipyard.log_metric("loss", 0.7, step=0)
        shipyard.log_metric("loss", float("nan"), step=1)
        shipyard.set_tag("stage", "baseline")
        shipyard.log_text("baseline notes", "notes/summary.txt")
    with shipyard.start_run(experiment="churn", name="sweep") as sweep:
        shipyard.log_param("search", "grid")
        with shipyard.start_run(name="sweep-c0.1") as small:
            shipyard.log_params({"C": 0.1, "penalty": "l1"})
            shipyard.log_metrics({"auc": 0.7, "f1": 0.5, "n_features": 19, "loss": float("nan")})
        with shipyard.start_run(name="sweep-c0.5") as large:
            shipyard.log_params({"C": 0.5, "penalty": "l1"})
            shipyard.log_metrics({"auc": 0.9, "f1": 0.66, "n_features": 19, "loss": 0.3})
        shipyard.log_metric("best_auc", 0.9)
    with pytest.raises(RuntimeError), shipyard.start_run(experiment="fraud", name="boom") as failed:
        shipyard.log_param("C", 2)
        raise RuntimeError("diverged at epoch 3")
    return Seeded(baseline=baseline.id, sweep=sweep.id, small=small.id, large=large.id, failed=failed.id)


@pytest.fixture
def cli() -> CliInvoker:
    """``cli("runs", "list", env={...})``: the real app in-process; crashes propagate instead of hiding."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def run_script(tmp_path: Path) -> ScriptRunner:
    """``run_script("runs", "list", cwd=..., env={...})``: the console script in a child process.

    The child inherits this test's environment (so its ``SHIPYARD_STORE``); an ``env`` value of ``None``
    removes that variable.
    """

    def run(*args: str, cwd: Path | None = None,
            env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        return subprocess.run([str(SHIPYARD_SCRIPT), *args], capture_output=True, text=True, timeout=60,
                              cwd=cwd or tmp_path, env=environment, check=False)

    return run


def _check_input_error(exit_code: int, stdout: str, stderr: str, *, extra_lines: Sequence[str] = ()) -> str:
    stdout, stderr = _ANSI.sub("", stdout), _ANSI.sub("", stderr)
    assert exit_code == 2, f"exit code {exit_code}\nstdout: {stdout}\nstderr: {stderr}"
    assert "Traceback" not in stdout + stderr
    assert "Unexpected error" not in stdout + stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert [line for line in lines if line.startswith("Error:")] == lines[:1], stderr
    assert len(lines) == 1 + len(extra_lines), stderr
    for line, expected in zip(lines[1:], extra_lines, strict=True):
        assert line == expected, stderr
    return lines[0]


@pytest.fixture
def input_error() -> ErrorCheck:
    """``input_error(exit_code, stdout, stderr, extra_lines=[...])`` -> the "Error: ..." line.

    Asserts the CLI refused bad input the promised way: exit code 2, nothing on stdout, exactly one line
    starting with "Error:" on stderr followed only by ``extra_lines`` (a filter's caret), no traceback.
    """
    return _check_input_error
