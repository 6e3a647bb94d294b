"""Bad input to the MLflow-compatible API answers 4xx in MLflow's shape, naming the field; never a 500.

Unsupported MLflow endpoints answer 501 NOT_IMPLEMENTED with what to do instead, unknown paths 404
ENDPOINT_NOT_FOUND: no request is ever taken and silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.server.conftest import Team

API = "/api/2.0/mlflow"


@pytest.fixture
def run_id(team: Team) -> str:
    experiment = team.server.call("POST", f"{API}/experiments/create", team.tokens["writer"], json={"name": "bad"})
    run = team.server.call("POST", f"{API}/runs/create", team.tokens["writer"],
                           json={"experiment_id": experiment.json()["experiment_id"]})
    return str(run.json()["run"]["info"]["run_id"])


def _cases(run_id: str) -> list[tuple[str, str, Any, int, str, str]]:
    """(method, path, body or query, status, error code, words the message must hold)."""
    return [
        ("POST", "/runs/log-metric", {"run_id": run_id, "key": "m", "value": "high", "timestamp": 1}, 400,
         "INVALID_PARAMETER_VALUE", "value of metric 'm'"),
        ("POST", "/runs/log-metric", {"run_id": run_id, "value": 1.0}, 400, "INVALID_PARAMETER_VALUE", "'key'"),
        ("POST", "/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "step": "x"}, 400,
         "INVALID_PARAMETER_VALUE", "'step'"),
        ("POST", "/runs/log-metric", {"run_id": "nope", "key": "m", "value": 1}, 400, "INVALID_PARAMETER_VALUE",
         "'run_id'"),
        ("POST", "/runs/log-metric", {"run_id": "f" * 32, "key": "m", "value": 1}, 404, "RESOURCE_DOES_NOT_EXIST",
         "not found"),
        ("POST", "/runs/log-parameter", {"run_id": run_id, "key": "bad key!", "value": 1}, 400,
         "INVALID_PARAMETER_VALUE", "param key"),
        ("POST", "/runs/log-batch", {"run_id": run_id, "metrics": [{"value": 1}]}, 400, "INVALID_PARAMETER_VALUE",
         "'metrics'"),
        ("POST", "/runs/log-batch", {"run_id": run_id, "params": "a=1"}, 400, "INVALID_PARAMETER_VALUE", "'params'"),
        ("POST", "/runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": {"name": "d"}}]}, 400,
         "INVALID_PARAMETER_VALUE", "digest"),
        ("POST", "/runs/update", {"run_id": run_id, "status": "DONE"}, 400, "INVALID_PARAMETER_VALUE", "'status'"),
        ("POST", "/runs/search", {"filter": "metrics.m >> 1"}, 400, "INVALID_PARAMETER_VALUE", "filter"),
        ("POST", "/runs/search", {"max_results": 0}, 400, "INVALID_PARAMETER_VALUE", "'max_results'"),
        ("POST", "/runs/search", {"experiment_ids": ["abc"]}, 400, "INVALID_PARAMETER_VALUE", "'experiment_ids'"),
        ("POST", "/runs/search", {"page_token": "zz"}, 400, "INVALID_PARAMETER_VALUE", "'page_token'"),
        ("GET", "/metrics/get-history", {"run_id": run_id}, 400, "INVALID_PARAMETER_VALUE", "'metric_key'"),
        ("GET", "/experiments/get", {"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST", "999"),
        ("GET", "/experiments/get-by-name", {"experiment_name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST", "nope"),
        ("POST", "/experiments/create", {"name": "bad"}, 400, "RESOURCE_ALREADY_EXISTS", "already exists"),
        ("POST", "/experiments/create", {"name": ""}, 400, "INVALID_PARAMETER_VALUE", "'name'"),
        ("POST", "/experiments/search", {"filter": "creation_time > 5"}, 400, "INVALID_PARAMETER_VALUE",
         "accepts name compared"),
        ("POST", "/experiments/set-experiment-tag", {"experiment_id": "1", "key": "a", "value": "b"}, 501,
         "NOT_IMPLEMENTED", "Tagging an experiment"),
        ("POST", "/registered-models/create", {"name": "no/slash"}, 400, "INVALID_PARAMETER_VALUE", "no/slash"),
        ("POST", "/model-versions/create", {"name": "churn", "source": "s3://b/model"}, 400, "INVALID_PARAMETER_VALUE",
         "'source'"),
        ("POST", "/model-versions/create", {"name": "churn", "source": "models:/m-nope"}, 404,
         "RESOURCE_DOES_NOT_EXIST", "m-nope"),
        ("POST", "/model-versions/create", {"name": "churn", "source": f"mlflow-artifacts:/1/{run_id}/artifacts/m"},
         404, "RESOURCE_DOES_NOT_EXIST", "no files under 'm'"),
        ("POST", "/logged-models", {"experiment_id": "0"}, 501, "NOT_IMPLEMENTED", "mlflow.start_run()"),
        ("POST", "/logged-models", {"experiment_id": "0", "source_run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST",
         "not found"),
        ("GET", "/logged-models/m-nope", {}, 404, "RESOURCE_DOES_NOT_EXIST", "m-nope"),
        ("POST", "/logged-models/search", {"filter": "metrics.auc > 1"}, 400, "INVALID_PARAMETER_VALUE",
         "logged model filter"),
        ("POST", "/runs/outputs", {"run_id": run_id, "models": [{"step": 1}]}, 400, "INVALID_PARAMETER_VALUE",
         "'model_id'"),
        ("POST", "/runs/log-model", {"run_id": run_id, "model_json": "{}"}, 501, "NOT_IMPLEMENTED", "log-model"),
        ("GET", "/no/such/thing", {}, 404, "ENDPOINT_NOT_FOUND", "docs/from-mlflow.md"),
        ("POST", "/registered-models/alias", {"name": "churn", "alias": "staging", "version": "x"}, 400,
         "INVALID_PARAMETER_VALUE", "'version'"),
        ("POST", "/registered-models/alias", {"name": "churn", "alias": "staging", "version": "1"}, 404,
         "RESOURCE_DOES_NOT_EXIST", "churn"),
        ("GET", "/registered-models/alias", {"name": "churn", "alias": "champion"}, 404, "RESOURCE_DOES_NOT_EXIST",
         "churn"),
        ("GET", "/model-versions/search", {"filter": "source_path = 'x'"}, 400, "INVALID_PARAMETER_VALUE",
         "model version filter"),
        ("GET", "/model-versions/get", {"name": "churn"}, 400, "INVALID_PARAMETER_VALUE", "'version'"),
    ]


def test_bad_requests_get_4xx_in_mlflow_shape_naming_the_field(team: Team, run_id: str) -> None:
    token = team.tokens["admin"]
    for method, path, body, status, code, words in _cases(run_id):
        if method == "GET":
            answer = team.server.call(method, API + path, token, params=body)
        else:
            answer = team.server.call(method, API + path, token, json=body)
        assert answer.status_code == status, (path, body, answer.text)
        document = answer.json()
        assert document["error_code"] == code, (path, body, document)
        assert words in document["message"], (path, body, document)


def test_bodies_that_are_not_json_objects_are_400_malformed(team: Team) -> None:
    token = team.tokens["writer"]
    for content in (b"{not json", b"[1, 2]", b'"text"'):
        answer = team.server.call("POST", f"{API}/runs/create", token, content=content,
                                  headers={"content-type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == "MALFORMED_REQUEST"


def test_artifact_paths_outside_a_run_are_refused(team: Team, run_id: str) -> None:
    token = team.tokens["writer"]
    root = "/api/2.0/mlflow-artifacts/artifacts"
    for path, status in ((f"/1/{run_id}/artifacts/../../etc/passwd", 400), ("/1/not-a-run/artifacts/a.txt", 400),
                         (f"/999/{run_id}/artifacts/a.txt", 404), (f"/1/{run_id}/artifacts", 400)):
        answer = team.server.call("PUT", root + path, token, content=b"x")
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    missing = team.server.call("GET", f"{root}/1/{run_id}/artifacts/none.txt", token)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_json_body_over_the_limit_is_413_without_being_read_whole(team: Team) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(80):
            yield b"x" * (1 << 20)
        yield b'"}'

    answer = team.server.call("POST", f"{API}/experiments/create", team.tokens["writer"], content=body(),
                              headers={"content-type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED" and "64 MiB" in answer.json()["message"]
