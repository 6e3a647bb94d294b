"""The log's files on disk: private modes whatever the umask, and how far the log is known to be on disk."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shipyard.predlog.layout import partition_files
from shipyard.predlog.scan import read_table
from shipyard.predlog.schema import PredictionEntry, feedback_table, predictions_table
from shipyard.predlog.writer import PartitionedLog, compact, write_file
from tests._support import wait_until

KINDS = {"tenure": "integer", "contract": "string"}


def entry(request_id: str, rows: int = 1) -> PredictionEntry:
    now = time.time_ns() // 1_000_000
    return PredictionEntry(request_id, now, "churn", "champion", False, "churn", 1, "models:/churn/1", "python", 1.0,
                           None, {"tenure": list(range(rows)), "contract": ["One year"] * rows}, KINDS, [1] * rows,
                           [[0.25, 0.75]] * rows)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that takes nothing away: modes must come from the code, not from the process."""
    previous = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode) for path in [root, *root.rglob("*")]}


def test_log_files_are_0600_in_0700_folders_whatever_the_umask(tmp_path: Path, permissive_umask: None) -> None:
    root = tmp_path / "store" / "serving" / "predictions"  # none of these folders exist yet
    log = PartitionedLog(root, predictions_table, flush_interval=0.05)
    log.start()
    for round_ in range(2):  # two files in one hour, then merged into a third on close
        log.append("churn", time.time_ns() // 1_000_000, entry(f"r{round_}"))
        log.flush()
    log.close()
    modes = _modes(tmp_path / "store")
    files = {name: mode for name, mode in modes.items() if name.endswith(".parquet")}
    folders = {name: mode for name, mode in modes.items() if name not in files}
    assert files and all(mode == 0o600 for mode in files.values()), files
    assert len(folders) == 6 and all(mode == 0o700 for mode in folders.values()), folders  # serving ... hour=


def test_a_merged_file_is_private_too(tmp_path: Path, permissive_umask: None) -> None:
    folder = tmp_path / "deployment=churn" / "date=2026-01-01" / "hour=00"
    for name in ("part-1-42-1.parquet", "part-2-42-2.parquet"):
        write_file(folder, feedback_table([]), name=name)
    merged = compact(folder, 42)
    assert merged is not None and stat.S_IMODE(merged.stat().st_mode) == 0o600
    assert [path.name for path in folder.iterdir()] == [merged.name]


def test_a_folder_the_user_made_keeps_its_mode(tmp_path: Path, permissive_umask: None) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o750)
    os.chmod(log_dir, 0o750)
    write_file(log_dir / "predictions", feedback_table([]), name="part-1-1-1.parquet")
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((log_dir / "predictions").stat().st_mode) == 0o700


def test_sequence_numbers_say_what_is_on_disk(tmp_path: Path) -> None:
    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=1.0)
    log.start()
    try:
        first = log.append("churn", time.time_ns() // 1_000_000, entry("a"))
        second = log.append("churn", time.time_ns() // 1_000_000, entry("b"))
        assert (first, second) == (1, 2)
        assert log.durable_sequence == 0  # a second's interval: nothing written yet
        log.commit().result(timeout=10)
        assert log.durable_sequence == 2
        rows = pq.read_table(next((tmp_path / "predictions").rglob("part-*.parquet"))).num_rows
        assert rows == 2
    finally:
        log.close()


def test_a_large_entry_is_converted_by_the_writer_not_by_convert_some(tmp_path: Path) -> None:
    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=0.05)
    log.append("churn", time.time_ns() // 1_000_000, entry("big", rows=5000), large=True)
    log.append("churn", time.time_ns() // 1_000_000, entry("small"))
    assert log.queued == 2
    assert log.convert_some(100) == 1  # the event loop's share: the small entry only
    log.start()
    log.flush()
    log.close()
    table = read_table(partition_files(tmp_path / "predictions", "churn", None, None))
    assert table.num_rows == 5001
    assert sorted(set(table.column("request_id").to_pylist())) == ["big", "small"]


def test_parts_a_merge_holds_stay_a_while_and_are_never_merged_twice(tmp_path: Path) -> None:
    """A reader that listed an hour just before its merge appeared still finds the parts (an object store
    lists and reads in separate requests); rows that arrive late for a merged hour are merged on their own."""
    from shipyard.predlog.layout import HOUR_MS, hour_partitions

    earlier = (time.time_ns() // 1_000_000 // HOUR_MS - 1) * HOUR_MS + 5  # an hour that is over: merged at once
    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=0.05, replica="r_1")

    def merged(count: int) -> list[str]:
        names = sorted(path.name for path in hour_partitions(tmp_path / "predictions", "churn", None, None)[0]
                       .listing())
        return names if sum("-m" in name for name in names) >= count else []

    log.start()
    try:
        for name in ("a", "b"):
            log.append("churn", earlier, _at(name, earlier))
            log.flush()
        listed = wait_until(lambda: merged(1), timeout=10, what="the writer to merge the finished hour")
        assert len(listed) == 3, listed  # the two parts are kept beside the merge for a while...
        [hour] = hour_partitions(tmp_path / "predictions", "churn", None, None)
        assert read_table(hour.files()).num_rows == 2  # ...and skipped: no row counted twice

        for name in ("late1", "late2"):  # late rows for the merged hour: merged without the first two parts
            log.append("churn", earlier, _at(name, earlier))
            log.flush()
        wait_until(lambda: merged(2), timeout=10, what="the late parts to be merged")
        [hour] = hour_partitions(tmp_path / "predictions", "churn", None, None)
        assert read_table(hour.files()).num_rows == 4
    finally:
        log.close()
    [hour] = hour_partitions(tmp_path / "predictions", "churn", None, None)
    assert read_table(hour.files()).num_rows == 4
    assert [name for name in merged(2) if "-m" not in name] == []  # a drained writer deletes what merges hold


def _at(request_id: str, timestamp_ms: int) -> PredictionEntry:
    made = entry(request_id)
    made.timestamp_ms = timestamp_ms
    return made
