"""The registry against a real store: versions, aliases, the audit log and registry URIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"x": rng.normal(size=120), "y": rng.normal(size=120)})


def logged(frame: pd.DataFrame, c_value: float = 1.0) -> shipyard.ModelInfo:
    target = (frame["x"] + frame["y"] > 0).astype(int)
    with shipyard.start_run(name=f"C={c_value}"):
        shipyard.log_params({"C": c_value})
        return shipyard.log_model(LogisticRegression(C=c_value).fit(frame, target), input_example=frame)


def test_versions_count_up_per_name_and_link_to_their_run(frame: pd.DataFrame) -> None:
    first, second = logged(frame, 0.1), logged(frame, 1.0)
    v1 = shipyard.register_model(first, "churn", description="baseline", tags={"owner": "ds"})
    v2 = shipyard.register_model(second.uri, "churn")
    other = shipyard.register_model(second.run_id, "other")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.run_id == first.run_id and v1.manifest_hash == first.manifest_hash
    assert v1.tags == {"owner": "ds"} and v1.description == "baseline"
    assert [version.version for version in shipyard.list_model_versions("churn")] == [2, 1]
    loaded = shipyard.load_model("models:/churn/1")
    assert (loaded.name, loaded.version) == ("churn", 1)
    assert loaded.lineage["params"] == {"C": "0.1"}


def test_aliases_resolve_move_and_are_audited(frame: pd.DataFrame) -> None:
    for c_value in (0.1, 1.0):
        shipyard.register_model(logged(frame, c_value), "churn")
    shipyard.set_alias("churn", "champion", 1, reason="first model")
    assert shipyard.load_model("models:/churn@champion").version == 1
    shipyard.set_alias("churn", "challenger", 2)
    assert shipyard.set_alias("churn", "challenger", 2).action == "unchanged"  # not audited: nothing moved
    shipyard.set_alias("churn", "champion", 2, reason="better AUC")
    assert shipyard.load_model("models:/churn@champion").version == 2
    assert shipyard.get_model_version("churn", 2).aliases == ("challenger", "champion")
    shipyard.delete_alias("churn", "challenger", reason="merged")
    history = [(e.alias, e.action, e.from_version, e.to_version, e.reason) for e in shipyard.alias_history("churn")]
    assert history == [
        ("champion", "set", None, 1, "first model"),
        ("challenger", "set", None, 2, None),
        ("champion", "set", 1, 2, "better AUC"),
        ("challenger", "delete", 2, None, "merged"),
    ]
    assert all(event.actor for event in shipyard.alias_history("churn"))


def test_unknown_names_versions_and_aliases(frame: pd.DataFrame) -> None:
    shipyard.register_model(logged(frame), "churn")
    with pytest.raises(shipyard.NotFoundError, match="No model is registered as 'nope'"):
        shipyard.load_model("models:/nope/1")
    with pytest.raises(shipyard.NotFoundError, match=r"no version 7 \(versions 1 to 1\)"):
        shipyard.load_model("models:/churn/7")
    with pytest.raises(shipyard.NotFoundError, match="no alias 'champion'.*no aliases yet"):
        shipyard.load_model("models:/churn@champion")
    with pytest.raises(shipyard.NotFoundError, match="no version 3"):
        shipyard.set_alias("churn", "champion", 3)
    with pytest.raises(shipyard.ValidationError, match="not a valid alias"):
        shipyard.set_alias("churn", "1", 1)
    with pytest.raises(shipyard.ValidationError, match="not a valid model name"):
        shipyard.register_model(logged(frame), "bad name!")
    with shipyard.start_run() as run:
        pass
    with pytest.raises(shipyard.NotFoundError, match="has no model"):
        shipyard.register_model(run.id, "churn")
