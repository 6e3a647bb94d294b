"""The posterior with scores as provisional evidence (``scored_counts``): by hand, against known truth, and a
prediction's evidence counted once, provisional while its label is pending and real once it joins."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.serving.thompson import scored_counts


def _mean_and_size(successes: float, failures: float) -> tuple[float, float]:
    return successes / (successes + failures), successes + failures


def test_without_scores_or_doubt_the_labels_alone_count() -> None:
    assert [list(c) for c in scored_counts([3, 4], [1, 2], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0])] \
        == [[3, 4], [1, 2]]
    assert [list(c) for c in scored_counts([3], [1], [10], [8], [6.5], [4], [3], [3], doubt=0)] == [[3], [1]]


def test_pending_scores_before_any_label_by_hand() -> None:
    # 4 pending predictions stating 0.7, 0.8, 0.9, 1.0: mean 0.85, v_q = 0.0125, and no label to rectify them
    q = np.array([0.7, 0.8, 0.9, 1.0])
    successes, failures = scored_counts([0], [0], [4], [q.sum()], [(q * q).sum()], [0], [0], [0], doubt=0.05)
    mean, size = _mean_and_size(float(successes[0]), float(failures[0]))
    assert mean == pytest.approx(0.85)
    assert size == pytest.approx(0.85 * 0.15 / (0.0125 / 4 + 0.05 ** 2))  # var = v_q / n + doubt^2


def test_the_scores_weigh_at_most_what_the_doubt_allows_before_labels() -> None:
    # a million pending predictions stating 0.9 weigh as a(1 - a) / doubt^2 = 225 labels, not a million
    successes, failures = scored_counts([0], [0], [1e6], [0.9e6], [0.81e6], [0], [0], [0], doubt=0.02)
    mean, size = _mean_and_size(float(successes[0]), float(failures[0]))
    assert mean == pytest.approx(0.9)
    assert size == pytest.approx(0.09 / 0.02 ** 2, rel=1e-3)


def test_a_label_replaces_its_provisional_evidence_and_counts_once() -> None:
    # one prediction stating 0.8: pending, then its label (a failure) joins
    pending = scored_counts([0], [0], [1], [0.8], [0.64], [0], [0], [0], doubt=0.1)
    mean, size = _mean_and_size(float(pending[0][0]), float(pending[1][0]))
    v_d, m0 = 0.8 * 0.2, 0.8 * 0.2 / 0.1 ** 2  # mean q (1 - q); the prior's weight in labels (16)
    assert mean == pytest.approx(0.8) and size == pytest.approx(0.16 / (0 + v_d / m0))
    # the label: the scored sums stay (the prediction was scored once), the labelled ones gain q and r
    joined = scored_counts([0], [1], [1], [0.8], [0.64], [1], [0.8], [0.0], doubt=0.1)
    bias = 0.8 / (1 + m0)  # sum (q - r) / (m + m0); the labels show no more bias than the doubt allows
    mean, size = _mean_and_size(float(joined[0][0]), float(joined[1][0]))
    assert mean == pytest.approx(0.8 - bias)
    assert size == pytest.approx(mean * (1 - mean) / (v_d / (1 + m0)))
    # the same label counted twice would be a different posterior: the caller's sums, not this function, keep it
    # once (models/bandits.py), and the prediction's own q is not added again on top of the label
    twice = scored_counts([0], [2], [1], [0.8], [0.64], [2], [1.6], [0.0], doubt=0.1)
    assert float(twice[0][0]) / float(twice[0][0] + twice[1][0]) < mean


@pytest.mark.parametrize(("stated_shift", "doubt"), [(0.0, 0.02), (0.08, 0.02)])
def test_known_truth_the_rectifier_finds_the_accuracy_whatever_the_calibration(stated_shift: float,
                                                                              doubt: float) -> None:
    """True P(correct) s ~ Beta(8.5, 1.5) (accuracy 0.85); the model states s + shift. With 2,000 labels and
    10,000 pending, the posterior's mean is the true accuracy within its own interval, not the stated one."""
    rng = np.random.default_rng(3)
    s = rng.beta(8.5, 1.5, 12_000)
    r = (rng.random(12_000) < s).astype(float)
    q = np.clip(s + stated_shift, 0, 1)
    labelled = slice(0, 2_000)
    successes, failures = scored_counts([r[labelled].sum()], [2_000 - r[labelled].sum()], [12_000], [q.sum()],
                                        [(q * q).sum()], [2_000], [q[labelled].sum()], [r[labelled].sum()],
                                        doubt=doubt)
    mean, size = _mean_and_size(float(successes[0]), float(failures[0]))
    half = 1.96 * np.sqrt(mean * (1 - mean) / size)
    assert abs(mean - 0.85) < half, (mean, half)
    assert size > 2_000  # the pending scores added evidence to the labels
    if stated_shift:
        assert abs(mean - 0.85) < abs(q.mean() - 0.85) / 4


def test_labels_without_scores_still_count_next_to_scored_ones() -> None:
    """A deployment that counted 40 labels before its answers carried scores keeps them: they add to the scored
    posterior as plain counts (30 successes, 10 failures), whatever the scored ones say."""
    scored_only = scored_counts([6], [2], [10], [8.0], [6.5], [8], [6.4], [6], doubt=0.05)
    both = scored_counts([36], [12], [10], [8.0], [6.5], [8], [6.4], [6], doubt=0.05)
    assert float(both[0][0]) == pytest.approx(float(scored_only[0][0]) + 30)
    assert float(both[1][0]) == pytest.approx(float(scored_only[1][0]) + 10)
