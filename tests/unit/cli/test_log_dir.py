"""Which prediction log the reading commands use: the same order the web UI follows."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shipyard.cli._store import log_dir

DEPLOYMENTS = {"churn": {"variants": [{"name": "champion", "model": "models:/churn@champion"}]}}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (it has shipyard.yaml) with the working directory in a subfolder of it."""
    (tmp_path / "shipyard.yaml").write_text("stages: {}\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.delenv("SHIPYARD_LOG_DIR", raising=False)
    return tmp_path


def _serving(project: Path, where: str) -> None:
    (project / "serving.yaml").write_text(yaml.safe_dump({"log_dir": where, "deployments": DEPLOYMENTS}))


def test_serving_yaml_names_the_log_relative_to_the_project(project: Path) -> None:
    assert log_dir(None) is None  # no serving.yaml: the store's own serving/ folder
    _serving(project, "logs")
    assert log_dir(None) == str(project / "logs")
    _serving(project, "s3://bucket/predictions")
    assert log_dir(None) == "s3://bucket/predictions"


def test_the_option_then_the_environment_win_over_serving_yaml(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _serving(project, "logs")
    monkeypatch.setenv("SHIPYARD_LOG_DIR", "s3://bucket/from-env")
    assert log_dir(None) == "s3://bucket/from-env"
    assert log_dir("s3://bucket/from-option") == "s3://bucket/from-option"


def test_a_serving_yaml_that_does_not_load_is_left_to_shipyard_serve(project: Path) -> None:
    (project / "serving.yaml").write_text("deployments: [not, a, mapping]\n")
    assert log_dir(None) is None
