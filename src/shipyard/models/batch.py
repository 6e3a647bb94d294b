"""Batch scoring of CSV and Parquet files larger than memory.

The input is streamed in record batches with pyarrow, each batch is validated against the model's
signature and scored, and the output is written batch by batch to a temporary file that replaces the
target only when everything succeeded. Memory therefore stays at a few batches whatever the file size.

Classifiers are scored once per batch: the label is the class with the highest probability, so the
pipeline does not run twice (``predict`` and ``predict_proba``); for the usual estimators (logistic
regression, trees, boosting) that is exactly what their ``predict`` returns.

Values are read by the coercion rule every predict path shares (:mod:`.coercion`). A CSV holds only text,
so its model columns are read as text and each cell as what it spells for its column (``3.0`` in an
integer column is 3, ``2.5`` is refused); its text is decoded strictly as UTF-8 unless ``encoding`` names the
file's encoding (:mod:`.datafile`: a byte that is not text fails the run naming its row and byte offset).
Parquet keeps types, so a column whose type cannot hold what the model takes (numbers stored as text, bytes
where it takes text) fails the run naming the column. A column the model needs that the file lacks is not a
row error either: it stops the run before any row is scored. A refused value makes its row bad: with
``on_error="fail"`` the first one stops the run (naming the row and column, and suggesting ``skip`` only when
skipping would leave rows to score); with ``"skip"`` bad rows are left out and listed in
``<output>.errors.csv``. A file none of whose rows could be scored is a failure
(:class:`~shipyard.errors.NothingScoredError`), never an empty success.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, NothingScoredError, ValidationError
from .answers import check_finite
from .coercion import from_text
from .datafile import check_column_types, open_csv
from .package import LoadedModel
from .signature import Signature

ON_ERROR = ("fail", "skip")
DEFAULT_BATCH_SIZE = 50_000


@dataclass
class BatchResult:
    output: Path | str  # a local path, or a URL (s3://...) for the Spark and Dask engines
    rows_in: int = 0
    rows_out: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"row", "column", "message"}
    ignored_columns: list[str] = field(default_factory=list)  # input columns the model does not use
    unseen_levels: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    errors_file: Path | str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "rows_in": self.rows_in, "rows_out": self.rows_out,
                "skipped_rows": len(self.skipped), "errors_file": str(self.errors_file) if self.errors_file else None,
                "ignored_columns": self.ignored_columns,
                "unseen_levels": self.unseen_levels, "out_of_range": self.out_of_range}


def predict_file(model: LoadedModel, source: str | os.PathLike[str], output: str | os.PathLike[str], *,
                 batch_size: int = DEFAULT_BATCH_SIZE, id_columns: list[str] | None = None, on_error: str = "fail",
                 progress: Callable[[int, int | None], None] | None = None,
                 encoding: str | None = None) -> BatchResult:
    """Score ``source`` into ``output`` (format by extension); see the module docstring. ``encoding`` is a CSV
    file's text encoding (UTF-8 when None)."""
    if on_error not in ON_ERROR:
        raise ValidationError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}.", field="on_error")
    if batch_size < 1:
        raise ValidationError(f"batch_size must be positive, got {batch_size}.", field="batch_size")
    source_path, output_path = Path(source), Path(output)
    if not source_path.is_file():
        raise NotFoundError(f"Input file {str(source_path)!r} does not exist.")
    writer_kind = _format(output_path, "output")
    ids = list(id_columns or [])
    batches, total, names = _read_batches(source_path, batch_size, model.signature, encoding)
    check_columns(model.signature, names, ids, source_path.name)
    result = BatchResult(output_path)
    temp = output_path.with_name(f".{output_path.name}.{secrets.token_hex(4)}.tmp")
    errors_file = output_path.with_name(output_path.name + ".errors.csv")
    text = _format(source_path, "input") == "csv"
    kinds = {spec.name: spec.kind for spec in model.signature.inputs}
    writer: Any = None
    try:
        for batch in _readable(batches, source_path.name):
            if not text:
                check_column_types(batch.schema, kinds, source_path.name, values=batch)
            frame = _from_csv_text(batch, model.signature) if text else batch.to_pandas()
            start = result.rows_in
            result.rows_in += len(frame)
            frame.index = range(start, start + len(frame))
            scored = score_batch(model, frame, ids, on_error, result, source_path.name)
            if scored is not None and len(scored):
                table = _to_arrow(scored)
                writer = writer or _open_writer(writer_kind, temp, table.schema, model)
                writer.write_table(table) if writer_kind == "parquet" else writer.write(table)
                result.rows_out += len(scored)
            if progress is not None:
                progress(result.rows_in, total)
        _write_errors(result, errors_file)
        if result.rows_in and not result.rows_out:
            raise nothing_scored_error(result, source_path.name)
        if writer is None:  # an empty input: still write an empty file with the right columns
            empty = _to_arrow(empty_output(model, ids))
            writer = _open_writer(writer_kind, temp, empty.schema, model)
        writer.close()
        writer = None
        os.replace(temp, output_path)
    finally:
        if writer is not None:
            writer.close()
        temp.unlink(missing_ok=True)
    if writer_kind == "csv":
        _write_sidecar(output_path, model)
    return result


