"""The one rule for reading a value as a model column's kind: lossless conversions only.

Every predict path applies it: the server to each JSON value (``/predict``, the Open Inference Protocol),
``load_model(...).predict`` and ``shipyard predict`` to DataFrame columns. A value is never guessed at: text
that looks like a number is still text, because a client that sends ``"89.5"`` for a number has a bug that
silent parsing would hide until a value like ``"89,5"`` arrives. The rule, as docs/models.md states it:

=========  ===================================================  ==============================================
kind       accepted                                             refused
=========  ===================================================  ==============================================
integer    integers in the 64-bit range; a number with no       2.5, infinity, true/false, text ("3"),
           fractional part (3.0 becomes 3)                      integers past 64 bits
float      finite numbers; an integer a float holds exactly     infinity, true/false, text ("89.5"), an integer
           (3 becomes 3.0)                                      a float cannot hold (2**53 + 1), a number
                                                                outside the model's input type (1e39: float32)
boolean    true/false                                           numbers (1, 0), text ("true")
string     text                                                 numbers, true/false
datetime   ISO 8601 text, date/time values                      other text, numbers
=========  ===================================================  ==============================================

``null`` (None, NaN, NA) is a missing value in any column; lists and objects are refused everywhere. Infinity is
never a value: a model fed one answers NaN or a saturated probability, and JSON numbers past 1.8e308 (``1e309``)
read as infinity. A model whose inputs are narrower than float64 (an ONNX graph takes float32) declares a
:class:`NumberRange` per column, and a number outside it is refused rather than rounded to infinity on the way in.
A CSV file holds only text, so batch scoring first reads each cell as what it spells for its column
(:func:`from_text`: ``3.0`` is a number, ``true``/``1`` a boolean, an empty cell missing) and then applies
the same rule, which is why ``2.5`` in an integer column of a CSV is refused exactly as in JSON.

Values in, values out: no files, clock or randomness. pandas and numpy are imported only by the
column functions; the per-value readers the server uses import nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT_FLOAT_INT = 2**53  # every integer up to this size is exactly a float
EXPECTS = {"integer": "integer values", "float": "float values", "boolean": "true/false", "string": "text",
           "datetime": "a date/time"}
UNKNOWN = "or null if it is unknown"
CSV_TRUE, CSV_FALSE = ("true", "True", "TRUE", "1"), ("false", "False", "FALSE", "0")

ValueReader = Callable[[Any], Any]


@dataclass(frozen=True)
class NumberRange:
    """The finite numbers a model's input type holds: ``limit`` is the largest magnitude."""

    name: str
    limit: float

    def advice(self) -> str:
        return (f"it is outside the {self.name} range the model's input takes (magnitude up to {self.limit:.7g}); "
                f"send a smaller number, {UNKNOWN}")


FLOAT32 = NumberRange("float32", 3.4028234663852886e38)
NOT_FINITE = (f"it is not a finite number (infinity, or a number past 1.8e308 such as 1e309); send a finite number, "
              f"{UNKNOWN}")


class ValueRefused(Exception):
    """A value the rule refuses; ``advice`` says what to send instead (the message's last clause)."""

    def __init__(self, advice: str) -> None:
        super().__init__(advice)
        self.advice = advice


@dataclass(frozen=True)
class BadValue:
    """A refused value: where it was, what it was and what to send instead."""

    row: int  # 0-based position in the input
    column: str
    kind: str
    value: Any
    advice: str

    def message(self, where: str) -> str:
        """The sentence every path shows, ``where`` being e.g. ``row 3``."""
        return f"Column {self.column!r} expects {EXPECTS[self.kind]}, got {shown(self.value)} ({where}); {self.advice}."

    def short(self) -> str:
        """The same without the column and the place, for a listing that already has both."""
        return f"expected {EXPECTS[self.kind]}, got {shown(self.value)}; {self.advice}"

    def error(self, where: str | None = None) -> ValidationError:
        return ValidationError(self.message(where or f"row {self.row}"), field=self.column)


