"""``routing: thompson`` on a real two-worker server: labels move the traffic to the better variant.

Both variants serve the template's churn models; the test decides which is "better" through the labels it posts:
a ``good`` answer is labelled with its own prediction 90% of the time, a ``bad`` one 30% of the time, so their
accuracies under ``reward: accuracy`` are 0.9 and 0.3, whatever the models' own probabilities state (the
provisional scores of ``bad`` are badly miscalibrated, and its labels must override them). The scores and
labels are counted in the store on whichever worker receives them; both workers re-read the posteriors every
second, so the share of ``good`` grows on both.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.predlog.readers import prediction_log
from tests._support import wait_until
from tests.integration.serving._serving import (
    TOKEN,
    Server,
    Template,
    log_rows,
    post_many,
    records,
    running_server,
    write_config,
)

pytestmark = pytest.mark.slow
AUTH = {"authorization": f"Bearer {TOKEN}"}
ACCURACY = {"good": 0.9, "bad": 0.3}
FLOOR = 0.02


@pytest.fixture(scope="module")
def bandit_server(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("bandit")
    store = template.copy_to(folder / ".shipyard")
    log_dir = folder / "logs"
    config = write_config(folder / "serving.yaml", {
        "token": TOKEN,
        "flush_interval_s": 0.1,
        "log_dir": str(log_dir),
        "deployments": {"churn": {
            "routing": "thompson", "reward": "accuracy", "min_propensity": FLOOR,
            "variants": [{"name": "bad", "model": "models:/churn@champion"},
                         {"name": "good", "model": "models:/churn@challenger"}]}},
    })
    with running_server(["--config", str(config), "--workers", "2"], cwd=folder, store=store,
                        log_dir=log_dir) as server:
        yield server
        assert server.stop() == 0, server.describe()


def _predict(server: Server, template: Template, count: int, seed: int) -> list[dict[str, Any]]:
    frame = template.holdout(rows=count, seed=seed)
    bodies = [{"records": records(frame.iloc[[index]])} for index in range(count)]
    responses = post_many(server.url, "/predict/churn", bodies)
    assert [status for status, _ in responses] == [200] * count, responses[:3]
    return [answer for _, answer in responses]


def _labels(answers: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Each answer's label: its own prediction with its variant's accuracy, else the other class."""
    labels = []
    for answer in answers:
        predicted = answer["predictions"][0]
        right = rng.random() < ACCURACY[answer["variant"]]
        labels.append({"request_id": answer["request_id"], "label": predicted if right else 1 - int(predicted)})
    return labels


def _status(server: Server) -> dict[str, Any]:
    env = {**os.environ, "SHIPYARD_STORE": str(server.store), "COLUMNS": "300"}
    done = subprocess.run([sys.executable, "-m", "shipyard", "bandit", "status", "churn", "--json"],
                          capture_output=True, text=True, env=env, cwd=server.store.parent, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_labels_move_traffic_to_the_better_variant_and_propensities_are_logged(bandit_server: Server,
                                                                               template: Template) -> None:
    rng = random.Random(5)
    first = _predict(bandit_server, template, 120, seed=1)
    assert {answer["variant"] for answer in first} == {"good", "bad"}
    # no label yet: pending requests are not failures; their scores count provisionally, once both workers have
    # added them to the store (on their one-second beat)
    wait_until(lambda: sum(item["pending"] for item in _status(bandit_server)["variants"]) == 120, timeout=30,
               what="both workers to add their predictions' scores to the store", interval=0.2)

    labels = _labels(first, rng)
    counted = bandit_server.post("/feedback/churn", json=labels, headers=AUTH)
    assert counted.status_code == 200, counted.text
    assert counted.json()["accepted"] == 120 and counted.json()["rewards_counted"] == 120
    again = bandit_server.post("/feedback/churn", json=labels[:40], headers=AUTH)  # a client's retry
    assert again.json()["accepted"] == 40 and again.json()["rewards_counted"] == 0
    status = _status(bandit_server)
    assert status["labelled"] == 120  # the repeated labels were not counted twice
    counts = Counter(answer["variant"] for answer in first)
    assert {item["variant"]: item["count"] for item in status["variants"]} == counts
    # each label replaced its prediction's score, once: nothing of the first batch is pending any more
    assert {item["variant"]: (item["scored"], item["pending"]) for item in status["variants"]} \
        == {name: (count, 0) for name, count in counts.items()}

    shares: list[float] = []

    def moved() -> bool:  # both workers have read the posteriors: nearly every request goes to "good"
        batch = _predict(bandit_server, template, 100, seed=10 + len(shares))
        shares.append(sum(answer["variant"] == "good" for answer in batch) / len(batch))
        return shares[-1] >= 0.9

    wait_until(moved, timeout=60, what="the traffic to move to the better variant", interval=0.05)
    assert shares[-1] >= 0.9, shares

    ids = {answer["request_id"] for answer in first}
    assert bandit_server.log_dir is not None
    log_rows(bandit_server.log_dir, ids, deployment="churn", shadow=False, expected=120)
    logged = prediction_log("churn", log_dir=str(bandit_server.log_dir), shadow=False)
    assert logged["propensity"].notna().all()
    assert ((logged["propensity"] > 0) & (logged["propensity"] <= 1)).all()
    early = logged[logged["request_id"].isin(ids)]
    # the first answers were routed before any label: evenly before the first beat, then by the scores alone
    # (the two models state different confidences), never below the floor
    assert early.sort_values("timestamp")["propensity"].iloc[0] == pytest.approx(0.5)
    assert (early["propensity"] >= FLOOR - 1e-12).all()
    late = logged[logged["timestamp"] == logged["timestamp"].max()].iloc[0]
    assert late["propensity"] >= FLOOR

    shown = {item["variant"]: item for item in _status(bandit_server)["variants"]}
    good, bad = (shown[name]["estimates"][0] for name in ("good", "bad"))
    assert good["method"] == "snipw" and good["low"] <= good["mean"] <= good["high"]
    assert good["mean"] > bad["mean"]
    assert shown["good"]["thompson_probability"] > 0.99
