"""Statistics for monitoring: drift between binned profiles, A/B significance, confused-model scores and
quality metrics from feedback.

Pure computation (STYLE.md habit 8): plain sequences of counts or values in, floats or small frozen
dataclasses out; no files, no clock, no random state. numpy is imported here and scipy inside the functions
that need it. Every golden value in TESTING.md ("Statistics: reference values") is a test.

Conventions shared by every function:

- *A* is the reference or champion, *B* the current window or challenger; signed results are B minus A.
- Counts come from ``models/profile.py`` (reference deciles with open outer bins, 20 equal-width probability
  bins) or from :func:`open_bin_counts` with the reference's edges, so both sides always share their bins.
- A statistic that is undefined for its input (an empty window, a sample too small for a variance) raises
  :class:`~shipyard.errors.ValidationError`, a ``ValueError``, instead of returning NaN: NaN compared with a
  threshold silently reads as "no drift". Callers report "no data" before calling. Where a window can
  ordinarily lack what a metric needs (one class only for ROC AUC, no positives for recall) the result is
  ``None``, so the type checker makes the caller handle it.
- NaN in a sample of values means missing: the one- and two-sample functions drop it (missingness has its own
  check); the paired quality metrics refuse it, because the join of feedback to predictions should already
  have dropped unlabelled rows, and a NaN there is a bug upstream.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import ValidationError
from ..models.profile import _open_bin_counts

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]

DriftTest = Literal["ks", "psi", "chi2", "jensen_shannon"]
SMALL_SAMPLE = 1000  # effective sample size up to which p-value tests are used (see choose_drift_test)


@dataclass(frozen=True)
class KSResult:
    """A Kolmogorov-Smirnov statistic D (largest gap between the two CDFs) and its two-sided p-value."""

    statistic: float
    pvalue: float


@dataclass(frozen=True)
class Chi2Result:
    """A chi-square statistic, its p-value and degrees of freedom."""

    statistic: float
    pvalue: float
    dof: int


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


@dataclass(frozen=True)
class AlignedCounts:
    """Two categorical profiles' level counts on one shared list of levels (zero where a side lacks a level)."""

    levels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True)
class ConfusionScore:
    """How unsure a classifier is over a window of ``rows`` predictions.

    ``mean_entropy`` is the mean normalised entropy (0 certain, 1 uniform); ``low_confidence_share`` the share
    of rows whose top class probability is below the threshold (0.55 by default, which for a binary model is
    exactly the rows whose top-two margin is below 0.1).
    """

    rows: int
    mean_entropy: float
    low_confidence_share: float