def check_columns(signature: Signature, names: list[str], ids: list[str], source_name: str) -> None:
    """A column the model or ``--id-column`` needs and the file lacks fails the run before any row is read."""
    present = set(names)
    missing = [name for name in signature.column_names if name not in present]
    if missing:
        listed = ", ".join(repr(name) for name in missing[:8]) + (f" and {len(missing) - 8} more"
                                                                   if len(missing) > 8 else "")
        raise ValidationError(f"{source_name} has no column{'s' if len(missing) > 1 else ''} {listed}, which the "
                              f"model needs (it takes {len(signature.column_names)}: "
                              f"{', '.join(signature.column_names[:12])}"
                              f"{', ...' if len(signature.column_names) > 12 else ''}); nothing was scored.",
                              field=missing[0])
    missing_ids = [name for name in ids if name not in present]
    if missing_ids:
        raise ValidationError(f"Id column {missing_ids[0]!r} is not in {source_name}.", field=missing_ids[0])


def _from_csv_text(batch: Any, signature: Signature) -> Any:
    """A batch of CSV text as a DataFrame, each model column's cells read as what they spell for the column.

    Arrow casts a whole column of clean numbers at C speed (integers first, so none is rounded through a
    float); a column where some cell does not parse goes through :func:`from_text`, which keeps such cells as
    text for the rule to refuse by row.
    """
    import pyarrow as pa

    kinds = {spec.name: spec.kind for spec in signature.inputs}
    arrays, fallback = [], []
    for name, column in zip(batch.column_names, batch.columns, strict=True):
        kind = kinds.get(name)
        cast = None
        for target in {"integer": (pa.int64(), pa.float64()), "float": (pa.float64(),)}.get(kind or "", ()):
            try:
                cast = column.cast(target)
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        if cast is None and kind in ("integer", "float", "boolean"):
            fallback.append(name)
        arrays.append(column if cast is None else cast)
    frame = pa.table(arrays, names=batch.column_names).to_pandas()
    for name in fallback:
        frame[name] = from_text(frame[name], kinds[name])
    return frame


