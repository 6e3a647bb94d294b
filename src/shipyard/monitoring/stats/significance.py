"""A/B significance: whether challenger B differs from champion A (the two-proportion z-test for rates,
Welch's t-test for means, and the Bayesian P(rate B > rate A) that Thompson sampling acts on), confidence
intervals for a rate or a mean, and the sample size per arm needed to detect a difference.

The ``*_from_moments`` variants take aggregated means and variances, so A/B works on per-window sums without
the raw values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import ValidationError
from ._arrays import _probability, _values

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclass(frozen=True)
class ZTestResult:
    """A two-sided z-test: ``difference`` is rate B minus rate A, the sign of ``statistic``."""

    statistic: float
    pvalue: float
    difference: float


@dataclass(frozen=True)
class WelchResult:
    """Welch's t-test: ``difference`` is mean B minus mean A; ``df`` the Welch-Satterthwaite degrees of freedom."""

    statistic: float
    pvalue: float
    df: float
    difference: float


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval around it."""

    estimate: float
    low: float
    high: float


def two_proportion_ztest(successes_a: int, n_a: int, successes_b: int, n_b: int) -> ZTestResult:
    """Two-sided pooled two-proportion z-test: z = (p_b - p_a) / sqrt(p (1 - p) (1/n_a + 1/n_b)).

    The pooled rate p is the variance under the null hypothesis of equal rates, the textbook choice for a
    test (it makes z squared equal the 2 x 2 chi-square). When both arms are all failures or all successes
    no difference is observable: z = 0, p = 1.

    Raises:
        ValidationError: a count outside 0..n, or an empty arm.
    """
    from scipy.stats import norm

    rate_a, rate_b = _rate(successes_a, n_a, "a"), _rate(successes_b, n_b, "b")
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return ZTestResult(0.0, 1.0, rate_b - rate_a)
    z = (rate_b - rate_a) / math.sqrt(variance)
    return ZTestResult(z, _probability(2 * norm.sf(abs(z))), rate_b - rate_a)


def welch_ttest(a: ArrayLike, b: ArrayLike) -> WelchResult:
    """Welch's two-sided t-test of mean B against mean A (unequal variances); NaN is dropped.

    Welch rather than Student because A/B arms rarely share a variance and Welch loses almost nothing when
    they do. Equals scipy's ``ttest_ind(b, a, equal_var=False)``.

    Raises:
        ValidationError: as :func:`welch_from_moments`.
    """
    x, y = _values(a), _values(b)
    if x.size < 2 or y.size < 2:
        raise ValidationError(f"welch_ttest needs at least 2 values per arm, got {x.size} and {y.size}.",
                              field="b")
    return welch_from_moments(float(x.mean()), float(x.var(ddof=1)), x.size,
                              float(y.mean()), float(y.var(ddof=1)), y.size)


def welch_from_moments(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int) -> WelchResult:
    """Welch's t-test from aggregated moments, so A/B works on per-window sums without the raw values.

    ``var_a`` and ``var_b`` are sample variances (ddof=1). t = (mean_b - mean_a) / sqrt(var_a/n_a + var_b/n_b);
    the degrees of freedom follow Welch-Satterthwaite.

    Raises:
        ValidationError: an arm with fewer than 2 values, a negative variance, or both variances 0 (constant
            arms have no sampling error to test against).
    """
    from scipy.stats import t as student_t

    if n_a < 2 or n_b < 2:
        raise ValidationError(f"Welch's t-test needs at least 2 values per arm, got {n_a} and {n_b}.", field="n_b")
    if var_a < 0 or var_b < 0:
        raise ValidationError(f"Variances cannot be negative, got {var_a} and {var_b}.", field="var_b")
    se2_a, se2_b = var_a / n_a, var_b / n_b
    if se2_a + se2_b <= 0:
        raise ValidationError("Both arms are constant: Welch's t-test is undefined without variance.", field="var_b")
    statistic = (mean_b - mean_a) / math.sqrt(se2_a + se2_b)
    df = (se2_a + se2_b) ** 2 / (se2_a**2 / (n_a - 1) + se2_b**2 / (n_b - 1))
    return WelchResult(statistic, _probability(2 * student_t.sf(abs(statistic), df)), df, mean_b - mean_a)


def prob_b_beats_a(successes_a: int, n_a: int, successes_b: int, n_b: int,
                   prior: tuple[float, float] = (1.0, 1.0)) -> float:
    """P(rate B > rate A) under independent Beta posteriors, the quantity Thompson sampling acts on.

    Each arm's rate has posterior Beta(prior[0] + successes, prior[1] + failures). The probability is the
    integral of pdf_B(x) * cdf_A(x) over [0, 1], computed by adaptive quadrature (scipy ``quad``) on the
    range that holds B's mass, so it is deterministic and accurate to about 1e-10 with no sampling and no
    seed; it agrees with Evan Miller's closed form for integer parameters and with Monte Carlo. An arm
    without observations keeps its prior (two empty arms give 0.5).

    Raises:
        ValidationError: successes outside 0..n, or a non-positive prior parameter.
    """
    from scipy import integrate
    from scipy.stats import beta

    _rate(successes_a, n_a, "a", allow_empty=True)
    _rate(successes_b, n_b, "b", allow_empty=True)
    if not (prior[0] > 0 and prior[1] > 0):
        raise ValidationError(f"Beta prior parameters must be positive, got {prior}.", field="prior")
    alpha_a, beta_a = prior[0] + successes_a, prior[1] + n_a - successes_a
    alpha_b, beta_b = prior[0] + successes_b, prior[1] + n_b - successes_b
    low, high = float(beta.ppf(1e-15, alpha_b, beta_b)), float(beta.isf(1e-15, alpha_b, beta_b))
    value, _ = integrate.quad(lambda x: beta.pdf(x, alpha_b, beta_b) * beta.cdf(x, alpha_a, beta_a),
                              low, high, epsabs=1e-12, epsrel=1e-10, limit=200)
    return _probability(value)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion.

    Wilson rather than the Wald interval p +/- z*sqrt(p(1-p)/n) because Wald collapses to a point at 0% or
    100% and undercovers for small n or rare events, exactly the cases of a fresh A/B arm or a rare label.
    The interval always lies in [0, 1] and contains the estimate.

    Raises:
        ValidationError: a count outside 0..n, an empty sample, or a confidence outside (0, 1).
    """
    from scipy.stats import norm

    rate = _rate(successes, n, "")
    z = float(norm.isf((1 - _confidence(confidence)) / 2))
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return Interval(rate, max(0.0, min(rate, centre - half)), min(1.0, max(rate, centre + half)))


