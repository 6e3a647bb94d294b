"""``shipyard bandit status`` as a user types it: nothing counted yet is one line; counted labels show each variant's
posterior and inverse-propensity estimates (the server that counts them is tests/integration/serving/test_bandit.py)."""

from __future__ import annotations

import json

from shipyard.models.bandits import Reward, record_rewards
from shipyard.store import current_store
from tests.e2e.conftest import ErrorCheck, ScriptRunner


def test_status_before_and_after_labels(run_script: ScriptRunner, input_error: ErrorCheck) -> None:
    store = current_store()  # the store exists; no label was counted in it
    record_rewards(store, "fraud", [Reward("r0", 0, "a", 1.0, 0.5)])
    none_yet = run_script("bandit", "status", "churn")
    assert "has no labelled request routed by 'routing: thompson' yet" in input_error(
        none_yet.returncode, none_yet.stdout, none_yet.stderr)

    record_rewards(store, "churn", [Reward(f"r{index}", 0, "a" if index % 4 else "b", float(index % 3 > 0),
                                                     0.5) for index in range(40)])
    shown = run_script("bandit", "status", "churn")
    assert shown.returncode == 0, shown.stderr
    assert "Deployment churn: 40 labelled requests counted" in shown.stdout
    assert "a: 30 labels, 0 scored predictions pending, picked by Thompson sampling" in shown.stdout
    assert "b: 10 labels" in shown.stdout

    report = json.loads(run_script("bandit", "status", "churn", "--json").stdout)
    assert report["labelled"] == 40
    variants = {item["variant"]: item for item in report["variants"]}
    assert variants["a"]["count"] == 30 and variants["a"]["successes"] == 20
    assert (variants["a"]["scored"], variants["a"]["pending"]) == (0, 0)  # labels without scores: label-only
    snipw = variants["a"]["estimates"][0]
    assert snipw["method"] == "snipw" and snipw["mean"] == 20 / 30 and snipw["low"] < snipw["mean"] < snipw["high"]
    assert abs(sum(item["thompson_probability"] for item in report["variants"]) - 1.0) < 1e-9
