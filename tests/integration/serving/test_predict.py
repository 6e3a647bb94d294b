"""``POST /predict/{deployment}`` on a real server: every body format, the answer, shadows and the log."""

from __future__ import annotations

import numpy as np
import pytest

from tests.integration.serving._serving import (
    AUTH,
    FEATURES,
    Server,
    Template,
    log_rows,
    records,
    rows,
    unique_id,
)


def _bodies(inputs: object) -> dict[str, dict[str, object]]:
    frame = inputs
    return {
        "records": {"records": records(frame)},
        "columns+data": {"columns": FEATURES, "data": rows(frame)},
        "dataframe_records": {"dataframe_records": records(frame)},
        "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": rows(frame)}},
    }


def test_every_body_format_gives_the_models_own_probabilities(main_server: Server, template: Template) -> None:
    inputs = template.holdout(rows=12)
    assert inputs["monthly_charges"].isna().any()  # a missing value travels as null
    expected = template.probabilities(1, inputs)
    labels = template.models[1].predict(inputs).tolist()
    answers = {}
    with main_server.client() as client:
        for name, body in _bodies(inputs).items():
            response = client.post("/predict/churn", json=body)
            assert response.status_code == 200, (name, response.text)
            answers[name] = response.json()
    for name, answer in answers.items():
        assert answer["model"] == {"name": "churn", "version": 1, "uri": "models:/churn/1"}, name
        assert answer["variant"] == "champion"
        assert answer["classes"] == [0, 1]
        assert answer["predictions"] == labels, name
        np.testing.assert_allclose(answer["probabilities"], expected, rtol=0, atol=1e-12, err_msg=name)
    first = answers["records"]
    for name, answer in answers.items():  # not merely close to the model: identical to each other
        assert answer["probabilities"] == first["probabilities"], name


def test_the_answer_echoes_the_request_id_and_names_the_model(main_server: Server, template: Template) -> None:
    request_id = unique_id("echo")
    body = {"records": records(template.holdout(rows=1)), "request_id": request_id}
    response = main_server.post("/predict/churn", json=body, headers=AUTH)  # the token: a client-chosen id
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"request_id", "deployment", "variant", "model", "predictions", "classes",
                           "probabilities"}
    assert answer["request_id"] == request_id and answer["deployment"] == "churn"
    generated = main_server.post("/predict/churn", json={"records": body["records"]}).json()["request_id"]
    assert generated and generated != request_id


def test_the_prediction_log_holds_one_row_per_record_with_inputs_and_model(main_server: Server,
                                                                           template: Template) -> None:
    inputs = template.holdout(rows=3, seed=5)
    inputs.loc[2, "monthly_charges"] = np.nan
    request_id = unique_id("logged")
    answer = main_server.post("/predict/churn", json={"records": records(inputs),
                                                               "request_id": request_id}, headers=AUTH).json()
    assert main_server.log_dir is not None
    live = log_rows(main_server.log_dir, {request_id}, deployment="churn", shadow=False, expected=3)
    assert len(live) == 3
    assert live["row"].tolist() == [0, 1, 2]
    assert set(live["variant"]) == {"champion"} and set(live["model_version"]) == {1}
    assert set(live["model_name"]) == {"churn"} and set(live["model_uri"]) == {"models:/churn/1"}
    assert set(live["deployment"]) == {"churn"} and not live["shadow"].any()
    assert (live["latency_ms"] > 0).all() and (live["latency_ms"] < 30_000).all()
    assert {f"input.{name}" for name in FEATURES} <= set(live.columns)
    assert live["input.tenure"].tolist() == inputs["tenure"].astype(float).tolist()
    assert live["input.contract"].tolist() == inputs["contract"].tolist()
    assert live["input.payment"].tolist() == inputs["payment"].tolist()
    charges = live["input.monthly_charges"].to_numpy()
    assert np.isnan(charges[1:]).all()  # nulls are logged as NaN
    np.testing.assert_array_equal(charges, inputs["monthly_charges"].to_numpy())
    assert live["prediction"].tolist() == [str(label) for label in answer["predictions"]]
    assert [list(row) for row in live["probabilities"]] == answer["probabilities"]
    assert live["timestamp"].notna().all()


