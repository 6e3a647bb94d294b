"""``shipyard serve`` with ``SHIPYARD_TRACKING_URI``: models resolved, downloaded and refreshed through a real team
server, never from a store.

A client subprocess registers two versions on the server; ``shipyard serve`` runs as a real subprocess (two spawned
workers) with only the server's address and a reader token, a local store path that must never appear, and its own
download cache. It answers exactly what ``load_model`` answers (from the attached ONNX export while the champion
has one), follows an alias moved on the server within the refresh interval, refuses a wrong token in one line,
and heals a damaged cache entry. The ``/serving/...`` endpoints a replica polls are checked for roles and bad input.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests._support import wait_until
from tests.integration.server._server import SHIPYARD, shipyard
from tests.integration.server.conftest import Team

API = "/api/shipyard/v1"
pytestmark = pytest.mark.slow
_URL_RE = re.compile(r"API docs at (http://127\.0\.0\.1:\d+)/docs")

REGISTER = r'''
import json, shipyard
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
frame = load_breast_cancer(as_frame=True).frame
X, y = frame.drop(columns="target"), frame["target"]
with shipyard.start_run("serve-remote", "train"):
    strong = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    first = shipyard.register_model(shipyard.log_model(strong, input_example=X, y_example=y), "cancer")
    weak = make_pipeline(StandardScaler(), LogisticRegression(C=0.001, max_iter=500)).fit(X, y)
    second = shipyard.register_model(shipyard.log_model(weak, input_example=X, y_example=y, name="weak"), "cancer")
print(json.dumps([first.version, second.version]))
'''

ANSWERS = r'''
import json, shipyard
from sklearn.datasets import load_breast_cancer
X = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(20)
print(json.dumps({str(v): shipyard.load_model(f"models:/cancer/{v}").predict_proba(X).to_numpy().tolist()
                  for v in (1, 2)}))
'''


def _client(team: Team, tmp_path: Path, code: str, token: str) -> Any:
    env = {**os.environ, "SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": token,
           "SHIPYARD_STORE": str(tmp_path / "must-not-exist"), "SHIPYARD_CACHE_DIR": str(tmp_path / "client-cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True, capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _serve_env(team: Team, tmp_path: Path, token: str) -> dict[str, str]:
    bare = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    return {**bare, "SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": token,
            "SHIPYARD_STORE": str(tmp_path / "must-not-exist"), "SHIPYARD_CACHE_DIR": str(tmp_path / "serve-cache")}


@contextmanager
def _serving(config: Path, env: dict[str, str], folder: Path, workers: int = 2) -> Iterator[str]:
    out, err = folder / "serve.out", folder / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([str(SHIPYARD), "serve", "--config", str(config), "--port", "0", "--workers",
                                 str(workers)], env=env, cwd=folder, stdout=stdout, stderr=stderr)

    def announced() -> str | None:
        if proc.poll() is not None:
            pytest.fail(f"shipyard serve exited ({proc.returncode}):\n{out.read_text()}\n{err.read_text()}")
        match = _URL_RE.search(out.read_text())
        return match.group(1) if match else None

    try:
        yield str(wait_until(announced, timeout=120, what="shipyard serve to listen"))
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _rows() -> list[dict[str, float]]:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(20)
    return [{str(key): float(value) for key, value in row.items()} for row in frame.to_dict(orient="records")]


def _predict(url: str) -> dict[str, Any]:
    answer = httpx.post(f"{url}/predict/cancer", json={"records": _rows()}, timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_serve_resolves_loads_and_follows_the_alias_through_the_server(team: Team, tmp_path: Path) -> None:
    assert _client(team, tmp_path, REGISTER, team.tokens["writer"]) == [1, 2]
    shipyard("models", "alias", "cancer", "champion", "1",
             env={"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["admin"]})
    # The ONNX export is made where the server's database is (export-onnx does not go through a server yet).
    shipyard("models", "export-onnx", "models:/cancer/1", "-o", str(tmp_path / "cancer.onnx"),
             env={"SHIPYARD_DATABASE_URI": team.database, "SHIPYARD_OBJECTS_URI": str(team.objects),
                  "SHIPYARD_TRACKING_URI": ""})
    expected = _client(team, tmp_path, ANSWERS, team.tokens["reader"])
    config = tmp_path / "serving.yaml"
    config.write_text(f"deployments:\n  cancer:\n    model: models:/cancer@champion\nrefresh_interval_s: 0.5\n"
                      f"log_dir: {tmp_path / 'log'}\nflush_interval_s: 0.5\nmonitor_interval_s: 1\n")
    env = _serve_env(team, tmp_path, team.tokens["reader"])

    with _serving(config, env, tmp_path) as url:
        first = _predict(url)
        assert first["model"]["version"] == 1
        assert httpx.get(f"{url}/v2/models/cancer", timeout=10).json()["platform"] == "shipyard-onnx"
        assert np.allclose(first["probabilities"], expected["1"], atol=1e-5)  # ONNX runs in float32
        shipyard("models", "alias", "cancer", "champion", "2",
                 env={"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["admin"]})
        streak = [0]

        def every_worker_moved() -> bool:  # ten answers in a row from version 2: both workers swapped
            streak[0] = streak[0] + 1 if _predict(url)["model"]["version"] == 2 else 0
            return streak[0] >= 10

        wait_until(every_worker_moved, timeout=20, what="serving to follow the alias to version 2")
        second = _predict(url)
        assert second["probabilities"] == expected["2"]  # the python runtime: the same numbers exactly

        def gauged() -> str | None:  # the monitoring plugin reads the training profile through the server
            text = httpx.get(f"{url}/metrics", timeout=10).text  # (a pass over too few rows sets no drift yet)
            return text if 'shipyard_feature_drift_score{deployment="cancer",feature="mean radius"' in text else None

        metrics = str(wait_until(gauged, timeout=60, what="the drift gauges on /metrics"))
        assert 'shipyard_monitor_status{deployment="cancer"}' in metrics

        # `shipyard predictions` reads the log the servers write, beside the team server, with no store
        through = {"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["reader"]}
        logged = json.loads(shipyard("predictions", "cancer", "--log-dir", str(tmp_path / "log"), "--limit", "0",
                                     "--json", env=through).stdout)
        assert {row["request_id"] for row in logged} >= {first["request_id"], second["request_id"]}
        nowhere = tmp_path / "no-serving-yaml"  # nothing names a log here: the command must ask for one
        nowhere.mkdir()
        bare = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
        unnamed = subprocess.run([str(SHIPYARD), "predictions", "cancer"], cwd=nowhere, env={**bare, **through},
                                 capture_output=True, text=True, timeout=120, check=False)
        assert unnamed.returncode == 2 and "--log-dir" in unnamed.stderr and "Traceback" not in unnamed.stderr
    assert not (tmp_path / "must-not-exist").exists()  # no local store was made or read
    assert (tmp_path / "log").is_dir()

    cached = sorted(path for path in (tmp_path / "serve-cache" / "objects").rglob("*") if path.is_file())
    assert len(cached) >= 3  # both packages' files and the ONNX export, by hash
    for path in cached:
        path.chmod(0o644)
        path.write_bytes(b"damaged")
    with _serving(config, env, tmp_path, workers=1) as url:
        assert _predict(url)["probabilities"] == expected["2"]
    healed = [path for path in cached if path.read_bytes() != b"damaged"]
    assert healed  # version 2's files were fetched again (version 1's and its ONNX export were not needed)


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_a_wrong_or_missing_token_stops_serve_in_one_line(team: Team, tmp_path: Path, token: str | None) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text(f"deployments:\n  cancer:\n    model: models:/cancer@champion\nlog_dir: {tmp_path / 'log'}\n")
    env = _serve_env(team, tmp_path, token or "")
    if token is None:
        env.pop("SHIPYARD_TOKEN")
    done = subprocess.run([str(SHIPYARD), "serve", "--config", str(config), "--port", "0"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "token" in lines[0].lower(), done.stderr


def test_serve_through_the_server_without_a_log_dir_is_refused_in_one_line(team: Team, tmp_path: Path) -> None:
    assert _client(team, tmp_path, REGISTER, team.tokens["writer"]) == [1, 2]
    config = tmp_path / "serving.yaml"
    config.write_text("deployments:\n  cancer:\n    model: models:/cancer/1\n")
    done = subprocess.run([str(SHIPYARD), "serve", "--config", str(config), "--port", "0"], cwd=tmp_path,
                          env=_serve_env(team, tmp_path, team.tokens["reader"]), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2 and "log_dir" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_serving_endpoints_count_rewards_once_and_check_roles_and_input(team: Team) -> None:
    reader, writer = team.tokens["reader"], team.tokens["writer"]
    assert team.server.call("GET", f"{API}/serving/rollouts", reader).json() == {"rollouts": []}
    assert team.server.call("GET", f"{API}/serving/rollouts").status_code == 401
    rewards = {"deployment": "churn", "rewards": [
        {"request_id": "r1", "row": 0, "variant": "a", "reward": 1.0, "propensity": 0.5},
        {"request_id": "r2", "row": 0, "variant": "b", "reward": 0, "propensity": 0.25}]}
    assert team.server.call("POST", f"{API}/serving/rewards", reader, json=rewards).status_code == 403
    assert team.server.call("POST", f"{API}/serving/rewards", writer, json=rewards).json() == {"added": 2}
    assert team.server.call("POST", f"{API}/serving/rewards", writer, json=rewards).json() == {"added": 0}
    arms = team.server.call("GET", f"{API}/serving/bandits?deployments=churn,other", reader).json()["arms"]
    assert {variant: (state["count"], state["reward"]) for variant, state in arms["churn"].items()} == {
        "a": (1, 1.0), "b": (1, 0.0)}
    missing = team.server.call("GET", f"{API}/serving/bandits", reader)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "deployments"
    bad = {"deployment": "churn", "rewards": [{"request_id": "r3", "row": 0, "variant": "a", "reward": 2,
                                               "propensity": 0.5}]}
    answer = team.server.call("POST", f"{API}/serving/rewards", writer, json=bad)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "rewards[0].reward"

    # a beat's scores are sums: the same request again (a retry after a lost answer) adds nothing
    scores = {"deployment": "churn", "scores": {"a": {"count": 3, "expected": 2.4, "squares": 1.94}}}
    keyed = {"Idempotency-Key": "scores-beat-0001"}
    assert team.server.call("POST", f"{API}/serving/scores", reader, json=scores, headers=keyed).status_code == 403
    assert team.server.call("POST", f"{API}/serving/scores", writer, json=scores, headers=keyed).json() == {"added": 3}
    again = team.server.call("POST", f"{API}/serving/scores", writer, json=scores, headers=keyed)
    assert again.json() == {"added": 3} and again.headers["idempotent-replayed"] == "true"
    arms = team.server.call("GET", f"{API}/serving/bandits?deployments=churn", reader).json()["arms"]["churn"]
    assert (arms["a"]["scored"], arms["a"]["scored_expected"]) == (3, pytest.approx(2.4))
    too_sure = {"deployment": "churn", "scores": {"a": {"count": 1, "expected": 1.5, "squares": 1.0}}}
    answer = team.server.call("POST", f"{API}/serving/scores", writer, json=too_sure)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "scores.a"

    # `shipyard bandit status` reads the same arms through the server, with a reader's token and no store
    through = {"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": reader}
    status = json.loads(shipyard("bandit", "status", "churn", "--json", env=through).stdout)
    assert status["labelled"] == 2 and {arm["variant"]: arm["scored"] for arm in status["variants"]} == {"a": 3,
                                                                                                         "b": 0}


def test_the_rendered_container_with_a_tracking_uri_serves_from_the_team_server(
        team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``shipyard k8s render --tracking-uri``: the serving container run as the kubelet would (same command, same
    environment from the Secret), with no store, serves a ``routing: thompson`` deployment through the team server
    into a log on moto S3, takes feedback with the serving token (its rewards counted on the team server), and
    drains on SIGTERM."""
    import signal

    import yaml

    from shipyard.predlog.readers import prediction_log
    from tests._servers import s3
    from tests.integration.deploy._kubelet import listen_locally, local_pod

    reason = s3.unavailable_reason()
    if reason:
        pytest.skip(reason)
    assert _client(team, tmp_path, REGISTER, team.tokens["writer"]) == [1, 2]
    shipyard("models", "alias", "cancer", "champion", "2",
             env={"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["admin"]})
    expected = _client(team, tmp_path, ANSWERS, team.tokens["reader"])
    config = tmp_path / "serving.yaml"
    config.write_text("deployments:\n  cancer:\n    routing: thompson\n    variants:\n"
                      "      - {name: champion, model: 'models:/cancer@champion'}\n"
                      "      - {name: first, model: 'models:/cancer/1'}\n"
                      "log_dir: s3://logs/cancer\nflush_interval_s: 0.5\n")
    shipyard("k8s", "render", "--config", str(config), "--image", "cancer-server:1", "--tracking-uri",
             team.server.url, "-o", str(tmp_path / "k8s"))
    manifests = [yaml.safe_load(path.read_text()) for path in sorted((tmp_path / "k8s").glob("*.yaml"))]
    serving = next(item for item in manifests if item["kind"] == "Deployment"
                   and item["metadata"]["labels"]["app.kubernetes.io/component"] == "serving")
    pod_spec = serving["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    for name, value in s3.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with s3.moto_server() as endpoint:
        s3.create_bucket(endpoint, "logs")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        secret = {"token": "serving-token", "tracking-token": team.tokens["writer"],  # thompson writes rewards
                  "aws-access-key-id": s3.CREDENTIALS["AWS_ACCESS_KEY_ID"],
                  "aws-secret-access-key": s3.CREDENTIALS["AWS_SECRET_ACCESS_KEY"], "aws-endpoint-url": endpoint}
        pod = local_pod(manifests, pod_spec, container, secret=secret, root=tmp_path / "pod")
        assert "SHIPYARD_STORE" not in pod.env and "SHIPYARD_DATABASE_URI" not in pod.env
        assert pod.env["SHIPYARD_TRACKING_URI"] == team.server.url
        out, err = tmp_path / "pod.out", tmp_path / "pod.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(listen_locally(pod.command, 0), env=pod.env, cwd=tmp_path, stdout=stdout,
                                    stderr=stderr)
        try:
            def announced() -> str | None:
                if proc.poll() is not None:
                    pytest.fail(f"the pod's command exited ({proc.returncode}):\n{out.read_text()}\n{err.read_text()}")
                match = _URL_RE.search(out.read_text())
                return match.group(1) if match else None

            url = str(wait_until(announced, timeout=120, what="the pod to listen"))
            ready = container["readinessProbe"]["httpGet"]["path"]
            wait_until(lambda: httpx.get(f"{url}{ready}", timeout=10).status_code == 200, timeout=60,
                       what="the readiness probe")
            answer = _predict(url)
            version = answer["model"]["version"]
            assert answer["probabilities"] == expected[str(version)]
            assert answer["variant"] == {2: "champion", 1: "first"}[version]
            feedback = [{"request_id": answer["request_id"], "row": row, "label": label}
                        for row, label in enumerate(answer["predictions"])]  # every answer right: reward 1
            assert httpx.post(f"{url}/feedback/cancer", json=feedback, timeout=30).status_code == 401
            labelled = httpx.post(f"{url}/feedback/cancer", json=feedback, timeout=30,
                                  headers={"authorization": "Bearer serving-token"})
            assert labelled.status_code == 200, labelled.text
            assert labelled.json()["rewards_counted"] == 20  # posted to the team server's /serving/rewards
            arms = team.server.call("GET", f"{API}/serving/bandits?deployments=cancer", team.tokens["reader"])
            assert {name: arm["count"] for name, arm in arms.json()["arms"]["cancer"].items()} == {
                answer["variant"]: 20}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=pod_spec["terminationGracePeriodSeconds"]) == 0, err.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "Traceback" not in err.read_text()
        log = prediction_log("cancer", log_dir="s3://logs/cancer", with_feedback=True, shadow=False)
        assert set(log["request_id"]) == {answer["request_id"]} and len(log) == 20
        assert set(log["label"]) == {str(label) for label in answer["predictions"]}
        _the_monitoring_job_checks_through_the_server(manifests, secret, tmp_path)
    assert not (tmp_path / "must-not-exist").exists()


def _the_monitoring_job_checks_through_the_server(manifests: list[dict[str, Any]], secret: dict[str, str],
                                                  tmp_path: Path) -> None:
    """The CronJob's ``shipyard monitor check``, run as the kubelet would with the same Secret minus the database
    keys it no longer needs: it reads the log on S3 and the model's facts through the team server."""
    from tests.integration.deploy._kubelet import local_pod

    job = next(item for item in manifests if item["kind"] == "CronJob")
    pod_spec = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    without_database = {key: value for key, value in secret.items() if key not in ("database-uri", "objects-uri")}
    pod = local_pod(manifests, pod_spec, pod_spec["containers"][0], secret=without_database,
                    root=tmp_path / "monitor-pod")
    done = subprocess.run([*pod.command, "--json"], env=pod.env, cwd=tmp_path, text=True, capture_output=True,
                          timeout=300, check=False)
    assert done.returncode in (0, 3), done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["deployment"] == "cancer", report
