"""Metric points: buffered in memory, written in batches, read back as a history.

A training loop calls ``log_metric`` thousands of times a second; writing each point in its own
transaction (as MLflow does) costs milliseconds per call. Here a call only appends a tuple to a list.
A background thread writes the list every ``FLUSH_INTERVAL_S`` (or sooner once it is long) with one
bulk insert, and the same flush runs at the end of every run, on ``shipyard.flush()``, before any read
of metrics from this process, and at interpreter exit. A process killed with SIGKILL therefore loses at
most the last interval's points, and everything flushed before is committed.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Connection, and_, func, or_, select

from ..errors import ValidationError
from ..store import Store
from ..store.dialect import placeholders, upsert
from ..store.schema import latest_metrics, metrics
from .key_catalogue import known_keys, record_keys
from .validation import check_key, check_metric_value, check_step

if TYPE_CHECKING:
    import pandas as pd

FLUSH_INTERVAL_S = 1.0
_WAKE_AT = 50_000  # pending points that wake the flusher early
# Pending points that make the caller flush itself: a loop that logs faster than the database takes
# points (about 1M a second against 200k) would otherwise grow without bound and lose more on a kill.
_BLOCK_AT = 500_000

Point = tuple[str, str, int, float | None, int]  # run_id, key, step, value (None = NaN), timestamp ms
# Up to this many points go to PostgreSQL as one statement with their latest_metrics upsert (10 parameters a
# point at most, well under PostgreSQL's 65,535); a larger batch is an executemany plus an upsert.
_ONE_STATEMENT_POINTS = 1_000


class PointBuffer:
    """What the local store's writer and the tracking server's sender share: ``log_metric``'s checks and step
    numbering, the buffer, and the daemon thread that empties it every ``FLUSH_INTERVAL_S`` (or sooner once
    ``wake_at`` points wait). Subclasses say how a flush empties it."""

    thread_name: ClassVar[str]
    retry_message: ClassVar[str]  # printed when the thread's flush fails; ``{exc}`` is the error
    wake_at: ClassVar[int] = _WAKE_AT

    def __init__(self) -> None:
        self._pending: list[Point] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._next_step: dict[tuple[str, str], int] = {}
        self._thread: threading.Thread | None = None

    def add(self, run_id: str, key: str, value: Any, step: Any = None, timestamp_ms: int | None = None) -> None:
        key = check_key(key, "metric")
        number = check_metric_value(key, value)
        step_key = (run_id, key)
        if step is None:
            step_number = self._next_step.get(step_key, 0)
        else:
            step_number = check_step(key, step)
        self._next_step[step_key] = step_number + 1
        stamp = time.time_ns() // 1_000_000 if timestamp_ms is None else int(timestamp_ms)
        with self._lock:
            self._pending.append((run_id, key, step_number, number, stamp))
            size = len(self._pending)
        if self._thread is None:
            self._start()
        if size >= self.wake_at:
            self._wake.set()
            if size >= _BLOCK_AT:
                self.flush()

    def flush(self) -> int:
        raise NotImplementedError

    def _flush_interval_s(self) -> float:
        return FLUSH_INTERVAL_S

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:  # a daemon thread: it ends with the process
            self._wake.wait(self._flush_interval_s())
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # the points stay queued; the next flush (or the caller's own) retries
                print(f"shipyard: {self.retry_message.format(exc=exc)}", file=sys.stderr)


class MetricWriter(PointBuffer):
    """The per-process buffer of one store."""

    thread_name = "shipyard-metric-flush"
    retry_message = "could not write metrics yet ({exc}); will retry."

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self._flush_lock = threading.Lock()

    def flush(self, also: Callable[[Connection], None] | None = None) -> int:
        """Write every pending point; returns how many. Safe to call from any thread.

        ``also`` runs in the same transaction, so ending a run and writing its last points cost one
        commit, and a run is never seen FINISHED without its final metrics.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch and also is None:
                return 0

            def work(conn: Connection) -> None:
                if batch:
                    insert_points(conn, batch)
                if also is not None:
                    also(conn)

            try:
                self.store.db.write(work)
            except BaseException:
                with self._lock:  # keep the points for the next attempt rather than dropping them
                    self._pending[:0] = batch
                raise
            return len(batch)


def insert_points(conn: Connection, batch: Sequence[Point]) -> None:
    """Write checked points (of any runs) inside the caller's transaction, keeping ``latest_metrics`` current."""
    latest = _latest_of(batch)
    if conn.dialect.name == "postgresql" and len(batch) <= _ONE_STATEMENT_POINTS:
        conn.exec_driver_sql(*_points_statement(batch, latest))
    else:
        columns = "run_id, key, step, value, timestamp"
        conn.exec_driver_sql(f"INSERT INTO metrics ({columns}) VALUES ({placeholders(conn, 5)})", batch)
        rows = [{"run_id": p[0], "key": p[1], "value": p[3], "step": p[2], "timestamp": p[4]} for p in latest]
        upsert(conn, latest_metrics, rows, where=_is_newer)
    record_keys(conn, "metrics", [(point[0], point[1]) for point in latest])


