"""Batch scoring of CSV and Parquet files larger than memory.

The input is streamed in record batches with pyarrow, each batch is validated against the model's
signature and scored, and the output is written batch by batch to a temporary file that replaces the
target only when everything succeeded. Memory therefore stays at a few batches whatever the file size.

Classifiers are scored once per batch: the label is the class with the highest probability, so the
pipeline does not run twice (``predict`` and ``predict_proba``); for the usual estimators (logistic
regression, trees, boosting) that is exactly what their ``predict`` returns.

A batch that fails validation is re-checked row by row: with ``on_error="fail"`` the first bad row is
reported with its row number and column; with ``"skip"`` bad rows are left out and listed in
``<output>.errors.csv`` while the rest is scored.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, ValidationError
from .package import LoadedModel

ON_ERROR = ("fail", "skip")
DEFAULT_BATCH_SIZE = 50_000


@dataclass
class BatchResult:
    output: Path
    rows_in: int = 0
    rows_out: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"row", "column", "message"}
    ignored_columns: list[str] = field(default_factory=list)  # input columns the model does not use
    unseen_levels: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    errors_file: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "rows_in": self.rows_in, "rows_out": self.rows_out,
                "skipped_rows": len(self.skipped), "errors_file": str(self.errors_file) if self.errors_file else None,
                "ignored_columns": self.ignored_columns,
                "unseen_levels": self.unseen_levels, "out_of_range": self.out_of_range}


def predict_file(model: LoadedModel, source: str | os.PathLike[str], output: str | os.PathLike[str], *,
                 batch_size: int = DEFAULT_BATCH_SIZE, id_columns: list[str] | None = None, on_error: str = "fail",
                 progress: Callable[[int, int | None], None] | None = None) -> BatchResult:
    """Score ``source`` into ``output`` (format by extension); see the module docstring."""
    if on_error not in ON_ERROR:
        raise ValidationError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}.", field="on_error")
    if batch_size < 1:
        raise ValidationError(f"batch_size must be positive, got {batch_size}.", field="batch_size")
    source_path, output_path = Path(source), Path(output)
    if not source_path.is_file():
        raise NotFoundError(f"Input file {str(source_path)!r} does not exist.")
    writer_kind = _format(output_path, "output")
    batches, total = _read_batches(source_path, batch_size)
    ids = list(id_columns or [])
    result = BatchResult(output_path)
    temp = output_path.with_name(f".{output_path.name}.{secrets.token_hex(4)}.tmp")
    writer: Any = None
    try:
        for batch in batches:
            frame = batch.to_pandas()
            missing_ids = [name for name in ids if name not in frame.columns]
            if missing_ids:
                raise ValidationError(f"Id column {missing_ids[0]!r} is not in {source_path.name}.",
                                      field=missing_ids[0])
            start = result.rows_in
            result.rows_in += len(frame)
            frame.index = range(start, start + len(frame))
            scored = _score(model, frame, ids, on_error, result, source_path.name)
            if scored is not None and len(scored):
                table = _to_arrow(scored)
                writer = writer or _open_writer(writer_kind, temp, table.schema, model)
                writer.write_table(table) if writer_kind == "parquet" else writer.write(table)
                result.rows_out += len(scored)
            if progress is not None:
                progress(result.rows_in, total)
        if writer is None:  # nothing scored: still write an empty file with the right columns
            empty = _to_arrow(_empty_output(model, ids))
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
    if result.skipped:
        result.errors_file = output_path.with_name(output_path.name + ".errors.csv")
        import pandas as pd

        pd.DataFrame(result.skipped).to_csv(result.errors_file, index=False)
    return result


def _score(model: LoadedModel, frame: Any, ids: list[str], on_error: str, result: BatchResult,
           source_name: str) -> Any:
    import pandas as pd

    wanted = set(model.signature.column_names)
    extra = [str(name) for name in frame.columns if name not in wanted]
    for name in extra:  # ids and unrelated columns are normal in files: reported once, not warned per batch
        if name not in ids and name not in result.ignored_columns:
            result.ignored_columns.append(name)
    features = frame.drop(columns=extra)
    try:
        checked = model.check_input(features)
    except ValidationError:
        good = []
        for position in range(len(features)):
            row = features.iloc[position : position + 1]
            try:
                model.check_input(row)
            except ValidationError as exc:
                where = {"row": int(frame.index[position]), "column": exc.field, "message": exc.message}
                if on_error == "fail":
                    raise ValidationError(
                        f"{source_name} row {where['row']} (0-based, header excluded), column {exc.field!r}: "
                        f"{exc.message} Use --on-error skip to score the other rows.", field=exc.field) from None
                result.skipped.append(where)
                continue
            good.append(position)
        if not good:
            return None
        frame = frame.iloc[good]
        checked = model.check_input(features.iloc[good])
    _count(result, model)
    output = frame[ids].copy() if ids else pd.DataFrame(index=frame.index)
    output["prediction"], probabilities = _predict(model, checked)
    if probabilities is not None:
        for name, values in zip(model.signature.output.probability_columns, probabilities.T, strict=True):
            output[name] = values
    return output


def _predict(model: LoadedModel, frame: Any) -> tuple[Any, Any]:
    import numpy as np

    signature = model.signature
    if signature.output.kind == "classifier" and hasattr(model.model, "predict_proba"):
        probabilities = np.asarray(model.model.predict_proba(frame))
        classes = np.asarray(getattr(model.model, "classes_", signature.output.classes))
        return classes[probabilities.argmax(axis=1)], probabilities
    return np.asarray(model.model.predict(frame)), None


def _count(result: BatchResult, model: LoadedModel) -> None:
    report = model.last_report
    for column, levels in report.unseen_levels.items():
        result.unseen_levels[column] = result.unseen_levels.get(column, 0) + sum(levels.values())
    for column, count in report.out_of_range.items():
        result.out_of_range[column] = result.out_of_range.get(column, 0) + count


def _read_batches(path: Path, batch_size: int) -> tuple[Iterator[Any], int | None]:
    kind = _format(path, "input")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            return parquet.iter_batches(batch_size=batch_size), parquet.metadata.num_rows
        import pyarrow.csv as pacsv

        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=max(1 << 20, batch_size * 256)))
        return _rebatch(iter(reader), batch_size), None
    except OSError as exc:
        raise ValidationError(f"Cannot read {path.name}: {exc}", field="input") from exc
    except Exception as exc:  # pyarrow.ArrowInvalid and friends: a malformed file
        raise ValidationError(f"Cannot read {path.name}: {exc}", field="input") from exc


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


def _empty_output(model: LoadedModel, ids: list[str]) -> Any:
    import pandas as pd

    columns = {name: pd.Series(dtype=object) for name in ids}
    columns["prediction"] = pd.Series(dtype=object)
    for name in model.signature.output.probability_columns:
        columns[name] = pd.Series(dtype="float64")
    return pd.DataFrame(columns)


def _metadata(model: LoadedModel) -> dict[str, str]:
    return {"shipyard.model_uri": model.uri, "shipyard.model_name": model.name or "",
            "shipyard.model_version": str(model.version or ""), "shipyard.run_id": model.run_id,
            "shipyard.manifest_hash": model.manifest_hash}


def _open_writer(kind: str, path: Path, schema: Any, model: LoadedModel) -> Any:
    if kind == "parquet":
        import pyarrow.parquet as pq

        merged = {**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in _metadata(model).items()}}
        return pq.ParquetWriter(path, schema.with_metadata(merged))
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema)


def _write_sidecar(output: Path, model: LoadedModel) -> None:
    sidecar = output.with_name(output.name + ".meta.json")
    temp = sidecar.with_name(sidecar.name + ".tmp")
    temp.write_text(json.dumps(_metadata(model), indent=2))
    os.replace(temp, sidecar)


def _format(path: Path, role: str) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    raise ValidationError(f"The {role} {path.name!r} must be a .csv or .parquet file.", field=role)
