"""Real pipelines in temporary git repositories, for the pipeline tests.

The standard project is ``churn``: three small stage scripts, ``prepare -> train -> evaluate``, that read
``params.yaml`` themselves (as real stage code does) and append their name to ``calls.log`` at the
project root each time they run, so a test can prove a stage ran, or did not. Stage commands say
``python ...``: :func:`use_venv_python` puts this interpreter first on ``PATH`` so they run fast and
with the same packages. The project is its own git repository (local identity, no global config); the
test's store stays outside it, at ``tmp_path/.shipyard``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

import shipyard
from shipyard.cli.main import app
from tests._support import SHIPYARD_SCRIPT, git, init_repo, plain

PREPARE = """\
import pathlib

import yaml

scale = yaml.safe_load(pathlib.Path("params.yaml").read_text())["prepare"]["scale"]
with open("calls.log", "a") as log:
    log.write("prepare\\n")
rows = pathlib.Path("data/raw.csv").read_text().split()[1:]
pathlib.Path("data/prepared.csv").write_text("".join(f"{int(row) * scale}\\n" for row in rows))
"""

TRAIN = """\
import json
import pathlib
import sys

import yaml

params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["train"]
with open("calls.log", "a") as log:
    log.write("train\\n")
values = [int(row) for row in pathlib.Path("data/prepared.csv").read_text().split()]
if params.get("fail"):
    for epoch in range(30):
        print(f"epoch {epoch}: loss diverging")
    print("train: the loss is NaN, giving up", file=sys.stderr)
    sys.exit(3)
models = pathlib.Path("models")
(models / "weights").mkdir(parents=True, exist_ok=True)
(models / "model.json").write_text(json.dumps({"C": params["C"], "total": sum(values)}))
(models / "weights" / "layer0.txt").write_text(" ".join(str(value) for value in values))
pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/train.json").write_text(json.dumps({"loss": 1 / sum(values), "fit": {"iterations": 7}}))
"""

EVALUATE = """\
import json
import pathlib

with open("calls.log", "a") as log:
    log.write("evaluate\\n")
model = json.loads(pathlib.Path("models/model.json").read_text())
pathlib.Path("reports/eval.json").write_text(json.dumps({"auc": 0.5 + model["C"] / 10, "rows": 3}))
"""

SPEC = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [data/raw.csv, src/prepare.py]
    params: [prepare.scale]
    outs: [data/prepared.csv]
  train:
    cmd: python src/train.py
    deps: [data/prepared.csv, src/train.py]
    params: [train]
    outs: [models]
    metrics: [reports/train.json]
  evaluate:
    cmd: python src/evaluate.py
    deps: [models, src/evaluate.py]
    metrics: [reports/eval.json]
"""

PARAMS = """\
prepare:
  scale: 2
  unused: x
train:
  C: 1.0
  penalty: l2
"""

RAW = "value\n1\n2\n3\n"
GITIGNORE = "/calls.log\n/data/prepared.csv\n/models\n/reports\n"


def use_venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python`` in stage commands is this interpreter; git ignores the machine's configuration."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")


def make_project(root: Path, *, spec: str = SPEC, params: str | None = PARAMS,
                 files: dict[str, str] | None = None) -> Path:
    """Write a project (the churn pipeline unless told otherwise), make it a git repo and commit it."""
    contents = {"shipyard.yaml": spec, ".gitignore": GITIGNORE, "data/raw.csv": RAW, "src/prepare.py": PREPARE,
                "src/train.py": TRAIN, "src/evaluate.py": EVALUATE}
    if params is not None:
        contents["params.yaml"] = params
    contents.update(files or {})
    for name, text in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    init_repo(root)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "pipeline")
    return root


def calls(root: Path) -> list[str]:
    """The stages that ran, in order (each stage script appends its name to calls.log)."""
    path = root / "calls.log"
    return path.read_text().split() if path.exists() else []


def lock_file(root: Path) -> dict[str, Any]:
    """``shipyard.lock`` read with plain PyYAML: its stages, by name."""
    data = yaml.safe_load((root / "shipyard.lock").read_text())
    assert data["schema"] == 1
    return dict(data["stages"])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def set_param(root: Path, section: str, key: str, value: Any) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage_runs(experiment: str) -> list[shipyard.Run]:
    """Every run of an experiment, oldest first."""
    frame = shipyard.search_runs(experiment=experiment, order_by=["attributes.start_time"])
    return [shipyard.get_run(run_id) for run_id in frame["run_id"]]


def stored_objects(store: Path) -> set[str]:
    """The hashes in the store's object folder (``ab/cdef...``), without the temp folder."""
    folder = store / "objects"
    if not folder.is_dir():
        return set()
    return {fan.name + item.name for fan in folder.iterdir() if len(fan.name) == 2 for item in fan.iterdir()}


def invoke(*args: str) -> Result:
    """The real Typer app in-process (the working directory must be the project)."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The console script in a child process; it inherits the test's store and PATH."""
    environment = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
    environment.update(env or {})
    return subprocess.run([str(SHIPYARD_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=environment, check=False)


def input_error(exit_code: int, stdout: str, stderr: str, *, extra_lines: Sequence[str] = ()) -> str:
    """Assert the CLI refused bad input the promised way and return the "Error: ..." line.

    Exit code 2, nothing on stdout, exactly one line starting with "Error:" on stderr (then only
    ``extra_lines``), no traceback: the same check as ``input_error`` in ``tests/e2e/conftest.py``.
    """
    stdout, stderr = plain(stdout), plain(stderr)
    assert exit_code == 2, f"exit code {exit_code}\nstdout: {stdout}\nstderr: {stderr}"
    assert "Traceback" not in stdout + stderr
    assert "Unexpected error" not in stdout + stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert [line for line in lines if line.startswith("Error:")] == lines[:1], stderr
    assert lines[1:] == list(extra_lines), stderr
    return lines[0]
