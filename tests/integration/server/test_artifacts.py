"""The ``mlflow-artifacts`` proxy: uploads stream in and are stored content-addressed; downloads are verified."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from tests.integration.server.conftest import Team

API = "/api/2.0/mlflow"
ROOT = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def run_path(team: Team) -> str:
    token = team.tokens["writer"]
    experiment = team.server.call("POST", f"{API}/experiments/create", token, json={"name": "files"}).json()
    run = team.server.call("POST", f"{API}/runs/create", token, json={"experiment_id": experiment["experiment_id"]})
    info = run.json()["run"]["info"]
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment['experiment_id']}/{info['run_id']}/artifacts"
    return f"{experiment['experiment_id']}/{info['run_id']}/artifacts"


def test_a_large_upload_streams_in_and_comes_back_byte_for_byte(team: Team, run_path: str) -> None:
    size, piece = 48 << 20, os.urandom(1 << 20)
    expected = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for index in range(size // len(piece)):
            chunk = piece[index % 7 :] + piece[: index % 7]
            expected.update(chunk)
            yield chunk

    put = team.server.call("PUT", f"{ROOT}/{run_path}/data/big.bin", team.tokens["writer"], content=body())
    assert put.status_code == 200, put.text
    got = hashlib.sha256()
    with team.server.call_stream("GET", f"{ROOT}/{run_path}/data/big.bin", team.tokens["reader"]) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_bytes():
            got.update(chunk)
    assert got.hexdigest() == expected.hexdigest()
    listing = team.server.call("GET", ROOT, team.tokens["reader"], params={"path": f"{run_path}/data"}).json()
    assert listing == {"files": [{"path": "big.bin", "is_dir": False, "file_size": size}]}


def test_a_corrupted_object_is_never_served(team: Team, run_path: str) -> None:
    data = b"the model's report"
    assert team.server.call("PUT", f"{ROOT}/{run_path}/report.txt", team.tokens["writer"], content=data).is_success
    digest = blake3.blake3(data).hexdigest()
    stored = Path(team.objects) / digest[:2] / digest[2:]
    assert stored.read_bytes() == data  # content-addressed, as every Shipyard object
    stored.chmod(0o600)
    stored.write_bytes(b"the model's r3port")  # same size, one byte changed on disk
    answer = team.server.call("GET", f"{ROOT}/{run_path}/report.txt", team.tokens["reader"])
    assert answer.status_code == 500
    assert answer.json()["error_code"] == "DATA_LOSS"
    assert "report.txt" in answer.json()["message"] and b"r3port" not in answer.content


def test_the_tracking_api_lists_a_runs_artifacts_by_full_path(team: Team, run_path: str) -> None:
    run_id = run_path.split("/")[1]
    for name in ("a.txt", "d/b.txt", "d/e/c.txt"):
        assert team.server.call("PUT", f"{ROOT}/{run_path}/{name}", team.tokens["writer"], content=b"x").is_success
    root = team.server.call("GET", f"{API}/artifacts/list", team.tokens["reader"], params={"run_id": run_id}).json()
    assert root["root_uri"] == f"mlflow-artifacts:/{run_path}"
    assert root["files"] == [{"path": "a.txt", "is_dir": False, "file_size": 1}, {"path": "d", "is_dir": True}]
    inner = team.server.call("GET", f"{API}/artifacts/list", team.tokens["reader"],
                             params={"run_id": run_id, "path": "d"}).json()
    assert inner["files"] == [{"path": "d/b.txt", "is_dir": False, "file_size": 1}, {"path": "d/e", "is_dir": True}]
