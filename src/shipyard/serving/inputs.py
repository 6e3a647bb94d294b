"""Request bodies to checked columns, without pandas on the request path.

``models.signature.validate`` is right for batch files but costs milliseconds per call, most of it
building and casting DataFrames. A one-row request must cost microseconds, so each deployment compiles
its signature into per-column converters that check plain Python values; the batcher builds one
DataFrame (or one set of ONNX feeds) for many requests at once. Values are read by the one coercion rule
of :mod:`shipyard.models.coercion` (lossless conversions only), value by value with the same readers the
DataFrame path uses; a missing column or a refused value is a 422 naming the column and the row. Columns
the model does not take are left out and reported (:meth:`InputChecker.ignored`): a client that sends the
union of the columns of two variants, or of a model version and the next, must not fail. Unseen
categories and out-of-range numbers are accepted (monitoring counts them from the log).

A network on images or sequences has the columns ``x0, x1, ...`` (its input's values, flattened row-major; see
:mod:`shipyard.models.signature`). An Open Inference Protocol input of more than one value per row, ``{"name": "x",
"shape": [N, 1, 8, 8], ...}``, fills those columns, and its shape is checked against the model's (a 422 naming the
input when it differs); the records of ``/predict`` may name the columns themselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from ..errors import MalformedRequestError, ValidationError
from ..models.coercion import NumberRange, datetime_column, read_values, reader
from ..models.onnx_imputers import MISSING_TEXT
from ..models.signature import TENSOR_NAME, Signature, tensor_columns
from ..predlog.schema import Columns
from ..store.text import decode_text
from .jsonbody import loads

_MISSING = object()
V2_INTEGERS = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


def _v2_integer(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value.is_integer())


# What a tensor's declared datatype may hold; the column's kind then decides (``shipyard.models.coercion``).
_V2_HOLDS = {"BYTES": lambda value: isinstance(value, str), "BOOL": lambda value: isinstance(value, bool),
             **dict.fromkeys(V2_INTEGERS, _v2_integer),
             **dict.fromkeys(("FP16", "FP32", "FP64"), lambda value: type(value) in (int, float))}


@dataclass
class RawRequest:
    """A request body read into columns, not yet checked against any model (variants may differ)."""

    columns: Columns  # every column the body named; absent record keys hold _MISSING
    rows: int
    request_id: str | None = None
    sticky_key: str | None = None
    source: str = "records"
    gaps: set[str] = field(default_factory=set)  # columns some records lack (their values hold _MISSING there)
    shapes: dict[str, list[int]] = field(default_factory=dict)  # tensor inputs of several values per row: their shape


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BODY_ADVICE = "send the JSON body encoded as UTF-8"


def parse_json(data: bytes, *, sliced: bool = False) -> Any:
    """A request body as JSON: UTF-8 strictly (400 naming the byte offset otherwise), and numbers too large for a
    64-bit float (``1e309``) read as infinity, so that the column checks refuse them naming the column.

    orjson refuses a whole body for such a number ("number is infinity when parsed as double"), which would be a
    400 that names no column. Only then, and only when the bytes at orjson's error position do spell a number that
    overflows, is the body parsed again by the standard library (slower, rare); JSON's ``NaN``/``Infinity``
    literals stay invalid, as do strings orjson refuses (lone surrogates).
    """
    import orjson

    try:
        return loads(data, sliced=sliced)  # orjson, or the standard library when an integer may be past 64 bits
    except orjson.JSONDecodeError as exc:
        error = exc
    text = decode_text(data, "The request body", advice=_BODY_ADVICE, field="body")
    number = _JSON_NUMBER.match(text, error.pos)
    if number is None or not math.isinf(float(number.group())):
        raise MalformedRequestError(f"The body is not valid JSON: {error}.", field="body") from None
    return _with_huge_numbers(text, error)


def _with_huge_numbers(text: str, error: Exception) -> Any:
    import json

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is an integer of 4,300+ digits
        raise MalformedRequestError(f"The body is not valid JSON: {error}.", field="body") from None
    if _has_lone_surrogate(value):
        raise MalformedRequestError("The body is not valid JSON: a string holds a lone surrogate escape.",
                                    field="body")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_body(body: Any, sticky_column: str | None = None) -> RawRequest:
    """Read a ``/predict`` body: ``{"records": [...]}`` or ``{"columns": [...], "data": [[...]]}`` (MLflow's
    ``dataframe_records`` / ``dataframe_split`` are read too). ``sticky_column`` is taken out of the inputs
    and its first value becomes the sticky key unless the body gives ``sticky_key``."""
    if not isinstance(body, dict):
        raise MalformedRequestError("The request body must be a JSON object with 'records', or 'columns' and "
                                    "'data'.", field="body")
    request_id = _optional_id(body.get("request_id"), "request_id")
    sticky = _optional_id(body.get("sticky_key"), "sticky_key")
    if "records" in body or "dataframe_records" in body:
        key = "records" if "records" in body else "dataframe_records"
        raw, rows, gaps = _from_records(body[key], key)
    elif "columns" in body or "dataframe_split" in body:
        key = "dataframe_split" if "dataframe_split" in body else "data"
        split = body.get("dataframe_split", body)
        if not isinstance(split, dict):
            raise MalformedRequestError("'dataframe_split' must be an object with 'columns' and 'data'.",
                                        field="dataframe_split")
        raw, rows = _from_split(split.get("columns"), split.get("data"))
        gaps = set()
    else:
        raise MalformedRequestError("The request body needs 'records' (a list of objects) or 'columns' and "
                                    "'data' (a list of rows).", field="records")
    return _with_sticky(RawRequest(raw, rows, request_id, sticky, key, gaps), sticky_column)


def parse_v2(body: Any, sticky_column: str | None = None) -> RawRequest:
    """Read an Open Inference Protocol request: one named input per column, ``shape [N]`` or ``[N, 1]``; or a
    tensor of several values per row (``[N, 1, 8, 8]``), whose values become the columns ``<name>0, <name>1, ...``
    and whose shape the model's check compares with its own."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise MalformedRequestError("An inference request needs 'inputs': a list of {name, shape, datatype, "
                                    "data}, one per column.", field="inputs")
    raw: Columns = {}
    shapes: dict[str, list[int]] = {}
    rows: int | None = None
    for index, item in enumerate(body["inputs"]):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise MalformedRequestError(f"inputs[{index}] must be an object with a 'name'.", field="inputs")
        name = item["name"]
        columns = _v2_tensor(item, name)
        if columns is None:
            columns = {name: _v2_values(item, name)}
        else:
            shapes[name] = item["shape"]
        for column, values in columns.items():
            if rows is not None and len(values) != rows:
                raise ValidationError(f"Input {name!r} has {len(values)} rows but the others have {rows}; every "
                                      "input needs one value (or one tensor) per row.", field=name)
            rows = len(values)
            if column in raw:
                raise ValidationError(f"Input {column!r} is given twice.", field=name)
            raw[column] = values
    parameters = body.get("parameters")
    given = parameters.get("sticky_key") if isinstance(parameters, dict) else None
    sticky = _optional_id(given, "parameters.sticky_key")
    request = RawRequest(raw, rows or 0, _optional_id(body.get("id"), "id"), sticky, "inputs", shapes=shapes)
    return _with_sticky(request, sticky_column)


