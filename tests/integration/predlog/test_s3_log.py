"""One prediction log on a real S3 server (moto) shared by several writers, read back as a local log is.

Each test writes the same entries twice, through two writers (two replicas) to ``s3://bucket/...`` and through
two writers to a local folder, and asserts that every reader answers the same from both: the S3 log is the
local log on another filesystem, not a second implementation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from shipyard.predlog.hourly_cache import fingerprint, read_summary, write_summary
from shipyard.predlog.layout import PREDICTIONS, hour_partitions, serving_root
from shipyard.predlog.lookup import requests_starting_with
from shipyard.predlog.readers import feedback_log, find_prediction, logged_rows, prediction_log
from shipyard.predlog.schema import FeedbackEntry, PredictionEntry, feedback_table, predictions_table
from shipyard.predlog.writer import PartitionedLog
from tests._servers import s3

pytestmark = pytest.mark.skipif(s3.unavailable_reason() is not None, reason=str(s3.unavailable_reason()))
KINDS = {"tenure": "integer", "contract": "string"}
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3.moto_server() as url:
        yield url


@pytest.fixture
def bucket(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket, reached only through the standard AWS variables."""
    return s3.new_bucket(monkeypatch, endpoint, tmp_path, "log")


def entry(request_id: str, timestamp_ms: int, *, rows: int = 2, shadow: bool = False) -> PredictionEntry:
    return PredictionEntry(request_id, timestamp_ms, "churn", "shadow1" if shadow else "champion", shadow, "churn", 1,
                           "models:/churn/1", "python", 2.5, None,
                           {"tenure": [3, 40][:rows], "contract": ["One year", "Two year"][:rows]}, KINDS,
                           [1, 0][:rows], [[0.2, 0.8], [0.9, 0.1]][:rows])


def write_shared_log(root: str, now: int) -> None:
    """Replica a answers requests (one an hour ago, so a closed hour has files); replica b answers others and
    receives the feedback for a's answers, as a load balancer would spread them."""
    earlier = now - HOUR_MS
    logs = {name: (PartitionedLog(serving_root(log_dir=root) / PREDICTIONS, predictions_table, flush_interval=0.05,
                                  replica=f"{name}_1"),
                   PartitionedLog(serving_root(log_dir=root) / "feedback", feedback_table, flush_interval=0.05,
                                  replica=f"{name}_1")) for name in ("replicaA", "replicaB")}
    for predictions, feedback in logs.values():
        predictions.start()
        feedback.start()
    (a_predictions, _), (b_predictions, b_feedback) = logs["replicaA"], logs["replicaB"]
    a_predictions.append("churn", earlier, entry("3f2a-old", earlier))
    for index in range(3):  # two flushes from a: two files in the hour, merged into one on close
        a_predictions.append("churn", now + index, entry(f"3f2a{index:04d}", now + index))
        a_predictions.append("churn", now + index, entry(f"3f2a{index:04d}", now + index, shadow=True))
        a_predictions.flush()
    b_predictions.append("churn", now + 5, entry("bbbb0001", now + 5, rows=1))
    b_predictions.flush()
    b_feedback.append_durable("churn", now + 10, [FeedbackEntry("3f2a0001", 1, 0, now + 10),
                                                  FeedbackEntry("3f2a-old", 0, 1, now + 11),
                                                  FeedbackEntry("3f2a0001", 1, 1, now + 12)]).result(10)
    for predictions, feedback in logs.values():
        predictions.close()
        feedback.close()
        assert predictions.last_error is None and feedback.last_error is None


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    assert list(left.columns) == list(right.columns)
    pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True))


def test_two_replicas_on_s3_read_back_exactly_as_on_a_local_folder(bucket: str, endpoint: str,
                                                                   tmp_path: Path) -> None:
    remote, local = f"s3://{bucket}/predictions", str(tmp_path / "local-log")
    now = time.time_ns() // 1_000_000
    write_shared_log(remote, now)
    write_shared_log(local, now)

    keys = s3.list_keys(endpoint, bucket, "predictions/")
    assert keys and all(key.endswith(".parquet") for key in keys)
    writers = {key.rsplit("/", 1)[1].split("-")[2] for key in keys}
    assert writers == {"replicaA_1", "replicaB_1"}  # every file is named after the one process that wrote it
    merged = [key for key in keys if "/predictions/deployment=churn/" in key and "-replicaA_1-m" in key]
    assert merged, keys  # replica a merged its own parts of the current hour on close, and deleted them
    folder = merged[0].rsplit("/", 1)[0]
    assert [key for key in keys if key.startswith(folder + "/") and "-replicaA_1-" in key] == merged

    for options in ({}, {"since": "30m"}, {"shadow": False, "with_feedback": True}, {"variant": "shadow1"}):
        _same(prediction_log("churn", log_dir=remote, **options), prediction_log("churn", log_dir=local, **options))
    live = prediction_log("churn", log_dir=remote, shadow=False, with_feedback=True)
    labels = live.set_index(["request_id", "row"])["label"]
    assert labels[("3f2a0001", 1)] == "1" and labels[("3f2a-old", 0)] == "1"  # b's feedback joins a's rows
    assert len(live) == 9 and live["request_id"].value_counts()["bbbb0001"] == 1

    _same(feedback_log("churn", log_dir=remote), feedback_log("churn", log_dir=local))
    _same(find_prediction("3f2a-old", log_dir=remote), find_prediction("3f2a-old", log_dir=local))
    assert requests_starting_with("3f2a", log_dir=remote) == requests_starting_with("3f2a", log_dir=local)
    assert len(requests_starting_with("3f2a", log_dir=remote)) == 4
    ids = {"3f2a0002", "bbbb0001", "never"}
    assert logged_rows(serving_root(log_dir=remote) / PREDICTIONS, "churn", ids) == {"3f2a0002": 2, "bbbb0001": 1}


def test_an_hourly_summary_on_s3_is_dropped_when_a_late_part_arrives(bucket: str, endpoint: str) -> None:
    root = serving_root(log_dir=f"s3://{bucket}/log")
    closed = (time.time_ns() // 1_000_000 // HOUR_MS - 3) * HOUR_MS
    log = PartitionedLog(root / PREDICTIONS, predictions_table, flush_interval=0.05, replica="a_1")
    log.start()
    log.append("churn", closed + 10, entry("early", closed + 10))
    log.close()
    [hour] = hour_partitions(root / PREDICTIONS, "churn", None, None)
    stamp = fingerprint(hour)
    write_summary(root, hour, "ref0", stamp, {"rows": 2})
    summaries = s3.list_keys(endpoint, bucket, "log/profiles/")
    assert summaries == [f"log/profiles/deployment=churn/{closed}-ref0.json"]
    assert read_summary(root, hour, "ref0", fingerprint(hour)) == {"rows": 2}
    assert read_summary(root, hour, "other-reference", stamp) is None

    late = PartitionedLog(root / PREDICTIONS, predictions_table, flush_interval=0.05, replica="b_2")
    late.start()
    late.append("churn", closed + 20, entry("late", closed + 20))  # a draining replica's last flush, hours later
    late.close()
    [hour] = hour_partitions(root / PREDICTIONS, "churn", None, None)
    assert len(hour.files()) == 2
    assert read_summary(root, hour, "ref0", fingerprint(hour)) is None  # the late part changed the fingerprint
    stored = json.loads(s3.client(endpoint).get_object(Bucket=bucket, Key=summaries[0])["Body"].read())
    assert stored["fingerprint"] == stamp
