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


def test_auto_serves_the_verified_export_of_a_pipeline_with_string_imputers(isolated_store: Path,
                                                                             tmp_path: Path) -> None:
    """Text columns with NaN behind most-frequent imputers and 60+ one-hot levels: ``runtime: auto`` takes the
    verified ONNX export, and requests with missing text (null, or the column left out of a v2 request's data
    as null) answer as the Python runtime does."""
    import pandas as pd
    from sklearn.impute import SimpleImputer

    from tests._imputed_model import TEXT_COLUMNS, imputed_pipeline, telco_like

    data, target = telco_like()
    with shipyard.start_run():
        info = shipyard.log_model(imputed_pipeline(SimpleImputer(strategy="most_frequent")).fit(data, target),
                                  input_example=data)
    shipyard.register_model(info, "imputed")
    shipyard.export_onnx("models:/imputed/1", tmp_path / "imputed.onnx")
    config = write_config(tmp_path / "serving.yaml", {"deployments": {
        "auto": {"model": "models:/imputed/1"},
        "py": {"model": "models:/imputed/1", "runtime": "python"},
    }})
    held_out, _ = telco_like(size=80, seed=9)
    held_out.loc[:5, ["contract", "region"]] = None  # some rows miss two texts at once
    assert held_out[TEXT_COLUMNS].isna().sum().min() > 0
    body = {"records": records(held_out)}
    shipyard.set_store(None)
    with running_server(["--config", str(config)], cwd=tmp_path, store=isolated_store) as server:
        runtimes = {name: item["variants"][0]["runtime"] for name, item in server.get("/deployments").json().items()}
        answers = {name: server.post(f"/predict/{name}", json=body).json() for name in runtimes}
        v2 = server.post("/v2/models/auto/infer", json={"inputs": [
            {"name": name, "shape": [len(body["records"])], "datatype": "BYTES" if name in TEXT_COLUMNS else "FP64",
             "data": [row[name] for row in body["records"]]} for name in held_out.columns]})
        assert v2.status_code == 200, v2.text
    assert runtimes == {"auto": "onnx", "py": "python"}
    assert answers["auto"]["predictions"] == answers["py"]["predictions"]
    np.testing.assert_allclose(answers["auto"]["probabilities"], answers["py"]["probabilities"], atol=1e-5)
    expected = shipyard.load_model("models:/imputed/1").predict_proba(pd.DataFrame(held_out)).to_numpy()
    np.testing.assert_allclose(answers["py"]["probabilities"], expected, atol=1e-12)
    v2_labels = next(item for item in v2.json()["outputs"] if item["name"] == "predictions")["data"]
    assert v2_labels == answers["auto"]["predictions"]
