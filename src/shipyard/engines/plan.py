"""Planning a distributed scoring run on the driver: the input's files, their checks, and the pieces to score.

Only Parquet footers are read here (row counts, row groups, schema), so a missing column or a column of the wrong
type stops the run before any engine starts, with the local engine's message. A piece is a run of whole row
groups of one file, numbered by the row it starts at in the whole input (0-based, files in name order): that
number is what error messages name, and what puts the scored parts back in input order.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..extras import require
from ..models.batch import check_columns
from ..models.datafile import check_column_types
from ..models.signature import Signature

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Piece:
    """Row groups ``row_groups`` of the file ``url``: rows ``start`` to ``start + rows`` of the input."""

    url: str
    row_groups: tuple[int, ...]
    start: int
    rows: int


@dataclass
class Plan:
    source_name: str  # how messages name the input: the file's (or folder's) name, as the local engine does
    files: list[tuple[str, list[int]]]  # each file's URL and the row counts of its row groups, in input order
    columns: list[str]  # the columns the workers read: the model's, then the id columns
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(sum(groups) for _, groups in self.files)

    def pieces(self, *, batch_size: int, parallelism: int) -> list[Piece]:
        """Consecutive row groups of one file, joined until a piece holds about a third of a worker's share (and
        at least one batch), so each worker gets a few pieces to balance and none is a sliver."""
        target = max(batch_size, math.ceil(self.rows / max(1, 3 * parallelism)))
        pieces: list[Piece] = []
        start = 0
        for url, groups in self.files:
            current: list[int] = []
            rows = 0
            for index, count in enumerate(groups):
                if current and rows + count > target:
                    pieces.append(Piece(url, tuple(current), start, rows))
                    start, current, rows = start + rows, [], 0
                current.append(index)
                rows += count
            if current and rows:
                pieces.append(Piece(url, tuple(current), start, rows))
                start += rows
        return pieces


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and path of a local path or URL (``s3://`` needs the s3 extra)."""
    import fsspec

    protocol = url.split("://", 1)[0] if "://" in url else "file"
    if protocol in ("s3", "s3a"):
        require("s3fs", f"Reading and writing {protocol}:// files")
    return fsspec.core.url_to_fs(url)


def open_input(url: str) -> Any:
    """A file to read: pyarrow's own native file for a local path (no Python in the read loop), else fsspec's."""
    if "://" not in url:
        import pyarrow as pa

        return pa.OSFile(url, "rb")
    fs, path = filesystem(url)
    return fs.open(path, "rb")


def open_output(url: str) -> Any:
    """A file to write, as :func:`open_input` opens one to read."""
    if "://" not in url:
        import pyarrow as pa

        return pa.OSFile(url, "wb")
    fs, path = filesystem(url)
    return fs.open(path, "wb")


def full_url(fs: Any, path: str) -> str:
    """A path of ``fs`` as the workers open it: a URL for remote filesystems, a plain path on this one."""
    return path if _is_local(fs) else fs.unstrip_protocol(path)


def is_parquet_name(name: str) -> bool:
    return name.lower().endswith(PARQUET_SUFFIXES)


def plan_input(source: str, signature: Signature, id_columns: list[str]) -> Plan:
    """The Parquet file or folder ``source`` as a plan, after checking its columns against the model."""
    import pyarrow.parquet as pq

    fs, path = filesystem(source)
    source_name = os.path.basename(path.rstrip("/")) or source
    kinds = {spec.name: spec.kind for spec in signature.inputs}
    files: list[tuple[str, list[int]]] = []
    names: list[str] = []
    for name in _parquet_files(fs, path, source):
        with fs.open(name, "rb") as handle:
            metadata = pq.ParquetFile(handle).metadata
            schema = metadata.schema.to_arrow_schema()
            check_columns(signature, schema.names, id_columns, source_name)
            try:
                check_column_types(schema, kinds, source_name)
            except ValidationError as exc:  # read a few values of the column, for the message's example
                values = next(pq.ParquetFile(handle).iter_batches(batch_size=20, columns=[exc.field or ""]), None)
                check_column_types(schema, kinds, source_name, values=values)
                raise
        files.append((full_url(fs, name), [metadata.row_group(index).num_rows
                                           for index in range(metadata.num_row_groups)]))
        names = names or list(schema.names)
    wanted = signature.column_names
    ignored = [str(name) for name in names if name not in wanted and name not in id_columns]
    return Plan(source_name, files, [*wanted, *[name for name in id_columns if name not in wanted]], ignored)


def _parquet_files(fs: Any, path: str, source: str) -> list[str]:
    if fs.isfile(path):
        if not is_parquet_name(path):
            raise ValidationError(f"The input {os.path.basename(path)!r} must be a .parquet file (or a folder of them) "
                                  "for the Spark and Dask engines.", field="input")
        return [path]
    if not fs.isdir(path):
        raise NotFoundError(f"Input {source!r} does not exist.")
    files = sorted(name for name in fs.find(path) if is_parquet_name(name)
                   and not any(part.startswith(("_", ".")) for part in name[len(path):].split("/") if part))
    if not files:
        raise ValidationError(f"The folder {source!r} holds no .parquet files to score.", field="input")
    return files


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")
