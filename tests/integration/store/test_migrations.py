"""The schema the Alembic migrations create is the one the code declares, and creating it is race-free."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import shipyard
from shipyard.store import db as store_db, schema
from tests.integration._children import Children, assert_clean_exit, query

MIGRATIONS = Path(store_db.__file__).with_name("migrations")


@pytest.fixture
def migrated(meta_db: Path) -> Iterator[sa.Connection]:
    """A connection to a brand-new store's database, created by Shipyard's own migrations."""
    assert not meta_db.exists()
    shipyard.current_store()
    engine = sa.create_engine(f"sqlite:///{meta_db}")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def schema_diff(conn: sa.Connection, metadata: sa.MetaData) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


def test_migrations_create_exactly_the_declared_schema(migrated: sa.Connection) -> None:
    assert schema_diff(migrated, schema.metadata) == []


def test_the_comparison_would_notice_a_difference(migrated: sa.Connection) -> None:
    changed = sa.MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(changed)
    sa.Table("runs", changed, sa.Column("priority", sa.Integer), extend_existing=True)
    sa.Index("ix_tags_value", changed.tables["tags"].c.value)
    found = {entry[0] for entry in schema_diff(migrated, changed) if isinstance(entry, tuple)}
    assert found == {"add_column", "add_index"}


def test_clustered_tables_are_without_rowid(migrated: sa.Connection) -> None:
    declared = {table.name for table in schema.metadata.tables.values()
                if table.dialect_options["sqlite"]["with_rowid"] is False}
    assert {"params", "tags", "latest_metrics", "artifacts"} <= declared  # the key-value tables, at least
    created = dict(migrated.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
    for name in schema.metadata.tables:
        assert created[name].rstrip().upper().endswith("WITHOUT ROWID") == (name in declared), created[name]


def test_the_stamped_revision_is_the_head(migrated: sa.Connection, meta_db: Path) -> None:
    config_head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert config_head == store_db.SCHEMA_HEAD
    assert query(meta_db, "SELECT version_num FROM alembic_version") == [(store_db.SCHEMA_HEAD,)]


OPEN_NEW_STORE = """
store = shipyard.current_store()
with shipyard.start_run(experiment="race", name=f"opener-{INDEX}") as run:
    shipyard.log_metric("opened", float(INDEX))
print(run.id)
"""


def test_processes_opening_one_new_store_at_once_migrate_it_once(children: Children, isolated_store: Path,
                                                                   meta_db: Path) -> None:
    assert not isolated_store.exists()  # brand new: not even the directory
    openers = 6
    done = children.run(OPEN_NEW_STORE, openers)
    assert_clean_exit(done)
    assert query(meta_db, "SELECT version_num FROM alembic_version") == [(store_db.SCHEMA_HEAD,)]
    assert query(meta_db, "SELECT COUNT(*) FROM experiments WHERE name = 'race'") == [(1,)]
    assert query(meta_db, "SELECT COUNT(*) FROM runs") == [(openers,)]
    for child in done:
        assert shipyard.get_run(child.stdout.strip()).metrics == {"opened": float(child.index)}
    assert query(meta_db, "PRAGMA integrity_check") == [("ok",)]
    engine = sa.create_engine(f"sqlite:///{meta_db}")
    try:
        with engine.connect() as conn:
            assert schema_diff(conn, schema.metadata) == []
    finally:
        engine.dispose()
