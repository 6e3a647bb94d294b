"""When an answered prediction must be on disk: before its answer (strict), or before feedback that names it.

The prediction log group-commits every ``flush_interval_s`` (:mod:`shipyard.predlog.writer`), so a process killed
outright loses the answers of its last interval or so. That is the documented price of the default mode,
``durability: buffered``. What must never happen is a label stored for a prediction that is then lost:
feedback is acknowledged only once it is on disk, so it would outlive its prediction, and quality and A/B
verdicts would count a label whose prediction no log holds. So this process remembers which of its live
answers are still only in memory; feedback naming one of them first asks for a group commit of the log
and waits for it. Feedback for a prediction another worker answered is accepted only once that worker has
written it (the server looks it up on disk).

``durability: strict`` waits for the group commit before every answer instead: an acknowledged
prediction is never lost, at the cost measured in ``benchmarks/bench_durability.py``. Requests that arrive
while a commit is written share the next one, so the disk sees one write and fsync per batch of answers,
not per answer.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable

from ..errors import StoreUnavailableError
from ..predlog.writer import PartitionedLog


class PredictionCommits:
    """This process's answered live predictions that are not on disk yet, by (deployment, request id)."""

    def __init__(self, log: PartitionedLog, *, strict: bool) -> None:
        self.log = log
        self.strict = strict
        # Appended in sequence order, so everything the log has written is a prefix: pruning is O(1) per answer.
        self._in_memory: collections.OrderedDict[tuple[str, str], int] = collections.OrderedDict()

    def logged(self, deployment: str, request_id: str, sequence: int) -> None:
        """Note a live answer the log took as entry ``sequence``."""
        self._in_memory[(deployment, request_id)] = sequence
        self._prune()

    async def answered(self, sequence: int) -> None:
        """Before an answer goes out: with ``strict``, wait until entry ``sequence`` is on disk."""
        if self.strict:
            await self._through(sequence)

    async def before_feedback(self, deployment: str, request_ids: Iterable[str]) -> None:
        """Before feedback is stored: wait until the predictions it names are on disk."""
        self._prune()
        latest = max((self._in_memory.get((deployment, request_id), 0) for request_id in request_ids), default=0)
        await self._through(latest)

    async def _through(self, sequence: int) -> None:
        if sequence <= self.log.durable_sequence:
            return
        try:
            await asyncio.wrap_future(self.log.commit())
        except Exception as exc:
            raise StoreUnavailableError(f"The prediction log could not be written ({type(exc).__name__}: {exc}); "
                                        "see /health/ready, and retry once the log's folder is writable.") from exc

    def _prune(self) -> None:
        durable = self.log.durable_sequence
        while self._in_memory:
            key, sequence = next(iter(self._in_memory.items()))
            if sequence > durable:
                return
            del self._in_memory[key]
