"""ONNX models as first-class packages: logged directly, or produced by a verified export.

An :class:`OnnxPredictor` runs an ONNX graph with onnxruntime behind the same ``predict`` /
``predict_proba`` interface as a scikit-learn pipeline, feeding one ``(N, 1)`` input per signature column
(the convention of skl2onnx and of tabular serving).
"""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..extras import require
from .coercion import FLOAT32, NumberRange
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
        """Numbers are fed as float32 (``onnx_export.onnx_feeds``): a number past its range would arrive as
        infinity, so the coercion rule refuses it by column first."""
        return {spec.name: FLOAT32 for spec in self.signature.inputs if spec.kind == "float"}

    def _run(self, frame: Any) -> list[Any]:
        from .onnx_export import onnx_feeds

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
