"""What the judge is shown of a canary, gathered from real prediction, feedback and error log files: the
candidate's rows, the primary's, shadow pairs, labels and errors per variant, since the rollout began."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from shipyard.models.rollouts import start_rollout
from shipyard.monitoring.rollout_evidence import gather_evidence
from shipyard.predlog.layout import ERRORS, FEEDBACK, PREDICTIONS, partition_folder
from shipyard.predlog.schema import (
    ErrorEntry,
    FeedbackEntry,
    PredictionEntry,
    errors_table,
    feedback_table,
    predictions_table,
)
from shipyard.predlog.writer import write_file
from shipyard.store import current_store
from tests._tiny_model import register_tiny_pair


def _answer(request_id: str, variant: str, version: int, label: int, probability: float, *, at: int,
            shadow: bool = False, latency: float = 5.0) -> PredictionEntry:
    return PredictionEntry(request_id, at, "tiny", variant, shadow, "tiny", version, f"models:/tiny/{version}",
                           "python", latency, None, {"x1": [0.1]}, {"x1": "float"}, [label],
                           [[1 - probability, probability]])


def test_evidence_counts_each_arm_its_pairs_labels_and_errors(tmp_path: Path) -> None:
    register_tiny_pair("evidence", challenger=False)
    store = current_store()
    rollout = start_rollout(store, "tiny", "2", steps=(10.0, 100.0))
    log_dir = tmp_path / "logs"
    now = time.time_ns() // 1_000_000
    before = _answer("old", "default", 1, 0, 0.2, at=rollout.started_at - 60_000)  # before the rollout: not counted
    rng = np.random.default_rng(4)
    primary, candidate, shadows, labels = [], [], [], []
    for index in range(40):  # the primary answers 0 with low scores, right 30 times in 40
        request = f"p{index}"
        primary.append(_answer(request, "default", 1, 0, float(rng.uniform(0, 0.4)), at=now))
        shadows.append(_answer(request, rollout.variant + "-shadow", 2, 1 if index < 10 else 0, 0.5, at=now,
                               shadow=True))  # disagrees on 10 of the 40
        labels.append(FeedbackEntry(request, 0, 0 if index < 30 else 1, now))
    for index in range(10):  # the candidate answers 1 with high scores, right 2 times in 10
        candidate.append(_answer(f"c{index}", rollout.variant, 2, 1, float(rng.uniform(0.6, 1.0)), at=now,
                                 latency=50.0 + index))
        labels.append(FeedbackEntry(f"c{index}", 0, 1 if index < 2 else 0, now))
    write_file(partition_folder(log_dir / PREDICTIONS, "tiny", now),
               predictions_table([before, *primary, *shadows, *candidate]))
    write_file(partition_folder(log_dir / FEEDBACK, "tiny", now), feedback_table(labels))
    errors = [ErrorEntry(now, 503, "ModelOutputError", None, "not finite", rollout.variant)] * 3 \
        + [ErrorEntry(now, 422, "ValidationError", "x1", "bad", "default")] \
        + [ErrorEntry(now, 400, "MalformedRequestError", "body", "not JSON", None)]
    write_file(partition_folder(log_dir / ERRORS, "tiny", now), errors_table(errors))

    evidence = gather_evidence(store, rollout, log_dir=str(log_dir))
    assert (evidence.candidate.requests, evidence.primary.requests) == (10, 40)
    assert (evidence.candidate.errors, evidence.primary.errors) == (3, 1)  # the unrouted 400 is nobody's
    assert (evidence.candidate.labels, evidence.primary.labels) == (10, 40)
    assert evidence.candidate.losses.mean == pytest.approx(0.8) and evidence.primary.losses.mean == pytest.approx(0.25)
    assert (evidence.shadow_pairs, evidence.disagreements) == (40, 10)
    assert evidence.score_distance == 1.0 and evidence.score_counts == (10, 40)  # scores never overlap
    assert evidence.candidate.p99_latency_ms == pytest.approx(np.percentile(np.arange(50.0, 60.0), 99))
    assert evidence.step_requests == 10 and evidence.look == 1