def mean_interval(values: ArrayLike, confidence: float = 0.95) -> Interval:
    """Student t interval for a mean (NaN dropped); see :func:`mean_interval_from_moments`."""
    array = _values(values)
    if array.size < 2:
        raise ValidationError(f"A confidence interval for a mean needs at least 2 values, got {array.size}.",
                              field="values")
    return mean_interval_from_moments(float(array.mean()), float(array.var(ddof=1)), array.size, confidence)


def mean_interval_from_moments(mean: float, var: float, n: int, confidence: float = 0.95) -> Interval:
    """Student t interval mean +/- t(n-1) * sqrt(var / n) from aggregated moments (``var`` with ddof=1).

    The t quantile rather than the normal one keeps small windows honest; for large n they coincide.

    Raises:
        ValidationError: fewer than 2 values, a negative variance, or a confidence outside (0, 1).
    """
    from scipy.stats import t as student_t

    if n < 2 or var < 0:
        raise ValidationError(f"A t interval needs n >= 2 and a variance >= 0, got n={n}, var={var}.", field="n")
    half = float(student_t.isf((1 - _confidence(confidence)) / 2, n - 1)) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half)


def required_sample_size(p_a: float, p_b: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Observations needed per arm for a two-sided two-proportion z-test to detect p_a vs p_b.

    The standard normal-approximation formula without continuity correction (Fleiss), with the pooled
    variance under the null and the separate variances under the alternative::

        n = (z(1-alpha/2) * sqrt(2 pbar (1 - pbar)) + z(power) * sqrt(p_a q_a + p_b q_b))^2 / (p_a - p_b)^2

    rounded up (0.05 vs 0.10 gives 435). "About N more labelled predictions" is this minus what each arm has.

    Raises:
        ValidationError: rates outside [0, 1], equal rates (no sample size detects no difference: pass the
            smallest difference worth detecting), or alpha/power outside (0, 1).
    """
    from scipy.stats import norm

    if not (0 <= p_a <= 1 and 0 <= p_b <= 1):
        raise ValidationError(f"Rates must lie in [0, 1], got {p_a} and {p_b}.", field="p_b")
    if p_a == p_b:
        raise ValidationError(f"Both rates are {p_a}: no sample size detects a zero difference; pass the "
                              "smallest difference worth detecting.", field="p_b")
    _confidence(1 - alpha)
    _confidence(power)
    pooled = (p_a + p_b) / 2
    numerator = (float(norm.isf(alpha / 2)) * math.sqrt(2 * pooled * (1 - pooled))
                 + float(norm.ppf(power)) * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b)))
    return math.ceil(numerator**2 / (p_a - p_b) ** 2 - 1e-9)  # the 1e-9 absorbs rounding on exact integers


# -------------------------------------------------------------------------------------------- helpers


def _rate(successes: int, n: int, arm: str, *, allow_empty: bool = False) -> float:
    label = f" of arm {arm}" if arm else ""
    if n < 0 or (n == 0 and not allow_empty):
        raise ValidationError(f"The sample{label} is empty (n = {n}).", field=f"n_{arm}" if arm else "n")
    if not 0 <= successes <= n:
        raise ValidationError(f"Successes{label} must lie in 0..{n}, got {successes}.",
                              field=f"successes_{arm}" if arm else "successes")
    return successes / n if n else 0.0


def _confidence(level: float) -> float:
    if not 0 < level < 1:
        raise ValidationError(f"A confidence level, alpha or power must lie strictly between 0 and 1, got {level}.",
                              field="confidence")
    return level
