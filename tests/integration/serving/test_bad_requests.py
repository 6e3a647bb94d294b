"""Every bad request a client can send gets a 4xx with ``{"error": {"type", "message", "field"}}``, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest

from shipyard.serving.app import create_app
from shipyard.serving.spec import parse_config
from tests.integration.serving._serving import TOKEN, InProcessServer, Server, unique_id
from tests.integration.serving.conftest import MAX_BODY

AUTH = {"authorization": f"Bearer {TOKEN}"}  # a test that picks its own request ids carries the token
GOOD = {"tenure": 5, "monthly_charges": 70.5, "contract": "Month-to-month", "payment": "card"}


@dataclass(frozen=True)
class Case:
    body: Any  # a JSON value, or bytes sent as they are
    status: int
    field: str | None
    kind: str
    path: str = "/predict/churn"
    mentions: str = ""  # a fragment the message must contain

    def content(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def _without(name: str) -> dict[str, Any]:
    return {key: value for key, value in GOOD.items() if key != name}


CASES = {
    "malformed JSON": Case(b'{"records": [', 400, "body", "MalformedRequestError", mentions="not valid JSON"),
    "no body": Case(b"", 400, "body", "MalformedRequestError", mentions="no body"),
    "NaN literal": Case(b'{"records": [{"tenure": NaN}]}', 400, "body", "MalformedRequestError"),
    "a list, not an object": Case([GOOD], 400, "body", "MalformedRequestError", mentions="JSON object"),
    "a string, not an object": Case("records", 400, "body", "MalformedRequestError"),
    "null body": Case(None, 400, "body", "MalformedRequestError"),
    "neither records nor columns": Case({"rows": [GOOD]}, 400, "records", "MalformedRequestError"),
    "records not a list": Case({"records": GOOD}, 400, "records", "MalformedRequestError"),
    "a record not an object": Case({"records": [GOOD, [1, 2]]}, 400, "records", "MalformedRequestError",
                                   mentions="records[1]"),
    "empty records": Case({"records": []}, 422, "records", "ValidationError", mentions="no rows"),
    "empty data": Case({"columns": list(GOOD), "data": []}, 422, "data", "ValidationError", mentions="no rows"),
    "missing column": Case({"records": [_without("monthly_charges")]}, 422, "monthly_charges", "ValidationError",
                           mentions="'monthly_charges' is missing"),
    "missing in a later record": Case({"records": [GOOD, _without("payment")]}, 422, "payment", "ValidationError",
                                      mentions="records[1]"),
    "text in a number column": Case({"records": [_with(tenure="twelve")]}, 422, "tenure", "ValidationError",
                                    mentions="'tenure'"),
    "numeric text in a number column": Case({"records": [_with(monthly_charges="inf")]}, 422, "monthly_charges",
                                            "ValidationError", mentions="(row 0)"),
    # JSON readers (orjson too) turn integers past 64 bits into the nearest float: -2**63 - 1 would silently become
    # -2**63 and 10**30 + 1 a float it is not. Found by schemathesis: both must be refused as the numbers sent.
    "an integer just past 64 bits": Case(b'{"records": [{"tenure": -9223372036854775809, "monthly_charges": 70.5, '
                                         b'"contract": "One year", "payment": "card"}]}', 422, "tenure",
                                         "ValidationError", mentions="64-bit"),
    "a 31-digit integer in a float column": Case(b'{"records": [{"tenure": 5, "monthly_charges": '
                                                 b'1000000000000000000000000000001, "contract": "One year", '
                                                 b'"payment": "card"}]}', 422, "monthly_charges", "ValidationError"),
    "boolean in a number column": Case({"records": [_with(monthly_charges=True)]}, 422, "monthly_charges",
                                       "ValidationError"),
    "object in a text column": Case({"records": [_with(contract={"months": 1})]}, 422, "contract",
                                    "ValidationError", mentions="'contract'"),
    "list in a text column": Case({"records": [_with(payment=["card"])]}, 422, "payment", "ValidationError"),
    "columns not names": Case({"columns": [1, 2], "data": [[1, 2]]}, 400, "columns", "MalformedRequestError"),
    "duplicate column": Case({"columns": ["tenure", "tenure"], "data": [[1, 2]]}, 422, "tenure",
                             "ValidationError"),
    "ragged data": Case({"columns": list(GOOD), "data": [[5, 70.5, "One year"]]}, 422, "data", "ValidationError",
                        mentions="data[0]"),
    "dataframe_split not an object": Case({"dataframe_split": [[1]]}, 400, "dataframe_split",
                                          "MalformedRequestError"),
    "request_id of the wrong type": Case({"records": [GOOD], "request_id": {"id": 1}}, 422, "request_id",
                                         "ValidationError"),
    "request_id too long": Case({"records": [GOOD], "request_id": "x" * 201}, 422, "request_id", "ValidationError"),
    "sticky_key of the wrong type": Case({"records": [GOOD], "sticky_key": [1]}, 422, "sticky_key",
                                         "ValidationError"),
    "unknown deployment": Case({"records": [GOOD]}, 404, None, "NotFoundError", path="/predict/nope",
                               mentions="'nope'"),
    "unknown route": Case({"records": [GOOD]}, 404, None, "HTTPError", path="/predictions/churn",
                          mentions="/predictions/churn"),
    "unknown sub-route": Case({"records": [GOOD]}, 404, None, "HTTPError", path="/predict/churn/extra"),
    "oversized body": Case({"records": [GOOD] * 200}, 413, "body", "PayloadTooLargeError",
                           mentions=f"{MAX_BODY:,}"),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_bad_request_gets_a_4xx_naming_the_field(main_server: Server, case: Case) -> None:
    response = main_server.post(case.path, content=case.content(), headers={"content-type": "application/json"})
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"type", "message", "field"}
    assert error["type"] == case.kind
    assert error["field"] == case.field
    assert error["message"] and case.mentions in error["message"]
    if case.field not in (None, "body", "records", "data"):
        assert case.field in error["message"]


def test_an_oversized_chunked_body_is_refused_while_it_streams(main_server: Server) -> None:
    """No Content-Length to check up front: the server counts bytes as they arrive."""

    def chunks() -> Iterator[bytes]:
        yield b'{"records": ['
        for _ in range(400):
            yield orjson.dumps(GOOD) + b","
        yield orjson.dumps(GOOD) + b"]}"

    response = main_server.post("/predict/churn", content=chunks())
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "PayloadTooLargeError"


def test_a_duplicate_request_id_is_a_conflict(main_server: Server) -> None:
    request_id = unique_id("twice")
    first = main_server.post("/predict/churn", json={"records": [GOOD], "request_id": request_id}, headers=AUTH)
    assert first.status_code == 200, first.text
    second = main_server.post("/predict/churn", json={"records": [GOOD], "request_id": request_id}, headers=AUTH)
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["type"] == "ConflictError" and request_id in error["message"]
    other = main_server.post("/predict/ab", json={"records": [GOOD], "request_id": request_id}, headers=AUTH)
    assert other.status_code == 200  # ids are unique per deployment


@pytest.fixture
def strict_server(churn_store: Path, tmp_path: Path) -> Iterator[InProcessServer]:
    """A model whose encoder raises on a category it never saw: input the signature accepts (unseen levels are
    counted, not refused) and the model does not."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import shipyard

    frame = pd.DataFrame({"contract": ["Month-to-month", "One year", "Two year"] * 10})
    model = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression())
    model.fit(frame, [1, 0, 0] * 10)
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=frame)
    shipyard.register_model(info, "strict")
    config = parse_config({"token": TOKEN, "log_dir": str(tmp_path / "logs"), "flush_interval_s": 0.1,
                           "deployments": {"strict": {"model": "models:/strict/1"}}})
    with InProcessServer(create_app(config)) as server:
        yield server