class InputChecker:
    """A signature compiled into per-column readers; one per served model version."""

    def __init__(self, signature: Signature, ranges: Mapping[str, NumberRange] | None = None) -> None:
        self.signature = signature
        self.names = signature.column_names
        self.known = set(self.names)
        bounds = ranges or {}  # the model's input types: an ONNX graph takes float32 (see models.coercion)
        self._kinds = [(spec.name, spec.kind, reader(spec.kind, bounds.get(spec.name))) for spec in signature.inputs]
        dims = signature.input_dims  # a network's images or sequences: the shapes a tensor input may have per row
        self._tensor_shapes = [] if dims is None else [dims, [math.prod(dims)]]

    def check(self, request: RawRequest) -> Columns:
        """Read every value of every model column by the coercion rule; columns the model does not take are
        left out (see :meth:`ignored`)."""
        raw, rows, where = request.columns, request.rows, request.source
        if rows == 0:
            raise ValidationError("The request has no rows; send at least one.", field=where)
        for name, shape in request.shapes.items():
            if name != TENSOR_NAME or shape[1:] not in self._tensor_shapes:
                raise ValidationError(f"Input {name!r} has shape {shape}; {self._takes()}.", field=name)
        missing = [name for name in self.names if name not in raw]
        if missing:
            raise ValidationError(
                f"Column {missing[0]!r} is missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; the model expects {len(self.names)} columns: {', '.join(self.names[:12])}"
                + (", ..." if len(self.names) > 12 else "") + ".", field=missing[0])
        for name in self.names:
            if name in request.gaps:
                row = next(row for row, value in enumerate(raw[name]) if value is _MISSING)
                raise ValidationError(f"{where}[{row}] has no column {name!r}; every record needs all "
                                      f"{len(self.names)} model inputs (send null for an unknown value).", field=name)
        return {name: read_values(raw[name], name, kind, read) for name, kind, read in self._kinds}

    def _takes(self) -> str:
        if not self._tensor_shapes:
            return "this model takes one input per column, with shape [N] or [N, 1]"
        dims = ", ".join(str(size) for size in self._tensor_shapes[0])
        return f"this model takes one input {TENSOR_NAME!r} of shape [N, {dims}] (N rows)"

    def ignored(self, request: RawRequest) -> list[str]:
        """The columns of ``request`` this model does not take, sorted: they are dropped, and the answer says so."""
        return sorted(name for name in request.columns if name not in self.known)


