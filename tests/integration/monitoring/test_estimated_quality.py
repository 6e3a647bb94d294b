"""``shipyard monitor compare --model --target`` on the real Telco churn data: the model's performance on a
shifted, unlabelled window is estimated with intervals; rows whose labels arrived are checked against the
estimate, and labels that stopped following the scores (injected concept drift) are an alert, exit 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.demo.telco import TARGET, build_pipeline, load_churn
from shipyard.monitoring.compare import compare_frames

pytestmark = pytest.mark.slow


@pytest.fixture
def churn(tmp_path: Path) -> dict[str, Path]:
    """churn v1 (logistic regression) trained on 40% of Telco; the holdout as reference; two later windows."""
    from sklearn.linear_model import LogisticRegression

    frame = load_churn()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    train, holdout, later = frame.iloc[order[:2_800]], frame.iloc[order[2_800:4_200]], frame.iloc[order[4_200:]]
    model = build_pipeline(frame, LogisticRegression(max_iter=2_000)).fit(train.drop(columns=[TARGET]), train[TARGET])
    with shipyard.start_run():
        info = shipyard.log_model(model, "model", input_example=train.drop(columns=[TARGET]).head(50))
    shipyard.register_model(info, "churn")
    # Covariate shift: later customers weighted towards long tenure (a different mix of inputs).
    weights = np.exp(1.2 * (later["tenure"] - later["tenure"].mean()) / later["tenure"].std()).to_numpy()
    chosen = rng.choice(len(later), 1_500, replace=False, p=weights / weights.sum())
    window = later.iloc[np.sort(chosen)]
    paths = {"reference": tmp_path / "holdout.parquet", "unlabelled": tmp_path / "window.parquet",
             "labelled": tmp_path / "window_labels.parquet", "drifted": tmp_path / "drifted.parquet",
             "truth": tmp_path / "window_truth.parquet"}
    holdout.to_parquet(paths["reference"])
    window.to_parquet(paths["truth"])
    window.drop(columns=[TARGET]).to_parquet(paths["unlabelled"])
    partly = window.copy()
    partly[TARGET] = partly[TARGET].astype("float").where(rng.random(len(partly)) < 0.3)  # 30% of labels arrived
    partly.to_parquet(paths["labelled"])
    # Concept drift: month-to-month customers who stayed now churn half the time (P(y|x) changed).
    drifted = partly.copy()
    flip = (drifted["contract"] == "Month-to-month") & (drifted[TARGET] == 0) & (rng.random(len(drifted)) < 0.5)
    drifted.loc[flip, TARGET] = 1.0
    drifted.to_parquet(paths["drifted"])
    return paths


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard", "monitor", "compare", *args], capture_output=True,
                          text=True, timeout=240, env={**os.environ, "COLUMNS": "200"}, check=False)


def estimates(stdout: str) -> dict[str, dict[str, object]]:
    return {check["statistic"]: check for check in json.loads(stdout)["checks"]
            if check["check"] == "estimated_quality"}


def test_an_unlabelled_window_gets_estimates_with_intervals(churn: dict[str, Path]) -> None:
    result = compare(str(churn["reference"]), str(churn["unlabelled"]), "--model", "models:/churn/1",
                     "--target", TARGET, "--json")
    assert result.returncode in (0, 3), result.stderr  # drift checks may alert on the shifted inputs
    found = estimates(result.stdout)
    assert sorted(found) == ["accuracy", "f1", "precision", "recall", "roc_auc"]
    for check in found.values():
        assert check["low"] <= check["value"] <= check["high"]  # type: ignore[operator]
        assert check["realized"] is None and check["labelled_rows"] == 0
    assert json.loads(result.stdout)["current"]["rows"] == 1_500
    # The truth the test kept back: the estimate is within 3 points of the whole window's realized accuracy.
    truth = pd.read_parquet(churn["truth"])
    realized = float((shipyard.load_model("models:/churn/1").predict(truth.drop(columns=[TARGET]))
                      == truth[TARGET]).mean())
    assert abs(found["accuracy"]["value"] - realized) < 0.03  # type: ignore[operator]


def test_labels_that_agree_are_shown_next_to_the_estimate(churn: dict[str, Path]) -> None:
    result = compare(str(churn["reference"]), str(churn["labelled"]), "--model", "models:/churn/1",
                     "--target", TARGET, "--json")
    found = estimates(result.stdout)
    accuracy = found["accuracy"]
    assert accuracy["labelled_rows"] > 300
    assert accuracy["status"] == "ok", accuracy["message"]
    assert accuracy["labelled_low"] <= accuracy["realized"] <= accuracy["labelled_high"]  # type: ignore[operator]
    drift = next(check for check in json.loads(result.stdout)["checks"] if check["check"] == "concept_drift")
    assert drift["status"] == "ok" and drift["value"] >= 0.01, drift["message"]
    table = compare(str(churn["reference"]), str(churn["labelled"]), "--model", "models:/churn/1",
                    "--target", TARGET)
    assert "90% interval" in table.stdout and "realized" in table.stdout


def test_injected_concept_drift_is_an_alert_with_exit_3(churn: dict[str, Path]) -> None:
    result = compare(str(churn["reference"]), str(churn["drifted"]), "--model", "models:/churn/1",
                     "--target", TARGET, "--json")
    assert result.returncode == 3, result.stderr
    drift = next(check for check in json.loads(result.stdout)["checks"] if check["check"] == "concept_drift")
    assert drift["status"] == "alert" and drift["value"] < 0.01
    assert "concept drift" in drift["message"]
    assert drift["observed"]["1"] > drift["expected"]["1"]  # more churn than the scores expect


def test_the_python_api_gives_the_same_checks(churn: dict[str, Path]) -> None:
    reference, current = pd.read_parquet(churn["reference"]), pd.read_parquet(churn["labelled"])
    result = compare_frames(reference, current, model="models:/churn/1", target=TARGET)
    accuracy = next(item for item in result.results if item.check == "estimated_quality"
                    and item.statistic == "accuracy")
    cli = estimates(compare(str(churn["reference"]), str(churn["labelled"]), "--model", "models:/churn/1",
                            "--target", TARGET, "--json").stdout)["accuracy"]
    assert accuracy.value == pytest.approx(cli["value"]) and accuracy.extra["high"] == pytest.approx(cli["high"])


@pytest.mark.parametrize(("args", "names"), [
    (["--target", TARGET], "--target"),
    (["--model", "models:/churn/1"], "--target"),
    (["--model", "models:/nope/1", "--target", TARGET], "nope"),
])
def test_bad_options_get_one_line_and_exit_2(churn: dict[str, Path], args: list[str], names: str) -> None:
    result = compare(str(churn["reference"]), str(churn["unlabelled"]), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert names in result.stderr and "Traceback" not in result.stderr


def test_a_reference_without_the_target_is_refused_naming_it(churn: dict[str, Path], tmp_path: Path) -> None:
    result = compare(str(churn["unlabelled"]), str(churn["unlabelled"]), "--model", "models:/churn/1",
                     "--target", TARGET)
    assert result.returncode == 2
    assert f"target column '{TARGET}'" in result.stderr
