"""shipyard.autolog() on real Keras training: per-epoch metrics at epoch steps, params, the packaged model, the
per-library switch, the import hook that patches Keras only once it is imported, and failures as one line."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import shipyard
from shipyard.models.autolog import AutologWarning
from tests._keras_models import cancer, keras_or_skip


@pytest.fixture(autouse=True)
def keras() -> Iterator[Any]:
    module = keras_or_skip()
    shipyard.autolog(sklearn=False)
    yield module
    shipyard.flush()
    shipyard.autolog(disable=True)


def network(keras: Any, width: int, *, learning_rate: float = 0.01) -> Any:
    keras.utils.set_random_seed(11)
    model = keras.Sequential([keras.Input((width,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def forward(model: Any, rows: np.ndarray) -> np.ndarray:
    """The network's answer, straight from torch (Keras' own predict warns under numpy 2, and this module runs with
    warnings as errors on purpose: autologging must not depend on ignoring them)."""
    import torch

    with torch.no_grad():
        return np.asarray(model(torch.from_numpy(rows.astype("float32")), training=False).numpy())


def only_run() -> tuple[shipyard.Run, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shipyard.flush()
    found = shipyard.search_runs()
    assert len(found) == 1, found
    return shipyard.get_run(found.run_id[0]), [str(item.message) for item in caught
                                                if issubclass(item.category, AutologWarning)]


def test_fit_logs_each_epoch_at_its_step_the_params_and_the_model(keras: Any) -> None:
    frame, target = cancer()
    model = network(keras, frame.shape[1])
    history = model.fit(frame.to_numpy(), target, epochs=4, batch_size=50, validation_split=0.25, verbose=0)
    run, messages = only_run()
    assert messages == []
    assert run.tags["shipyard.autolog"] == "keras"
    assert {key: run.params[key] for key in ("epochs", "batch_size", "validation_split", "optimizer", "loss")} == {
        "epochs": "4", "batch_size": "50", "validation_split": "0.25", "optimizer": "adam",
        "loss": "sparse_categorical_crossentropy"}
    assert float(run.params["learning_rate"]) == pytest.approx(0.01)
    assert run.params["weights"] == str(model.count_params()) and run.params["steps_per_epoch"] == "9"  # ceil(427 / 50)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        logged = shipyard.metric_history(run.id, key)
        assert logged.step.tolist() == [0, 1, 2, 3], key
        np.testing.assert_allclose(logged.value.to_numpy(), history.history[key], rtol=1e-7)
    assert run.tags["shipyard.dataset.train.rows"] == str(len(frame))
    loaded = shipyard.load_model(f"runs:/{run.id}/model")
    assert loaded.manifest["flavor"] == "keras"
    expected = forward(model, frame.to_numpy())
    np.testing.assert_allclose(loaded.predict_proba(frame.to_numpy()).to_numpy(), expected, atol=1e-6)


def test_a_resumed_fit_logs_at_its_own_epoch_numbers(keras: Any) -> None:
    frame, target = cancer()
    network(keras, frame.shape[1]).fit(frame.to_numpy(), target, epochs=5, initial_epoch=2, verbose=0)
    run, _ = only_run()
    assert shipyard.metric_history(run.id, "loss").step.tolist() == [2, 3, 4]
    assert run.params["initial_epoch"] == "2"


def test_inside_a_run_the_fit_logs_into_it(keras: Any) -> None:
    frame, target = cancer()
    with shipyard.start_run() as active:
        network(keras, frame.shape[1]).fit(frame.to_numpy(), target, epochs=2, verbose=0)
    run, _ = only_run()
    assert run.id == active.id and len(shipyard.metric_history(run.id, "loss")) == 2


def test_switching_keras_off_restores_fit(keras: Any) -> None:
    frame, target = cancer()
    shipyard.autolog(sklearn=False, keras=False)
    assert not getattr(keras.Model.fit, "__shipyard_autolog__", False)
    network(keras, frame.shape[1]).fit(frame.to_numpy(), target, epochs=1, verbose=0)
    shipyard.flush()
    assert shipyard.search_runs().empty
    shipyard.autolog(sklearn=False)
    assert getattr(keras.Model.fit, "__shipyard_autolog__", False)


def test_a_model_that_cannot_be_packaged_is_one_warning_line_and_training_goes_on(keras: Any) -> None:
    frame, target = cancer()
    model = keras.Sequential([keras.Input((frame.shape[1],)), keras.layers.Lambda(lambda x: x * 0.5),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(frame.to_numpy(), target, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    run, messages = only_run()
    assert len(messages) == 1 and "was not logged" in messages[0] and "Lambda layer" in messages[0], messages
    assert "\n" not in messages[0]
    assert len(shipyard.metric_history(run.id, "loss")) == 2 and run.params["optimizer"] == "SGD".lower()


def test_keras_imported_after_autolog_is_patched_on_import_with_the_torch_backend(run_python) -> None:  # type: ignore[no-untyped-def]
    done = run_python("""
import sys
import numpy as np
import shipyard
shipyard.autolog(sklearn=False)
assert "keras" not in sys.modules and "torch" not in sys.modules  # autolog() itself imports neither
import keras
assert keras.backend.backend() == "torch"
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
rows = np.random.default_rng(0).random((64, 3)).astype("float32")
model.fit(rows, rows.sum(axis=1), epochs=3, verbose=0)
shipyard.flush()
run = shipyard.get_run(shipyard.search_runs().run_id[0])
print(shipyard.metric_history(run.id, "loss").step.tolist(), run.params["epochs"])
""", env={"KERAS_BACKEND": ""})
    assert done.stdout.strip().splitlines()[-1] == "[0, 1, 2] 3", done


def test_each_fit_logs_the_model_as_that_fit_left_it(keras: Any) -> None:
    frame, target = cancer()
    rows = frame.to_numpy()
    model = network(keras, frame.shape[1], learning_rate=0.05)
    model.fit(rows, target, epochs=1, verbose=0)
    after_first = forward(model, rows)
    model.fit(rows, target, epochs=3, verbose=0)  # the same object, trained on before the first record is written
    shipyard.flush()
    first = shipyard.search_runs().sort_values("start_time").run_id.iloc[0]
    assert np.abs(forward(model, rows) - after_first).max() > 1e-3  # the second fit did move the weights
    logged = shipyard.load_model(f"runs:/{first}/model").predict_proba(rows).to_numpy()
    np.testing.assert_allclose(logged, after_first, atol=1e-6)
