"""Adaptive micro-batching: one model call for the requests that queued while the previous call ran.

Fixed-window batchers make every request wait for the window, which is how batching triples tail
latency at low load. Here a lone request is scored at once; requests that arrive while the model is
busy queue up and go together in the next call (up to ``max_batch_size`` rows). ``max_wait_ms`` is only
spent when the last batch held more than one request, that is when traffic is actually concurrent, and
only until as many rows are queued as the last batch had: clients who just got their answers are the ones
about to send the next requests, and waiting for more company than exists (64 rows when 32 clients are
connected) would add the whole wait to every batch.
A model whose calls take longer than ``INLINE_BELOW_S``, and any batch of more than ``LARGE_REQUEST_ROWS``
rows (:mod:`.limits`), runs in a thread of its own, so the event loop keeps
reading requests while it computes. A fast one (the usual scikit-learn pipeline: a few milliseconds a call,
nearly all of it Python holding the GIL) runs on the event loop itself: the thread bought no parallelism,
only GIL hand-offs (up to the 5 ms switch interval each way) and a wake-up per batch, which cost more
throughput and tail latency than the few milliseconds the loop is busy. Requests that arrive meanwhile wait
in the socket buffers and form the next batch. The choice follows the measured call time, per model.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelError, ModelOutputError
from .inputs import Columns
from .limits import is_large
from .runtime import Answer, Runner
from .spec import Batching


@dataclass
class Pending:
    columns: Columns
    rows: int
    future: asyncio.Future[tuple[Answer, Runner]]
    queued_at: float = field(default_factory=time.perf_counter)


BatchObserver = Callable[[int, int, float], None]  # (requests, rows, model seconds)
INLINE_BELOW_S = 0.010  # mean model call time under which batches run on the event loop (see the docstring)
SLICE_ROWS = 8192  # rows per model call of a large batch (see _predict_in_slices)


class Batcher:
    """Queue and run predictions for one variant; ``runner()`` is read per batch, so swaps are atomic."""

    def __init__(self, runner: Callable[[], Runner], batching: Batching, *, observe: BatchObserver | None = None,
                 name: str = "batcher", max_queue_rows: int | None = None) -> None:
        self._runner = runner
        self._max_rows = batching.max_batch_size
        self._max_wait = batching.max_wait_ms / 1000.0
        self._observe = observe
        self._queue: collections.deque[Pending] = collections.deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shipyard-{name}")
        self._task: asyncio.Task[None] | None = None
        self._last_requests = 0
        self._last_rows = 0
        self._timed: Runner | None = None  # the runner whose call time _call_s tracks
        self._call_s = 0.0  # moving average of its model seconds per call
        self._closing = False
        self.max_queue_rows = max_queue_rows

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def stop(self) -> None:
        """Finish what is queued and the batch in flight (shadow answers too), then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    def submit(self, columns: Columns, rows: int) -> asyncio.Future[tuple[Answer, Runner]] | None:
        """Queue a request; the future resolves with its slice of the answer and the runner that made it.

        Returns ``None`` when ``max_queue_rows`` is set and reached (shadow traffic is shed, never queued
        without bound).
        """
        if self.max_queue_rows is not None and self._queued_rows + rows > self.max_queue_rows:
            return None
        future: asyncio.Future[tuple[Answer, Runner]] = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(columns, rows, future))
        self._queued_rows += rows
        self._wakeup.set()
        return future

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            expected = min(self._max_rows, self._last_rows)
            if self._last_requests > 1 and self._max_wait > 0 and self._queued_rows < expected:
                await self._gather_company(expected)
            batch = self._take()
            self._last_requests = len(batch)
            self._last_rows = sum(item.rows for item in batch)
            runner = self._runner()
            try:
                if self._inline(runner, self._last_rows):
                    answers, seconds = _run_batch(runner, batch)
                else:
                    answers, seconds = await loop.run_in_executor(self._executor, _run_batch, runner, batch)
                if not is_large(self._last_rows):  # a rare huge batch says nothing about the usual call time
                    self._time(runner, seconds)
            except Exception as exc:  # the model refused something: find whose request it was
                answers, seconds = await loop.run_in_executor(self._executor, _run_each, runner, batch, exc)
            if self._observe is not None:
                self._observe(len(batch), self._last_rows, seconds)
            for item, answer in zip(batch, answers, strict=True):
                if item.future.done():
                    continue
                if isinstance(answer, BaseException):
                    item.future.set_exception(answer)
                else:
                    item.future.set_result((answer, runner))

    def _inline(self, runner: Runner, rows: int) -> bool:
        """Run on the event loop: an ONNX session, or a Python model once its calls are known to be short, unless
        the batch is large (building a large batch's inputs and answers takes long whatever the model: .limits)
        or one request brought more rows than a batch holds (its call may take far longer than usual)."""
        if is_large(rows):
            return False
        return runner.inline or (runner is self._timed and self._call_s < INLINE_BELOW_S and rows <= self._max_rows)

    def _time(self, runner: Runner, seconds: float) -> None:
        if runner is not self._timed:  # a new model (start, or an alias swap): its first call was threaded
            self._timed, self._call_s = runner, seconds
        else:
            self._call_s += 0.2 * (seconds - self._call_s)

    async def _gather_company(self, expected: int) -> None:
        """Wait (at most ``max_wait_ms``) until ``expected`` rows are queued."""
        deadline = time.perf_counter() + self._max_wait
        while self._queued_rows < expected:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[Pending]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self._max_rows:
            item = self._queue.popleft()
            batch.append(item)
            rows += item.rows
        self._queued_rows -= rows
        return batch


