"""The real MLflow client (3.17.2, its own venv) against a real ``shipyard server``: only the URI changes.

What it logs must be Shipyard runs like any other (``shipyard runs list``/``show``), and a run logged with
Shipyard's own API must be found by ``mlflow.search_runs``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import shipyard
from tests.integration.server._server import shipyard as shipyard_cli
from tests.integration.server.conftest import Team

pytestmark = pytest.mark.slow

TRACKING = r'''
import json, os
import mlflow
import pandas as pd
from mlflow import MlflowClient

mlflow.set_experiment("churn")
with mlflow.start_run(run_name="outer") as run:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_params({"beta": 1, "gamma": "x"})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"auc": 0.8, "f1": 0.7})
    mlflow.log_metric("odd", float("nan"))
    mlflow.set_tag("team", "a")
    mlflow.set_tags({"k1": "v1", "k2": "v2"})
    with open("hello.txt", "w") as handle:
        handle.write("hello from mlflow")
    os.makedirs("folder/inner", exist_ok=True)
    for name in ("folder/a.txt", "folder/inner/b.txt"):
        with open(name, "w") as handle:
            handle.write(name)
    mlflow.log_artifact("hello.txt")
    mlflow.log_artifacts("folder", artifact_path="many")
    mlflow.log_dict({"layers": [1, 2]}, "conf/model.json")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
    with mlflow.start_run(run_name="inner", nested=True) as child:
        mlflow.log_metric("loss", 0.1)
with mlflow.start_run(run_name="other"):
    mlflow.log_metric("auc", 0.6)
    mlflow.log_param("alpha", 0.1)
client = MlflowClient()
found = mlflow.search_runs(experiment_names=["churn"], filter_string="metrics.auc > 0.5",
                           order_by=["metrics.auc DESC"])
runs = client.get_run(run.info.run_id)
history = client.get_metric_history(run.info.run_id, "loss")
listing = [(item.path, item.is_dir) for item in client.list_artifacts(run.info.run_id)]
inner = [(item.path, item.file_size) for item in client.list_artifacts(run.info.run_id, "many/inner")]
downloaded = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="conf/model.json")
whole = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="many")
print(json.dumps({
    "run_id": run.info.run_id, "child_id": child.info.run_id,
    "search": found[["tags.mlflow.runName", "metrics.auc", "params.alpha"]].values.tolist(),
    "history": [[m.step, m.value] for m in history],
    "user": runs.info.user_id, "status": runs.info.status, "params": runs.data.params,
    "metrics": {k: (None if v != v else v) for k, v in runs.data.metrics.items()}, "tags": runs.data.tags,
    "inputs": [(i.dataset.name, i.dataset.digest, [t.value for t in i.tags]) for i in runs.inputs.dataset_inputs],
    "experiments": [e.name for e in mlflow.search_experiments()],
    "child_parent": client.get_run(child.info.run_id).data.tags.get("mlflow.parentRunId"),
    "listing": listing, "inner": inner, "dict": json.load(open(downloaded)),
    "whole": sorted(os.path.relpath(os.path.join(d, f), whole) for d, _, fs in os.walk(whole) for f in fs),
}))
'''


def test_the_mlflow_client_logs_searches_and_reads_back_through_the_server(
        team: Team, run_mlflow: Callable[..., Any]) -> None:
    out = run_mlflow(TRACKING, team.server.url, team.tokens["writer"])
    assert out["search"] == [["outer", 0.8, "0.5"], ["other", 0.6, "0.1"]]
    assert out["history"] == [[0, 1.0], [1, 0.5], [2, 1 / 3], [3, 0.25], [4, 0.2]]
    assert out["user"] == "writer-person" and out["status"] == "FINISHED"
    assert out["params"] == {"alpha": "0.5", "beta": "1", "gamma": "x"}
    assert out["metrics"] == {"loss": 0.2, "auc": 0.8, "f1": 0.7, "odd": None}
    assert {"team": "a", "k1": "v1", "k2": "v2", "mlflow.runName": "outer"}.items() <= out["tags"].items()
    assert out["inputs"][0][0] == "train" and out["inputs"][0][2] == ["training"]
    assert "churn" in out["experiments"]
    assert out["child_parent"] == out["run_id"]
    assert out["listing"] == [["conf", True], ["hello.txt", False], ["many", True]]
    assert out["inner"] == [["many/inner/b.txt", len("folder/inner/b.txt")]]
    assert out["dict"] == {"layers": [1, 2]}
    assert out["whole"] == ["a.txt", "inner/b.txt"]

    # The same runs, seen by Shipyard's own CLI on the server's database: runs like any other.
    env = {"SHIPYARD_OBJECTS": str(team.objects)}
    listed = json.loads(shipyard_cli("--store", team.database, "runs", "list", "--json", env=env).stdout)
    by_name = {run["name"]: run for run in listed}
    assert set(by_name) == {"outer", "inner", "other"}
    assert by_name["inner"]["parent_run_id"] == out["run_id"]
    shown = json.loads(shipyard_cli("--store", team.database, "runs", "show", out["run_id"], "--json", env=env).stdout)
    assert shown["lineage"]["process"]["user"] == "writer-person"
    assert {item["path"] for item in shown["artifacts"]} == {"hello.txt", "many/a.txt", "many/inner/b.txt",
                                                             "conf/model.json"}
    assert shown["lineage"]["git"] is None  # the server's own checkout says nothing about a client's run
    lineage = json.loads(shipyard_cli("--store", team.database, "lineage", out["run_id"], "--json", env=env).stdout)
    assert json.dumps(lineage).count(out["run_id"]) >= 1 and "alpha" in json.dumps(lineage)

    # ... and in the web UI the server mounts, for a signed-in reader.
    page = team.server.call("GET", f"/runs/{out['run_id']}", headers={"accept": "text/html"},
                            cookies={"shipyard_token": team.tokens["reader"]})
    assert page.status_code == 200 and "outer" in page.text and "hello.txt" in page.text


SEARCH_SHIPYARD_RUN = r'''
import json, mlflow
found = mlflow.search_runs(experiment_names=["native"], filter_string="params.depth = '3'")
print(json.dumps({"names": found["tags.mlflow.runName"].tolist(), "auc": found["metrics.auc"].tolist(),
                  "ids": found["run_id"].tolist()}))
'''


def test_a_run_logged_with_shipyard_is_found_by_mlflow_search_runs(team: Team, run_mlflow: Callable[..., Any]) -> None:
    shipyard.set_store(team.database, objects=str(team.objects))
    try:
        with shipyard.start_run(experiment="native", name="from-shipyard") as run:
            shipyard.log_param("depth", 3)
            shipyard.log_metric("auc", 0.91)
    finally:
        shipyard.set_store(None)
    out = run_mlflow(SEARCH_SHIPYARD_RUN, team.server.url, team.tokens["reader"])
    assert out == {"names": ["from-shipyard"], "auc": [0.91], "ids": [run.id]}


REFUSED_FOR_READER = r'''
import json, mlflow
from mlflow.exceptions import MlflowException
try:
    mlflow.set_experiment("readers-cannot")
except MlflowException as exc:
    print(json.dumps({"code": exc.error_code, "message": str(exc)}))
'''


def test_the_mlflow_client_reads_the_403_as_its_own_error_naming_the_role(
        team: Team, run_mlflow: Callable[..., Any]) -> None:
    out = run_mlflow(REFUSED_FOR_READER, team.server.url, team.tokens["reader"])
    assert out["code"] == "PERMISSION_DENIED" and "needs the writer role" in out["message"]