def score_batch(model: LoadedModel, frame: Any, ids: list[str], on_error: str, result: BatchResult,
                source_name: str) -> Any:
    """Score one batch: the output rows (ids, ``prediction``, ``proba_<class>``) indexed like ``frame``, or None.

    The one scoring step of every engine (this module's, Spark's and Dask's), so their answers agree to the bit.
    ``frame.index`` holds the rows' numbers in the file (0-based), which errors name; ``result`` collects the
    skipped rows, ignored columns and counts. With ``on_error="fail"`` a bad row raises ValidationError.
    """
    import pandas as pd

    signature = model.signature
    wanted = set(signature.column_names)
    extra = [str(name) for name in frame.columns if name not in wanted]
    for name in extra:  # ids and unrelated columns are normal in files: reported once, not warned per batch
        if name not in ids and name not in result.ignored_columns:
            result.ignored_columns.append(name)
    features = frame.drop(columns=extra)
    checked = model.check_input(features, skip_bad_rows=True)
    refused = model.last_report.refused
    if refused and on_error == "fail":
        raise _first_bad_row(refused, features, result, source_name)
    for bad in refused:
        result.skipped.append({"row": int(features.index[bad.row]), "column": bad.column, "message": bad.short()})
    if not len(checked):
        return None
    frame = frame.loc[checked.index]
    _count(result, model)
    output = frame[ids].copy() if ids else pd.DataFrame(index=frame.index)
    output["prediction"], probabilities = _predict(model, checked, source_name)
    if probabilities is not None:
        for name, values in zip(model.signature.output.probability_columns, probabilities.T, strict=True):
            output[name] = values
    return output


def _first_bad_row(refused: list[Any], features: Any, result: BatchResult, source_name: str) -> ValidationError:
    """The error for the first bad row; it suggests skipping only when skipping would leave rows to score."""
    first = refused[0]
    nothing_left = len(refused) == len(features) and not result.rows_out
    return bad_row_error(source_name, int(features.index[first.row]), first.column, first.short(),
                         rows_read=result.rows_in, nothing_left=nothing_left)


def bad_row_error(source_name: str, row: int, column: str, problem: str, *, rows_read: int,
                  nothing_left: bool) -> ValidationError:
    """The error for a bad row under ``on_error="fail"``; it suggests skipping only when that would leave rows."""
    message = f"{source_name} row {row} (0-based, header excluded), column {column!r}: {problem}."
    if nothing_left:
        hint = (f"None of the {rows_read:,} rows read so far can be scored, so skipping bad rows would "
                "leave nothing: fix the file (or the column's type) first.")
    else:
        hint = ("Use --on-error skip (on_error='skip' in Python) to score the other rows and list the bad ones in "
                "OUTPUT.errors.csv.")
    return ValidationError(message, field=column, hint=hint)


def nothing_scored_error(result: BatchResult, source_name: str) -> NothingScoredError:
    first = result.skipped[0]
    return NothingScoredError(
        f"No row could be scored: all {result.rows_in:,} rows of {source_name} have a bad value, listed in "
        f"{result.errors_file} (the first: row {first['row']}, column {first['column']!r}: {first['message']}).",
        rows=result.rows_in, errors_file=str(result.errors_file))


def _write_errors(result: BatchResult, errors_file: Path) -> None:
    """List the skipped rows, or remove the list an earlier run of the same output left."""
    if not result.skipped:
        errors_file.unlink(missing_ok=True)
        return
    import pandas as pd

    pd.DataFrame(result.skipped, columns=["row", "column", "message"]).to_csv(errors_file, index=False)
    result.errors_file = errors_file


def _predict(model: LoadedModel, frame: Any, source_name: str) -> tuple[Any, Any]:
    """Labels and probabilities of a checked batch; an answer that is not finite fails the run (row of the file)."""
    import numpy as np

    signature = model.signature
    answered_on = f"{model.uri} on {source_name}"
    if signature.output.kind == "classifier" and hasattr(model.model, "predict_proba"):
        probabilities = np.asarray(model.model.predict_proba(frame))
        check_finite(probabilities, None, answered_on, rows=frame.index)
        classes = np.asarray(getattr(model.model, "classes_", signature.output.classes))
        return classes[probabilities.argmax(axis=1)], probabilities
    predictions = np.asarray(model.model.predict(frame))
    check_finite(None, predictions, answered_on, rows=frame.index)
    return predictions, None


