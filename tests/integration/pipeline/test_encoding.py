"""Files of a pipeline whose content Shipyard reads itself (metrics files, ``params.yaml``, ``shipyard.yaml``, the same
files at a git revision) are UTF-8: one that is not is an input error naming the file, the line and the byte offset.
Before, each of these commands crashed with a UnicodeDecodeError traceback ("Unexpected error").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import shipyard
from tests.integration.pipeline._data import Project, assert_ok, clean, cli, error_line, make_project, write
from tests.integration.pipeline._pipelines import use_venv_python

SPEC = """\
stages:
  train:
    cmd: python train.py
    params: [train]
    metrics: [reports/metrics.yaml]
"""
TRAIN = """\
import pathlib

pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/metrics.yaml").write_bytes("auc: 0.9\\nnote: Ch\\u00e8que\\n".encode("latin-1"))
"""
LATIN1_METRICS = "auc: 0.9\nnote: Chèque\n".encode("latin-1")
OFFSET = LATIN1_METRICS.index(b"\xe8")


@pytest.fixture
def project(tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    use_venv_python(monkeypatch)
    root = make_project(tmp_path, isolated_store, monkeypatch)
    write(root.root, {"shipyard.yaml": SPEC, "params.yaml": "train:\n  C: 1.0\n", "train.py": TRAIN,
                      "reports/metrics.yaml": "auc: 0.8\n"})
    root.commit("first")
    return root


def _names_the_byte(line: str, name: str, line_number: int, offset: int) -> None:
    assert name in line and f"line {line_number}" in line and f"byte offset {offset}" in line, line
    assert "UTF-8" in line, line


def test_metrics_diff_refuses_a_metrics_file_that_is_not_utf8(project: Project) -> None:
    write(project.root, {"reports/metrics.yaml": LATIN1_METRICS})
    _names_the_byte(error_line(cli("metrics", "diff"), 2), "reports/metrics.yaml", 2, OFFSET)


def test_metrics_diff_names_the_revision_whose_file_is_not_utf8(project: Project) -> None:
    write(project.root, {"reports/metrics.yaml": LATIN1_METRICS})
    project.commit("latin-1 metrics")
    write(project.root, {"reports/metrics.yaml": "auc: 0.95\n"})
    line = error_line(cli("metrics", "diff", "HEAD"), 2)
    _names_the_byte(line, "reports/metrics.yaml", 2, OFFSET)
    assert "HEAD" in line


def test_params_diff_refuses_params_that_are_not_utf8(project: Project) -> None:
    params = "train:\n  C: 2.0  # Chèque\n".encode("latin-1")
    write(project.root, {"params.yaml": params})
    _names_the_byte(error_line(cli("params", "diff"), 2), "params.yaml", 2, params.index(b"\xe8"))


def test_a_pipeline_file_that_is_not_utf8_stops_repro_before_any_stage(project: Project) -> None:
    spec = (SPEC + "# owner: Chèque\n").encode("latin-1")
    write(project.root, {"shipyard.yaml": spec})
    _names_the_byte(error_line(cli("repro"), 2), "shipyard.yaml", 6, spec.index(b"\xe8"))
    assert not (project.root / "reports" / "metrics.yaml").read_bytes().startswith(b"auc: 0.9")


def test_a_stage_writing_metrics_that_are_not_utf8_fails_and_its_run_says_why(project: Project) -> None:
    result = cli("repro")
    stderr = clean(result.stderr)
    assert result.exit_code == 1 and "Traceback" not in stderr and "Unexpected error" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]  # after the stage's progress line
    assert len(errors) == 1, stderr
    _names_the_byte(errors[0], "reports/metrics.yaml", 2, OFFSET)
    assert "Stage 'train' ran" in errors[0]
    runs = shipyard.search_runs(experiment=project.root.name)
    assert runs["status"].tolist() == ["FAILED"]
    assert "byte offset" in (shipyard.get_run(runs["run_id"].iloc[0]).error or "")
    write(project.root, {"train.py": TRAIN.replace('.encode("latin-1")', '.encode("utf-8")')})
    assert_ok(cli("repro"))
    assert json.loads(assert_ok(cli("metrics", "diff", "--json")))[0]["new"] == 0.9
