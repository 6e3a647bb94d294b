"""Refused requests are logged per deployment, and monitoring turns them into an error rate with causes."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.monitoring.monitor import monitor
from shipyard.predlog.layout import ERRORS, partition_files, serving_root
from shipyard.predlog.scan import read_table
from shipyard.store import Store
from shipyard.store.location import location_for
from tests.integration.serving._serving import Template, records, running_server


@pytest.mark.slow
def test_refused_requests_become_the_error_rate_of_the_window(template: Template, churn_store: Path,
                                                             tmp_path: Path) -> None:
    rows = records(template.holdout(rows=6))
    with running_server(["models:/churn@champion"], cwd=tmp_path, store=churn_store) as server:
        for row in rows:
            assert server.post("/predict/churn", json={"records": [row]}).status_code == 200
        bad = {**rows[0], "tenure": "soon"}
        for _ in range(3):
            assert server.post("/predict/churn", json={"records": [bad]}).status_code == 422
        assert server.post("/predict/churn", content=b"{not json").status_code == 400
        assert server.post("/predict/nowhere", json={"records": rows[:1]}).status_code == 404  # no deployment
        assert server.stop() == 0  # SIGTERM flushes the logs

    # each refusal names the variant it was routed to (a canary's error rate is judged per variant); a body that
    # never parsed was routed nowhere
    logged = read_table(partition_files(serving_root(Store(location_for(churn_store))) / ERRORS, "churn", None, None))
    pairs = sorted(zip(logged.column("error_type").to_pylist(), logged.column("variant").to_pylist(), strict=True),
                   key=str)
    assert pairs == [("MalformedRequestError", None)] + [("ValidationError", "champion")] * 3

    result = monitor("churn", since="1h")  # the server flushed its logs before exiting
    errors = next(item for item in result.results if item.check == "errors")
    assert errors.value == pytest.approx(4 / 10)  # 4 refused of 10 requests to churn; "nowhere" is nobody's
    assert errors.status == "alert" and errors.statistic == "error_rate"
    assert errors.message.startswith("40.0% of requests failed (4 of 10): 3 ValidationError (422, field tenure)")
    assert "1 MalformedRequestError (400, field body)" in errors.message
