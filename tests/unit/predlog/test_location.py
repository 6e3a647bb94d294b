"""Where a log lives (a folder or an fsspec URL) and who writes which of its files (one replica per file).

The remote half runs on fsspec's in-memory filesystem (``memory://``), which has no rename and no folders, as
S3 has none: the same code paths as S3, without a server (tests/integration/predlog runs them on moto).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.predlog.layout import LOG_DIR_ENV, PREDICTIONS, hour_partitions, replica_id, serving_root
from shipyard.predlog.location import RemotePath, is_url, open_folder
from shipyard.predlog.readers import prediction_log
from shipyard.predlog.schema import PredictionEntry, predictions_table
from shipyard.predlog.writer import PartitionedLog

KINDS = {"tenure": "integer"}


def entry(request_id: str, timestamp_ms: int) -> PredictionEntry:
    return PredictionEntry(request_id, timestamp_ms, "churn", "champion", False, "churn", 1, "models:/churn/1",
                           "python", 1.0, None, {"tenure": [3]}, KINDS, [1], [[0.4, 0.6]])


def test_the_replica_id_is_the_configured_name_or_host_plus_the_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_REPLICA", "churn-7d9f4-x2b[1]*")  # a pod name, and characters globs would read
    assert replica_id() == f"churn_7d9f4_x2b_1_{os.getpid()}"
    monkeypatch.delenv("SHIPYARD_REPLICA")
    assert replica_id().endswith(f"_{os.getpid()}")
    assert re.fullmatch(r"[A-Za-z0-9_.]+", replica_id())  # splits back out of part-<ms>-<replica>-<seq>.parquet


@pytest.mark.parametrize(("text", "remote"), [("s3://bucket/log", True), ("memory://x", True), ("/tmp/log", False),
                                              ("file:///tmp/log", False), ("relative/log", False)])
def test_a_url_names_a_remote_folder_and_anything_else_a_local_one(text: str, remote: bool) -> None:
    assert is_url(text) is remote
    if not text.startswith("s3://"):  # s3 needs credentials to open; the integration tests do that
        folder = open_folder(text)
        assert isinstance(folder, RemotePath) is remote
        if not remote:
            assert isinstance(folder, Path) and folder.is_absolute()


def test_an_unknown_scheme_is_refused_naming_the_log() -> None:
    with pytest.raises(ConfigError, match=r"The prediction log nosuch://bucket/log needs an fsspec driver"):
        open_folder("nosuch://bucket/log")


def test_the_environment_names_the_log_when_no_log_dir_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LOG_DIR_ENV, str(tmp_path / "from-env"))
    assert serving_root() == tmp_path / "from-env"
    assert serving_root(log_dir=str(tmp_path / "given")) == tmp_path / "given"  # log_dir wins


def test_replicas_on_a_remote_log_each_write_and_merge_only_their_own_files() -> None:
    root = f"memory://log-{uuid.uuid4().hex[:8]}"
    now = time.time_ns() // 1_000_000
    logs = [PartitionedLog(serving_root(log_dir=root) / PREDICTIONS, predictions_table, flush_interval=0.05,
                           replica=name) for name in ("a_1", "b_2")]
    for log in logs:
        log.start()
    for index in range(6):  # three flushes each: three parts per replica in the hour, each merged on close
        log = logs[index % 2]
        log.append("churn", now + index, entry(f"r{index}", now + index))
        log.flush()
    for log in logs:
        log.close()
        assert log.last_error is None
    [hour] = hour_partitions(serving_root(log_dir=root) / PREDICTIONS, "churn", None, None)
    names = sorted(path.name for path in hour.files())
    assert [name.split("-")[2:] for name in names] == [["a_1", names[0].split("-")[3]], ["b_2", names[1].split("-")[3]]]
    assert all(name.split("-")[3].startswith("m") for name in names)  # merged, the parts deleted
    frame = prediction_log("churn", log_dir=root)
    assert frame["request_id"].tolist() == [f"r{index}" for index in range(6)]
