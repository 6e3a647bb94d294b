"""A mistake in ``loops:`` stops every loop command before anything runs: exit 2 and one ``Error:`` line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.loop._project import RETRAIN, calls, make_project
from tests.integration.pipeline._pipelines import input_error, invoke, run_cli

GOOD = {"schedule": "every 1h", "steps": [{"repro": ["prepare"]}]}


def _lines(spec: Path) -> dict[str, int]:
    """The line numbers of the ``nightly`` loop and of its top-level keys in the written file."""
    text = spec.read_text().splitlines()
    start = text.index("  nightly:")
    found = {"nightly": start + 1}
    for number, line in enumerate(text[start + 1:], start=start + 2):
        if line.startswith("    ") and not line.startswith("     ") and ":" in line:
            found.setdefault(line.strip().split(":")[0], number)
    return found


@pytest.mark.parametrize(("loop", "args", "expected"), [
    ({**GOOD, "schedule": "0 25 * * *"}, ["loop", "run", "nightly"],
     r"Error: shipyard\.yaml line {schedule}, loop 'nightly', schedule: '0 25 \* \* \*' is not a valid cron "
     r"expression: the hour field '25': 25 is outside 0-23; use five fields"),
    ({**GOOD, "triggers": [{"monitor": {"deployment": "churn", "check": "drfit"}}]}, ["scheduler", "--poll", "1"],
     r"Error: shipyard\.yaml line {nightly}, loop 'nightly', triggers\[0\]: check 'drfit' is not a monitoring check; "
     r"use one of any, "),
    ({**GOOD, "steps": [{"repro": ["prepare", "trian"]}]}, ["loop", "export-airflow", "nightly", "-o", "dag.py"],
     r"Error: shipyard\.yaml line {nightly}, loop 'nightly', steps\[0\]: repro names stage 'trian', which "
     r"shipyard\.yaml does not have \(it has: prepare, train, broken, gate\)\.$"),
    ({**GOOD, "on_failure": {"notify": "127.0.0.1:9000/hook"}}, ["loop", "list"],
     r"Error: shipyard\.yaml line {nightly}, loop 'nightly': on_failure\.notify must be an http\(s\) URL"),
    ({**GOOD, "steps": RETRAIN["steps"], "retries": 2}, ["loop", "run", "other"],
     r"Error: shipyard\.yaml line {retries}, loop 'nightly': unknown key 'retries'; a loop takes "),
], ids=["cron", "trigger-check", "unknown-stage", "notify-url", "unknown-key"])
def test_a_bad_loop_is_refused_in_one_line_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop: dict[str, object], args: list[str],
        expected: str) -> None:
    root = make_project(tmp_path / "loopy", {"other": GOOD, "nightly": loop})
    if args[0] == "scheduler":  # the real console script: it must exit, not start and wait for signals
        done = run_cli(*args, cwd=root, timeout=60)
        line = input_error(done.returncode, done.stdout, done.stderr)
    else:
        monkeypatch.chdir(root)
        result = invoke(*args)
        line = input_error(result.exit_code, result.stdout, result.stderr)
    assert re.match(expected.format(**_lines(root / "shipyard.yaml")), line), line
    assert calls(root) == []
    assert not (root / "dag.py").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["loop", "run", "nightly"], "Error: shipyard.yaml has no loop named 'nightly' (it has: other)."),
    (["loop", "run", "other", "--step", "2"], "Error: Loop 'other' has 1 steps; --step 2 does not exist."),
], ids=["unknown-loop", "unknown-step"])
def test_an_unknown_loop_or_step_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        args: list[str], expected: str) -> None:
    root = make_project(tmp_path / "loopy", {"other": GOOD})
    monkeypatch.chdir(root)
    result = invoke(*args)
    assert input_error(result.exit_code, result.stdout, result.stderr) == expected
    assert calls(root) == []


def test_a_trigger_on_a_deployment_serving_yaml_does_not_define_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch = {"triggers": [{"monitor": {"deployment": "chrun", "check": "drift"}}], "steps": [{"repro": ["prepare"]}]}
    root = make_project(tmp_path / "loopy", {"watch": watch})
    (root / "serving.yaml").write_text("deployments:\n  churn:\n    variants:\n"
                                       "      - {name: champion, model: \"models:/churn@champion\"}\n")
    monkeypatch.chdir(root)
    result = invoke("loop", "list")
    line = input_error(result.exit_code, result.stdout, result.stderr)
    assert "loop 'watch', triggers[0]" in line and "'chrun'" in line


def test_a_promote_of_a_model_nobody_registers_is_refused_before_any_step_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = {"steps": [{"repro": ["prepare"]},
                      {"promote": {"name": "ghost", "candidate": "challenger", "data": "data/holdout.parquet",
                                   "target": "churn"}}]}
    root = make_project(tmp_path / "loopy", {"gate": gate})
    monkeypatch.chdir(root)
    result = invoke("loop", "run", "gate")
    line = input_error(result.exit_code, result.stdout, result.stderr)
    assert "loop 'gate', steps[1] (promote)" in line and "'ghost'" in line
    assert calls(root) == []  # not even the repro step ran
