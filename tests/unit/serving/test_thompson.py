"""Thompson routing probabilities against scipy's quadrature of the same integral, and the propensity floor."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from shipyard.serving.spec import DEFAULT_MIN_PROPENSITY
from shipyard.serving.thompson import DEFAULT_FLOOR, floored, routing_probabilities, thompson_probabilities


def _first_wins(successes: list[float], failures: list[float]) -> float:
    """P(draw of arm 0 > every other arm's draw) by adaptive quadrature, with Beta(1, 1) priors."""
    alpha, beta = np.asarray(successes) + 1.0, np.asarray(failures) + 1.0

    def integrand(x: float) -> float:
        others = np.prod([stats.beta.cdf(x, a, b) for a, b in zip(alpha[1:], beta[1:], strict=True)])
        return float(stats.beta.pdf(x, alpha[0], beta[0]) * others)

    means = list(alpha / (alpha + beta))
    return float(integrate.quad(integrand, 0, 1, points=means, limit=500, epsabs=1e-12)[0])


@pytest.mark.parametrize(("successes", "failures"), [
    ([0, 0], [0, 0]),  # no label yet: a coin
    ([9, 8], [1, 2]),
    ([900, 880], [100, 120]),
    ([90_000, 2], [10_000, 1]),  # a narrow posterior against a wide one
    ([45_000, 45_100], [5_000, 4_900]),  # two narrow, overlapping posteriors
    ([0, 5], [3, 0]),
    ([5, 6, 7], [5, 4, 3]),  # three variants
])
def test_probabilities_match_quadrature(successes: list[float], failures: list[float]) -> None:
    chances = thompson_probabilities(successes, failures)
    assert chances.sum() == pytest.approx(1.0)
    assert chances[0] == pytest.approx(_first_wins(successes, failures), abs=2e-4)


def test_runs_broadcast_over_leading_dimensions() -> None:
    successes = np.array([[9, 8], [0, 0], [50, 10]])
    failures = np.array([[1, 2], [0, 0], [50, 90]])
    together = thompson_probabilities(successes, failures)
    for row in range(3):
        assert together[row] == pytest.approx(thompson_probabilities(successes[row], failures[row]))


def test_the_floor_keeps_every_variant_and_the_sum() -> None:
    chances = routing_probabilities([1000, 0], [0, 1000])
    assert chances[1] == pytest.approx(DEFAULT_FLOOR) and chances.sum() == pytest.approx(1.0)
    assert floored([0.5, 0.5], 0.1) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="below 1"):
        floored([0.5, 0.5], 0.5)
    assert DEFAULT_MIN_PROPENSITY == DEFAULT_FLOOR  # serving.yaml's default is the module's


def test_one_variant_always_wins() -> None:
    assert thompson_probabilities([3], [4]) == pytest.approx([1.0])
