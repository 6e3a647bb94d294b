"""Models through a real ``shipyard server``: ``log_model``, the registry, the gate, ``load_model`` and autologging
with ``SHIPYARD_TRACKING_URI`` set, from real client subprocesses using the unchanged public API.

What the server stored is read back from its database with Shipyard's own readers; the client's download cache
(``SHIPYARD_CACHE_DIR``) is checked file by file, damaged, and healed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.models.manifest import read_manifest
from shipyard.models.registry import alias_history, list_versions
from shipyard.store.location import location_for
from shipyard.store.store import Store
from shipyard.tracking.runs import get_run
from tests.integration.server._server import SHIPYARD, shipyard
from tests.integration.server.conftest import Team

API = "/api/shipyard/v1"
pytestmark = pytest.mark.slow

LOG_AND_REGISTER = r'''
import json, shipyard
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
frame = load_breast_cancer(as_frame=True).frame
X, y = frame.drop(columns="target"), frame["target"]
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
with shipyard.start_run("remote-models", "train") as run:
    shipyard.log_metric("auc", 0.99)
    info = shipyard.log_model(model, input_example=X, y_example=y)
first = shipyard.register_model(info, "cancer", description="first", tags={"team": "blue"})
second = shipyard.register_model(info.uri, "cancer")
moved = shipyard.set_alias("cancer", "challenger", first.version, reason="try it")
refused = None
try:
    shipyard.set_alias("cancer", "champion", first.version)
except shipyard.errors.ForbiddenError as exc:
    refused = str(exc)
loaded = shipyard.load_model("models:/cancer@challenger")
print(json.dumps({"run": run.id, "uri": info.uri, "versions": [first.version, second.version],
                  "tags": first.tags, "moved": [moved.action, moved.to_version, moved.actor], "refused": refused,
                  "same": float(abs(loaded.predict_proba(X).to_numpy() - model.predict_proba(X)).max()),
                  "loaded_version": loaded.version,
                  "listed": [v.version for v in shipyard.list_model_versions("cancer")],
                  "aliases": shipyard.get_model_version("cancer", first.version).aliases}))
'''

ADMIN_PROMOTES = r'''
import json, shipyard
from sklearn.datasets import load_breast_cancer
X = load_breast_cancer(as_frame=True).frame.drop(columns="target")
shipyard.set_alias("cancer", "champion", 2, reason="reviewed")
model = shipyard.load_model("models:/cancer@champion")
history = shipyard.alias_history("cancer")
print(json.dumps({"version": model.version, "rows": len(model.predict(X)),
                  "history": [[e.alias, e.action, e.to_version, e.actor] for e in history]}))
'''

GATE = r'''
import json, shipyard
from sklearn.datasets import load_breast_cancer
frame = load_breast_cancer(as_frame=True).frame
frame.iloc[::3].to_csv("holdout.csv", index=False)
first = shipyard.promote_model("cancer", candidate=1, alias="staging", data="holdout.csv", target="target")
second = shipyard.promote_model("cancer", candidate=2, alias="staging", data="holdout.csv", target="target")
print(json.dumps({"first": [first.promoted, first.reason], "second": [second.promoted, second.test,
                  second.p_value, second.ci_low, second.ci_high, second.current_version]}))
'''

def _client(team: Team, tmp_path: Path, code: str, token: str) -> dict[str, object] | str:
    env = {**os.environ, "SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": token,
           "SHIPYARD_STORE": str(tmp_path / "must-not-exist"), "SHIPYARD_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True, capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    return json.loads(last) if last.startswith("{") else last


def _server_store(team: Team) -> Store:
    return Store(location_for(team.database, objects=str(team.objects)))


def test_log_register_alias_and_load_go_through_the_server_and_nothing_local(team: Team, tmp_path: Path) -> None:
    answer = _client(team, tmp_path, LOG_AND_REGISTER, team.tokens["writer"])
    assert isinstance(answer, dict)
    assert answer["versions"] == [1, 2] and answer["tags"] == {"team": "blue"}
    assert answer["moved"] == ["set", 1, "writer-person"]
    assert answer["refused"] is not None and "champion" in str(answer["refused"])  # protected: admin only
    assert answer["same"] < 1e-12 and answer["loaded_version"] == 1
    assert answer["listed"] == [2, 1] and answer["aliases"] == ["challenger"]
    assert not (tmp_path / "must-not-exist").exists()  # nothing went to a local store
    cached = sorted(path for path in (tmp_path / "cache" / "objects").rglob("*") if path.is_file())
    assert cached, "the downloaded package files are cached by hash"

    store = _server_store(team)
    try:
        versions = list_versions(store, "cancer")
        assert [(v.version, v.run_id, v.created_by) for v in versions] == [
            (2, answer["run"], "writer-person"), (1, answer["run"], "writer-person")]
    finally:
        store.close()

    promoted = _client(team, tmp_path, ADMIN_PROMOTES, team.tokens["admin"])
    assert isinstance(promoted, dict) and promoted["version"] == 2 and promoted["rows"] == 569
    assert promoted["history"] == [["challenger", "set", 1, "writer-person"], ["champion", "set", 2, "admin-person"]]
    assert sorted(path for path in (tmp_path / "cache" / "objects").rglob("*") if path.is_file()) == cached

    # A damaged cache entry is fetched again, not trusted and not fatal.
    for path in cached:
        path.chmod(0o644)
        path.write_bytes(b"damaged")
    again = _client(team, tmp_path, ADMIN_PROMOTES, team.tokens["admin"])  # the alias stays: no new event
    assert isinstance(again, dict) and again["version"] == 2 and again["rows"] == 569
    assert all(path.read_bytes() != b"damaged" for path in cached)

    # The CLI's registry commands go through the server too; one that does not yet refuses in one line.
    env = {"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["writer"]}
    listed = json.loads(shipyard("models", "list", "--json", env=env).stdout)
    assert [(item["name"], item["latest_version"], item["aliases"]) for item in listed] == [
        ("cancer", 2, {"challenger": 1, "champion": 2})]
    moved = shipyard("models", "alias", "cancer", "challenger", "2", "-m", "from the CLI", env=env)
    assert "now points at v2 (from v1 by writer-person)" in moved.stdout
    history = json.loads(shipyard("models", "history", "cancer", "--json", env=env).stdout)
    assert [item["reason"] for item in history][-1] == "from the CLI"
    bare = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    for command in (("models", "show", "cancer"), ("models", "show", "cancer/2", "--json")):
        served = subprocess.run([str(SHIPYARD), *command], capture_output=True, text=True, timeout=120,
                                check=False, cwd=tmp_path, env={**bare, **env, "COLUMNS": "200"})
        stored = subprocess.run([str(SHIPYARD), "--store", team.database, *command], capture_output=True, text=True,
                                timeout=120, check=False, cwd=tmp_path,
                                env={**bare, "SHIPYARD_OBJECTS_URI": str(team.objects), "COLUMNS": "200"})
        assert served.returncode == stored.returncode == 0, (served.stderr, stored.stderr)
        assert served.stdout == stored.stdout and served.stdout.strip()  # versions and the chain the server traced
    # `shipyard ui` reads a store; beside a team server it says where the team's UI is, in one line.
    refused = subprocess.run([str(SHIPYARD), "ui"], capture_output=True, text=True, timeout=120, check=False,
                             cwd=tmp_path, env={**bare, **env})
    assert refused.returncode == 2 and team.server.url in refused.stderr and "serves the web UI" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr

    gate = _client(team, tmp_path, GATE, team.tokens["writer"])  # the gate runs here, the decision goes there
    assert isinstance(gate, dict) and gate["first"] == [True, "no version held 'staging' yet"]
    promoted, test, p_value, low, high, holder = gate["second"]
    assert promoted is False and test == "delong" and holder == 1  # the same package: no gain to show
    assert p_value > 0.05 and low <= 0.0 <= high

    store = _server_store(team)
    try:
        events = alias_history(store, "cancer")
    finally:
        store.close()
    assert [(e.alias, e.action, e.to_version, e.actor) for e in events] == [
        ("challenger", "set", 1, "writer-person"), ("champion", "set", 2, "admin-person"),
        ("challenger", "set", 2, "writer-person"), ("staging", "promoted", 1, "writer-person"),
        ("staging", "held_back", 2, "writer-person")]
    assert events[-1].details is not None and events[-1].details["test"] == "delong"


def test_a_registration_retried_with_its_key_makes_one_version_and_bad_input_is_4xx(team: Team,
                                                                                        tmp_path: Path) -> None:
    answer = _client(team, tmp_path, LOG_AND_REGISTER, team.tokens["writer"])
    assert isinstance(answer, dict)
    token = team.tokens["writer"]
    body = {"source": answer["uri"]}
    headers = {"Idempotency-Key": "register-retry-01"}
    first = team.server.call("POST", f"{API}/models/cancer/versions", token, json=body, headers=headers)
    again = team.server.call("POST", f"{API}/models/cancer/versions", token, json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["version"]["version"] == 3
    assert again.headers["idempotent-replayed"] == "true"
    listed = team.server.call("GET", f"{API}/models/cancer/versions", team.tokens["reader"]).json()["versions"]
    assert [item["version"] for item in listed] == [3, 2, 1]

    reader = team.server.call("POST", f"{API}/models/cancer/versions", team.tokens["reader"], json=body)
    assert reader.status_code == 403
    missing = team.server.call("POST", f"{API}/models/cancer/versions", token, json={})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "source"
    bad_version = team.server.call("PUT", f"{API}/models/cancer/aliases/challenger", token, json={"version": "x"})
    assert bad_version.status_code == 422 and bad_version.json()["error"]["field"] == "version"
    unknown = team.server.call("GET", f"{API}/models/resolve?uri=models:/nope@champion", token)
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]["message"]
    bad_uri = team.server.call("GET", f"{API}/models/resolve?uri=ftp://x", token)
    assert bad_uri.status_code == 422
    no_file = team.server.call("GET", f"{API}/runs/{answer['run']}/artifacts/model/none.bin", token)
    assert no_file.status_code == 404

    # A gate's decision counts only if the alias still points where it did while the models were scored.
    decision = {"alias": "champion", "promoted": True, "holder": None, "candidate": 1, "reason": "r", "details": {}}
    protected = team.server.call("POST", f"{API}/models/cancer/decisions", token, json=decision)
    assert protected.status_code == 403  # champion is protected: a writer cannot promote to it
    first = team.server.call("POST", f"{API}/models/cancer/decisions", team.tokens["admin"], json=decision)
    assert first.status_code == 200 and first.json()["event"]["action"] == "promoted"
    stale = team.server.call("POST", f"{API}/models/cancer/decisions", team.tokens["admin"],
                             json={**decision, "candidate": 2})  # scored against "nobody", but v1 holds it now
    assert stale.status_code == 409 and "moved while the gate scored" in stale.json()["error"]["message"]


AUTOLOG = r'''
import json, shipyard
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
frame = load_breast_cancer(as_frame=True).frame
X, y = frame.drop(columns="target"), frame["target"]
shipyard.autolog(search_children=True)
with shipyard.start_run("autologged", "search") as run:
    GridSearchCV(LogisticRegression(max_iter=3000), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
shipyard.autolog(disable=True)
print(json.dumps({"run": run.id}))
'''


def test_autolog_records_runs_params_metrics_data_and_the_model_on_the_server(team: Team, tmp_path: Path) -> None:
    answer = _client(team, tmp_path, AUTOLOG, team.tokens["writer"])
    assert isinstance(answer, dict)
    assert not (tmp_path / "must-not-exist").exists()
    store = _server_store(team)
    try:
        run = get_run(store, answer["run"])
        manifest = read_manifest(store, run.id, "model")
        children = [get_run(store, item["run_id"]) for item in _children(team, run.id)]
    finally:
        store.close()
    assert run.status == "FINISHED" and run.tags["shipyard.autolog"] == "sklearn"
    assert run.params["best_C"] in ("0.1", "1.0") and "best_cv_score" in run.metrics
    assert (run.tags["shipyard.dataset.train.rows"], run.tags["shipyard.dataset.train.columns"]) == ("569", "30")
    assert any(item["path"] == "cv_results.csv" for item in run.artifacts)
    assert manifest["training_data"]["rows"] == 569 and manifest["flavor"] == "sklearn"
    assert sorted(child.params["C"] for child in children) == ["0.1", "1.0"]
    assert all(child.status == "FINISHED" and "mean_test_score" in child.metrics for child in children)


def _children(team: Team, parent: str) -> list[dict[str, str]]:
    listed = shipyard("runs", "list", "--json", "--experiment", "autologged", env={
        "SHIPYARD_DATABASE_URI": team.database, "SHIPYARD_OBJECTS_URI": str(team.objects)})
    return [item for item in json.loads(listed.stdout) if item.get("parent_run_id") == parent]
