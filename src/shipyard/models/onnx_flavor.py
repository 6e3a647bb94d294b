"""ONNX models as first-class packages: logged directly, or produced by a verified export.

An :class:`OnnxPredictor` runs an ONNX graph with onnxruntime behind the same ``predict`` /
``predict_proba`` interface as a scikit-learn pipeline, feeding one ``(N, 1)`` input per signature column
(the convention of skl2onnx and of tabular serving).
"""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..extras import require
from .coercion import FLOAT32, NumberRange, is_missing
from .onnx_imputers import MISSING_TEXT
from .signature import Signature


class OnnxPredictor:
    """An ONNX graph with a scikit-learn-like face. ``classes_`` is set for classifiers."""

    def __init__(self, onnx_bytes: bytes, signature: Signature, classes: tuple[Any, ...] = ()) -> None:
        onnxruntime = require("onnxruntime", "Running an ONNX model")
        self.onnx_bytes = onnx_bytes
        self.signature = signature
        self.session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        names = [item.name for item in self.session.get_inputs()]
        expected = signature.column_names
        if sorted(names) != sorted(expected):
            raise ValidationError(
                f"The ONNX graph takes inputs {', '.join(names)}, but the example has columns {', '.join(expected)}; "
                "give an input_example whose columns are the graph's inputs.", field="input_example")
        if classes:
            import numpy as np

            self.classes_ = np.asarray(classes)

    @property
    def input_ranges(self) -> dict[str, NumberRange]:
        """Numbers are fed as float32 (:func:`onnx_feeds`): a number past its range would arrive as
        infinity, so the coercion rule refuses it by column first."""
        return {spec.name: FLOAT32 for spec in self.signature.inputs if spec.kind == "float"}

    def _run(self, frame: Any) -> list[Any]:
        return list(self.session.run(None, onnx_feeds(self.signature, frame)))

    def answer(self, frame: Any) -> tuple[Any, Any]:
        """Labels and probabilities (None when the graph has no second output) from one run of the graph."""
        outputs = self._run(frame)
        return outputs[0].reshape(-1), outputs[1] if len(outputs) > 1 else None

    def predict(self, frame: Any) -> Any:
        return self.answer(frame)[0]

    def predict_proba(self, frame: Any) -> Any:
        probabilities = self.answer(frame)[1]
        if probabilities is None:
            raise ValidationError("This ONNX graph has no probability output.", field="model")
        return probabilities


def is_onnx(model: Any) -> bool:
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")


def onnx_feeds(signature: Signature, frame: Any) -> dict[str, Any]:
    """One (N, 1) array per column: float32 numbers (NaN when missing), strings (``MISSING_TEXT`` when missing).

    The one feeding rule for an ONNX graph in Python: the predictor runs with it, and the verified export
    (``onnx_export``) checks its graph with it, so what was verified is what runs.
    """
    import numpy as np

    feeds = {}
    for spec in signature.inputs:
        column = frame[spec.name]
        if spec.kind == "string":
            values = np.array([MISSING_TEXT if is_missing(value) else str(value) for value in column], dtype=object)
        else:
            values = column.astype("float64").to_numpy(dtype="float32", na_value=np.nan)
        feeds[spec.name] = values.reshape(-1, 1)
    return feeds