def test_shadow_answers_are_logged_and_never_returned(main_server: Server, template: Template) -> None:
    inputs = template.holdout(rows=6, seed=11)
    live_expected, shadow_expected = template.probabilities(1, inputs), template.probabilities(2, inputs)
    assert not np.allclose(live_expected, shadow_expected)  # otherwise this test could not tell them apart
    request_ids = set()
    with main_server.client() as client:
        for index in range(3):
            request_id = unique_id(f"copied-{index}")
            response = client.post("/predict/churn", json={"records": records(inputs), "request_id": request_id},
                                   headers=AUTH)
            answer = response.json()
            assert response.status_code == 200
            assert "shadow" not in response.text and "/2" not in response.text
            assert set(answer) == {"request_id", "deployment", "variant", "model", "predictions", "classes",
                                   "probabilities"}
            assert answer["variant"] == "champion" and answer["model"]["version"] == 1
            np.testing.assert_allclose(answer["probabilities"], live_expected, atol=1e-12)
            request_ids.add(request_id)
    assert main_server.log_dir is not None
    shadows = log_rows(main_server.log_dir, request_ids, deployment="churn", shadow=True, expected=18)
    assert len(shadows) == 18
    assert set(shadows["variant"]) == {"shadow1"} and shadows["shadow"].all()
    assert set(shadows["model_version"]) == {2}
    for _, rows_of_request in shadows.groupby("request_id"):
        ordered = rows_of_request.sort_values("row")
        np.testing.assert_allclose(np.stack(ordered["probabilities"].to_list()), shadow_expected, atol=1e-12)
    live = log_rows(main_server.log_dir, request_ids, deployment="churn", shadow=False, expected=18)
    assert set(live["model_version"]) == {1} and len(live) == 18


def test_an_answered_prediction_with_extreme_numbers_is_logged(main_server: Server, template: Template) -> None:
    """The largest values the coercion rule takes reach the model and the log (past 64 bits is a 422)."""
    record = records(template.holdout(rows=1))[0]
    request_id = unique_id("huge")
    record["tenure"], record["monthly_charges"] = 2**63 - 1, 1.7e308
    response = main_server.post("/predict/churn", json={"records": [record], "request_id": request_id},
                                headers=AUTH)
    assert response.status_code == 200, response.text
    assert main_server.log_dir is not None
    logged = log_rows(main_server.log_dir, {request_id}, deployment="churn", shadow=False)
    assert logged["input.tenure"].tolist() == [float(2**63 - 1)]
    assert logged["input.monthly_charges"].tolist() == [1.7e308]
    past = main_server.post("/predict/churn", json={"records": [{**record, "tenure": 2**64 - 1}]})
    assert past.status_code == 422 and past.json()["error"]["field"] == "tenure"
    ready = main_server.get("/health/ready").json()
    assert "prediction_log_error" not in ready, ready["prediction_log_error"]


def test_openapi_lists_each_deployment_with_its_columns(main_server: Server) -> None:
    document = main_server.get("/openapi.json").json()
    for name in ("churn", "ab"):
        schema = document["paths"][f"/predict/{name}"]["post"]["requestBody"]["content"]["application/json"]
        record = schema["schema"]["anyOf"][0]["properties"]["records"]["items"]  # anyOf: records, columns, MLflow's
        assert record["required"] == FEATURES
    assert "customer_id" in document["paths"]["/predict/ab"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["anyOf"][0]["properties"]["records"]["items"]["properties"]
    assert main_server.get("/docs").status_code == 200


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_health_routes_answer_json(main_server: Server, path: str) -> None:
    response = main_server.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body.get("live", body.get("ready")) is True
    if path == "/health/ready":
        assert set(body["deployments"]) == {"churn", "ab"}
        assert body["deployments"]["churn"]["variants"][0]["serving"] == "models:/churn/1"
