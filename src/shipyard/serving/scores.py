"""A ``routing: thompson`` deployment's provisional evidence: each answered prediction's stated P(correct).

The posteriors (``serving/thompson.py`` ``scored_counts``) count every prediction's P(correct) while its label is
pending, so a bandit whose labels come a day late does not split its traffic evenly for that day. With
``reward: accuracy`` a classifier's answer is the class of largest probability, so that probability is the
model's own stated P(correct). It is mapped to a calibrated P(correct) by the version's confidence map
(:func:`shipyard.calibration.confidence_calibration`, learnt from the labelled reference the promotion gate kept
with the version, the same isotonic rule monitoring's estimates use); a version without a reference keeps its
raw probability. The rectifier in ``scored_counts``, which measures each variant's score bias on the labels
that do arrive, and its prior on the calibration error before they do, correct what the map could not see (a
drift since the gate).

Each process sums its variants' scores here as it answers (:meth:`PendingScores.add`, on the event loop) and
adds them to the store on the fleet's one-second beat (:meth:`PendingScores.drain`, in a thread), so the store
takes one update per variant per second, not one per prediction. A label reads the same probability back from
the prediction log (``serving/rewards.py``) and replaces the score in the store once.
"""

from __future__ import annotations

import threading
from typing import Protocol

from ..calibration import Calibration, calibrated_confidence
from ..models.bandits import ScoreSums


def stated_correct(probabilities: list[list[float]] | None, confidence: Calibration | None = None) \
        -> list[float] | None:
    """Each row's P(correct): its largest probability, through the version's ``confidence`` map when it has one
    (None for a model without probabilities)."""
    if not probabilities or not all(probabilities):
        return None
    stated = [max(row) for row in probabilities]
    return stated if confidence is None else calibrated_confidence(confidence, stated)


class PendingScores:
    """Scores answered since the last :meth:`drain`, per variant; safe between the event loop and a thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[str, ScoreSums] = {}

    def add(self, variant: str, scores: list[float]) -> None:
        with self._lock:
            sums = self._sums.get(variant, ScoreSums())
            for score in scores:
                sums = sums.add(score)
            self._sums[variant] = sums

    def drain(self) -> dict[str, ScoreSums]:
        """The sums gathered so far, now cleared."""
        with self._lock:
            taken, self._sums = self._sums, {}
        return taken

    def restore(self, taken: dict[str, ScoreSums]) -> None:
        """Put back sums the store could not take, to be added on the next beat."""
        with self._lock:
            for variant, sums in taken.items():
                mine = self._sums.get(variant, ScoreSums())
                self._sums[variant] = ScoreSums(mine.count + sums.count, mine.expected + sums.expected,
                                                mine.squares + sums.squares)


class ScoreSink(Protocol):
    """Where scores go: the fleet's source (the store, or the team server)."""

    def record_scores(self, deployment: str, scores: dict[str, ScoreSums]) -> None: ...


def add_scores(sink: ScoreSink, deployment: str, pending: PendingScores) -> None:
    """Add the deployment's scores answered since the last beat to the source (kept for the next beat when it
    refuses them: the caller logs that)."""
    taken = pending.drain()
    try:
        sink.record_scores(deployment, taken)
    except BaseException:
        pending.restore(taken)
        raise
