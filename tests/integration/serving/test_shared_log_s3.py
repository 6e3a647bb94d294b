"""Two ``shipyard serve`` replicas writing one prediction log on a real S3 server (moto), read back by the CLI.

The servers are told only ``log_dir: s3://bucket/shared`` in ``serving.yaml`` and the standard AWS variables
(``AWS_ENDPOINT_URL`` points at moto); each gets its own ``SHIPYARD_REPLICA`` as a Kubernetes pod would get its
name. Predictions go to replica A and their feedback to replica B (a load balancer does not care), replica B
is drained with SIGTERM while it is under load, and then ``shipyard predictions``, ``shipyard monitor report``
and ``shipyard lineage REQUEST_ID`` read the shared log, and give the same answers as on a local copy of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.predlog.readers import feedback_log, prediction_log
from tests._servers import s3
from tests._support import wait_until
from tests.integration.serving._serving import AUTH, TOKEN, Load, Template, records, running_server, write_config

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(s3.unavailable_reason() is not None, reason=str(s3.unavailable_reason()))]
PREDICTIONS = 40


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3.moto_server() as url:
        yield url


@pytest.fixture
def shared_log(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<new bucket>/shared``; the AWS variables are set in this process, so the servers inherit them."""
    return f"s3://{s3.new_bucket(monkeypatch, endpoint, tmp_path, 'predictions')}/shared"


def cli(*args: str, cwd: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_STORE": str(store), "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=180, check=False)


def test_two_replicas_share_one_log_on_s3_and_a_drained_replica_loses_nothing(
        churn_store: Path, template: Template, shared_log: str, endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "serving.yaml", {
        "token": TOKEN, "flush_interval_s": 0.2, "log_dir": shared_log,
        "deployments": {"churn": {"variants": [{"name": "champion", "model": "models:/churn@champion"}]}}})
    started = time.time()
    inputs = records(template.holdout(rows=PREDICTIONS, seed=5))
    ids = [f"shared-{index:03d}-{uuid.uuid4().hex[:8]}" for index in range(PREDICTIONS)]
    with running_server(["--config", str(config)], cwd=tmp_path, store=churn_store,
                        environment={**os.environ, "SHIPYARD_REPLICA": "replica-a"}) as replica_a, \
            running_server(["--config", str(config)], cwd=tmp_path, store=churn_store,
                           environment={**os.environ, "SHIPYARD_REPLICA": "replica-b"}) as replica_b:
        for request_id, record in zip(ids, inputs, strict=True):
            answer = replica_a.post("/predict/churn", json={"records": [record], "request_id": request_id},
                                    headers=AUTH)
            assert answer.status_code == 200, answer.text
        # B never saw these requests: it finds A's answers in the shared log (A flushes every 0.2 s).
        labels = [{"request_id": request_id, "label": index % 2} for index, request_id in enumerate(ids)]
        feedback = replica_b.post("/feedback/churn", json=labels, headers=AUTH)
        assert feedback.status_code == 200, feedback.text
        assert feedback.json() == {"accepted": PREDICTIONS, "unknown": [], "unknown_rows": []}

        with Load(replica_b.url, "/predict/churn", inputs[0], threads=4, headers=AUTH) as load:
            wait_until(lambda: len(load.answered()) >= 100, timeout=60, what="load on replica B before SIGTERM")
            replica_b.proc.send_signal(signal.SIGTERM)  # drained under load: the last flush is only in memory
            drained = replica_b.proc.wait(timeout=45)
            load.stop()
        assert drained == 0, replica_b.describe()
        assert replica_a.stop() == 0, replica_a.describe()

    answered = {item.request_id for item in load.answered() if item.status == 200}
    assert len(answered) >= 100
    logged = prediction_log("churn", log_dir=shared_log)
    assert logged["request_id"].is_unique
    assert set(ids) <= set(logged["request_id"])
    lost = answered - set(logged["request_id"])
    assert not lost, f"{len(lost)} of {len(answered)} answers of the drained replica are not in the log"
    assert len(logged) == PREDICTIONS + len(answered) + len(
        {item.request_id for item in load.sent if item.status is None} & set(logged["request_id"]))
    assert len(feedback_log("churn", log_dir=shared_log)) == PREDICTIONS

    bucket = shared_log.split("/")[2]
    keys = s3.list_keys(endpoint, bucket, "shared/")
    writers = {key.rsplit("/", 1)[1].split("-")[2].rsplit("_", 1)[0] for key in keys if key.endswith(".parquet")}
    assert writers == {"replica_a", "replica_b"}  # one writer per file: each file named after its process
    assert any("/feedback/" in key and "-replica_b_" in key for key in keys)  # feedback logged by who received it

    local = tmp_path / "local-copy"
    _download(bucket, "shared", local)
    span = ["--from", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started - 60)),
            "--to", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60))]
    reports = {}
    for name, log_dir in (("s3", shared_log), ("local", str(local))):
        done = cli("monitor", "report", "-d", "churn", *span, "--json", "-o", str(tmp_path / f"{name}.html"),
                   "--log-dir", log_dir, cwd=tmp_path, store=churn_store)
        assert done.returncode in (0, 3), done.stdout + done.stderr
        reports[name] = _without(json.loads(done.stdout), "report")
    assert reports["s3"] == reports["local"]
    assert reports["s3"]["current"]["rows"] == len(logged)
    assert reports["s3"]["current"]["labelled_rows"] == PREDICTIONS  # every label from B joins A's predictions

    lineages = {}
    for name, log_dir in (("s3", shared_log), ("local", str(local))):
        done = cli("lineage", ids[7], "--json", "--log-dir", log_dir, cwd=tmp_path, store=churn_store)
        assert done.returncode == 0, done.stdout + done.stderr
        lineages[name] = json.loads(done.stdout)
    assert lineages["s3"] == lineages["local"]
    assert lineages["s3"]["request_id"] == ids[7]
    assert [item["label"] for item in lineages["s3"]["feedback"]] == ["1"]
    shown = cli("predictions", "churn", "--since", "1h", "--limit", "0", "--json", "--log-dir", shared_log,
                cwd=tmp_path, store=churn_store)
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)) == len(logged)


def _download(bucket: str, prefix: str, into: Path) -> None:
    client = s3.client(os.environ["AWS_ENDPOINT_URL"])
    for key in s3.list_keys(os.environ["AWS_ENDPOINT_URL"], bucket, prefix + "/"):
        target = into / key[len(prefix) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in data.items() if name != key}

