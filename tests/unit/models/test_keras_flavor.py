"""Keras packages against a real store: the .keras file (no pickle), answers within 1e-6 in a fresh process,
the backend rule, and refusals in one line (a Lambda layer, custom classes without trust, a missing extra, a
damaged file, a version drift)."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.models import package
from tests._flavor_checks import load_with_warnings, refusal
from tests._keras_models import KERAS_MODELS, cancer, keras_answers, keras_or_skip
from tests._tree_models import relog

# Keras 3.15's own predict converts tensors through a numpy 1 protocol that numpy 2 warns about (not Shipyard's code).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True)
def keras() -> object:
    return keras_or_skip()


def test_every_kind_answers_as_keras_in_a_fresh_process(tmp_path: Path, run_python) -> None:  # type: ignore[no-untyped-def]
    expected, uris = {}, {}
    with shipyard.start_run():
        for kind, build in KERAS_MODELS.items():
            network, example = build()
            uris[kind] = shipyard.log_model(network, kind, input_example=example).uri
            expected[kind] = keras_answers(network, example)
            pd.DataFrame(np.asarray(example)).to_parquet(tmp_path / f"{kind}.parquet")
    code = f"""
import numpy as np, pandas as pd, shipyard
for kind, uri in {uris!r}.items():
    model = shipyard.load_model(uri)
    rows = pd.read_parquet(f"{{kind}}.parquet").to_numpy()
    answers = {{"predict": np.asarray(model.predict(rows))}}
    if model.signature.output.kind == "classifier":
        answers["predict_proba"] = model.predict_proba(rows).to_numpy()
    np.savez(f"{{kind}}.npz", **answers)
import keras
assert keras.backend.backend() == "torch"
"""
    run_python(code, env={"KERAS_BACKEND": ""})  # Shipyard chooses the backend before Keras is imported
    for kind, answers in expected.items():
        loaded = np.load(tmp_path / f"{kind}.npz")
        assert sorted(loaded.files) == sorted(answers), kind
        for name, values in answers.items():
            if name == "predict" and kind != "regressor":
                np.testing.assert_array_equal(loaded[name], values, err_msg=f"{kind} {name}")
            else:
                np.testing.assert_allclose(loaded[name], values, rtol=0, atol=1e-6, err_msg=f"{kind} {name}")


@pytest.mark.parametrize("kind", list(KERAS_MODELS))
def test_the_package_holds_the_keras_file_its_versions_and_tensor_shapes(kind: str) -> None:
    import keras
    import torch

    network, example = KERAS_MODELS[kind]()
    with shipyard.start_run():
        info = shipyard.log_model(network, input_example=example)
    loaded = shipyard.load_model(info.uri)
    manifest = loaded.manifest
    assert (manifest["flavor"], manifest["serializer"]) == ("keras", "keras-v3")
    assert set(manifest["files"]) == {"input_example.json", "model.keras", "native.json"}
    assert manifest["untrusted_types"] == []
    assert manifest["libraries"]["keras"] == keras.__version__
    assert manifest["libraries"]["torch"] == torch.__version__
    assert f"keras=={keras.__version__}" in manifest["requirements"]
    stored = package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/model.keras")
    assert zipfile.ZipFile(BytesIO(stored)).namelist() == ["metadata.json", "config.json", "model.weights.h5"]
    meta = json.loads(package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/native.json"))
    width = {"softmax": 2, "sigmoid": 1, "regressor": 1}[kind]
    assert meta["backend"] == "torch" and meta["input_dtype"] == "float32"
    assert meta["tensors"]["inputs"][0]["shape"] == [None, np.asarray(example).shape[1]]
    assert meta["tensors"]["outputs"][0] == {"name": "output", "shape": [None, width], "dtype": "float32"}
    assert manifest["tensors"] == meta["tensors"]
    output = loaded.signature.output
    if kind == "regressor":
        assert output.kind == "regressor" and loaded.signature.column_names[:2] == ["x0", "x1"]
        with pytest.raises(shipyard.ValidationError, match="not a probabilistic classifier"):
            loaded.predict_proba(np.asarray(example)[:2])
    else:
        assert (output.kind, output.classes, output.probability_columns) == ("classifier", (0, 1),
                                                                             ("proba_0", "proba_1"))
        assert loaded.signature.column_names == list(example.columns)
        probabilities = loaded.predict_proba(example.head(5)).to_numpy()
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_a_lambda_layer_is_refused_when_logging(keras) -> None:  # type: ignore[no-untyped-def]
    frame, _ = cancer()
    network = keras.Sequential([keras.Input((frame.shape[1],)), keras.layers.Lambda(lambda x: x * 2),
                                keras.layers.Dense(1)])
    with shipyard.start_run(), pytest.raises(shipyard.ValidationError, match="Lambda layer") as refused:
        shipyard.log_model(network, input_example=frame)
    assert "\n" not in str(refused.value) and "safe mode" in str(refused.value)


def test_several_numbers_per_row_without_softmax_are_refused(keras) -> None:  # type: ignore[no-untyped-def]
    frame, _ = cancer()
    network = keras.Sequential([keras.Input((frame.shape[1],)), keras.layers.Dense(3)])
    with shipyard.start_run(), pytest.raises(shipyard.ValidationError, match="answers 3 numbers per row"):
        shipyard.log_model(network, input_example=frame)


def test_an_example_the_network_cannot_take_is_refused_in_one_line(keras) -> None:  # type: ignore[no-untyped-def]
    frame, _ = cancer()
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with shipyard.start_run(), pytest.raises(shipyard.ValidationError) as refused:
        shipyard.log_model(network, input_example=frame)
    message = str(refused.value)
    assert message.startswith("This Keras model cannot answer the input example (30 columns): ") and "\n" not in message
    assert refused.value.field == "input_example"


def test_text_columns_are_refused_naming_the_column(keras) -> None:  # type: ignore[no-untyped-def]
    frame, _ = cancer()
    network = keras.Sequential([keras.Input((frame.shape[1] + 1,)), keras.layers.Dense(1)])
    with shipyard.start_run(), pytest.raises(shipyard.ValidationError, match="'plan' is not numeric"):
        shipyard.log_model(network, input_example=frame.assign(plan="gold"))


def test_custom_classes_are_listed_and_need_trust() -> None:
    from tests._keras_layers import scaled_network

    frame, _ = cancer()
    network = scaled_network(frame.shape[1])
    with shipyard.start_run():
        info = shipyard.log_model(network, input_example=frame)
    listed = "tests._keras_layers.Scale"
    assert shipyard.load_model(info.uri, trust=[listed]).manifest["untrusted_types"] == [listed]
    with pytest.raises(shipyard.ValidationError, match=f"custom classes, which are code: {listed}") as refused:
        shipyard.load_model(info.uri)
    assert refused.value.field == "trust"
    np.testing.assert_allclose(shipyard.load_model(info.uri, trust=True).predict(frame),
                               network.predict(frame.to_numpy(), verbose=0).reshape(-1), atol=1e-6)


def test_a_keras_imported_with_another_backend_is_refused_in_one_line(run_python) -> None:  # type: ignore[no-untyped-def]
    network, example = KERAS_MODELS["regressor"]()
    with shipyard.start_run():
        uri = shipyard.log_model(network, input_example=example).uri
    # Keras' other backends need JAX or TensorFlow, which this project does not install: the Keras already
    # running is a stand-in module answering what keras.backend.backend() answers under JAX.
    code = f"""
