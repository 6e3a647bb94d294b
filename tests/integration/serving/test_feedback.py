"""``POST /feedback/{deployment}``: labels that arrive later, joined to the logged predictions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shipyard.predlog.readers import feedback_log, prediction_log
from tests._support import wait_until
from tests.integration.serving._serving import TOKEN, Server, Template, log_rows, records, unique_id

AUTH = {"authorization": f"Bearer {TOKEN}"}


def _predict(server: Server, template: Template, rows: int, prefix: str) -> str:
    request_id = unique_id(prefix)
    response = server.post("/predict/churn", json={"records": records(template.holdout(rows=rows)),
                                                   "request_id": request_id}, headers=AUTH)
    assert response.status_code == 200, response.text
    return request_id


def _feedback(server: Server, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return server.post("/feedback/churn", json=body, headers=AUTH if headers is None else headers)


def test_labels_join_the_logged_predictions_and_unknown_ids_come_back(main_server: Server,
                                                                      template: Template) -> None:
    first, second = _predict(main_server, template, 2, "fb-a"), _predict(main_server, template, 1, "fb-b")
    unknown = unique_id("never-predicted")
    response = _feedback(main_server, [{"request_id": first, "label": 1},
                                       {"request_id": first, "row": 1, "label": 0},
                                       {"request_id": second, "label": "yes"},
                                       {"request_id": unknown, "label": 1}])
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "unknown": [unknown], "unknown_rows": []}

    assert main_server.log_dir is not None
    log_rows(main_server.log_dir, {first, second}, deployment="churn", shadow=False, expected=3)
    joined = prediction_log("churn", log_dir=str(main_server.log_dir), with_feedback=True, shadow=False)
    mine = joined[joined["request_id"].isin({first, second})].set_index(["request_id", "row"])
    assert mine.loc[(first, 0), "label"] == "1" and mine.loc[(first, 0), "label_value"] == 1.0
    assert mine.loc[(first, 1), "label"] == "0" and mine.loc[(first, 1), "label_value"] == 0.0
    assert mine.loc[(second, 0), "label"] == "yes"
    labels = feedback_log("churn", log_dir=str(main_server.log_dir))
    assert unknown not in set(labels["request_id"])  # reported back, not stored


def test_the_latest_label_wins(main_server: Server, template: Template) -> None:
    request_id = _predict(main_server, template, 1, "fb-relabel")
    for label in (0, 1):
        assert _feedback(main_server, {"request_id": request_id, "label": label}).json() == {
            "accepted": 1, "unknown": [], "unknown_rows": []}
    assert main_server.log_dir is not None
    log_rows(main_server.log_dir, {request_id}, deployment="churn")

    def relabelled() -> list[Any]:
        joined = prediction_log("churn", log_dir=str(main_server.log_dir), with_feedback=True, shadow=False)
        return joined[joined["request_id"] == request_id]["label"].tolist()

    assert wait_until(relabelled, timeout=10, what="the label in the join") == ["1"]


def test_feedback_for_only_unknown_ids_is_404(main_server: Server) -> None:
    missing = [unique_id("ghost"), unique_id("ghost")]
    response = _feedback(main_server, [{"request_id": item, "label": 1} for item in missing])
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "NotFoundError" and missing[0] in error["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"label": 1}, "request_id"),
    ({"request_id": "x"}, "request_id"),
    ([], "request_id"),
    ([{"request_id": "x", "label": 1}, "no"], "request_id"),
    ({"request_id": True, "label": 1}, "request_id"),
    ({"request_id": "x", "label": None}, "label"),
    ({"request_id": "x", "label": [1]}, "label"),
    ({"request_id": "x", "label": 1, "row": -1}, "row"),
    ({"request_id": "x", "label": 1, "row": "first"}, "row"),
])
def test_bad_feedback_is_refused_naming_the_field(main_server: Server, body: Any, field: str) -> None:
    response = _feedback(main_server, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["field"] == field


def test_a_row_index_beyond_any_request_is_refused_not_a_server_error(main_server: Server,
                                                                      template: Template) -> None:
    request_id = _predict(main_server, template, 1, "fb-row")
    response = _feedback(main_server, {"request_id": request_id, "row": 2**40, "label": 1})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "row"
    fine = _feedback(main_server, {"request_id": request_id, "row": 0, "label": 1})
    assert fine.status_code == 200, fine.text  # the refused one did not poison the feedback log


def test_feedback_to_an_unknown_deployment_is_404(main_server: Server) -> None:
    response = main_server.post("/feedback/nope", json={"request_id": "x", "label": 1}, headers=AUTH)
    assert response.status_code == 404 and response.json()["error"]["type"] == "NotFoundError"


def test_a_row_given_as_a_whole_float_is_that_row(main_server: Server, template: Template) -> None:
    """The coercion rule of integer columns (3.0 is 3) for ``row`` too: JSON Schema cannot tell 1 from 1.0, so the
    OpenAPI document cannot promise one and refuse the other (found by schemathesis)."""
    request_id = _predict(main_server, template, 2, "fb-float-row")
    response = _feedback(main_server, {"request_id": request_id, "row": 1.0, "label": 1})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    fraction = _feedback(main_server, {"request_id": request_id, "row": 0.5, "label": 1})
    assert fraction.status_code == 422 and fraction.json()["error"]["field"] == "row"
