"""The Open Inference Protocol (KServe V2) routes, by hand and through a real client (tritonclient)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.serving._serving import AUTH, FEATURES, V2_DATATYPES, Server, Template, records, v2_body


def _probabilities(answer: dict[str, Any]) -> np.ndarray:
    output = next(item for item in answer["outputs"] if item["name"] == "probabilities")
    return np.asarray(output["data"], dtype="float64").reshape(output["shape"])


def test_health_bodies_are_what_kserve_clients_read(main_server: Server) -> None:
    assert main_server.get("/v2/health/live").json() == {"live": True}
    ready = main_server.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert main_server.get("/v2/models/ab/ready").json() == {"name": "ab", "ready": True}
    assert main_server.get("/v2/models/nope/ready").status_code == 404
    assert main_server.get("/v2").json()["name"] == "shipyard"


def test_model_metadata_lists_columns_and_served_versions(main_server: Server) -> None:
    metadata = main_server.get("/v2/models/ab").json()
    assert metadata["name"] == "ab" and metadata["versions"] == ["1", "2"]
    assert [item["name"] for item in metadata["inputs"]] == FEATURES
    assert {item["name"]: item["datatype"] for item in metadata["inputs"]} == {
        "tenure": "FP64", "monthly_charges": "FP64", "contract": "BYTES", "payment": "BYTES"}
    assert {item["name"] for item in metadata["outputs"]} == {"predictions", "probabilities"}
    assert main_server.get("/v2/models/churn").json()["versions"] == ["1"]  # the shadow is not a served version
    missing = main_server.get("/v2/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_infer_answers_the_models_own_probabilities(main_server: Server, template: Template) -> None:
    inputs = template.holdout(rows=8)
    response = main_server.post("/v2/models/churn/infer", json=v2_body(inputs, id="v2-request"), headers=AUTH)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == "churn" and answer["model_version"] == "1" and answer["id"] == "v2-request"
    predictions = next(item for item in answer["outputs"] if item["name"] == "predictions")
    assert predictions["shape"] == [8] and predictions["datatype"] == "INT64"
    assert predictions["data"] == template.models[1].predict(inputs).tolist()
    np.testing.assert_allclose(_probabilities(answer), template.probabilities(1, inputs), atol=1e-12)
    same = main_server.post("/predict/churn", json={"records": records(inputs)}).json()
    assert same["probabilities"] == _probabilities(answer).tolist()  # the V2 route and /predict agree exactly


@pytest.mark.parametrize("version", [1, 2])
def test_versions_infer_goes_to_the_variant_serving_that_version(main_server: Server, template: Template,
                                                                 version: int) -> None:
    inputs = template.holdout(rows=5, seed=3)
    for _ in range(5):  # weights would send some of these elsewhere: the version pins them
        answer = main_server.post(f"/v2/models/ab/versions/{version}/infer", json=v2_body(inputs)).json()
        assert answer["model_version"] == str(version)
        assert answer["parameters"]["variant"] == ("champion" if version == 1 else "challenger")
        np.testing.assert_allclose(_probabilities(answer), template.probabilities(version, inputs), atol=1e-12)


def test_shape_n_by_1_is_read_like_shape_n(main_server: Server, template: Template) -> None:
    inputs = template.holdout(rows=3)
    body = v2_body(inputs)
    for item in body["inputs"]:
        item["shape"] = [3, 1]
        item["data"] = [[value] for value in item["data"]]
    answer = main_server.post("/v2/models/churn/infer", json=body).json()
    np.testing.assert_allclose(_probabilities(answer), template.probabilities(1, inputs), atol=1e-12)


def test_sticky_key_in_parameters_routes_as_on_predict(main_server: Server, template: Template) -> None:
    from shipyard.serving.routing import sticky_point

    inputs = template.holdout(rows=1)
    for key in (f"customer-{index}" for index in range(12)):
        expected = "champion" if sticky_point(key) < 0.8 else "challenger"
        answer = main_server.post("/v2/models/ab/infer", json=v2_body(inputs, parameters={"sticky_key": key}))
        assert answer.json()["parameters"]["variant"] == expected, key


def test_tritonclient_infers_with_json_tensors(main_server: Server, template: Template) -> None:
    inputs = template.holdout(rows=6).fillna({"monthly_charges": 55.0})  # NaN is not JSON: see the test below
    client = triton.InferenceServerClient(url=main_server.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("churn") and not client.is_model_ready("nope")
        metadata = client.get_model_metadata("ab")
        assert metadata["versions"] == ["1", "2"]
        tensors = []
        for name in FEATURES:
            values = inputs[name].to_numpy()
            array = values.astype(object) if V2_DATATYPES[name] == "BYTES" else values
            tensor = triton.InferInput(name, [len(inputs)], V2_DATATYPES[name])
            tensor.set_data_from_numpy(array, binary_data=False)
            tensors.append(tensor)
        outputs = [triton.InferRequestedOutput(name, binary_data=False) for name in ("predictions", "probabilities")]
        result = client.infer("churn", tensors, outputs=outputs, request_id="triton-1", headers=AUTH)  # own id
        assert result.get_response()["id"] == "triton-1"
        np.testing.assert_array_equal(result.as_numpy("predictions"), template.models[1].predict(inputs))
        np.testing.assert_allclose(result.as_numpy("probabilities"), template.probabilities(1, inputs), atol=1e-12)
        pinned = client.infer("ab", tensors, model_version="2", outputs=outputs)
        assert pinned.get_response()["model_version"] == "2"
        np.testing.assert_allclose(pinned.as_numpy("probabilities"), template.probabilities(2, inputs), atol=1e-12)

        binary = triton.InferInput("tenure", [1], "INT64")
        binary.set_data_from_numpy(np.array([3], dtype=np.int64))  # Triton's binary extension (the default)
        with pytest.raises(InferenceServerException) as refused:
            client.infer("churn", [binary])
        assert refused.value.status() == "400"
        assert "binary_data=False" in refused.value.message()
    finally:
        client.close()


def test_the_binary_extension_header_is_refused_before_the_body_is_read(main_server: Server) -> None:
    response = main_server.post("/v2/models/churn/infer", content=b"\x00\x01binary",
                                headers={"Inference-Header-Content-Length": "2"})
    assert response.status_code == 400
    assert "binary_data=False" in response.json()["error"]
