"""One validation layer in front of every runtime, on a real server: infinity, numbers JSON parsers turn into
infinity (1e309) and numbers the model's input type cannot hold (1e39 for a float32 ONNX input) are a 422 naming
the column on every input path; a probability that is not finite is never returned (503 for that variant,
logged and counted in ``shipyard_model_errors_total``) and the deployment keeps serving.

Before: 1e39 through the ONNX runtime answered 200 with ``[[0.0, 1.0]]`` (float32 infinity), 1e309 was a 400
"not valid JSON" naming no column, and a model answering NaN gave 200 with ``probabilities: [[null, null]]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

import shipyard
from tests._support import wait_until
from tests._tiny_model import GOOD_ROW, NAN_ROW, tiny_frame, tiny_graph, tiny_pipeline, tiny_tree
from tests.integration.serving._serving import (
    Server,
    Template,
    log_rows,
    post_many,
    running_server,
    unique_id,
    write_config,
)

pytestmark = pytest.mark.slow
GOOD = {"tenure": 5, "monthly_charges": 70.5, "contract": "Month-to-month", "payment": "card"}
RAW = "__raw_number__"  # replaced by the bytes of a JSON number that Python's json module cannot write (1e309)


@pytest.fixture(scope="module")
def server(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """churn/1 under both runtimes; tiny/1 (NaN in float32), tiny/2 (a tree) and graph/1 (tiny/1's ONNX graph
    logged as the model, so the Python runtime runs float32 too)."""
    folder = tmp_path_factory.mktemp("finite")
    store = template.copy_to(folder / ".shipyard")
    shipyard.set_store(store)
    try:
        frame, target = tiny_frame()
        pipeline = tiny_pipeline()
        for model in (pipeline, tiny_tree()):
            with shipyard.start_run():
                shipyard.register_model(shipyard.log_model(model, input_example=frame, y_example=target), "tiny")
        with shipyard.start_run():
            shipyard.register_model(shipyard.log_model(tiny_graph(pipeline), input_example=frame, y_example=target),
                                    "graph")
        shipyard.export_onnx("models:/churn/1", folder / "churn.onnx")
        shipyard.export_onnx("models:/tiny/1", folder / "tiny.onnx")
        first = shipyard.get_model_version("churn", 1)  # churn/3: the same package, without the ONNX export
        assert shipyard.register_model(f"runs:/{first.run_id}/{first.path}", "churn").version == 3
    finally:
        shipyard.set_store(None)
    log_dir = folder / "logs"
    config = write_config(folder / "serving.yaml", {"flush_interval_s": 0.2, "log_dir": str(log_dir), "deployments": {
        "py": {"model": "models:/churn/1", "runtime": "python"},
        "ox": {"model": "models:/churn/1", "runtime": "onnx"},
        "graph": {"model": "models:/graph/1", "runtime": "python"},
        "tiny": {"model": "models:/tiny/1", "runtime": "onnx"},
        "ab": {"variants": [{"name": "logit", "model": "models:/tiny/1"}, {"name": "tree", "model": "models:/tiny/2"}]},
        "mixed": {"variants": [{"name": "tree", "model": "models:/tiny/2"}], "shadow": ["models:/tiny/1"]},
        "shadowed": {"variants": [{"name": "python", "model": "models:/churn/3"}], "shadow": ["models:/churn/1"]},
    }})
    with running_server(["--config", str(config)], cwd=folder, store=store, log_dir=log_dir) as running:
        runtimes = {(name, variant["name"]): variant["runtime"]
                    for name, item in running.get("/deployments").json().items()
                    for variant in item["variants"] + item["shadows"]}
        assert runtimes == {("py", "default"): "python", ("ox", "default"): "onnx", ("graph", "default"): "python",
                            ("tiny", "default"): "onnx", ("ab", "logit"): "onnx", ("ab", "tree"): "python",
                            ("mixed", "tree"): "python", ("mixed", "shadow1"): "onnx",
                            ("shadowed", "python"): "python", ("shadowed", "shadow1"): "onnx"}
        yield running


def _body(path: str, record: dict[str, Any], raw: str | None = None) -> bytes:
    """``record`` through one input path; a value equal to RAW is written as the JSON number ``raw``."""
    if path == "records":
        body: Any = {"records": [record]}
    elif path == "split":
        body = {"columns": list(record), "data": [list(record.values())]}
    else:
        body = {"inputs": [{"name": name, "shape": [1], "datatype": _datatype(value), "data": [value]}
                           for name, value in record.items()]}
    data = orjson.dumps(body)
    return data if raw is None else data.replace(orjson.dumps(RAW), raw.encode())


def _datatype(value: Any) -> str:
    if value == RAW or isinstance(value, float):
        return "FP64"
    return "INT64" if isinstance(value, int) else "BYTES"


def _post(server: Server, deployment: str, path: str, body: bytes, version: int | None = None) -> Any:
    url = f"/predict/{deployment}" if path != "v2" else (
        f"/v2/models/{deployment}/infer" if version is None else f"/v2/models/{deployment}/versions/{version}/infer")
    return server.post(url, content=body, headers={"content-type": "application/json"})


REFUSED = {  # case -> (column, value sent, the raw JSON number written in its place)
    "text inf": ("monthly_charges", "inf", None), "text -inf": ("monthly_charges", "-inf", None),
    "text nan": ("monthly_charges", "nan", None), "text Infinity": ("monthly_charges", "Infinity", None),
    "text inf in an integer": ("tenure", "inf", None),
    "1e309": ("monthly_charges", RAW, "1e309"), "-1e309": ("monthly_charges", RAW, "-1e309"),
    "1e309 in an integer": ("tenure", RAW, "1e309"), "10**400 in an integer": ("tenure", RAW, "1" + "0" * 400),
}


@pytest.mark.parametrize("path", ["records", "split", "v2"])
@pytest.mark.parametrize("deployment", ["py", "ox"])
@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_non_finite_inputs_are_a_422_naming_the_column_on_every_runtime_and_path(
        server: Server, deployment: str, path: str, case: str) -> None:
    column, value, raw = REFUSED[case]
    response = _post(server, deployment, path, _body(path, {**GOOD, column: value}, raw))
    assert response.status_code == 422, response.text
    answer = response.json()
    message = answer["error"] if path == "v2" else answer["error"]["message"]
    if path != "v2":
        assert answer["error"]["field"] == column
    assert f"'{column}'" in message, message


@pytest.mark.parametrize("path", ["records", "split", "v2"])
def test_a_number_past_float32_is_a_422_for_float32_models_and_a_number_for_float64_ones(
        server: Server, template: Template, path: str) -> None:
    for deployment in ("ox", "py"):
        response = _post(server, deployment, path, _body(path, {**GOOD, "monthly_charges": 1e39}))
        if deployment == "py":
            assert response.status_code == 200, response.text
            continue
        assert response.status_code == 422, response.text
        answer = response.json()
        message = answer["error"] if path == "v2" else answer["error"]["message"]
        assert "'monthly_charges'" in message and "float32" in message, message
    graph = _post(server, "graph", path, _body(path, {**GOOD_ROW, "x2": -1e39}))  # an ONNX model, Python runtime
    assert graph.status_code == 422 and "'x2'" in graph.text and "float32" in graph.text, graph.text


def test_batched_requests_with_out_of_range_values_each_get_their_own_verdict(server: Server,
                                                                              template: Template) -> None:
    inputs = template.holdout(rows=24, seed=16)
    bodies = []
    for index, record in enumerate(inputs.to_dict(orient="records")):
        record = {name: (None if isinstance(value, float) and math.isnan(value) else value)
                  for name, value in record.items()}
        bodies.append({"records": [{**record, "monthly_charges": 1e39} if index % 3 == 0 else record]})
    answers = post_many(server.url, "/predict/ox", bodies, threads=8)
    for index, (status, answer) in enumerate(answers):
        if index % 3 == 0:
            assert status == 422 and answer["error"]["field"] == "monthly_charges", answer
            continue
        assert status == 200, answer
        expected = template.probabilities(1, inputs.iloc[[index]])
        np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-5)


def _model_errors(server: Server) -> dict[tuple[str, str], float]:
    page = server.get("/metrics").text
    return {(sample.labels["deployment"], sample.labels["variant"]): sample.value
            for family in text_string_to_metric_families(page) if family.name == "shipyard_model_errors"
            for sample in family.samples if sample.name == "shipyard_model_errors_total"}


def test_a_non_finite_probability_is_a_503_for_that_variant_counted_and_logged(server: Server) -> None:
    before = _model_errors(server)
    request_id = unique_id("nan")
    for deployment in ("tiny", "graph"):  # the ONNX runtime, and the Python runtime running an ONNX graph
        response = server.post(f"/predict/{deployment}", json={"records": [NAN_ROW], "request_id": request_id})
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["type"] == "ModelOutputError", error
        assert f"'{deployment}'" in error["message"] and "'default'" in error["message"]
        assert "not finite" in error["message"] and request_id in error["message"]
        good = server.post(f"/predict/{deployment}", json={"records": [GOOD_ROW]})  # and it keeps serving
        assert good.status_code == 200 and np.isfinite(good.json()["probabilities"]).all(), good.text
    after = _model_errors(server)
    assert after[("tiny", "default")] - before.get(("tiny", "default"), 0) == 1
    assert after[("graph", "default")] - before.get(("graph", "default"), 0) == 1
    logged = wait_until(lambda: [line for line in server.err.read_text().splitlines()
                                 if request_id in line and "not finite" in line], timeout=10,
                        what="a log line naming the request")
    assert {"'tiny'", "'graph'"} <= {word for line in logged for word in line.split()}


def test_only_the_variant_that_answered_nan_is_refused(server: Server) -> None:
    """V2 versions pick the variant: v1 (logistic, ONNX runtime) cannot answer, v2 (a tree) can."""
    body = _body("v2", NAN_ROW)
    refused = _post(server, "ab", "v2", body, version=1)
    assert refused.status_code == 503 and "'logit'" in refused.json()["error"], refused.text
    answered = _post(server, "ab", "v2", body, version=2)
    assert answered.status_code == 200, answered.text
    probabilities = next(item for item in answered.json()["outputs"] if item["name"] == "probabilities")["data"]
    assert np.isfinite(probabilities).all()


def test_batched_requests_with_a_nan_answer_leave_the_others_answered(server: Server) -> None:
    rows = [NAN_ROW if index % 4 == 0 else {"x1": 0.0001 * (index % 9), "x2": 0.0008} for index in range(32)]
    answers = post_many(server.url, "/predict/tiny", [{"records": [row]} for row in rows], threads=8)
    expected = tiny_pipeline().predict_proba(pd.DataFrame(rows))
    for index, (status, answer) in enumerate(answers):
        if index % 4 == 0:
            assert status == 503, answer
            continue
        assert status == 200, answer
        np.testing.assert_allclose(answer["probabilities"], expected[[index]], atol=1e-5)


def test_a_shadow_answering_nan_is_counted_and_never_logged(server: Server) -> None:
    before = _model_errors(server)
    ids = {"nan": unique_id("shadow-nan"), "good": unique_id("shadow-good")}
    for key, record in (("nan", NAN_ROW), ("good", GOOD_ROW)):
        response = server.post("/predict/mixed", json={"records": [record], "request_id": ids[key]})
        assert response.status_code == 200, response.text  # the live tree answers both
    assert server.log_dir is not None
    logged = log_rows(server.log_dir, set(ids.values()), deployment="mixed", expected=3)
    by_variant = {(row.request_id, row.variant) for row in logged.itertuples()}
    assert by_variant == {(ids["nan"], "tree"), (ids["good"], "tree"), (ids["good"], "shadow1")}
    counted = wait_until(lambda: _model_errors(server).get(("mixed", "shadow1"), 0) - before.get(
        ("mixed", "shadow1"), 0), timeout=10, what="the shadow's model error to be counted")
    assert counted == 1


@pytest.mark.parametrize("url", ["/predict/py", "/v2/models/py/infer", "/feedback/py"])
def test_a_body_that_is_not_utf8_is_a_400_naming_the_body_and_the_byte(server: Server, url: str) -> None:
    text = '{"records": [{"tenure": 5, "monthly_charges": 70.5, "contract": "Chèque", "payment": "card"}]}'
    body = text.encode("latin-1")
    offset = body.index(b"\xe8")
    response = server.post(url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    answer = response.json()
    message = answer["error"] if url.startswith("/v2") else answer["error"]["message"]
    if not url.startswith("/v2"):
        assert answer["error"]["field"] == "body"
    assert "UTF-8" in message and f"byte offset {offset}" in message, message


def test_a_shadow_whose_input_type_cannot_hold_a_value_skips_it_and_logs_nothing(server: Server) -> None:
    """Live churn/3 runs in Python (float64 holds 1e39); its shadow churn/1 runs the float32 ONNX export. Before, the
    shadow logged the answer of +infinity, [[0.0, 1.0]], as a prediction of version 1."""
    ids = {"big": unique_id("shadowed-big"), "good": unique_id("shadowed-good")}
    for key, record in (("big", {**GOOD, "monthly_charges": 1e39}), ("good", GOOD)):
        response = server.post("/predict/shadowed", json={"records": [record], "request_id": ids[key]})
        assert response.status_code == 200, response.text
    assert server.log_dir is not None
    logged = log_rows(server.log_dir, set(ids.values()), deployment="shadowed", expected=3)
    assert {(row.request_id, row.variant) for row in logged.itertuples()} == {
        (ids["big"], "python"), (ids["good"], "python"), (ids["good"], "shadow1")}
