"""The driver's last step: the pieces' summaries become one result, and their parts one output file in row order.

Decisions the local engine makes batch by batch are made here over the whole input, with its messages: an error a
worker carried is raised as itself (the piece earliest in the input first); under ``on_error="fail"`` the input's
first bad row fails the run; a run that scored no row is a :class:`~shipyard.errors.NothingScoredError` with the
errors file written. Otherwise the parts are copied, in input order, into the output (a temporary file renamed into
place on a local disk; one upload on S3, which no reader sees half-written), with the same schema metadata as the
local engine's, and the parts folder is removed whatever happened.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from ..errors import IntegrityError
from ..models.batch import (
    BatchResult,
    bad_row_error,
    empty_output,
    nothing_scored_error,
    output_metadata,
)
from ..models.package import LoadedModel
from .pieces import Summary
from .plan import Piece, Plan, filesystem, open_input, open_output


def combine(plan: Plan, pieces: list[Piece], summaries: list[Summary], output: str) -> BatchResult:
    """One :class:`BatchResult` from every piece's summary, after checking that together they cover the input once."""
    ordered = sorted(summaries, key=lambda summary: summary.start)
    carried = [summary.error for summary in ordered if summary.error is not None]
    if carried:
        raise carried[0].rebuild()
    expected = [(piece.start, piece.rows) for piece in pieces]
    found = [(summary.start, summary.rows_in) for summary in ordered]
    if found != expected:
        raise IntegrityError(f"The engine returned pieces {found[:5]}... for {plan.source_name}, which was planned as "
                             f"{expected[:5]}...; a piece was lost or scored twice. Nothing was written.",
                             object_hash="", path=plan.source_name)
    result = BatchResult(output=output, ignored_columns=list(plan.ignored_columns))
    for summary in ordered:
        result.rows_in += summary.rows_in
        result.rows_out += summary.rows_out
        result.skipped.extend(summary.skipped)
        for column, count in summary.unseen_levels.items():
            result.unseen_levels[column] = result.unseen_levels.get(column, 0) + count
        for column, count in summary.out_of_range.items():
            result.out_of_range[column] = result.out_of_range.get(column, 0) + count
    return result


def finish(plan: Plan, summaries: list[Summary], result: BatchResult, model: LoadedModel, on_error: str,
           id_columns: list[str]) -> BatchResult:
    """Fail, or write the errors file and the output; see the module docstring."""
    output = str(result.output)
    if result.skipped and on_error == "fail":
        first = result.skipped[0]
        raise bad_row_error(plan.source_name, first["row"], first["column"], first["message"],
                            rows_read=result.rows_in, nothing_left=not result.rows_out)
    _write_errors(result, output + ".errors.csv")
    if result.rows_in and not result.rows_out:
        raise nothing_scored_error(result, plan.source_name)
    parts = [summary.part for summary in sorted(summaries, key=lambda summary: summary.start) if summary.part]
    _join_parts(parts, output, model, id_columns)
    return result


def remove_parts(parts_url: str) -> None:
    fs, path = filesystem(parts_url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _write_errors(result: BatchResult, errors_url: str) -> None:
    """List the skipped rows, or remove the list an earlier run of the same output left (as the local engine)."""
    fs, path = filesystem(errors_url)
    if not result.skipped:
        if fs.exists(path):
            fs.rm(path)
        return
    import pandas as pd

    with fs.open(path, "w") as handle:
        pd.DataFrame(result.skipped, columns=["row", "column", "message"]).to_csv(handle, index=False)
    result.errors_file = errors_url


def _join_parts(parts: list[str], output: str, model: LoadedModel, id_columns: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = "://" not in output
    temp = os.path.join(os.path.dirname(output), f".{os.path.basename(output)}.{secrets.token_hex(4)}.tmp") \
        if local else output  # an S3 object appears whole when its upload completes
    metadata = {key.encode(): value.encode() for key, value in output_metadata(model).items()}
    tables = (_read_part(part) for part in parts)
    first = next(tables, None)
    if first is None:
        first = pa.Table.from_pandas(empty_output(model, id_columns), preserve_index=False)
    schema = first.schema.with_metadata({**(first.schema.metadata or {}), **metadata})
    try:
        with open_output(temp) as sink, pq.ParquetWriter(sink, schema) as writer:
            writer.write_table(first.replace_schema_metadata(schema.metadata))
            for table in tables:
                writer.write_table(table.cast(schema))
        if local:
            os.replace(temp, output)
    finally:
        if local and os.path.exists(temp):
            os.unlink(temp)


def _read_part(url: str) -> Any:
    import pyarrow.parquet as pq

    with open_input(url) as handle:
        return pq.read_table(handle)


def parts_url_for(output: str) -> str:
    """A fresh folder beside the output for the workers' parts."""
    head, _, name = output.rstrip("/").rpartition("/")
    return f"{head}/.{name}.parts-{secrets.token_hex(4)}" if head else f".{name}.parts-{secrets.token_hex(4)}"
