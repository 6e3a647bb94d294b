"""Drift between a reference and a current window: shared bins, then PSI, Kolmogorov-Smirnov, chi-square
and Jensen-Shannon on them, and the rule that picks one test per column (:func:`choose_drift_test`).

Counts come from ``models/profile.py`` (reference deciles with open outer bins) or from
:func:`open_bin_counts` with the reference's edges, so both sides always share their bins; categorical level
counts are put on one list of levels by :func:`align_levels`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ...binning import count_in_open_bins
from ...errors import ValidationError
from ._arrays import _probability, _values

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._arrays import FloatArray

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
class AlignedCounts:
    """Two categorical profiles' level counts on one shared list of levels (zero where a side lacks a level)."""

    levels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


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

    The profile's own rule and code (:func:`shipyard.binning.count_in_open_bins`, which ``models/profile.py``
    counts with too), so a window counted here is comparable with and mergeable into stored profile counts: a
    value equal to an edge falls in the bin below it, and values beyond the training range land in the outer
    bins. NaN and +/-inf are not counted, as in the profile, which reports NaN as missing.

    Raises:
        ValidationError: the edges are not finite and strictly increasing.
    """
    edges = np.asarray(inner_edges, dtype="float64")
    if edges.ndim != 1 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValidationError("Bin edges must be a flat list of finite, strictly increasing numbers.",
                              field="inner_edges")
    return count_in_open_bins(_values(values, finite=True), edges.tolist())


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


# -------------------------------------------------------------------------------------------- helpers


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


def _kl(p: FloatArray, q: FloatArray) -> float:
    """Kullback-Leibler divergence in nats, with 0 ln 0 = 0 (q > 0 wherever p > 0 for the JS midpoint)."""
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / q[present])))
