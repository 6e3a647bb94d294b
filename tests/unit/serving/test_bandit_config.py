"""``routing: thompson`` in serving.yaml: its keys are checked like every other, with the file's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.serving.spec import from_dict, load_config

VALID = """\
deployments:
  churn:
    routing: thompson
    reward: accuracy
    min_propensity: 0.05
    variants:
      - name: a
        model: "models:/churn@champion"
      - name: b
        model: "models:/churn@challenger"
"""


def test_a_thompson_deployment_reads_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(VALID)
    config = load_config(path)
    deployment = config.deployments[0]
    assert (deployment.routing, deployment.reward, deployment.min_propensity) == ("thompson", "accuracy", 0.05)
    assert deployment.thompson
    assert deployment.score_doubt == 0.02  # the default prior on how far stated P(correct) may be off
    assert from_dict(config.to_dict()) == config  # what worker processes rebuild


def test_score_doubt_zero_routes_on_labels_alone(tmp_path: Path) -> None:
    from shipyard.models.bandits import ArmState
    from shipyard.serving.thompson import posterior_counts

    path = tmp_path / "serving.yaml"
    path.write_text(VALID.replace("    min_propensity: 0.05\n", "    min_propensity: 0.05\n    score_doubt: 0\n"))
    deployment = load_config(path).deployments[0]
    assert deployment.score_doubt == 0.0
    labelled = dict(count=10, reward=7.0, weight=20.0, weighted_reward=14.0, weight_squares=40.0,
                    weight_squares_reward=28.0, weight_squares_reward_squares=28.0, updated_at=0)
    scored = ArmState("a", **labelled, scored=1000, scored_expected=990.0, scored_squares=980.0)
    plain = ArmState("a", **labelled)
    assert posterior_counts([scored], deployment.score_doubt) == posterior_counts([plain], 0.0)
    assert posterior_counts([scored])[0][0] > posterior_counts([plain])[0][0]  # by default the scores count


CASES = {
    "unknown routing": (VALID.replace("routing: thompson", "routing: ucb"), 3,
                        "deployments.churn.routing must be one of random, thompson, got 'ucb'."),
    "unknown reward": (VALID.replace("reward: accuracy", "reward: auc"), 4,
                       "deployments.churn.reward must be one of accuracy, label, got 'auc'."),
    "floor too high for two variants": (VALID.replace("0.05", "0.5"), 5,
                                        "deployments.churn.min_propensity times the 2 variants must stay below 1"),
    "reward without thompson": (VALID.replace("    routing: thompson\n", ""), 3,
                                "deployments.churn.reward is only used with 'routing: thompson'."),
    "one variant": (VALID.split("      - name: b")[0], 3, "deployments.churn: 'routing: thompson' chooses between"),
    "with a sticky key": (VALID.replace("    reward:", "    sticky_key: customer\n    reward:"), 4,
                          "deployments.churn: 'sticky_key' pins a key to one variant"),
    "score doubt beyond a probability": (VALID.replace("    reward:", "    score_doubt: 2\n    reward:"), 4,
                                         "deployments.churn.score_doubt must be at most 0.5, got 2."),
    "score doubt without thompson": (VALID.replace("    routing: thompson\n    reward: accuracy\n"
                                                   "    min_propensity: 0.05\n", "    score_doubt: 0\n"), 3,
                                     "deployments.churn.score_doubt is only used with 'routing: thompson'."),
    "misspelt key": (VALID.replace("min_propensity", "min_propensty"), 5,
                     "deployments.churn has unknown key 'min_propensty'"),
}


@pytest.mark.parametrize(("text", "line", "message"), list(CASES.values()), ids=list(CASES))
def test_a_mistake_names_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{path} line {line}: {message}"), str(refused.value)
    assert refused.value.exit_code == 2
