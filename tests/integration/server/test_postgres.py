"""The team server on a real PostgreSQL: migrated on purpose, tokens, and the real MLflow client logging through it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._servers.postgres import create_database, postgres_server, unavailable_reason
from tests.integration.server._server import TeamServer, create_token, free_port, shipyard

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(unavailable_reason() is not None, reason=unavailable_reason() or "")]

SCRIPT = r'''
import json, mlflow
mlflow.set_experiment("pg")
with mlflow.start_run(run_name="on-postgres") as run:
    mlflow.log_params({"C": 1.5})
    for step in range(20):
        mlflow.log_metric("loss", 1 / (step + 1), step=step)
    mlflow.log_dict({"ok": True}, "report.json")
found = mlflow.search_runs(filter_string="params.C = '1.5'", order_by=["metrics.loss ASC"])
history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="report.json")
print(json.dumps({"names": found["tags.mlflow.runName"].tolist(), "points": len(history),
                  "user": mlflow.get_run(run.info.run_id).info.user_id, "report": json.load(open(path))}))
'''


def test_the_server_on_postgresql_takes_the_mlflow_client(tmp_path: Path, run_mlflow: Callable[..., Any]) -> None:
    with postgres_server() as server_url:
        database = create_database(server_url, f"team_{uuid.uuid4().hex[:10]}")
        refused = shipyard("server", "--backend-store-uri", database, "--artifacts-destination",
                           str(tmp_path / "objects"), "--port", str(free_port()), check=False)
        assert refused.returncode == 2 and "shipyard server db upgrade" in refused.stderr
        shipyard("server", "db", "upgrade", "--backend-store-uri", database)
        token = create_token(database, "pg-writer", "writer")
        server = TeamServer(database, tmp_path / "objects", tmp_path / "server", extra=("--workers", "2")).start()
        try:
            out = run_mlflow(SCRIPT, server.url, token)
        finally:
            server.stop()
    assert out == {"names": ["on-postgres"], "points": 20, "user": "pg-writer", "report": {"ok": True}}
