"""The training baseline of the quality check: the metrics the model version's run logged.

A run that is gone (its row deleted behind Shipyard's back) leaves the quality check to its absolute lines, as
it always did; a store that fails while the baseline is read is an error the caller sees, not a baseline
silently missing (which reads as "quality fine" when it has dropped).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from shipyard.errors import StoreUnavailableError
from shipyard.monitoring.config import Thresholds
from shipyard.monitoring.monitor import monitor
from tests.integration.monitoring._traffic import TARGET, Hours, Template, log_traffic, world, write_feedback

ON_ACCURACY = Thresholds({"thresholds": {"quality": {"metric": "accuracy"}}})


@pytest.fixture
def hours(churn_store: Path) -> Hours:
    return Hours.recent()


def _log_worse_traffic(template: Template, hours: Hours) -> None:
    """2,000 answers of v1 whose labels were flipped for 30% of the rows: accuracy clearly below training."""
    rows = world(2000, seed=18)
    batch = log_traffic(template, rows, deployment="churn", start_ms=hours.current_start, end_ms=hours.current_end)
    flipped = np.random.default_rng(17).random(len(rows)) < 0.3
    labels = np.where(flipped, 1 - rows[TARGET], rows[TARGET])
    write_feedback(batch.keys, labels.tolist(), deployment="churn", timestamp_ms=hours.current_end)


def _quality(hours: Hours) -> dict[str, object]:
    (found,) = [item for item in monitor("churn", **hours.current, thresholds=ON_ACCURACY).to_dict()["checks"]
                if item["check"] == "quality"]
    return found


def _run_of_version_1(store_root: Path) -> str:
    with sqlite3.connect(store_root / "meta.db") as connection:
        (run_id,) = connection.execute(
            "SELECT run_id FROM model_versions WHERE name = 'churn' AND version = 1").fetchone()
    return str(run_id)


def _change_database(store_root: Path, statement: str, *parameters: str) -> None:
    """One statement through a plain sqlite3 connection: another tool changing ``meta.db`` (foreign keys are off
    in such a connection, as they are by default, so a run's row can go while its artifacts' rows stay)."""
    connection = sqlite3.connect(store_root / "meta.db")
    try:
        connection.execute(statement, parameters)
        connection.commit()
    finally:
        connection.close()


def test_a_run_deleted_behind_shipyards_back_leaves_quality_to_its_absolute_lines(
        template: Template, hours: Hours, churn_store: Path) -> None:
    _log_worse_traffic(template, hours)
    with_baseline = _quality(hours)
    assert with_baseline["status"] == "alert" and "worse than at training" in str(with_baseline["message"])

    _change_database(churn_store, "DELETE FROM runs WHERE id = ?", _run_of_version_1(churn_store))
    without = _quality(hours)  # the run is not found (NotFoundError): no baseline, no error

    assert without["value"] == pytest.approx(with_baseline["value"])
    assert "worse than at training" not in str(without["message"]), without


def test_a_store_that_fails_while_the_baseline_is_read_is_an_error(
        template: Template, hours: Hours, churn_store: Path) -> None:
    _log_worse_traffic(template, hours)
    # The table of the runs' latest metrics disappears (a damaged or half-migrated meta.db): reading the run's
    # metrics fails in the database, which is not "the run is not there".
    _change_database(churn_store, "ALTER TABLE latest_metrics RENAME TO latest_metrics_moved")

    with pytest.raises(StoreUnavailableError, match="latest_metrics"):
        _quality(hours)
