"""The serving commands as a user runs them: config mistakes fail fast, ``predictions`` (``dockerfile``: own file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shipyard.predlog.layout import serving_root
from shipyard.predlog.schema import PredictionEntry, predictions_table
from shipyard.predlog.writer import PartitionedLog
from tests.integration.serving._serving import write_config


def shipyard_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, check=False)


def _variants(*variants: dict[str, Any], **deployment: Any) -> dict[str, Any]:
    return {"deployments": {"churn": {"variants": list(variants), **deployment}}}


CONFIG_ERRORS = {
    "unknown key": ({"deployments": {"churn": {"model": "models:/churn@champion", "colour": "red"}}},
                    "deployments.churn has unknown key 'colour'"),
    "unknown top-level key": ({"workers": 2, **_variants({"model": "models:/churn@champion"})},
                              "the top level has unknown key 'workers'"),
    "negative weight": (_variants({"name": "a", "model": "models:/churn@champion", "weight": -5}),
                        "deployments.churn.variants[0].weight must be at least 0"),
    "weight as text": (_variants({"name": "a", "model": "models:/churn@champion", "weight": "heavy"}),
                       "deployments.churn.variants[0].weight must be a number"),
    "weights add up to 0": (_variants({"name": "a", "model": "models:/churn/1", "weight": 0}),
                            "the weights add up to 0"),
    "unknown alias": (_variants({"name": "a", "model": "models:/churn@nope"}), "has no alias 'nope'"),
    "unknown model": (_variants({"name": "a", "model": "models:/attrition/1"}), "'attrition'"),
    "onnx runtime without an export": (_variants({"name": "a", "model": "models:/churn/2"}, runtime="onnx"),
                                       "no verified ONNX export"),
    "a log_dir no filesystem opens": ({"log_dir": "nosuch://bucket/log", **_variants({"model": "models:/churn/1"})},
                                      "The prediction log nosuch://bucket/log needs an fsspec driver"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("config", "message"), list(CONFIG_ERRORS.values()), ids=list(CONFIG_ERRORS))
def test_a_config_error_stops_serve_with_one_clear_line(churn_store: Path, tmp_path: Path, config: dict[str, Any],
                                                        message: str) -> None:
    path = write_config(tmp_path / "serving.yaml", config)
    started = time.monotonic()
    done = shipyard_cli("serve", "--config", str(path), "--port", "0", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error:") and message in lines[0]
    assert "Serving" not in done.stdout  # it never listened
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_an_unknown_alias_on_the_command_line_stops_even_a_multi_worker_start(churn_store: Path,
                                                                             tmp_path: Path) -> None:
    done = shipyard_cli("serve", "models:/churn@gone", "--port", "0", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "has no alias 'gone'" in lines[0], done.stderr


def test_serve_needs_exactly_one_of_a_uri_and_a_config(churn_store: Path, tmp_path: Path) -> None:
    done = shipyard_cli("serve", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--config" in done.stderr


@pytest.fixture
def logged(churn_store: Path) -> list[str]:
    """Three predictions written by the real PartitionedLog (as a server writes them) into the store's log."""
    import shipyard

    log = PartitionedLog(serving_root(shipyard.current_store()) / "predictions", predictions_table,
                         flush_interval=0.05)
    log.start()
    now = time.time_ns() // 1_000_000
    ids = [f"cli-{index}" for index in range(3)]
    for request_id in ids:
        log.append("churn", now, PredictionEntry(
            request_id, now, "churn", "champion", False, "churn", 1, "models:/churn/1", "python", 1.5, None,
            {"tenure": [3], "contract": ["One year"]}, {"tenure": "integer", "contract": "string"}, [1],
            [[0.25, 0.75]]))
    log.close()
    return ids


def test_predictions_command_shows_the_newest_rows(logged: list[str], tmp_path: Path) -> None:
    table = shipyard_cli("predictions", "churn", "--limit", "2", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert logged[2] in table.stdout and logged[1] in table.stdout and logged[0] not in table.stdout
    empty = shipyard_cli("predictions", "other", cwd=tmp_path)
    assert empty.returncode == 0 and "No predictions" in empty.stdout


def test_predictions_command_prints_json(logged: list[str], tmp_path: Path) -> None:
    done = shipyard_cli("predictions", "churn", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["request_id"] for row in rows] == logged
    assert rows[0]["model_version"] == 1 and rows[0]["input.contract"] == "One year"
    assert rows[0]["probabilities"] == [0.25, 0.75]
