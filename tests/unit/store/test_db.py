"""The metadata database's engine-free reads: what ``Database.read_sqlite`` answers, and when it declines.

``read_sqlite`` lets ``shipyard status`` and store opening skip SQLAlchemy. It must give exactly the rows
the engine would, and whenever it cannot (not a plain SQLite file, missing, damaged), say so with ``None``
rather than answer differently, create a file or write anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from shipyard.store.db import SCHEMA_HEAD, Database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A real store database at schema head, holding three stat cache rows."""
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    db.ensure_schema()
    rows = [{"path": f"/w/data/f{index}", "inode": index, "size": 10 * index, "mtime_ns": 2**62 + index,
             "ctime_ns": index, "hash": f"{index:064x}"} for index in range(3)]
    db.write(lambda conn: conn.execute(text("INSERT INTO stat_cache VALUES "
                                            "(:path, :inode, :size, :mtime_ns, :ctime_ns, :hash)"), rows))
    yield db
    db.dispose()


@pytest.mark.parametrize("uri", ["sqlite:///relative/meta.db", "sqlite://", "sqlite:///:memory:",
                                 "sqlite:////tmp/meta.db?timeout=3", "sqlite:////tmp/a%20b/meta.db",
                                 "sqlite+pysqlite:////tmp/meta.db", "postgresql://user@host/db"])
def test_only_a_plain_absolute_sqlite_file_is_read_without_the_engine(uri: str) -> None:
    """Relative paths, options and escapes are SQLAlchemy's to interpret; guessing could open another file."""
    database = Database(uri)
    assert database.sqlite_path is None
    assert database.read_sqlite("SELECT 1") is None


def test_the_rows_are_those_the_engine_reads(database: Database) -> None:
    sql = "SELECT path, inode, size, mtime_ns, ctime_ns, hash FROM stat_cache WHERE path >= ? AND path < ?"
    bounds = ("/w/data/", "/w/data0")

    def through_engine(conn: Connection) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.exec_driver_sql(sql, bounds)]

    fast = database.read_sqlite(sql, bounds)
    assert fast is not None and len(fast) == 3
    assert fast == database.read(through_engine)
    assert database.read_sqlite("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]


def test_it_never_writes(database: Database) -> None:
    assert database.read_sqlite("DELETE FROM stat_cache") is None
    assert database.read_sqlite("SELECT COUNT(*) FROM stat_cache") == [(3,)]


def test_a_missing_file_is_declined_and_not_created(tmp_path: Path) -> None:
    """``shipyard runs list`` tells "no store here" by the file's absence: a read must not create it."""
    path = tmp_path / "meta.db"
    assert Database(f"sqlite:///{path}").read_sqlite("SELECT 1") is None
    assert not path.exists()


def test_a_damaged_file_is_declined_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    path.write_bytes(b"\x00garbage" * 512)
    assert Database(f"sqlite:///{path}").read_sqlite("SELECT version_num FROM alembic_version") is None
    assert path.read_bytes() == b"\x00garbage" * 512


def test_a_missing_table_is_declined(tmp_path: Path) -> None:
    """A new store has no tables yet: ensure_schema must then go on to migrate it."""
    path = tmp_path / "meta.db"
    database = Database(f"sqlite:///{path}")
    database.read(lambda conn: conn.execute(text("SELECT 1")))  # the engine creates an empty file
    assert path.exists()
    assert database.read_sqlite("SELECT version_num FROM alembic_version") is None
    database.ensure_schema()
    assert database.read_sqlite("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
