"""The promotion gate in both directions, its audit trail, and lineage of a promoted version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import shipyard


@pytest.fixture
def holdout(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    rng = np.random.default_rng(21)
    frame = pd.DataFrame({"signal": rng.normal(size=600), "noise": rng.normal(size=600)})
    frame["churn"] = (frame["signal"] + 0.3 * rng.normal(size=600) > 0).astype(int)
    path = tmp_path / "holdout.parquet"
    frame.iloc[300:].to_parquet(path)
    return frame.iloc[:300], path


def register(train: pd.DataFrame, columns: list[str], name: str = "churn") -> int:
    """A model that sees only ``columns`` (the others are dropped): 'noise' alone is a weak model."""
    features = train.drop(columns=["churn"])
    keep = ColumnTransformer([("keep", "passthrough", columns)], remainder="drop")
    model = Pipeline([("select", keep), ("model", LogisticRegression())]).fit(features, train["churn"])
    with shipyard.start_run(name="+".join(columns)):
        shipyard.log_params({"columns": ",".join(columns)})
        info = shipyard.log_model(model, input_example=features)
    return shipyard.register_model(info, name).version


def test_first_candidate_takes_an_empty_alias(holdout: tuple[pd.DataFrame, Path]) -> None:
    train, path = holdout
    version = register(train, ["noise"])
    decision = shipyard.promote_model("churn", candidate=version, data=path, target="churn")
    assert decision.promoted and decision.current_version is None
    assert shipyard.load_model("models:/churn@champion").version == version


def test_a_better_candidate_is_promoted_and_a_worse_one_held_back(holdout: tuple[pd.DataFrame, Path]) -> None:
    train, path = holdout
    weak = register(train, ["noise"])
    strong = register(train, ["signal", "noise"])
    shipyard.set_alias("churn", "champion", weak)
    shipyard.set_alias("churn", "challenger", strong)
    won = shipyard.promote_model("churn", candidate="challenger", data=path, target="churn", min_delta=0.005)
    assert won.promoted and won.candidate_score > won.current_score + 0.3  # type: ignore[operator]
    assert shipyard.load_model("models:/churn@champion").version == strong
    lost = shipyard.promote_model("churn", candidate=weak, data=path, target="churn", metric="log_loss")
    assert not lost.promoted
    assert shipyard.load_model("models:/churn@champion").version == strong
    events = shipyard.alias_history("churn")
    assert [(event.action, event.from_version, event.to_version) for event in events[-2:]] == [
        ("promoted", weak, strong), ("held_back", strong, weak)]
    assert events[-1].details is not None and events[-1].details["metric"] == "log_loss"
    assert events[-1].details["candidate_score"] == lost.candidate_score


def test_the_margin_is_required(holdout: tuple[pd.DataFrame, Path]) -> None:
    train, path = holdout
    first = register(train, ["signal", "noise"])
    second = register(train, ["signal", "noise"])  # the same model again: no gain
    shipyard.set_alias("churn", "champion", first)
    decision = shipyard.promote_model("churn", candidate=second, data=path, target="churn", min_delta=0.001)
    assert not decision.promoted and decision.reason.endswith("no better")


def test_a_gain_below_the_margin_says_so_in_plain_words(holdout: tuple[pd.DataFrame, Path]) -> None:
    """"v2 held back, 0.8440 vs v1's 0.8429" read as if the higher score lost: the reason names the gain."""
    train, path = holdout
    weak = register(train, ["noise"])
    strong = register(train, ["signal", "noise"])
    shipyard.set_alias("churn", "champion", weak)
    decision = shipyard.promote_model("churn", candidate=strong, data=path, target="churn", min_delta=0.9)
    gain = decision.candidate_score - decision.current_score
    assert not decision.promoted and gain > 0
    assert f"better by only {gain:.4f}, not shown to exceed the required 0.9" in decision.reason
    assert f"vs v{weak}'s {decision.current_score:.4f}" in decision.reason


def test_bad_promotion_input(holdout: tuple[pd.DataFrame, Path], tmp_path: Path) -> None:
    train, path = holdout
    register(train, ["signal"])
    with pytest.raises(shipyard.ValidationError, match="Unknown metric 'auc'"):
        shipyard.promote_model("churn", candidate=1, data=path, target="churn", metric="auc")
    with pytest.raises(shipyard.ValidationError, match="no target column 'label'"):
        shipyard.promote_model("churn", candidate=1, data=path, target="label")
    with pytest.raises(shipyard.NotFoundError, match="does not exist"):
        shipyard.promote_model("churn", candidate=1, data=tmp_path / "missing.csv", target="churn")
    with pytest.raises(shipyard.NotFoundError, match="No model is registered as 'nope'"):
        shipyard.promote_model("nope", candidate=1, data=path, target="churn")
    with pytest.raises(shipyard.NotFoundError, match="no alias 'challenger'"):
        shipyard.promote_model("churn", candidate="challenger", data=path, target="churn")


def test_lineage_of_a_version_names_run_params_data_and_environment(holdout: tuple[pd.DataFrame, Path]) -> None:
    train, _ = holdout
    version = register(train, ["signal"])
    shipyard.set_alias("churn", "champion", version)
    chain = shipyard.lineage("models:/churn@champion")
    assert chain["model_version"]["version"] == version and chain["alias_holders"] == ["champion"]
    assert chain["params"] == {"columns": "signal"}
    assert chain["training_data"]["rows"] == 300 and len(chain["training_data"]["hash"]) == 64
    assert chain["environment"]["packages"] > 10
    assert chain["registered_versions"] == [f"models:/churn/{version}"]
    by_run = shipyard.lineage(chain["run"]["run_id"][:10])
    assert by_run["training_data"] == chain["training_data"]
    assert by_run["package"]["path"] == "model"


def register_retrain(train: pd.DataFrame, seed: int) -> int:
    """The same model refitted on a bootstrap resample of the training rows: a retrain that differs by chance."""
    resample = train.sample(frac=1.0, replace=True, random_state=seed)
    return register(resample, ["signal", "noise"])


def test_two_retrains_that_differ_by_chance_do_not_promote_each_other(holdout: tuple[pd.DataFrame, Path]) -> None:
    """The issue's flip-flop: with the old point rule one of the two directions always promoted (gain >= 0)."""
    train, path = holdout
    first, second = register_retrain(train, 1), register_retrain(train, 2)
    shipyard.set_alias("churn", "champion", first)
    forward = shipyard.promote_model("churn", candidate=second, data=path, target="churn")
    backward = shipyard.promote_model("churn", candidate=first, data=path, target="churn")
    assert max(forward.candidate_score - forward.current_score,  # type: ignore[operator]
               backward.candidate_score - backward.current_score) >= 0  # type: ignore[operator]
    assert not forward.promoted and not backward.promoted
    assert forward.test == "delong" and forward.p_value is not None and forward.p_value > 0.05
    assert forward.ci_low is not None and forward.ci_high is not None and forward.ci_low < 0 < forward.ci_high
    assert forward.too_small_to_tell and forward.rows_needed is None  # no margin: no holdout size would settle it
    assert "but too small to tell: this holdout of 300 rows with" in forward.reason
    assert forward.reason.endswith("so this does not show that the candidate is no better")
    assert shipyard.load_model("models:/churn@champion").version == first


