"""Append-only Parquet logs partitioned by deployment and hour, written off the request path.

Why Parquet files and not a database table: monitoring reads a few columns (one feature, the
probabilities) of millions of rows for one deployment and time range. A columnar file per flush, in
``deployment=<name>/date=<YYYY-MM-DD>/hour=<HH>/`` folders, lets a query skip every partition outside the
range and every column it does not need (pyarrow here, DuckDB reads the same layout), and lets several
worker processes append without sharing a writer. Each flush is one group commit: a file written to a
hidden temporary name, fsynced and renamed, so readers never see half a file and a crash loses at most
the last flush interval. Hidden names (``.`` or ``_`` prefix) are ignored by readers.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TableBuilder = Callable[[list[Any]], Any]  # entries of one partition -> pyarrow.Table
_sequence = itertools.count()


class PartitionedLog:
    """Buffer entries in memory and write them every ``flush_interval`` seconds from a thread."""

    def __init__(self, root: Path, build: TableBuilder, *, flush_interval: float = 1.0, name: str = "log") -> None:
        self.root = root
        self._build = build
        self._interval = flush_interval
        self._lock = threading.Condition()
        self._pending: list[tuple[str, int, Any]] = []  # (deployment, epoch ms, entry)
        self._waiters: list[Future[None]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"shipyard-{name}-writer", daemon=True)
        self.rows_written = 0
        self.last_error: str | None = None

    @property
    def queued(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._thread.start()

    def append(self, deployment: str, timestamp_ms: int, entry: Any) -> None:
        with self._lock:
            self._pending.append((deployment, timestamp_ms, entry))

    def append_durable(self, deployment: str, timestamp_ms: int, entries: Iterable[Any]) -> Future[None]:
        """Append and get a future that resolves once the entries are on disk (for acknowledged writes)."""
        done: Future[None] = Future()
        with self._lock:
            self._pending.extend((deployment, timestamp_ms, entry) for entry in entries)
            self._waiters.append(done)
            self._lock.notify()
        return done

    def flush(self) -> None:
        """Write everything buffered now (from any thread)."""
        self.append_durable("", 0, ()).result()

    def close(self) -> None:
        """Write what is buffered and stop the writer thread."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        if self._thread.is_alive():
            self._thread.join()
        else:
            self._write(*self._swap())

    def _swap(self) -> tuple[list[tuple[str, int, Any]], list[Future[None]]]:
        with self._lock:
            pending, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
        return pending, waiters

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._closed and not self._waiters:
                    self._lock.wait(self._interval)
                closing = self._closed
            self._write(*self._swap())
            if closing:
                return

    def _write(self, pending: list[tuple[str, int, Any]], waiters: list[Future[None]]) -> None:
        error: BaseException | None = None
        groups: dict[tuple[str, str, str], list[Any]] = {}
        for deployment, timestamp_ms, entry in pending:
            if not deployment:
                continue
            moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
            groups.setdefault((deployment, moment.strftime("%Y-%m-%d"), moment.strftime("%H")), []).append(entry)
        for (deployment, date, hour), entries in groups.items():
            folder = self.root / f"deployment={deployment}" / f"date={date}" / f"hour={hour}"
            try:
                self._write_file(folder, self._build(entries))
                self.rows_written += len(entries)
            except Exception as exc:  # keep serving; the error is exposed on /health and in metrics
                error = exc
                self.last_error = f"{type(exc).__name__}: {exc}"
        for waiter in waiters:
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    @staticmethod
    def _write_file(folder: Path, table: Any) -> None:
        import pyarrow.parquet as pq

        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns() // 1_000_000}-{os.getpid()}-{next(_sequence)}.parquet"
        temp = folder / f".{name}.tmp"
        with open(temp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, folder / name)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def partition_files(root: Path, deployment: str | None, since_ms: int | None, until_ms: int | None) -> list[Path]:
    """Files of one deployment (or all) whose hour partition can hold rows in [since, until)."""
    if not root.is_dir():
        return []
    low = _hour_key(since_ms) if since_ms is not None else None
    high = _hour_key(until_ms) if until_ms is not None else None
    folders = [root / f"deployment={deployment}"] if deployment else sorted(root.glob("deployment=*"))
    files: list[Path] = []
    for folder in folders:
        for date_dir in sorted(folder.glob("date=*")):
            for hour_dir in sorted(date_dir.glob("hour=*")):
                key = f"{date_dir.name[5:]}T{hour_dir.name[5:]}"
                if (low is not None and key < low) or (high is not None and key > high):
                    continue
                files.extend(sorted(path for path in hour_dir.iterdir()
                                    if path.suffix == ".parquet" and not path.name.startswith((".", "_"))))
    return files


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


def _hour_key(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H")
