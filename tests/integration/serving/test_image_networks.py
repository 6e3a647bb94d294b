"""Networks on images along the chain: a torch and a Keras convolutional network on scikit-learn's 8x8 digits, logged
with an array of images as the example, loaded in a fresh process, exported to verified ONNX, and served (micro-
batching of single images stacked along the rows, the Open Inference Protocol with a 4-D tensor, tritonclient, and
a 422 naming the input when an image has the wrong shape).

The registry ``digits`` holds v1 the torch network (``(N, 1, 8, 8)`` images) and v2 the Keras one (``(N, 8, 8, 1)``).
Every answer is compared with what the network itself answers on the same images: to 1e-6 for the packaged
network, to the export's tolerance of 1e-5 for its ONNX graph (float32 all through).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests._keras_models import SKIP_REASON

pytest.importorskip("torch", reason="torch is not importable here (dev installs torch on CPython 3.11 only)")
if importlib.util.find_spec("keras") is None:  # not imported here: Shipyard chooses its backend first
    pytest.skip(SKIP_REASON, allow_module_level=True)

from tests._image_models import KERAS_SHAPE, TORCH_SHAPE, digits_keras, digits_torch
from tests.integration.serving import _flavors as flavors
from tests.integration.serving._serving import Server, post_many, running_server, write_config

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
SHAPES = {1: TORCH_SHAPE, 2: KERAS_SHAPE}
EXAMPLE_ROWS = 20  # the rows a package keeps as its example; the ONNX check scores them, then 5 edges per pixel
PIXELS = 64


@dataclass
class Digits:
    root: Path  # the store
    folder: Path
    networks: dict[int, Any]  # version -> the live network
    images: dict[int, np.ndarray]  # version -> every image, in the network's layout
    exported: dict[int, dict[str, Any]]  # version -> what `shipyard models export-onnx --json` said

    def expected(self, version: int, rows: slice | list[int]) -> np.ndarray:
        """The network's own class probabilities for those images (float64)."""
        images = self.images[version][rows]
        if version == 2:
            return np.asarray(self.networks[2].predict(images, verbose=0), dtype="float64")
        import torch

        with torch.no_grad():
            logits = self.networks[1](torch.from_numpy(np.ascontiguousarray(images)))
        return torch.softmax(logits.double(), dim=1).numpy()


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Digits]:
    folder = tmp_path_factory.mktemp("digits")
    root = folder / ".shipyard"
    built = {1: digits_torch(), 2: digits_keras()}
    flavors.register_versions(root, "digits", built, experiment="digits")
    state = Digits(root, folder, {version: net for version, (net, _, _) in built.items()},
                   {version: images for version, (_, images, _) in built.items()}, {})
    for version in (1, 2):
        np.save(folder / f"images-{version}.npy", state.images[version])
        done = flavors.run_cli(folder, flavors.store_env(root), "models", "export-onnx", f"models:/digits/{version}",
                               "-o", f"digits-{version}.onnx", "--json", timeout=300)
        assert done.returncode == 0, (done.stdout, done.stderr)
        state.exported[version] = json.loads(done.stdout)
    yield state


def test_the_signature_keeps_the_image_shape_and_its_flattened_pixels(digits: Digits) -> None:
    import shipyard

    shipyard.set_store(digits.root)
    try:
        for version, shape in SHAPES.items():
            signature = shipyard.load_model(f"models:/digits/{version}").signature
            assert signature.column_names == [f"x{index}" for index in range(PIXELS)]
            assert signature.input_dims == list(shape)
    finally:
        shipyard.set_store(None)


