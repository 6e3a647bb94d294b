"""The MLflow model write path against a real ``shipyard server``, with the real MLflow client.

``mlflow.sklearn.log_model(..., registered_model_name="churn")`` makes an MLflow 3 logged model, uploads MLflow's
files through the artifacts proxy and registers a version; the version is a Shipyard version (listed by
``shipyard models list``, linked to its run, created by the token's name), MLflow clients load it back with the same
answers, and ``shipyard serve`` serves it. A pickled model is registered without being unpickled and loads only for
a caller that names its hash; the write path answers 401 without a token and 403 to a reader.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn

import shipyard
from shipyard.models.manifest import read_manifest
from shipyard.models.registry import get_version, list_versions
from tests.integration.server._server import shipyard as shipyard_cli
from tests.integration.server.conftest import Team
from tests.integration.serving._serving import records, running_server

pytestmark = pytest.mark.slow

DATA = r'''
import json, sys
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
X = pd.DataFrame({"tenure": rng.uniform(0, 72, 200).round(2), "charges": rng.uniform(20, 120, 200).round(2)})
y = ((X.tenure < 20) & (X.charges > 60)).astype(int)
'''

LOG_REGISTER_LOAD = DATA + r'''
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit(X, y)
out = {"proba": model.predict_proba(X)[:, 1].tolist(), "labels": model.predict(X).tolist()}
mlflow.set_experiment("churn")
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(), registered_model_name="churn")
    again = mlflow.register_model(f"runs:/{run.info.run_id}/model", "churn")  # found through logged-models/search
out.update(run_id=run.info.run_id, model_id=info.model_id, version=info.registered_model_version,
           again=again.version)
client = MlflowClient()
try:
    client.set_registered_model_alias("churn", "champion", int(info.registered_model_version))
except MlflowException as exc:
    out["alias_refused"] = exc.error_code
champion_client = MlflowClient()
import os
os.environ["MLFLOW_TRACKING_TOKEN"] = sys.argv[1]  # the admin's token moves the protected alias
MlflowClient().set_registered_model_alias("churn", "champion", int(info.registered_model_version))
by_alias = client.get_model_version_by_alias("churn", "champion")
out["by_alias"] = [by_alias.version, by_alias.run_id, by_alias.source]
out["versions"] = sorted([v.version, v.run_id, v.source] for v in client.search_model_versions("name='churn'"))
out["logged"] = [m.model_id for m in mlflow.search_logged_models(experiment_ids=[run.info.experiment_id],
                                                                  output_format="list")]
loaded = mlflow.pyfunc.load_model("models:/churn@champion")
out["pyfunc_labels"] = loaded.predict(X).tolist()
out["sklearn_proba"] = mlflow.sklearn.load_model("models:/churn@champion").predict_proba(X)[:, 1].tolist()
print(json.dumps(out))
'''


def test_mlflow_logs_registers_and_loads_a_model_that_shipyard_serves(
        team: Team, run_mlflow: Callable[..., Any], tmp_path: Path) -> None:
    script = LOG_REGISTER_LOAD.replace("sys.argv[1]", repr(team.tokens["admin"]))
    out = run_mlflow(script, team.server.url, team.tokens["writer"])

    # The MLflow side: logged, registered twice (log_model, then runs:/ URI), aliased, loaded with the same answers.
    assert out["version"] == "1" and out["again"] == "2"
    assert out["alias_refused"] == "PERMISSION_DENIED"  # champion is protected: a writer cannot move it
    source = f"models:/{out['model_id']}"
    assert out["by_alias"] == ["1", out["run_id"], source]
    assert out["versions"] == [["1", out["run_id"], source], ["2", out["run_id"], source]]
    assert out["logged"] == [out["model_id"]]
    assert out["pyfunc_labels"] == out["labels"]
    assert out["sklearn_proba"] == out["proba"]

    # The Shipyard side: a version of the registry, linked to its run, by the token's name, with MLflow's files kept.
    store = shipyard.set_store(team.database, objects=str(team.objects))
    assert store is not None
    try:
        versions = list_versions(store, "churn")
        assert [(v.version, v.run_id, v.created_by) for v in versions] == [
            (2, out["run_id"], "writer-person"), (1, out["run_id"], "writer-person")]
        first = get_version(store, "churn", 1)
        assert first.aliases == ("champion",) and first.tags["mlflow.model_id"] == out["model_id"]
        assert first.path == versions[0].path  # one package per logged model, however often it is registered
        files = {entry["path"] for entry in shipyard.list_artifacts(out["run_id"])}
        assert f"mlflow-models/{out['model_id']}/MLmodel" in files
        assert f"mlflow-models/{out['model_id']}/model.skops" in files
        frame = _frame()
        proba = shipyard.load_model("models:/churn@champion").predict_proba(frame)
        np.testing.assert_array_equal(np.asarray(proba)[:, 1], out["proba"])
    finally:
        shipyard.set_store(None)
    listed = shipyard_cli("models", "list", "--json", env={"SHIPYARD_DATABASE_URI": team.database,
                                                          "SHIPYARD_OBJECTS_URI": str(team.objects)})
    assert [item["name"] for item in json.loads(listed.stdout)] == ["churn"]

    environment = {**os.environ, "SHIPYARD_DATABASE_URI": team.database, "SHIPYARD_OBJECTS_URI": str(team.objects)}
    with running_server(["models:/churn@champion"], cwd=tmp_path, store=tmp_path / "unused",
                        environment=environment) as served:
        answer = served.post("/predict/churn", json={"records": records(_frame())}).json()
    assert answer["predictions"] == out["labels"]
    np.testing.assert_allclose(np.asarray(answer["probabilities"])[:, 1], out["proba"], rtol=0, atol=1e-12)


PICKLED = DATA + r'''
import mlflow
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit(X, y)
out = {"proba": model.predict_proba(X)[:, 1].tolist(), "labels": model.predict(X).tolist()}
mlflow.set_experiment("churn")
with mlflow.start_run() as run:
    logged = mlflow.sklearn.log_model(model, name="model", input_example=X.head(), registered_model_name="churn",
                                      serialization_format="cloudpickle")
out["version"] = logged.registered_model_version
try:
    mlflow.sklearn.log_model(model, name="model", input_example=X.head())
except MlflowException as exc:
    out["no_run"] = [exc.error_code, str(exc)]
print(json.dumps(out))
'''


def test_a_pickled_mlflow_model_is_registered_unopened_and_served_only_when_its_hash_is_trusted(
        team: Team, run_mlflow: Callable[..., Any], tmp_path: Path) -> None:
    out = run_mlflow(PICKLED, team.server.url, team.tokens["writer"])
    assert str(out["version"]) == "1"
    assert out["no_run"][0] == "NOT_IMPLEMENTED" and "mlflow.start_run()" in out["no_run"][1]
    store = shipyard.set_store(team.database, objects=str(team.objects))
    assert store is not None
    try:
        version = get_version(store, "churn", 1)
        manifest = read_manifest(store, version.run_id, version.path)
        assert manifest["serializer"] == "pickle" and manifest["signature"]["output"]["kind"] == "unknown"
        assert manifest["libraries"]["scikit-learn"] == sklearn.__version__  # what MLflow recorded
        trusted = f"pickle:{manifest['files']['model.pkl']['hash']}"
        with pytest.raises(shipyard.ValidationError, match=trusted):  # the refusal names what would trust it
            shipyard.load_model("models:/churn/1")
        loaded = shipyard.load_model("models:/churn/1", trust=[trusted])
        assert loaded.signature.output.classes == (0, 1)  # learnt from the model once it was trusted
        np.testing.assert_allclose(loaded.predict_proba(_frame()).to_numpy()[:, 1], out["proba"], rtol=0, atol=1e-12)
        with pytest.raises(shipyard.ValidationError, match="pickle"):
            shipyard.load_model("models:/churn/1", trust=["pickle:" + "0" * 64])  # another pickle's hash
    finally:
        shipyard.set_store(None)

    environment = {**os.environ, "SHIPYARD_DATABASE_URI": team.database, "SHIPYARD_OBJECTS_URI": str(team.objects)}
    refused = shipyard_cli("serve", "models:/churn/1", "--port", "0", env=environment, check=False)
    assert refused.returncode == 2 and trusted in refused.stderr and "Traceback" not in refused.stderr
    prefix = shipyard_cli("serve", "models:/churn/1", "--trust", trusted[:20], env=environment, check=False)
    assert prefix.returncode == 2 and "64 hex digits" in prefix.stderr  # a prefix would trust any pickle matching it
    with running_server(["models:/churn/1", "--trust", trusted], cwd=tmp_path, store=tmp_path / "unused",
                        environment=environment) as served:
        answer = served.post("/predict/churn", json={"records": records(_frame())}).json()
    assert answer["predictions"] == out["labels"]
    np.testing.assert_allclose(np.asarray(answer["probabilities"])[:, 1], out["proba"], rtol=0, atol=1e-12)


ROLES = DATA + r'''
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit(X, y)
out = {}
for name, call in [
        ("log_model", lambda: mlflow.sklearn.log_model(model, name="model", input_example=X.head(),
                                                       registered_model_name="churn")),
        ("create_model", lambda: MlflowClient().create_registered_model("churn")),
        ("create_version", lambda: MlflowClient().create_model_version("churn", "models:/m-x", run_id=None))]:
    try:
        call()
    except MlflowException as exc:
        out[name] = [exc.error_code, str(exc)[:300]]
    except Exception as exc:
        out[name] = [type(exc).__name__, str(exc)[:300]]
print(json.dumps(out))
'''


def test_the_model_write_path_needs_a_writer(team: Team, run_mlflow: Callable[..., Any]) -> None:
    by_reader = run_mlflow(ROLES, team.server.url, team.tokens["reader"])
    for name in ("log_model", "create_model", "create_version"):
        code, message = by_reader[name]
        assert code == "PERMISSION_DENIED" and "needs the writer role" in message, (name, by_reader[name])

    for method, path in [("POST", "/api/2.0/mlflow/logged-models"), ("PATCH", "/api/2.0/mlflow/logged-models/m-1"),
                         ("POST", "/api/2.0/mlflow/registered-models/create"),
                         ("POST", "/api/2.0/mlflow/model-versions/create"),
                         ("GET", "/api/2.0/mlflow/model-versions/get-download-uri?name=churn&version=1")]:
        anonymous = team.server.call(method, path, json={} if method != "GET" else None)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert anonymous.json()["error_code"] == "UNAUTHENTICATED"
    refused = team.server.call("DELETE", "/api/2.0/mlflow/logged-models/m-1", team.tokens["writer"])
    assert refused.status_code == 403 and "admin" in refused.json()["message"]


def _frame() -> pd.DataFrame:
    """The client script's data (same seed), to compare answers in this process."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"tenure": rng.uniform(0, 72, 200).round(2), "charges": rng.uniform(20, 120, 200).round(2)})
