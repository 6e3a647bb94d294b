"""Statistics for monitoring: drift between binned profiles (``drift``), A/B significance (``significance``),
always-valid sequential tests for canaries (``sequential``), inverse-propensity estimates of a bandit's variants
(``bandit``), confused-model scores (``confusion``) and quality
metrics from feedback (``quality``), one module per concern.
Every public name is re-exported here, so callers write ``stats.psi`` without knowing which module holds it.

Pure computation (STYLE.md habit 8): plain sequences of counts or values in, floats or small frozen
dataclasses out; no files, no clock, no random state. numpy is imported at module level and scipy inside the
functions that need it. Every golden value in TESTING.md ("Statistics: reference values") is a test.

Conventions shared by every function:

- *A* is the reference or champion, *B* the current window or challenger; signed results are B minus A.
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

from .bandit import (
    ArmSums as ArmSums,
    Estimate as Estimate,
    estimates as estimates,
    horvitz_thompson as horvitz_thompson,
    plain_mean as plain_mean,
    self_normalized_ipw as self_normalized_ipw,
)
from .confusion import (
    ConfusionComparison as ConfusionComparison,
    ConfusionScore as ConfusionScore,
    compare_confusion as compare_confusion,
    confusion_from_histograms as confusion_from_histograms,
    confusion_score as confusion_score,
    low_margin_share as low_margin_share,
    mean_normalised_entropy as mean_normalised_entropy,
)
from .drift import (
    SMALL_SAMPLE as SMALL_SAMPLE,
    AlignedCounts as AlignedCounts,
    Chi2Result as Chi2Result,
    DriftTest as DriftTest,
    KSResult as KSResult,
    align_levels as align_levels,
    chi2_homogeneity as chi2_homogeneity,
    choose_drift_test as choose_drift_test,
    jensen_shannon as jensen_shannon,
    ks_exact as ks_exact,
    ks_from_binned as ks_from_binned,
    open_bin_counts as open_bin_counts,
    psi as psi,
    quantile_edges as quantile_edges,
)
from .quality import (
    ClassScores as ClassScores,
    accuracy as accuracy,
    log_loss as log_loss,
    mae as mae,
    precision_recall_f1 as precision_recall_f1,
    rmse as rmse,
    roc_auc as roc_auc,
)
from .sequential import (
    ArmMoments as ArmMoments,
    SequentialResult as SequentialResult,
    confidence_low as confidence_low,
    ks_critical_distance as ks_critical_distance,
    log_mixture_ratio as log_mixture_ratio,
    msprt_exceeds as msprt_exceeds,
    msprt_greater as msprt_greater,
    spent_alpha as spent_alpha,
)
from .significance import (
    Interval as Interval,
    WelchResult as WelchResult,
    ZTestResult as ZTestResult,
    mean_interval as mean_interval,
    mean_interval_from_moments as mean_interval_from_moments,
    prob_b_beats_a as prob_b_beats_a,
    required_sample_size as required_sample_size,
    two_proportion_ztest as two_proportion_ztest,
    welch_from_moments as welch_from_moments,
    welch_ttest as welch_ttest,
    wilson_interval as wilson_interval,
)