import sys, types, shipyard
sys.modules["keras"] = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "jax"))
try:
    shipyard.load_model({uri!r})
except shipyard.ConfigError as exc:
    print("REFUSED", exc)
"""
    done = run_python(code)
    line = done.stdout.strip()
    assert line.startswith("REFUSED") and "imported with the 'jax' backend" in line, done
    assert "set KERAS_BACKEND=torch before Keras is first imported" in line and "\n" not in line
    chosen = run_python(code.replace("sys.modules", "# sys.modules"), env={"KERAS_BACKEND": "jax"})
    assert "KERAS_BACKEND is 'jax'" in chosen.stdout and "set KERAS_BACKEND=torch or unset it" in chosen.stdout


def test_a_missing_extra_is_named_in_one_line(run_python) -> None:  # type: ignore[no-untyped-def]
    network, example = KERAS_MODELS["regressor"]()
    with shipyard.start_run():
        uri = shipyard.log_model(network, input_example=example).uri
    code = f"""
import sys, shipyard
sys.modules["torch"] = None  # as if torch were not installed: importing it raises ModuleNotFoundError
try:
    shipyard.load_model({uri!r})
except shipyard.MissingExtraError as exc:
    print("MISSING", exc.extra, exc)
"""
    done = run_python(code, env={"KERAS_BACKEND": ""})
    assert done.stdout.startswith("MISSING keras Loading "), done
    assert "a Keras model, needs the 'keras' extra (torch is not installed)" in done.stdout
    assert done.stdout.count("\n") == 1


def test_a_damaged_file_names_the_flavor_and_versions() -> None:
    import keras

    network, example = KERAS_MODELS["sigmoid"]()
    with shipyard.start_run():
        info = shipyard.log_model(network, input_example=example)
    damaged = relog(info.uri, "damaged", files={"model.keras": b"PK not a zip"})
    message = refusal(damaged)
    assert message.startswith(f"{damaged} is a Keras model written with keras {keras.__version__} that keras "
                              f"{keras.__version__} cannot read ("), message
    assert "[keras]" in message and "\n" not in message


def test_another_minor_version_warns_naming_both() -> None:
    import keras

    network, example = KERAS_MODELS["softmax"]()
    with shipyard.start_run():
        info = shipyard.log_model(network, input_example=example)
    libraries = shipyard.load_model(info.uri).manifest["libraries"]
    older = relog(info.uri, "older", manifest={"libraries": {**libraries, "keras": "3.9.2"}})
    loaded, messages = load_with_warnings(older, "keras")
    assert any(f"saved with keras 3.9.2 but keras {keras.__version__} is installed" in text for text in messages)
    np.testing.assert_array_equal(loaded.predict(example), keras_answers(network, example)["predict"])