def shown(value: Any) -> str:
    text = repr(value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_missing(value: Any) -> bool:
    """None, NaN, pandas' NA and NaT: a missing value in any column."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType") or (type(value).__name__ == "datetime64" and value != value)


def reader(kind: str, bound: NumberRange | None = None) -> ValueReader:
    """The per-value reader of ``kind``: returns the value the model sees (``math.nan`` or ``None`` when missing)
    or raises :class:`ValueRefused`. The common types are tested first: the server calls this per value.
    ``bound`` is the range of the model's input type for a float column (None: float64, any finite number)."""
    if kind == "float" and bound is not None:
        return _bounded(bound)
    return {"integer": _integer, "float": _float, "boolean": _boolean, "datetime": _moment}.get(kind, _text)


def _bounded(bound: NumberRange) -> ValueReader:
    limit = bound.limit

    def read(value: Any) -> Any:
        number = _float(value)
        if -limit <= number <= limit or number != number:
            return number
        raise ValueRefused(bound.advice())

    return read


def _integer(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise ValueRefused(f"it is outside the 64-bit integer range; send a smaller number, {UNKNOWN}")
    if kind is float:
        if value.is_integer() and -(2.0**63) <= value < 2.0**63:
            return int(value)
        if value != value:
            return math.nan
        if math.isinf(value):
            raise ValueRefused(NOT_FINITE)
        if value.is_integer():
            raise ValueRefused(f"it is outside the 64-bit integer range; send a smaller number, {UNKNOWN}")
        raise ValueRefused(f"it is not a whole number; send an integer, {UNKNOWN}")
    if value is None or is_missing(value):
        return math.nan
    return _integer(_as_number(value))


def _float(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        if value - value == 0.0 or value != value:  # finite, or NaN (missing): the common case costs one test
            return value
        raise ValueRefused(NOT_FINITE)
    if kind is int:
        if -EXACT_FLOAT_INT <= value <= EXACT_FLOAT_INT or _exact_float(value):
            return float(value)
        raise ValueRefused(f"a float cannot hold this integer exactly; send it as a float if rounding is fine, "
                           f"{UNKNOWN}")
    if value is None or is_missing(value):
        return math.nan
    return _float(_as_number(value))


def _exact_float(value: int) -> bool:
    try:
        return float(value) == value
    except OverflowError:
        return False


def _as_number(value: Any) -> int | float:
    """numpy and Decimal numbers as Python ones; anything else refused with the reason."""
    if isinstance(value, bool) or _numpy_bool(value):
        raise ValueRefused(f"true/false is not a number; send a number, {UNKNOWN}")
    if isinstance(value, str):
        if _spells_a_number(value):
            raise ValueRefused(f"text is not a number, even when it spells one: send {value.strip()} without "
                               f"quotes, {UNKNOWN}")
        raise ValueRefused(f"send a number, {UNKNOWN}")
    if type(value).__module__ == "numpy" and getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u", "f"):
        number: int | float = value.item()
        return number
    if isinstance(value, float):  # subclasses as plain floats: the readers test the exact type
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite():
        return int(value) if value == value.to_integral_value() else float(value)
    raise ValueRefused(f"send a number, {UNKNOWN}")


def _spells_a_number(text: str) -> bool:
    """Whether JSON could carry what ``text`` spells (so "send it without quotes" is advice that works)."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _numpy_bool(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) or (
        type(value).__module__ == "numpy" and getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u", "f"))


def _boolean(value: Any) -> Any:
    if value is True or value is False:
        return value
    if value is None or is_missing(value):
        return None
    if _numpy_bool(value):
        return bool(value)
    if isinstance(value, str):
        raise ValueRefused(f"text is not true/false: send true or false without quotes, {UNKNOWN}")
    if _numeric(value):
        raise ValueRefused(f"a number is not true/false: send true or false, {UNKNOWN}")
    raise ValueRefused(f"send true or false, {UNKNOWN}")


def _text(value: Any) -> Any:
    if type(value) is str:
        return value
    if value is None or is_missing(value):
        return None
    if isinstance(value, str):  # numpy.str_ and other str subclasses
        return str(value)
    if isinstance(value, bool) or _numpy_bool(value):
        raise ValueRefused(f"true/false is not text: send it as a string (\"{str(value).lower()}\"), {UNKNOWN}")
    if _numeric(value):
        raise ValueRefused(f"a number is not text: send it as a string (\"{shown(value)}\"), {UNKNOWN}")
    raise ValueRefused(f"send a string, {UNKNOWN}")


_ISO_ADVICE = f"send ISO 8601 text such as \"2024-05-01\" or \"2024-05-01T12:30:00Z\", {UNKNOWN}"


def _moment(value: Any) -> Any:
    if value is None or is_missing(value):
        return None
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueRefused(_ISO_ADVICE) from None
        return value
    if isinstance(value, date) or type(value).__name__ == "datetime64":
        return value
    raise ValueRefused(_ISO_ADVICE)


def read_values(values: list[Any], column: str, kind: str, read: ValueReader | None = None) -> list[Any]:
    """Every value of one column read by the rule; the first refused one raises, naming its row."""
    read = read or reader(kind)
    try:
        return [read(value) for value in values]
    except ValueRefused:
        pass
    for row, value in enumerate(values):  # the rare path: find which value it was
        try:
            read(value)
        except ValueRefused as refused:
            raise BadValue(row, column, kind, value, refused.advice).error() from None
    raise AssertionError("a value was refused once and accepted the second time")  # pragma: no cover


def datetime_column(values: Any) -> pd.Series:
    """Date/time values (checked ISO text, datetimes or missing) as one datetime column; mixed UTC offsets are
    converted to UTC rather than refused, the way pandas would otherwise leave an object column."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    series = series.map(lambda value: value.strip() if isinstance(value, str) else value)
    try:
        return pd.to_datetime(series, format="ISO8601")
    except (ValueError, TypeError):
        return pd.to_datetime(series, format="ISO8601", utc=True)


@dataclass
class ReadColumn:
    """A column read by the rule: the values the model sees and the positions of the refused ones."""

    values: pd.Series
    bad: np.ndarray  # positions, ascending
    kind: str
    bound: NumberRange | None = None

    def bad_value(self, original: pd.Series, position: int, column: str) -> BadValue:
        value = original.iloc[position]
        try:
            reader(self.kind, self.bound)(value)
        except ValueRefused as refused:
            return BadValue(position, column, self.kind, value, refused.advice)
        raise AssertionError(f"{value!r} was refused in column {column!r} but its reader accepts it")


def read_column(series: pd.Series, kind: str, bound: NumberRange | None = None) -> ReadColumn:
    """A whole DataFrame column read by the rule, vectorised for typed columns (``bound`` as in :func:`reader`).

    The verdicts are those of :func:`reader` value by value (a test holds both paths to the same table of
    cases); only the way they are reached differs, because a 50,000-row batch cannot afford Python per value.
    """
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    none = np.empty(0, dtype=np.int64)
    if kind in ("integer", "float") and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        missing = series.isna().to_numpy()
        if pd.api.types.is_integer_dtype(dtype) and not missing.any():
            return _integers(series, kind)
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        if kind == "float":
            if pd.api.types.is_integer_dtype(dtype):  # with missing values: check the integers one by one
                return _by_value(series, kind)
            limit = np.inf if bound is None else bound.limit
            with np.errstate(invalid="ignore"):  # NaN compares false: missing, never refused
                bad = np.flatnonzero(np.abs(numbers) > limit) if bound else np.flatnonzero(np.isinf(numbers))
            return ReadColumn(pd.Series(numbers, index=series.index), bad, kind, bound)
        whole = np.isnan(numbers) | (np.isfinite(numbers) & (numbers == np.round(numbers))
                                     & (np.abs(numbers) < 2.0**63))
        bad = np.flatnonzero(~whole)
        if missing.any() or len(bad):
            return ReadColumn(pd.Series(numbers, index=series.index), bad, kind)
        return ReadColumn(pd.Series(numbers.astype("int64"), index=series.index), none, kind)
    if kind == "boolean" and pd.api.types.is_bool_dtype(dtype):
        return ReadColumn(series, none, kind)
    if kind == "string" and ((pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype))
                             or pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")):
        return ReadColumn(series, none, kind)
    if kind == "datetime" and pd.api.types.is_datetime64_any_dtype(dtype):
        return ReadColumn(series, none, kind)
    return _by_value(series, kind, bound)


def _integers(series: pd.Series, kind: str) -> ReadColumn:
    import numpy as np
    import pandas as pd

    values = series.to_numpy()
    none = np.empty(0, dtype=np.int64)
    if kind == "integer":
        if values.dtype.kind == "u" and len(values) and values.max() > INT64_MAX:
            return _by_value(series, kind)
        return ReadColumn(pd.Series(values.astype("int64"), index=series.index), none, kind)
    numbers = values.astype("float64")
    large = np.flatnonzero((values > EXACT_FLOAT_INT) | (values < -EXACT_FLOAT_INT))  # compared as integers
    bad = np.array([position for position in large if not _exact_float(int(values[position]))], dtype=np.int64)
    return ReadColumn(pd.Series(numbers, index=series.index), bad, kind)


def _by_value(series: pd.Series, kind: str, bound: NumberRange | None = None) -> ReadColumn:
    """Object columns (what records with mixed values give) and anything unusual: the per-value reader."""
    import numpy as np
    import pandas as pd

    read = reader(kind, bound)
    out: list[Any] = []
    bad: list[int] = []
    for position, value in enumerate(series.to_numpy(dtype=object)):
        try:
            out.append(read(value))
        except ValueRefused:
            bad.append(position)
            out.append(None)
    positions = np.array(bad, dtype=np.int64)
    if kind in ("integer", "float"):
        numbers = [math.nan if value is None else value for value in out]
        whole = kind == "integer" and not bad and all(type(value) is int for value in numbers)
        values = pd.Series(np.array(numbers, dtype="int64" if whole else "float64"), index=series.index)
    elif kind == "boolean":
        values = pd.Series(out, index=series.index, dtype="boolean" if None in out else bool)
    elif kind == "datetime":
        values = datetime_column(pd.Series(out, index=series.index, dtype=object))
    else:
        values = pd.Series(out, index=series.index, dtype=object)
    return ReadColumn(values, positions, kind, bound)


def from_text(series: pd.Series, kind: str) -> pd.Series:
    """A column of CSV text read as what each cell spells for ``kind`` (numbers, true/false); cells that spell
    nothing of the kind stay text, so the rule then refuses them naming the cell. Missing cells stay missing."""
    import numpy as np
    import pandas as pd

    if kind in ("integer", "float"):
        numbers = pd.to_numeric(series, errors="coerce")
        unread = numbers.isna().to_numpy() & series.notna().to_numpy()
        if not unread.any():
            return numbers
        mixed = numbers.astype(object)
        mixed[unread] = series[unread].to_numpy(dtype=object)
        return mixed
    if kind == "boolean":
        mapping = {**dict.fromkeys(CSV_TRUE, True), **dict.fromkeys(CSV_FALSE, False)}
        text = series.to_numpy(dtype=object)
        out = np.array([mapping.get(value.strip(), value) if isinstance(value, str) else value for value in text],
                       dtype=object)
        return pd.Series(out, index=series.index, dtype=object)
    return series
