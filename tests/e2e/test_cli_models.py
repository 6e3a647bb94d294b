"""``shipyard models`` and ``shipyard lineage`` as a user types them, on a registry filled by the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker, ErrorCheck


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """Versions 1 (weak: 'noise' only) and 2 (strong) of 'churn'; returns the holdout CSV."""
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"signal": rng.normal(size=500), "noise": rng.normal(size=500)})
    frame["churn"] = np.where(frame["signal"] + 0.3 * rng.normal(size=500) > 0, "Yes", "No")
    train, holdout = frame.iloc[:250], frame.iloc[250:]
    for columns in (["noise"], ["signal", "noise"]):
        keep = ColumnTransformer([("keep", "passthrough", columns)], remainder="drop")
        model = Pipeline([("select", keep), ("model", LogisticRegression())])
        model.fit(train.drop(columns=["churn"]), train["churn"])
        with shipyard.start_run(experiment="churn", name="+".join(columns)):
            shipyard.log_metric("train_rows", len(train))
            info = shipyard.log_model(model, input_example=train.drop(columns=["churn"]))
        shipyard.register_model(info, "churn")
    path = tmp_path / "holdout.csv"
    holdout.to_csv(path, index=False)
    return path


def test_list_show_alias_history(cli: CliInvoker, registry: Path) -> None:
    assert cli("models", "alias", "churn", "champion", "1", "-m", "first").exit_code == 0
    listed = json.loads(cli("models", "list", "--json").stdout)
    assert listed[0]["name"] == "churn" and listed[0]["latest_version"] == 2
    assert listed[0]["aliases"] == {"champion": 1}
    shown = cli("models", "show", "churn")
    assert shown.exit_code == 0 and "v2" in shown.stdout and "champion" in shown.stdout
    one = json.loads(cli("models", "show", "churn/1", "--json").stdout)
    assert [item["model_version"]["version"] for item in one["versions"]] == [1]
    history = json.loads(cli("models", "history", "churn", "--json").stdout)
    assert [(event["action"], event["to_version"], event["reason"]) for event in history] == [("set", 1, "first")]


def test_promote_exit_codes(cli: CliInvoker, registry: Path) -> None:
    cli("models", "alias", "churn", "champion", "1")
    args = ["models", "promote", "churn", "--data", str(registry), "--target", "churn", "--min-delta", "0.005"]
    promoted = cli(*args, "--candidate", "2")
    assert promoted.exit_code == 0, promoted.output
    assert "PROMOTED" in promoted.stdout and "roc_auc" in promoted.stdout
    held = cli(*args, "--candidate", "1", "--json")
    assert held.exit_code == 3
    decision = json.loads(held.stdout)
    assert decision["promoted"] is False and decision["current_version"] == 2
    assert decision["candidate_score"] < decision["current_score"]
    assert decision["test"] == "delong" and decision["alpha"] == 0.05 and decision["p_value"] > 0.05
    assert decision["ci_low"] < decision["ci_high"] < 0.005 and decision["min_detectable_effect"] > 0
    actions = [event["action"] for event in json.loads(cli("models", "history", "churn", "--json").stdout)]
    assert actions == ["set", "promoted", "held_back"]


def test_a_held_back_candidate_exits_3_with_its_verdict_and_no_error_line(cli: CliInvoker, registry: Path) -> None:
    """Exit 3 is the answer of a check, not an error: the verdict on stdout is the whole message."""
    cli("models", "alias", "churn", "champion", "2")
    held = cli("models", "promote", "churn", "--data", str(registry), "--target", "churn", "--candidate", "1")
    assert held.exit_code == 3, held.output
    assert "HELD BACK" in held.stdout and held.stderr == ""


def test_lineage_command(cli: CliInvoker, registry: Path) -> None:
    cli("models", "alias", "churn", "champion", "2")
    text = cli("lineage", "models:/churn@champion")
    assert text.exit_code == 0
    assert "models:/churn/2 (champion)" in text.stdout and "signal+noise" in text.stdout
    chain = json.loads(cli("lineage", "models:/churn/1", "--json").stdout)
    assert chain["run"]["name"] == "noise" and chain["metrics"] == {"train_rows": 250.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "nope"], "No model is registered as 'nope'"),
        (["models", "show", "churn/x"], "must be a number"),
        (["models", "alias", "churn", "champion", "9"], "no version 9"),
        (["models", "history", "nope"], "No model is registered"),
        (["lineage", "models:/churn@gold"], "no alias 'gold'"),
        (["lineage", "s3://x"], "not a model URI"),
        (["models", "promote", "churn", "--candidate", "2", "--data", "missing.csv", "--target", "churn"],
         "does not exist"),
        (["models", "promote", "churn", "--candidate", "2", "--data", "{data}", "--target", "churn", "--metric",
          "auc"], "Unknown metric"),
        (["models", "promote", "churn", "--candidate", "2", "--data", "{data}", "--target", "churn", "--alpha",
          "0.7"], "alpha must be between 0 and 0.5"),
    ],
)
def test_bad_input(cli: CliInvoker, registry: Path, input_error: ErrorCheck, args: list[str], message: str) -> None:
    result = cli(*[arg.replace("{data}", str(registry)) for arg in args])
    line = input_error(result.exit_code, result.stdout, result.stderr)
    assert message in line
