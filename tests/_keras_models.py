"""Small real Keras networks on scikit-learn's bundled data sets, trained on CPU in well under a second each.

``keras_or_skip()`` imports Keras through Shipyard (torch backend) or skips the test with the reason: the
CPU-only torch wheel exists for CPython 3.11 only, so the keras extra is absent on newer Pythons.
``KERAS_MODELS`` builds one fitted network per kind of answer the flavor serves: each entry gives
(network, input example) with the example as the network was trained on.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

SKIP_REASON = "keras and torch are not importable (the keras extra needs the CPU torch wheel, CPython 3.11 only)"
EPOCHS = 5


def keras_or_skip() -> Any:
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("keras") is None:
        pytest.skip(SKIP_REASON)
    from shipyard.models.keras_flavor import import_keras

    return import_keras("The Keras tests")


@cache
def _cancer() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = ((frame - frame.mean()) / frame.std()).astype("float32")
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    return frame, target.to_numpy()


def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    frame, target = _cancer()
    return frame.copy(), target.copy()


@cache
def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    features, target = load_diabetes(return_X_y=True)
    return features.astype("float32"), ((target - target.mean()) / target.std()).astype("float32")


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    features, target = _diabetes()
    return features.copy(), target.copy()


def _network(width: int, units: int, activation: str | None) -> Any:
    keras = keras_or_skip()
    keras.utils.set_random_seed(7)
    return keras.Sequential([keras.Input((width,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(units, activation=activation)])


def softmax_classifier() -> tuple[Any, pd.DataFrame]:
    frame, target = cancer()
    network = _network(frame.shape[1], 2, "softmax")
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    network.fit(frame.to_numpy(), target, epochs=EPOCHS, batch_size=64, verbose=0)
    return network, frame


def sigmoid_classifier() -> tuple[Any, pd.DataFrame]:
    frame, target = cancer()
    network = _network(frame.shape[1], 1, "sigmoid")
    network.compile(optimizer="adam", loss="binary_crossentropy")
    network.fit(frame.to_numpy(), target, epochs=EPOCHS, batch_size=64, verbose=0)
    return network, frame


def regressor() -> tuple[Any, np.ndarray]:
    features, target = diabetes()
    network = _network(features.shape[1], 1, None)
    network.compile(optimizer="adam", loss="mse")
    network.fit(features, target, epochs=EPOCHS, batch_size=32, verbose=0)
    return network, features


KERAS_MODELS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "softmax": softmax_classifier,
    "sigmoid": sigmoid_classifier,
    "regressor": regressor,
}


def keras_answers(network: Any, example: Any) -> dict[str, np.ndarray]:
    """What Keras itself answers (``network.predict``), as the flavor presents it: labels and probabilities for
    classifiers, one number per row for a regressor."""
    raw = np.asarray(network.predict(np.asarray(example, dtype="float32"), verbose=0), dtype="float64")
    if raw.shape[1] == 1 and network.layers[-1].activation.__name__ != "sigmoid":
        return {"predict": raw.reshape(-1)}
    probabilities = np.hstack((1.0 - raw, raw)) if raw.shape[1] == 1 else raw
    return {"predict": probabilities.argmax(axis=1), "predict_proba": probabilities}