def test_a_fresh_process_loads_each_network_and_answers_as_it_does(digits: Digits) -> None:
    script = (
        "import sys, numpy as np, shipyard\n"
        "for version in (1, 2):\n"
        "    model = shipyard.load_model(f'models:/digits/{version}')\n"
        "    images = np.load(f'images-{version}.npy')\n"
        "    np.save(f'answers-{version}.npy', model.predict_proba(images).to_numpy())\n"
        "    bad = images[:2].reshape(2, -1)[:, :63]\n"
        "    try:\n"
        "        model.predict(bad.reshape(2, 63, 1))\n"
        "    except shipyard.errors.ValidationError as exc:\n"
        "        print(exc.field, exc.message)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=digits.folder, env=flavors.store_env(digits.root),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    refusals = done.stdout.strip().splitlines()
    for version, shape in SHAPES.items():
        found = np.load(digits.folder / f"answers-{version}.npy")
        np.testing.assert_allclose(found, digits.expected(version, slice(None)), rtol=0, atol=1e-6)
        wanted = ", ".join(["N", *map(str, shape)])
        assert refusals[version - 1] == f"x Input 'x' has shape [2, 63, 1]; the model takes [{wanted}] (rows first)."


def test_each_onnx_export_is_verified_on_edge_rows_and_answers_as_the_network(digits: Digits) -> None:
    import onnxruntime

    for version in (1, 2):
        report = digits.exported[version]
        assert report["rows_checked"] == EXAMPLE_ROWS + PIXELS * 5
        assert report["max_abs_diff"] <= 1e-5 and report["attached_to"] == f"models:/digits/{version}"
        session = onnxruntime.InferenceSession(str(digits.folder / f"digits-{version}.onnx"),
                                               providers=["CPUExecutionProvider"])
        flat = digits.images[version].reshape(len(digits.images[version]), PIXELS)
        _, probabilities = session.run(None, {f"x{index}": flat[:, [index]] for index in range(PIXELS)})
        np.testing.assert_allclose(probabilities, digits.expected(version, slice(None)), rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def server(digits: Digits) -> Iterator[Server]:
    batching = {"max_batch_size": 32, "max_wait_ms": 5}
    config = write_config(digits.folder / "serving.yaml", {"deployments": {
        "torch": {"model": "models:/digits/1", "runtime": "python", "batching": batching},
        "keras": {"model": "models:/digits/2", "runtime": "python", "batching": batching},
        "torch-auto": {"model": "models:/digits/1", "runtime": "auto", "batching": batching},
        "keras-auto": {"model": "models:/digits/2", "runtime": "auto", "batching": batching},
    }})
    with running_server(["--config", str(config)], cwd=digits.folder, store=digits.root, timeout=180) as running:
        yield running
        assert running.stop() == 0, running.describe()


def _tensor(images: np.ndarray) -> dict[str, Any]:
    """An Open Inference Protocol body of one input ``x``: the images' shape, their pixels nested as the shape is."""
    return {"inputs": [{"name": "x", "shape": list(images.shape), "datatype": "FP32", "data": images.tolist()}]}


@pytest.mark.parametrize(("deployment", "version", "tolerance"), [
    ("torch", 1, 1e-6), ("keras", 2, 1e-6), ("torch-auto", 1, 1e-5), ("keras-auto", 2, 1e-5)])
def test_single_image_requests_are_batched_and_answer_as_the_network(server: Server, digits: Digits, deployment: str,
                                                                     version: int, tolerance: float) -> None:
    indices = list(range(96))
    bodies = [_tensor(digits.images[version][[index]]) for index in indices]
    answers = post_many(server.url, f"/v2/models/{deployment}/infer", bodies, threads=8)
    assert {status for status, _ in answers} == {200}, answers[:3]
    found = np.array([answer["outputs"][1]["data"] for _, answer in answers])
    np.testing.assert_allclose(found, digits.expected(version, indices), rtol=0, atol=tolerance)
    calls, rows = flavors.batch_totals(server, deployment)
    assert rows == len(bodies) and calls < len(bodies)  # concurrent images shared forward passes


def test_runtime_auto_serves_each_network_s_verified_export(server: Server) -> None:
    described = server.get("/deployments").json()
    runtimes = {name: item["variants"][0]["runtime"] for name, item in described.items()}
    assert runtimes == {"torch": "python", "keras": "python", "torch-auto": "onnx", "keras-auto": "onnx"}


@pytest.mark.parametrize(("deployment", "version"), [("torch", 1), ("keras-auto", 2)])
def test_tritonclient_sends_a_batch_of_images_as_one_tensor(server: Server, digits: Digits, deployment: str,
                                                            version: int) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        metadata = client.get_model_metadata(deployment)
        assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, *SHAPES[version]]}]
        images = digits.images[version][:7]
        tensor = triton.InferInput("x", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images, binary_data=False)
        result = client.infer(deployment, [tensor],
                              outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)])
    finally:
        client.close()
    np.testing.assert_allclose(result.as_numpy("probabilities"), digits.expected(version, slice(0, 7)), rtol=0,
                               atol=1e-5)


def test_a_flattened_image_in_records_answers_as_the_tensor(server: Server, digits: Digits) -> None:
    flat = digits.images[1][:3].reshape(3, PIXELS)
    body = {"records": [{f"x{index}": float(value) for index, value in enumerate(row)} for row in flat]}
    answer = server.post("/predict/torch", json=body)
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["probabilities"], digits.expected(1, slice(0, 3)), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("shape", "values", "message"), [
    ([2, 8, 8, 1], 128, "Input 'x' has shape [2, 8, 8, 1]; this model takes one input 'x' of shape [N, 1, 8, 8]"),
    ([2, 1, 8, 7], 112, "Input 'x' has shape [2, 1, 8, 7]; this model takes one input 'x' of shape [N, 1, 8, 8]"),
    ([2, 1, 8, 8], 127, "Input 'x' has shape [2, 1, 8, 8] but 127 values."),
])
def test_a_wrong_image_shape_is_a_422_naming_the_input(server: Server, shape: list[int], values: int,
                                                       message: str) -> None:
    body = {"inputs": [{"name": "x", "shape": shape, "datatype": "FP32", "data": [0.5] * values}]}
    answer = server.post("/v2/models/torch/infer", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith(message), answer.json()