def _run_batch(runner: Runner, batch: list[Pending]) -> tuple[list[Answer | BaseException], float]:
    if len(batch) == 1:
        columns = batch[0].columns
    else:
        columns = {name: [value for item in batch for value in item.columns[name]] for name in batch[0].columns}
    sizes = [item.rows for item in batch]
    answer = _predict_in_slices(runner, columns, sum(sizes))
    return list(_split(answer, sizes)), answer.model_seconds


def _predict_in_slices(runner: Runner, columns: Columns, rows: int) -> Answer:
    """One model call for a batch of ordinary size; a large one a slice of ``SLICE_ROWS`` at a time.

    Building a batch's inputs and reading its answer back into Python are single calls that hold the GIL
    (100,000 rows of probabilities become 100,000 lists in one ``tolist()``, collections of the young
    generation included: 30 ms and more here), so even in this thread one such call stops the event loop.
    Rows are scored independently (batches already join unrelated requests), so slices give the same answer.
    """
    if rows <= SLICE_ROWS:
        return runner.predict(columns)
    labels: list[Any] = []
    probabilities: list[list[float]] | None = []
    seconds = 0.0
    for start in range(0, rows, SLICE_ROWS):
        part = runner.predict({name: values[start:start + SLICE_ROWS] for name, values in columns.items()})
        labels.extend(part.labels)
        if part.probabilities is None or probabilities is None:
            probabilities = None
        else:
            probabilities.extend(part.probabilities)
        seconds += part.model_seconds
    return Answer(labels, probabilities, seconds)


def _run_each(runner: Runner, batch: list[Pending], first: Exception) -> tuple[list[Answer | BaseException], float]:
    started = time.perf_counter()
    answers: list[Answer | BaseException] = []
    for item in batch if len(batch) > 1 else []:
        try:
            answers.append(runner.predict(item.columns))
        except Exception as exc:
            answers.append(_model_error(exc))
    if len(batch) == 1:
        answers = [_model_error(first)]
    return answers, time.perf_counter() - started


def _model_error(exc: Exception) -> ModelError | ModelOutputError:
    """What the request gets when the model raised: a non-finite answer stays the model's failure (503)."""
    if isinstance(exc, ModelOutputError):
        return exc
    return ModelError(f"The model could not score this input: {type(exc).__name__}: {exc}", field="records")


def _split(answer: Answer, sizes: list[int]) -> Any:
    start = 0
    for size in sizes:
        end = start + size
        yield Answer(answer.labels[start:end],
                     None if answer.probabilities is None else answer.probabilities[start:end])
        start = end
