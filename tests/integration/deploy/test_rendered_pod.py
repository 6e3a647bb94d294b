"""The rendered serving container, run here: ready, one prediction, feedback, and a SIGTERM drain losing nothing.

``shipyard k8s render`` writes the manifests; the Deployment's container is started as the kubelet would start
it (:mod:`._kubelet`: same command, same environment from the Secret and the downward API, ConfigMap and
emptyDir volumes as local folders), listening on 127.0.0.1. The store it reads is the team's: a database and
objects named by the Secret, the objects on a local folder or on a real S3 (moto). Readiness is polled on the
readiness probe's path, the Host names the Service gives it are answered and others refused, the token comes
from the Secret, and after SIGTERM under load the process exits 0 well within the grace period with every
answered prediction in the log.
"""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import yaml

from shipyard.deploy.pod import PRE_STOP_SECONDS
from shipyard.predlog.readers import prediction_log
from tests._servers import s3
from tests._support import wait_until
from tests.integration.deploy._kubelet import LocalPod, listen_locally, local_pod
from tests.integration.serving._serving import TOKEN, Template, records
from tests.integration.serving.test_cli import shipyard_cli

pytestmark = pytest.mark.slow

SERVING_YAML = """\
deployments:
  churn:
    variants:
      - {name: champion, model: "models:/churn@champion"}
flush_interval_s: 1.0
"""
_URL_RE = re.compile(r"API docs at (http://127\.0\.0\.1:\d+)/docs")


