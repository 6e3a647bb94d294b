"""The canary judge: each check's rule on hand-made evidence, and the issue's goals by simulation with known
truth (the same simulation as ``benchmarks/bench_rollout.py``, with fewer runs)."""

from __future__ import annotations

import pytest

from benchmarks.bench_rollout import rollback_rate
from shipyard.monitoring.rollout_judge import ADVANCE, HOLD, ROLLBACK, ArmEvidence, Evidence, JudgePolicy, judge
from shipyard.monitoring.stats import ArmMoments


def _arm(requests: int, wrong: int | None = None, *, errors: int = 0, p99: float = 10.0) -> ArmEvidence:
    losses = ArmMoments(requests, float(wrong), float(wrong)) if wrong is not None else ArmMoments(0, 0.0, 0.0)
    return ArmEvidence(requests, errors, p99, losses)


def test_holds_until_the_step_has_its_requests_then_advances() -> None:
    policy = JudgePolicy(min_requests=100)
    early = judge(Evidence(_arm(50), _arm(950), step_requests=50), policy)
    assert early.action == HOLD and "50 of the 100" in early.reason
    later = judge(Evidence(_arm(150), _arm(2850), step_requests=150), policy)
    assert later.action == ADVANCE


def test_last_step_waits_for_the_label_budget() -> None:
    policy = JudgePolicy(max_labels=500)
    evidence = Evidence(_arm(400, 40), _arm(4000, 400), step_requests=400)
    assert judge(evidence, policy).action == ADVANCE  # not the last step: labels are not awaited
    waiting = judge(evidence, policy, completing=True)
    assert waiting.action == HOLD and "400 of the 500 labelled" in waiting.reason


def test_rolls_back_a_worse_loss() -> None:
    verdict = judge(Evidence(_arm(3000, 390), _arm(57000, 5700), step_requests=3000), JudgePolicy())
    assert verdict.action == ROLLBACK and "mean loss 0.1300" in verdict.reason
    assert verdict.statistics["loss"]["rejected"] is True
    assert verdict.statistics["loss"]["ci_low"] > 0


def test_an_equal_loss_is_not_rolled_back() -> None:
    verdict = judge(Evidence(_arm(3000, 300), _arm(57000, 5700), step_requests=3000), JudgePolicy())
    assert verdict.action == ADVANCE and verdict.statistics["loss"]["rejected"] is False


def test_error_rate_latency_disagreement_and_scores() -> None:
    policy = JudgePolicy()
    errors = judge(Evidence(_arm(1000, errors=80), _arm(19000, errors=95), step_requests=1000), policy)
    assert errors.action == ROLLBACK and "error rate" in errors.reason
    slow = judge(Evidence(_arm(1000, p99=80.0), _arm(19000, p99=20.0), step_requests=1000), policy)
    assert slow.action == ROLLBACK and "p99 latency 80.0 ms" in slow.reason
    tolerable = judge(Evidence(_arm(1000, p99=30.0), _arm(19000, p99=20.0), step_requests=1000), policy)
    assert tolerable.action == ADVANCE  # 30 ms <= 1.5 x 20 + 5
    disagreeing = judge(Evidence(_arm(1000), _arm(19000), step_requests=1000, shadow_pairs=19000,
                                 disagreements=7600), policy)
    assert disagreeing.action == ROLLBACK and "disagrees" in disagreeing.reason
    shifted = judge(Evidence(_arm(1000), _arm(19000), step_requests=1000, score_distance=0.5,
                             score_counts=(1000, 19000)), policy)
    assert shifted.action == ROLLBACK and "score distribution" in shifted.reason
    small_shift = judge(Evidence(_arm(1000), _arm(19000), step_requests=1000, score_distance=0.22,
                                 score_counts=(1000, 19000)), policy)
    assert small_shift.action == ADVANCE  # 0.22 minus its margin at this look is under 0.2


def test_guardrails_wait_for_enough_requests() -> None:
    verdict = judge(Evidence(_arm(20, errors=5, p99=500.0), _arm(400, p99=10.0), step_requests=20), JudgePolicy())
    assert verdict.action == HOLD


def test_goal_worse_candidate_rolled_back_within_6000_labels() -> None:
    rate, labels = rollback_rate(0.88, 200, horizon=6000, look_every=100, seed=3)
    assert rate >= 0.90
    assert max(labels) <= 6000


@pytest.mark.parametrize(("look_every", "horizon"), [(20, 4000), (200, 20000)])
def test_goal_a_a_false_rollbacks_at_most_one_percent(look_every: int, horizon: int) -> None:
    rate, _ = rollback_rate(0.90, 200, horizon=horizon, look_every=look_every, seed=5)
    assert rate <= 0.01