def _latest_of(batch: Sequence[Point]) -> list[Point]:
    """The newest point (highest step, then latest timestamp) of each (run, key) in ``batch``."""
    latest: dict[tuple[str, str], Point] = {}
    for point in batch:
        key = (point[0], point[1])
        seen = latest.get(key)
        if seen is None or (point[2], point[4]) >= (seen[2], seen[4]):
            latest[key] = point
    return list(latest.values())


def _points_statement(batch: Sequence[Point], latest: Sequence[Point]) -> tuple[str, tuple[Any, ...]]:
    """The points and their ``latest_metrics`` upsert as ONE PostgreSQL statement (a data-modifying CTE).

    One statement is one round trip, and atomic by itself, so :func:`write_points` runs it without BEGIN and
    COMMIT: an MLflow client's ``log-metric`` costs the server one statement instead of four
    (benchmarks/bench_mlflow_compat.py). The upsert keeps the same "newer step, then newer time" rule as
    :func:`_is_newer`.
    """
    row = "(%s, %s, %s, %s, %s)"
    sql = (f"WITH logged AS (INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES "
           f"{', '.join([row] * len(batch))}) "
           f"INSERT INTO latest_metrics AS held (run_id, key, step, value, timestamp) VALUES "
           f"{', '.join([row] * len(latest))} "
           "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
           "timestamp = excluded.timestamp WHERE excluded.step > held.step OR "
           "(excluded.step = held.step AND excluded.timestamp >= held.timestamp)")
    return sql, tuple(value for point in (*batch, *latest) for value in point)


def _is_newer(table: Any, new: Any) -> Any:
    return or_(new.step > table.c.step, and_(new.step == table.c.step, new.timestamp >= table.c.timestamp))


_writers: dict[int, MetricWriter] = {}
_writers_lock = threading.Lock()


def writer_for(store: Store) -> MetricWriter:
    writer = _writers.get(id(store))
    if writer is not None and writer.store is store:
        return writer
    flush_in_forked_workers(_flush_at_exit)
    with _writers_lock:
        writer = _writers.get(id(store))
        if writer is None or writer.store is not store:
            writer = _writers[id(store)] = MetricWriter(store)
        return writer


def flush_all() -> None:
    for writer in list(_writers.values()):
        if writer.store.pid == os.getpid():
            writer.flush()


def write_points(store: Store, run_id: str, points: Sequence[tuple[Any, Any, Any, Any]]) -> int:
    """Write ``(key, value, step, timestamp_ms)`` points of one run now, in one transaction, past the buffer.

    For a server answering a client that waits for the commit (MLflow's ``log-metric``/``log-batch``): the
    answer must mean "stored". Every point is checked before any is written; returns how many were.
    """
    batch = check_points(run_id, points)
    latest = _latest_of(batch)
    if (batch and not store.db.is_sqlite and len(batch) <= _ONE_STATEMENT_POINTS
            and known_keys(store.db.engine, "metrics", [(point[0], point[1]) for point in latest])):
        store.db.write_statement(*_points_statement(batch, latest))  # one round trip, autocommitted
    elif batch:  # a key new to this process goes through the transaction that also keeps the key catalogue
        store.db.write(lambda conn: insert_points(conn, batch))
    return len(batch)


def check_points(run_id: str, points: Sequence[tuple[Any, Any, Any, Any]]) -> list[Point]:
    """``(key, value, step, timestamp_ms)`` points as rows to store, every one checked (no timestamp: now)."""
    batch: list[Point] = []
    for key, value, step, timestamp_ms in points:
        checked = check_key(key, "metric")
        stamp = time.time_ns() // 1_000_000 if timestamp_ms is None else _timestamp(checked, timestamp_ms)
        batch.append((run_id, checked, check_step(checked, 0 if step is None else step),
                      check_metric_value(checked, value), stamp))
    return batch


