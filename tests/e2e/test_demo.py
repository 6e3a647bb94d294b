"""``shipyard demo`` as a user runs it, in a real process: pipeline, registry, serving, monitoring, loop.

The demo runs on the first 1,200 customers to stay quick; everything else is the real thing: the copy of
``examples/churn`` becomes a git repository, its raw data is added, ``repro`` runs the three stages as
child processes, the models the train stage logged are registered and gated, a real server answers
replayed traffic, the monitoring report is written, one loop cycle retrains on the new rows, and with
``--keep`` the server and the web UI stay up until SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

import shipyard
from shipyard.demo import project
from shipyard.errors import ConfigError
from tests.e2e.conftest import SHIPYARD_SCRIPT


def run_demo_and_keep(tmp_path: Path, environment: dict[str, str]) -> tuple[int, str]:
    """``shipyard demo --keep``: once it says what it kept running, check both answer, then SIGTERM it."""
    demo = subprocess.Popen([str(SHIPYARD_SCRIPT), "demo", "--rows", "1200", "--keep"], cwd=tmp_path,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert demo.stdout is not None
    lines: list[str] = []
    try:
        for line in demo.stdout:  # the demo's own deadline is the test timeout
            lines.append(line)
            kept = re.search(r"web UI at (http://127\.0\.0\.1:\d+) , model server at (http://127\.0\.0\.1:\d+)",
                             line)
            if kept:
                ui_url, serve_url = kept.groups()
                assert "churn" in httpx.get(ui_url + "/", timeout=10).text
                assert httpx.get(ui_url + "/pipelines", timeout=30).status_code == 200
                assert httpx.get(serve_url + "/health/ready", timeout=10).status_code == 200
                demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
    finally:
        if demo.poll() is None:  # a failed check: SIGTERM lets the demo stop its server and UI too
            demo.send_signal(signal.SIGTERM)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        demo.stdout.close()
    output = "".join(lines)
    assert "Kept running" in output, output
    return demo.returncode, output


@pytest.mark.slow
@pytest.mark.timeout(600)  # the whole story, canary included, on a 2-core machine that may be busy
def test_demo_runs_the_example_pipeline_then_registers_gates_and_traces_its_models(tmp_path: Path) -> None:
    environment = {**os.environ, "COLUMNS": "1000", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    returncode, stdout = run_demo_and_keep(tmp_path, environment)

    assert returncode == 0, stdout
    steps = [line.split(".", 1)[0] for line in stdout.splitlines() if re.match(r"\d+\. ", line)]
    assert steps == [str(number) for number in range(1, 15)]
    (gate,) = [line for line in stdout.splitlines() if line.startswith("5. ")]
    assert "DeLong one-sided p = " in gate and "% interval " in gate, gate  # the gate shows its test and interval
    root = tmp_path / "shipyard-demo" / "churn"
    lock = yaml.safe_load((root / "shipyard.lock").read_text())["stages"]
    assert list(lock) == ["prepare", "train", "evaluate"]
    commits = subprocess.run(["git", "-C", str(root), "log", "--format=%H"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert len(commits) == 2  # the project with its raw data, then the production rows the loop retrained on

    runs = {run_id: shipyard.get_run(run_id) for run_id in shipyard.search_runs(experiment="churn")["run_id"]}
    assert sorted(run.name for run in runs.values()) == sorted(["prepare", "train", "evaluate"] * 2)
    assert {lock[name]["run_id"] for name in lock} <= set(runs)  # the lock names the loop's (latest) stage runs
    for run in runs.values():
        assert run.status == "FINISHED"
        assert run.tags["shipyard.pipeline"] == "churn" and run.tags["shipyard.stage"] == run.name
        assert run.lineage["git"]["commit"] in commits and not run.lineage["git"]["dirty"]
    trains = sorted((run for run in runs.values() if run.name == "train"), key=lambda run: run.start_time)
    assert {"shipyard.model.logreg", "shipyard.model.model"} <= set(trains[0].tags)  # both packages on train
    assert trains[0].tags["shipyard.autolog.estimator"] == "sklearn.pipeline.Pipeline"  # LightGBM's, autologged
    assert "training_roc_auc" in trains[0].metrics and trains[0].params["model__num_leaves"] == "7"
    assert "autolog recorded the lightgbm fit with no logging code" in stdout

    versions = sorted(shipyard.list_model_versions("churn"), key=lambda version: version.version)
    *versions, worse = versions  # the canary the demo rolls out and its judge rolls back
    assert [(version.version, version.run_id, version.path) for version in versions] == [
        (1, trains[0].id, "logreg"), (2, trains[0].id, "model"), (3, trains[1].id, "model")]
    assert worse.version == 4 and "deliberately worse" in (worse.description or "")
    (canary,) = [line for line in stdout.splitlines() if line.startswith("13. ")]
    assert "the judge rolled it back" in canary and f"registered v{worse.version}" in canary, canary
    history = [event for event in shipyard.alias_history("churn") if event.action.startswith("rollout_")]
    assert history[0].action == "rollout_start" and history[-1].action == "rollout_rollback"
    assert history[-1].to_version == worse.version
    flavors = {version.version: shipyard.lineage(f"models:/churn/{version.version}")["package"]["flavor"]
               for version in versions}
    assert flavors == {1: "sklearn", 2: "lightgbm", 3: "lightgbm"}
    assert re.search(r"Lineage of models:/churn@champion: v\d \((sklearn|lightgbm) flavor\) <- train run", stdout)
    holders = {alias: version.version for version in versions for alias in version.aliases}
    assert holders["challenger"] == 3 and holders["champion"] in (1, 2, 3)  # the gates decided

    chain = shipyard.lineage("models:/churn@champion")
    champion_run = next(version.run_id for version in versions if version.version == holders["champion"])
    assert chain["stage"]["run_id"] == champion_run
    (raw,) = [source for source in chain["sources"] if source["added"]]
    assert raw["path"] == "data/raw/churn.csv" and raw["git"]["commit"] in commits
    assert (tmp_path / "shipyard-demo" / "churn.onnx").stat().st_size > 0
    assert (tmp_path / "shipyard-demo" / "holdout-scored.parquet").stat().st_size > 0

    logged = shipyard.prediction_log("churn")
    assert len(logged) > 0 and set(logged["variant"]) >= {"champion", "challenger", "challenger-shadow"}
    assert set(logged["runtime"]) == {"onnx"}  # both versions' exports were verified, so runtime auto chose them
    report = (tmp_path / "shipyard-demo" / "report.html").read_text()
    assert "<html" in report.lower() and "contract" in report  # the drifted contract column is reported
    (monitored,) = [line for line in stdout.splitlines() if line.startswith("11. ")]
    # the gate kept each version's holdout scores: the logged answers are estimated with no file passed
    assert re.search(r"Accuracy estimated from the logged scores before labels: .*champion 0\.\d{3} \(90% "
                     r"0\.\d{3} to 0\.\d{3}, realized 0\.\d{3} on [\d,]+ labels\)", monitored), monitored
    assert "Estimated from the scores, before the labels" in report
    assert "loop 'churn-retrain' cycle 1 succeeded" in stdout


def test_the_demo_replaces_its_own_copy_but_never_a_folder_it_did_not_make(tmp_path: Path) -> None:
    source = project.example_project()
    target = tmp_path / "shipyard-demo" / "churn"
    project.fresh_copy(source, target)
    (target / "stray.txt").write_text("left from the last run")

    project.fresh_copy(source, target)

    assert not (target / "stray.txt").exists()
    assert (target / "shipyard.yaml").read_bytes() == (source / "shipyard.yaml").read_bytes()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(ConfigError, match="was not made by the demo"):
        project.fresh_copy(source, mine)
    assert (mine / "notes.txt").read_text() == "precious"


def _try_it_yourself(stdout: str) -> tuple[str, list[str]]:
    """The venv line and the commands of the demo's closing "Try it yourself" block, as printed."""
    lines = stdout.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("Try it yourself"))
    commands = [line.strip() for line in lines[start + 1:] if line.startswith("  ")]
    activate = re.search(r"`source (\S+)`", lines[start])
    return (f"source {activate.group(1)}" if activate else "true"), commands


