"""Keras 3 models in Keras' own ``.keras`` format, run on the torch backend (no TensorFlow), never pickled.

A ``.keras`` file is a zip of ``config.json`` (the architecture as data), ``model.weights.h5`` (numbers) and
``metadata.json``. It is loaded with ``safe_mode=True`` and ``compile=False``: Keras then refuses the one
thing in the format that is code, a ``Lambda`` layer's Python bytecode, and needs no optimizer to answer.
Shipyard refuses a ``Lambda`` layer already when logging (the package could never load), and lists every
class the config names outside Keras (a registered custom layer) as a type the loader must trust, as skops
types are: such a class is code that must be importable and trusted where the model loads.

Keras chooses its backend once, when it is first imported, from ``KERAS_BACKEND``. :func:`import_keras`
sets it to ``torch`` before that first import, and refuses with one line when Keras was already imported
with another backend (this project installs no TensorFlow or JAX). Import ``shipyard`` and call anything of
this flavor before your own ``import keras``, or set ``KERAS_BACKEND=torch`` yourself.

The network answers numbers; what they mean comes from its last activation. A ``softmax`` over k units is a
classifier of classes ``0..k-1`` (as sparse categorical labels are), a single ``sigmoid`` unit a binary
classifier of ``0``/``1`` whose probabilities are ``[1 - p, p]``; any other single unit is a regressor. A
network answering several numbers per row that are not class probabilities is refused when logging: no
prediction of it fits one answer per row. Inputs are one tensor: the signature's columns, in order, cast to the
network's input dtype (float32 as a rule), of the example's shape (rows first) when it was an image or a
sequence, flattened to the columns ``x0, x1, ...``. ``native.json`` records the library versions, the
kind of output, the classes and the tensor shapes and dtypes of the input and output.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ValidationError
from ..extras import from_module_not_found
from .native_flavor import META_FILE, dump_meta, missing_while, plain, read_meta, unreadable

FLAVOR = "keras"  # also the import name of its library and the extra that installs it
TITLE = "a Keras model"
SERIALIZER = "keras-v3"
MODEL_FILE = "model.keras"
DISTRIBUTIONS = ("keras", "torch")
BACKEND = "torch"
NUMPY_COPY_WARNING = "__array__ implementation doesn't accept a copy keyword"
CHUNK_ROWS = 8192  # rows per forward pass: bounds the memory of a large batch-scoring slice


def import_keras(purpose: str) -> Any:
    """Keras on the torch backend: chosen before Keras' first import, or refused when another one is running.

    Raises:
        ConfigError: Keras was imported with another backend, or ``KERAS_BACKEND`` names another one.
        MissingExtraError: Keras or torch is not installed (the line names the ``keras`` extra).
    """
    loaded = sys.modules.get("keras")
    running = _running_backend(loaded)
    if running is not None and running != BACKEND:
        raise ConfigError(
            f"{purpose} needs Keras on the {BACKEND} backend, but Keras was imported with the {running!r} backend; "
            f"set KERAS_BACKEND={BACKEND} before Keras is first imported (or import shipyard's Keras flavor first).")
    chosen = os.environ.get("KERAS_BACKEND")
    if running is None and chosen not in (None, "", BACKEND):
        raise ConfigError(f"KERAS_BACKEND is {chosen!r}, but {purpose} runs Keras on the {BACKEND} backend; set "
                          f"KERAS_BACKEND={BACKEND} or unset it.")
    if running is None:
        os.environ["KERAS_BACKEND"] = BACKEND  # read by Keras at its first import, below
    try:
        import_module("torch")  # first: a missing torch is named as such, not as a Keras import error
        keras = import_module("keras")
    except ModuleNotFoundError as exc:
        missing = from_module_not_found(exc, purpose, wanted=FLAVOR)
        if missing is None:
            raise
        raise missing from exc
    return keras


def _running_backend(module: Any) -> str | None:
    backend = getattr(getattr(module, "backend", None), "backend", None)
    return str(backend()) if callable(backend) else None


def is_keras(model: Any) -> bool:
    """A Keras model (never imports Keras: a model of it means it is imported already)."""
    keras = sys.modules.get("keras")
    model_class = getattr(keras, "Model", None)
    return isinstance(model_class, type) and isinstance(model, model_class)


class KerasPredictor:
    """A Keras network behind the ``predict``/``predict_proba``/``classes_`` face of a scikit-learn model.

    ``output`` is ``"softmax"``, ``"sigmoid"`` (classifiers) or ``"regression"``; ``tensor_spec`` the input and
    output shapes and dtypes as recorded in ``native.json`` and in the manifest (``tensors``).
    """

    flavor = FLAVOR

    def __init__(self, network: Any, *, output: str, input_dtype: str, tensors: dict[str, Any],
                 classes: list[Any] | None, python_class: str, custom_types: list[str] | None = None) -> None:
        self.network = network
        self.output = output
        self.input_dtype = input_dtype
        self.tensor_spec = tensors  # recorded in the manifest as "tensors" too
        self.python_class = python_class
        self.custom_types = custom_types or []
        self.saved: bytes | None = None  # the .keras file, once written
        self.threads: int | None = None  # torch threads of the calling thread (servers: 1); None: torch's default
        if classes is not None:
            import numpy as np

            self.classes_ = np.asarray(classes)

    def forward(self, frame: Any) -> Any:
        """The network's raw output for the rows of ``frame`` (float64, 2-D), in chunks, without gradients."""
        import numpy as np
        import torch

        values = np.array(frame, dtype=self.input_dtype)  # a copy torch may own (a frame's values can be read-only)
        shape = (self.tensor_spec.get("inputs") or [{}])[0].get("shape") or []
        if len(shape) > 2:  # an image or a sequence, its values flattened in the columns
            values = values.reshape(len(values), *shape[1:])
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        parts = []
        with torch.no_grad():
            for start in range(0, max(len(values), 1), CHUNK_ROWS):
                answer = self.network(torch.from_numpy(values[start:start + CHUNK_ROWS]), training=False)
                parts.append(answer.detach().cpu().numpy())  # a torch tensor: the backend is torch
        answer = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return answer.reshape(len(values), -1).astype("float64")

    def predict(self, frame: Any) -> Any:
        if self.output == "regression":
            return self.forward(frame).reshape(-1)
        import numpy as np

        return self.classes_[np.argmax(self.predict_proba(frame), axis=1)]

    def predict_proba(self, frame: Any) -> Any:
        if self.output == "regression":
            raise ValidationError("This Keras model is a regressor; it has no probabilities.", field="model")
        answer = self.forward(frame)
        if self.output == "sigmoid":
            import numpy as np

            return np.hstack((1.0 - answer, answer))
        return answer

    def meta(self, versions: dict[str, str]) -> dict[str, Any]:
        return {"format": 1, "flavor": FLAVOR, "library": "keras", "library_version": versions.get("keras"),
                "backend": BACKEND, "torch_version": versions.get("torch"), "python_class": self.python_class,
                "output": self.output, "input_dtype": self.input_dtype, "tensors": self.tensor_spec,
                "classes": [plain(value) for value in self.classes_] if hasattr(self, "classes_") else None}