def _render(folder: Path) -> list[dict[str, Any]]:
    config = folder / "serving.yaml"
    config.write_text(SERVING_YAML)
    done = shipyard_cli("k8s", "render", "--config", str(config), "--image", "churn-server:1", "-o",
                        str(folder / "k8s"), cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return [yaml.safe_load(path.read_text()) for path in sorted((folder / "k8s").glob("*.yaml"))]


@contextmanager
def _objects_on(where: str, store: Path) -> Iterator[dict[str, str]]:
    """The Secret's store keys, with the template's objects on a local folder or copied to a moto S3 bucket."""
    secret = {"token": TOKEN, "database-uri": f"sqlite:///{store / 'meta.db'}"}
    if where == "folder":
        yield {**secret, "objects-uri": str(store / "objects")}
        return
    reason = s3.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3.CREDENTIALS.items():
            patch.setenv(name, value)
        with s3.moto_server() as endpoint:
            s3.create_bucket(endpoint, "models")
            client = s3.client(endpoint)
            for path in (store / "objects").rglob("*"):
                if path.is_file():
                    key = f"team/objects/{path.relative_to(store / 'objects').as_posix()}"
                    client.upload_file(str(path), "models", key)
            yield {**secret, "objects-uri": "s3://models/team/objects",
                   "aws-access-key-id": s3.CREDENTIALS["AWS_ACCESS_KEY_ID"],
                   "aws-secret-access-key": s3.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                   "aws-endpoint-url": endpoint}


class _Load:
    """Threads sending one-row predictions back to back, as a client with the token would."""

    def __init__(self, url: str, record: dict[str, Any], threads: int = 4) -> None:
        port = int(url.rsplit(":", 1)[1])
        self._port, self._record = port, record
        self.answered: list[str] = []  # request ids of 200 answers
        self.failed: list[tuple[float, str]] = []  # (when, why) of requests that got no answer
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(threads)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self, index: int) -> None:
        connection = None
        count = 0
        while not self._stop.is_set():
            request_id = f"pod-{index}-{count}"
            count += 1
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
                connection.request("POST", "/predict/churn",
                                   orjson.dumps({"records": [self._record], "request_id": request_id}),
                                   {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
                response = connection.getresponse()
                response.read()
                with self._lock:
                    if response.status == 200:
                        self.answered.append(request_id)
                    else:
                        self.failed.append((time.monotonic(), f"HTTP {response.status}"))
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failed.append((time.monotonic(), type(exc).__name__))
                if connection is not None:
                    connection.close()
                connection = None
                self._stop.wait(0.01)  # a refused connection returns at once: do not spin


def _start(pod: LocalPod, folder: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    out, err = folder / "pod.out", folder / "pod.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(listen_locally(pod.command, 0), env=pod.env, cwd=folder, stdout=stdout,
                                stderr=stderr)

    def announced() -> str | None:
        if proc.poll() is not None:
            pytest.fail(f"the pod's command exited ({proc.returncode}):\n{out.read_text()}\n{err.read_text()}")
        match = _URL_RE.search(out.read_text())
        return match.group(1) if match else None

    return proc, str(wait_until(announced, timeout=120, what="the server to listen")), err


@pytest.mark.parametrize("objects", ["folder", "s3"])
def test_the_rendered_container_serves_and_drains_without_losing_a_prediction(template: Template, tmp_path: Path,
                                                                              objects: str) -> None:
    manifests = _render(tmp_path)
    deployment = next(item for item in manifests if item["kind"] == "Deployment")
    pod_spec = deployment["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    store = template.copy_to(tmp_path / "team-store")
    with _objects_on(objects, store) as secret:
        pod = local_pod(manifests, pod_spec, container, secret=secret, root=tmp_path)
        assert pod.env["SHIPYARD_TOKEN"] == TOKEN and "SHIPYARD_DATABASE_URI" in pod.env
        assert ("AWS_ENDPOINT_URL" in pod.env) == (objects == "s3")  # optional keys: set only when the Secret has them
        proc, url, err = _start(pod, tmp_path)
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                ready = container["readinessProbe"]["httpGet"]["path"]
                wait_until(lambda: client.get(ready).status_code == 200, timeout=60, what="the readiness probe")
                assert client.get(container["livenessProbe"]["httpGet"]["path"]).json() == {"live": True}

                record = records(template.holdout(rows=1))[0]
                answer = client.post("/predict/churn", json={"records": [record]},
                                     headers={"host": "churn.default.svc.cluster.local"})
                assert answer.status_code == 200, answer.text
                expected = template.probabilities(1, pd.DataFrame([record]).astype({"monthly_charges": "float64"}))
                np.testing.assert_allclose(answer.json()["probabilities"][0], expected[0], atol=1e-12)
                request_id = answer.json()["request_id"]
                refused = client.post("/predict/churn", json={"records": [record]}, headers={"host": "evil.example"})
                assert refused.status_code == 400  # a Host the Service does not give it
                assert client.post("/feedback/churn", json={"request_id": request_id, "label": 1}).status_code == 401
                labelled = client.post("/feedback/churn", json={"request_id": request_id, "label": 1},
                                       headers={"authorization": f"Bearer {TOKEN}"})
                assert labelled.status_code == 200, labelled.text

            load = _Load(url, record)
            wait_until(lambda: len(load.answered) >= 100, timeout=60, what="load before SIGTERM")
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)  # what the kubelet sends once preStop has ended
            status = proc.wait(timeout=pod_spec["terminationGracePeriodSeconds"])
            took = time.monotonic() - signalled
            load.stop()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr = err.read_text()
        assert status == 0, stderr
        assert "Traceback" not in stderr
        assert took < pod_spec["terminationGracePeriodSeconds"] - PRE_STOP_SECONDS  # the kubelet would not kill it
        late = [why for when, why in load.failed if when < signalled - 0.25]
        assert not late, late[:5]  # only requests sent around the signal may find the port closed
        # no log_dir in serving.yaml: the log is in the pod's store folder (SHIPYARD_STORE, an emptyDir)
        log = prediction_log("churn", log_dir=str(Path(pod.env["SHIPYARD_STORE"]) / "serving"), with_feedback=True,
                             shadow=False)
        missing = {*load.answered, request_id} - set(log["request_id"])
        assert not missing, f"{len(missing)} answered predictions are not in the log, e.g. {sorted(missing)[:3]}"
        assert log["request_id"].is_unique
        assert log.set_index("request_id").loc[request_id, "label"] == "1"  # labels are kept as text

        # What the monitoring CronJob runs, reading this log where serving.yaml's log_dir would name it
        job = next(item for item in manifests if item["kind"] == "CronJob")
        job_pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        checker = local_pod(manifests, job_pod, job_pod["containers"][0], secret=secret, root=tmp_path / "job")
        done = subprocess.run([*checker.command, "--log-dir", str(Path(pod.env["SHIPYARD_STORE"]) / "serving")],
                              env=checker.env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode in (0, 3), done.stdout + done.stderr  # a verdict: 3 (an alert) fails the Job
        assert "Traceback" not in done.stderr
