"""Keras networks and a shipyard.PythonModel along the chain: register, gate, batch-score Parquet with the CLI,
verified ONNX export of the networks, serve (real uvicorn: A/B with micro-batching, the prediction log, a trusted
Python model, ``runtime: auto`` picking a network's verified export).

The registry ``nets`` holds v1 a softmax network and v2 a one-sigmoid network (Keras on torch), v3 a
nearest-centroid PythonModel whose module sits in the test's folder; all three on scikit-learn's breast cancer
table. Networks are compared with Keras' own answers within 1e-6 (their ONNX graphs within the export's 1e-5), the
Python model within 1e-12 (relative).
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

from tests._keras_models import cancer, keras_answers, keras_or_skip
from tests._python_models import centroid_module
from tests.integration.serving import _flavors as flavors
from tests.integration.serving._serving import Server, log_rows, post_many, records, running_server, write_config

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
TARGET = "malignant"
TRAIN_ROWS = 400


@dataclass
class Nets:
    root: Path  # the store
    folder: Path  # the working directory, holding the PythonModel's module
    models: dict[int, Any]  # version -> the live object (Keras network or PythonModel)
    reference: str  # the PythonModel's code reference, to trust
    holdout: pd.DataFrame  # rows no model trained on, with the target
    exported: dict[int, dict[str, Any]]  # version -> what `shipyard models export-onnx --json` said

    def expected(self, version: int, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        rows = frame.drop(columns=[TARGET], errors="ignore")
        model = self.models[version]
        if version == 3:
            return {"predict": model.predict(rows), "predict_proba": model.predict_proba(rows)}
        return keras_answers(model, rows)

    @property
    def environment(self) -> dict[str, str]:
        return flavors.store_env(self.root, PYTHONPATH=str(self.folder))


def _train() -> tuple[dict[int, Any], pd.DataFrame, np.ndarray]:
    keras = keras_or_skip()
    frame, target = cancer()
    features, labels = frame.iloc[:TRAIN_ROWS], target[:TRAIN_ROWS]
    networks = {}
    for version, (units, activation, loss) in {1: (2, "softmax", "sparse_categorical_crossentropy"),
                                               2: (1, "sigmoid", "binary_crossentropy")}.items():
        keras.utils.set_random_seed(version)
        network = keras.Sequential([keras.Input((frame.shape[1],)), keras.layers.Dense(16, activation="relu"),
                                    keras.layers.Dense(units, activation=activation)])
        network.compile(optimizer="adam", loss=loss)
        network.fit(features.to_numpy(), labels, epochs=8, batch_size=32, verbose=0)
        networks[version] = network
    return networks, features, labels


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nets]:
    folder = tmp_path_factory.mktemp("nets")
    root = folder / ".shipyard"
    patch = pytest.MonkeyPatch()
    models, features, labels = _train()
    module = centroid_module(folder, patch)
    models[3] = module.Centroids(features, labels, folder, temperature=0.05)
    flavors.register_versions(root, "nets", {version: (model, features, labels) for version, model in models.items()},
                              experiment="nets")
    frame, target = cancer()
    holdout = frame.iloc[TRAIN_ROWS:].assign(**{TARGET: target[TRAIN_ROWS:]}).reset_index(drop=True)
    holdout.to_parquet(folder / "holdout.parquet")
    nets = Nets(root, folder, models, f"{module.__name__}:Centroids", holdout, {})
    for version in (1, 2):
        done = _shipyard(nets, "models", "export-onnx", f"models:/nets/{version}", "-o", f"net{version}.onnx", "--json")
        assert done.returncode == 0, (done.stdout, done.stderr)
        nets.exported[version] = json.loads(done.stdout)
    try:
        yield nets
    finally:
        patch.undo()


def _shipyard(nets: Nets, *args: str) -> subprocess.CompletedProcess[str]:
    return flavors.run_cli(nets.folder, nets.environment, *args, timeout=300)


def _close(found: np.ndarray, expected: np.ndarray, version: int) -> None:
    if version == 3:  # float32 columns reach the model as float64 after the signature check: the last bit may move
        np.testing.assert_allclose(found, expected, rtol=1e-12, atol=0)
    else:
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)


def test_batch_scoring_a_parquet_file_answers_as_each_model(nets: Nets) -> None:
    for version in (1, 2, 3):
        output = nets.folder / f"scores-{version}.parquet"
        trust = ["--trust", nets.reference] if version == 3 else []
        done = _shipyard(nets, "predict", f"models:/nets/{version}", "holdout.parquet", "-o", output.name, *trust)
        assert done.returncode == 0, done.stderr
        scores = pd.read_parquet(output)
        expected = nets.expected(version, nets.holdout)
        _close(scores[["proba_0", "proba_1"]].to_numpy(), expected["predict_proba"], version)
        np.testing.assert_array_equal(scores["prediction"].to_numpy(), expected["predict"])
    refused = _shipyard(nets, "predict", "models:/nets/3", "holdout.parquet", "-o", "untrusted.parquet")
    assert refused.returncode == 2 and f"--trust {nets.reference}" in refused.stderr, refused.stderr
    assert not (nets.folder / "untrusted.parquet").exists()


def test_the_gate_scores_a_network_against_a_python_model_on_the_same_rows(nets: Nets) -> None:
    from sklearn.metrics import roc_auc_score

    done = _shipyard(nets, "models", "promote", "nets", "--candidate", "3", "--alias", "champion",
                     "--data", "holdout.parquet", "--target", TARGET, "--metric", "roc_auc", "--min-delta", "1",
                     "--trust", nets.reference)
    assert done.returncode == 3, (done.stdout, done.stderr)  # a margin of 1 AUC cannot be won: held back
    decision = flavors.last_decision(nets.root, "nets")
    assert (decision.action, decision.from_version, decision.to_version) == ("held_back", 1, 3)
    for version, score in ((1, decision.details["current_score"]), (3, decision.details["candidate_score"])):
        auc = roc_auc_score(nets.holdout[TARGET], nets.expected(version, nets.holdout)["predict_proba"][:, 1])
        assert score == pytest.approx(auc, abs=1e-6)


def test_each_network_s_onnx_export_is_verified_and_answers_as_keras(nets: Nets) -> None:
    import onnxruntime

    inputs = nets.holdout.drop(columns=[TARGET])
    for version in (1, 2):
        report = nets.exported[version]
        assert report["rows_checked"] == 20 + 30 * 5  # the stored example, then five edges of every column
        assert report["max_abs_diff"] <= 1e-5 and report["attached_to"] == f"models:/nets/{version}"
        session = onnxruntime.InferenceSession(str(nets.folder / f"net{version}.onnx"),
                                               providers=["CPUExecutionProvider"])
        labels, probabilities = session.run(None, {name: inputs[[name]].to_numpy(dtype="float32") for name in inputs})
        expected = nets.expected(version, inputs)
        np.testing.assert_allclose(probabilities, expected["predict_proba"], rtol=0, atol=1e-5)
        assert (labels == expected["predict"]).mean() > 0.99  # only rows within float32 rounding of 0.5 may differ


def test_the_python_model_is_refused_onnx_export_in_one_line(nets: Nets) -> None:
    done = _shipyard(nets, "models", "export-onnx", "models:/nets/3", "-o", "centroids.onnx",
                     "--trust", nets.reference)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "is a python model" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (nets.folder / "centroids.onnx").exists()


@pytest.fixture(scope="module")
def server(nets: Nets) -> Iterator[Server]:
    log_dir = nets.folder / "logs"
    config = write_config(nets.folder / "serving.yaml", {
        "flush_interval_s": 0.1,
        "log_dir": str(log_dir),
        "trust": [nets.reference],
        "deployments": {
            "nets": {"variants": [{"name": "softmax", "model": "models:/nets@champion", "weight": 50},
                                  {"name": "sigmoid", "model": "models:/nets@challenger", "weight": 50}],
                     "batching": {"max_batch_size": 32, "max_wait_ms": 5}, "runtime": "python"},
            "centroids": {"model": "models:/nets/3", "batching": {"max_batch_size": 16, "max_wait_ms": 5}},
            "softmax-net": {"model": "models:/nets/1", "runtime": "python"},
            "softmax-auto": {"model": "models:/nets/1", "runtime": "auto",
                             "batching": {"max_batch_size": 32, "max_wait_ms": 5}},
        },
    })
    with running_server(["--config", str(config)], cwd=nets.folder, store=nets.root, log_dir=log_dir,
                        environment=nets.environment, timeout=180) as running:
        yield running
        assert running.stop() == 0, running.describe()


def test_ab_with_batching_answers_each_network_as_keras(server: Server, nets: Nets) -> None:
    inputs = nets.holdout.drop(columns=[TARGET]).head(120)
    bodies = [{"records": records(inputs.iloc[[index]]), "request_id": f"net-{index}"} for index in range(len(inputs))]
    answers = post_many(server.url, "/predict/nets", bodies, threads=8)
    assert {status for status, _ in answers} == {200}, answers[:3]
    expected = {1: nets.expected(1, inputs), 2: nets.expected(2, inputs)}
    seen = set()
    for index, (_, answer) in enumerate(answers):
        version = answer["model"]["version"]
        seen.add(answer["variant"])
        assert answer["variant"] == {1: "softmax", 2: "sigmoid"}[version]
        np.testing.assert_allclose(answer["probabilities"], [expected[version]["predict_proba"][index]], atol=1e-6)
        assert answer["predictions"] == [int(expected[version]["predict"][index])]
    assert seen == {"softmax", "sigmoid"}
    calls, rows = flavors.batch_totals(server, "nets")
    assert rows == len(bodies) and calls < len(bodies)  # concurrent one-row requests shared forward passes
    assert server.log_dir is not None
    logged = log_rows(server.log_dir, {body["request_id"] for body in bodies}, deployment="nets")
    assert set(logged["model_version"]) == {1, 2}


def test_runtime_auto_serves_a_keras_network_from_its_verified_export(server: Server, nets: Nets) -> None:
    described = server.get("/deployments").json()
    runtimes = {name: item["variants"][0]["runtime"] for name, item in described.items()}
    assert runtimes == {"nets": "python", "centroids": "python", "softmax-net": "python", "softmax-auto": "onnx"}
    inputs = nets.holdout.drop(columns=[TARGET]).head(64)
    answers = post_many(server.url, "/predict/softmax-auto", [{"records": records(inputs.iloc[[index]])}
                                                              for index in range(len(inputs))], threads=8)
    assert {status for status, _ in answers} == {200}, answers[:3]
    found = np.array([answer["probabilities"][0] for _, answer in answers])
    np.testing.assert_allclose(found, nets.expected(1, inputs)["predict_proba"], rtol=0, atol=1e-5)


def test_a_trusted_python_model_serves_its_own_answers(server: Server, nets: Nets) -> None:
    inputs = nets.holdout.drop(columns=[TARGET]).head(48)
    bodies = [{"records": records(inputs.iloc[index:index + 4])} for index in range(0, len(inputs), 4)]
    answers = post_many(server.url, "/predict/centroids", bodies, threads=4)
    assert {status for status, _ in answers} == {200}, answers[:3]
    expected = nets.expected(3, inputs)
    found = np.array([row for _, answer in answers for row in answer["probabilities"]])
    _close(found, expected["predict_proba"], 3)
    assert [label for _, answer in answers for label in answer["predictions"]] == expected["predict"].tolist()


@pytest.mark.parametrize(("deployment", "version"), [("softmax-net", 1), ("centroids", 3)])
def test_tritonclient_infers_a_network_and_a_python_model(server: Server, nets: Nets, deployment: str,
                                                          version: int) -> None:
    inputs = nets.holdout.drop(columns=[TARGET]).head(16)
    datatypes, result = flavors.triton_infer(server, deployment, inputs)
    assert set(datatypes) == {"FP64"}, datatypes  # the signature's float columns
    expected = nets.expected(version, inputs)
    np.testing.assert_array_equal(result.as_numpy("predictions"), expected["predict"])
    _close(result.as_numpy("probabilities"), expected["predict_proba"], version)


def test_lineage_names_the_flavors_and_the_python_model_s_code(nets: Nets) -> None:
    import json

    for uri, expected in (("models:/nets@champion", ['"flavor": "keras"', "keras.src.models.sequential.Sequential"]),
                          ("models:/nets/3", ['"flavor": "python"', nets.reference.replace(":", ".")])):
        done = _shipyard(nets, "lineage", uri, "--json")
        assert done.returncode == 0, done.stderr
        text = json.dumps(json.loads(done.stdout))
        assert all(item in text for item in expected), (uri, text[:2000])