def _timestamp(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValidationError(f"The timestamp of metric {key!r} must be whole milliseconds since 1970, got {value!r}.",
                              field="timestamp")
    return value


def metric_points(store: Store, run_id: str, key: str) -> list[tuple[int, float, int]]:
    """Every logged ``(step, value, timestamp_ms)`` of one metric, by step then time; NaN stays NaN."""
    writer_for(store).flush()  # read-your-writes for points still in this process's buffer
    rows = store.db.read(lambda conn: conn.execute(
        select(metrics.c.step, metrics.c.value, metrics.c.timestamp)
        .where(metrics.c.run_id == run_id, metrics.c.key == key)
        .order_by(metrics.c.step, metrics.c.timestamp)
    ).all())
    return [(int(step), float("nan") if value is None else float(value), int(stamp)) for step, value, stamp in rows]


def metric_history(store: Store, run_id: str, key: str) -> pd.DataFrame:
    """Every logged point of one metric: columns step, value, timestamp (UTC), ordered by step."""
    import pandas as pd

    writer_for(store).flush()  # read-your-writes for points still in this process's buffer
    rows = store.db.read(lambda conn: conn.execute(
        select(metrics.c.step, metrics.c.value, metrics.c.timestamp)
        .where(metrics.c.run_id == run_id, metrics.c.key == key)
        .order_by(metrics.c.step, metrics.c.timestamp)
    ).all())
    frame = pd.DataFrame(rows, columns=["step", "value", "timestamp"])
    frame["value"] = frame["value"].astype("float64")  # NULL (stored NaN) becomes NaN
    frame["step"] = frame["step"].astype("int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms", utc=True)
    return frame


def thinning_stride(steps: int, max_points: int) -> int:
    """Keep every ``stride``-th of ``steps`` distinct steps so that at most about ``max_points`` remain."""
    return max(1, -(-steps // max_points))


def thinned_steps(steps: Sequence[int], max_points: int) -> list[int]:
    """The steps a chart keeps of ``steps`` (distinct, ascending): the rule of every thinned history.

    The steps are cut into buckets of :func:`thinning_stride` consecutive steps and each bucket is drawn at
    its last step, plus the very last step when the final bucket is short: the curve keeps its shape, the
    final value is shown as logged, and the result has at most ``max_points + 1`` steps.
    :func:`thinned_histories` applies the same rule inside the database.
    """
    stride = thinning_stride(len(steps), max_points)
    kept = list(steps[stride - 1 :: stride])
    if steps and (not kept or kept[-1] != steps[-1]):
        kept.append(steps[-1])
    return kept


def thinned_histories(store: Store, run_id: str, keys: Sequence[str], max_points: int,
                      ) -> dict[str, list[tuple[int, float | None]]]:
    """Key -> the (step, value) points of each metric in ``keys``, thinned by :func:`thinned_steps`.

    One count of each metric's distinct steps, then one query for all the keys' points in index order,
    thinned in a single pass that holds only the kept points: a run with 20 metrics of 50,000 steps
    costs one scan and no DataFrame, and returns at most ``max_points + 1`` points per metric. (Thinning
    with SQL window functions was tried: SQLite sorts the whole history in a temporary B-tree for them,
    which made it slower than this pass.) A step logged twice keeps its later value; NaN is ``None``.
    """
    if not keys:
        return {}
    writer_for(store).flush()  # read-your-writes for points still in this process's buffer
    wanted = list(keys)
    counted = (select(metrics.c.key, func.count(func.distinct(metrics.c.step)))
               .where(metrics.c.run_id == run_id, metrics.c.key.in_(wanted)).group_by(metrics.c.key))
    points = (select(metrics.c.key, metrics.c.step, metrics.c.value)
              .where(metrics.c.run_id == run_id, metrics.c.key.in_(wanted))
              .order_by(metrics.c.key, metrics.c.step, metrics.c.timestamp))

    def read(conn: Connection) -> dict[str, list[tuple[int, float | None]]]:
        steps_of: dict[str, int] = {key: int(count) for key, count in conn.execute(counted)}
        out: dict[str, list[tuple[int, float | None]]] = {}
        kept: list[tuple[int, float | None]] = []
        current, position, previous_step, stride, keep = None, 0, None, 1, False
        for key, step, value in conn.execute(points):
            if key != current:
                current, position, previous_step = key, 0, None
                stride, kept = thinning_stride(steps_of[key], max_points), out.setdefault(key, [])
            if step != previous_step:
                position, previous_step = position + 1, step
                keep = position % stride == 0 or position == steps_of[key]
                if keep:
                    kept.append((int(step), value))
            elif keep:  # the same step again, logged later: its value replaces the kept one
                kept[-1] = (int(step), value)
        return out

    return store.db.read(read)


def _flush_at_exit() -> None:
    try:
        flush_all()
    except Exception as exc:
        print(f"shipyard: metrics could not be written at exit: {exc}", file=sys.stderr)


atexit.register(_flush_at_exit)
_forked_flushes: set[Callable[[], None]] = set()


def flush_in_forked_workers(flush: Callable[[], None]) -> None:
    """Make fork-started multiprocessing workers run ``flush`` too: they leave through ``os._exit``, which skips
    atexit, but they run multiprocessing's own exit finalizers (registered anew in each child). Installed once per
    ``flush``; the local store's writers and the tracking server's sender each install theirs."""
    if flush in _forked_flushes:
        return
    _forked_flushes.add(flush)
    import multiprocessing.util as mp_util

    def in_child(_: object) -> None:
        mp_util.Finalize(None, flush, exitpriority=100)

    mp_util.register_after_fork(flush, in_child)
