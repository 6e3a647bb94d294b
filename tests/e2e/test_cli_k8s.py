"""``shipyard k8s render`` as a user types it: manifests in a folder, bad input refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.unit.deploy._manifests import validate

if TYPE_CHECKING:
    from .conftest import CliInvoker, ErrorCheck, ScriptRunner

SERVING = "deployments:\n  churn: {model: \"models:/churn@champion\"}\nlog_dir: s3://predictions/churn\n"


@pytest.fixture
def serving_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "serving.yaml"
    path.write_text(SERVING)
    return path


def test_render_writes_valid_manifests_and_names_the_secret(cli: CliInvoker, serving_yaml: Path,
                                                           tmp_path: Path) -> None:
    result = cli("k8s", "render", "--config", str(serving_yaml), "--image", "registry.example.com/churn:1",
                 "--replicas", "3", "--service-monitor", "-o", str(tmp_path / "k8s"))
    assert result.exit_code == 0, result.stdout + result.stderr
    files = sorted((tmp_path / "k8s").glob("*.yaml"))
    kinds = [yaml.safe_load(path.read_text())["kind"] for path in files]
    assert kinds == ["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                     "ServiceMonitor", "CronJob", "Deployment"]
    for path in files:
        validate(yaml.safe_load(path.read_text()))
    assert "Wrote 8 manifests" in result.stdout
    assert "create the Secret churn-secrets with the keys token, database-uri, objects-uri" in " ".join(
        result.stdout.split())


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "{missing}"], "no such file"),
    (["--config", "{config}", "--replicas", "0"], "--replicas must be between 1 and 1000, got 0"),
    (["--config", "{config}", "--replicas", "2", "--max-replicas", "1"], "--max-replicas must be between"),
    (["--config", "{config}", "--memory", "1GB"], "--memory '1GB' is not a Kubernetes quantity"),
    (["--config", "{config}", "--name", "Churn EU"], "--name 'Churn EU' must be lower-case"),
    (["--config", "{config}", "--monitoring-config", "{missing}"], "no such file"),
])
def test_bad_input_is_one_line_and_exit_2(cli: CliInvoker, input_error: ErrorCheck, serving_yaml: Path,
                                          tmp_path: Path, args: list[str], message: str) -> None:
    filled = [arg.format(missing=tmp_path / "nope.yaml", config=serving_yaml) for arg in args]
    result = cli("k8s", "render", *filled, "-o", str(tmp_path / "k8s"))
    assert message in input_error(result.exit_code, result.stdout, result.stderr)
    assert not (tmp_path / "k8s").exists()


def test_a_bad_serving_yaml_names_its_line(cli: CliInvoker, input_error: ErrorCheck, tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text("deployments:\n  churn: {model: \"models:/churn@champion\"}\ntoken: s3cret\n")
    result = cli("k8s", "render", "--config", str(config), "-o", str(tmp_path / "k8s"))
    line = input_error(result.exit_code, result.stdout, result.stderr)
    assert "sets token:" in line and "s3cret" not in line


def test_the_real_command_refuses_bad_replicas_without_a_traceback(run_script: ScriptRunner, serving_yaml: Path,
                                                                  tmp_path: Path) -> None:
    done = run_script("k8s", "render", "--config", str(serving_yaml), "--replicas", "-1", "-o", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        "Error: --replicas must be between 1 and 1000, got -1."]
