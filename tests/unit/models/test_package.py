"""Model packages against a real store: flavors, trust, tampering, validation on predict."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard
from shipyard.models.package import load_model, log_model


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(11)
    size = 300
    frame = pd.DataFrame({
        "tenure": rng.integers(1, 72, size),
        "charges": np.where(rng.random(size) < 0.1, np.nan, rng.uniform(18, 120, size)),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], size),
    })
    target = ((frame["contract"] == "Month-to-month") & (frame["tenure"] < 30)).astype(int)
    return frame, target


def pipeline(model: object) -> Pipeline:
    prepare = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["tenure", "charges"]),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), ["contract"]),
    ])
    return Pipeline([("prepare", prepare), ("model", model)])


def test_sklearn_pipeline_round_trip(data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    fitted = pipeline(LogisticRegression()).fit(frame, target)
    with shipyard.start_run() as run:
        info = log_model(fitted, input_example=frame, y_example=target)
    assert info.uri == f"runs:/{run.id}/model"
    loaded = load_model(info.uri)
    np.testing.assert_array_equal(loaded.predict(frame), fitted.predict(frame))
    probabilities = loaded.predict_proba(frame.head(5))
    assert list(probabilities.columns) == ["proba_0", "proba_1"]
    np.testing.assert_allclose(probabilities.to_numpy(), fitted.predict_proba(frame.head(5)))
    manifest = loaded.manifest
    assert manifest["flavor"] == "sklearn" and manifest["serializer"] == "skops"
    assert manifest["run_id"] == run.id
    assert any(line.startswith("scikit-learn==") for line in manifest["requirements"])
    assert manifest["profile"]["columns"]["charges"]["missing"] == int(frame["charges"].isna().sum())
    assert sum(manifest["prediction_profile"]["class_counts"].values()) == len(frame)
    assert manifest["target_profile"]["levels"] == {str(k): int(v) for k, v in target.value_counts().items()}
    assert shipyard.get_run(run.id).tags["shipyard.model.model"] == info.manifest_hash
    assert loaded.lineage["run_id"] == run.id


def test_predict_validates_against_the_signature(data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    with shipyard.start_run():
        info = log_model(pipeline(LogisticRegression()).fit(frame, target), input_example=frame)
    loaded = load_model(info.uri)
    with pytest.raises(shipyard.ValidationError, match="missing column 'contract'"):
        loaded.predict(frame.drop(columns=["contract"]))
    live = frame.head(3).assign(contract=["Weekly", "One year", "Weekly"])
    loaded.predict(live)
    assert loaded.last_report.unseen_levels == {"contract": {"Weekly": 2}}


def test_regressor_without_predict_proba(data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, _ = data
    numeric = frame[["tenure"]]
    with shipyard.start_run():
        info = log_model(LinearRegression().fit(numeric, numeric["tenure"] * 2.0), input_example=numeric)
    loaded = load_model(info.uri)
    assert loaded.signature.output.kind == "regressor"
    np.testing.assert_allclose(loaded.predict(numeric.head(2)), numeric.head(2)["tenure"] * 2.0)
    with pytest.raises(shipyard.ValidationError, match="not a probabilistic classifier"):
        loaded.predict_proba(numeric.head(2))


class ThresholdModel:
    """A plain Python model: no scikit-learn base class."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame["tenure"] > 30).astype(int).to_numpy()


def test_generic_python_models_need_pickle_and_pickles_need_trust(data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, _ = data
    with shipyard.start_run():
        with pytest.raises(shipyard.ValidationError, match="serializer='pickle'"):
            log_model(ThresholdModel(), input_example=frame)
        info = log_model(ThresholdModel(), input_example=frame, serializer="pickle")
    with pytest.raises(shipyard.ValidationError, match="trust=True"):
        load_model(info.uri)
    loaded = load_model(info.uri, trust=True)
    assert loaded.predict(frame.head(3)).tolist() == (frame.head(3)["tenure"] > 30).astype(int).tolist()


def test_one_changed_byte_is_refused(data: tuple[pd.DataFrame, pd.Series], isolated_store: Path) -> None:
    frame, target = data
    with shipyard.start_run():
        info = log_model(pipeline(LogisticRegression()).fit(frame, target), input_example=frame)
    manifest = load_model(info.uri).manifest
    digest = manifest["files"]["model.skops"]["hash"]
    path = isolated_store / "objects" / digest[:2] / digest[2:]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(shipyard.IntegrityError, match="model/model.skops"):
        load_model(info.uri)


def test_unknown_types_must_be_trusted_explicitly(data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    with shipyard.start_run() as run:
        info = log_model(pipeline(LogisticRegression()).fit(frame, target), input_example=frame)
    store = shipyard.current_store()
    from shipyard.tracking.artifacts import log_bytes, read_artifact

    manifest = json.loads(read_artifact(store, run.id, "model/model.json"))
    manifest["untrusted_types"] = ["evil.module.Thing"]  # a package whose manifest lists an unknown type
    log_bytes(store, run.id, json.dumps(manifest).encode(), "model/model.json")
    with pytest.raises(shipyard.ValidationError, match="evil.module.Thing"):
        load_model(info.uri)


def test_bad_uris() -> None:
    with pytest.raises(shipyard.ValidationError, match="not a model URI"):
        load_model("s3://bucket/model")
    with pytest.raises(shipyard.NotFoundError, match="No run has the id"):
        load_model("runs:/" + "0" * 32 + "/model")
    with shipyard.start_run() as run:
        pass
    with pytest.raises(shipyard.NotFoundError, match="has no model at 'model'"):
        load_model(f"runs:/{run.id}/model")


def test_a_different_library_version_warns_once(data: tuple[pd.DataFrame, pd.Series]) -> None:
    from shipyard.models import package
    from shipyard.tracking.artifacts import log_bytes, read_artifact

    frame, target = data
    with shipyard.start_run() as run:
        info = log_model(pipeline(LogisticRegression()).fit(frame, target), input_example=frame)
    store = shipyard.current_store()
    manifest = json.loads(read_artifact(store, run.id, "model/model.json"))
    manifest["libraries"]["numpy"] = "0.1.0"
    log_bytes(store, run.id, json.dumps(manifest).encode(), "model/model.json")
    package._warned_versions.discard("numpy")
    with pytest.warns(UserWarning, match=r"saved with numpy 0\.1\.0 but numpy \d"):
        load_model(info.uri)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(info.uri)  # once per library and process, not on every load
