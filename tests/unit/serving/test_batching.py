"""Adaptive micro-batching with a real logged model: how batches form from what is queued.

The model is a real scikit-learn pipeline logged to an isolated store and loaded as the server loads it
(``load_runner``); the batches are read from the observer the server's metrics use.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.serving.batching import SLICE_ROWS, Batcher
from shipyard.serving.runtime import Answer, Runner, load_runner
from shipyard.serving.spec import Batching

LONG_WAIT_MS = 5_000.0  # far beyond the time a test step takes: sitting it out would show


@pytest.fixture
def runner(isolated_store: Path) -> Runner:
    features = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0]})
    labels = pd.Series([0, 0, 1, 1])
    with shipyard.start_run(experiment="batching"):
        info = shipyard.log_model(LogisticRegression().fit(features, labels), input_example=features,
                                  y_example=labels)
    return load_runner(shipyard.current_store(), info.uri, "python")


def one_row() -> dict[str, list[float]]:
    return {"x": [1.5], "y": [0.5]}


async def batches_for(runner: Runner, arrivals: list[tuple[float, int]]) -> tuple[list[int], float]:
    """Submit ``count`` single-row requests after each ``delay``; the rows of each batch, and the seconds
    from the second group's submission to its last answer."""
    sizes: list[int] = []
    batcher = Batcher(lambda: runner, Batching(max_batch_size=64, max_wait_ms=LONG_WAIT_MS),
                      observe=lambda requests, rows, seconds: sizes.append(rows))
    batcher.start()
    started = 0.0
    futures = []
    for index, (delay, count) in enumerate(arrivals):
        await asyncio.sleep(delay)
        if index == 1:
            started = time.perf_counter()
        futures += [batcher.submit(one_row(), 1) for _ in range(count)]
        if index == 0:
            await asyncio.gather(*futures)  # the first group is answered before the next arrives
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await batcher.stop()
    return sizes, elapsed


def test_a_batch_does_not_wait_for_more_company_than_the_last_one_had(runner: Runner) -> None:
    """Four clients answered together come back together: their batch goes at once, not after max_wait_ms
    spent waiting for 64 rows that no client is there to send."""
    sizes, elapsed = asyncio.run(batches_for(runner, [(0, 4), (0, 4)]))
    assert sizes == [4, 4]
    assert elapsed < LONG_WAIT_MS / 1000 / 2


def test_a_batch_waits_for_the_clients_of_the_last_one(runner: Runner) -> None:
    """Two of the four clients are a little late: the batch waits for them instead of going half full."""
    sizes, elapsed = asyncio.run(batches_for(runner, [(0, 4), (0, 2), (0.05, 2)]))
    assert sizes == [4, 4]
    assert elapsed < LONG_WAIT_MS / 1000 / 2


def test_a_lone_request_is_never_held_back(runner: Runner) -> None:
    sizes, elapsed = asyncio.run(batches_for(runner, [(0, 1), (0, 1)]))
    assert sizes == [1, 1]
    assert elapsed < LONG_WAIT_MS / 1000 / 2


def test_a_large_request_is_scored_in_slices_to_the_same_answer_off_the_event_loop(runner: Runner) -> None:
    """More rows than a slice holds: several model calls in the batcher's thread, one answer as a single call
    gives, and no call on the event loop's thread."""
    rows = SLICE_ROWS * 2 + 5
    columns = {"x": [float(index % 7) for index in range(rows)], "y": [float(index % 3) for index in range(rows)]}
    threads: list[str] = []
    seen = ThreadRecordingRunner(runner, threads)

    async def score() -> Any:
        batcher = Batcher(lambda: seen, Batching(max_batch_size=64, max_wait_ms=0))
        batcher.start()
        future = batcher.submit(columns, rows)
        assert future is not None
        answer, _ = await future
        await batcher.stop()
        return answer

    loop_thread = threading.current_thread().name
    answer = asyncio.run(score())
    whole = runner.predict(columns)
    assert answer.labels == whole.labels
    assert answer.probabilities == whole.probabilities
    assert len(threads) == 3 and loop_thread not in threads


class ThreadRecordingRunner(Runner):
    """The same loaded model, noting the thread of each call."""

    def __init__(self, runner: Runner, threads: list[str]) -> None:
        super().__init__(runner.loaded, runner.runtime, runner.onnx, runner.load_seconds)
        self.inline = True  # as an ONNX session: the batcher would run it on the loop, were the batch small
        self._threads = threads

    def predict(self, columns: Any) -> Answer:
        self._threads.append(threading.current_thread().name)
        return super().predict(columns)
