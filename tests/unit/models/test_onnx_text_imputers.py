"""String imputers in a verified ONNX export: the pipelines people write, with text columns holding NaN.

skl2onnx converts a ``SimpleImputer`` over strings only when its ``missing_values`` is a string. The export
feeds missing text as the sentinel ``MISSING_TEXT`` and converts the imputer looking for that sentinel; these
tests fit real pipelines (most-frequent and constant imputers, 60+ one-hot levels), export them, and score rows
with missing text through onnxruntime and through scikit-learn. A string imputer that adds indicator columns is
refused, naming its path in the pipeline and why, as is one that learned no fill for a column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

import shipyard
from shipyard.models.onnx_export import onnx_feeds
from shipyard.models.onnx_imputers import MISSING_TEXT
from shipyard.models.signature import infer_signature
from tests._imputed_model import ONE_HOT_LEVELS, imputed_pipeline, telco_like


def register(model: Pipeline, data: pd.DataFrame, name: str) -> str:
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=data)
    return shipyard.register_model(info, name).uri


@pytest.mark.parametrize("text_imputer", [SimpleImputer(strategy="most_frequent"),
                                          SimpleImputer(strategy="constant", fill_value="unknown")],
                         ids=["most_frequent", "constant"])
def test_a_string_imputer_over_nan_is_exported_and_answers_as_python(text_imputer: SimpleImputer,
                                                                     tmp_path: Path) -> None:
    data, target = telco_like()
    uri = register(imputed_pipeline(text_imputer).fit(data, target), data, "churn")

    report = shipyard.export_onnx(uri, tmp_path / "churn.onnx")

    assert report.attached_to == "models:/churn/1" and report.max_abs_diff <= 1e-5
    assert report.rows_checked >= 20 + ONE_HOT_LEVELS + 3  # the stored example, every level, missing text per column
    graph = onnx.load(str(tmp_path / "churn.onnx"))
    assert {prop.key: prop.value for prop in graph.metadata_props}["shipyard.missing_text"] == MISSING_TEXT
    held_out, _ = telco_like(size=300, seed=6)
    assert held_out[["contract", "payment", "region"]].isna().any(axis=None)
    loaded = shipyard.load_model(uri)
    session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, onnx_feeds(loaded.signature, loaded.check_input(held_out)))
    np.testing.assert_array_equal(labels.reshape(-1), loaded.predict(held_out))
    np.testing.assert_allclose(probabilities, loaded.predict_proba(held_out).to_numpy(), atol=1e-5)


def test_missing_text_is_fed_as_the_sentinel_and_an_empty_string_stays_a_value() -> None:
    signature = infer_signature(telco_like(size=50)[0])
    rows = pd.DataFrame({"tenure": [1.0, 2.0, 3.0], "charges": [20.0, None, 30.0],
                         "contract": [None, "", "One year"], "payment": ["card", np.nan, "check"],
                         "region": [pd.NA, "region-01", "region-02"]}).astype({"region": object})
    feeds = onnx_feeds(signature, rows)
    assert feeds["contract"].reshape(-1).tolist() == [MISSING_TEXT, "", "One year"]
    assert feeds["payment"].reshape(-1).tolist() == ["card", MISSING_TEXT, "check"]
    assert feeds["region"].reshape(-1).tolist() == [MISSING_TEXT, "region-01", "region-02"]
    assert np.isnan(feeds["charges"][1, 0])


def test_a_string_imputer_with_indicator_columns_is_refused_by_its_path_and_why(tmp_path: Path) -> None:
    data, target = telco_like(size=300)
    model = imputed_pipeline(SimpleImputer(strategy="most_frequent", add_indicator=True)).fit(data, target)
    uri = register(model, data, "indicator")
    with pytest.raises(shipyard.ValidationError) as caught:
        shipyard.export_onnx(uri, tmp_path / "x.onnx")
    message = caught.value.message
    assert message.startswith(f"Cannot convert {uri} to ONNX: step 'pre/cat/imp' (SimpleImputer) "), message
    assert "add_indicator" in message and "of type Pipeline" not in message, message
    assert not (tmp_path / "x.onnx").exists()


def test_missing_text_in_records_reaches_the_python_model_as_nan_as_in_training() -> None:
    """Records (JSON, the verification rows) carry missing text as None; scikit-learn's imputer only sees NaN as
    missing, so the checked frame gives the model NaN, as pandas gave it in training."""
    data, target = telco_like(size=300)
    uri = register(imputed_pipeline(SimpleImputer(strategy="most_frequent")).fit(data, target), data, "records")
    loaded = shipyard.load_model(uri)
    record = {"tenure": 4.0, "charges": 39.8, "contract": None, "payment": "transfer", "region": None}
    as_frame = pd.DataFrame([record]).astype({"contract": "str", "region": "str"})  # NaN, as read from a file
    assert as_frame["contract"].isna().all()
    np.testing.assert_array_equal(loaded.predict_proba([record]).to_numpy(), loaded.predict_proba(as_frame).to_numpy())
    assert loaded.check_input([record])["contract"].tolist()[0] is not None


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values:UserWarning")  # fit and transform
def test_a_text_column_missing_in_every_training_row_is_refused_by_its_path(tmp_path: Path) -> None:
    data, target = telco_like(size=200)
    data["payment"] = np.nan  # scikit-learn's imputer learns no fill and drops the column
    data["payment"] = data["payment"].astype(object)
    model = imputed_pipeline(SimpleImputer(strategy="most_frequent")).fit(data, target)
    uri = register(model, data, "empty")
    with pytest.raises(shipyard.ValidationError) as caught:
        shipyard.export_onnx(uri, tmp_path / "x.onnx")
    message = caught.value.message
    assert message.startswith(f"Cannot convert {uri} to ONNX: step 'pre/cat/imp' (SimpleImputer) learned no fill "
                              "for a column that was missing in every training row"), message
