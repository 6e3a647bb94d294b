"""The routing propensity logged with each prediction: written when known, and logs older than the column read."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from shipyard.predlog.readers import prediction_log, routed_predictions
from shipyard.predlog.schema import PredictionEntry, predictions_table
from shipyard.predlog.writer import PartitionedLog


def _entry(request_id: str, timestamp_ms: int, *, variant: str = "a", shadow: bool = False,
           propensity: float | None = None, probabilities: list[list[float]] | None = None) -> PredictionEntry:
    return PredictionEntry(request_id, timestamp_ms, "churn", variant, shadow, "churn", 1, "models:/churn/1", "python",
                           1.0, None, {"tenure": [3.0, 4.0]}, {"tenure": "float"}, [1, 0], probabilities, propensity)


def test_propensities_read_back_next_to_a_log_older_than_the_column(tmp_path: Path) -> None:
    now = time.time_ns() // 1_000_000
    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=0.05)
    log.start()
    log.append("churn", now, _entry("new", now, propensity=0.25, probabilities=[[0.2, 0.8], [0.7, 0.3]]))
    log.append("churn", now, _entry("new", now, variant="b-shadow", shadow=True))  # a shadow copy: not routed
    log.close()
    # a file written before the column existed, two hours back
    before = now - 2 * 3_600_000
    table = predictions_table([_entry("old", before, variant="b")]).drop_columns(["propensity"])
    folder = tmp_path / "predictions" / "deployment=churn" / datetime.fromtimestamp(before / 1000, UTC).strftime(
        "date=%Y-%m-%d/hour=%H")
    folder.mkdir(parents=True)
    pq.write_table(table, folder / f"part-{before}-1-1.parquet")

    routed = routed_predictions(tmp_path / "predictions", "churn", {"new", "old", "never"})
    # the confidence: the predicted class's probability (the row's largest), None without probabilities
    assert routed == {("new", 0): ("a", "1", 0.25, 0.8), ("new", 1): ("a", "0", 0.25, 0.7),
                      ("old", 0): ("b", "1", None, None), ("old", 1): ("b", "0", None, None)}
    frame = prediction_log("churn", log_dir=str(tmp_path), shadow=False)
    by_id = frame.groupby("request_id")["propensity"].first()
    assert by_id["new"] == 0.25 and math.isnan(by_id["old"])
