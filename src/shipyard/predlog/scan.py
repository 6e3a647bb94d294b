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
_SCHEMAS_KEPT = 20_000  # remote schemas remembered per process (a week of hourly files from a few replicas)
# Remote files are never rewritten under the same name (a flush or a merge writes a new one), so a schema
# read once stays true: a report scans the same files several times and asks S3 for each footer once.
_schemas: dict[str, Any] = {}


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


def file_schema(path: LogPath) -> Any:
    """One file's schema (with its metadata), remembered for remote files."""
    names, filesystem = arrow_files([path])
    if filesystem is None:
        import pyarrow.parquet as pq

        return pq.read_schema(names[0])
    return _remote_schemas([path], names, filesystem)[0]


def _dataset(files: list[LogPath]) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    names, filesystem = arrow_files(files)
    if filesystem is None:
        schemas = [pq.read_schema(name) for name in names]
    else:
        schemas = _remote_schemas(files, names, filesystem)
    schema = pa.unify_schemas(schemas, promote_options="permissive") if len(schemas) > 1 else schemas[0]
    return ds.dataset(names, schema=schema, format="parquet", filesystem=filesystem), schema


def _remote_schemas(files: list[LogPath], names: list[str], filesystem: Any) -> list[Any]:
    import pyarrow.parquet as pq

    keys = [str(path) for path in files]
    missing = [(key, name) for key, name in zip(keys, names, strict=True) if key not in _schemas]
    if missing:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(_FOOTER_THREADS, len(missing))) as pool:
            read = list(pool.map(lambda item: pq.read_schema(item[1], filesystem=filesystem), missing))
        if len(_schemas) + len(read) > _SCHEMAS_KEPT:
            _schemas.clear()
        _schemas.update({key: schema for (key, _), schema in zip(missing, read, strict=True)})
    return [_schemas[key] for key in keys]


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
