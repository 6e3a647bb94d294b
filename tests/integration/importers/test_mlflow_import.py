"""``shipyard import mlflow`` from a real MLflow store filled by the real MLflow client (``conftest.py``): through
the server's REST API and from its SQLite database + artifacts folder; again (nothing twice); killed with SIGKILL
mid-way and run again (complete, nothing twice)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import ValidationError
from shipyard.models.manifest import read_manifest
from shipyard.models.package import load_model
from shipyard.models.registry import get_version, list_versions
from shipyard.store.store import current_store
from shipyard.tracking.artifacts import read_artifact
from shipyard.tracking.metrics import metric_points
from shipyard.tracking.runs import get_run
from shipyard.tracking.search import search_run_records
from tests.integration.importers.conftest import MlflowStore
from tests.integration.server._server import SHIPYARD, shipyard

pytestmark = pytest.mark.slow
KILL_DEADLINE_S = 120


def _import(*source: str) -> dict[str, Any]:
    done = shipyard("import", "mlflow", "--from", *source, "--json")
    return json.loads(done.stdout)


def _imported_runs() -> dict[str, Any]:
    """MLflow run id -> the Shipyard run imported from it; fails on a duplicate."""
    found: dict[str, Any] = {}
    for row in search_run_records(current_store(), max_results=10_000):
        key = row["tags"].get("mlflow.run_id")
        assert key not in found, f"MLflow run {key} was imported twice"
        found[str(key)] = row
    return found


def _check_everything(mlflow: MlflowStore) -> None:
    store = current_store()
    logged = mlflow.logged
    runs = _imported_runs()
    assert set(runs) == set(logged["info"])
    for mlflow_id, info in logged["info"].items():
        run = get_run(store, str(runs[mlflow_id]["run_id"]))
        assert run.experiment == info["experiment"]
        assert run.status == info["status"]
        assert int(run.start_time.timestamp() * 1000) == info["start"]
        assert int(run.end_time.timestamp() * 1000) == info["end"]
        assert run.lineage["process"]["user"] == info["user"]
        assert run.params == info["params"]
        assert {k: v for k, v in info["tags"].items() if k != "mlflow.parentRunId"}.items() <= run.tags.items()
        assert run.tags["mlflow.run_id"] == mlflow_id
        assert "shipyard.import.partial" not in run.tags
    for mlflow_id, expected in logged["runs"].items():
        run_id = str(runs[mlflow_id]["run_id"])
        points = sorted([step, value, stamp] for step, value, stamp in metric_points(store, run_id, "loss"))
        assert points == expected["loss"]  # every point, the two at step 5 included, with its timestamp
        assert hashlib.sha256(read_artifact(store, run_id, "data/blob.bin")).hexdigest() == expected["blob"]
        index = int(logged["info"][mlflow_id]["tags"]["idx"])
        assert json.loads(read_artifact(store, run_id, "meta/info.json")) == {"index": index}
    child = get_run(store, str(runs[logged["child"]]["run_id"]))
    parent = logged["info"][logged["child"]]["tags"]["mlflow.parentRunId"]
    assert child.parent_id == str(runs[parent]["run_id"])  # nested under the import of its MLflow parent
    versions = list_versions(store, "churn")
    assert [(v.version, v.tags["mlflow.version"], v.aliases) for v in versions] == [
        (2, "2", ("challenger",)), (1, "1", ("champion",))]  # the pickled one too, packaged without unpickling
    assert get_version(store, "churn", 1).run_id == str(runs[logged["models"]["train_run"]]["run_id"])
    frame = pd.DataFrame(logged["models"]["X"])
    probabilities = load_model("models:/churn@champion").predict_proba(frame)
    np.testing.assert_allclose(np.asarray(probabilities)[:, -1] if np.ndim(probabilities) == 2 else
                               np.asarray(probabilities), logged["models"]["probabilities"], rtol=1e-12)
    pickled = get_version(store, "churn", 2)
    with pytest.raises(ValidationError, match="loading a pickle runs code"):
        load_model("models:/churn@challenger")
    trusted = f"pickle:{read_manifest(store, pickled.run_id, pickled.path)['files']['model.pkl']['hash']}"
    unpickled = load_model("models:/churn@challenger", trust=[trusted]).predict_proba(frame)
    np.testing.assert_allclose(np.asarray(unpickled)[:, -1], logged["models"]["probabilities"], rtol=1e-12)


def _check_summary(summary: dict[str, Any], mlflow: MlflowStore, *, first: bool) -> None:
    total = len(mlflow.logged["info"])
    if first:
        assert summary["runs"] == {"imported": total, "resumed": 0, "already": 0}
        assert summary["model_versions"] == {"imported": 2, "already": 0}
        assert summary["aliases"] == {"set": 2, "already": 0}
        assert summary["metric_points"] == sum(len(r["loss"]) for r in mlflow.logged["runs"].values()) + 2
    else:  # the second import finds everything in place
        assert summary["runs"] == {"imported": 0, "resumed": 0, "already": total}
        assert summary["model_versions"] == {"imported": 0, "already": 2}
        assert summary["aliases"] == {"set": 0, "already": 2}
        assert summary["metric_points"] == 0
        assert summary["artifacts"]["files"] == 0
    assert not [item for item in summary["skipped"] if item["what"].startswith(("model", "alias"))]


def test_import_through_the_rest_api_twice(mlflow_store: MlflowStore) -> None:
    summary = _import(mlflow_store.url)
    _check_summary(summary, mlflow_store, first=True)
    assert _documented_summary().keys() == summary.keys()
    _check_everything(mlflow_store)
    _check_summary(_import(mlflow_store.url), mlflow_store, first=False)
    _check_everything(mlflow_store)


def test_import_from_the_database_and_artifacts_folder_twice(mlflow_store: MlflowStore) -> None:
    source = (mlflow_store.database, "--artifacts", str(mlflow_store.artifacts))
    _check_summary(_import(*source), mlflow_store, first=True)
    _check_everything(mlflow_store)
    _check_summary(_import(*source), mlflow_store, first=False)
    _check_everything(mlflow_store)


# Where the importer is killed: while it copies its first run, and while it packages a model version (its MLflow
# files copied, the version not yet registered).
_KILL_POINTS = {
    "first run": "SELECT count(*) FROM tags WHERE key = 'mlflow.run_id'",
    "model version": "SELECT count(*) FROM artifacts WHERE path LIKE 'mlflow-models/%/MLmodel'",
}


@pytest.mark.parametrize("point", sorted(_KILL_POINTS))
def test_an_import_killed_mid_way_is_finished_by_the_next(mlflow_store: MlflowStore, point: str) -> None:
    database = Path(os.environ["SHIPYARD_STORE"]) / "meta.db"
    command = [str(SHIPYARD), "import", "mlflow", "--from", mlflow_store.url, "--json"]
    importer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + KILL_DEADLINE_S
    try:
        while _count(database, _KILL_POINTS[point]) < 1:
            assert importer.poll() is None, f"the import ended before it reached the {point}"
            assert time.monotonic() < deadline, f"the import did not reach the {point} in time"
            time.sleep(0.002)
        os.kill(importer.pid, signal.SIGKILL)
    finally:
        importer.kill()
        importer.wait(timeout=30)
    assert importer.returncode == -signal.SIGKILL
    total = len(mlflow_store.logged["info"])
    interrupted = _count(database, _KILL_POINTS["first run"])
    versions = _count(database, "SELECT count(*) FROM model_versions")
    if point == "first run":
        assert 1 <= interrupted < total
    else:
        assert interrupted == total and versions == 0
    summary = _import(mlflow_store.url)
    assert summary["runs"]["imported"] == total - interrupted
    assert summary["runs"]["imported"] + summary["runs"]["resumed"] + summary["runs"]["already"] == total
    assert summary["model_versions"] == {"imported": 2, "already": 0}
    _check_everything(mlflow_store)
    _check_summary(_import(mlflow_store.url), mlflow_store, first=False)


def _documented_summary() -> dict[str, Any]:
    """The --json example of docs/from-mlflow.md, which must keep the keys the command prints."""
    page = (Path(__file__).resolve().parents[3] / "docs" / "from-mlflow.md").read_text()
    section = page.split("## Moving your MLflow history", 1)[1]
    return dict(json.loads(section.split("```json\n", 1)[1].split("```", 1)[0]))


def _count(database: Path, query: str) -> int:
    """One count from the store being written (0 while it or its schema does not exist yet)."""
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:  # the schema is being created
        return 0


_DIRECT_SCRIPT = """
import json, mlflow
mlflow.set_tracking_uri("sqlite:///direct.db")
with mlflow.start_run(run_name="direct") as run:
    mlflow.log_metric("m", 1.0, step=0, timestamp=1_700_000_000_000)
    mlflow.log_metric("m", float("nan"), step=1, timestamp=1_700_000_000_500)
    mlflow.log_text("hello", "notes/a.txt")