def test_a_holdout_too_small_for_the_margin_says_how_large_it_would_need_to_be(
        holdout: tuple[pd.DataFrame, Path]) -> None:
    train, path = holdout
    weak, strong = register(train, ["noise"]), register(train, ["signal"])
    shipyard.set_alias("churn", "champion", strong)
    small = pd.read_parquet(path).iloc[:80]
    decision = shipyard.promote_model("churn", candidate=weak, data=small, target="churn", min_delta=0.01,
                                      metric="accuracy")
    assert not decision.promoted and decision.test == "paired_bootstrap"  # accuracy with a margin
    assert decision.min_detectable_effect is not None and decision.min_detectable_effect > 0.01
    # The candidate is far worse: the interval lies below the margin, so this is "no better", not "too small".
    assert decision.ci_high is not None and decision.ci_high < 0 and not decision.too_small_to_tell
    assert "too small" not in decision.reason and "worse by" in decision.reason
    twin = register(train, ["signal"])  # the champion's twin: the same answers, but in a tiny holdout
    both = register(train, ["signal", "noise"])  # nearly the champion: a slightly different ranking
    close = shipyard.promote_model("churn", candidate=both, data=small, target="churn", min_delta=0.001)
    assert not close.promoted and close.too_small_to_tell
    assert close.rows_needed is not None and close.rows_needed > 80
    assert close.min_detectable_effect is not None
    assert close.rows_needed == pytest.approx(80 * (close.min_detectable_effect / 0.001) ** 2, rel=0.01)
    assert "this holdout of 80 rows with" in close.reason and "positives can detect a gain of" in close.reason
    assert f"about {close.rows_needed:,} rows would detect 0.001" in close.reason
    events = shipyard.alias_history("churn")
    details = events[-1].details
    assert details is not None and details["test"] == "delong" and details["p_value"] == close.p_value
    assert details["ci_low"] == close.ci_low and details["min_detectable_effect"] == close.min_detectable_effect
    assert details["too_small_to_tell"] is True and details["alpha"] == 0.05
    same = shipyard.promote_model("churn", candidate=twin, data=small, target="churn", min_delta=0.01)
    assert not same.promoted and same.min_detectable_effect == 0 and not same.too_small_to_tell
    assert same.reason.endswith("no better")


def test_the_decision_lists_its_statistics_and_alpha_is_checked(holdout: tuple[pd.DataFrame, Path]) -> None:
    train, path = holdout
    weak, strong = register(train, ["noise"]), register(train, ["signal", "noise"])
    shipyard.set_alias("churn", "champion", weak)
    decision = shipyard.promote_model("churn", candidate=strong, data=path, target="churn", alpha=0.01)
    assert decision.promoted and decision.alpha == 0.01 and decision.p_value is not None and decision.p_value < 0.01
    as_dict = decision.to_dict()
    for field in ("test", "p_value", "ci_low", "ci_high", "min_detectable_effect", "too_small_to_tell", "rows_needed"):
        assert field in as_dict
    assert "98% interval" in decision.reason and "DeLong one-sided p =" in decision.reason
    for bad in (0, 0.5, 1.5):
        with pytest.raises(shipyard.ValidationError, match="alpha must be between 0 and 0.5"):
            shipyard.promote_model("churn", candidate=strong, data=path, target="churn", alpha=bad)