@pytest.mark.slow
@pytest.mark.timeout(900)  # two full demo runs
def test_each_demo_run_tells_its_story_in_a_fresh_project_and_store_and_its_next_steps_run_as_printed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run twice without a store named: the first run is set aside whole (project, store, exports) under the
    time it ran, the second starts from v1 again, and every command printed at the end runs as printed."""
    monkeypatch.delenv("SHIPYARD_STORE")
    environment = {key: value for key, value in os.environ.items() if key != "SHIPYARD_STORE"}
    environment.update({"COLUMNS": "1000", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                        "PATH": "/usr/bin:/bin"})  # the venv's shipyard is not on PATH, as after `make demo`
    outputs = []
    for _ in range(2):
        done = subprocess.run([str(SHIPYARD_SCRIPT), "demo", "--rows", "500"], cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)

    (kept,) = tmp_path.glob("shipyard-demo-*")
    assert "The previous demo is kept in" in outputs[1] and kept.name in outputs[1]
    assert "previous demo" not in outputs[0]
    for folder in (kept, tmp_path / "shipyard-demo"):
        store = folder / "churn" / ".shipyard"
        versions = shipyard.set_store(store) and shipyard.list_model_versions("churn")
        assert sorted(version.version for version in versions) == [1, 2, 3, 4]  # each run: three, and the canary
        assert len(shipyard.search_runs(experiment="churn")) == 6
        lineage = shipyard.lineage("models:/churn@champion")
        (raw,) = [source for source in lineage["sources"] if source["added"]]
        commits = subprocess.run(["git", "-C", str(folder / "churn"), "log", "--format=%H"], capture_output=True,
                                 text=True, check=True).stdout.split()
        assert raw["git"]["commit"] in commits  # lineage points into this folder's own repository
    shipyard.set_store(None)

    activate, commands = _try_it_yourself(outputs[1])
    assert commands[0] == "cd shipyard-demo/churn" and commands[-1].startswith("shipyard ui")
    assert any(command.startswith("shipyard runs compare ") for command in commands)
    for command in commands[1:-1]:
        done = subprocess.run(["bash", "-c", f"{activate} && {commands[0]} && {command}"], cwd=tmp_path,
                              env=environment, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert "Error" not in done.stderr, (command, done.stderr)
    compared = subprocess.run(["bash", "-c", f"{activate} && {commands[0]} && "
                               + next(c for c in commands if c.startswith("shipyard runs compare"))],
                              cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, check=True)
    assert "values differ" in compared.stdout and "0 of" not in compared.stdout  # two runs that differ
    ui = subprocess.Popen(["bash", "-c", f"{activate} && {commands[0]} && exec shipyard ui --port 0"],
                          cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert ui.stdout is not None
        address = None
        for line in ui.stdout:  # the test timeout bounds the wait
            found = re.search(r"Shipyard UI at (http://127\.0\.0\.1:\d+)", line)
            if found:
                address = found.group(1)
                break
        assert address, "the UI did not say where it listens"
        pipelines = httpx.get(address + "/pipelines", timeout=30).text
        assert all(stage in pipelines for stage in ("prepare", "train", "evaluate"))
        assert "churn" in httpx.get(address + "/", timeout=30).text
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=30)
        if ui.stdout is not None:
            ui.stdout.close()
