"""Bandit reward sums in a real store: a label counts once however often it is posted, sums add up, variants
and deployments stay apart, and concurrent writers lose nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from shipyard.models.bandits import Reward, arm_states, record_rewards
from shipyard.store import current_store


def test_a_repeated_label_counts_once() -> None:
    store = current_store()
    first = [Reward("r1", 0, "a", 1.0, 0.5), Reward("r1", 1, "a", 0.0, 0.5), Reward("r2", 0, "b", 1.0, 0.25)]
    assert record_rewards(store, "churn", first) == 3
    assert record_rewards(store, "churn", first[:2]) == 0  # a client's retry
    assert record_rewards(store, "churn", [Reward("r1", 0, "a", 0.0, 0.5)]) == 0  # a relabel: the first counts
    arms = arm_states(store)["churn"]
    a, b = arms["a"], arms["b"]
    assert (a.count, a.successes, a.failures, a.weight, a.weighted_reward) == (2, 1.0, 1.0, 4.0, 2.0)
    assert (a.weight_squares, a.weight_squares_reward, a.weight_squares_reward_squares) == (8.0, 4.0, 4.0)
    assert (b.count, b.reward, b.weight, b.weight_squares) == (1, 1.0, 4.0, 16.0)


def test_deployments_are_apart_and_unlabelled_variants_absent() -> None:
    store = current_store()
    record_rewards(store, "churn", [Reward("r1", 0, "a", 1.0, 0.5)])
    record_rewards(store, "fraud", [Reward("r1", 0, "a", 0.0, 0.5)])  # the same id in another deployment
    states = arm_states(store, ["churn"])
    assert list(states) == ["churn"] and list(states["churn"]) == ["a"]
    assert states["churn"]["a"].reward == 1.0
    assert arm_states(store, ["none"]) == {}


@pytest.mark.parametrize("workers", [4])
def test_concurrent_writers_lose_no_label(workers: int) -> None:
    store = current_store()

    def post(worker: int) -> int:
        # every worker posts its own 25 labels and the first 10 of worker 0's (duplicates across workers)
        mine = [Reward(f"w{worker}-{index}", 0, "a", float(index % 2), 0.5) for index in range(25)]
        shared = [Reward(f"w0-{index}", 0, "a", float(index % 2), 0.5) for index in range(10)]
        return sum(record_rewards(store, "churn", [item]) for item in mine + shared)

    with ThreadPoolExecutor(workers) as pool:
        counted = sum(pool.map(post, range(workers)))
    arm = arm_states(store)["churn"]["a"]
    assert counted == arm.count == 25 * workers
    assert arm.reward == 12 * workers


def test_a_scored_prediction_is_provisional_until_its_label_replaces_it_once() -> None:
    """Known truth: two predictions stating 0.8 and 0.6 are pending, then the first's label (a success) joins
    twice; the posterior moves from the scores alone to the label replacing the first score, counted once."""
    from shipyard.models.bandits import ScoreSums, record_scores
    from shipyard.serving.thompson import posterior_counts, scored_counts

    store = current_store()
    record_scores(store, "churn", {"a": ScoreSums().add(0.8).add(0.6), "b": ScoreSums()})
    arm = arm_states(store)["churn"]["a"]
    assert "b" not in arm_states(store)["churn"]  # no score, no label: nothing to say about it
    assert (arm.scored, arm.scored_expected, arm.scored_squares, arm.count, arm.labelled_scored) \
        == (2, pytest.approx(1.4), pytest.approx(1.0), 0, 0)
    pending = posterior_counts([arm], doubt=0.05)
    assert [float(c[0]) for c in pending] \
        == pytest.approx([float(c[0]) for c in scored_counts([0], [0], [2], [1.4], [1.0], [0], [0], [0], doubt=0.05)])
    assert float(pending[0][0]) / float(pending[0][0] + pending[1][0]) == pytest.approx(0.7)

    label = Reward("r1", 0, "a", 1.0, 0.5, expected=0.8)
    assert record_rewards(store, "churn", [label]) == 1
    assert record_rewards(store, "churn", [label]) == 0  # a retry
    arm = arm_states(store)["churn"]["a"]
    assert (arm.scored, arm.count, arm.labelled_scored, arm.labelled_expected, arm.labelled_scored_reward) \
        == (2, 1, 1, pytest.approx(0.8), 1.0)  # one prediction pending, one labelled: the score was replaced
    joined = posterior_counts([arm], doubt=0.05)
    expected = scored_counts([1], [0], [2], [1.4], [1.0], [1], [0.8], [1.0], doubt=0.05)
    assert [float(c[0]) for c in joined] == pytest.approx([float(c[0]) for c in expected])
    # the label said better than its score: the posterior's mean rose above the scores' 0.7
    assert float(joined[0][0]) / float(joined[0][0] + joined[1][0]) > 0.7