def test_a_value_the_model_refuses_is_a_422_model_error(strict_server: InProcessServer) -> None:
    response = httpx.post(f"{strict_server.url}/predict/strict", json={"records": [{"contract": "Ten year"}]})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ModelError" and error["field"] == "records" and "could not score" in error["message"]


def test_a_request_id_refused_by_the_model_can_be_sent_again(strict_server: InProcessServer) -> None:
    """Nothing was logged for it, so neither a retry nor feedback may treat the id as used."""
    request_id = unique_id("retry")
    with httpx.Client(base_url=strict_server.url, headers=AUTH) as client:  # the token: the test picks its ids
        refused = client.post("/predict/strict", json={"records": [{"contract": "Ten year"}], "request_id": request_id})
        assert refused.status_code == 422 and refused.json()["error"]["type"] == "ModelError"
        feedback = client.post("/feedback/strict", json={"request_id": request_id, "label": 1})
        assert feedback.status_code == 404, feedback.text
        retried = client.post("/predict/strict", json={"records": [{"contract": "One year"}],
                                                       "request_id": request_id})
        assert retried.status_code == 200, retried.text


def test_wrong_methods_answer_405_as_json(main_server: Server) -> None:
    response = main_server.get("/predict/churn")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "HTTPError"


@pytest.mark.parametrize(("path", "status", "mentions"), [
    ("/v2/models/churn/infer", 400, "inputs"),
    ("/v2/models/nope/infer", 404, "nope"),
    ("/v2/models/churn/versions/7/infer", 404, "version"),
    ("/v2/models/churn/versions/%C2%B2/infer", 404, "version"),  # a digit to str.isdigit(), not to int()
    ("/v2/models/churn/versions/" + "9" * 5000 + "/infer", 404, "version"),
    ("/v2/models/churn/infer/more", 404, "No route"),
])
def test_v2_errors_are_4xx_with_a_message_string(main_server: Server, path: str, status: int,
                                                 mentions: str) -> None:
    response = main_server.post(path, json={"inputs": "all of them"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and mentions in error


@pytest.mark.parametrize("datatype", [["FP64"], {"type": "FP64"}, 64, None])
def test_a_v2_datatype_that_is_not_a_name_is_a_422_naming_the_input(main_server: Server, datatype: Any) -> None:
    """Found by the fuzz test: a list or object as ``datatype`` was looked up in a dict and raised TypeError."""
    body = {"inputs": [{"name": "tenure", "shape": [1], "datatype": datatype, "data": [3.0]}]}
    response = main_server.post("/v2/models/churn/infer", json=body)
    assert response.status_code == 422, response.text
    assert "tenure" in response.json()["error"] and "datatype" in response.json()["error"]


def test_nothing_a_client_sent_was_counted_as_a_server_error(main_server: Server) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    page = main_server.get("/metrics").text
    statuses = {sample.labels["status"] for family in text_string_to_metric_families(page)
                if family.name == "shipyard_requests" for sample in family.samples}
    assert not any(status.startswith("5") for status in statuses), statuses
    assert "Traceback" not in main_server.err.read_text() and "Bug:" not in main_server.err.read_text()


def test_feedback_without_the_token_is_refused(main_server: Server) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret-token"}):
        response = httpx.post(f"{main_server.url}/feedback/churn", json={"request_id": "x", "label": 1},
                              headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["type"] == "UnauthorizedError"
