"""A model's input and output schema, inferred from an example and enforced on every predict path.

The signature records, per input column, its kind, whether it may be missing, the levels seen in
training (categoricals) and the range seen (numerics). Enforcement is strict where serving garbage
would be silent (a missing column, a value the coercion rule of :mod:`.coercion` refuses, such as text
in a numeric column) and lenient where production data legitimately differs (unseen levels, values out
of the training range, extra columns): those are accepted and counted or dropped, because monitoring
reports them.

Pure computation: values in, values out; no files, clock or randomness.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from .coercion import BadValue, NumberRange, read_column

if TYPE_CHECKING:
    import pandas as pd

MAX_LEVELS = 1000  # categorical levels kept in a signature; more means the column is an identifier
# An array's columns are x0, x1, ...; an image or sequence (more than 2 dimensions) is flattened to them row-major,
# its shape kept in the signature's tensors, and an Open Inference Protocol tensor named "x" fills them.
TENSOR_NAME = "x"
SIGNATURE_VERSION = 1
KINDS = ("boolean", "integer", "float", "string", "datetime")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # one of KINDS
    nullable: bool
    levels: tuple[str, ...] | None = None  # strings: the values seen in training (None if too many)
    minimum: float | None = None  # numbers: the range seen in training
    maximum: float | None = None


@dataclass(frozen=True)
class OutputSpec:
    kind: str  # "classifier" | "regressor" | "unknown"
    classes: tuple[Any, ...] = ()
    probability_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signature:
    inputs: tuple[ColumnSpec, ...]
    output: OutputSpec = field(default_factory=lambda: OutputSpec("unknown"))
    # A network's tensors: {"input": {"shape": [None, 30], "dtype": "float32"}, "output": {...}} (None: the batch).
    tensors: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.inputs]

    @property
    def input_dims(self) -> list[int] | None:
        """One row of the network's input tensor (its shape after the batch: ``[1, 8, 8]``) when the columns are
        its flattened values (``x0, x1, ...``); ``None`` for a table whose columns have names of their own."""
        tensors = self.tensors or {}
        spec = tensors.get("input") or (tensors.get("inputs") or [None])[0]
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if not isinstance(shape, list) or len(shape) < 2:
            return None
        dims = [int(size) for size in shape[1:]]
        return dims if self.column_names == tensor_columns(math.prod(dims)) else None

    def to_dict(self) -> dict[str, Any]:
        found = {"version": SIGNATURE_VERSION, "inputs": [asdict(column) for column in self.inputs],
                 "output": asdict(self.output)}
        return found if self.tensors is None else {**found, "tensors": self.tensors}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        inputs = tuple(
            ColumnSpec(**{**column, "levels": tuple(column["levels"]) if column.get("levels") is not None else None})
            for column in data["inputs"]
        )
        out = data.get("output") or {"kind": "unknown"}
        output = OutputSpec(out["kind"], tuple(out.get("classes", ())), tuple(out.get("probability_columns", ())))
        return cls(inputs, output, data.get("tensors"))


@dataclass
class ValidationReport:
    """What was accepted but is worth counting: monitoring reads these."""

    rows: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    unseen_levels: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> level -> count
    out_of_range: dict[str, int] = field(default_factory=dict)  # column -> rows outside training range
    missing: dict[str, int] = field(default_factory=dict)  # column -> missing values in a non-nullable column
    refused: list[BadValue] = field(default_factory=list)  # rows left out by validate(skip_bad_rows=True)


def infer_signature(example: Any, model: Any = None) -> Signature:
    """Infer the signature from an input example (DataFrame, Arrow table or 2-D array) and a fitted model."""
    frame = as_frame(example)
    inputs = tuple(_column_spec(str(name), frame[name]) for name in frame.columns)
    return Signature(inputs, infer_output(model), getattr(model, "tensor_spec", None))


def infer_output(model: Any) -> OutputSpec:
    classes = getattr(model, "classes_", None)
    if classes is not None and hasattr(model, "predict_proba"):
        labels = tuple(_plain(value) for value in classes)
        return OutputSpec("classifier", labels, tuple(f"proba_{label}" for label in labels))
    if classes is not None:
        return OutputSpec("classifier", tuple(_plain(value) for value in classes))
    if model is not None and hasattr(model, "predict"):
        return OutputSpec("regressor")
    return OutputSpec("unknown")


def tensor_columns(width: int) -> list[str]:
    return [f"{TENSOR_NAME}{index}" for index in range(width)]


def example_shape(data: Any) -> tuple[int, ...] | None:
    """The shape of an array or tensor example of more than 2 dimensions (an image, a sequence), else ``None``."""
    shape = getattr(data, "shape", None)
    if shape is None or hasattr(data, "columns") or len(shape) <= 2:
        return None
    return tuple(int(size) for size in shape)


def as_frame(data: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """A pandas DataFrame from a DataFrame, Arrow table, list of records or array (an array of more than 2
    dimensions flattened to one column per value, row-major)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if type(data).__module__.startswith("pyarrow"):
        return data.to_pandas()
    if isinstance(data, list) and (not data or isinstance(data[0], dict)):
        return pd.DataFrame.from_records(data, columns=columns)
    import numpy as np

    array = np.asarray(data)
    if array.ndim > 2:
        array = array.reshape(len(array), -1)
    if array.ndim != 2:
        raise ValidationError(f"Expected a table (2 dimensions), got an array of shape {array.shape}.",
                              field="input")
    names = columns or tensor_columns(array.shape[1])
    return pd.DataFrame(array, columns=names)


