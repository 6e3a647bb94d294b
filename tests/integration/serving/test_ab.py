"""A/B traffic on a two-worker server: weighted split proportions, sticky keys across processes, metrics summed.

The server runs ``--workers 2`` with a config file (80/20 over champion v1 and challenger v2, sticky by
``customer_id``). Which worker answered is read from the prediction log: every file name carries the PID
of the process that wrote it.
"""

from __future__ import annotations

import math
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import shipyard
from shipyard.serving.routing import sticky_point
from tests._support import wait_until
from tests.integration.serving._serving import (
    Server,
    Template,
    log_rows,
    post_many,
    records,
    running_server,
    write_config,
)

pytestmark = pytest.mark.slow
REQUESTS = 2000
CHALLENGER_SHARE = 0.2


@pytest.fixture(scope="module")
def two_workers(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("two-workers")
    store = template.copy_to(folder / ".shipyard")
    log_dir = folder / "logs"
    config = write_config(folder / "serving.yaml", {
        "flush_interval_s": 0.1,
        "refresh_interval_s": 3600,  # aliases move only on SIGHUP here
        "log_dir": str(log_dir),
        "deployments": {"churn": {
            "variants": [{"name": "champion", "model": "models:/churn@champion", "weight": 80},
                         {"name": "challenger", "model": "models:/churn@challenger", "weight": 20}],
            "sticky_key": "customer_id"}},
    })
    with running_server(["--config", str(config), "--workers", "2"], cwd=folder, store=store,
                        log_dir=log_dir) as server:
        yield server
        assert server.stop() == 0, server.describe()  # SIGTERM is a clean stop


def test_weights_split_traffic_in_proportion(two_workers: Server, template: Template) -> None:
    row = records(template.holdout(rows=1))
    responses = post_many(two_workers.url, "/predict/churn", [{"records": row}] * REQUESTS)
    assert [status for status, _ in responses] == [200] * REQUESTS
    answers = [answer for _, answer in responses]
    variants = Counter(answer["variant"] for answer in answers)
    assert set(variants) == {"champion", "challenger"}
    # Binomial(2000, 0.2): sd = 17.9; five of them either side fails a correct server once in ~2 million runs.
    sd = math.sqrt(REQUESTS * CHALLENGER_SHARE * (1 - CHALLENGER_SHARE))
    assert abs(variants["challenger"] - REQUESTS * CHALLENGER_SHARE) <= 5 * sd, variants
    for answer in answers:
        assert answer["model"]["version"] == (1 if answer["variant"] == "champion" else 2)


def _pids_by_request(log_dir: Path) -> dict[str, set[int]]:
    """request_id -> PIDs of the workers whose log files hold it (``part-<ms>-<replica>_<pid>-<n>.parquet``)."""
    served: dict[str, set[int]] = {}
    for path in (log_dir / "predictions").rglob("part-*.parquet"):
        pid = int(path.name.split("-")[2].rsplit("_", 1)[1])
        for request_id in pq.read_table(path, columns=["request_id"]).column("request_id").to_pylist():
            served.setdefault(request_id, set()).add(pid)
    return served


def test_a_sticky_key_gets_one_variant_in_every_worker(two_workers: Server, template: Template) -> None:
    assert two_workers.log_dir is not None
    keys = [f"customer-{index}" for index in range(40)]
    expected = {key: "champion" if sticky_point(key) < 1 - CHALLENGER_SHARE else "challenger" for key in keys}
    assert set(expected.values()) == {"champion", "challenger"}  # the keys exercise both variants
    row = records(template.holdout(rows=1))[0]
    seen: dict[str, set[str]] = {key: set() for key in keys}
    key_of: dict[str, str] = {}
    both_workers: set[str] = set()
    for attempt in range(10):  # the kernel picks the worker per connection: repeat until both served most keys
        bodies: list[dict[str, Any]] = []
        for index, key in enumerate(keys):
            request_id = f"sticky-{attempt}-{index}"
            key_of[request_id] = key
            # the key as the sticky column of the record, or as the body's sticky_key: the same routing
            bodies.append({"records": [{**row, "customer_id": key}], "request_id": request_id} if index % 2 else
                          {"records": [row], "sticky_key": key, "request_id": request_id})
        responses = post_many(two_workers.url, "/predict/churn", bodies, fresh_connections=True)
        for (status, answer), body in zip(responses, bodies, strict=True):
            assert status == 200, answer
            seen[key_of[body["request_id"]]].add(answer["variant"])
        ids = {body["request_id"] for body in bodies}
        log_rows(two_workers.log_dir, ids, deployment="churn")
        served = _pids_by_request(two_workers.log_dir)
        for key in keys:
            pids = set().union(*(served[request_id] for request_id, owner in key_of.items() if owner == key))
            if len(pids) >= 2:
                both_workers.add(key)
        if len(both_workers) >= len(keys) // 2:
            break
    assert {variant for variants in seen.values() for variant in variants} == {"champion", "challenger"}
    for key, variants in seen.items():
        assert variants == {expected[key]}, key
    assert len(both_workers) >= len(keys) // 2, f"only {len(both_workers)} keys reached both workers"
    logged = log_rows(two_workers.log_dir, set(key_of), deployment="churn")
    assert (logged["sticky_key"] == logged["request_id"].map(key_of)).all()


def test_metrics_sum_both_workers(two_workers: Server, template: Template) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def total() -> float:
        page = two_workers.get("/metrics").text
        return sum(sample.value for family in text_string_to_metric_families(page)
                   if family.name == "shipyard_requests" for sample in family.samples
                   if sample.name == "shipyard_requests_total")

    before = total()
    row = records(template.holdout(rows=1))
    responses = post_many(two_workers.url, "/predict/churn", [{"records": row}] * 60, fresh_connections=True)
    assert all(status == 200 for status, _ in responses)
    # Any worker answers /metrics with the sum over both (a single worker's view would fall short).
    wait_until(lambda: total() >= before + 60, timeout=10, what="the summed request count")
    promtool = shutil.which("promtool")
    if promtool is not None:
        import subprocess

        checked = subprocess.run([promtool, "check", "metrics"], input=two_workers.get("/metrics").content,
                                 capture_output=True, timeout=30, check=False)
        assert checked.returncode == 0, checked.stderr.decode()


def test_sighup_makes_every_worker_pick_up_a_moved_alias(two_workers: Server, template: Template) -> None:
    """Last in this module: it moves ``challenger`` from v2 to v1 in the module's store."""
    from prometheus_client.parser import text_string_to_metric_families

    def reloads() -> float:
        page = two_workers.get("/metrics").text
        return sum(sample.value for family in text_string_to_metric_families(page)
                   if family.name == "shipyard_model_reloads" for sample in family.samples
                   if sample.labels["variant"] == "challenger" and sample.name.endswith("_total"))

    assert reloads() == 0
    shipyard.set_store(two_workers.store)
    shipyard.set_alias("churn", "challenger", 1)
    shipyard.set_store(None)
    two_workers.proc.send_signal(signal.SIGHUP)  # to the supervisor, which passes it on
    wait_until(lambda: reloads() == 2, timeout=15, what="both workers to reload the challenger")
    key = next(f"customer-{index}" for index in range(100) if sticky_point(f"customer-{index}") >= 0.8)
    row = records(template.holdout(rows=1))
    responses = post_many(two_workers.url, "/predict/churn", [{"records": row, "sticky_key": key}] * 40,
                          fresh_connections=True)
    assert {(answer["variant"], answer["model"]["version"]) for _, answer in responses} == {("challenger", 1)}
    assert two_workers.proc.poll() is None  # SIGHUP reloads, it does not stop the server