print(json.dumps({"run": run.info.run_id, "artifact_uri": run.info.artifact_uri}))
"""


def test_import_from_a_store_the_client_wrote_without_a_server(tmp_path: Path) -> None:
    """``mlflow.set_tracking_uri("sqlite:///...")``: artifacts at the plain paths the database records."""
    from tests.integration.importers.conftest import mlflow_env
    from tests.integration.server._mlflow import mlflow_python

    folder = tmp_path / "direct"
    folder.mkdir()
    (folder / "log.py").write_text(_DIRECT_SCRIPT)
    done = subprocess.run([str(mlflow_python()), "-W", "ignore", "log.py"], cwd=folder, env=mlflow_env(),
                          capture_output=True, text=True, timeout=300, check=True)
    logged = json.loads(done.stdout.strip().splitlines()[-1])
    assert logged["artifact_uri"].startswith(str(folder))  # a plain path, not mlflow-artifacts:/
    summary = _import(f"sqlite:///{folder / 'direct.db'}")
    assert summary["runs"]["imported"] == 1 and summary["skipped"] == []
    run_id = str(_imported_runs()[logged["run"]]["run_id"])
    points = metric_points(current_store(), run_id, "m")
    assert points[0] == (0, 1.0, 1_700_000_000_000)
    assert points[1][0] == 1 and np.isnan(points[1][1]) and points[1][2] == 1_700_000_000_500
    assert read_artifact(current_store(), run_id, "notes/a.txt") == b"hello"