def _with_sticky(request: RawRequest, sticky_column: str | None) -> RawRequest:
    if sticky_column and sticky_column in request.columns:
        values = request.columns.pop(sticky_column)
        if request.sticky_key is None and values and values[0] is not None and values[0] is not _MISSING:
            request.sticky_key = str(values[0])
    return request


def _from_records(records: Any, key: str) -> tuple[Columns, int, set[str]]:
    if not isinstance(records, list):
        raise MalformedRequestError(f"'{key}' must be a list of objects, one per row.", field=key)
    if not records:
        return {}, 0, set()
    first = records[0]
    if not isinstance(first, dict):
        raise MalformedRequestError(f"{key}[0] must be an object of column: value.", field=key)
    raw: Columns = {name: [] for name in first}
    gaps: set[str] = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise MalformedRequestError(f"{key}[{index}] must be an object of column: value.", field=key)
        if record.keys() != raw.keys():
            for name in record:
                if name not in raw:
                    raw[name] = [_MISSING] * index
                    gaps.add(name)
            gaps.update(name for name in raw if name not in record)
        for name, values in raw.items():
            values.append(record.get(name, _MISSING))
    return raw, len(records), gaps


def _from_split(columns: Any, data: Any) -> tuple[Columns, int]:
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise MalformedRequestError("'columns' must be a list of column names.", field="columns")
    if len(set(columns)) != len(columns):
        duplicate = next(name for name in columns if columns.count(name) > 1)
        raise ValidationError(f"Column {duplicate!r} appears twice in 'columns'.", field=duplicate)
    if not isinstance(data, list):
        raise MalformedRequestError("'data' must be a list of rows, each a list of values in 'columns' order.",
                                    field="data")
    raw: Columns = {name: [] for name in columns}
    width = len(columns)
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise ValidationError(f"data[{index}] must be a list of {width} values (one per column).", field="data")
        for name, value in zip(columns, row, strict=True):
            raw[name].append(value)
    return raw, len(data)


