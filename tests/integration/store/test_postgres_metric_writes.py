"""A server's metric writes on a real PostgreSQL: one autocommitted statement each, and dead pooled connections.

An MLflow client sends a request per ``log_metric``; the server writes each as ONE statement (the points and their
``latest_metrics`` upsert together) without BEGIN and COMMIT, and checks a pooled connection only after it sat
idle. These tests hold that to what the transaction path guaranteed: the same history, the same newest point, and
a database that closed its connections is an error the client can retry, never a wrong answer.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import shipyard
from shipyard.errors import StoreUnavailableError
from shipyard.store import db as db_module
from shipyard.store.location import location_for
from shipyard.store.schema import latest_metrics
from shipyard.store.store import Store
from shipyard.tracking.metrics import metric_points, write_points
from tests._servers.postgres import unavailable_reason

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(unavailable_reason() is not None,
                                                       reason=unavailable_reason() or "")]


@pytest.fixture
def store(pg_store: str, tmp_path: Path) -> Iterator[Store]:
    opened = Store(location_for(pg_store, objects=str(tmp_path / "objects")))
    yield opened
    opened.db.dispose()


def _run(store: Store) -> str:
    with shipyard.start_run(experiment="e", name="r") as run:
        pass
    return run.id


def _latest(store: Store, run_id: str) -> dict[str, tuple[int, float | None, int]]:
    rows = store.db.read(lambda conn: conn.execute(
        select(latest_metrics.c.key, latest_metrics.c.step, latest_metrics.c.value, latest_metrics.c.timestamp)
        .where(latest_metrics.c.run_id == run_id)).all())
    return {key: (step, value, stamp) for key, step, value, stamp in rows}


def _backends_of(store: Store) -> int:
    """Terminate every other connection to this database (what a restart does to a pool); returns how many."""
    def terminate(conn):  # type: ignore[no-untyped-def]
        return conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").scalar()

    with store.db.engine.connect() as conn:
        count = terminate(conn)
    return int(count)


def test_one_statement_writes_keep_the_history_and_the_newest_point(store: Store) -> None:
    run_id = _run(store)
    assert write_points(store, run_id, [("loss", 0.5, 3, 1_000), ("loss", 0.9, 1, 2_000), ("acc", math.nan, 0, 5)]) == 3
    write_points(store, run_id, [("loss", 0.1, 2, 9_000)])  # an older step later: the newest stays step 3
    write_points(store, run_id, [("acc", 0.7, 0, 4)])  # the same step, an older time: stays
    write_points(store, run_id, [("acc", 0.8, 0, 6)])  # the same step, a newer time: replaces
    assert metric_points(store, run_id, "loss") == [(1, 0.9, 2_000), (2, 0.1, 9_000), (3, 0.5, 1_000)]
    acc = metric_points(store, run_id, "acc")
    assert [(step, stamp) for step, _, stamp in acc] == [(0, 4), (0, 5), (0, 6)] and math.isnan(acc[1][1])
    assert _latest(store, run_id) == {"loss": (3, 0.5, 1_000), "acc": (0, 0.8, 6)}


def test_a_batch_past_one_statement_takes_the_transaction_path_with_the_same_result(store: Store) -> None:
    run_id = _run(store)
    points = [("loss", float(step), step, 10 + step) for step in range(2_500)]
    assert write_points(store, run_id, points) == 2_500
    assert len(metric_points(store, run_id, "loss")) == 2_500
    assert _latest(store, run_id) == {"loss": (2_499, 2_499.0, 2_509)}


def test_a_write_to_a_missing_run_is_refused_and_writes_nothing(store: Store) -> None:
    missing = uuid.uuid4().hex
    with pytest.raises(Exception, match="foreign key"):
        write_points(store, missing, [("loss", 1.0, 0, 1)])
    assert _latest(store, missing) == {} and metric_points(store, missing, "loss") == []


def test_an_idle_pooled_connection_the_database_closed_is_replaced_before_use(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _run(store)
    write_points(store, run_id, [("loss", 1.0, 0, 1)])  # the pool now holds a connection
    monkeypatch.setattr(db_module, "_PING_IDLE_S", 0.0)  # every pooled connection counts as idle
    assert _backends_of(store) >= 1
    write_points(store, run_id, [("loss", 2.0, 1, 2)])  # no error: the ping found it dead and opened another
    assert [step for step, _, _ in metric_points(store, run_id, "loss")] == [0, 1]


def test_a_connection_closed_while_busy_is_a_retryable_error_and_the_next_write_works(store: Store) -> None:
    run_id = _run(store)
    for step in range(3):  # the key catalogue learns "loss" (two writes), then the one-statement path runs
        write_points(store, run_id, [("loss", 1.0, step, 1)])
    assert _backends_of(store) >= 1  # used a moment ago: not pinged, so the write meets the closed connection
    with pytest.raises(StoreUnavailableError, match="cannot be used"):
        write_points(store, run_id, [("loss", 2.0, 3, 2)])
    write_points(store, run_id, [("loss", 2.0, 3, 2)])  # the client's retry: a fresh connection
    assert [step for step, _, _ in metric_points(store, run_id, "loss")] == [0, 1, 2, 3]


def test_the_one_statement_path_keeps_the_key_catalogue_exact(store: Store) -> None:
    """The fast path is taken only for keys this process saw in the catalogue; a key new to it (or to the
    database) goes through the transaction that records it, so the UI's column picker never misses one."""
    from shipyard.tracking.key_catalogue import keys_of, known_keys

    first, second = _run(store), _run(store)
    for _ in range(3):  # the first write inserts the key, the second finds it: from then on the one statement
        write_points(store, first, [("loss", 0.5, 0, 1)])
    assert known_keys(store.db.engine, "metrics", [(first, "loss")])
    assert not known_keys(store.db.engine, "metrics", [(first, "loss"), (first, "recall")])
    write_points(store, first, [("loss", 0.4, 1, 2), ("recall", 0.9, 0, 2)])  # one known key, one new
    write_points(store, second, [("auc", 0.8, 0, 3)])
    picked = store.db.read(lambda conn: keys_of(conn, "metrics", [], limit=100))
    assert picked == ["auc", "loss", "recall"]
    assert _latest(store, first)["recall"] == (0, 0.9, 2)
