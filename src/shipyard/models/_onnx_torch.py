"""A PyTorch or Keras package as one ONNX graph in the serving convention, for the verified export of
:mod:`.onnx_export`.

Serving feeds an ONNX graph one ``(N, 1)`` input per signature column and reads the label from its first output and
the probabilities from its second. The network takes one ``(N, features)`` tensor and answers logits, so it is
exported (``torch.onnx.export(..., dynamo=True)``, the exporter PyTorch keeps, which needs onnxscript) inside a
small module that joins the columns, applies the package's output convention (softmax, sigmoid, exp of
log-probabilities; see :mod:`.torch_flavor`) and picks the class of the highest probability. A network behind
scikit-learn preprocessing gets the preprocessing converted by skl2onnx (joined columns, text imputers on the
missing-text sentinel, as for any pipeline) and the two graphs joined into one (``onnx.compose``), the
preprocessing's output feeding the network's input. The export then verifies the joined graph against the package
on generated rows, like any other.

A Keras network on the torch backend is a torch module too: it goes through the same exporter, called with
``training=False``, its softmax or sigmoid output read as probabilities. A network whose input is an image or a
sequence (an ``(N, 1, 8, 8)`` tensor, say) takes its flattened columns, which the graph reshapes back first.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from typing import Any

from ..errors import ValidationError
from ..extras import require
from ._onnx_steps import as_converted, input_types, refusal, restore_input_names
from .onnx_imputers import on_sentinel
from .signature import Signature

OPSET = 18  # the opset torch's dynamo exporter writes by default; the preprocessing graph is converted to it too
FEATURES = "features"  # the network's input when preprocessing comes first


def convert_network(predictor: Any, signature: Signature, uri: str) -> bytes:
    """The package ``predictor`` (a loaded :class:`~.torch_flavor.TorchPredictor` or
    :class:`~.keras_flavor.KerasPredictor`) as ONNX bytes.

    Raises:
        ValidationError: class labels that are not numbers (a torch graph cannot answer text), or a network or
            preprocessing step the exporters refuse (the message names it).
    """
    torch = require("torch", "ONNX export of PyTorch and Keras models")
    require("onnxscript", "ONNX export of PyTorch and Keras models")
    classes = getattr(predictor, "classes_", None)
    if classes is not None and classes.dtype.kind not in "iu":
        raise ValidationError(f"Cannot convert {uri} to ONNX: its classes ({', '.join(map(str, classes[:5]))}) are not "
                              "integers, and a graph exported from torch answers numbers only; serve the Python "
                              "model, or train on integer labels.", field="model")
    preprocess = getattr(predictor, "preprocess", None)
    columns = [FEATURES] if preprocess is not None else signature.column_names
    network = _network_graph(torch, _Network.of(predictor), columns, uri)
    if preprocess is None:
        return network
    return _joined(_preprocessing_graph(preprocess, signature, uri), network)


class _Network:
    """What the exported module needs of either flavor: the callable network, how to read its outputs (one of
    :data:`.torch_flavor.OUTPUTS`), its classes (``None`` for a regressor), its input's shape (``None`` for the
    batch) and dtype, and whether it takes Keras' ``training`` argument."""

    def __init__(self, module: Any, outputs: str, shape: list[Any], dtype: str, *, classes: Any, keras: bool) -> None:
        self.module, self.outputs, self.shape, self.dtype = module, outputs, shape, dtype
        self.classes, self.keras = classes, keras

    @classmethod
    def of(cls, predictor: Any) -> _Network:
        classes = getattr(predictor, "classes_", None)
        if predictor.flavor == "keras":
            outputs = "probabilities" if predictor.output in ("softmax", "sigmoid") else "logits"
            spec = predictor.tensor_spec["inputs"][0]
            return cls(predictor.network, outputs, spec["shape"], predictor.input_dtype, classes=classes, keras=True)
        spec = predictor.tensor_spec["input"]
        return cls(predictor.estimator, predictor.outputs, spec["shape"], spec["dtype"], classes=classes, keras=False)


