"""PyTorch networks packaged without their Python class: a ``torch.export`` program, or TorchScript as the fallback.

``shipyard.log_model(net, input_example=X, y_example=y)`` takes an ``nn.Module`` (or a TorchScript module) whose
``forward`` maps one float tensor of shape ``(rows, features)`` to one tensor of shape ``(rows, outputs)`` or
``(rows,)``. An example of images or sequences, ``(rows, 1, 8, 8)`` say, is taken as the network's input shape:
the signature's columns are its values flattened (``x0 ... x63``) and each batch is reshaped back to it.
Preprocessing goes in front as a scikit-learn Pipeline whose last step is the network,
``Pipeline([("scale", fitted_scaler), ("net", net)])``: the fitted steps are stored with skops (as for XGBoost and
LightGBM) and their output becomes the network's input tensor. Nothing of the Pipeline is refitted.

Format. The network is exported with ``torch.export`` (an ExportedProgram, ``model.pt2``; the batch dimension is
dynamic, so any number of rows reaches it as one tensor) after ``eval()`` on a copy, and the program read back from
its bytes must answer as the module on the example. When export fails (Python control flow on values, say) the
network is compiled with ``torch.jit.script`` instead (``model.torchscript.pt``); ``torch.json`` names the format
used (``program``) and why export was not (``fallback_reason``). No Python class is needed to load either.
torch 2.13 deprecates TorchScript but still loads and runs it; the fallback keeps such networks servable.

Safety. ``torch.export.load`` is documented as unsafe on untrusted files (pickle underneath); Shipyard loads only a
``.pt2`` whose hash matches the package's manifest and which :mod:`._pt2_check` finds free of every place where
loading runs Python. ``weights_only`` is a parameter of ``torch.load`` alone: torch.export reads weights as raw
bytes (and, once checked, its sample inputs with ``weights_only=True``); ``torch.jit.load`` has no such switch and
needs none, because its C++ unpickler rebuilds only TorchScript values and the code it holds is TorchScript,
which torch interprets and which cannot import or call Python.

Answers. ``y_example`` decides what the numbers mean. Without it, or with continuous targets, the network is a
regressor with one output. With class labels, the network classifies: ``outputs`` columns for as many classes
(softmax), or one column for two classes (sigmoid, the positive class being the larger label). The outputs are
taken as logits (what ``CrossEntropyLoss`` and ``BCEWithLogitsLoss`` train) unless the network ends in
``nn.Softmax``/``nn.Sigmoid`` (probabilities) or ``nn.LogSoftmax`` (log-probabilities), or its outputs on the
example are rows of probabilities already. ``predict_proba`` answers the probabilities in float64, ``predict`` the
class of the highest. Inference runs on the CPU under ``torch.inference_mode``.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ValidationError
from ._pt2_check import UnsafeArchive, check_pt2
from .native_flavor import (
    META_FILE,
    NativePredictor,
    dump_meta,
    example_input,
    plain,
    read_meta,
    require_library,
    split_pipeline,
    unreadable,
)

FLAVOR = "torch"  # also the import name of its library and the extra that installs it
TITLE = "a PyTorch model"
SERIALIZER = "torch"
DISTRIBUTIONS = ("torch",)
PROGRAM_FILES = {"torch.export": "model.pt2", "torchscript": "model.torchscript.pt"}
OUTPUTS = ("logits", "probabilities", "log_probabilities")
EXPORT_TOLERANCE = 1e-5  # the exported program against the module on the example, before anything is logged


class TorchPredictor(NativePredictor):
    """A loaded program (``estimator``: a callable module) behind ``predict``/``predict_proba``.

    ``tensors`` states the input and output tensors (shape with ``None`` for the batch, dtype); ``outputs`` is one
    of :data:`OUTPUTS`; ``program`` the format (a key of :data:`PROGRAM_FILES`) and ``program_bytes`` its file.
    """

    flavor = FLAVOR
    library = "torch"

    def __init__(self, module: Any, *, program: str, program_bytes: bytes, tensors: dict[str, Any],
                 outputs: str = "logits", fallback_reason: str | None = None, **parts: Any) -> None:
        super().__init__(module, kind=program, **parts)
        self.program = program
        self.program_bytes = program_bytes
        self.tensor_spec = tensors
        self.outputs = outputs
        self.fallback_reason = fallback_reason
        self.threads: int | None = None  # intra-op threads of the calling thread; None: torch's default

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (``serializer="pickle"``) as its program's bytes: a loaded program holds torch internals that
        do not pickle, and the bytes are what loads it anyway."""
        return {**self.__dict__, "estimator": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import torch

        self.__dict__.update(state)
        self.estimator = _load_program(torch, self.program, self.program_bytes)

    def _predict(self, data: Any) -> Any:
        import numpy as np

        if not hasattr(self, "classes_"):
            return self.forward(data).reshape(-1)
        return self.classes_[np.argmax(self._predict_proba(data), axis=1)]

    def _predict_proba(self, data: Any) -> Any:
        return probabilities(self.forward(data), self.outputs)

    def forward(self, data: Any) -> Any:
        """The network's raw outputs (float64, one row per input row) for a table of features."""
        import numpy as np
        import torch

        spec = self.tensor_spec["input"]
        features = np.asarray(data.to_numpy() if hasattr(data, "to_numpy") else data, dtype=spec["dtype"])
        width = self.tensor_spec["output"]["shape"][-1]
        if len(features) == 0:
            return np.zeros((0, width))
        tensor = torch.from_numpy(np.ascontiguousarray(features.reshape(len(features), *spec["shape"][1:])))
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            answer = self.estimator(tensor)
        return np.asarray(answer.detach().numpy(), dtype="float64").reshape(len(features), width)

    def meta(self, version: str) -> dict[str, Any]:
        return {**super().meta(version), "program": self.program, "fallback_reason": self.fallback_reason,
                "tensors": self.tensor_spec, "outputs": self.outputs}


def serve_single_threaded(predictor: Any) -> None:
    """Run ``predictor`` with one intra-op thread, for servers: their micro-batches hold a few rows, on which torch's
    thread pool only contends with the other workers (on 2 shared cores, a 32-row call took 2.7 ms with 2 threads
    and 0.1 ms with one). OpenMP keeps the thread count per calling thread, so :meth:`TorchPredictor.forward` sets
    it in the thread that calls, not once at load. A Keras network on the torch backend is run the same way
    (:class:`~.keras_flavor.KerasPredictor` has ``threads`` too)."""
    predictor.threads = 1


def probabilities(outputs: Any, kind: str) -> Any:
    """Rows of class probabilities (float64) from a network's outputs of ``kind`` (one of :data:`OUTPUTS`)."""
    import numpy as np

    values = np.asarray(outputs, dtype="float64")
    if kind == "log_probabilities":
        values = np.exp(values)
    elif kind == "logits" and values.shape[1] == 1:
        values = 1.0 / (1.0 + np.exp(-values))
    elif kind == "logits":
        shifted = np.exp(values - values.max(axis=1, keepdims=True))
        values = shifted / shifted.sum(axis=1, keepdims=True)
    return np.hstack((1.0 - values, values)) if values.shape[1] == 1 else values


def is_torch(model: Any) -> bool:
    """An ``nn.Module`` (TorchScript modules included), recognised without importing torch."""
    return any(f"{kind.__module__}.{kind.__qualname__}" == "torch.nn.modules.module.Module"
               for kind in type(model).__mro__)


def wrap(model: Any, frame: Any, targets: Any = None, *, shape: tuple[int, ...] | None = None) -> TorchPredictor | None:
    """``model`` (or the Pipeline ending in it) exported and ready to log, or ``None`` when it is no network.
    ``shape`` is the example's when it was an image or a sequence (``frame`` holds its values flattened, row-major):
    the network takes that shape, and the package records it."""
    parts = split_pipeline(model, is_torch)
    if parts is None:
        return None
    preprocess, step, module = parts
    torch = require_library(FLAVOR, TITLE, "This model")
    import numpy as np

    text = [str(name) for name in frame.columns if frame[name].dtype.kind not in "biuf"] if preprocess is None else []
    if text:
        raise ValidationError(
            f"The network takes numbers, but column {text[0]!r} of the input example does not hold numbers; put the "
            "fitted encoding in front of the network in a scikit-learn Pipeline, Pipeline([('encode', fitted), "
            "('net', net)]), and log that.", field=text[0])
    if shape is not None and preprocess is not None:
        raise ValidationError(f"The input example has shape {list(shape)}, but scikit-learn preprocessing takes a "
                              "table; log the network alone with an image or sequence example.",
                              field="input_example")
    features = np.asarray(example_input(preprocess, frame), dtype=_input_dtype(module))
    if shape is not None:
        features = features.reshape(len(features), *shape[1:])
    if features.ndim < 2:
        raise ValidationError(f"The network's input example has shape {features.shape}; Shipyard feeds networks a "
                              "table (rows x features) or rows of images or sequences.", field="input_example")
    example = torch.from_numpy(np.ascontiguousarray(features))
    module = copy.deepcopy(module).eval()  # the caller's module keeps its mode
    try:
        with torch.inference_mode():
            raw = module(example)
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        raise ValidationError(f"The network refused the input example, a {tuple(example.shape)} {example.dtype} "
                              f"tensor ({_first_line(exc)}); give the rows it was trained on as input_example.",
                              field="input_example") from exc
    if not isinstance(raw, torch.Tensor):
        raise ValidationError(f"The network returns a {type(raw).__name__}; Shipyard serves networks that return "
                              "one tensor (rows x outputs).", field="model")
    width = 1 if raw.dim() == 1 else int(np.prod(raw.shape[1:]))
    answers = np.asarray(raw.detach().numpy(), dtype="float64").reshape(len(features), width)
    classes, outputs = _classes(targets, width, answers, module)
    program, program_bytes, loaded, reason = _program(torch, module, example, raw)
    tensors = {"input": {"shape": [None, *features.shape[1:]], "dtype": str(features.dtype)},
               "output": {"shape": [None, width], "dtype": str(raw.dtype).removeprefix("torch.")}}
    return TorchPredictor(loaded, program=program, program_bytes=program_bytes, tensors=tensors, outputs=outputs,
                          fallback_reason=reason, preprocess=preprocess, step=step, classes=classes,
                          python_class=f"{type(model).__module__}.{type(model).__qualname__}")


def serialize(predictor: TorchPredictor) -> dict[str, bytes]:
    import torch

    return {PROGRAM_FILES[predictor.program]: predictor.program_bytes,
            META_FILE: dump_meta(predictor.meta(torch.__version__))}


def deserialize(files: dict[str, bytes], preprocess: Any, source: str) -> TorchPredictor:
    """Rebuild the program from its file: checked first (:mod:`._pt2_check`), loaded on the CPU; no class needed."""
    meta = read_meta(files, FLAVOR, source)
    torch = require_library(FLAVOR, TITLE, source)
    program = meta.get("program")
    if program not in PROGRAM_FILES or meta.get("outputs") not in OUTPUTS or not isinstance(meta.get("tensors"), dict):
        raise ValidationError(f"{source} ({FLAVOR} flavor) names the program {program!r} with outputs "
                              f"{meta.get('outputs')!r}; Shipyard loads {' and '.join(PROGRAM_FILES)} programs of "
                              f"{', '.join(OUTPUTS)}.", field="format")
    data = files[PROGRAM_FILES[program]]
    try:
        module = _load_program(torch, program, data)
    except UnsafeArchive as exc:
        raise ValidationError(f"{source} ({FLAVOR} flavor) was refused: loading its program would run Python, "
                              f"because {exc.reason}. Log the model again.", field="format") from None
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise unreadable(FLAVOR, TITLE, source, meta, torch.__version__, exc) from exc
    return TorchPredictor(module, program=program, program_bytes=data, tensors=meta["tensors"],
                          outputs=meta["outputs"], fallback_reason=meta.get("fallback_reason"), preprocess=preprocess,
                          step=meta.get("step"), classes=meta.get("classes"), python_class=meta.get("python_class"))


def _load_program(torch: Any, program: str, data: bytes) -> Any:
    if program == "torch.export":
        check_pt2(data)
        return torch.export.load(io.BytesIO(data)).module()
    with _torchscript_deprecation_silenced():
        return torch.jit.load(io.BytesIO(data), map_location="cpu")


@contextmanager
def _torchscript_deprecation_silenced() -> Iterator[None]:
    """torch 2.13 deprecates TorchScript with a warning on each call; the fallback uses it knowingly (its
    programs still load and run), so that warning is not passed on to the caller."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.* is deprecated", category=DeprecationWarning)
        yield


def _program(torch: Any, module: Any, example: Any, expected: Any) -> tuple[str, bytes, Any, str | None]:
    """(format, bytes, the program as read back from those bytes, why not torch.export or None)."""
    try:
        data = _export(torch, module, example)
        loaded = _load_program(torch, "torch.export", data)
        _check_same(torch, loaded, example, expected, "torch.export")
        return "torch.export", data, loaded, None
    except Exception as exc:  # torch.export raises many kinds; any of them means: try TorchScript
        reason = _first_line(exc)
    try:
        buffer = io.BytesIO()
        with _torchscript_deprecation_silenced():
            scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module)
            torch.jit.save(scripted, buffer)
        data = buffer.getvalue()
        loaded = _load_program(torch, "torchscript", data)
        _check_same(torch, loaded, example, expected, "TorchScript")
    except Exception as exc:
        raise ValidationError(
            f"This network could not be packaged without its Python class: torch.export failed ({reason}) and so "
            f"did TorchScript ({_first_line(exc)}); make forward() exportable by torch.export (no Python control "
            "flow on tensor values, one tensor in and out) and log it again.", field="model") from exc
    return "torchscript", data, loaded, f"torch.export failed: {reason}"


def _export(torch: Any, module: Any, example: Any) -> bytes:
    batch = torch.export.Dim.DYNAMIC
    exported = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(exported, buffer)
    data = buffer.getvalue()
    check_pt2(data)  # what Shipyard would refuse to load is not logged (guard code, a pickled constant)
    return data


def _check_same(torch: Any, loaded: Any, example: Any, expected: Any, what: str) -> None:
    with torch.inference_mode():
        answer = loaded(example)
    if not isinstance(answer, torch.Tensor) or answer.shape != expected.shape or not torch.allclose(
            answer, expected, rtol=0.0, atol=EXPORT_TOLERANCE):
        raise ValueError(f"the {what} program answers differently from the module on the input example")


def _input_dtype(module: Any) -> str:
    """The dtype of the network's first floating parameter (float32 for a network with none)."""
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return str(tensor.dtype).removeprefix("torch.")
    return "float32"


def _classes(targets: Any, width: int, answers: Any, module: Any) -> tuple[list[Any] | None, str]:
    """(the class labels or None for a regressor, the kind of outputs), from the targets and the output width."""
    import numpy as np

    labels = None if targets is None else np.asarray(targets).reshape(-1)
    if labels is not None and labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(
            labels == np.round(labels)):
        labels = labels.astype("int64")  # BCE-style float labels 0.0/1.0 are classes
    discrete = labels is not None and labels.dtype.kind in "biuUSOb"
    found = sorted({plain(value) for value in labels}) if discrete and labels is not None else []
    if discrete and len(found) >= 2 and (width == len(found) or (width == 1 and len(found) == 2)):
        return found, _output_kind(module, answers)
    if width == 1:
        return None, "logits"
    shown = f"y_example holds {len(found)} classes" if discrete else "no class labels were given (y_example)"
    raise ValidationError(
        f"The network answers {width} numbers per row, but {shown}; pass the training labels as y_example to log a "
        f"classifier with one output per class (or one output for two classes), or a network with one output for "
        "a regressor.", field="y_example")


def _output_kind(module: Any, answers: Any) -> str:
    import numpy as np

    children = list(module.children()) if hasattr(module, "children") else []
    last = type(children[-1]).__name__ if children else ""
    if last in ("Softmax", "Sigmoid"):
        return "probabilities"
    if last == "LogSoftmax":
        return "log_probabilities"
    if answers.shape[1] > 1 and np.all((answers >= 0) & (answers <= 1)) and np.allclose(answers.sum(axis=1), 1.0,
                                                                                         atol=1e-5):
        return "probabilities"
    return "logits"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
