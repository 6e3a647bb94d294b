"""Runtimes: the loaded model behind a variant, answering a batch of checked columns.

``python`` runs the packaged scikit-learn pipeline on a DataFrame built once per batch. ``onnx`` runs the
verified ONNX export attached to the registry version (``shipyard models export-onnx``) straight from the
columns, with no DataFrame at all; ``auto`` takes ONNX when the version has a verified export and
onnxruntime is installed. Labels of classifiers are the argmax of the probabilities, so one pass gives both.

Every runtime sits behind the same checks: :attr:`Runner.input_ranges` tells the input checker what the
model's own input types hold (an ONNX graph takes float32, so ``1e39`` is refused by column instead of reaching
it as infinity), and an answer holding a probability or prediction that is not finite raises
:class:`~shipyard.errors.ModelOutputError` (a 503 for the variant) instead of being returned as ``null``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..models import keras_flavor, torch_flavor
from ..models.answers import check_finite
from ..models.coercion import NumberRange
from ..models.onnx_export import read_attached_onnx
from ..models.onnx_flavor import OnnxPredictor
from ..models.package import LoadedModel, load_model
from ..models.signature import Signature
from ..store import Store
from .inputs import Columns, build_frame, build_onnx_feeds


@dataclass
class Answer:
    labels: list[Any]
    probabilities: list[list[float]] | None
    model_seconds: float = 0.0  # inside the estimator or the ONNX session only: the rest is serving overhead


class Runner:
    """One loaded model version in one runtime; shared by every variant that serves that version."""

    def __init__(self, loaded: LoadedModel, runtime: str, onnx: OnnxPredictor | None, load_seconds: float) -> None:
        self.loaded = loaded
        self.runtime = runtime
        self.onnx = onnx
        self.load_seconds = load_seconds
        self.signature: Signature = loaded.signature
        self.kinds = {spec.name: spec.kind for spec in self.signature.inputs}  # shared by every log entry
        self.input_ranges: dict[str, NumberRange] = onnx.input_ranges if onnx is not None else loaded.input_ranges
        output = self.signature.output
        self.classes = list(output.classes)
        # ONNX answers a batch in tens of microseconds: run it on the event loop rather than in a thread.
        self.inline = onnx is not None
        self.probabilistic = output.kind == "classifier" and (onnx is not None or hasattr(loaded.model,
                                                                                          "predict_proba"))

    @property
    def name(self) -> str | None:
        return self.loaded.name

    @property
    def version(self) -> int | None:
        return self.loaded.version

    @property
    def uri(self) -> str:
        return self.loaded.uri

    def predict(self, columns: Columns) -> Answer:
        import numpy as np

        if self.onnx is not None:
            feeds = build_onnx_feeds(self.signature, columns)
            started = time.perf_counter()
            outputs = self.onnx.session.run(None, feeds)
            seconds = time.perf_counter() - started
            labels = np.asarray(outputs[0]).reshape(-1)
            found = np.asarray(outputs[1], dtype="float64") if self.probabilistic and len(outputs) > 1 else None
            check_finite(found, labels, self._answered_by)
            return Answer(labels.tolist(), None if found is None else found.tolist(), seconds)
        frame = build_frame(self.signature, columns)
        model = self.loaded.model
        started = time.perf_counter()
        if self.probabilistic:
            probabilities = np.asarray(model.predict_proba(frame), dtype="float64")
            seconds = time.perf_counter() - started
            check_finite(probabilities, None, self._answered_by)
            classes = np.asarray(self.classes if self.classes else model.classes_)
            return Answer(classes[probabilities.argmax(axis=1)].tolist(), probabilities.tolist(), seconds)
        labels = np.asarray(model.predict(frame)).reshape(-1)
        seconds = time.perf_counter() - started
        check_finite(None, labels, self._answered_by)
        return Answer(labels.tolist(), None, seconds)

    @property
    def _answered_by(self) -> str:
        return f"{self.uri} ({self.runtime} runtime)"


def load_runner(store: Store, uri: str, runtime: str, *, trust: bool | Iterable[str] = ()) -> Runner:
    """Load the version ``uri`` names (``models:/name/N`` after alias resolution) for ``runtime``, from ``store``.

    Raises:
        ConfigError: ``runtime: onnx`` for a version without a verified ONNX export.
    """
    started = time.perf_counter()
    return build_runner(load_model(uri, trust=trust), runtime, lambda: read_attached_onnx(store, uri), started)


def build_runner(loaded: LoadedModel, runtime: str, attached_onnx: Callable[[], bytes | None],
                 started: float) -> Runner:
    """The runner of a loaded package; ``attached_onnx`` reads the version's verified ONNX export (None: it has
    none), called only for ``auto`` and ``onnx``, wherever the package came from (a store or a team server).

    Raises:
        ConfigError: ``runtime: onnx`` for a version without a verified ONNX export.
    """
    if isinstance(loaded.model, torch_flavor.TorchPredictor | keras_flavor.KerasPredictor):  # Keras runs on torch
        torch_flavor.serve_single_threaded(loaded.model)
    onnx = None
    if runtime in ("auto", "onnx"):
        onnx = _attached_onnx(attached_onnx(), loaded, required=runtime == "onnx")
    return Runner(loaded, "onnx" if onnx is not None else "python", onnx, time.perf_counter() - started)


def _attached_onnx(data: bytes | None, loaded: LoadedModel, *, required: bool) -> OnnxPredictor | None:
    uri = loaded.uri
    if data is None:
        if required:
            raise ConfigError(f"{uri} has no verified ONNX export, so it cannot use runtime: onnx; run "
                              f"`shipyard models export-onnx {uri} model.onnx` first or use runtime: python.")
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if required:
            raise ConfigError("runtime: onnx needs onnxruntime: pip install 'shipyard-ml[onnx]'.") from None
        return None
    return OnnxPredictor(data, loaded.signature, tuple(loaded.signature.output.classes))
