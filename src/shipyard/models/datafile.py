"""Reading data files: the one place for the text encoding rule and for a column's type against what is expected.

Text is decoded strictly, as UTF-8 unless the caller names the file's encoding (``--encoding latin-1``). A byte
that is not text in that encoding is a :class:`~shipyard.errors.TextEncodingError` naming the file, the row and
column (CSV) or line, and the byte offset, and saying what to do; never a replacement character and never a
column of raw bytes. That last one is what Arrow does on its own: a CSV column that is not valid UTF-8 is read
as ``binary``, and a model then sees each of its values as an unseen category (issue 16: one latin-1 ``Chèque``
in 200 rows changed 135 probabilities and 9 labels, with exit 0).

Arrow does the reading (streamed, at C speed). The file is scanned from Python only once Arrow has met a problem
(a column it could only read as bytes, a block it could not convert, a header with a replacement character), to
say where the first bad byte is; a file without one gets Arrow's own error back. Callers: batch scoring
(``models.batch``), the promotion gate's data (``models.evaluate``), ``monitor compare``
(``monitoring._datafiles``), and the pipeline's metrics and params files (:func:`read_text`).

Parquet keeps types, so there a column is compared with what the reader expects (:func:`check_column_types`):
``binary`` where a model takes text, text where it takes numbers, are input errors naming the column, never a
conversion.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TextEncodingError, ValidationError
from ..store.text import decode_text as decode_text, quoted_context, read_text as read_text
from .coercion import EXPECTS

DEFAULT_ENCODING = "utf-8"
SCAN_CHUNK_BYTES = 1 << 20
_MARK = "\ue000"  # a private-use character that marks where the bad byte was, for the CSV parser to place it

# What a column of each Arrow type may hold for each kind of the signature; the coercion rule (``.coercion``)
# then reads the values one by one. Anything else is refused for the whole column.
_ACCEPTS = {"integer": ("integer", "float", "decimal"), "float": ("integer", "float", "decimal"),
            "boolean": ("boolean",), "string": ("text",), "datetime": ("date/time", "text")}
_DESCRIBED = {"integer": "numbers", "float": "numbers", "decimal": "numbers", "boolean": "true/false",
              "text": "text", "binary": "binary data (raw bytes, not text)", "date/time": "dates/times",
              "nested": "nested values (lists or structs)"}
_WRITE_AS = {"integer": "integers", "float": "numbers", "boolean": "true/false", "string": "text",
             "datetime": "dates/times"}


def checked_encoding(encoding: str | None) -> str:
    """The encoding to read with (UTF-8 when None); one Python does not know is an input error naming it."""
    name = encoding or DEFAULT_ENCODING
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValidationError(f"Unknown text encoding {name!r}; give a Python codec name such as utf-8, latin-1 or "
                              "cp1252.", field="encoding") from None
    return name


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


# ------------------------------------------------------------------------------------------- text files


# -------------------------------------------------------------------------------------------- CSV files


class CsvStream:
    """A CSV file read by Arrow in record batches, its text decoded strictly; use it in a ``with`` block.

    ``column_types`` and ``include_columns`` are Arrow's convert options; empty cells (and ``NA``, ``null``...)
    are missing in every column, text ones included.
    """

    def __init__(self, path: str | Path, *, encoding: str | None = None, block_size: int = 1 << 20,
                 delimiter: str = ",", column_types: Mapping[str, Any] | None = None,
                 include_columns: list[str] | None = None) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.path = Path(path)
        self.encoding = checked_encoding(encoding)
        self.delimiter = delimiter
        options = {"read_options": pacsv.ReadOptions(block_size=block_size,
                                                     encoding="utf8" if _is_utf8(self.encoding) else self.encoding),
                   "parse_options": pacsv.ParseOptions(delimiter=delimiter),
                   "convert_options": pacsv.ConvertOptions(column_types=dict(column_types or {}),
                                                           include_columns=include_columns,
                                                           strings_can_be_null=True)}
        try:
            self._reader = pacsv.open_csv(self.path, **options)
            self.schema = self._reader.schema
            self._check(self.schema)
        except (pa.ArrowInvalid, UnicodeDecodeError):  # UnicodeDecodeError: a header name Arrow cannot give back
            self._raise_if_undecodable()
            raise

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def __iter__(self) -> Iterator[Any]:
        import pyarrow as pa

        try:
            yield from self._reader
        except (pa.ArrowInvalid, UnicodeDecodeError):  # a later block: a column typed as text, or a transcoding
            self._raise_if_undecodable()
            raise

    def _check(self, schema: Any) -> None:
        """Arrow reads a column it cannot decode as ``binary`` and a header byte as U+FFFD: find the byte."""
        import pyarrow as pa

        types = pa.types
        if any(types.is_binary(field.type) or types.is_large_binary(field.type) for field in schema) or any(
                "\ufffd" in name for name in schema.names):
            self._raise_if_undecodable()

    def _raise_if_undecodable(self) -> None:
        error = encoding_error(self.path, self.encoding, delimiter=self.delimiter)
        if error is not None:
            raise error


def open_csv(path: str | Path, **options: Any) -> CsvStream:
    """A CSV file as a stream of record batches (the options of :class:`CsvStream`)."""
    return CsvStream(path, **options)


def read_csv(path: str | Path, **options: Any) -> Any:
    """A whole CSV file as an Arrow table (the options of :class:`CsvStream`)."""
    import pyarrow as pa

    with CsvStream(path, **options) as stream:
        return pa.Table.from_batches(list(stream), schema=stream.schema)


def encoding_error(path: str | Path, encoding: str | None = None, *, delimiter: str = ",",
                   csv_file: bool = True) -> TextEncodingError | None:
    """The error for the first byte of ``path`` that is not text in ``encoding``, or None if there is none.

    Compressed files (``.gz``, ``.bz2``...) are read decompressed, as Arrow and pandas read them. For a CSV file
    the error names the row (0-based, header excluded) and the column, as the CSV parser sees them.
    """
    import pyarrow as pa

    name = checked_encoding(encoding)
    with pa.input_stream(str(path)) as stream:
        bad = _first_bad_bytes(stream, name, delimiter if csv_file else None)
    if bad is None:
        return None
    row = column = None
    if csv_file:
        with pa.input_stream(str(path)) as stream:
            row, column = _csv_place(stream, bad.offset, name, delimiter)
    label, shown = Path(path).name, "UTF-8" if _is_utf8(name) else name
    if row is not None:
        where = f"row {row} (0-based, header excluded)" + (f", column {column!r}," if column else "")
    else:
        where = "its header" if csv_file and bad.line == 1 else f"line {bad.line}"
    advice = ("pass the file's encoding (e.g. --encoding latin-1, or encoding=\"latin-1\" in Python) or re-save the "
              "file as UTF-8")
    message = (f"{label} is not valid {shown}: {where} has byte 0x{bad.data[0]:02X} at byte offset {bad.offset} "
               f"(line {bad.line}: {bad.context}); {advice}.")
    return TextEncodingError(message, source=str(path), offset=bad.offset, encoding=name, line=bad.line, row=row,
                             column=column, field=column or "input")


@dataclass(frozen=True)
class _BadBytes:
    offset: int  # of the first byte that is not text, in the (decompressed) file
    data: bytes  # the bytes the decoder refused
    line: int  # 1-based
    context: str  # the text around them, the bad bytes shown as \xNN


def _first_bad_bytes(stream: Any, encoding: str, delimiter: str | None) -> _BadBytes | None:
    """Decode ``stream`` chunk by chunk; the first bytes the decoder refuses, or None."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    consumed = 0  # bytes of the stream before ``chunk``
    lines = 0  # line breaks before ``chunk``
    while True:
        chunk = stream.read(SCAN_CHUNK_BYTES)
        pending = decoder.getstate()[0]  # the start of a character split by the previous chunk
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:  # exc.object is pending + chunk
            data = exc.object
            start = exc.start
            return _BadBytes(consumed - len(pending) + start, data[start:exc.end],
                             lines + data.count(b"\n", 0, start) + 1, quoted_context(data, start, encoding, delimiter))
        if not chunk:
            return None
        consumed += len(chunk)
        lines += chunk.count(b"\n")


