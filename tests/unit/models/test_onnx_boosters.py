"""XGBoost and LightGBM in a verified ONNX export: alone on numeric columns, and as the last step of a pipeline
with string imputers and one-hot levels.

Real small models of both libraries (classifier and regressor) are fitted, logged through their scikit-learn
API, exported (onnxmltools' converters registered with skl2onnx) and then scored by onnxruntime and by the
library on held-out rows: classes agree exactly, probabilities and predictions within the tolerance. XGBoost
behind a scaler of fractional numbers cannot be proven equal; its refusal names the scaler. Models the native
xgboost/lightgbm flavors store in their own formats are converted from the preprocessing and the library object
they load (an XGBoost model rebuilt from UBJSON, a LightGBM Booster from its text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard
from shipyard.models.onnx_export import onnx_feeds
from tests._imputed_model import ONE_HOT_LEVELS, TEXT_COLUMNS, imputed_pipeline, telco_like


def booster(name: str) -> Any:
    import lightgbm
    import xgboost

    return {
        "xgb_classifier": xgboost.XGBClassifier(n_estimators=30, max_depth=3, random_state=0),
        "xgb_regressor": xgboost.XGBRegressor(n_estimators=30, max_depth=3, random_state=0),
        "lgbm_classifier": lightgbm.LGBMClassifier(n_estimators=30, num_leaves=8, random_state=0, verbose=-1),
        "lgbm_regressor": lightgbm.LGBMRegressor(n_estimators=30, num_leaves=8, random_state=0, verbose=-1),
    }[name]


def booster_pipeline(model: Any) -> Pipeline:
    """What a booster is usually given: imputed numbers (no scaling), imputed and one-hot text (a sparse matrix,
    66 levels), the ColumnTransformer's defaults otherwise."""
    text = Pipeline([("imp", SimpleImputer(strategy="most_frequent")), ("hot", OneHotEncoder(handle_unknown="ignore"))])
    prepare = ColumnTransformer([("num", SimpleImputer(strategy="median"), ["tenure", "charges"]),
                                 ("cat", text, TEXT_COLUMNS)])
    return Pipeline([("pre", prepare), ("model", model)])


BOOSTERS = ["xgb_classifier", "xgb_regressor", "lgbm_classifier", "lgbm_regressor"]


def target_for(name: str, data: pd.DataFrame, labels: pd.Series) -> pd.Series:
    return labels if name.endswith("classifier") else data["tenure"] * 2.5 + labels * 40.0


def assert_same_answers(uri: str, graph: bytes, rows: pd.DataFrame, classifier: bool) -> None:
    loaded = shipyard.load_model(uri, trust=True)
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    outputs = session.run(None, onnx_feeds(loaded.signature, loaded.check_input(rows)))
    if classifier:
        np.testing.assert_array_equal(outputs[0].reshape(-1), loaded.predict(rows))
        np.testing.assert_allclose(outputs[1], loaded.predict_proba(rows).to_numpy(), atol=1e-5)
    else:
        np.testing.assert_allclose(outputs[0].reshape(-1), np.asarray(loaded.predict(rows), dtype="float64"),
                                   rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", BOOSTERS)
def test_a_booster_behind_string_imputers_and_one_hot_is_exported_verified(name: str, tmp_path: Path) -> None:
    data, labels = telco_like(size=500)
    model = booster_pipeline(booster(name))
    with shipyard.start_run():
        info = shipyard.log_model(model.fit(data, target_for(name, data, labels)), input_example=data)
    uri = shipyard.register_model(info, name.replace("_", "-")).uri

    report = shipyard.export_onnx(uri, tmp_path / "m.onnx", tolerance=1e-4, trust=True)

    assert report.attached_to == uri and report.rows_checked >= 20 + ONE_HOT_LEVELS + 3
    assert model.named_steps["pre"].sparse_output_  # XGBoost read its zeros as missing: so does the graph
    held_out, _ = telco_like(size=300, seed=8)
    assert_same_answers(uri, (tmp_path / "m.onnx").read_bytes(), held_out, name.endswith("classifier"))


@pytest.mark.parametrize("name", ["xgb_classifier", "lgbm_regressor"])
def test_a_bare_booster_on_numeric_columns_is_exported_with_its_inputs_joined(name: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(31)
    data = pd.DataFrame({"age": rng.integers(18, 90, 400).astype(float), "tenure": rng.integers(1, 72, 400),
                         "charges": rng.uniform(18, 120, 400).round(2)})
    labels = ((data["tenure"] < 30) ^ (data["charges"] > 90)).astype(int)
    with shipyard.start_run():
        info = shipyard.log_model(booster(name).fit(data, target_for(name, data, labels)), input_example=data)
    uri = shipyard.register_model(info, "bare").uri

    report = shipyard.export_onnx(uri, tmp_path / "bare.onnx", tolerance=1e-4, trust=True)

    assert report.attached_to == "models:/bare/1"
    assert_same_answers(uri, (tmp_path / "bare.onnx").read_bytes(), data.sample(100, random_state=2),
                        name.endswith("classifier"))


def test_xgboost_behind_a_scaler_of_fractional_numbers_is_refused_naming_the_scaler(tmp_path: Path) -> None:
    """XGBoost splits at training values; the graph scales float32-rounded inputs, so training rows on a split
    land on its other side. The verification refuses, and the message names the scaler to remove."""
    data, labels = telco_like(size=500)
    model = imputed_pipeline(SimpleImputer(strategy="most_frequent"))
    model.steps[-1] = ("model", booster("xgb_classifier"))
    with shipyard.start_run():
        info = shipyard.log_model(model.fit(data, labels), input_example=data)
    with pytest.raises(shipyard.VerificationError) as caught:
        shipyard.export_onnx(info.uri, tmp_path / "x.onnx", tolerance=1e-4, trust=True)
    message = caught.value.message
    assert "disagrees with the Python model" in message and caught.value.mismatches, message
    assert "step 'pre/num/scale' (StandardScaler)" in message and "remove that step" in message, message
    assert not (tmp_path / "x.onnx").exists()


def test_the_booster_tests_above_go_through_the_native_flavors() -> None:
    """The exports above start from packages the xgboost/lightgbm flavors stored natively, not from skops."""
    data, labels = telco_like(size=200)
    with shipyard.start_run():
        info = shipyard.log_model(booster_pipeline(booster("xgb_classifier")).fit(data, labels), input_example=data)
    assert shipyard.load_model(info.uri).manifest["flavor"] == "xgboost"


def test_a_raw_booster_or_native_categories_are_refused_with_the_way_out(tmp_path: Path) -> None:
    import lightgbm

    data, labels = telco_like(size=200)
    raw = lightgbm.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lightgbm.Dataset(
        data[["tenure", "charges"]], labels), num_boost_round=3)
    categorical_data = data[["tenure", "contract"]].astype({"contract": "category"})
    categorical = lightgbm.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1).fit(categorical_data, labels)
    with shipyard.start_run():
        raw_uri = shipyard.log_model(raw, "raw", input_example=data[["tenure", "charges"]]).uri
        categorical_uri = shipyard.log_model(categorical, "categorical", input_example=categorical_data).uri
    with pytest.raises(shipyard.ValidationError, match=r"raw lightgbm Booster; log the model as its scikit-learn"):
        shipyard.export_onnx(raw_uri, tmp_path / "raw.onnx", trust=True)
    with pytest.raises(shipyard.ValidationError, match=r"native categorical columns \(contract\)"):
        shipyard.export_onnx(categorical_uri, tmp_path / "categorical.onnx", trust=True)
