"""The two SQL statements that differ between SQLite and PostgreSQL: insert-or-ignore and upsert."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table


def _insert_for(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose primary key is not there yet, leaving existing rows untouched; returns how many
    were inserted."""
    if not rows:
        return 0
    result = conn.execute(_ignore_statement(conn.dialect.name, table), rows)
    return int(result.rowcount)


def insert_ignore_returning(conn: Connection, table: Table, rows: list[dict[str, Any]],
                            columns: tuple[str, ...]) -> set[tuple[Any, ...]]:
    """Insert rows whose primary key is not there yet; returns the ``columns`` of the rows this call inserted
    (told by ``RETURNING``, so the rows not returned were already there)."""
    if not rows:
        return set()
    statement = _ignore_statement(conn.dialect.name, table).returning(*[table.c[name] for name in columns])
    return {tuple(row) for row in conn.execute(statement, rows).all()}


def insert_one_ignore(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """Insert one row unless its primary key is there (or being inserted by a transaction this one then waits
    for); returns whether it was inserted. Told by ``RETURNING``, not by the driver's rowcount, which psycopg
    reports as -1 for SQLAlchemy's statements."""
    key = next(iter(table.primary_key.columns))
    statement = _ignore_statement(conn.dialect.name, table).values(**row).returning(key)
    return conn.execute(statement).first() is not None


def upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], *, where: Any = None) -> None:
    """Insert rows, or overwrite the non-key columns of rows already there.

    ``where`` is a module-level function receiving (table, excluded) and returning a condition; an
    existing row is only overwritten when it holds (for "keep the value with the highest step").
    """
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name, table, tuple(rows[0]), where), rows)


# Statements are built once: building one costs more than executing it on SQLite.
@lru_cache(maxsize=64)
def _ignore_statement(dialect: str, table: Table) -> Any:
    return _insert_for(dialect, table).on_conflict_do_nothing()


@lru_cache(maxsize=64)
def _upsert_statement(dialect: str, table: Table, columns: tuple[str, ...], where: Any) -> Any:
    statement = _insert_for(dialect, table)
    keys = {column.name for column in table.primary_key.columns}
    updates = {name: statement.excluded[name] for name in columns if name not in keys}
    condition = where(table, statement.excluded) if where is not None else None
    return statement.on_conflict_do_update(index_elements=sorted(keys), set_=updates, where=condition)


def json_object_agg(conn: Connection, key: Any, value: Any, *, numeric: bool = False) -> Any:
    """An aggregate building one JSON object per group from key and value columns.

    Reading one small document per run is far cheaper than one row per (run, key). JSON has no
    infinities: PostgreSQL writes them as the strings "Infinity" and "-Infinity", while SQLite 3.40 writes
    a bare ``Inf`` that no JSON parser reads, so on SQLite ``numeric`` values are mapped to those strings
    first. ``float()`` reads them back either way.
    """
    from sqlalchemy import case, func, literal

    if conn.dialect.name == "postgresql":
        return func.json_object_agg(key, value)
    if numeric:
        largest = 1.7976931348623157e308
        value = case((value > largest, literal("Infinity")), (value < -largest, literal("-Infinity")), else_=value)
    return func.json_group_object(key, value)


def placeholders(conn: Connection, count: int) -> str:
    """Positional placeholders in the driver's own style, for the bulk metric insert fast path."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)
