"""``shipyard rollout`` as a user types it (the console script in a child process): start, status, abort,
and bad input refused with one line. Traffic and the judge's rollbacks are in
tests/integration/serving/test_rollout.py; here no server runs, so the canary has no requests and holds."""

from __future__ import annotations

import json
from pathlib import Path

from tests._tiny_model import register_tiny_pair
from tests.e2e.conftest import ErrorCheck, ScriptRunner


def test_start_status_and_abort(run_script: ScriptRunner, input_error: ErrorCheck, tmp_path: Path) -> None:
    register_tiny_pair("rollout-cli")
    none_yet = run_script("rollout", "status", "tiny")
    assert "has no rollout yet" in input_error(none_yet.returncode, none_yet.stdout, none_yet.stderr)

    started = run_script("rollout", "start", "tiny", "--candidate", "challenger", "--steps", "10,100",
                         "--interval", "0.05", "--timeout", "0", "--log-dir", str(tmp_path / "logs"), "--json")
    assert started.returncode == 0, started.stderr
    rollout = json.loads(started.stdout)
    assert rollout["status"] == "running" and rollout["weight"] == 10.0 and rollout["candidate_version"] == 2
    assert [check["action"] for check in rollout["checks"]] == ["hold"]
    assert "0 of the 100 requests" in rollout["checks"][0]["reason"]

    again = run_script("rollout", "start", "tiny", "--candidate", "challenger", "--timeout", "0")
    assert "is still running" in input_error(again.returncode, again.stdout, again.stderr)

    status = run_script("rollout", "status", "tiny")
    assert status.returncode == 0, status.stderr
    assert "Rollout 1 of tiny: v2 against champion (v1), running at 10% (steps 10, 100), 1 checks" in status.stdout
    assert "last check: hold" in status.stdout

    aborted = run_script("rollout", "abort", "tiny", "--reason", "not today")
    assert aborted.returncode == 0 and "Rollout 1 aborted: tiny@champion serves v1 again." in aborted.stdout
    shown = json.loads(run_script("rollout", "status", "tiny", "--json").stdout)
    assert shown["status"] == "aborted" and shown["weight"] == 0.0 and shown["reason"] == "not today"
    twice = run_script("rollout", "abort", "tiny")
    assert "No rollout of 'tiny' is running" in input_error(twice.returncode, twice.stdout, twice.stderr)


def test_bad_steps_and_candidates_are_one_line(run_script: ScriptRunner, input_error: ErrorCheck) -> None:
    register_tiny_pair("rollout-cli")
    steps = run_script("rollout", "start", "tiny", "--candidate", "challenger", "--steps", "50,20")
    assert "--steps must rise" in input_error(steps.returncode, steps.stdout, steps.stderr)
    same = run_script("rollout", "start", "tiny", "--candidate", "1")
    assert "already serves version 1" in input_error(same.returncode, same.stdout, same.stderr)
