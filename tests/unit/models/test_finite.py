"""``load_model(...).predict`` and ``predict_batch``: infinity and numbers the model's input type cannot hold are
input errors naming the column; a probability that is not finite is never returned.

Real models: a scikit-learn pipeline, and its skl2onnx graph logged as an ONNX model (float32 inputs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.errors import ModelOutputError, ValidationError
from tests._tiny_model import COLUMNS, GOOD_ROW, NAN_ROW, tiny_frame, tiny_graph, tiny_pipeline


@pytest.fixture
def models() -> None:
    """``models:/tiny/1`` (scikit-learn, float64) and ``models:/graph/1`` (the same model as an ONNX graph)."""
    pipeline = tiny_pipeline()
    frame, target = tiny_frame()
    with shipyard.start_run():
        shipyard.register_model(shipyard.log_model(pipeline, input_example=frame, y_example=target), "tiny")
    with shipyard.start_run():
        shipyard.register_model(shipyard.log_model(tiny_graph(pipeline), input_example=frame, y_example=target),
                                "graph")


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("uri", ["models:/tiny/1", "models:/graph/1"])
def test_infinity_is_an_input_error_naming_the_column(models: None, uri: str, value: float) -> None:
    model = shipyard.load_model(uri)
    with pytest.raises(ValidationError) as caught:
        model.predict_proba(pd.DataFrame([GOOD_ROW, {**GOOD_ROW, "x2": value}]))
    assert caught.value.field == "x2" and "(row 1)" in caught.value.message
    assert "not a finite number" in caught.value.message


def test_a_number_past_float32_is_refused_by_an_onnx_model_only(models: None) -> None:
    """The graph takes float32: 1e39 would reach it as infinity; scikit-learn takes float64, where it is a number."""
    frame = pd.DataFrame([{**GOOD_ROW, "x1": 1e39}])
    with pytest.raises(ValidationError) as caught:
        shipyard.load_model("models:/graph/1").predict_proba(frame)
    assert caught.value.field == "x1" and "float32" in caught.value.message
    probabilities = shipyard.load_model("models:/tiny/1").predict_proba(frame).to_numpy()
    assert np.isfinite(probabilities).all()


def test_a_probability_that_is_not_finite_is_never_returned(models: None) -> None:
    model = shipyard.load_model("models:/graph/1")
    frame = pd.DataFrame([GOOD_ROW, NAN_ROW])
    with pytest.raises(ModelOutputError) as caught:
        model.predict_proba(frame)
    assert caught.value.row == 1 and "not finite" in caught.value.message and "models:/graph/1" in caught.value.message
    with pytest.raises(ModelOutputError):
        model.predict(frame)
    assert np.isfinite(model.predict_proba(pd.DataFrame([GOOD_ROW])).to_numpy()).all()


def test_batch_scoring_stops_at_a_non_finite_answer_and_writes_nothing(models: None, tmp_path: Path) -> None:
    rows = pd.DataFrame([GOOD_ROW] * 5 + [NAN_ROW] + [GOOD_ROW] * 3)[COLUMNS]
    rows.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(ModelOutputError) as caught:
        shipyard.predict_batch("models:/graph/1", tmp_path / "in.csv", tmp_path / "out.csv")
    assert caught.value.row == 5 and "in.csv" in caught.value.message
    assert not (tmp_path / "out.csv").exists()
    result = shipyard.predict_batch("models:/tiny/1", tmp_path / "in.csv", tmp_path / "out.csv")
    assert result.rows_out == 9 and np.isfinite(pd.read_csv(tmp_path / "out.csv")[["proba_0", "proba_1"]]).all().all()


@pytest.mark.parametrize(("cell", "message"), [("inf", "not a finite number"), ("-inf", "not a finite number"),
                                               ("1e39", "float32")])
def test_batch_scoring_reads_infinite_and_out_of_range_text_as_bad_rows(models: None, tmp_path: Path, cell: str,
                                                                       message: str) -> None:
    (tmp_path / "in.csv").write_text(f"x1,x2\n0.0004,0.0007\n{cell},0.0007\n")
    with pytest.raises(ValidationError) as caught:
        shipyard.predict_batch("models:/graph/1", tmp_path / "in.csv", tmp_path / "out.csv")
    assert caught.value.field == "x1" and "row 1" in caught.value.message and message in caught.value.message
