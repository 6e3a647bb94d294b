"""What the routes answer, in each protocol's shape, built from the core's results: plain data, no HTTP.

Shipyard's own ``/predict`` answer and ``/deployments``; the Open Inference Protocol (KServe V2) answer
of ``infer`` and a model's metadata. A deployment is a V2 "model"; its versions are the registry versions
its variants serve. Tabular output follows the pandas-codec convention: one tensor per output with
``shape [N]`` (``BYTES`` for text, ``FP64``/``INT64`` for numbers).
"""

from __future__ import annotations

from typing import Any

from ..models.signature import TENSOR_NAME, Signature
from .fleet import LiveDeployment
from .prediction import Predicted
from .runtime import Answer, Runner
from .state import ServerState

_DATATYPES = {"integer": "FP64", "float": "FP64", "boolean": "BOOL", "string": "BYTES", "datetime": "BYTES"}


def predict_content(deployment: str, predicted: Predicted) -> dict[str, Any]:
    """The answer of ``POST /predict/{deployment}``."""
    answer, runner = predicted.answer, predicted.runner
    content: dict[str, Any] = {
        "request_id": predicted.request_id, "deployment": deployment, "variant": predicted.slot.name,
        "model": {"name": runner.name, "version": runner.version, "uri": runner.uri},
        "predictions": answer.labels}
    if answer.probabilities is not None:
        content["classes"] = runner.classes
        content["probabilities"] = answer.probabilities
    if predicted.ignored:
        content["ignored_columns"] = predicted.ignored
    return content


def describe(state: ServerState) -> dict[str, Any]:
    """What each deployment serves now (``/deployments``, ``/health/ready``)."""
    described = {}
    for name, deployment in state.fleet.deployments.items():
        described[name] = {
            "variants": [{"name": slot.name, "model": slot.spec.model, "serving": slot.serving.resolved,
                          "weight": slot.spec.weight, "runtime": slot.serving.runner.runtime}
                         for slot in deployment.variants],
            "shadows": [{"name": slot.name, "model": slot.spec.model, "serving": slot.serving.resolved,
                         "runtime": slot.serving.runner.runtime} for slot in deployment.shadows],
            "sticky_key": deployment.spec.sticky_key,
            "batching": {"max_batch_size": deployment.spec.batching.max_batch_size,
                         "max_wait_ms": deployment.spec.batching.max_wait_ms},
        }
    return described


def infer_content(deployment: str, predicted: Predicted) -> dict[str, Any]:
    """The V2 answer of ``infer``: the client's ``id`` is the request id when it was allowed to pick one
    (see :func:`shipyard.serving.prediction.predict`)."""
    runner = predicted.runner
    parameters: dict[str, Any] = {"variant": predicted.slot.name, "model_uri": runner.uri}
    if predicted.ignored:
        parameters["ignored_columns"] = predicted.ignored
    return {"model_name": deployment, "model_version": str(runner.version or ""), "id": predicted.request_id,
            "parameters": parameters, "outputs": _output_tensors(predicted.answer, runner)}


def metadata_content(name: str, deployment: LiveDeployment) -> dict[str, Any]:
    """The V2 metadata of a deployment: the versions its variants serve, its input and output tensors."""
    runner = deployment.variants[0].serving.runner
    versions = sorted({str(slot.serving.runner.version) for slot in deployment.variants
                       if slot.serving.runner.version is not None})
    return {"name": name, "versions": versions, "platform": f"shipyard-{runner.runtime}",
            "inputs": _inputs(runner.signature), "outputs": _outputs(runner)}


def _output_tensors(answer: Answer, runner: Runner) -> list[dict[str, Any]]:
    rows = len(answer.labels)
    labels_type = _tensor_type(answer.labels)
    outputs: list[dict[str, Any]] = [{"name": "predictions", "shape": [rows], "datatype": labels_type,
                "data": answer.labels if labels_type != "BYTES" else [str(label) for label in answer.labels]}]
    if answer.probabilities is not None:
        width = len(answer.probabilities[0]) if rows else len(runner.classes)
        outputs.append({"name": "probabilities", "shape": [rows, width], "datatype": "FP64",
                        "data": [value for row in answer.probabilities for value in row],
                        "parameters": {"classes": [str(label) for label in runner.classes]}})
    return outputs


def _tensor_type(values: list[Any]) -> str:
    if values and all(isinstance(value, bool) for value in values):
        return "BOOL"
    if values and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "INT64"
    if values and all(isinstance(value, int | float) and not isinstance(value, bool) for value in values):
        return "FP64"
    return "BYTES"


def _inputs(signature: Signature) -> list[dict[str, Any]]:
    """One input per column; for a network on images or sequences, the one tensor ``x`` whose values they are."""
    dims = signature.input_dims
    if dims is not None and len(dims) > 1:  # a table of x0, x1, ... keeps its columns
        return [{"name": TENSOR_NAME, "datatype": "FP32", "shape": [-1, *dims]}]
    return [{"name": spec.name, "datatype": _DATATYPES.get(spec.kind, "BYTES"), "shape": [-1]}
            for spec in signature.inputs]


def _outputs(runner: Runner) -> list[dict[str, Any]]:
    text = any(isinstance(label, str) for label in runner.classes)
    datatype = "BYTES" if text else "INT64" if runner.classes else "FP64"
    outputs: list[dict[str, Any]] = [{"name": "predictions", "datatype": datatype, "shape": [-1]}]
    if runner.probabilistic:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(runner.classes)]})
    return outputs
