"""The scores a bandit deployment counts before its labels: each row's stated P(correct), summed per variant
between the fleet's beats, and kept for the next beat when the store refuses them."""

from __future__ import annotations

import pytest

from shipyard.models.bandits import ScoreSums, arm_states
from shipyard.serving.scores import PendingScores, add_scores, stated_correct
from shipyard.serving.source import StoreSource
from shipyard.store import current_store


def test_the_stated_p_correct_is_the_predicted_class_probability() -> None:
    assert stated_correct([[0.2, 0.8], [0.7, 0.3], [0.1, 0.6, 0.3]]) == [0.8, 0.7, 0.6]
    assert stated_correct(None) is None
    assert stated_correct([]) is None


def test_pending_scores_drain_once_and_restore() -> None:
    pending = PendingScores()
    pending.add("a", [0.8, 0.6])
    pending.add("b", [0.5])
    taken = pending.drain()
    assert taken["a"] == ScoreSums(2, pytest.approx(1.4), pytest.approx(1.0)) and taken["b"].count == 1
    assert pending.drain() == {}  # drained once
    pending.add("a", [0.9])
    pending.restore(taken)  # the store refused them: they go with the next beat
    again = pending.drain()
    assert again["a"] == ScoreSums(3, pytest.approx(2.3), pytest.approx(1.81))


def test_scores_reach_the_store_once() -> None:
    store = current_store()
    pending = PendingScores()
    pending.add("a", [0.8, 0.6])
    add_scores(StoreSource(store), "churn", pending)
    add_scores(StoreSource(store), "churn", pending)  # nothing new: nothing added
    arm = arm_states(store)["churn"]["a"]
    assert (arm.scored, arm.scored_expected, arm.count) == (2, pytest.approx(1.4), 0)
