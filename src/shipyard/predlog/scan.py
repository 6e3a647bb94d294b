"""Reading log files as Arrow: one table, or record batches in bounded memory, over a unified schema.

Variants may log other inputs and a model version may add a column, so the files of one range can differ in
schema; both readers read them as the union of their schemas (a column a file lacks reads as null). Which
files to read is :mod:`.layout`'s business (``partition_files``, ``HourPartition.files``). Files on an
object store (:class:`~shipyard.predlog.location.RemotePath`) are read through fsspec; their footers are
fetched a few at a time, since each is a round trip.
"""

from __future__ import annotations

from typing import Any

from .location import LogPath, arrow_files

_FOOTER_THREADS = 8  # remote footers read at once: each is a request or two, mostly waiting


def read_table(files: list[LogPath], columns: list[str] | None = None, filter: Any = None) -> Any:
    """Read ``files`` as one table whose schema is the union of theirs (variants may log other inputs)."""
    if not files:
        return None
    dataset, schema = _dataset(files)
    wanted = [name for name in columns if name in schema.names] if columns else None
    return dataset.to_table(columns=wanted, filter=filter)


def count_rows(files: list[LogPath], filter: Any = None) -> int:
    """How many rows of ``files`` pass ``filter`` (row groups wholly inside it are counted from statistics)."""
    if not files:
        return 0
    dataset, _ = _dataset(files)
    return int(dataset.count_rows(filter=filter))


def read_file(path: LogPath) -> Any:
    """One file as a table (a merge reads the parts it replaces)."""
    import pyarrow.parquet as pq

    [name], filesystem = arrow_files([path])
    return pq.read_table(name, filesystem=filesystem)


def _dataset(files: list[LogPath]) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    names, filesystem = arrow_files(files)
    if filesystem is None or len(names) == 1:
        schemas = [pq.read_schema(name, filesystem=filesystem) for name in names]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(_FOOTER_THREADS) as pool:
            schemas = list(pool.map(lambda name: pq.read_schema(name, filesystem=filesystem), names))
    schema = pa.unify_schemas(schemas, promote_options="permissive") if len(schemas) > 1 else schemas[0]
    return ds.dataset(names, schema=schema, format="parquet", filesystem=filesystem), schema


def scan_batches(files: list[LogPath], columns: list[str] | None = None, filter: Any = None,
                 batch_rows: int = 262_144) -> Any:
    """Iterate the rows of ``files`` as Arrow record batches (bounded memory, unified schema)."""
    import pyarrow.dataset as ds

    if not files:
        return
    dataset, schema = _dataset(files)
    wanted = [name for name in columns if name in schema.names] if columns else None
    # No pre-buffering and little read-ahead: memory stays flat however large the files (a day of log).
    options = ds.ParquetFragmentScanOptions(pre_buffer=False)
    yield from dataset.to_batches(columns=wanted, filter=filter, batch_size=batch_rows, batch_readahead=2,
                                  fragment_readahead=1, fragment_scan_options=options)
