"""Always-valid sequential tests: a canary may be judged at every check without inflating false rollbacks.

A fixed-sample test looked at after every batch of requests rejects a true null far more often than its
alpha (ten looks at 5% reject about 19% of A/A runs). The mixture sequential probability ratio test (mSPRT,
Robbins 1970; Johari, Pekelis and Walsh, "Always valid inference", 2017) does not: its statistic is a
mixture of likelihood ratios, a non-negative martingale under the null, so by Ville's inequality the chance
that it *ever* reaches ``1 / alpha`` is at most ``alpha``, however often it is looked at.

Here the data are the per-request values of two randomized arms (a canary and its primary: losses, error
indicators, disagreements), summarized by their counts, sums and sums of squares, and the parameter is
``delta``, the candidate's mean minus the primary's. Its estimate is close to normal with variance
``v = var_c / n_c + var_p / n_p`` (the two arms may have very different sizes: a 5% canary). With a
half-normal mixing distribution of scale ``tau`` over the alternatives ``delta > margin`` (one-sided: only a
*worse* candidate is rolled back), the mixture likelihood ratio has the closed form

    Lambda = 2 * Phi(z * tau / sqrt(v + tau^2)) * sqrt(v / (v + tau^2)) * exp(z^2 tau^2 / (2 (v + tau^2)))

with ``z = (estimate - margin) / sqrt(v)``. Plugging in the estimated variances makes the guarantee
asymptotic rather than exact (Waudby-Smith et al., "Time-uniform central limit theory", 2023), which is why
the tests refuse to start below a minimum sample and why the simulation in ``benchmarks/bench_rollout.py``
checks the false-rollback rate with known truth.

``spent_alpha`` splits an alpha over an unbounded number of looks (``alpha * 6 / (pi^2 k^2)`` at look ``k``,
summing to ``alpha``) for statistics that have no martingale form, such as the Kolmogorov-Smirnov distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import ValidationError

_VARIANCE_FLOOR = 1e-12  # two arms with constant values: the estimate is exact, not infinitely significant


@dataclass(frozen=True)
class ArmMoments:
    """The per-request values of one arm, summarized: how many, their sum and their sum of squares."""

    count: int
    total: float
    total_squares: float

    @property
    def mean(self) -> float:
        if self.count <= 0:
            raise ValidationError("An arm with no values has no mean; wait for requests before testing.")
        return self.total / self.count

    @property
    def variance(self) -> float:
        """The sample variance (n - 1 in the denominator; 0 for a single value)."""
        if self.count < 2:
            return 0.0
        centered = self.total_squares - self.total * self.total / self.count
        return max(centered, 0.0) / (self.count - 1)

    @classmethod
    def of(cls, values: list[float] | tuple[float, ...]) -> ArmMoments:
        return cls(len(values), float(sum(values)), float(sum(value * value for value in values)))


@dataclass(frozen=True)
class SequentialResult:
    """One look of a one-sided mSPRT of ``H0: delta <= margin`` against ``delta > margin``.

    ``likelihood_ratio`` is the mixture ratio at this look; ``pvalue`` its always-valid p-value at this look
    (``min(1, 1 / ratio)``; the running minimum over looks is the always-valid p-value of the sequence);
    ``rejected`` is whether the ratio reached ``1 / alpha``. ``ci_low`` is the lower end of the one-sided
    ``1 - alpha`` confidence sequence for ``delta`` at this look.
    """

    estimate: float
    std_error: float
    margin: float
    likelihood_ratio: float
    pvalue: float
    rejected: bool
    ci_low: float
    alpha: float

    def to_dict(self) -> dict[str, float | bool]:
        return {"estimate": self.estimate, "std_error": self.std_error, "margin": self.margin,
                "likelihood_ratio": self.likelihood_ratio, "pvalue": self.pvalue, "rejected": self.rejected,
                "ci_low": self.ci_low, "alpha": self.alpha}


def log_mixture_ratio(estimate: float, variance: float, tau: float, margin: float = 0.0) -> float:
    """The log of the one-sided half-normal mixture likelihood ratio (the module docstring's formula)."""
    _check_scale(variance, tau)
    return _log_ratio(estimate, max(variance, _VARIANCE_FLOOR), tau, margin)


def _log_ratio(estimate: float, variance: float, tau: float, margin: float) -> float:
    shrink = tau * tau / (variance + tau * tau)
    z = (estimate - margin) / math.sqrt(variance)
    return (math.log(2.0) + _log_normal_cdf(z * math.sqrt(shrink)) + 0.5 * math.log(variance / (variance + tau * tau))
            + 0.5 * z * z * shrink)


def msprt_greater(candidate: ArmMoments, primary: ArmMoments, *, tau: float, alpha: float,
                  margin: float = 0.0) -> SequentialResult:
    """Test at one look whether the candidate's mean exceeds the primary's by more than ``margin``.

    Args:
        candidate: the candidate arm's per-request values (losses, error indicators...).
        primary: the primary arm's values on the same randomized traffic.
        tau: the scale of the differences the test is tuned to find (in the values' units); a tau near the
            smallest difference that matters makes that difference quickest to detect.
        alpha: the bound on the chance of ever rejecting a true null, over every look.
        margin: the difference tolerated (0: any worse candidate; 0.01: worse by more than one point).

    Raises:
        ValidationError: an arm without values, a non-positive ``tau`` or an ``alpha`` outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must be between 0 and 1, got {alpha}.", field="alpha")
    estimate = candidate.mean - primary.mean
    variance = candidate.variance / candidate.count + primary.variance / primary.count
    log_ratio = log_mixture_ratio(estimate, variance, tau, margin)
    threshold = math.log(1.0 / alpha)
    ratio = math.exp(min(log_ratio, 700.0))
    return SequentialResult(
        estimate=estimate, std_error=math.sqrt(variance), margin=margin, likelihood_ratio=ratio,
        pvalue=min(1.0, math.exp(-log_ratio)), rejected=log_ratio >= threshold,
        ci_low=confidence_low(estimate, variance, tau, alpha), alpha=alpha)


def msprt_exceeds(values: ArmMoments, *, limit: float, tau: float, alpha: float) -> SequentialResult:
    """Test at one look whether the mean of one stream of values exceeds ``limit`` (``H0: mean <= limit``).

    The one-sample form of :func:`msprt_greater`, for a rate judged against a fixed ceiling (the share of
    shadow pairs on which a candidate disagrees with its primary, say).
    """
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must be between 0 and 1, got {alpha}.", field="alpha")
    variance = values.variance / values.count if values.count else 0.0
    estimate = values.mean
    log_ratio = log_mixture_ratio(estimate, variance, tau, limit)
    return SequentialResult(
        estimate=estimate, std_error=math.sqrt(variance), margin=limit,
        likelihood_ratio=math.exp(min(log_ratio, 700.0)), pvalue=min(1.0, math.exp(-log_ratio)),
        rejected=log_ratio >= math.log(1.0 / alpha), ci_low=confidence_low(estimate, variance, tau, alpha),
        alpha=alpha)


def confidence_low(estimate: float, variance: float, tau: float, alpha: float) -> float:
    """The smallest ``delta`` not rejected as too small: the lower end of the one-sided confidence sequence.

    Found by bisection on the margin (the mixture ratio falls as the margin rises towards the estimate), to a
    ten-thousandth of the standard error: finer than any decision or display needs.
    """
    _check_scale(variance, tau)
    variance = max(variance, _VARIANCE_FLOOR)
    threshold = math.log(1.0 / alpha)
    high = estimate  # the ratio is below 1 there, so below any threshold
    step = math.sqrt(variance) + tau
    low = estimate - step
    while _log_ratio(estimate, variance, tau, low) < threshold:
        step *= 2
        low = estimate - step
    tolerance = 1e-4 * math.sqrt(variance)
    while high - low > tolerance:
        middle = (low + high) / 2
        if _log_ratio(estimate, variance, tau, middle) >= threshold:
            low = middle
        else:
            high = middle
    return low


def spent_alpha(alpha: float, look: int) -> float:
    """The share of ``alpha`` look number ``look`` (from 1) may spend, so that all looks together spend alpha."""
    if look < 1:
        raise ValidationError(f"Looks are numbered from 1, got {look}.", field="look")
    return alpha * 6.0 / (math.pi ** 2 * look * look)


def ks_critical_distance(n_a: int, n_b: int, alpha: float) -> float:
    """The two-sample Kolmogorov-Smirnov distance exceeded with probability about ``alpha`` at most under the null.

    From the tail bound of Kolmogorov's limit law, ``P(sqrt(nm / (n + m)) D > x) <= 2 exp(-2 x^2)`` (the
    Dvoretzky-Kiefer-Wolfowitz form): no table and no iteration, conservative at the sample sizes a canary
    sees, so a share of alpha from :func:`spent_alpha` keeps its meaning at every look.
    """
    if n_a <= 0 or n_b <= 0:
        raise ValidationError("Both samples need values for a Kolmogorov-Smirnov distance.")
    return math.sqrt(math.log(2.0 / alpha) / 2.0 * (n_a + n_b) / (n_a * n_b))


def _log_normal_cdf(x: float) -> float:
    """log(Phi(x)) without underflow: erfc while Phi is representable, the asymptotic series beyond.

    Pure ``math`` rather than scipy's ``log_ndtr``: a canary simulation calls this millions of times on scalars.
    """
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x / math.sqrt(2.0)))
    if x > -20.0:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    # Mills ratio: Phi(x) ~ phi(x) / |x| * (1 - 1/x^2 + 3/x^4) for x far below 0
    return -0.5 * x * x - math.log(-x) - 0.5 * math.log(2 * math.pi) + math.log1p(-1 / x**2 + 3 / x**4)


def _check_scale(variance: float, tau: float) -> None:
    if not tau > 0 or not math.isfinite(tau):
        raise ValidationError(f"tau must be a positive number, got {tau}.", field="tau")
    if not variance >= 0 or not math.isfinite(variance):
        raise ValidationError(f"The variance of the estimate must be a finite number >= 0, got {variance}.")