def _network_graph(torch: Any, network: _Network, columns: list[str], uri: str) -> bytes:
    width = 1 if len(columns) > 1 else math.prod(int(size) for size in network.shape[1:])
    module = serving_face()(network.module, network.outputs, network.classes, network.dtype,
                            [int(size) for size in network.shape[1:]], network.keras)
    example = tuple(torch.zeros((2, width), dtype=torch.float32) for _ in columns)
    batch = torch.export.Dim.DYNAMIC
    names = ["label", "probabilities"] if module.classes is not None else ["prediction"]
    try:
        with warnings.catch_warnings():  # the exporter's own deprecation notices are not the caller's
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.onnx.export(module, example, input_names=columns, output_names=names,
                                        dynamic_shapes=(tuple({0: batch} for _ in columns),), dynamo=True,
                                        opset_version=OPSET, verbose=False)
    except Exception as exc:  # the exporter raises many kinds; each means this network cannot be converted
        text = str(exc).strip()
        reason = text.splitlines()[0][:300] if text else type(exc).__name__
        raise ValidationError(f"Cannot convert {uri} to ONNX: torch.onnx.export refused the network ({reason}); "
                              "serve the Python model (runtime: python).", field="model") from exc
    buffer = io.BytesIO()
    buffer.write(program.model_proto.SerializeToString())
    return buffer.getvalue()


@functools.cache
def serving_face() -> type:
    """The module exported: columns in, (label, probabilities) or (prediction,) out; built on first use so that
    importing this module does not import torch."""
    import torch

    class ServingFace(torch.nn.Module):
        def __init__(self, network: Any, outputs: str, classes: Any, dtype: str, shape: list[int],
                     keras: bool = False) -> None:
            super().__init__()
            self.training = False  # set on this module only: an exported network refuses train()/eval()
            self.network = network
            self.outputs = outputs
            self.dtype = getattr(torch, dtype)
            self.shape = tuple(shape)  # one row of the network's input: (features,) or (1, 8, 8), say
            self.keras = keras
            self.classes = None if classes is None else torch.as_tensor(classes.astype("int64"))

        def forward(self, *columns: Any) -> Any:
            joined = torch.cat(columns, dim=1).to(self.dtype).reshape(-1, *self.shape)
            answer = (self.network(joined, training=False) if self.keras else self.network(joined)).to(torch.float32)
            answer = answer.reshape(answer.shape[0], -1)
            if self.classes is None:
                return answer.reshape(-1)
            if self.outputs == "log_probabilities":
                answer = torch.exp(answer)
            elif self.outputs == "logits" and answer.shape[1] == 1:
                answer = torch.sigmoid(answer)
            elif self.outputs == "logits":
                answer = torch.softmax(answer, dim=1)
            if answer.shape[1] == 1:
                answer = torch.cat((1.0 - answer, answer), dim=1)
            return self.classes[torch.argmax(answer, dim=1)], answer

    return ServingFace


def _preprocessing_graph(preprocess: Any, signature: Signature, uri: str) -> Any:
    convert_sklearn = require("skl2onnx", "ONNX export").convert_sklearn
    data_types = require("skl2onnx.common.data_types", "ONNX export")
    initial_types = input_types(signature, data_types)
    converted = as_converted(on_sentinel(preprocess, uri), signature)
    try:
        graph = convert_sklearn(converted, initial_types=initial_types, target_opset={"": OPSET, "ai.onnx.ml": 3})
    except Exception as exc:
        raise refusal(uri, converted, signature, exc) from exc
    restore_input_names(graph, signature)
    return graph


def _joined(preprocessing: Any, network_bytes: bytes) -> bytes:
    """One graph: the preprocessing's output feeding the network's ``features`` input."""
    onnx = require("onnx", "ONNX export")
    from onnx import compose

    network = onnx.load_from_string(network_bytes)
    version = min(preprocessing.ir_version, network.ir_version)
    preprocessing.ir_version = network.ir_version = version
    _opsets_aligned(preprocessing, network)
    # The preprocessing's names get a prefix (its inputs keep the column names): the network's own stay as the
    # exporter wrote them, outputs included, and no name is in both graphs.
    preprocessing = compose.add_prefix(preprocessing, prefix="preprocess_", rename_inputs=False)
    joined = compose.merge_models(preprocessing, network, io_map=[(preprocessing.graph.output[0].name, FEATURES)],
                                  outputs=[item.name for item in network.graph.output])
    onnx.checker.check_model(joined)
    return bytes(joined.SerializeToString())


def _opsets_aligned(first: Any, second: Any) -> None:
    """Both graphs importing each domain at the same version (the higher one), as ``merge_models`` requires."""
    versions: dict[str, int] = {}
    for model in (first, second):
        for entry in model.opset_import:
            versions[entry.domain] = max(versions.get(entry.domain, 0), entry.version)
    for model in (first, second):
        for entry in model.opset_import:
            entry.version = versions[entry.domain]
