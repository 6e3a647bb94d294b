"""XGBoost and LightGBM models along the whole chain: register, gate, batch-score Parquet, serve (micro-batching,
A/B, the Open Inference Protocol through tritonclient, the prediction log), monitor, lineage.

The registry ``trees`` holds v1 an XGBClassifier and v2 an LGBMClassifier, both on native categorical features
of the Telco table, v3 and v4 the same libraries behind the demo's scikit-learn preprocessing. Every answer is
compared, exactly, with what the library's own object answers on the same rows.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from tests._tree_models import TREE_MODELS, as_categories, native_answers, telco
from tests.integration.serving import _flavors as flavors
from tests.integration.serving._serving import Server, log_rows, post_many, records, running_server, write_config

pytestmark = pytest.mark.slow
KINDS = {1: "xgboost-classifier", 2: "lightgbm-classifier", 3: "xgboost-pipeline", 4: "lightgbm-pipeline"}
TARGET = "churn"


@dataclass
class Trees:
    root: Path  # the store
    folder: Path
    models: dict[int, Any]  # version -> the library's fitted object
    holdout: pd.DataFrame  # rows no model trained on, text columns as text, with the target

    def expected(self, version: int, frame: pd.DataFrame) -> dict[str, Any]:
        rows = frame.drop(columns=[TARGET], errors="ignore")
        if not KINDS[version].endswith("pipeline"):
            rows = as_categories(rows).astype({name: self.categories[name] for name in self.categories})
        return native_answers(self.models[version], rows)

    @property
    def categories(self) -> dict[str, Any]:  # the dtypes the native models were trained on
        frame = as_categories(telco()[0])
        return {name: frame[name].dtype for name in frame if str(frame[name].dtype) == "category"}


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trees]:
    from shipyard.demo.telco import load_churn

    folder = tmp_path_factory.mktemp("trees")
    root = folder / ".shipyard"
    built = {version: TREE_MODELS[kind]() for version, kind in KINDS.items()}
    logged = {version: (model, frame, telco()[1]) for version, (model, frame) in built.items()}
    flavors.register_versions(root, "trees", logged, experiment="trees")
    models = {version: model for version, (model, _) in built.items()}
    holdout = load_churn(2300).iloc[1500:].reset_index(drop=True)
    holdout.to_parquet(folder / "holdout.parquet")
    yield Trees(root, folder, models, holdout)


def _shipyard(trees: Trees, *args: str) -> subprocess.CompletedProcess[str]:
    return flavors.run_cli(trees.folder, flavors.store_env(trees.root), *args, timeout=180)


def test_batch_scoring_a_parquet_file_answers_as_the_library(trees: Trees) -> None:
    for version in (1, 2, 3, 4):
        output = trees.folder / f"scores-{version}.parquet"
        done = _shipyard(trees, "predict", f"models:/trees/{version}", "holdout.parquet", "-o", output.name)
        assert done.returncode == 0, done.stderr
        scores = pd.read_parquet(output)
        expected = trees.expected(version, trees.holdout)
        np.testing.assert_array_equal(scores[["proba_0", "proba_1"]].to_numpy(), expected["predict_proba"])
        np.testing.assert_array_equal(scores["prediction"].to_numpy(), expected["predict"])


def test_the_gate_scores_both_trees_on_the_same_rows(trees: Trees) -> None:
    from sklearn.metrics import roc_auc_score

    done = _shipyard(trees, "models", "promote", "trees", "--candidate", "challenger", "--alias", "champion",
                     "--data", "holdout.parquet", "--target", TARGET, "--metric", "roc_auc", "--min-delta", "1")
    assert done.returncode == 3, (done.stdout, done.stderr)  # a margin of 1 AUC cannot be won: held back
    decision = flavors.last_decision(trees.root, "trees")
    assert (decision.action, decision.from_version, decision.to_version) == ("held_back", 1, 2)
    scores = {decision.details["current_version"]: decision.details["current_score"],
              decision.details["candidate_version"]: decision.details["candidate_score"]}
    for version in (1, 2):
        auc = roc_auc_score(trees.holdout[TARGET], trees.expected(version, trees.holdout)["predict_proba"][:, 1])
        assert scores[version] == pytest.approx(auc, abs=1e-12)
        assert f"{auc:.4f}" in done.stdout, done.stdout
    promoted = _shipyard(trees, "models", "promote", "trees", "--candidate", "4", "--alias", "staging",
                         "--data", "holdout.parquet", "--target", TARGET)
    assert promoted.returncode == 0, (promoted.stdout, promoted.stderr)  # nobody holds staging: the candidate wins


@pytest.fixture(scope="module")
def server(trees: Trees) -> Iterator[Server]:
    log_dir = trees.folder / "logs"
    config = write_config(trees.folder / "serving.yaml", {
        "flush_interval_s": 0.1,
        "log_dir": str(log_dir),
        "deployments": {
            "trees": {"variants": [{"name": "xgboost", "model": "models:/trees@champion", "weight": 50},
                                   {"name": "lightgbm", "model": "models:/trees@challenger", "weight": 50}],
                      "batching": {"max_batch_size": 32, "max_wait_ms": 5}},
            "xgb-pipeline": {"model": "models:/trees/3"},
            "lgbm-pipeline": {"model": "models:/trees/4"},
        },
    })
    with running_server(["--config", str(config)], cwd=trees.folder, store=trees.root, log_dir=log_dir) as running:
        yield running
        assert running.stop() == 0, running.describe()


def test_ab_with_batching_answers_each_variant_s_own_library(server: Server, trees: Trees) -> None:
    inputs = trees.holdout.drop(columns=[TARGET]).head(200)
    bodies = [{"records": records(inputs.iloc[[index]]), "request_id": f"tree-{index}"} for index in range(len(inputs))]
    answers = post_many(server.url, "/predict/trees", bodies, threads=8)
    assert {status for status, _ in answers} == {200}, answers[:3]
    expected = {1: trees.expected(1, inputs), 2: trees.expected(2, inputs)}
    seen = set()
    for index, (_, answer) in enumerate(answers):
        version = answer["model"]["version"]
        seen.add(answer["variant"])
        assert answer["variant"] == {1: "xgboost", 2: "lightgbm"}[version]
        assert answer["probabilities"] == [expected[version]["predict_proba"][index].tolist()]
        assert answer["predictions"] == [int(expected[version]["predict"][index])]
    assert seen == {"xgboost", "lightgbm"}
    calls, rows = flavors.batch_totals(server, "trees")
    assert rows == len(bodies) and calls < len(bodies)  # concurrent one-row requests shared model calls
    assert server.log_dir is not None
    logged = log_rows(server.log_dir, {body["request_id"] for body in bodies}, deployment="trees")
    assert set(logged["model_version"]) == {1, 2}
    by_request = {answer["request_id"]: answer for _, answer in answers}
    for row in logged.itertuples():
        assert row.model_version == by_request[row.request_id]["model"]["version"]


@pytest.mark.parametrize(("deployment", "version"), [("xgb-pipeline", 3), ("lgbm-pipeline", 4)])
def test_tritonclient_infers_a_tree_pipeline(server: Server, trees: Trees, deployment: str, version: int) -> None:
    inputs = trees.holdout.drop(columns=[TARGET]).head(16).dropna()
    _, result = flavors.triton_infer(server, deployment, inputs)
    expected = trees.expected(version, inputs)
    np.testing.assert_array_equal(result.as_numpy("predictions"), expected["predict"])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected["predict_proba"])


def test_monitoring_compares_tree_traffic_with_its_training_profile(server: Server, trees: Trees) -> None:
    from shipyard.monitoring.monitor import monitor

    inputs = trees.holdout.drop(columns=[TARGET]).head(60)
    bodies = [{"records": records(inputs.iloc[index:index + 10])} for index in range(0, 60, 10)]
    assert {status for status, _ in post_many(server.url, "/predict/xgb-pipeline", bodies, threads=2)} == {200}
    assert server.log_dir is not None
    shipyard.set_store(trees.root)
    try:
        def checked() -> Any:
            result = monitor("xgb-pipeline", since="1h", log_dir=str(server.log_dir))
            return result if any(item.check == "drift" for item in result.results) else None

        from tests._support import wait_until

        result = wait_until(checked, timeout=20, what="monitoring results for the logged traffic")
    finally:
        shipyard.set_store(None)
    drift = {item.feature for item in result.results if item.check == "drift"}
    assert {"contract", "tenure", "monthly_charges"} <= drift
    assert any(item.check == "prediction_drift" for item in result.results)


def test_lineage_names_the_flavor_and_the_training_run(trees: Trees) -> None:
    done = _shipyard(trees, "lineage", "models:/trees@champion", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    text = json.dumps(found)
    assert '"flavor": "xgboost"' in text and "xgboost.sklearn.XGBClassifier" in text
