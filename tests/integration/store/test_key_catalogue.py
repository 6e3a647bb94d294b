"""The key catalogue (migration 0013) answers the UI's column picker exactly as the scan of the key tables did.

A store is filled through the public API on the schema before 0013 (three experiments; keys shared, keys of one
experiment only, a NaN metric, a metric with a history, a param logged twice), then ``shipyard server db upgrade``
runs the real migration; for every choice of experiments the picker's keys must equal the old DISTINCT over
``params`` / ``latest_metrics``. Then writes after the upgrade must keep it exact. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import shipyard
from shipyard.store.db import SCHEMA_HEAD
from shipyard.store.schema import experiments, latest_metrics, params, runs
from shipyard.tracking.key_catalogue import keys_of
from tests._servers.postgres import unavailable_reason
from tests.integration.server._server import shipyard as shipyard_cli
from tests.integration.store.conftest import new_database

LIMIT = 500


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(unavailable_reason() is not None, reason=unavailable_reason() or "")])])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database at the current schema, as ``shipyard server db upgrade`` makes it."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'meta.db'}"
        shipyard_cli("server", "db", "upgrade", "--backend-store-uri", uri)
        yield uri
        return
    uri = new_database(request.getfixturevalue("postgres_url"))  # the process's one cluster, started once
    shipyard_cli("server", "db", "upgrade", "--backend-store-uri", uri)
    yield uri


def _fill(uri: str, objects: Path) -> None:
    shipyard.set_store(uri, objects=str(objects))
    try:
        for index in range(6):
            experiment = ("churn", "fraud", "empty-keys")[index % 3]
            with shipyard.start_run(experiment=experiment, name=f"r{index}"):
                if experiment == "empty-keys":
                    continue
                shipyard.log_params({"model": "gbm", f"only_{experiment}": index})
                shipyard.log_params({"model": "gbm"})  # the same value again: accepted, nothing new
                for step in range(3):
                    shipyard.log_metric("loss", 1 / (step + 1), step=step)
                shipyard.log_metric(f"auc_{experiment}", float("nan") if index == 0 else 0.8)
    finally:
        shipyard.set_store(None)


def _scanned_keys(conn: sa.Connection, table: sa.Table, experiment_ids: list[int]) -> list[str]:
    """The picker's query before the catalogue: a DISTINCT over the key table of the experiments' runs."""
    query = sa.select(table.c.key).distinct().order_by(table.c.key).limit(LIMIT)
    if experiment_ids:
        query = query.where(table.c.run_id.in_(sa.select(runs.c.id).where(runs.c.experiment_id.in_(experiment_ids))))
    return list(conn.execute(query).scalars())


def _assert_catalogue_matches_the_scan(uri: str) -> int:
    """Compares every choice of experiments (none, each, each pair, all); returns how many keys were compared."""
    engine = sa.create_engine(uri)
    compared = 0
    try:
        with engine.connect() as conn:
            ids = list(conn.execute(sa.select(experiments.c.id)).scalars())
            choices = [list(chosen) for size in range(len(ids) + 1) for chosen in itertools.combinations(ids, size)]
            for chosen in choices:
                for section, table in (("params", params), ("metrics", latest_metrics)):
                    expected = _scanned_keys(conn, table, chosen)
                    assert keys_of(conn, section, chosen, limit=LIMIT) == expected, (section, chosen)
                    compared += len(expected)
    finally:
        engine.dispose()
    return compared


def _as_schema_0012(uri: str) -> None:
    """The database as Shipyard before migration 0013 left it: no catalogue, stamped 0012."""
    engine = sa.create_engine(uri)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE experiment_keys")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0012'")
    finally:
        engine.dispose()


def test_the_upgrade_fills_the_catalogue_with_the_keys_the_scan_finds(database: str, tmp_path: Path) -> None:
    _fill(database, tmp_path / "objects")
    _as_schema_0012(database)
    upgraded = shipyard_cli("server", "db", "upgrade", "--backend-store-uri", database)
    assert f"from schema 0012 to {SCHEMA_HEAD}" in upgraded.stdout
    assert _assert_catalogue_matches_the_scan(database) > 20  # keys were there to compare, not two empty lists


def test_writes_after_the_upgrade_keep_the_catalogue_exact(database: str, tmp_path: Path) -> None:
    _fill(database, tmp_path / "objects")
    shipyard.set_store(database, objects=str(tmp_path / "objects"))
    try:
        with shipyard.start_run(experiment="new-experiment", name="late"):
            shipyard.log_params({"late_param": 1})
            shipyard.log_metrics({"late_metric": 0.5, "loss": 0.1})
        with shipyard.start_run(experiment="churn", name="late-churn"):
            shipyard.log_metric("churn_late", 1.0, step=4)
            shipyard.log_params({"fixed": 1})
            with pytest.raises(shipyard.errors.ValidationError):  # rolled back, its new key's catalogue row too
                shipyard.log_params({"fixed": 2, "rolled_back": 1})
        with shipyard.start_run(experiment="churn", name="after-rollback"):
            shipyard.log_params({"rolled_back": 3})  # the key must now be recorded, not thought known
    finally:
        shipyard.set_store(None)
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            every = keys_of(conn, "metrics", [], limit=LIMIT)
            params_keys = keys_of(conn, "params", [], limit=LIMIT)
    finally:
        engine.dispose()
    assert {"late_metric", "churn_late", "loss"} <= set(every)
    assert "rolled_back" in params_keys
    _assert_catalogue_matches_the_scan(database)


def test_a_model_export_carries_the_keys_of_its_runs(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from shipyard.models.export import Package, export_packages
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    shipyard.set_store(tmp_path / ".shipyard")
    try:
        with shipyard.start_run(experiment="other", name="not-exported"):
            shipyard.log_params({"unrelated": 1})
        with shipyard.start_run(experiment="churn", name="trained"):
            shipyard.log_params({"C": 1.0})
            shipyard.log_metrics({"auc": 0.9, "loss": 0.2})
            info = shipyard.log_model(LogisticRegression().fit(frame, [0, 1, 0, 1]), input_example=frame)
        shipyard.register_model(info, "churn")
        current = shipyard.current_store()
        export_packages(current, [Package.resolved(current, "models:/churn/1")], tmp_path / "image")
    finally:
        shipyard.set_store(None)
    uri = f"sqlite:///{tmp_path / 'image' / 'meta.db'}"
    _assert_catalogue_matches_the_scan(uri)
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            assert keys_of(conn, "params", [], limit=LIMIT) == ["C"]
            assert keys_of(conn, "metrics", [], limit=LIMIT) == ["auc", "loss"]
    finally:
        engine.dispose()
