"""``routing: thompson`` counts each prediction's *calibrated* P(correct), learnt from the version's labelled reference.

churn v1's labelled reference (what the promotion gate keeps with a version) is written here with labels that
agree with the model's answers half the time whatever its confidence: its calibrated P(correct) is about 0.5 for
every answer, far below the 0.7-1.0 the logistic regression states. A real server must count those calibrated
scores as pending evidence (the store's score sums), and a label must replace the same calibrated score; v2 has
no reference, so its raw probabilities count, as before.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest

from shipyard.models.bandits import ArmState, arm_states
from shipyard.models.labelled_reference import record_reference
from shipyard.store import Store
from shipyard.store.location import location_for
from tests._support import wait_until
from tests.integration.serving._serving import TOKEN, Server, Template, post_many, records, running_server, write_config

pytestmark = pytest.mark.slow
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def calibrated_server(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("bandit-calibration")
    store_root = template.copy_to(folder / ".shipyard")
    inputs = template.holdout(rows=2_000, seed=11)
    probabilities = template.probabilities(1, inputs)
    predicted = probabilities.argmax(axis=1)
    coin = np.random.default_rng(3).random(len(predicted)) < 0.5
    truth = np.where(coin, predicted, 1 - predicted)  # right half the time, whatever the confidence
    store = Store(location_for(store_root))
    try:
        assert record_reference(store, "churn", 1, probabilities, truth, [0, 1], source="test: coin labels")
    finally:
        store.close()
    log_dir = folder / "logs"
    config = write_config(folder / "serving.yaml", {
        "token": TOKEN, "flush_interval_s": 0.1, "log_dir": str(log_dir),
        "deployments": {"churn": {
            "routing": "thompson", "reward": "accuracy",
            "variants": [{"name": "v1", "model": "models:/churn/1"}, {"name": "v2", "model": "models:/churn/2"}]}},
    })
    with running_server(["--config", str(config)], cwd=folder, store=store_root, log_dir=log_dir) as server:
        yield server
        assert server.stop() == 0, server.describe()


def test_pending_and_labelled_scores_are_the_calibrated_p_correct(calibrated_server: Server,
                                                                  template: Template) -> None:
    frame = template.holdout(rows=60, seed=12)
    answers = [answer for _, answer in post_many(calibrated_server.url, "/predict/churn",
                                                 [{"records": records(frame.iloc[[row]])} for row in range(60)])]
    stated = {1: template.probabilities(1, frame).max(axis=1), 2: template.probabilities(2, frame).max(axis=1)}
    by_variant = {name: [index for index, answer in enumerate(answers) if answer["variant"] == name]
                  for name in ("v1", "v2")}
    assert by_variant["v1"] and by_variant["v2"]

    def arms() -> dict[str, ArmState]:
        store = Store(location_for(calibrated_server.store))
        try:
            return dict(arm_states(store, ["churn"]).get("churn", {}))
        finally:
            store.close()

    wait_until(lambda: sum(arm.scored for arm in arms().values()) == 60, timeout=30,
               what="the server to add its predictions' scores to the store", interval=0.2)
    found = arms()
    v1, v2 = found["v1"], found["v2"]
    raw_v1 = float(stated[1][by_variant["v1"]].mean())
    assert raw_v1 > 0.7
    assert abs(v1.scored_expected / v1.scored - 0.5) < 0.1
    assert v2.scored_expected == pytest.approx(float(stated[2][by_variant["v2"]].sum()))

    rng = random.Random(1)
    labels = [{"request_id": answer["request_id"], "label": int(rng.random() < 0.5)} for answer in answers]
    counted = calibrated_server.post("/feedback/churn", json=labels, headers=AUTH)
    assert counted.status_code == 200 and counted.json()["rewards_counted"] == 60, counted.text
    after = arms()
    for name in ("v1", "v2"):  # each label replaced its prediction's pending score by the very same value
        arm = after[name]
        assert arm.labelled_scored == arm.scored
        assert arm.labelled_expected == pytest.approx(arm.scored_expected)
