"""``shipyard bandit status`` as a user types it: nothing counted yet is one line; counted labels show each variant's
posterior and inverse-propensity estimates (the server that counts them is tests/integration/serving/test_bandit.py)."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.models.bandits import Reward, ScoreSums, arm_states, record_rewards, record_scores
from shipyard.serving.thompson import DEFAULT_CALIBRATION_DOUBT, posterior_counts, thompson_probabilities
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


SERVING_YAML = """\
deployments:
  churn:
    routing: thompson
    reward: accuracy
    score_doubt: {doubt}
    variants:
      - name: a
        model: "models:/churn@champion"
      - name: b
        model: "models:/churn@challenger"
"""


def test_status_uses_the_deployments_own_score_doubt(run_script: ScriptRunner, input_error: ErrorCheck,
                                                     tmp_path: Path) -> None:
    """Variant a has 400 pending predictions scored 0.95 and worse labels than b: with the default doubt the
    scores lift it above b; the project's serving.yaml says ``score_doubt: 0`` (labels only), and the status
    must say what the deployment routes by, not what the default would."""
    store = current_store()
    rewards = [Reward(f"a{index}", 0, "a", float(index % 2), 0.5) for index in range(10)]
    rewards += [Reward(f"b{index}", 0, "b", float(index % 5 != 0), 0.5) for index in range(10)]
    record_rewards(store, "churn", rewards)
    record_scores(store, "churn", {"a": ScoreSums(400, 400 * 0.95, 400 * 0.95 ** 2)})
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    arms = arm_states(store, ["churn"])["churn"]
    expected = {key: thompson_probabilities(*posterior_counts([arms["a"], arms["b"]], doubt))
                for key, doubt in (("labels_only", 0.0), ("default", DEFAULT_CALIBRATION_DOUBT))}
    assert abs(expected["labels_only"][0] - expected["default"][0]) > 0.5  # the doubt matters here

    (project / "serving.yaml").write_text(SERVING_YAML.format(doubt=0))
    report = json.loads(run_script("bandit", "status", "churn", "--json", cwd=project).stdout)
    assert report["score_doubt"] == 0.0
    assert abs(report["variants"][0]["thompson_probability"] - expected["labels_only"][0]) < 1e-9

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    explicit = json.loads(run_script("bandit", "status", "churn", "--json", "--config",
                                     str(project / "serving.yaml"), cwd=elsewhere).stdout)
    assert abs(explicit["variants"][0]["thompson_probability"] - expected["labels_only"][0]) < 1e-9
    without = json.loads(run_script("bandit", "status", "churn", "--json", cwd=elsewhere).stdout)
    assert without["score_doubt"] == DEFAULT_CALIBRATION_DOUBT  # no serving.yaml: the default, and it says so
    assert abs(without["variants"][0]["thompson_probability"] - expected["default"][0]) < 1e-9

    other = tmp_path / "other.yaml"
    other.write_text(SERVING_YAML.format(doubt=0).replace("churn:", "fraud:"))
    refused = run_script("bandit", "status", "churn", "--config", str(other), cwd=elsewhere)
    line = input_error(refused.returncode, refused.stdout, refused.stderr)
    assert "churn" in line and str(other) in line
