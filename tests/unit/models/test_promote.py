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