@dataclass(frozen=True)
class ConfusionComparison:
    """Confusion scores of a live window next to the reference's, both computed the same way."""

    reference: ConfusionScore
    current: ConfusionScore

    @property
    def entropy_change(self) -> float:
        return self.current.mean_entropy - self.reference.mean_entropy

    @property
    def low_confidence_change(self) -> float:
        return self.current.low_confidence_share - self.reference.low_confidence_share


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1; ``None`` where the binary value is undefined (a zero denominator)."""

    precision: float | None
    recall: float | None
    f1: float | None


# ---------------------------------------------------------------------------------------------- binning


def quantile_edges(values: ArrayLike, bins: int = 10) -> list[float]:
    """Inner edges that split ``values`` into ``bins`` equal-frequency bins, for open outer bins.

    ``bins=10`` reproduces the reference deciles that ``models/profile.py`` stores (the same points, numpy's
    linear interpolation, duplicate edges merged so a heavy value does not create empty bins); ``bins=100``
    gives the percentile bins with which :func:`ks_from_binned` comes close to the exact test. Only finite
    values count, as in the profile.

    Raises:
        ValidationError: ``bins`` is below 2, or there is no finite value.
    """
    if bins < 2:
        raise ValidationError(f"quantile_edges needs at least 2 bins, got {bins}.", field="bins")
    finite = _values(values, finite=True)
    if finite.size == 0:
        raise ValidationError("quantile_edges got no finite values to take quantiles of.", field="values")
    points = [index / bins for index in range(1, bins)]
    return sorted(set(np.quantile(finite, points).tolist()))


def open_bin_counts(values: ArrayLike, inner_edges: Sequence[float]) -> list[int]:
    """Counts in the open bins (-inf, e0], (e0, e1], ..., (e_last, +inf) around ``inner_edges``.

    The profile's own rule and code (``models/profile.py``), so a window counted here is comparable with and
    mergeable into stored profile counts: a value equal to an edge falls in the bin below it, and values
    beyond the training range land in the outer bins. NaN and +/-inf are not counted, as in the profile,
    which reports NaN as missing.

    Raises:
        ValidationError: the edges are not finite and strictly increasing.
    """
    edges = np.asarray(inner_edges, dtype="float64")
    if edges.ndim != 1 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValidationError("Bin edges must be a flat list of finite, strictly increasing numbers.",
                              field="inner_edges")
    return _open_bin_counts(_values(values, finite=True), edges.tolist())


def align_levels(reference: Mapping[str, float], current: Mapping[str, float]) -> AlignedCounts:
    """Put two level-count mappings (``categorical_profile(...)["levels"]``) on one list of levels.

    Reference levels come first in their order, then levels only the current window has (new categories),
    in its order; a level a side never saw counts 0 there. The aligned counts feed :func:`psi`,
    :func:`chi2_homogeneity` and :func:`jensen_shannon`, which compare bin by bin.
    """
    levels = tuple(dict.fromkeys([*reference, *current]))
    return AlignedCounts(levels, tuple(reference.get(level, 0) for level in levels),
                         tuple(current.get(level, 0) for level in levels))


# ------------------------------------------------------------------------------------------------ drift


def psi(reference_counts: ArrayLike, current_counts: ArrayLike, epsilon: float = 1e-4) -> float:
    """Population Stability Index: the sum over bins of (q - p) * ln(q / p), p and q the bin shares.

    Shares below ``epsilon`` (empty bins) are raised to it before the logarithm, the usual fix for ln(0)
    (Evidently substitutes 1e-4 for empty shares too); a floor rather than replacing exact zeros keeps the
    value continuous as a share shrinks. Every term is non-negative, so PSI >= 0, and 0 only for equal shares.
    PSI depends on the bins: use the reference deciles with open outer bins (the stored profile) for numerics
    and :func:`align_levels` for categoricals. Common reading: < 0.1 stable, 0.1-0.25 shifted (warn),
    > 0.25 major shift (alert).

    Raises:
        ValidationError: the counts differ in length, are negative or not finite, or a side is empty.
    """
    if not epsilon > 0:
        raise ValidationError(f"psi needs a positive epsilon, got {epsilon}.", field="epsilon")
    reference, current = _count_pair(reference_counts, current_counts)
    p = np.maximum(reference / reference.sum(), epsilon)
    q = np.maximum(current / current.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_from_binned(reference_counts: ArrayLike, current_counts: ArrayLike) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test on binned counts, for when only profiles exist.

    D is the largest gap between the two empirical CDFs evaluated at the bin edges; the p-value is the
    asymptotic one scipy's ``ks_2samp(method="asymp")`` uses, ``kstwo.sf(D, round(n*m/(n+m)))``. This is an
    approximation: the CDFs are only seen at the edges, so D can only be smaller than the exact statistic
    (and the p-value larger, i.e. conservative). With the edges at every distinct value it is the exact
    statistic; with 100 reference percentile bins it is within about 0.01 of it. Stored profiles keep deciles,
    which is coarse for KS; prefer :func:`psi` on them and use this when percentile counts are at hand.

    Raises:
        ValidationError: as :func:`psi`.
    """
    from scipy.stats import kstwo

    reference, current = _count_pair(reference_counts, current_counts)
    n, m = float(reference.sum()), float(current.sum())
    gaps = np.abs(np.cumsum(reference) / n - np.cumsum(current) / m)
    statistic = float(min(1.0, gaps.max()))
    effective = max(1, round(n * m / (n + m)))
    return KSResult(statistic, _probability(kstwo.sf(statistic, effective)))


