"""Reading the two sides of ``monitoring.compare``: CSV and Parquet files, pandas DataFrames, Arrow tables.

Everything becomes Arrow: the reference as one table, the current data as a stream of record batches, so a
large current file is never whole in memory. Categorical columns are read dictionary-encoded (as Parquet
stores them) so no Python string is built per row, and the current file is parsed with the reference's
kinds (a CSV column that is numeric in the reference is read as numbers, its text as an error naming it).
CSV text is decoded by the one reader of data files (``models.datafile``): UTF-8 unless an encoding is given,
and a byte that is not text is an error naming the file, row and byte offset, never a column of bytes.
Arrow's errors become :class:`~shipyard.errors.ValidationError` naming the file and, when Arrow says, the
column; a missing file is a :class:`~shipyard.errors.NotFoundError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..models.datafile import checked_encoding, open_csv, read_csv

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_BUFFER_BYTES = 1 << 20
CSV_BLOCK_BYTES = 32 << 20  # Arrow infers CSV types on the first block: make it a large one


@dataclass
class DataSource:
    """One side of a comparison: a file (``path``; ``format`` csv or parquet) or data in memory."""

    side: str  # "reference" | "current"
    label: str  # how messages name it: the path, or "the reference data"
    format: str  # "csv" | "parquet" | "dataframe" | "arrow"
    path: str | None = None
    rows: int = 0
    encoding: str | None = None  # of a CSV file's text (None: UTF-8)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "rows": self.rows}


def kind_of(arrow_type: Any) -> str:
    """"numeric" (integers, floats, decimals), "categorical" (strings, dictionaries, booleans) or "other"."""
    import pyarrow as pa

    types = pa.types
    string_view = getattr(types, "is_string_view", lambda _: False)  # pyarrow >= 16
    if types.is_boolean(arrow_type) or types.is_dictionary(arrow_type) or types.is_string(arrow_type) or \
            types.is_large_string(arrow_type) or string_view(arrow_type):
        return "categorical"
    if types.is_integer(arrow_type) or types.is_floating(arrow_type) or types.is_decimal(arrow_type):
        return "numeric"
    return "other"


# ------------------------------------------------------------------------------------------------ memory


def memory_source(data: Any, side: str) -> DataSource:
    kind = "arrow" if type(data).__module__.startswith("pyarrow") else "dataframe"
    return DataSource(side, f"the {side} data", kind)


def as_table(data: Any, source: DataSource) -> Any:
    """An Arrow table of a DataFrame, Arrow table or record batch."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise ValidationError(f"{source.label} must be a pandas DataFrame or an Arrow table, got "
                              f"{type(data).__name__}; for files use compare_files(path_a, path_b).",
                              field=source.side)
    try:
        return pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        found = re.search(r"for column (\S+)", str(exc))
        raise ValidationError(f"{source.label} cannot be converted to Arrow: {arrow_reason(exc)}; give each column one "
                              "type (e.g. df[col].astype(str)).", field=found.group(1) if found else source.side) \
            from None


# ------------------------------------------------------------------------------------------------- files


def file_source(path: str | Path, side: str, encoding: str | None = None) -> DataSource:
    """Check that ``path`` is a file and tell its format (suffix first, else Parquet's ``PAR1`` magic)."""
    location = Path(path)
    if not location.exists():
        raise NotFoundError(f"The {side} file {location} does not exist; give the path of a CSV or Parquet file.")
    if location.is_dir():
        raise ValidationError(f"The {side} path {location} is a folder; give the path of one CSV or Parquet file.",
                              field=side)
    name = location.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        kind = "parquet"
    elif name.endswith(CSV_SUFFIXES):
        kind = "csv"
    else:
        with location.open("rb") as handle:
            kind = "parquet" if handle.read(4) == b"PAR1" else "csv"
    return DataSource(side, str(location), kind, str(location), encoding=checked_encoding(encoding))


def file_schema(source: DataSource) -> Any:
    """The Arrow schema of a file (for CSV: inferred from its first block)."""
    import pyarrow as pa

    try:
        if source.format == "parquet":
            import pyarrow.parquet as pq

            return pq.read_schema(source.label)
        with open_csv(source.label, **_csv_options(source, None, {})) as reader:
            return reader.schema
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise unreadable(source, exc, []) from None


def read_table(source: DataSource, names: Sequence[str], file_names: Sequence[str]) -> Any:
    """The named columns of a file, whole (the reference: its deciles need every value)."""
    import pyarrow as pa

    try:
        if source.format == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(source.label)
            labels = [name for name in names if kind_of(schema.field(name).type) == "categorical"]
            return pq.read_table(source.label, columns=list(names), read_dictionary=labels, pre_buffer=False)
        return read_csv(source.label, **_csv_options(source, names, {}))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise unreadable(source, exc, file_names) from None


def stream_batches(source: DataSource, reference_schema: Any, file_names: Sequence[str],
                   batch_rows: int) -> Iterator[Any]:
    """Record batches of the reference's columns from a file, parsed as the reference's kinds."""
    import pyarrow as pa

    names = reference_schema.names
    kinds = {name: kind_of(reference_schema.field(name).type) for name in names}
    try:
        if source.format == "parquet":
            import pyarrow.parquet as pq

            labels = [name for name in names if kinds[name] == "categorical"]
            # pre_buffer=False: with it Arrow keeps every row group's buffers until the reader closes, so peak
            # memory grows with the file; a buffered stream stays flat (and is faster here).
            with pq.ParquetFile(source.label, read_dictionary=labels, pre_buffer=False,
                                buffer_size=PARQUET_BUFFER_BYTES) as handle:
                yield from handle.iter_batches(batch_size=batch_rows, columns=list(names))
            return
        types = {}
        for name in names:
            if kinds[name] == "numeric":
                types[name] = pa.float64()
            elif kinds[name] == "categorical":
                boolean = pa.types.is_boolean(reference_schema.field(name).type)
                types[name] = pa.bool_() if boolean else pa.dictionary(pa.int32(), pa.string())
        with open_csv(source.label, **_csv_options(source, names, types)) as reader:
            yield from reader
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise unreadable(source, exc, file_names) from None


def unreadable(source: DataSource, exc: Exception, file_names: Sequence[str]) -> ValidationError:
    """The error for a file Arrow cannot read, naming the column when Arrow gives its number."""
    reason = arrow_reason(exc)
    found = re.search(r"CSV column #(\d+)", reason)
    column = file_names[int(found.group(1))] if found and int(found.group(1)) < len(file_names) else None
    where = f", column `{column}`" if column else ""
    kind = source.format.upper()
    return ValidationError(f"{source.label}{where} cannot be read as {kind}: {reason}. Check that it is a complete "
                           f"{kind} file with a header row, and that the column holds one kind of value.",
                           field=column or source.side)


def _csv_options(source: DataSource, names: Sequence[str] | None, types: dict[str, Any]) -> dict[str, Any]:
    delimiter = "\t" if source.label.lower().endswith((".tsv", ".tsv.gz")) else ","
    return {"encoding": source.encoding, "block_size": CSV_BLOCK_BYTES, "delimiter": delimiter,
            "include_columns": list(names) if names else None, "column_types": types}


def arrow_reason(exc: Exception) -> str:
    """The first line of an Arrow error, without its final stop."""
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
