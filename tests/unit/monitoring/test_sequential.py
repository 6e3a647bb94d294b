"""The always-valid sequential tests: the closed form against numerical integration, hand-made cases, and
the false-rejection rate of many looks against the same test's fixed-sample cousin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from shipyard.errors import ValidationError
from shipyard.monitoring.stats import (
    ArmMoments,
    confidence_low,
    ks_critical_distance,
    log_mixture_ratio,
    msprt_exceeds,
    msprt_greater,
    spent_alpha,
)


def _integrated_ratio(estimate: float, variance: float, tau: float, margin: float) -> float:
    """The mixture likelihood ratio by quadrature: the half-normal prior over delta - margin > 0."""
    def integrand(shift: float) -> float:
        return 2 * stats.norm.pdf(shift, 0, tau) * math.exp(((estimate - margin) * shift - shift * shift / 2)
                                                             / variance)
    value, _ = integrate.quad(integrand, 0, 20 * tau)
    return value


@pytest.mark.parametrize(("estimate", "variance", "tau", "margin"), [
    (0.02, 1e-4, 0.02, 0.0), (0.02, 1e-4, 0.02, 0.005), (-0.01, 4e-4, 0.05, 0.0), (0.3, 0.01, 0.1, 0.1),
])
def test_closed_form_matches_the_integral(estimate: float, variance: float, tau: float, margin: float) -> None:
    expected = _integrated_ratio(estimate, variance, tau, margin)
    assert math.exp(log_mixture_ratio(estimate, variance, tau, margin)) == pytest.approx(expected, rel=1e-7)


def test_golden_value() -> None:
    # estimate 0.02, standard error 0.01, tau 0.02: 2 Phi(2 * 0.8944) sqrt(0.2) exp(4 * 0.8 / 2), by hand
    by_hand = 2 * stats.norm.cdf(2 * math.sqrt(0.8)) * math.sqrt(0.2) * math.exp(1.6)
    assert by_hand == pytest.approx(4.267013438, rel=1e-9)
    assert math.exp(log_mixture_ratio(0.02, 1e-4, 0.02)) == pytest.approx(by_hand, rel=1e-12)


def test_two_arms_from_moments() -> None:
    candidate = ArmMoments.of([1, 0, 0, 1, 1, 0, 1, 1])
    primary = ArmMoments.of([0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    assert candidate.mean == 0.625 and candidate.variance == pytest.approx(np.var([1, 0, 0, 1, 1, 0, 1, 1], ddof=1))
    result = msprt_greater(candidate, primary, tau=0.3, alpha=0.05)
    variance = candidate.variance / 8 + primary.variance / 10
    assert result.estimate == pytest.approx(0.425)
    assert result.std_error == pytest.approx(math.sqrt(variance))
    assert result.likelihood_ratio == pytest.approx(math.exp(log_mixture_ratio(0.425, variance, 0.3)))
    assert not result.rejected and result.pvalue == pytest.approx(1 / result.likelihood_ratio)


def test_confidence_low_is_where_the_ratio_reaches_one_over_alpha() -> None:
    low = confidence_low(0.05, 1e-4, 0.02, 0.01)
    assert log_mixture_ratio(0.05, 1e-4, 0.02, low) == pytest.approx(math.log(100), abs=1e-3)
    assert 0 < low < 0.05  # five standard errors above 0: the sequence already excludes 0


def test_one_sample_against_a_ceiling() -> None:
    many = ArmMoments(2000, 700.0, 700.0)  # 35% disagreement against a 25% ceiling
    assert msprt_exceeds(many, limit=0.25, tau=0.05, alpha=0.001).rejected
    few = ArmMoments(2000, 400.0, 400.0)  # 20%: under the ceiling
    assert not msprt_exceeds(few, limit=0.25, tau=0.05, alpha=0.001).rejected


def test_spending_sums_to_alpha_and_ks_bound() -> None:
    assert sum(spent_alpha(0.01, look) for look in range(1, 200_000)) == pytest.approx(0.01, rel=1e-4)
    # 2 exp(-2 x^2) = alpha at x = sqrt(log(2 / alpha) / 2), scaled by sqrt((n + m) / (n m))
    assert ks_critical_distance(100, 400, 0.05) == pytest.approx(math.sqrt(math.log(40) / 2 * 500 / 40_000))


def test_refuses_what_has_no_answer() -> None:
    with pytest.raises(ValidationError):
        msprt_greater(ArmMoments(0, 0.0, 0.0), ArmMoments(5, 1.0, 1.0), tau=0.1, alpha=0.05)
    with pytest.raises(ValidationError, match="tau"):
        log_mixture_ratio(0.1, 0.01, 0.0)
    with pytest.raises(ValidationError, match="alpha"):
        msprt_greater(ArmMoments(5, 1.0, 1.0), ArmMoments(5, 1.0, 1.0), tau=0.1, alpha=1.5)


def test_many_looks_keep_false_rejections_under_alpha_where_a_fixed_test_does_not() -> None:
    """A/A: 400 runs of 2,000 Bernoulli(0.1) values per arm, looked at every 50. The fixed one-sided z-test at
    5% rejects far more often than 5% when looked at 40 times; the mSPRT at 5% stays under 5%."""
    rng = np.random.default_rng(11)
    runs, looks, batch = 400, 40, 50
    a = rng.binomial(batch, 0.1, (runs, looks)).cumsum(axis=1)
    b = rng.binomial(batch, 0.1, (runs, looks)).cumsum(axis=1)
    msprt_rejects = fixed_rejects = 0
    for run in range(runs):
        msprt_hit = fixed_hit = False
        for look in range(looks):
            n = (look + 1) * batch
            arm_b, arm_a = ArmMoments(n, float(b[run, look]), float(b[run, look])), \
                ArmMoments(n, float(a[run, look]), float(a[run, look]))
            result = msprt_greater(arm_b, arm_a, tau=0.03, alpha=0.05)
            msprt_hit |= result.rejected
            fixed_hit |= result.estimate / max(result.std_error, 1e-12) > stats.norm.ppf(0.95)
        msprt_rejects += msprt_hit
        fixed_rejects += fixed_hit
    assert msprt_rejects / runs <= 0.05
    assert fixed_rejects / runs > 0.12