def ks_exact(reference: ArrayLike, current: ArrayLike) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test on raw values (scipy's ``ks_2samp``, two-sided, ``method="auto"``).

    "Exact" refers to the statistic, computed on every value rather than at bin edges; scipy picks the exact
    p-value for samples up to 10,000 and the asymptotic one beyond, and falls back to the asymptotic one when
    the exact computation fails on heavy ties (its warning about that is silenced: the result is still right
    to report). NaN is dropped.

    Raises:
        ValidationError: a side has no values.
    """
    from scipy.stats import ks_2samp

    a, b = _values(reference), _values(current)
    if a.size == 0 or b.size == 0:
        raise ValidationError("ks_exact needs values on both sides; one side is empty.", field="current")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful", RuntimeWarning)
        result = ks_2samp(a, b)
    return KSResult(float(result.statistic), _probability(result.pvalue))


def chi2_homogeneity(reference_counts: ArrayLike, current_counts: ArrayLike) -> Chi2Result:
    """Pearson's chi-square test of homogeneity on the 2 x k table [reference_counts, current_counts].

    Homogeneity treats both rows as samples (scipy ``chi2_contingency``, no Yates correction), which is right
    when the reference is itself a sample such as the training data. Evidently uses a goodness-of-fit variant
    that takes the reference shares as exact and so reports much smaller p-values on the same counts.
    Categories empty in both rows are dropped (they carry no information and would make an expected count 0);
    with fewer than two categories left there is nothing to compare: statistic 0, p 1, dof 0. With two
    categories the statistic is the square of :func:`two_proportion_ztest`'s z. The approximation wants
    expected counts of about 5 or more: merge rare levels first.

    Raises:
        ValidationError: as :func:`psi`.
    """
    from scipy.stats import chi2_contingency

    reference, current = _count_pair(reference_counts, current_counts)
    keep = (reference + current) > 0
    if int(keep.sum()) < 2:
        return Chi2Result(0.0, 1.0, 0)
    result = chi2_contingency(np.vstack([reference[keep], current[keep]]), correction=False)
    return Chi2Result(float(result.statistic), _probability(result.pvalue), int(result.dof))


def jensen_shannon(reference_counts: ArrayLike, current_counts: ArrayLike, base: float = 2) -> float:
    """Jensen-Shannon distance (the square root of the divergence) between the two count distributions.

    The same quantity as scipy's ``spatial.distance.jensenshannon``, computed here so identical inputs give
    exactly 0 rather than the square root of a rounding error. Symmetric, defined with empty bins without any
    epsilon (unlike PSI), and bounded: in [0, 1] with base 2, in [0, sqrt(ln 2)] with the natural log
    (``base=math.e``). Evidently's default threshold for it is 0.1.

    Raises:
        ValidationError: as :func:`psi`, or a base that is not positive and different from 1.
    """
    if not (base > 0 and base != 1):
        raise ValidationError(f"jensen_shannon needs a logarithm base > 0 and != 1, got {base}.", field="base")
    reference, current = _count_pair(reference_counts, current_counts)
    p, q = reference / reference.sum(), current / current.sum()
    middle = (p + q) / 2
    divergence = (_kl(p, middle) + _kl(q, middle)) / 2 / math.log(base)
    return math.sqrt(max(divergence, 0.0))


def choose_drift_test(kind: str, n_reference: int, n_current: int) -> DriftTest:
    """Pick the drift test for a column by its type and the effective sample size n*m/(n+m).

    Rule (Evidently's default, adapted to stored profiles):

    - effective size up to ``SMALL_SAMPLE`` (1000): a p-value test, flagged when p < 0.05: ``"ks"`` for numeric
      columns, ``"chi2"`` (homogeneity) for categorical ones, binary included since chi-square on two levels
      is the two-proportion z-test squared;
    - above it: a distance with a fixed threshold, because with thousands of rows every p-value test flags
      differences too small to matter: ``"psi"`` for numeric columns (on the stored deciles; warn at 0.1,
      alert at 0.25; Evidently uses a normalised Wasserstein distance, which needs the raw reference values
      that a profile does not keep) and ``"jensen_shannon"`` for categorical ones (threshold 0.1, as
      Evidently; it stays defined when new levels appear, where PSI leans on its epsilon).

    Evidently decides on the reference size alone; a training reference is nearly always large, so here the
    effective size decides, which is what the power of a two-sample test depends on (about the current
    window's size when the reference is much larger).

    Raises:
        ValidationError: an unknown kind, or a sample size below 1.
    """
    if kind not in ("numeric", "categorical"):
        raise ValidationError(f"Unknown column kind {kind!r}; expected 'numeric' or 'categorical'.", field="kind")
    if n_reference < 1 or n_current < 1:
        raise ValidationError(f"choose_drift_test needs at least one value on each side, got {n_reference} "
                              f"and {n_current}.", field="n_current")
    effective = n_reference * n_current / (n_reference + n_current)
    if effective <= SMALL_SAMPLE:
        return "ks" if kind == "numeric" else "chi2"
    return "psi" if kind == "numeric" else "jensen_shannon"


# -------------------------------------------------------------------------------------------------- A/B


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


# ----------------------------------------------------------------------------------------- confused model


def mean_normalised_entropy(probabilities: ArrayLike) -> float:
    """Mean over rows of the Shannon entropy of the class probabilities divided by ln(k), in [0, 1].

    0 when every row puts all its mass on one class, 1 when every row is uniform; dividing by ln(k) makes
    models with different numbers of classes comparable. ``probabilities`` is an (n, k) matrix, or a vector of
    positive-class probabilities for a binary model; rows are rescaled to sum to 1.
    """
    matrix = _probability_matrix(probabilities)
    return float(np.mean(np.sum(_plogp(matrix), axis=1)) / math.log(matrix.shape[1]))


def low_margin_share(probabilities: ArrayLike, margin: float = 0.1) -> float:
    """Share of rows whose two largest class probabilities differ by less than ``margin``.

    The mass near the decision boundary: a model that is still sure of itself keeps it small. For a binary
    model a margin of 0.1 means a positive-class probability in (0.45, 0.55).
    """
    matrix = np.sort(_probability_matrix(probabilities), axis=1)
    return float(np.mean(matrix[:, -1] - matrix[:, -2] < margin))


def confusion_score(probabilities: ArrayLike, threshold: float = 0.55) -> ConfusionScore:
    """Mean normalised entropy and the share of rows whose top probability is below ``threshold``."""
    matrix = _probability_matrix(probabilities)
    return ConfusionScore(rows=matrix.shape[0], mean_entropy=mean_normalised_entropy(matrix),
                          low_confidence_share=float(np.mean(matrix.max(axis=1) < threshold)))


def confusion_from_histograms(class_counts: ArrayLike, threshold: float = 0.55) -> ConfusionScore:
    """The :class:`ConfusionScore` of a window from per-class probability histograms alone.

    ``class_counts`` is k rows (one per class, e.g. ``prediction_profile(...)["probability_counts"]`` in class
    order) of counts over equal-width bins of [0, 1]. Both scores survive the loss of the joint rows:

    - entropy is a sum over classes of -p ln p, so its mean is a sum of per-class means, each estimated at
      the bin midpoints. Binning biases it upwards for confident models (about 0.17 for a perfectly sure
      binary model with 20 bins), so compare it only with another histogram estimate (:func:`compare_confusion`);
    - for a threshold above 0.5 at most one class per row can reach it, so the rows that do are the sum over
      classes of the counts at or above it: exact when the threshold is a bin edge, which is required.

    Raises:
        ValidationError: fewer than 2 classes, histograms with different totals, an empty window, or a
            threshold not above 0.5 or not on a bin edge.
    """
    counts = np.asarray(class_counts, dtype="float64")
    if counts.ndim != 2 or counts.shape[0] < 2 or counts.shape[1] < 1:
        raise ValidationError("class_counts must be one histogram per class, for at least 2 classes.",
                              field="class_counts")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValidationError("Histogram counts must be finite and non-negative.", field="class_counts")
    totals = counts.sum(axis=1)
    if totals[0] <= 0:
        raise ValidationError("The probability histograms are empty: no predictions in this window.",
                              field="class_counts")
    if not np.allclose(totals, totals[0]):
        raise ValidationError(f"Each class histogram must count every row once; totals differ: {totals.tolist()}.",
                              field="class_counts")
    edges = np.linspace(0.0, 1.0, counts.shape[1] + 1)
    on_edge = np.flatnonzero(np.isclose(edges, threshold, rtol=0, atol=1e-9))
    if not threshold > 0.5 or on_edge.size == 0:
        raise ValidationError(f"threshold must be above 0.5 and on a bin edge (multiples of {edges[1]:g}), "
                              f"got {threshold}.", field="threshold")
    rows = float(totals[0])
    middles = (edges[:-1] + edges[1:]) / 2
    entropy = float(np.sum(counts * _plogp(middles)) / rows / math.log(counts.shape[0]))
    confident = float(counts[:, int(on_edge[0]):].sum()) / rows
    return ConfusionScore(rows=round(rows), mean_entropy=min(1.0, entropy),
                          low_confidence_share=min(1.0, max(0.0, 1.0 - confident)))


def compare_confusion(reference_class_counts: ArrayLike, current_class_counts: ArrayLike,
                      threshold: float = 0.55) -> ConfusionComparison:
    """Confusion of a live window against the reference, both from probability histograms on the same bins.

    A rise in ``entropy_change`` or ``low_confidence_change`` is a model that has become less sure of itself,
    often before labels arrive to show a drop in accuracy. Live matrices go through ``prediction_profile``
    first, so both sides carry the same binning bias.

    Raises:
        ValidationError: as :func:`confusion_from_histograms`, or histograms of different shapes.
    """
    reference = np.asarray(reference_class_counts, dtype="float64")
    current = np.asarray(current_class_counts, dtype="float64")
    if reference.shape != current.shape:
        raise ValidationError(f"Reference and current histograms differ in shape: {reference.shape} vs "
                              f"{current.shape}; profile both with the same classes and bins.",
                              field="current_class_counts")
    return ConfusionComparison(confusion_from_histograms(reference, threshold),
                               confusion_from_histograms(current, threshold))


# ------------------------------------------------------------------------------------------ quality


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of predictions equal to the label."""
    truth, predicted = _paired(y_true, y_pred)
    return float(np.mean(truth == predicted))


def precision_recall_f1(y_true: ArrayLike, y_pred: ArrayLike, *, average: Literal["binary", "macro"] = "binary",
                        positive: Any = 1) -> ClassScores:
    """Precision, recall and F1, for the ``positive`` label (binary) or averaged over labels (macro).

    Binary: a value whose denominator is 0 is ``None`` (no predicted positives: precision; no actual
    positives: recall; neither nor any false negative: F1), since small windows meet this routinely and a 0
    there would read as a collapse. Macro: the unweighted mean over every label in either array, each label's
    undefined values counted as 0, the convention of scikit-learn's ``zero_division=0``; the macro F1 is the
    mean of per-label F1s, not the F1 of the mean precision and recall.
    """
    truth, predicted = _paired(y_true, y_pred)
    if average == "binary":
        actual, guessed = truth == positive, predicted == positive
        tp = float(np.sum(actual & guessed))
        fp, fn = float(np.sum(guessed)) - tp, float(np.sum(actual)) - tp
        return ClassScores(_ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn))
    if average != "macro":
        raise ValidationError(f"Unknown average {average!r}; expected 'binary' or 'macro'.", field="average")
    return _macro_scores(truth, predicted)


def roc_auc(y_true: ArrayLike, scores: ArrayLike, *, positive: Any = 1) -> float | None:
    """Binary ROC AUC from ranks (the Mann-Whitney U statistic over n_pos * n_neg).

    Tied scores get their average rank, which counts each tied positive-negative pair as one half, the same
    as the trapezoidal area under the ROC curve. ``None`` when the window holds only one class.

    Raises:
        ValidationError: arrays of different lengths, empty, or with NaN.
    """
    from scipy.stats import rankdata

    truth, score = _paired(y_true, scores)
    score = score.astype("float64")
    is_positive = truth == positive
    n_pos = int(is_positive.sum())
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y_true: ArrayLike, probabilities: ArrayLike, classes: Sequence[Any]) -> float:
    """Mean negative natural log of the probability given to the true class (cross-entropy).

    ``probabilities`` is (n, k) in the order of ``classes``, or for a binary model a vector of the
    probability of ``classes[1]``. Probabilities are clipped to [eps, 1 - eps], eps the float64 machine
    epsilon, as scikit-learn does, so a confident wrong answer costs about 36 instead of infinity.

    Raises:
        ValidationError: a label not in ``classes``, a shape that does not match, NaN, or values outside [0, 1].
    """
    truth = _labels(y_true, "y_true")
    matrix = np.asarray(probabilities, dtype="float64")
    if matrix.ndim == 1 and len(classes) == 2:
        matrix = np.column_stack([1 - matrix, matrix])
    if matrix.ndim != 2 or matrix.shape != (truth.size, len(classes)):
        raise ValidationError(f"probabilities must be (rows, classes) = ({truth.size}, {len(classes)}), got "
                              f"{matrix.shape}.", field="probabilities")
    if np.any(np.isnan(matrix)) or np.any(matrix < 0) or np.any(matrix > 1):
        raise ValidationError("Probabilities must lie in [0, 1] without NaN.", field="probabilities")
    column = {label: index for index, label in enumerate(classes)}
    labels, inverse = np.unique(truth, return_inverse=True)
    unknown = [label for label in labels.tolist() if label not in column]
    if unknown:
        raise ValidationError(f"Labels {unknown[:5]} are not among the model's classes {list(classes)}.",
                              field="y_true")
    columns = np.asarray([column[label] for label in labels.tolist()])[inverse]
    eps = np.finfo("float64").eps
    chosen = np.clip(matrix[np.arange(truth.size), columns], eps, 1 - eps)
    return float(-np.mean(np.log(chosen)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    truth, predicted = _paired(y_true, y_pred)
    return float(np.mean(np.abs(truth.astype("float64") - predicted.astype("float64"))))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error (in the target's unit, hence preferred over MSE in reports)."""
    truth, predicted = _paired(y_true, y_pred)
    return math.sqrt(float(np.mean((truth.astype("float64") - predicted.astype("float64")) ** 2)))


# -------------------------------------------------------------------------------------------- helpers


def _values(values: ArrayLike, *, finite: bool = False) -> FloatArray:
    """A flat float array without NaN (and without +/-inf when ``finite``)."""
    array = np.asarray(values, dtype="float64").ravel()
    keep = np.isfinite(array) if finite else ~np.isnan(array)
    return np.asarray(array[keep], dtype="float64")


def _count_pair(reference_counts: ArrayLike, current_counts: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Two validated count vectors of one length, each with a positive total."""
    pair = []
    for name, counts in (("reference_counts", reference_counts), ("current_counts", current_counts)):
        array = np.asarray(counts, dtype="float64")
        if array.ndim != 1 or array.size == 0:
            raise ValidationError(f"{name} must be a flat, non-empty list of counts.", field=name)
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise ValidationError(f"{name} must be finite and non-negative.", field=name)
        if array.sum() <= 0:
            side = "current window" if name == "current_counts" else "reference"
            raise ValidationError(f"The {side} is empty (all counts are 0): there is nothing to compare.",
                                  field=name)
        pair.append(array)
    if pair[0].size != pair[1].size:
        raise ValidationError(f"Counts differ in length ({pair[0].size} vs {pair[1].size} bins); count both "
                              "with the same edges or levels.", field="current_counts")
    return pair[0], pair[1]


def _macro_scores(truth: NDArray[Any], predicted: NDArray[Any]) -> ClassScores:
    """Unweighted means of per-label precision, recall and F1, undefined values counted as 0."""
    labels, codes = np.unique(np.concatenate([truth, predicted]), return_inverse=True)
    true_codes, predicted_codes = codes[: truth.size], codes[truth.size:]
    k = labels.size
    tp = np.bincount(true_codes[true_codes == predicted_codes], minlength=k).astype("float64")
    actual, guessed = np.bincount(true_codes, minlength=k), np.bincount(predicted_codes, minlength=k)
    precision = np.divide(tp, guessed, out=np.zeros(k), where=guessed > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    f1 = np.divide(2 * tp, actual + guessed, out=np.zeros(k), where=(actual + guessed) > 0)
    return ClassScores(float(precision.mean()), float(recall.mean()), float(f1.mean()))


def _kl(p: FloatArray, q: FloatArray) -> float:
    """Kullback-Leibler divergence in nats, with 0 ln 0 = 0 (q > 0 wherever p > 0 for the JS midpoint)."""
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / q[present])))


def _plogp(values: FloatArray) -> FloatArray:
    """-p ln p elementwise, 0 at p = 0."""
    safe = np.where(values > 0, values, 1.0)
    return np.asarray(-values * np.log(safe), dtype="float64")


def _probability_matrix(probabilities: ArrayLike) -> FloatArray:
    """An (n, k >= 2) matrix of rows summing to 1; a vector is taken as binary positive-class probabilities."""
    matrix = np.asarray(probabilities, dtype="float64")
    if matrix.ndim == 1:
        matrix = np.column_stack([1 - matrix, matrix])
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValidationError("probabilities must be a (rows, classes >= 2) matrix or a binary vector.",
                              field="probabilities")
    if matrix.shape[0] == 0:
        raise ValidationError("No predictions in this window: the probability matrix has no rows.",
                              field="probabilities")
    if np.any(np.isnan(matrix)) or np.any(matrix < 0) or np.any(matrix > 1):
        raise ValidationError("Probabilities must lie in [0, 1] without NaN.", field="probabilities")
    totals = matrix.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise ValidationError("A row of probabilities sums to 0.", field="probabilities")
    return np.asarray(matrix / totals, dtype="float64")


def _paired(y_true: ArrayLike, y_other: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    """Two flat arrays of one positive length, neither holding NaN or None."""
    truth, other = _labels(y_true, "y_true"), _labels(y_other, "y_pred")
    if truth.size != other.size:
        raise ValidationError(f"Labels and predictions differ in length: {truth.size} vs {other.size}.",
                              field="y_pred")
    return truth, other


def _labels(values: ArrayLike, name: str) -> NDArray[Any]:
    """A flat, non-empty array without NaN or None."""
    array = np.asarray(values).ravel()
    if array.size == 0:
        raise ValidationError("No labelled predictions in this window.", field=name)
    if _has_missing(array):
        raise ValidationError(f"{name} holds missing values; drop rows without feedback before scoring.",
                              field=name)
    return array


def _has_missing(array: NDArray[Any]) -> bool:
    if array.dtype.kind in "fc":
        return bool(np.any(np.isnan(array)))
    if array.dtype.kind == "O":
        return any(value is None or (isinstance(value, float) and math.isnan(value)) for value in array.tolist())
    return False


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


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _probability(value: Any) -> float:
    """A p-value or probability as a float clipped into [0, 1] (quadrature and special functions can overshoot)."""
    return min(1.0, max(0.0, float(value)))
