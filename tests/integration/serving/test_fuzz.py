"""Property: nothing a client sends gets a 5xx. Hypothesis writes the bodies; one in-process server answers them.

The app from ``create_app`` runs under a real uvicorn in a thread of the test process (lifespan, batchers and
log writers included), so each example costs one local HTTP request. Bodies range from arbitrary JSON values
and raw bytes to records with random keys and values and V2 tensors of random shapes and types, sent to
``/predict``, the V2 ``infer`` routes and ``/feedback``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from shipyard.serving.app import create_app
from shipyard.serving.spec import parse_config
from tests.integration.serving._serving import FEATURES, TOKEN, InProcessServer

pytestmark = pytest.mark.slow

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
cells = (scalars | st.sampled_from(["Month-to-month", "One year", "card", "", " ", "NaN", "inf", "-1e400", "3",
                                    "true"]) | st.lists(scalars, max_size=2) | st.dictionaries(st.text(max_size=3),
                                                                                              scalars, max_size=2))
keys = st.sampled_from([*FEATURES, "customer_id", "request_id", "extra"]) | st.text(max_size=6)
full_records = st.fixed_dictionaries({name: cells for name in FEATURES},
                                     optional={"customer_id": scalars, "extra": cells})
records = st.lists(st.dictionaries(keys, cells, max_size=6) | full_records, max_size=4)
# Records the coercion rule takes (whole floats in the integer column, ints in the float one, extra keys), so the
# accepted side is reached too: random cells are right for all four columns too rarely.
valid_records = st.fixed_dictionaries({
    "tenure": st.none() | st.integers(-(2**63), 2**63 - 1) | st.integers(0, 100).map(float),
    "monthly_charges": st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
    "contract": st.none() | st.text(max_size=12) | st.sampled_from(["Month-to-month", "One year"]),
    "payment": st.none() | st.text(max_size=12)}, optional={"customer_id": scalars, "extra": cells})
envelope = {"request_id": scalars | json_values, "sticky_key": scalars}
predict_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"records": records}, optional=envelope),
    st.fixed_dictionaries({"records": st.lists(valid_records, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"dataframe_records": records | json_values}, optional=envelope),
    st.fixed_dictionaries({"columns": st.lists(keys, max_size=5) | json_values,
                           "data": st.lists(st.lists(cells, max_size=5), max_size=3) | json_values}, optional=envelope),
    st.fixed_dictionaries({"dataframe_split": st.fixed_dictionaries({
        "columns": st.just(FEATURES) | st.lists(keys, max_size=5),
        "data": st.lists(st.lists(cells, min_size=4, max_size=4), max_size=3)}) | json_values}),
)
tensors = st.fixed_dictionaries({
    "name": keys, "shape": st.lists(st.integers(-2, 5), max_size=3) | json_values,
    "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BYTES", "BOOL", "UINT8", "STRING"]) | json_values,
    "data": st.lists(cells | st.lists(cells, max_size=2), max_size=4) | json_values})
v2_bodies = json_values | st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=5) | json_values},
    optional={"id": scalars | json_values, "parameters": json_values | st.fixed_dictionaries({"sticky_key": scalars})})
feedback_bodies = json_values | st.lists(st.fixed_dictionaries(
    {"request_id": scalars | json_values, "label": scalars | json_values},
    optional={"row": scalars | st.integers(min_value=-(2**66), max_value=2**66)}), max_size=3)
payloads = (st.binary(max_size=64) | predict_bodies.map(lambda body: ("predict", body))
            | v2_bodies.map(lambda body: ("v2", body)) | feedback_bodies.map(lambda body: ("feedback", body)))
v2_paths = st.sampled_from(["/v2/models/churn/infer", "/v2/models/churn/versions/1/infer",
                            "/v2/models/churn/versions/3/infer", "/v2/models/other/infer"])
predict_paths = st.sampled_from(["/predict/churn", "/predict/other"])


@pytest.fixture
def in_process(churn_store: Path, tmp_path: Path) -> Iterator[InProcessServer]:
    """The app in this process; afterwards, neither log writer may have failed on what the examples sent."""
    config = parse_config({
        "token": TOKEN, "max_body_bytes": 4096, "flush_interval_s": 0.2, "log_dir": str(tmp_path / "logs"),
        "deployments": {"churn": {
            "variants": [{"name": "champion", "model": "models:/churn@champion", "weight": 70},
                         {"name": "challenger", "model": "models:/churn@challenger", "weight": 30}],
            "shadow": ["models:/churn/2"], "sticky_key": "customer_id"}}})
    app = create_app(config)
    with InProcessServer(app) as server:
        yield server
    state = app.state.serving
    assert state.predictions.last_error is None, state.predictions.last_error
    assert state.feedback.last_error is None, state.feedback.last_error


def test_no_request_body_gets_a_server_error(in_process: InProcessServer) -> None:
    counts = {"2xx": 0, "4xx": 0}
    with httpx.Client(base_url=in_process.url, timeout=30) as client:

        @settings(max_examples=350, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        @given(payload=payloads, predict_path=predict_paths, v2_path=v2_paths)
        def check(payload: Any, predict_path: str, v2_path: str) -> None:
            if isinstance(payload, bytes):
                kind, content, path = "raw", payload, predict_path
            else:
                kind, body = payload
                content = json.dumps(body).encode()
                path = {"predict": predict_path, "v2": v2_path, "feedback": "/feedback/churn"}[kind]
            headers = {"authorization": f"Bearer {TOKEN}"} if kind == "feedback" else {}
            response = client.post(path, content=content, headers=headers)
            assert response.status_code < 500, (path, content[:300], response.text)
            answer = response.json()
            if response.status_code >= 400:
                counts["4xx"] += 1
                error = answer["error"]
                if path.startswith("/v2"):
                    assert isinstance(error, str) and error
                else:
                    assert set(error) == {"type", "message", "field"} and error["message"]
            else:
                counts["2xx"] += 1
                if kind == "predict":
                    assert len(answer["predictions"]) == len(answer["probabilities"]) >= 1

        check()
    assert counts["4xx"] > 0 and counts["2xx"] > 0, counts  # both sides of the validation were reached
