"""Keras: ``Model.fit`` logs its params, its per-epoch metrics (at steps = epoch numbers) and the fitted model.

Keras and torch take seconds to import, so ``autolog()`` does not import them for a program that never uses
Keras: when Keras is not imported yet, a one-shot import hook patches ``fit`` the moment ``import keras``
finishes (and, as the Keras flavor does, picks the torch backend when ``KERAS_BACKEND`` is unset, since this
project installs no TensorFlow). When Keras is already imported, ``fit`` is patched at once.

The per-epoch history is Keras' own (the ``History`` that ``fit`` returns): nothing is computed twice. The
params are what the call and the compiled model say: epochs, batch size, validation split, initial epoch,
the optimizer's name and learning rate, the loss and the number of weights. The model is packaged by the
Keras flavor (``shipyard.log_model``) with the training inputs as its example, when they are an array or a
DataFrame; a ``fit`` on a dataset or generator logs everything but the model, and says so in one line.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from ..keras_flavor import NUMPY_COPY_WARNING
from . import _deferred, _patching
from ._record import Destination, RunWriter, Snapshot, TrainingData, destination, estimator_tags
from ._settings import settings

LIBRARY = "keras"
_FIT_ARGS = ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data",
             "shuffle", "class_weight", "sample_weight", "initial_epoch")  # Model.fit's positional order
_hook_lock = threading.Lock()
_searching = threading.local()


def enable() -> None:
    """Patch ``fit`` now if Keras is imported, else when it is."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "Model"):
        _patch(keras)
        return
    with _hook_lock:
        if not any(isinstance(finder, _KerasImportHook) for finder in sys.meta_path):
            sys.meta_path.insert(0, _KerasImportHook())


def disable() -> None:
    _remove_hook()
    _patching.unpatch(LIBRARY)


def _patch(keras: ModuleType) -> None:
    owner = _patching.defining_class(keras.Model, "fit")
    if owner is not None:
        _patching.patch(LIBRARY, owner, "fit", _patched_fit)


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Finds ``keras`` through the other finders, and patches ``fit`` once its module has run."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras" or getattr(_searching, "value", False):
            return None
        _searching.value = True  # the search below goes through sys.meta_path again, this hook included
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            _searching.value = False
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            _remove_hook()  # one shot: Keras is imported once
            if not os.environ.get("KERAS_BACKEND"):
                os.environ["KERAS_BACKEND"] = "torch"  # the backend Shipyard's Keras flavor runs on
            run_module(module)
            if LIBRARY in settings.libraries:
                try:
                    _patch(module)
                except Exception as exc:
                    _deferred.warn(f"Keras fit is not logged: {type(exc).__name__}: {exc}")

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _remove_hook() -> None:
    with _hook_lock:
        sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _KerasImportHook)]


def _patched_fit(original: Callable[..., Any]) -> Callable[..., Any]:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if LIBRARY not in settings.libraries or _patching.inside_autologged_call():
            return original(self, *args, **kwargs)
        with _patching.Outermost():
            _deferred.fit_started()
            start_ms = time.time_ns() // 1_000_000
            try:
                history = original(self, *args, **kwargs)
            finally:
                _deferred.fit_ended()
        try:
            call = {**dict(zip(_FIT_ARGS, args, strict=False)), **kwargs}
            captured = (destination(), _snapshot(self), TrainingData.of(call.get("x"), call.get("y")),
                        _params(self, call, history), _epochs(history), start_ms, time.time_ns() // 1_000_000)
            _deferred.submit(f"the Keras fit of a {type(self).__name__}", lambda: _record(*captured))
        except Exception as exc:  # capturing must never break the user's training
            _deferred.warn(f"could not capture the Keras fit of a {type(self).__name__}: {type(exc).__name__}: {exc}")
        return history

    return fit


def _snapshot(model: Any) -> Snapshot:
    """The model as pickled bytes (Keras pickles through its own format), without the numpy 2 deprecation
    warning Keras 3.15 raises on the way: under ``-W error`` it would leave the live object as the snapshot."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NUMPY_COPY_WARNING, category=DeprecationWarning)
        return Snapshot.of(model)


def _params(model: Any, call: dict[str, Any], history: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "epochs": call.get("epochs", 1),
        "batch_size": call.get("batch_size"),
        "validation_split": call.get("validation_split", 0.0),
        "initial_epoch": call.get("initial_epoch", 0),
        "steps_per_epoch": (getattr(history, "params", None) or {}).get("steps"),
        "weights": model.count_params(),
    }
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        # The class, not ``optimizer.name``: Keras numbers the names of later instances ("adam_10").
        params["optimizer"] = type(optimizer).__name__.lower()
        try:
            params["learning_rate"] = float(optimizer.learning_rate)
        except (TypeError, ValueError, AttributeError):  # a schedule: its config is the param
            params["learning_rate"] = repr(optimizer.learning_rate)
    loss = getattr(model, "loss", None)
    if loss is not None:
        params["loss"] = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    return {key: value for key, value in params.items() if value is not None}


def _epochs(history: Any) -> list[tuple[int, dict[str, float]]]:
    """(epoch number, metrics of that epoch) from Keras' History, taken now (a later fit replaces it)."""
    values = getattr(history, "history", None) or {}
    epochs = list(getattr(history, "epoch", None) or range(len(next(iter(values.values()), []))))
    return [(epoch, {key: float(series[index]) for key, series in values.items() if index < len(series)})
            for index, epoch in enumerate(epochs)]


def _record(where: Destination, snapshot: Snapshot, data: TrainingData, params: dict[str, Any],
            epochs: list[tuple[int, dict[str, float]]], start_ms: int, end_ms: int) -> None:
    model = snapshot.restore()
    writer = RunWriter.open(where, start_ms, end_ms, estimator_tags(LIBRARY, model))
    try:
        writer.params(params)
        writer.dataset("train", data)
        for epoch, metrics in epochs:
            writer.metrics(metrics, step=epoch)
        writer.model(model, data)
    finally:
        writer.close()
