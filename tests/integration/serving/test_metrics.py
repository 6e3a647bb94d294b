"""``GET /metrics``: the Prometheus page parsed by prometheus_client's own parser (and promtool when installed)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.serving._serving import AUTH, Server, Template, records, unique_id


@pytest.fixture(scope="module")
def page(main_server: Server, template: Template) -> str:
    inputs = records(template.holdout(rows=4))
    for _ in range(5):
        assert main_server.post("/predict/churn", json={"records": inputs}).status_code == 200
    assert main_server.post("/predict/churn", json={"records": [{"tenure": "x"}]}).status_code == 422
    reused = {"records": inputs, "request_id": unique_id("metrics")}
    assert [main_server.post("/predict/churn", json=reused, headers=AUTH).status_code for _ in range(2)] == [200, 409]
    response = main_server.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def _families(page: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(page)}


def test_the_page_has_the_documented_families_with_units(page: str) -> None:
    families = _families(page)
    expected = {"shipyard_requests": "counter", "shipyard_request_duration_seconds": "histogram",
                "shipyard_batch_rows": "histogram", "shipyard_predictions": "counter",
                "shipyard_model_version_info": "gauge", "shipyard_model_duration_seconds": "histogram",
                "shipyard_model_load_seconds": "gauge", "shipyard_prediction_log_queue_entries": "gauge"}
    for name, kind in expected.items():
        assert name in families, f"{name} missing from /metrics"
        assert families[name].type == kind, name
    assert all(name.startswith("shipyard_") for name in families)
    assert "_created" not in page  # prometheus_client's extra series are turned off


def test_counters_and_histograms_hold_what_was_served(page: str) -> None:
    families = _families(page)
    requests = {(sample.labels["deployment"], sample.labels["variant"], sample.labels["status"]): sample.value
                for sample in families["shipyard_requests"].samples
                if sample.name == "shipyard_requests_total"}
    assert requests[("churn", "champion", "200")] >= 5
    assert requests[("churn", "champion", "422")] >= 1  # refused inputs are answered requests too
    assert requests[("churn", "champion", "409")] >= 1
    latency = [sample for sample in families["shipyard_request_duration_seconds"].samples
               if sample.labels.get("deployment") == "churn" and sample.labels.get("variant") == "champion"]
    buckets = {sample.labels["le"]: sample.value for sample in latency if sample.name.endswith("_bucket")}
    count = next(sample.value for sample in latency if sample.name.endswith("_count"))
    assert "+Inf" in buckets and buckets["+Inf"] == count >= 5
    values = [buckets[le] for le in sorted(buckets, key=lambda le: float(le))]
    assert values == sorted(values)  # cumulative buckets
    batch = [sample for sample in families["shipyard_batch_rows"].samples
             if sample.name == "shipyard_batch_rows_bucket" and sample.labels["le"] == "+Inf"]
    assert batch and all(sample.value >= 1 for sample in batch)
    predicted = sum(sample.value for sample in families["shipyard_predictions"].samples
                    if sample.labels["deployment"] == "churn" and sample.labels["variant"] == "champion")
    assert predicted >= 20  # 5 requests of 4 rows, by predicted class


def test_model_version_info_names_each_variants_version(page: str) -> None:
    info = {(sample.labels["deployment"], sample.labels["variant"]): sample.labels
            for sample in _families(page)["shipyard_model_version_info"].samples}
    assert info[("churn", "champion")]["version"] == "1"
    assert info[("churn", "shadow1")]["version"] == "2"
    assert info[("ab", "challenger")]["version"] == "2"
    assert info[("ab", "champion")]["runtime"] == "python"


def test_no_request_id_becomes_a_label(page: str) -> None:
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            assert not set(sample.labels) & {"request_id", "sticky_key", "customer_id"}, sample


def test_promtool_accepts_the_page(page: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus); the parser checks above still ran")
    checked = subprocess.run([promtool, "check", "metrics"], input=page.encode(), capture_output=True, timeout=30,
                             check=False)
    assert checked.returncode == 0, checked.stderr.decode()
