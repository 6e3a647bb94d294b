"""Request bodies to checked columns: both body formats, the V2 tensors, and the per-column converters."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from shipyard.errors import MalformedRequestError, ValidationError
from shipyard.models.signature import ColumnSpec, OutputSpec, Signature
from shipyard.serving.inputs import InputChecker, build_frame, build_onnx_feeds, parse_body, parse_v2

SIGNATURE = Signature((
    ColumnSpec("tenure", "integer", False, minimum=1, maximum=71),
    ColumnSpec("charges", "float", True, minimum=18.0, maximum=120.0),
    ColumnSpec("contract", "string", False, levels=("Month-to-month", "One year")),
    ColumnSpec("paperless", "boolean", True),
), OutputSpec("classifier", (0, 1), ("proba_0", "proba_1")))
COLUMNS = SIGNATURE.column_names
RECORDS: list[dict[str, Any]] = [
    {"tenure": 3, "charges": None, "contract": "One year", "paperless": True},
    {"tenure": 40, "charges": 70.5, "contract": "Month-to-month", "paperless": False}]
EXPECTED: dict[str, list[Any]] = {
    "tenure": [3, 40], "charges": [math.nan, 70.5], "contract": ["One year", "Month-to-month"],
    "paperless": [True, False]}


def checked(body: Any, sticky: str | None = None) -> dict[str, list[Any]]:
    return InputChecker(SIGNATURE).check(parse_body(body, sticky))


def same(left: dict[str, list[Any]], right: dict[str, list[Any]]) -> bool:
    def norm(values: list[Any]) -> list[Any]:
        return ["nan" if isinstance(value, float) and math.isnan(value) else value for value in values]

    return left.keys() == right.keys() and all(norm(left[key]) == norm(right[key]) for key in left)


@pytest.mark.parametrize("body", [
    {"records": RECORDS},
    {"dataframe_records": RECORDS},
    {"columns": COLUMNS, "data": [[record[name] for name in COLUMNS] for record in RECORDS]},
    {"dataframe_split": {"columns": COLUMNS, "data": [[record[name] for name in COLUMNS] for record in RECORDS]}},
], ids=["records", "dataframe_records", "columns+data", "dataframe_split"])
def test_every_body_format_reads_to_the_same_columns(body: dict[str, Any]) -> None:
    assert same(checked(body), EXPECTED)
    assert parse_body(body).rows == 2


def test_records_may_list_keys_in_any_order() -> None:
    shuffled = [dict(reversed(list(record.items()))) for record in RECORDS]
    assert same(checked({"records": shuffled}), EXPECTED)


def test_request_id_and_sticky_key_are_read_and_checked() -> None:
    raw = parse_body({"records": RECORDS, "request_id": 17, "sticky_key": "c-9"})
    assert (raw.request_id, raw.sticky_key) == ("17", "c-9")
    with pytest.raises(ValidationError) as caught:
        parse_body({"records": RECORDS, "request_id": ""})
    assert caught.value.field == "request_id"
    with pytest.raises(ValidationError):
        parse_body({"records": RECORDS, "sticky_key": False})


def test_the_sticky_column_leaves_the_inputs_and_keys_the_request() -> None:
    raw = parse_body({"records": [{**record, "customer": "c-1"} for record in RECORDS]}, "customer")
    assert raw.sticky_key == "c-1" and "customer" not in raw.columns
    assert same(InputChecker(SIGNATURE).check(raw), EXPECTED)
    given = parse_body({"records": [{**RECORDS[0], "customer": "c-1"}], "sticky_key": "mine"}, "customer")
    assert given.sticky_key == "mine"  # the body's own sticky_key wins
    absent = parse_body({"records": [{**RECORDS[0], "customer": None}]}, "customer")
    assert absent.sticky_key is None


@pytest.mark.parametrize(("body", "error", "field"), [
    ([], MalformedRequestError, "body"),
    ({}, MalformedRequestError, "records"),
    ({"records": "x"}, MalformedRequestError, "records"),
    ({"records": [RECORDS[0], 5]}, MalformedRequestError, "records"),
    ({"records": []}, ValidationError, "records"),
    ({"columns": ["tenure", 1], "data": []}, MalformedRequestError, "columns"),
    ({"columns": ["tenure", "tenure"], "data": []}, ValidationError, "tenure"),
    ({"columns": COLUMNS, "data": "rows"}, MalformedRequestError, "data"),
    ({"columns": COLUMNS, "data": [[1, 2]]}, ValidationError, "data"),
    ({"dataframe_split": "x"}, MalformedRequestError, "dataframe_split"),
    ({"records": [{k: v for k, v in RECORDS[0].items() if k != "charges"}]}, ValidationError, "charges"),
    ({"records": [RECORDS[0], {k: v for k, v in RECORDS[0].items() if k != "contract"}]}, ValidationError,
     "contract"),
])
def test_a_bad_body_is_refused_naming_the_field(body: Any, error: type[Exception], field: str) -> None:
    with pytest.raises(error) as caught:
        checked(body)
    assert getattr(caught.value, "field", None) == field


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("tenure", 5, 5), ("tenure", 5.0, 5), ("tenure", None, math.nan), ("charges", 70.25, 70.25), ("charges", 70, 70.0),
    ("charges", 2**53, float(2**53)), ("contract", "Two year", "Two year"), ("contract", None, None),
    ("paperless", False, False), ("paperless", None, None),
])
def test_values_convert_to_their_columns_kind(column: str, value: Any, expected: Any) -> None:
    record = {**RECORDS[0], column: value}
    got = checked({"records": [record]})[column][0]
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("column", "value"), [
    ("tenure", "twelve"), ("tenure", True), ("tenure", [1]), ("tenure", 5.5), ("tenure", "12"), ("tenure", " "),
    ("charges", {"v": 1}), ("charges", "70.25"), ("charges", 2**64 - 1), ("contract", {"a": 1}), ("contract", ["x"]),
    ("contract", 3), ("contract", 1.5), ("contract", True), ("paperless", "maybe"), ("paperless", "true"),
    ("paperless", 1), ("paperless", 2), ("paperless", 1.5),
])
def test_a_value_of_the_wrong_kind_is_refused_naming_its_column(column: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        checked({"records": [RECORDS[0], {**RECORDS[1], column: value}]})
    assert caught.value.field == column
    assert column in caught.value.message and "row 1" in caught.value.message


def test_columns_the_model_does_not_take_are_left_out_and_named() -> None:
    raw = parse_body({"records": [{**RECORDS[0], "zip": {"any": 1}, "note": "x"}, {**RECORDS[1], "zip": 2}]})
    checker = InputChecker(SIGNATURE)
    assert list(checker.check(raw)) == COLUMNS
    assert checker.ignored(raw) == ["note", "zip"]


def test_unseen_categories_and_out_of_range_numbers_pass_to_the_model() -> None:
    got = checked({"records": [{**RECORDS[0], "contract": "Ten year", "tenure": 5000}]})
    assert got["contract"] == ["Ten year"] and got["tenure"] == [5000]


def test_v2_inputs_read_like_records() -> None:
    body = {"id": "r1", "inputs": [
        {"name": "tenure", "shape": [2], "datatype": "INT64", "data": [3, 40]},
        {"name": "charges", "shape": [2, 1], "datatype": "FP64", "data": [[None], [70.5]]},
        {"name": "contract", "shape": [2], "datatype": "BYTES", "data": ["One year", "Month-to-month"]},
        {"name": "paperless", "shape": [2], "datatype": "BOOL", "data": [True, False]},
    ], "parameters": {"sticky_key": "k", "content_type": "pd"}}
    raw = parse_v2(body)
    assert (raw.rows, raw.request_id, raw.sticky_key) == (2, "r1", "k")
    assert same(InputChecker(SIGNATURE).check(raw), EXPECTED)


@pytest.mark.parametrize(("inputs", "error", "field"), [
    ("x", MalformedRequestError, "inputs"),
    ([{"shape": [1], "datatype": "FP64", "data": [1]}], MalformedRequestError, "inputs"),
    ([{"name": "tenure", "datatype": "FP64", "data": [1]}], MalformedRequestError, "tenure"),
    ([{"name": "tenure", "shape": [1], "datatype": "FP64", "data": 1}], MalformedRequestError, "tenure"),
    ([{"name": "tenure", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}], ValidationError, "tenure"),
    ([{"name": "tenure", "shape": [3], "datatype": "FP64", "data": [1, 2]}], ValidationError, "tenure"),
    ([{"name": "tenure", "shape": [1], "datatype": "FP64", "data": ["1"]}], ValidationError, "tenure"),
    ([{"name": "tenure", "shape": [1], "datatype": "FP64", "data": [True]}], ValidationError, "tenure"),
    ([{"name": "tenure", "shape": [1], "datatype": "COMPLEX", "data": [1]}], ValidationError, "tenure"),
    ([{"name": "tenure", "shape": [1], "datatype": "FP64", "data": [1]},
      {"name": "charges", "shape": [2], "datatype": "FP64", "data": [1, 2]}], ValidationError, "charges"),
    ([{"name": "tenure", "shape": [1], "datatype": "FP64", "data": [1]},
      {"name": "tenure", "shape": [1], "datatype": "FP64", "data": [1]}], ValidationError, "tenure"),
])
def test_bad_v2_tensors_are_refused_naming_the_input(inputs: Any, error: type[Exception], field: str) -> None:
    with pytest.raises(error) as caught:  # when read, or (a shape only the model knows) when checked for the model
        InputChecker(SIGNATURE).check(parse_v2({"inputs": inputs}))
    assert getattr(caught.value, "field", None) == field


IMAGE_SIGNATURE = Signature(tuple(ColumnSpec(f"x{index}", "float", False) for index in range(8)),
                            tensors={"input": {"shape": [None, 2, 2, 2], "dtype": "float32"}})


@pytest.mark.parametrize("data", [list(range(16)), [[[[0, 1], [2, 3]], [[4, 5], [6, 7]]],
                                                     [[[8, 9], [10, 11]], [[12, 13], [14, 15]]]]])
def test_a_v2_tensor_of_images_fills_the_flattened_columns_row_major(data: list[Any]) -> None:
    raw = parse_v2({"inputs": [{"name": "x", "shape": [2, 2, 2, 2], "datatype": "FP32", "data": data}]})
    assert (raw.rows, raw.shapes) == (2, {"x": [2, 2, 2, 2]})
    columns = InputChecker(IMAGE_SIGNATURE).check(raw)
    assert [list(columns[f"x{index}"]) for index in range(8)] == [[index, index + 8] for index in range(8)]


@pytest.mark.parametrize(("inputs", "message"), [
    ([{"name": "x", "shape": [1, 2, 4], "datatype": "FP32", "data": [0] * 8}],
     "Input 'x' has shape [1, 2, 4]; this model takes one input 'x' of shape [N, 2, 2, 2] (N rows)."),
    ([{"name": "pixels", "shape": [1, 2, 2, 2], "datatype": "FP32", "data": [0] * 8}],
     "Input 'pixels' has shape [1, 2, 2, 2]; this model takes one input 'x' of shape [N, 2, 2, 2] (N rows)."),
    ([{"name": "x", "shape": [1, 2, 2, 2], "datatype": "FP32", "data": [0] * 7}],
     "Input 'x' has shape [1, 2, 2, 2] but 7 values."),
    ([{"name": "x", "shape": [1, 2, 2, 2], "datatype": "BYTES", "data": ["a"] * 8}],
     "Input 'x' has datatype 'BYTES'; a tensor of numbers is FP32, FP64 or an integer type."),
])
def test_a_v2_image_of_the_wrong_shape_is_refused_naming_the_input(inputs: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        InputChecker(IMAGE_SIGNATURE).check(parse_v2({"inputs": inputs}))
    assert caught.value.message == message and caught.value.field == inputs[0]["name"]


def test_the_frame_has_the_training_dtypes() -> None:
    frame = build_frame(SIGNATURE, checked({"records": RECORDS}))
    assert list(frame.columns) == COLUMNS
    assert frame["tenure"].dtype == np.int64 and frame["charges"].dtype == np.float64
    assert frame["contract"].tolist() == ["One year", "Month-to-month"]
    assert frame["paperless"].tolist() == [True, False]


def test_an_integer_column_stays_float_when_it_cannot_be_int64() -> None:
    for values in ([3.0, math.nan], [3.0, 4.5], [3.0, float(2**64 - 1)], [1e26, -1e26]):
        columns: dict[str, list[Any]] = {"tenure": values, "charges": [1.0, 2.0], "contract": ["a", "b"],
                                         "paperless": [True, None]}
        frame = build_frame(SIGNATURE, columns)
        assert frame["tenure"].dtype == np.float64, values
        np.testing.assert_array_equal(frame["tenure"].to_numpy(), np.array(values))  # no value made up by a cast


def test_onnx_feeds_are_one_n_by_1_tensor_per_column() -> None:
    feeds = build_onnx_feeds(SIGNATURE, checked({"records": RECORDS}))
    assert set(feeds) == set(COLUMNS)
    assert feeds["tenure"].shape == (2, 1) and feeds["tenure"].dtype == np.float32
    assert math.isnan(feeds["charges"][0, 0])
    assert feeds["contract"].dtype == object and feeds["contract"][:, 0].tolist() == ["One year", "Month-to-month"]