def wrap(model: Any, frame: Any, *, shape: tuple[int, ...] | None = None) -> KerasPredictor | None:
    """``model`` ready to log, or ``None`` when it is not a Keras model. Refuses what could not load or serve.
    ``shape`` is the example's when it was an image or a sequence (``frame`` holds its values flattened)."""
    if not is_keras(model):
        return None
    import_keras("Logging a Keras model")
    import numpy as np
    import pandas as pd

    saved = _save(model)
    config = _config(saved)
    if any(node.get("class_name") == "Lambda" for node in _nodes(config)):
        raise ValidationError(
            "This Keras model has a Lambda layer, which the .keras format stores as Python bytecode that Keras' "
            "safe mode refuses to load; write it as a layer class registered with "
            "@keras.saving.register_keras_serializable, or log a shipyard.PythonModel.", field="model")
    text = [str(name) for name in frame.columns if not pd.api.types.is_numeric_dtype(frame[name])]
    if text:
        raise ValidationError(
            f"A Keras model takes numbers, but the input example's column {text[0]!r} is not numeric; encode it "
            "before the network (or log a shipyard.PythonModel that does both).", field=text[0])
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) > 1 or len(getattr(model, "outputs", None) or []) > 1:
        raise ValidationError("This Keras model has several inputs or outputs; Shipyard serves networks of one "
                              "input (the signature's columns) and one output.", field="model")
    input_dtype = str(getattr(inputs[0], "dtype", "float32")) if inputs else "float32"
    input_shape = [None, *(shape[1:] if shape is not None else (len(frame.columns),))]
    tensors: dict[str, Any] = {"inputs": [{"name": "input", "shape": input_shape, "dtype": input_dtype}]}
    probe = KerasPredictor(model, output="regression", input_dtype=input_dtype, tensors=tensors, classes=None,
                           python_class="")
    try:
        answer = probe.forward(frame.head(64))
    except Exception as exc:  # Keras' own refusal (a width or dtype the network does not take), made one line
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"This Keras model cannot answer the input example ({len(frame.columns)} columns): "
                              f"{reason}", field="input_example") from None
    width = answer.shape[1]
    output = _output_kind(model, answer)
    if output == "regression" and width != 1:
        raise ValidationError(
            f"This Keras model answers {width} numbers per row that are not class probabilities (no softmax at the "
            "end), so it has no one prediction per row; end it in a softmax for a classifier or one unit for a "
            "regressor.", field="model")
    classes = list(range(width)) if output == "softmax" else [0, 1] if output == "sigmoid" else None
    tensors["outputs"] = [{"name": "output", "shape": [None, width], "dtype": str(np.asarray(answer).dtype)}]
    output_dtype = getattr((getattr(model, "outputs", None) or [None])[0], "dtype", None)
    if output_dtype is not None:
        tensors["outputs"][0]["dtype"] = str(output_dtype)
    predictor = KerasPredictor(model, output=output, input_dtype=input_dtype, tensors=tensors, classes=classes,
                               python_class=f"{type(model).__module__}.{type(model).__qualname__}",
                               custom_types=custom_types(config))
    predictor.saved = saved  # what serialize writes: the network is saved once per log_model
    return predictor


