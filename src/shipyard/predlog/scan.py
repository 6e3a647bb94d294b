"""Reading log files as Arrow: one table, or record batches in bounded memory, over a unified schema.

Variants may log other inputs and a model version may add a column, so the files of one range can differ in
schema; both readers read them as the union of their schemas (a column a file lacks reads as null). Which
files to read is :mod:`.layout`'s business (``partition_files``, ``HourPartition.files``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_table(files: list[Path], columns: list[str] | None = None, filter: Any = None) -> Any:
    """Read ``files`` as one table whose schema is the union of theirs (variants may log other inputs)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not files:
        return None
    schemas = [pq.read_schema(path) for path in files]
    schema = pa.unify_schemas(schemas, promote_options="permissive") if len(files) > 1 else schemas[0]
    dataset = ds.dataset([str(path) for path in files], schema=schema, format="parquet")
    wanted = [name for name in columns if name in schema.names] if columns else None
    return dataset.to_table(columns=wanted, filter=filter)


def scan_batches(files: list[Path], columns: list[str] | None = None, filter: Any = None,
                 batch_rows: int = 262_144) -> Any:
    """Iterate the rows of ``files`` as Arrow record batches (bounded memory, unified schema)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not files:
        return
    schemas = [pq.read_schema(path) for path in files]
    schema = pa.unify_schemas(schemas, promote_options="permissive") if len(files) > 1 else schemas[0]
    dataset = ds.dataset([str(path) for path in files], schema=schema, format="parquet")
    wanted = [name for name in columns if name in schema.names] if columns else None
    # No pre-buffering and little read-ahead: memory stays flat however large the files (a day of log).
    options = ds.ParquetFragmentScanOptions(pre_buffer=False)
    yield from dataset.to_batches(columns=wanted, filter=filter, batch_size=batch_rows, batch_readahead=2,
                                  fragment_readahead=1, fragment_scan_options=options)
