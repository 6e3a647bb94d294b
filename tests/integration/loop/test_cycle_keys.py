"""``shipyard loop run --step N --cycle-key KEY --attempt N``: one cycle per orchestrator run, retried once.

This is how the exported Airflow DAG calls Shipyard, one task per step: the tasks of one DAG run share its run
id as the cycle key, so they make ONE cycle with every step, and a retried task joins that cycle again. Airflow
owns the retries (``on_failure.retries`` goes into the DAG), so with ``--attempt`` Shipyard runs the step once
instead of retrying it too, and the failure webhook goes out only from the last attempt. The real Airflow run is
in ``test_airflow.py``; these run the same commands without it.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests._support import pid_alive, wait_until
from tests.integration.loop._project import RETRAIN, calls, cli_json, cycles, make_project
from tests.integration.pipeline._pipelines import input_error, plain, run_cli

KEY = "manual__2026-12-06T12:00:00+00:00"


def _step(root: Path, loop: str, step: int, *, key: str = KEY, attempt: int = 1,
          env: dict[str, str] | None = None) -> Any:
    return run_cli("loop", "run", loop, "--step", str(step), "--cycle-key", key, "--attempt", str(attempt), "--json",
                   cwd=root, env=env, timeout=180)


def test_the_steps_of_one_key_make_one_cycle_with_every_step(tmp_path: Path, meta_db: Path) -> None:
    root = make_project(tmp_path / "loopy", {"retrain": RETRAIN})

    first = cli_json(_step(root, "retrain", 1))
    assert (first["cycle"], first["status"]) == (1, "running")  # waiting for its next step
    assert cycles(meta_db, "retrain") == [(1, f"key {KEY}", "running")]
    second = cli_json(_step(root, "retrain", 2))
    third = cli_json(_step(root, "retrain", 3))
    assert [result["cycle"] for result in (second, third)] == [1, 1]
    assert third["status"] == "succeeded"

    (cycle,) = cli_json(run_cli("loop", "history", "retrain", "--json", cwd=root))
    assert (cycle["number"], cycle["key"], cycle["trigger"], cycle["status"]) == (1, KEY, f"key {KEY}", "succeeded")
    assert [(step["step"], step["kind"], step["status"]) for step in cycle["steps"]] == [
        (1, "repro", "succeeded"), (2, "register", "succeeded"), (3, "promote", "succeeded")]
    assert cycle["steps"][2]["promoted"] is True
    assert calls(root) == ["prepare", "train"]

    other = cli_json(_step(root, "retrain", 1, key="manual__2026-12-07T12:00:00+00:00"))
    assert other["cycle"] == 2  # another run id: another cycle
    text = plain(run_cli("loop", "history", "retrain", cwd=root).stdout)
    assert f"#1 succeeded (key {KEY})" in text


def test_a_step_that_fails_runs_once_per_attempt_and_notifies_only_from_the_last(
        tmp_path: Path, meta_db: Path, webhook: Any) -> None:
    flaky = {"steps": [{"repro": ["prepare"]}, {"repro": ["broken"]}],
             "on_failure": {"notify": webhook.url, "retries": 1, "retry_delay": "5m"}}
    root = make_project(tmp_path / "loopy", {"flaky": flaky})
    assert cli_json(_step(root, "flaky", 1))["status"] == "running"

    failed = _step(root, "flaky", 2, attempt=1)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert calls(root) == ["prepare", "broken"]  # no retry of its own, and no 5-minute wait: Airflow retries
    assert webhook.received == []  # Airflow will try again: not the last word yet
    assert cycles(meta_db, "flaky") == [(1, f"key {KEY}", "failed")]

    again = _step(root, "flaky", 2, attempt=2)
    assert again.returncode == 1
    assert calls(root) == ["prepare", "broken", "broken"]
    (cycle,) = cli_json(run_cli("loop", "history", "flaky", "--json", cwd=root))
    assert [(step["step"], step["status"], step["attempt"]) for step in cycle["steps"]] == [
        (1, "succeeded", 1), (2, "failed", 1), (2, "failed", 2)]
    assert cycle["status"] == "failed" and cycle["error"].startswith("step 2 (repro broken) failed: ")
    assert [message["body"]["cycle"] for message in webhook.received] == [1]  # once, from the last attempt
    assert webhook.received[0]["body"]["error"] == cycle["error"]


def test_a_retried_step_that_succeeds_completes_the_same_cycle(tmp_path: Path, meta_db: Path) -> None:
    root = make_project(tmp_path / "loopy", {"retrain": RETRAIN})
    for step, attempt in [(1, 1), (1, 2), (2, 1), (3, 1), (3, 2)]:  # Airflow cleared and reran two tasks
        assert _step(root, "retrain", step, attempt=attempt).returncode == 0
    (cycle,) = cli_json(run_cli("loop", "history", "retrain", "--json", cwd=root))
    assert cycle["status"] == "succeeded"
    assert [(step["step"], step["attempt"]) for step in cycle["steps"]] == [(1, 1), (1, 2), (2, 1), (3, 1), (3, 2)]
    assert [step["reused"] for step in cycle["steps"] if step["kind"] == "register"] == [False]
    assert calls(root) == ["prepare", "train"]  # the rerun repro found everything up to date


def test_an_empty_cycle_key_or_attempt_zero_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path / "loopy", {"retrain": RETRAIN})
    done = run_cli("loop", "run", "retrain", "--step", "1", "--cycle-key", " ", cwd=root)
    assert "--cycle-key" in input_error(done.returncode, done.stdout, done.stderr)
    done = run_cli("loop", "run", "retrain", "--step", "1", "--attempt", "0", cwd=root)
    assert done.returncode == 2 and "--attempt" in plain(done.stderr)
    assert calls(root) == []


def test_a_cycle_waiting_for_its_next_step_survives_the_takeover_of_a_killed_holders_lock(
        tmp_path: Path, meta_db: Path, launcher: Any, gate: Path) -> None:
    two = {"steps": [{"repro": ["prepare"]}, {"repro": ["gate"]}]}
    root = make_project(tmp_path / "loopy", {"two": two})
    env = {"LOOP_GATE": str(gate)}
    assert cli_json(_step(root, "two", 1))["status"] == "running"  # cycle 1 waits for its step 2

    other = launcher.start("loop", "run", "two", "--step", "2", cwd=root, env=env)  # cycle 2, then killed
    wait_until(lambda: (gate / "entered").exists() or other.proc.poll() is not None, timeout=60,
             what="the other run to enter the gate stage")
    stage_pid = int((gate / "entered").read_text())
    assert other.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: not pid_alive(stage_pid), timeout=10, what="the gate stage to end with its loop process")

    assert run_cli("loop", "run", "two", "--step", "1", cwd=root).returncode == 0  # takes the dead lock over
    assert cycles(meta_db, "two") == [(1, f"key {KEY}", "running"), (2, "step 2", "interrupted"),
                                      (3, "step 1", "succeeded")]
    (gate / "open").touch()
    assert cli_json(_step(root, "two", 2, env=env))["status"] == "succeeded"
    assert cycles(meta_db, "two")[0] == (1, f"key {KEY}", "succeeded")
