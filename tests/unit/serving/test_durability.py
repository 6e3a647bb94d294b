"""When a logged prediction must reach the disk: before feedback naming it, or before its answer (strict)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from shipyard.predlog.layout import partition_files
from shipyard.predlog.scan import read_table
from shipyard.predlog.schema import PredictionEntry, predictions_table
from shipyard.predlog.writer import PartitionedLog
from shipyard.serving.durability import PredictionCommits

LONG_S = 60.0  # a flush interval no test step lasts: whatever is written was asked for


def entry(request_id: str) -> PredictionEntry:
    return PredictionEntry(request_id, time.time_ns() // 1_000_000, "churn", "champion", False, "churn", 1,
                           "models:/churn/1", "python", 1.0, None, {"tenure": [3]}, {"tenure": "integer"}, [1],
                           [[0.25, 0.75]])


def logged_ids(root: Path) -> set[str]:
    table = read_table(partition_files(root, "churn", None, None))
    return set() if table is None else set(table.column("request_id").to_pylist())


def test_feedback_for_a_prediction_in_memory_waits_for_it_to_be_written(tmp_path: Path) -> None:
    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=LONG_S)
    commits = PredictionCommits(log, strict=False)
    log.start()

    async def scenario() -> tuple[set[str], set[str]]:
        commits.logged("churn", "a", log.append("churn", time.time_ns() // 1_000_000, entry("a")))
        await commits.answered(1)  # buffered: the answer does not wait
        before = logged_ids(tmp_path / "predictions")
        await commits.before_feedback("churn", ["a"])
        return before, logged_ids(tmp_path / "predictions")

    try:
        before, after = asyncio.run(scenario())
    finally:
        log.close()
    assert before == set() and after == {"a"}


def test_feedback_for_predictions_already_written_or_unknown_asks_for_no_write(tmp_path: Path) -> None:
    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=LONG_S)
    commits = PredictionCommits(log, strict=False)
    log.start()

    async def scenario() -> int:
        commits.logged("churn", "a", log.append("churn", time.time_ns() // 1_000_000, entry("a")))
        await commits.before_feedback("churn", ["a"])
        written = log.rows_written
        log.append("churn", time.time_ns() // 1_000_000, entry("b"))  # another process's request, say: not noted
        await commits.before_feedback("churn", ["a", "elsewhere"])
        await commits.before_feedback("other", ["a"])  # the same id in another deployment
        return log.rows_written - written

    try:
        assert asyncio.run(scenario()) == 0  # "b" waits for its flush interval; nothing asked for a write
    finally:
        log.close()


def test_strict_answers_only_once_the_prediction_is_written(tmp_path: Path) -> None:
    log = PartitionedLog(tmp_path / "predictions", predictions_table, flush_interval=LONG_S)
    commits = PredictionCommits(log, strict=True)
    log.start()

    async def scenario() -> set[str]:
        sequence = log.append("churn", time.time_ns() // 1_000_000, entry("a"))
        commits.logged("churn", "a", sequence)
        await commits.answered(sequence)
        return logged_ids(tmp_path / "predictions")

    try:
        assert asyncio.run(scenario()) == {"a"}
    finally:
        log.close()
