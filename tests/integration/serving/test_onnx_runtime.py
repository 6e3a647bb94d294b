"""The ONNX runtime against the Python runtime on the same version, once a verified export is attached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shipyard
from tests.integration.serving._serving import Template, records, running_server, v2_body, write_config

pytestmark = pytest.mark.slow


def test_onnx_and_python_runtimes_give_the_same_labels(churn_store: Path, template: Template, tmp_path: Path) -> None:
    report = shipyard.export_onnx("models:/churn/1", tmp_path / "m.onnx")
    assert report.attached_to == "models:/churn/1"
    config = write_config(tmp_path / "serving.yaml", {"deployments": {
        "py": {"model": "models:/churn/1", "runtime": "python"},
        "ox": {"model": "models:/churn/1", "runtime": "onnx"},
        "auto": {"model": "models:/churn@champion"},  # auto takes the verified export
    }})
    inputs = template.holdout(rows=60, seed=21)
    body = {"records": records(inputs)}
    with running_server(["--config", str(config)], cwd=tmp_path, store=churn_store) as server:
        runtimes = {name: item["variants"][0]["runtime"] for name, item in server.get("/deployments").json().items()}
        assert runtimes == {"py": "python", "ox": "onnx", "auto": "onnx"}
        assert server.get("/v2/models/ox").json()["platform"] == "shipyard-onnx"
        answers = {name: server.post(f"/predict/{name}", json=body).json() for name in runtimes}
        v2 = server.post("/v2/models/ox/infer", json=v2_body(inputs))
        assert v2.status_code == 200, v2.text
    python, onnx = answers["py"], answers["ox"]
    assert onnx["predictions"] == python["predictions"] == answers["auto"]["predictions"]
    assert python["predictions"] == template.models[1].predict(inputs).tolist()
    np.testing.assert_allclose(onnx["probabilities"], python["probabilities"], atol=1e-5)
    np.testing.assert_allclose(python["probabilities"], template.probabilities(1, inputs), atol=1e-12)
    assert next(item for item in v2.json()["outputs"] if item["name"] == "predictions")["data"] == onnx["predictions"]
