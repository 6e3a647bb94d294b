"""PyTorch networks along the whole chain: register, gate, batch-score Parquet, verified ONNX export, serve
(micro-batching, ``runtime: auto`` picking the export, the Open Inference Protocol through tritonclient).

The registry ``nets`` holds v1 a two-logit network and v2 a one-logit network, both behind a StandardScaler, trained
on scikit-learn's breast cancer table. Every answer is compared with what the network itself answers on the same
rows (to 1e-6; the ONNX graph, which computes in float32, to the export's tolerance of 1e-5).
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

pytest.importorskip("torch", reason="torch is not importable here (dev installs torch on CPython 3.11 only)")

from tests._torch_models import TORCH_MODELS, cancer, network_answers
from tests.integration.serving import _flavors as flavors
from tests.integration.serving._serving import Server, post_many, records, running_server, write_config

pytestmark = pytest.mark.slow
KINDS = {1: "softmax-pipeline", 2: "sigmoid-pipeline"}
TARGET = "target"


@dataclass
class Nets:
    root: Path  # the store
    folder: Path
    models: dict[int, Any]  # version -> the Pipeline ending in the network
    data: pd.DataFrame  # the table with its target
    exported: dict[str, Any]  # what `shipyard models export-onnx --json` said

    def expected(self, version: int, frame: pd.DataFrame) -> dict[str, Any]:
        return network_answers(self.models[version], frame.drop(columns=[TARGET], errors="ignore"))


def _shipyard(root: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return flavors.run_cli(folder, flavors.store_env(root), *args, timeout=300)


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nets]:
    folder = tmp_path_factory.mktemp("nets")
    root = folder / ".shipyard"
    built = {version: TORCH_MODELS[kind]() for version, kind in KINDS.items()}
    flavors.register_versions(root, "nets", built, experiment="nets")
    models = {version: model for version, (model, _, _) in built.items()}
    features, target = cancer()
    data = features.assign(**{TARGET: target})
    data.to_parquet(folder / "table.parquet")
    done = _shipyard(root, folder, "models", "export-onnx", "models:/nets/1", "-o", "nets.onnx", "--json")
    assert done.returncode == 0, (done.stdout, done.stderr)
    yield Nets(root, folder, models, data, json.loads(done.stdout))


def test_batch_scoring_a_parquet_file_answers_as_the_network(nets: Nets) -> None:
    for version in (1, 2):
        output = nets.folder / f"scores-{version}.parquet"
        done = _shipyard(nets.root, nets.folder, "predict", f"models:/nets/{version}", "table.parquet",
                         "-o", output.name)
        assert done.returncode == 0, done.stderr
        scores = pd.read_parquet(output)
        expected = nets.expected(version, nets.data)
        assert len(scores) == len(nets.data) == 569
        np.testing.assert_allclose(scores[["proba_0", "proba_1"]].to_numpy(), expected["predict_proba"], rtol=0,
                                   atol=1e-6)
        np.testing.assert_array_equal(scores["prediction"].to_numpy(), expected["predict"])


def test_the_gate_scores_both_networks_on_the_same_rows(nets: Nets) -> None:
    from sklearn.metrics import roc_auc_score

    done = _shipyard(nets.root, nets.folder, "models", "promote", "nets", "--candidate", "challenger", "--alias",
                     "champion", "--data", "table.parquet", "--target", TARGET, "--metric", "roc_auc",
                     "--min-delta", "1")
    assert done.returncode == 3, (done.stdout, done.stderr)  # a margin of 1 AUC cannot be won: held back
    decision = flavors.last_decision(nets.root, "nets")
    assert (decision.action, decision.from_version, decision.to_version) == ("held_back", 1, 2)
    scores = {decision.details["current_version"]: decision.details["current_score"],
              decision.details["candidate_version"]: decision.details["candidate_score"]}
    for version in (1, 2):
        auc = roc_auc_score(nets.data[TARGET], nets.expected(version, nets.data)["predict_proba"][:, 1])
        assert scores[version] == pytest.approx(auc, abs=1e-9)


def test_the_onnx_export_is_verified_and_attached(nets: Nets) -> None:
    import onnxruntime

    assert nets.exported["rows_checked"] == 20 + 30 * 5  # the stored example, then five edges of every column
    assert nets.exported["max_abs_diff"] <= 1e-5 and nets.exported["attached_to"] == "models:/nets/1"
    session = onnxruntime.InferenceSession(str(nets.folder / "nets.onnx"), providers=["CPUExecutionProvider"])
    inputs = nets.data.drop(columns=[TARGET])
    feeds = {name: inputs[[name]].to_numpy(dtype="float32") for name in inputs}
    labels, probabilities = session.run(None, feeds)
    expected = nets.expected(1, nets.data)
    np.testing.assert_allclose(probabilities, expected["predict_proba"], rtol=0, atol=1e-5)
    assert (labels == expected["predict"]).mean() > 0.99  # only rows within float32 rounding of 0.5 may differ


@pytest.fixture(scope="module")
def server(nets: Nets) -> Iterator[Server]:
    config = write_config(nets.folder / "serving.yaml", {
        "deployments": {
            "nets": {"model": "models:/nets@champion", "runtime": "python",
                     "batching": {"max_batch_size": 32, "max_wait_ms": 5}},
            "nets-auto": {"model": "models:/nets/1", "runtime": "auto"},
            "nets-sigmoid": {"model": "models:/nets/2", "runtime": "auto"},
        },
    })
    with running_server(["--config", str(config)], cwd=nets.folder, store=nets.root) as running:
        yield running
        assert running.stop() == 0, running.describe()


def test_runtime_auto_picks_the_verified_export_only_where_there_is_one(server: Server) -> None:
    described = server.get("/deployments").json()
    runtimes = {name: item["variants"][0]["runtime"] for name, item in described.items()}
    assert runtimes == {"nets": "python", "nets-auto": "onnx", "nets-sigmoid": "python"}


def test_concurrent_rows_are_batched_into_one_tensor_and_answer_as_the_network(server: Server, nets: Nets) -> None:
    inputs = nets.data.drop(columns=[TARGET]).head(200)
    bodies = [{"records": records(inputs.iloc[[index]])} for index in range(len(inputs))]
    before = flavors.batch_totals(server, "nets")
    answers = post_many(server.url, "/predict/nets", bodies, threads=8)
    assert {status for status, _ in answers} == {200}, answers[:3]
    expected = nets.expected(1, inputs)
    for index, (_, answer) in enumerate(answers):
        np.testing.assert_allclose(answer["probabilities"][0], expected["predict_proba"][index], rtol=0, atol=1e-6)
        assert answer["predictions"] == [int(expected["predict"][index])]
    calls, rows = (after - start for after, start in zip(flavors.batch_totals(server, "nets"), before, strict=True))
    assert rows == len(bodies) and calls < len(bodies)  # concurrent one-row requests shared network calls
    onnx = server.post("/predict/nets-auto", json={"records": records(inputs.head(50))}).json()
    np.testing.assert_allclose(onnx["probabilities"], expected["predict_proba"][:50], rtol=0, atol=1e-5)


@pytest.mark.parametrize(("deployment", "version"), [("nets", 1), ("nets-sigmoid", 2)])
def test_tritonclient_infers_a_network(server: Server, nets: Nets, deployment: str, version: int) -> None:
    inputs = nets.data.drop(columns=[TARGET]).iloc[100:116]
    datatypes, result = flavors.triton_infer(server, deployment, inputs)
    assert set(datatypes) == {"FP64"}, datatypes
    expected = nets.expected(version, inputs)
    np.testing.assert_array_equal(result.as_numpy("predictions"), expected["predict"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected["predict_proba"], rtol=0, atol=1e-6)
