"""The lineage chain across machines (issue 19's "done when"), each part a real process that shares nothing but the
team server's address and the S3 log:

a model registered on a team server -> batch-scored by the Spark engine (``local[2]``) with the same answers as the
local engine -> served by two replicas that load it through the server and write one prediction log on moto S3 ->
labels sent to the replica that did not answer -> ``shipyard monitor report`` and ``shipyard lineage REQUEST_ID``,
through the server, reading it all back: the request, its label, the version, its run.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests._servers import s3
from tests.integration.server._server import shipyard
from tests.integration.server.conftest import Team
from tests.integration.server.test_serve_through_server import REGISTER, _client, _serve_env, _serving

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(s3.unavailable_reason() is not None, reason=str(s3.unavailable_reason()))]
SERVING_TOKEN = "serving-token-for-feedback-0001"
REQUESTS = 20


@pytest.fixture
def shared_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with s3.moto_server() as endpoint:
        yield f"s3://{s3.new_bucket(monkeypatch, endpoint, tmp_path, 'chain')}/predictions"


def test_registered_batch_scored_served_labelled_and_traced_across_processes(team: Team, tmp_path: Path,
                                                                             shared_log: str) -> None:
    from sklearn.datasets import load_breast_cancer

    assert _client(team, tmp_path, REGISTER, team.tokens["writer"]) == [1, 2]
    admin = {"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["admin"]}
    shipyard("models", "alias", "cancer", "champion", "1", "-m", "the chain's model", env=admin)
    reader = {**_serve_env(team, tmp_path, team.tokens["reader"]), "COLUMNS": "200"}

    # Batch scoring on Spark, the model downloaded through the server: the local engine's answers, row for row.
    customers = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    customers.insert(0, "customer_id", [f"c{index:04d}" for index in range(len(customers))])
    customers.to_parquet(tmp_path / "customers.parquet")
    outputs = {}
    for engine in ("local", "spark"):
        out = tmp_path / f"scores-{engine}.parquet"
        extra = ["--master", "local[2]", "--runtime", "python"] if engine == "spark" else []
        done = shipyard("predict", "models:/cancer@champion", str(tmp_path / "customers.parquet"), "-o", str(out),
                        "--engine", engine, "--id-column", "customer_id", "--json", *extra, env=reader)
        assert json.loads(done.stdout)["rows_out"] == len(customers), done.stdout
        outputs[engine] = pd.read_parquet(out)
    assert outputs["spark"]["customer_id"].tolist() == customers["customer_id"].tolist()
    probability = [name for name in outputs["local"].columns if name.startswith("proba_")][-1]
    np.testing.assert_allclose(outputs["spark"][probability], outputs["local"][probability], rtol=0, atol=1e-12)

    # Two replicas through the server, one log on S3; answers from A, labels to B.
    config = tmp_path / "serving.yaml"
    config.write_text(f"flush_interval_s: 0.2\nlog_dir: {shared_log}\n"
                      "deployments:\n  cancer:\n    model: models:/cancer@champion\n")
    rows = [{str(key): float(value) for key, value in row.items()}
            for row in customers.drop(columns="customer_id").head(REQUESTS).to_dict(orient="records")]
    ids = [f"chain-{index:03d}-{uuid.uuid4().hex[:8]}" for index in range(REQUESTS)]
    auth = {"Authorization": f"Bearer {SERVING_TOKEN}"}
    replicas = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        replicas.append({**reader, "SHIPYARD_REPLICA": f"replica-{name}", "SHIPYARD_SERVE_TOKEN": SERVING_TOKEN})
    with _serving(config, replicas[0], tmp_path / "a", workers=1) as replica_a, \
            _serving(config, replicas[1], tmp_path / "b", workers=1) as replica_b:
        for request_id, row in zip(ids, rows, strict=True):
            answer = httpx.post(f"{replica_a}/predict/cancer", json={"records": [row], "request_id": request_id},
                                headers=auth, timeout=30)
            assert answer.status_code == 200, answer.text
        labels = [{"request_id": request_id, "label": index % 2} for index, request_id in enumerate(ids)]
        feedback = httpx.post(f"{replica_b}/feedback/cancer", json=labels, headers=auth, timeout=30)
        assert feedback.status_code == 200 and feedback.json()["accepted"] == REQUESTS, feedback.text

    # Read back through the server and the shared log, by a process that served nothing.
    report = shipyard("monitor", "report", "-d", "cancer", "--log-dir", shared_log, "-o",
                      str(tmp_path / "report.html"), "--json", env=reader, check=False)
    assert report.returncode in (0, 3), report.stderr  # 3: an alert on 20 requests is a verdict, not a failure
    result = json.loads(report.stdout)
    assert result["deployment"] == "cancer" and "cancer" in (tmp_path / "report.html").read_text()
    assert (result["current"]["requests"], result["current"]["labelled_rows"]) == (REQUESTS, REQUESTS)
    assert result["reference"] == {"kind": "training", "model_uri": "models:/cancer/1", "rows": len(customers)}
    chain = json.loads(shipyard("lineage", ids[3], "--log-dir", shared_log, "--json", env=reader).stdout)
    [answered] = chain["prediction"]  # answered by replica A, labelled through replica B, read by neither
    assert answered["model_uri"] == "models:/cancer/1" and answered["inputs"] == rows[3]
    assert [item["label"] for item in chain["feedback"]] == ["1"]
    model = chain["models"]["models:/cancer/1"]
    assert model["model_version"]["aliases"] == ["champion"] and model["run"]["status"] == "FINISHED"
    assert model["training_data"]["rows"] == len(customers) and model["run"]["experiment"] == "serve-remote"
    assert os.path.exists(tmp_path / "must-not-exist") is False  # nothing went to a local store