def _count(result: BatchResult, model: LoadedModel) -> None:
    report = model.last_report
    for column, levels in report.unseen_levels.items():
        result.unseen_levels[column] = result.unseen_levels.get(column, 0) + sum(levels.values())
    for column, count in report.out_of_range.items():
        result.out_of_range[column] = result.out_of_range.get(column, 0) + count


def _read_batches(path: Path, batch_size: int, signature: Signature,
                  encoding: str | None) -> tuple[Iterator[Any], int | None, list[str]]:
    """Record batches of ``path``, the row count when the format knows it, and the column names.

    CSV columns the model reads are read as text (cells that are empty, ``NA`` or ``null`` as missing):
    type inference would make ``02134`` the number 2134 in a text column, and a column inferred as numbers
    from the first block would fail the whole file at the first text cell of a later one.
    """
    kind = _format(path, "input")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            return parquet.iter_batches(batch_size=batch_size), parquet.metadata.num_rows, parquet.schema_arrow.names
        import pyarrow as pa

        reader = open_csv(path, encoding=encoding, block_size=max(1 << 20, batch_size * 256),
                          column_types={name: pa.string() for name in signature.column_names})
        return _rebatch(iter(reader), batch_size), None, reader.schema.names
    except ValidationError:
        raise
    except OSError as exc:
        raise ValidationError(f"Cannot read {path.name}: {exc}", field="input") from exc
    except Exception as exc:  # pyarrow.ArrowInvalid and friends: a malformed file
        raise ValidationError(f"Cannot read {path.name}: {exc}", field="input") from exc


def _readable(batches: Iterator[Any], source_name: str) -> Iterator[Any]:
    """The batches, with a file that turns out malformed halfway (a ragged CSV row) reported as an input error."""
    import pyarrow as pa

    try:
        yield from batches
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(f"Cannot read {source_name}: {exc}", field="input") from exc


def _rebatch(batches: Iterator[Any], size: int) -> Iterator[Any]:
    """CSV blocks come in whatever size the reader picks; cut them to ``size`` rows."""
    import pyarrow as pa

    pending: list[Any] = []
    rows = 0
    for batch in batches:
        pending.append(pa.Table.from_batches([batch]))
        rows += batch.num_rows
        while rows >= size:
            table = pa.concat_tables(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, rows = [rest], rest.num_rows
    if rows:
        yield pa.concat_tables(pending)


def _to_arrow(frame: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def empty_output(model: LoadedModel, ids: list[str]) -> Any:
    import pandas as pd

    columns = {name: pd.Series(dtype=object) for name in ids}
    columns["prediction"] = pd.Series(dtype=object)
    for name in model.signature.output.probability_columns:
        columns[name] = pd.Series(dtype="float64")
    return pd.DataFrame(columns)


def output_metadata(model: LoadedModel) -> dict[str, str]:
    """What an output file says about the model that scored it (Parquet footer or CSV sidecar)."""
    return {"shipyard.model_uri": model.uri, "shipyard.model_name": model.name or "",
            "shipyard.model_version": str(model.version or ""), "shipyard.run_id": model.run_id,
            "shipyard.manifest_hash": model.manifest_hash}


def _open_writer(kind: str, path: Path, schema: Any, model: LoadedModel) -> Any:
    if kind == "parquet":
        import pyarrow.parquet as pq

        merged = {**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in output_metadata(model).items()}}
        return pq.ParquetWriter(path, schema.with_metadata(merged))
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema)


def _write_sidecar(output: Path, model: LoadedModel) -> None:
    sidecar = output.with_name(output.name + ".meta.json")
    temp = sidecar.with_name(sidecar.name + ".tmp")
    temp.write_text(json.dumps(output_metadata(model), indent=2))
    os.replace(temp, sidecar)


def _format(path: Path, role: str) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    raise ValidationError(f"The {role} {path.name!r} must be a .csv or .parquet file.", field=role)