def _output_kind(model: Any, answer: Any) -> str:
    """softmax, sigmoid or regression, from the last layer's activation (or its answer, for a Softmax layer)."""
    import numpy as np

    layers = getattr(model, "layers", None) or []
    last = layers[-1] if layers else None
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if type(last).__name__ == "Softmax":
        activation = "softmax"
    width = answer.shape[1]
    if activation == "softmax" and width > 1:
        return "softmax"
    if activation == "sigmoid" and width == 1:
        return "sigmoid"
    if width > 1 and activation is None and np.all(answer >= 0) and np.allclose(answer.sum(axis=1), 1.0, atol=1e-5):
        return "softmax"  # an Activation("softmax") layer or a functional output: rows that are distributions
    return "regression"


def serialize(predictor: KerasPredictor) -> tuple[dict[str, bytes], list[str]]:
    """The ``.keras`` file and ``native.json``, and the custom classes the loader must trust."""
    from importlib import metadata

    versions = {name: metadata.version(name) for name in DISTRIBUTIONS}
    saved = predictor.saved if predictor.saved is not None else _save(predictor.network)
    return {MODEL_FILE: saved, META_FILE: dump_meta(predictor.meta(versions))}, predictor.custom_types


def deserialize(files: dict[str, bytes], untrusted: list[str], trust: bool | Iterable[str],
                source: str) -> KerasPredictor:
    """Rebuild the network in Keras' safe mode; custom classes only when trusted (their modules imported first,
    so their registration with Keras runs)."""
    meta = read_meta(files, FLAVOR, source)
    granted = set(untrusted) if trust is True else set(trust or ())
    refused = [name for name in untrusted if name not in granted]
    if refused:
        raise ValidationError(
            f"{source} is a Keras model with custom classes, which are code: {', '.join(refused)}. Pass "
            f"trust={refused!r} (or trust=True) if you trust them and they are importable here.", field="trust")
    keras = import_keras(f"Loading {source}, {TITLE},")
    for name in untrusted:  # trusted above: import the module so its @register_keras_serializable runs
        import_module(name.rpartition(".")[0])
    try:
        with _file(files[MODEL_FILE]) as path:
            network = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ModuleNotFoundError as exc:
        raise missing_while(exc, FLAVOR, TITLE, source) from exc
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise unreadable(FLAVOR, TITLE, source, meta, keras.__version__, exc) from exc
    output = meta.get("output")
    if output not in ("softmax", "sigmoid", "regression"):
        raise ValidationError(f"{source} ({FLAVOR} flavor) names the output {output!r}, which this Shipyard does not "
                              "know; upgrade shipyard-ml to load it.", field="format")
    return KerasPredictor(network, output=str(output), input_dtype=str(meta.get("input_dtype") or "float32"),
                          tensors=meta.get("tensors") or {}, classes=meta.get("classes"),
                          python_class=str(meta.get("python_class")), custom_types=list(untrusted))


def custom_types(config: dict[str, Any]) -> list[str]:
    """Classes the config names outside Keras itself (``module.ClassName``), sorted."""
    found = set()
    for node in _nodes(config):
        module = node.get("module")
        if isinstance(module, str) and "class_name" in node and module.split(".")[0] != "keras":
            found.add(f"{module}.{node['class_name']}")
    return sorted(found)


def _save(network: Any) -> bytes:
    with tempfile.TemporaryDirectory(prefix="shipyard-keras-") as folder, warnings.catch_warnings():
        # Keras 3.15 reads its optimizer's variables through a numpy 1 protocol numpy 2 warns about; the file is
        # unaffected, and a program running with -W error must still be able to log its model.
        warnings.filterwarnings("ignore", message=NUMPY_COPY_WARNING, category=DeprecationWarning)
        path = Path(folder) / MODEL_FILE
        network.save(path)
        return path.read_bytes()


def _config(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        loaded = json.loads(archive.read("config.json"))
    return loaded if isinstance(loaded, dict) else {}


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a parsed config, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@contextmanager
def _file(data: bytes) -> Iterator[str]:
    """The bytes as a temporary ``.keras`` file (Keras loads from a path), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="shipyard-keras-") as folder:
        path = Path(folder) / MODEL_FILE
        path.write_bytes(data)
        yield str(path)
