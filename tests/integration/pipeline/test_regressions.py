"""Regression tests for bugs found in the first pipeline release (each failed before its fix)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import warnings
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import StageFailedError
from shipyard.pipeline.repro import lock_path, repro
from tests._support import pid_alive, wait_until
from tests.integration.pipeline._pipelines import (
    SHIPYARD_SCRIPT,
    git,
    input_error,
    make_project,
    run_cli,
    stage_runs,
    use_venv_python,
)


@pytest.fixture(autouse=True)
def _venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)


def test_api_records_the_pipelines_git_commit_from_any_working_directory(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "churn")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not a git repository
    repro(root=root)
    head = git(root, "rev-parse", "HEAD").strip()
    runs = stage_runs("churn")
    assert runs and all(run.lineage["git"] is not None and run.lineage["git"]["commit"] == head for run in runs)


def test_unreadable_metrics_end_the_stage_run_as_failed(tmp_path: Path) -> None:
    spec = "stages:\n  report:\n    cmd: python -c \"open('m.json', 'w').write('not json')\"\n    metrics: [m.json]\n"
    root = make_project(tmp_path / "bad-metrics", spec=spec, params=None)
    with pytest.raises(StageFailedError, match="m.json is not valid JSON"):
        repro(root=root)
    [run] = stage_runs("bad-metrics")
    assert run.status == "FAILED" and "m.json" in (run.error or "")
    done = run_cli("repro", cwd=root)
    assert done.returncode == 1  # the stage ran: a failure, not bad input


def test_repro_closes_the_stage_output_pipe(tmp_path: Path) -> None:
    root = make_project(tmp_path / "churn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        repro(root=root)
    assert [str(item.message) for item in caught if issubclass(item.category, ResourceWarning)] == []


def test_the_no_pipeline_error_suggests_only_real_commands(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_cli("repro", cwd=empty)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "No shipyard.yaml" in line and "shipyard init" not in line


def test_a_misspelled_top_level_key_is_an_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "typo", spec="stage:\n  prepare:\n    cmd: echo hi\n", params=None)
    done = run_cli("repro", cwd=root)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "unknown top-level key 'stage'" in line and "did you mean 'stages'" in line and "line 1" in line


def test_wdir_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    spec = "stages:\n  prepare:\n    cmd: echo hi\n    wdir: sub\n"
    root = make_project(tmp_path / "wdir", spec=spec, params=None)
    done = run_cli("repro", cwd=root)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "unknown key 'wdir'" in line and "line 4" in line


SLEEPER = """\
import pathlib, time
pathlib.Path("started").write_text("yes")
for _ in range(600):
    time.sleep(0.05)
pathlib.Path("out.txt").write_text("finished\\n")
"""


def test_interrupting_repro_alone_also_ends_the_stage_process(tmp_path: Path) -> None:
    spec = "stages:\n  sleepy:\n    cmd: python src/sleeper.py && echo done\n    outs: [out.txt]\n"
    root = make_project(tmp_path / "sleepy", spec=spec, params=None, files={"src/sleeper.py": SLEEPER})
    child = subprocess.Popen([str(SHIPYARD_SCRIPT), "repro"], cwd=root, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: (root / "started").exists(), timeout=30, what="the stage to start")
        stage_pids = _stage_pids(root)
        assert stage_pids, "the stage's python process should be visible"
        child.send_signal(signal.SIGINT)  # to shipyard alone, not its process group
        assert child.wait(timeout=30) != 0
        wait_until(lambda: not any(pid_alive(pid) for pid in stage_pids), timeout=15, what="the stage processes to end")
        assert not (root / "out.txt").exists()
        assert [run.status for run in stage_runs("sleepy")] == ["KILLED"]
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def test_the_workspace_lock_holds_whatever_store_each_process_uses(tmp_path: Path) -> None:
    root = make_project(tmp_path / "churn")
    holder = {"pid": os.getpid(), "host": os.uname().nodename, "command": "another shipyard", "since": "now"}
    lock_path(root).write_text(json.dumps(holder))  # held by a live process (this one), whatever its store
    done = run_cli("repro", "--lock-timeout", "0.3", cwd=root,
                   env={"SHIPYARD_STORE": str(tmp_path / "some-other-store")})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"locked by pid {os.getpid()}" in errors[0]
    shipyard.set_store(None)


def _stage_pids(root: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if "sleeper.py" in command and cwd == str(root):
            pids.append(int(entry.name))
    return pids
