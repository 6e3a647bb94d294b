"""One coercion rule on every input path of a real server: lossless conversions only, the rest a 422 naming the
column and the row; columns the model does not take are dropped and reported, never a failed request.

The rule (docs/models.md, "Input values"): 3.0 in an integer column is 3; a JSON integer in a float column is that
float when a float holds it exactly; true/false is not a number, a number is not text, text is not a number
("89.5" included); 2.5 in an integer column is refused.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from tests._support import wait_until
from tests.integration.serving._serving import FEATURES, Server, Template, post_many, records

GOOD = {"tenure": 5, "monthly_charges": 70.5, "contract": "Month-to-month", "payment": "card"}
PATHS = ["records", "dataframe_records", "columns", "dataframe_split", "v2", "v2 version"]

ACCEPTED = {  # value sent -> the value the model sees
    "integral float in an integer column": ("tenure", 3.0, 3),
    "integer in a float column": ("monthly_charges", 89, 89.0),
    "null in a number column": ("monthly_charges", None, None),
}
REFUSED = {
    "fraction in an integer column": ("tenure", 2.5),
    "numeric text in an integer column": ("tenure", "3"),
    "integer past 64 bits": ("tenure", 2**63),
    "numeric text in a float column": ("monthly_charges", "89.5"),
    "integer a float cannot hold": ("monthly_charges", 2**53 + 1),
    "boolean in a float column": ("monthly_charges", True),
    "number in a text column": ("contract", 3),
    "boolean in a text column": ("payment", False),
}


def _datatype(values: list[Any]) -> str:
    if all(isinstance(value, bool) for value in values):
        return "BOOL"
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "INT64"
    return "FP64" if all(isinstance(value, float) or value is None for value in values) else "BYTES"


def _send(server: Server, path: str, rows: list[dict[str, Any]]) -> tuple[int, Any]:
    """``rows`` through one input path (each a full record; extra keys included). A V2 tensor has one datatype,
    so V2 requests carry only the last row (the one under test): a real client never mixes types in a tensor."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    table = {"columns": names, "data": [[row.get(name) for name in names] for row in rows]}
    if path in ("v2", "v2 version"):
        inputs = [{"name": name, "shape": [1], "datatype": _datatype([rows[-1][name]]), "data": [rows[-1][name]]}
                  for name in names]
        url = "/v2/models/churn/infer" if path == "v2" else "/v2/models/ab/versions/2/infer"
        response = server.post(url, json={"inputs": inputs})
    else:
        body = {"records": {"records": rows}, "dataframe_records": {"dataframe_records": rows}, "columns": table,
                "dataframe_split": {"dataframe_split": table}}[path]
        response = server.post("/predict/churn", json=body)
    return response.status_code, response.json()


def _probabilities(path: str, answer: dict[str, Any]) -> list[list[float]]:
    if path.startswith("v2"):
        output = next(item for item in answer["outputs"] if item["name"] == "probabilities")
        return np.asarray(output["data"]).reshape(output["shape"]).tolist()
    return list(answer["probabilities"])


def _version(path: str) -> int:
    return 2 if path == "v2 version" else 1


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", list(ACCEPTED), ids=list(ACCEPTED))
def test_a_lossless_conversion_is_accepted_on_every_path(main_server: Server, template: Template, path: str,
                                                         case: str) -> None:
    column, sent, seen = ACCEPTED[case]
    status, answer = _send(main_server, path, [GOOD, {**GOOD, column: sent}])
    assert status == 200, answer
    import pandas as pd

    sent_rows = [{**GOOD, column: seen}] if path.startswith("v2") else [GOOD, {**GOOD, column: seen}]
    expected = template.probabilities(_version(path), pd.DataFrame(sent_rows))
    np.testing.assert_allclose(_probabilities(path, answer), expected, atol=1e-12)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_anything_else_is_a_422_naming_the_column_and_row(main_server: Server, path: str, case: str) -> None:
    column, sent = REFUSED[case]
    status, answer = _send(main_server, path, [GOOD, {**GOOD, column: sent}])
    assert status == 422, answer
    if path.startswith("v2"):
        message, row = answer["error"], 0
    else:
        assert answer["error"]["type"] == "ValidationError" and answer["error"]["field"] == column
        message, row = answer["error"]["message"], 1
    assert f"'{column}'" in message and f"(row {row})" in message and repr(sent) in message, message


def test_batched_requests_each_get_their_own_verdict(main_server: Server, template: Template) -> None:
    """Concurrent requests share model calls; a refused one never changes another's answer."""
    import pandas as pd

    holdout = records(template.holdout(rows=24, seed=41))
    bodies = []
    for index, record in enumerate(holdout):
        tenure = float(record["tenure"]) if index % 3 else record["tenure"] + 0.5
        bodies.append({"records": [{**record, "tenure": tenure, "customer_id": f"batch-{index}"}]})
    answers = post_many(main_server.url, "/predict/ab", bodies, threads=8)
    for index, ((status, answer), record) in enumerate(zip(answers, holdout, strict=True)):
        if index % 3 == 0:
            assert status == 422 and answer["error"]["field"] == "tenure", answer
            continue
        assert status == 200, answer
        assert "ignored_columns" not in answer  # the sticky column is the deployment's, not an extra
        expected = template.probabilities(answer["model"]["version"], pd.DataFrame([record])[FEATURES])
        np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_extra_columns_are_dropped_and_reported(main_server: Server, template: Template, path: str) -> None:
    extra = f"zip_{uuid.uuid4().hex[:8]}"
    rows = [{**GOOD, extra: {"any": "thing"} if not path.startswith("v2") else "9000"}, {**GOOD, extra: "9000"}]
    status, answer = _send(main_server, path, rows)
    assert status == 200, answer
    reported = answer["parameters"]["ignored_columns"] if path.startswith("v2") else answer["ignored_columns"]
    assert reported == [extra]
    import pandas as pd

    expected = template.probabilities(_version(path), pd.DataFrame([GOOD] if path.startswith("v2") else [GOOD, GOOD]))
    np.testing.assert_allclose(_probabilities(path, answer), expected, atol=1e-12)
    again = _send(main_server, path, rows)
    assert again[0] == 200
    logged = wait_until(lambda: [line for line in main_server.err.read_text().splitlines() if extra in line],
                        timeout=10, what=f"a log line naming {extra}")
    assert len(logged) == 1, logged  # said once per column, not once per request
    status, plain = _send(main_server, path, [GOOD])
    assert status == 200 and "ignored_columns" not in (plain["parameters"] if path.startswith("v2") else plain)