class _Prefix(io.RawIOBase):
    """The first ``limit`` bytes of a stream, as a raw file for TextIOWrapper."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        buffer[:len(data)] = data
        self._left -= len(data)
        return len(data)


def _csv_place(stream: Any, offset: int, encoding: str, delimiter: str) -> tuple[int | None, str | None]:
    """The row (0-based after the header; None in the header) and column holding the byte at ``offset``.

    The text before the byte is valid, so the CSV parser reads it, with a marker where the byte was: quoted line
    breaks count as the parser counts them, not as lines.
    """
    text = io.TextIOWrapper(io.BufferedReader(_Prefix(stream, offset)), encoding=encoding, newline="")

    def marked() -> Iterator[str]:
        last = None
        for line in text:
            if last is not None:
                yield last
            last = line
        if last is None or last.endswith(("\n", "\r")):
            yield from ([] if last is None else [last])
            yield _MARK
        else:
            yield last + _MARK

    header: list[str] | None = None
    try:
        for index, record in enumerate(csv.reader(marked(), delimiter=delimiter)):
            header = record if index == 0 else header
            position = next((at for at, value in enumerate(record) if _MARK in value), None)
            if position is not None:
                if index == 0:
                    return None, None
                return index - 1, header[position] if header and position < len(header) else None
    except csv.Error:
        return None, None
    return None, None  # pragma: no cover - the marker is always in the last record


# ---------------------------------------------------------------------------------------- column types


def type_family(arrow_type: Any) -> str:
    """What an Arrow type holds, in the words messages use: integer, float, decimal, boolean, text, binary,
    date/time, nested, null, or the type's own name."""
    import pyarrow as pa

    types = pa.types
    if types.is_dictionary(arrow_type):
        return type_family(arrow_type.value_type)
    checks = (("null", types.is_null), ("boolean", types.is_boolean), ("integer", types.is_integer),
              ("float", types.is_floating), ("decimal", types.is_decimal),
              ("text", lambda t: types.is_string(t) or types.is_large_string(t) or
               getattr(types, "is_string_view", lambda _: False)(t)),
              ("binary", lambda t: types.is_binary(t) or types.is_large_binary(t) or types.is_fixed_size_binary(t)
               or getattr(types, "is_binary_view", lambda _: False)(t)),
              ("date/time", lambda t: types.is_timestamp(t) or types.is_date(t)),
              ("nested", types.is_nested))
    return next((name for name, check in checks if check(arrow_type)), str(arrow_type))


def check_column_types(schema: Any, kinds: Mapping[str, str], source: str, *, values: Any = None) -> None:
    """Refuse a column whose Arrow type cannot hold its kind (``kinds``: column -> signature kind), naming it.

    A column of nulls fits any kind; numbers fit both numeric kinds (the coercion rule then checks each value).
    ``values`` (a record batch or table) lends an example value to the message.
    """
    for name, kind in kinds.items():
        if name not in schema.names:
            continue
        family = type_family(schema.field(name).type)
        if family == "null" or family in _ACCEPTS.get(kind, ()):
            continue
        example = _example(values, name)
        held = _DESCRIBED.get(family, family) + (f" (e.g. {example})" if example else "")
        advice = ("decode it as text (with its encoding) when writing the file" if family == "binary" else
                  f"write it as {_WRITE_AS[kind]} in the file")
        raise ValidationError(f"{source} column {name!r} holds {held} but the model expects {EXPECTS[kind]}; a "
                              f"Parquet column keeps its type, so {advice}.", field=name)


def _example(values: Any, name: str) -> str | None:
    if values is None:
        return None
    column = values.column(name)
    for value in column.drop_null()[:1].to_pylist() if len(column) else []:
        return repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return None