def build_frame(signature: Signature, columns: Columns) -> Any:
    """One DataFrame for a batch, typed as the signature says (what the Python model was trained on)."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    for spec in signature.inputs:
        values = columns[spec.name]
        if spec.kind == "integer" and all(type(value) is int for value in values):
            data[spec.name] = np.array(values, dtype="int64")  # straight from the ints: a float would round past 2**53
        elif spec.kind in ("integer", "float"):
            data[spec.name] = np.array(values, dtype="float64")  # integers with a missing value: as pandas has them
        elif spec.kind == "boolean":
            data[spec.name] = (pd.array(values, dtype="boolean") if any(value is None for value in values)
                               else np.array(values, dtype=bool))
        elif spec.kind == "datetime":
            data[spec.name] = datetime_column(values).to_numpy()
        else:
            array = np.empty(len(values), dtype=object)
            array[:] = values
            data[spec.name] = array
    # copy=False: the arrays are ours and fresh; copying them would cost more than the model's own input check.
    return pd.DataFrame(data, index=pd.RangeIndex(len(next(iter(columns.values()), []))), copy=False)


def build_onnx_feeds(signature: Signature, columns: Columns) -> dict[str, Any]:
    """ONNX inputs straight from the checked columns: the ``(N, 1)`` tensors of ``models.onnx_export`` (missing
    text as ``MISSING_TEXT``, the value the export's string imputers look for)."""
    import numpy as np

    feeds = {}
    for spec in signature.inputs:
        values = columns[spec.name]
        if spec.kind == "string":
            array = np.array([MISSING_TEXT if value is None else value for value in values], dtype=object)
        else:
            array = np.array([math.nan if value is None else float(value) for value in values], dtype="float32")
        feeds[spec.name] = array.reshape(-1, 1)
    return feeds


def _v2_tensor(item: dict[str, Any], name: str) -> dict[str, list[Any]] | None:
    """The columns ``<name>0, <name>1, ...`` of an input of several values per row (shape ``[N, 1, 8, 8]``,
    data flat or nested, row-major), or ``None`` for a column (shape ``[N]`` or ``[N, 1]``)."""
    shape = item.get("shape")
    if not isinstance(shape, list) or len(shape) < 2 or not all(
            type(size) is int and size >= 0 for size in shape) or math.prod(shape[1:]) <= 1:
        return None
    data = item.get("data")
    if not isinstance(data, list):
        raise MalformedRequestError(f"Input {name!r} needs 'data', a list of values.", field=name)
    flat = data
    while any(isinstance(value, list) for value in flat):  # nested rows: flatten, row-major
        flat = list(chain.from_iterable(value if isinstance(value, list) else [value] for value in flat))
    if len(flat) != math.prod(shape):
        raise ValidationError(f"Input {name!r} has shape {shape} but {len(flat)} values.", field=name)
    datatype = item.get("datatype")
    holds = _V2_HOLDS.get(datatype) if isinstance(datatype, str) and datatype != "BYTES" else None
    if holds is None:
        raise ValidationError(f"Input {name!r} has datatype {datatype!r}; a tensor of numbers is FP32, FP64 or an "
                              "integer type.", field=name)
    bad = next((value for value in flat if value is not None and not holds(value)), None)
    if bad is not None:
        raise ValidationError(f"Input {name!r} is declared {datatype} but holds {bad!r}.", field=name)
    width = math.prod(shape[1:])
    return {column: flat[index::width] for index, column in enumerate(_columns_of(name, width))}


def _columns_of(name: str, width: int) -> list[str]:
    return tensor_columns(width) if name == TENSOR_NAME else [f"{name}{index}" for index in range(width)]


def _v2_values(item: dict[str, Any], name: str) -> list[Any]:
    data = item.get("data")
    if not isinstance(data, list):
        raise MalformedRequestError(f"Input {name!r} needs 'data', a list of values.", field=name)
    shape = item.get("shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(size, int) for size in shape):
        raise MalformedRequestError(f"Input {name!r} needs 'shape', e.g. [N] or [N, 1] for N rows.", field=name)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise ValidationError(f"Input {name!r} has shape {shape}; tabular inference takes one input per column "
                              "with shape [N] or [N, 1].", field=name)
    flat = [value[0] if isinstance(value, list) and len(value) == 1 else value for value in data]
    if len(flat) != shape[0]:
        raise ValidationError(f"Input {name!r} has shape {shape} but {len(flat)} values.", field=name)
    datatype = item.get("datatype")
    if isinstance(datatype, str) and datatype in _V2_HOLDS:
        holds = _V2_HOLDS[datatype]
        bad = next((value for value in flat if value is not None and not holds(value)), None)
        if bad is not None:
            raise ValidationError(f"Input {name!r} is declared {datatype} but holds {bad!r}.", field=name)
        return flat
    raise ValidationError(f"Input {name!r} has datatype {datatype!r}; use BYTES for text, BOOL, or FP32/FP64/INT64 "
                          "for numbers.", field=name)


def _optional_id(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"'{field}' must be a string (or a number), got {value!r}.", field=field)
    text = str(value)
    if not text or len(text) > 200:
        raise ValidationError(f"'{field}' must be 1 to 200 characters long.", field=field)
    return text
