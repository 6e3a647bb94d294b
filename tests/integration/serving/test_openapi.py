"""``/openapi.json`` says what the server does: checked by hand here, then by schemathesis with every check on.

Schemathesis (its own CLI, against a real ``shipyard serve`` on 127.0.0.1) sends bodies the document allows (they
must be answered), bodies it forbids (they must be refused with a 4xx), methods it does not list (405 with
``Allow``), and checks every status, content type and answer against the document. The run is seeded and bounded
by a number of examples per operation, so CI time does not depend on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from tests.integration.serving._serving import AUTH, TOKEN, Server, Template, running_server, write_config

EXAMPLES = 10  # per operation and phase: about a minute here, the coverage phase most of it
SEED = 16


@pytest.fixture(scope="module")
def fuzzed_server(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A token, two deployments (one sticky, one with a shadow), the python runtime, default limits."""
    folder = tmp_path_factory.mktemp("openapi-server")
    store = template.copy_to(folder / ".shipyard")
    config = write_config(folder / "serving.yaml", {"token": TOKEN, "flush_interval_s": 0.2, "deployments": {
        "churn": {"variants": [{"name": "champion", "model": "models:/churn@champion"}],
                  "shadow": ["models:/churn/2"]},
        "ab": {"variants": [{"name": "champion", "model": "models:/churn@champion", "weight": 80},
                            {"name": "challenger", "model": "models:/churn@challenger", "weight": 20}],
               "sticky_key": "customer_id"}}})
    with running_server(["--config", str(config)], cwd=folder, store=store) as server:
        yield server


def _operation(document: Any, method: str, path: str) -> Any:
    assert path in document["paths"], sorted(document["paths"])
    return document["paths"][path][method]


def test_the_document_describes_bodies_errors_and_statuses(fuzzed_server: Server) -> None:
    document = fuzzed_server.get("/openapi.json").json()
    feedback = _operation(document, "post", "/feedback/churn")
    body = feedback["requestBody"]["content"]["application/json"]["schema"]
    item = body["anyOf"][0]
    assert item["required"] == ["request_id", "label"] and "row" in item["properties"]
    assert set(feedback["responses"]) == {"200", "400", "401", "403", "404", "408", "413", "415", "422"}
    assert feedback["security"] == [{"bearer": []}]
    assert feedback["responses"]["415"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]

    infer = _operation(document, "post", "/v2/models/churn/infer")
    inputs = infer["requestBody"]["content"]["application/json"]["schema"]["properties"]["inputs"]
    assert [tensor["anyOf"][0]["properties"]["name"]["const"] for tensor in inputs["prefixItems"]] == [
        "tenure", "monthly_charges", "contract", "payment"]
    assert infer["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/V2Error"}
    assert {"400", "401", "413", "415", "422", "503"} <= set(infer["responses"])

    records = _operation(document, "post", "/predict/ab")["requestBody"]["content"]["application/json"][
        "schema"]["anyOf"][0]["properties"]["records"]["items"]
    assert records["required"] == ["tenure", "monthly_charges", "contract", "payment"]
    assert "customer_id" in records["properties"]  # the sticky key column
    assert list(_operation(document, "get", "/metrics")["responses"]["200"]["content"]) == ["text/plain"]
    assert "503" in _operation(document, "get", "/health/ready")["responses"]


def test_a_wrong_method_names_the_allowed_ones(fuzzed_server: Server) -> None:
    for method, path, allowed in (("GET", "/predict/churn", "POST"), ("PUT", "/feedback/churn", "POST"),
                                  ("DELETE", "/v2/models/churn/infer", "POST"), ("POST", "/metrics", "GET")):
        response = httpx.request(method, fuzzed_server.url + path)
        assert response.status_code == 405, (method, path)
        assert allowed in response.headers["allow"].split(", "), response.headers
        assert "error" in response.json()


def test_metrics_is_text_as_documented(fuzzed_server: Server) -> None:
    response = fuzzed_server.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")


@pytest.mark.slow
def test_schemathesis_with_every_check_finds_nothing(fuzzed_server: Server, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{fuzzed_server.url}/openapi.json",
               "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "1",
               "--header", f"Authorization: {AUTH['authorization']}", "--request-timeout", "30"]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600, check=False)
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, f"schemathesis {schemathesis.__version__} found problems:\n{report}"
    assert "No issues found" in done.stdout, report
    statuses = [line for line in fuzzed_server.get("/metrics").text.splitlines()
                if line.startswith("shipyard_requests_total{")]
    assert statuses and not any('status="5' in line for line in statuses), statuses
    errors = fuzzed_server.err.read_text()
    assert "Traceback" not in errors and "Bug:" not in errors, errors[-3000:]
