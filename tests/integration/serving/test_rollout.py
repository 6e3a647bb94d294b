"""Canary rollouts end to end: a real ``shipyard serve``, real traffic with feedback, and ``shipyard rollout start``
in a subprocess judging from the prediction log.

The template's ``churn`` v1 (logistic regression, @champion) serves; the labels follow the data's own rule
(``churn_frame``), which the tree of v2 (@challenger) fits better. A worse candidate, v3, is trained on inverted
labels. Traffic is one client thread sending a request and then its label, until the rollout command exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import shipyard
from shipyard.models.registry import alias_history
from shipyard.store import Store
from shipyard.store.location import location_for
from tests._support import wait_until
from tests.integration.serving._serving import (
    TARGET,
    Server,
    Template,
    build_pipeline,
    churn_frame,
    records,
    running_server,
    write_config,
)

pytestmark = pytest.mark.slow


@dataclass
class Traffic:
    """Requests with their labels sent in a thread; ``answers`` holds (monotonic time, variant, version)."""

    url: str
    rows: list[dict[str, Any]]
    labels: list[int]
    answers: list[tuple[float, str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            index = 0
            while not self._stop.is_set():
                row, label = self.rows[index % len(self.rows)], self.labels[index % len(self.labels)]
                index += 1
                answer = client.post("/predict/churn", json={"records": [row]})
                if answer.status_code != 200:
                    self.failures.append(answer.text)
                    continue
                body = answer.json()
                self.answers.append((time.monotonic(), body["variant"], int(body["model"]["version"])))
                sent = client.post("/feedback/churn", json={"request_id": body["request_id"], "label": label})
                if sent.status_code != 200:
                    self.failures.append(sent.text)


@pytest.fixture
def serving(template: Template, tmp_path: Path) -> Iterator[Server]:
    store = template.copy_to(tmp_path / ".shipyard")
    log_dir = tmp_path / "logs"
    # aliases are re-resolved once an hour here: the move at the end of a rollout must not wait for that
    config = write_config(tmp_path / "serving.yaml", {
        "flush_interval_s": 0.1, "refresh_interval_s": 3600, "log_dir": str(log_dir),
        "deployments": {"churn": {"model": "models:/churn@champion"}}})
    with running_server(["--config", str(config)], cwd=tmp_path, store=store, log_dir=log_dir) as server:
        yield server


def _traffic(server: Server, seed: int) -> Traffic:
    frame = churn_frame(size=3000, seed=seed)
    return Traffic(server.url, records(frame.drop(columns=[TARGET])), [int(value) for value in frame[TARGET]])


def _rollout(server: Server, *args: str, timeout: float = 240) -> tuple[int, list[dict[str, Any]], str]:
    env = {**os.environ, "SHIPYARD_STORE": str(server.store), "COLUMNS": "300"}
    done = subprocess.run([sys.executable, "-m", "shipyard", "rollout", "start", "churn", *args, "--json",
                           "--log-dir", str(server.log_dir), "--interval", "0.3", "--timeout", "180"],
                          capture_output=True, text=True, env=env, cwd=server.store.parent, timeout=timeout)
    final = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, [*final.get("checks", []), final], done.stderr


def _register_worse_model(store: Path, template: Template) -> int:
    inputs, target = template.frame.drop(columns=[TARGET]), template.frame[TARGET]
    from sklearn.tree import DecisionTreeClassifier

    shipyard.set_store(store)
    try:
        pipe = build_pipeline(DecisionTreeClassifier(max_depth=4, random_state=0)).fit(inputs, 1 - target)
        with shipyard.start_run(experiment="serving-tests"):
            info = shipyard.log_model(pipe, input_example=inputs, y_example=target)
        return shipyard.register_model(info.uri, "churn").version
    finally:
        shipyard.set_store(None)


def test_a_worse_candidate_is_rolled_back_and_the_weights_restored(serving: Server, template: Template) -> None:
    worse = _register_worse_model(serving.store, template)
    with _traffic(serving, seed=21) as traffic:
        code, lines, stderr = _rollout(serving, "--candidate", str(worse), "--steps", "20,100",
                                       "--min-requests", "100000")
        finished = time.monotonic()
        final = lines[-1]
        assert code == 3, (lines, stderr)  # 3: a check said no
        assert final["status"] == "rolled_back" and final["weight"] == 0.0, final
        canary = final["last_verdict"]["statistics"]
        assert canary["candidate_requests"] > 0
        # every request after the rollback reaches the primary again (the servers poll the store every second)
        def restored() -> bool:
            recent = [item for item in traffic.answers if item[0] > finished + 1.5]
            return len(recent) >= 30
        wait_until(restored, timeout=30, what="30 answers after the rollback")
    late = [item for item in traffic.answers if item[0] > finished + 1.5]
    assert {(variant, version) for _, variant, version in late} == {("default", 1)}
    assert any(variant == f"rollout-{final['id']}" and version == worse for _, variant, version in traffic.answers)
    assert not traffic.failures, traffic.failures[:3]
    actions = [event.action for event in alias_history(Store(location_for(serving.store)), "churn")]
    assert actions[-1] == "rollout_rollback" and "rollout_start" in actions
    rollback = alias_history(Store(location_for(serving.store)), "churn")[-1]
    assert rollback.details is not None and rollback.details["weight"] == 0.0
    assert "loss" in rollback.details["statistics"] or "disagreement" in rollback.details["statistics"]


def test_a_good_candidate_advances_through_the_steps_and_the_alias_moves(serving: Server, template: Template) -> None:
    with _traffic(serving, seed=22) as traffic:
        code, lines, stderr = _rollout(serving, "--candidate", "challenger", "--steps", "10,50,100",
                                       "--min-requests", "40", "--max-labels", "60")
        finished = time.monotonic()
        final = lines[-1]
        assert code == 0, (lines, stderr)
        assert final["status"] == "completed" and final["weight"] == 100.0, final
        weights = [line["weight"] for line in lines[:-1] if line["action"] == "advance"]
        assert weights == [50.0, 100.0]

        def moved() -> bool:
            recent = [item for item in traffic.answers if item[0] > finished + 1.5]
            return len(recent) >= 30
        wait_until(moved, timeout=30, what="30 answers after the alias moved")
    late = [item for item in traffic.answers if item[0] > finished + 1.5]
    assert {(variant, version) for _, variant, version in late} == {("default", 2)}  # champion moved to v2
    assert not traffic.failures, traffic.failures[:3]
    store = Store(location_for(serving.store))
    history = alias_history(store, "churn")
    assert [event.action for event in history if event.action.startswith("rollout_")][-1] == "rollout_complete"
    assert history[-1].alias == "champion" and history[-1].to_version == 2
