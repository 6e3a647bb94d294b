"""The prediction log's table and its round trip through the real Parquet writer and reader."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.errors import ValidationError
from shipyard.predlog.readers import prediction_log
from shipyard.predlog.schema import FeedbackEntry, PredictionEntry, feedback_table, predictions_table
from shipyard.predlog.times import parse_time
from shipyard.predlog.writer import PartitionedLog

KINDS = {"tenure": "integer", "contract": "string"}


def entry(request_id: str, *, rows: int = 2, variant: str = "champion", shadow: bool = False,
          timestamp_ms: int | None = None, tenure: list[object] | None = None,
          deployment: str = "churn") -> PredictionEntry:
    """What the server logs: checked columns (a missing number is already NaN, a missing text None)."""
    now = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
    return PredictionEntry(request_id, now, deployment, variant, shadow, "churn", 1, "models:/churn/1", "python", 2.5,
                           "c-1", {"tenure": tenure or [3, math.nan][:rows], "contract": ["One year", None][:rows]},
                           KINDS, [1, 0][:rows], [[0.2, 0.8], [0.9, 0.1]][:rows])


def test_one_row_per_record_with_typed_inputs() -> None:
    table = predictions_table([entry("a"), entry("b", rows=1)])
    assert table.num_rows == 3
    assert table.column("request_id").to_pylist() == ["a", "a", "b"]
    assert table.column("row").to_pylist() == [0, 1, 0]
    tenure = table.column("input.tenure").to_pylist()
    assert tenure[0] == 3.0 and math.isnan(tenure[1])
    assert table.column("input.contract").to_pylist() == ["One year", None, "One year"]
    assert table.column("prediction").to_pylist() == ["1", "0", "1"]
    assert table.column("prediction_value").to_pylist() == [1.0, 0.0, 1.0]
    assert table.column("probabilities").to_pylist()[1] == [0.9, 0.1]
    assert str(table.schema.field("timestamp").type) == "timestamp[ms, tz=UTC]"


def test_integers_past_int64_do_not_break_the_table() -> None:
    table = predictions_table([entry("big", rows=1, tenure=[2**64 - 1]), entry("small", rows=1)])
    assert table.column("input.tenure").to_pylist() == [float(2**64 - 1), 3.0]


def test_feedback_table_keeps_the_label_and_its_number() -> None:
    table = feedback_table([FeedbackEntry("a", 0, "yes", 1), FeedbackEntry("a", 1, 1, 2)])
    assert table.column("label").to_pylist() == ["yes", "1"]
    assert table.column("label_value").to_pylist() == [None, 1.0]


def test_written_log_reads_back_filtered_and_joined(tmp_path: Path) -> None:
    predictions = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=0.05)
    feedback = PartitionedLog(tmp_path / "feedback", feedback_table, flush_interval=0.05)
    predictions.start()
    feedback.start()
    old = int((datetime.now(UTC) - timedelta(hours=3)).timestamp() * 1000)
    predictions.append("churn", old, entry("old", timestamp_ms=old))
    for name, variant, shadow in (("live", "champion", False), ("copy", "shadow1", True)):
        predictions.append("churn", time.time_ns() // 1_000_000, entry(name, variant=variant, shadow=shadow))
    predictions.append("other", time.time_ns() // 1_000_000, entry("elsewhere", deployment="other"))
    feedback.append_durable("churn", time.time_ns() // 1_000_000, [FeedbackEntry("live", 1, 0, 1)]).result(10)
    predictions.close()
    feedback.close()
    assert predictions.last_error is None and predictions.rows_written == 8
    assert not list(tmp_path.rglob(".*.tmp"))  # temporary names are renamed away

    everything = prediction_log("churn", log_dir=str(tmp_path))
    assert sorted(set(everything["request_id"])) == ["copy", "live", "old"]
    assert everything["timestamp"].is_monotonic_increasing
    recent = prediction_log("churn", since="1h", log_dir=str(tmp_path))
    assert set(recent["request_id"]) == {"copy", "live"}
    live = prediction_log("churn", shadow=False, since="1h", log_dir=str(tmp_path), with_feedback=True)
    assert live["request_id"].tolist() == ["live", "live"]
    assert live["label"].isna().tolist() == [True, False] and live["label_value"].tolist()[1] == 0.0
    assert set(prediction_log(variant="shadow1", log_dir=str(tmp_path))["request_id"]) == {"copy"}
    assert set(prediction_log(log_dir=str(tmp_path))["deployment"]) == {"churn", "other"}


@pytest.mark.parametrize(("text", "seconds_ago"), [("30m", 1800), ("24h", 86400), ("7d", 604800), ("90s", 90),
                                                    ("1.5h", 5400)])
def test_durations_count_back_from_now(text: str, seconds_ago: float) -> None:
    moment = parse_time(text, "since")
    assert moment is not None
    assert time.time() * 1000 - moment == pytest.approx(seconds_ago * 1000, abs=5_000)


def test_iso_times_and_datetimes() -> None:
    assert parse_time("2026-01-02T03:04:05Z", "since") == 1767323045000
    assert parse_time(datetime(2026, 1, 2, 3, 4, 5), "since") == 1767323045000  # naive means UTC
    assert parse_time(None, "since") is None
    with pytest.raises(ValidationError) as caught:
        parse_time("yesterday", "until")
    assert caught.value.field == "until"


@pytest.mark.parametrize("text", ["999999999h", "9" * 400 + "d", "30000w", "0001-01-01", "1969-12-31T23:59",
                                  "9999-12-31T23:00-05:00"])
def test_times_no_log_can_hold_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValidationError) as caught:  # was an OverflowError (a 500 page) for the first three
        parse_time(text, "since")
    assert caught.value.field == "since"
    assert caught.value.message.startswith("since='") and "is out of range: times must fall between 1970-01-01" \
        in caught.value.message
    assert len(caught.value.message) < 200  # a long value is shortened, not echoed whole
    assert parse_time("1970-01-01", "since") == 0 and parse_time("9999-12-31", "since") == 253_402_214_400_000


def _hour(offset: int) -> int:
    """The start of the hour ``offset`` hours from the current one (epoch ms)."""
    return (time.time_ns() // 1_000_000 // 3_600_000 + offset) * 3_600_000


def test_find_prediction_reads_the_newest_hours_first_and_stops(tmp_path: Path) -> None:
    from shipyard.predlog.readers import find_prediction

    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=0.05)
    log.start()
    boundary = _hour(-1)  # a live answer just before an hour starts, its shadow copy just after
    log.append("churn", boundary - 1, entry("recent", rows=1, timestamp_ms=boundary - 1))
    log.append("churn", boundary + 1, entry("recent", rows=1, shadow=True, variant="shadow1",
                                            timestamp_ms=boundary + 1))
    log.append("other", _hour(-30), entry("older", rows=1, timestamp_ms=_hour(-30), deployment="other"))
    log.close()
    damaged = tmp_path / "predictions" / "deployment=churn" / "date=2020-01-01" / "hour=00"
    damaged.mkdir(parents=True)
    (damaged / "part-1577836800000-1-1.parquet").write_bytes(b"not parquet")  # any read of it raises

    found = find_prediction("recent", log_dir=str(tmp_path))  # never opens the 2020 partition
    assert sorted(zip(found["variant"], found["shadow"], strict=True)) == [("champion", False), ("shadow1", True)]

    (damaged / "part-1577836800000-1-1.parquet").unlink()
    assert set(find_prediction("older", log_dir=str(tmp_path))["deployment"]) == {"other"}  # a day back, found
    assert find_prediction("never-logged", log_dir=str(tmp_path)).empty  # the whole log read, nothing found


def test_logged_rows_reads_the_newest_hours_first_and_stops(tmp_path: Path) -> None:
    """Feedback names recent requests: finding them must not read a month of log (on S3, a request per file)."""
    from shipyard.predlog.readers import logged_rows

    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=0.05)
    log.start()
    log.append("churn", _hour(0), entry("recent", rows=2, timestamp_ms=_hour(0)))
    log.append("churn", _hour(-48), entry("older", rows=1, timestamp_ms=_hour(-48)))
    log.close()
    old = _hour(-24 * 20)  # 20 days ago: inside the window
    damaged = tmp_path / "predictions" / "deployment=churn" / datetime.fromtimestamp(old / 1000, UTC).strftime(
        "date=%Y-%m-%d/hour=%H")
    damaged.mkdir(parents=True)
    (damaged / f"part-{old}-1-1.parquet").write_bytes(b"not parquet")  # any read of it raises

    assert logged_rows(tmp_path / "predictions", "churn", {"recent"}) == {"recent": 2}  # never opens the old hour
    (damaged / f"part-{old}-1-1.parquet").unlink()
    assert logged_rows(tmp_path / "predictions", "churn", {"recent", "older", "never"}) == {"recent": 2, "older": 1}
