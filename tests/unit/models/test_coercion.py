"""The one coercion rule, checked the same way on the server's per-value path and on the DataFrame path that
``load_model(...).predict`` and ``shipyard predict`` use: same verdict, same message, for every case."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import ValidationError
from shipyard.models.coercion import FLOAT32
from shipyard.models.signature import ColumnSpec, OutputSpec, Signature, validate
from shipyard.serving.inputs import InputChecker, parse_body

SIGNATURE = Signature((
    ColumnSpec("tenure", "integer", False),
    ColumnSpec("charges", "float", True),
    ColumnSpec("contract", "string", False, levels=("One year", "Two year")),
    ColumnSpec("paperless", "boolean", True),
    ColumnSpec("signup", "datetime", True),
), OutputSpec("classifier", (0, 1), ("proba_0", "proba_1")))
GOOD = {"tenure": 3, "charges": 70.5, "contract": "One year", "paperless": True, "signup": "2024-05-01"}

ACCEPTED: list[tuple[str, Any, Any]] = [  # column, value sent, value the model sees
    ("tenure", 3, 3), ("tenure", 3.0, 3), ("tenure", -(2**63), -(2**63)), ("tenure", None, None),
    ("charges", 89.5, 89.5), ("charges", 89, 89.0), ("charges", 2**53, float(2**53)), ("charges", 2**60, 2.0**60),
    ("charges", None, None),
    ("contract", "Weekly", "Weekly"), ("contract", None, None),
    ("paperless", False, False), ("paperless", None, None),
    ("signup", "2024-05-01T12:30:00", pd.Timestamp("2024-05-01T12:30:00")), ("signup", None, None),
]
REFUSED: list[tuple[str, Any]] = [
    ("tenure", 2.5), ("tenure", "3"), ("tenure", True), ("tenure", 2**63), ("tenure", 1e19), ("tenure", [1]),
    ("charges", "89.5"), ("charges", "nan"), ("charges", False), ("charges", 2**53 + 1), ("charges", {"v": 1}),
    ("contract", 3), ("contract", 1.5), ("contract", True),
    ("paperless", 1), ("paperless", 0.0), ("paperless", "true"),
    ("signup", "yesterday"), ("signup", 1714567800), ("signup", True),
    # Not finite: what a JSON number past 1.8e308 (1e309) reads as, or np.inf in a user's DataFrame.
    ("charges", math.inf), ("charges", -math.inf), ("tenure", math.inf), ("tenure", -math.inf),
]


def _server(record: dict[str, Any]) -> dict[str, list[Any]]:
    return InputChecker(SIGNATURE).check(parse_body({"records": [GOOD, record]}))


def _frame(record: dict[str, Any]) -> pd.DataFrame:
    """As a user builds a DataFrame from the same records (so odd values land in object columns)."""
    return validate([GOOD, record], SIGNATURE)[0]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value))


@pytest.mark.parametrize(("column", "sent", "seen"), ACCEPTED, ids=[f"{c}={v!r}" for c, v, _ in ACCEPTED])
def test_lossless_conversions_are_made_the_same_way_on_both_paths(column: str, sent: Any, seen: Any) -> None:
    record = {**GOOD, column: sent}
    server = _server(record)[column][1]
    frame = _frame(record)[column].iloc[1]
    if seen is None:
        assert _missing(server) and _missing(frame)
        return
    if column != "signup":  # the server checks date text and builds the datetime column per batch
        assert server == seen and type(server) is type(seen)
    assert frame == seen


@pytest.mark.parametrize(("column", "sent"), REFUSED, ids=[f"{c}={v!r}" for c, v in REFUSED])
def test_everything_else_is_refused_with_the_same_message_on_both_paths(column: str, sent: Any) -> None:
    record = {**GOOD, column: sent}
    with pytest.raises(ValidationError) as on_server:
        _server(record)
    with pytest.raises(ValidationError) as on_frame:
        _frame(record)
    assert on_server.value.field == on_frame.value.field == column
    assert on_server.value.message == on_frame.value.message
    assert f"'{column}'" in on_frame.value.message and "(row 1)" in on_frame.value.message


@pytest.mark.parametrize(("column", "values", "bad_row"), [
    ("tenure", pd.Series([3.0, 2.5, 4.0]), 1),
    ("tenure", pd.Series([3.0, np.inf, 4.0]), 1),
    ("tenure", pd.Series([True, False, True]), 0),
    ("tenure", pd.Series(["3", "4", "5"], dtype="str"), 0),
    ("charges", pd.Series(["89.5", None, "70"], dtype="str"), 0),
    ("charges", pd.Series([1, 2, 2**53 + 1], dtype="int64"), 2),
    ("charges", pd.Series([True, None, False], dtype="boolean"), 0),
    ("charges", pd.Series([70.5, np.nan, -np.inf]), 2),
    ("charges", pd.Series(["70.5", "inf"], dtype="str"), 0),
    ("contract", pd.Series([1, 2, 3]), 0),
    ("contract", pd.Series([None, 2.0, None]), 1),
    ("paperless", pd.Series([1, 0, 1]), 0),
    ("paperless", pd.Series(["true", "false", None], dtype="str"), 0),
])
def test_typed_columns_follow_the_same_rule(column: str, values: pd.Series, bad_row: int) -> None:
    frame = pd.DataFrame({name: [GOOD[name]] * len(values) for name in SIGNATURE.column_names})
    frame[column] = values
    with pytest.raises(ValidationError, match=rf"\(row {bad_row}\)") as caught:
        validate(frame, SIGNATURE)
    assert caught.value.field == column


def test_typed_columns_that_convert_losslessly_pass() -> None:
    frame = pd.DataFrame({"tenure": [3.0, 4.0], "charges": pd.Series([1, 2], dtype="int64"),
                          "contract": pd.Series(["One year", None], dtype="str"),
                          "paperless": pd.Series([True, None], dtype="boolean"),
                          "signup": pd.to_datetime(["2024-01-01", None])})
    checked, _ = validate(frame, SIGNATURE)
    assert checked["tenure"].dtype == np.int64 and checked["tenure"].tolist() == [3, 4]
    assert checked["charges"].dtype == np.float64
    decimals = frame.assign(charges=[Decimal("70.50"), None])
    assert validate(decimals, SIGNATURE)[0]["charges"].iloc[0] == 70.5


def test_bad_rows_can_be_set_aside_instead_of_raising() -> None:
    """What batch scoring with ``on_error="skip"`` uses: every bad row found in one pass, the rest checked."""
    frame = pd.DataFrame([GOOD, {**GOOD, "tenure": 2.5}, GOOD, {**GOOD, "charges": "x", "contract": 5}])
    checked, report = validate(frame, SIGNATURE, skip_bad_rows=True)
    assert checked.index.tolist() == [0, 2] and checked["tenure"].dtype == np.int64
    assert [(bad.row, bad.column) for bad in report.refused] == [(1, "tenure"), (3, "charges")]
    assert "2.5" in report.refused[0].message("row 1")


def test_extra_columns_are_dropped_with_a_warning_on_the_python_path() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checked, report = validate([{**GOOD, "zip": "9000"}], SIGNATURE)
    assert report.dropped_columns == ["zip"] and "zip" not in checked.columns
    assert [str(item.message) for item in caught] == ["Dropping 1 column(s) the model does not use: zip."]


def test_infinity_is_refused_as_not_finite_rather_than_as_a_fraction() -> None:
    with pytest.raises(ValidationError) as caught:
        _server({**GOOD, "tenure": math.inf})
    assert "not a finite number" in caught.value.message and "whole number" not in caught.value.message


RANGES = {"charges": FLOAT32}


@pytest.mark.parametrize("sent", [1e39, -1e39, 3.5e38, float(2**128)])
def test_a_number_outside_the_model_input_type_is_refused_on_both_paths(sent: float) -> None:
    """An ONNX graph takes float32: 1e39 would reach it as infinity (and answer [[0.0, 1.0]])."""
    record = {**GOOD, "charges": sent}
    with pytest.raises(ValidationError) as on_server:
        InputChecker(SIGNATURE, RANGES).check(parse_body({"records": [GOOD, record]}))
    with pytest.raises(ValidationError) as on_frame:
        validate([GOOD, record], SIGNATURE, ranges=RANGES)
    typed = pd.DataFrame([GOOD, record]).astype({"charges": "float64"})
    with pytest.raises(ValidationError) as on_typed:
        validate(typed, SIGNATURE, ranges=RANGES)
    assert on_server.value.field == on_frame.value.field == on_typed.value.field == "charges"
    assert on_server.value.message == on_frame.value.message == on_typed.value.message
    assert "float32" in on_server.value.message and "(row 1)" in on_server.value.message


def test_numbers_inside_the_range_pass_and_other_models_keep_float64() -> None:
    largest = float(np.finfo(np.float32).max)
    record = {**GOOD, "charges": largest}
    assert InputChecker(SIGNATURE, RANGES).check(parse_body({"records": [record]}))["charges"] == [largest]
    assert validate([record], SIGNATURE, ranges=RANGES)[0]["charges"].tolist() == [largest]
    assert validate([{**GOOD, "charges": 1e39}], SIGNATURE)[0]["charges"].tolist() == [1e39]  # float64 holds it