def validate(data: Any, signature: Signature, *, skip_bad_rows: bool = False,
             ranges: Mapping[str, NumberRange] | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Check and convert input to the signature by the coercion rule (:mod:`.coercion`); returns the frame in
    signature order and a report. Columns the model does not take are dropped with one warning.

    With ``skip_bad_rows`` a row holding a value the rule refuses is left out of the frame (whose index keeps
    the input's labels) and listed in ``report.refused``, instead of raising; batch scoring uses that.
    ``ranges`` are the ranges of the model's input types by column (an ONNX graph's float32), for the rule to
    refuse a number the model cannot take instead of letting it become infinity on the way in.

    Raises:
        ValidationError: a column is missing, or (without ``skip_bad_rows``) a value is refused: the first in
            row order, naming its column and row.
    """
    import pandas as pd

    if isinstance(data, list) and data and isinstance(data[0], dict):
        # Records keep each value as given (as the server reads JSON): a column pandas would make float64 would
        # already have rounded 2**53 + 1 before the rule could refuse it.
        frame = pd.DataFrame(data, dtype=object)
    else:
        _check_shape(data, signature)
        frame = as_frame(data, signature.column_names if not _has_names(data) else None)
    report = ValidationReport(rows=len(frame))
    names = signature.column_names
    missing = [name for name in names if name not in frame.columns]
    if missing:
        shown = ", ".join(repr(name) for name in missing[:5])
        raise ValidationError(
            f"Input is missing column{'s' if len(missing) > 1 else ''} {shown}"
            f"{' and more' if len(missing) > 5 else ''}; the model expects {len(names)} columns: "
            f"{', '.join(names[:10])}{', ...' if len(names) > 10 else ''}.",
            field=missing[0],
        )
    extra = [str(name) for name in frame.columns if name not in set(names)]
    if extra:
        report.dropped_columns = extra
        warnings.warn(f"Dropping {len(extra)} column(s) the model does not use: {', '.join(extra[:10])}.",
                      UserWarning, stacklevel=2)
    bounds = ranges or {}
    read = {spec.name: read_column(frame[spec.name], spec.kind, bounds.get(spec.name)) for spec in signature.inputs}
    refused: dict[int, BadValue] = {}
    for spec in signature.inputs:  # the first refused value of each row, in signature order
        for position in read[spec.name].bad:
            refused.setdefault(int(position), read[spec.name].bad_value(frame[spec.name], int(position), spec.name))
    if refused:
        report.refused = [refused[position] for position in sorted(refused)]
        if not skip_bad_rows:
            raise report.refused[0].error()
        keep = [position for position in range(len(frame)) if position not in refused]
        frame = frame.iloc[keep]
        read = {spec.name: read_column(frame[spec.name], spec.kind, bounds.get(spec.name))
                for spec in signature.inputs}
    columns = {}
    for spec in signature.inputs:
        columns[spec.name] = _text_missing_as_nan(read[spec.name].values) if spec.kind == "string" else read[
            spec.name].values
        _count(columns[spec.name], spec, report)
    return pd.DataFrame(columns, index=frame.index), report


def _check_shape(data: Any, signature: Signature) -> None:
    """An array or tensor of a network's input shape, or refused naming both shapes (its values could not be
    matched to the network's)."""
    dims = signature.input_dims
    shape = getattr(data, "shape", None)
    if dims is None or shape is None or _has_names(data) or len(shape) < 2:
        return
    given = [int(size) for size in shape]
    if given[1:] != dims and given[1:] != [math.prod(dims)]:  # the shape, or its values flattened per row
        wanted = ", ".join(["N", *(str(size) for size in dims)])
        raise ValidationError(f"Input {TENSOR_NAME!r} has shape {given}; the model takes [{wanted}] (rows first).",
                              field=TENSOR_NAME)


def _text_missing_as_nan(values: pd.Series) -> pd.Series:
    """Missing text as NaN, as pandas reads it from a file: scikit-learn's imputers and encoders take NaN, not
    None (the marker JSON records carry), for the missing value they learned in training."""
    import numpy as np

    missing = values.isna()
    return values.where(~missing, np.nan) if values.dtype == object and missing.any() else values


def _has_names(data: Any) -> bool:
    return hasattr(data, "columns") or hasattr(data, "schema") or (
        isinstance(data, list) and bool(data) and isinstance(data[0], dict))


def _column_spec(name: str, series: Any) -> ColumnSpec:
    import pandas as pd

    nullable = bool(series.isna().any())
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnSpec(name, "boolean", nullable)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ColumnSpec(name, "datetime", nullable)
    if pd.api.types.is_numeric_dtype(dtype):
        kind = "integer" if pd.api.types.is_integer_dtype(dtype) else "float"
        present = series.dropna()
        low = float(present.min()) if len(present) else None
        high = float(present.max()) if len(present) else None
        return ColumnSpec(name, kind, nullable, minimum=_finite(low), maximum=_finite(high))
    levels = sorted({str(value) for value in series.dropna().unique()})
    return ColumnSpec(name, "string", nullable, levels=tuple(levels) if len(levels) <= MAX_LEVELS else None)


def _count(values: Any, spec: ColumnSpec, report: ValidationReport) -> None:
    """What was accepted but is worth counting: values outside the training range, unseen levels, missing
    values in a column that had none in training."""
    import pandas as pd

    if spec.kind in ("integer", "float") and spec.minimum is not None and spec.maximum is not None:
        outside = int(((values < spec.minimum) | (values > spec.maximum)).sum())
        if outside:
            report.out_of_range[spec.name] = outside
    if spec.kind == "string" and spec.levels is not None:
        known = set(spec.levels)
        # Compare the few distinct values, not every row; count rows only when something is new.
        distinct = {str(value) for value in values.unique() if not _is_missing(value) and value is not pd.NA}
        unseen_values = sorted(distinct - known)
        if unseen_values:
            unseen = values[values.isin(unseen_values)]
            report.unseen_levels[spec.name] = {str(k): int(v) for k, v in unseen.value_counts().items()}
    missing_count = int(values.isna().sum())
    if missing_count and not spec.nullable:
        report.missing[spec.name] = missing_count


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars, so signatures serialise to JSON."""
    return value.item() if hasattr(value, "item") else value
