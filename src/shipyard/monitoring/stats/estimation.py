"""A classifier's performance estimated from its scores alone, before the labels arrive (confidence-based).

When a model's probabilities are calibrated, a row scored 0.8 for "yes" is right four times in five whatever its
inputs, so the expected confusion matrix of a window follows from the scores: every row adds its probability
of each true class to the column of the class it was predicted as. Covariate shift (new kinds of inputs) moves
the scores and so the estimate; what the scores cannot see is a change of P(y | x) itself (concept drift), which
is why :func:`realized_outside` compares the estimate with the labels once they come.

Calibration is learned on a labelled reference (the holdout, say) by isotonic regression, one class against the
rest, and is used only when it lowers the calibration error on rows it was not fitted on (two folds, crossed):
a model that is already calibrated keeps its raw scores rather than gaining a noisy step function. The rule
lives in :mod:`shipyard.calibration`, which serving shares for the bandit's scores.

The interval is what the realized value would be, drawn many times: each draw refits the calibration on a
bootstrap of the reference (the estimate's own uncertainty) and draws every row's label from its calibrated
probabilities (the window's sampling noise); the 5th and 95th percentiles of the metric over the draws make
the 90% interval. Seeded, so the same inputs give the same interval.

A bootstrap of an isotonic fit under-states its own spread (the steps follow each resample), and the windows
that matter most live where the reference is thin: under a strong covariate shift, 90% intervals covered the
realized accuracy in 69% of the isotonic windows (``benchmarks/bench_estimation.py``). So each draw also adds
how far cross-fitted calibrated scores miss on a bootstrap of the reference, its rows weighted like the window
(the ratio of the window's to the reference's share in quantile bins of the top score, floored): a window
concentrated where the reference has few rows gets the wider interval its few rows can vouch for. Raw scores
get the same miss over the reference's own mix, which measured wide enough (97% coverage).

Inputs are class indices (0..k-1, the columns of the probability matrix); binary metrics are for class 1 and
multiclass ones are macro averages, the conventions of :mod:`.quality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...calibration import Calibration, IsotonicFit, apply_knots, calibration_error, choose_calibration, fit_knots
from ...errors import ValidationError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
__all__ = ["METRICS", "Calibration", "EstimatedMetric", "OutcomeShift", "PerformanceEstimate", "calibration_error",
           "choose_calibration", "estimate_performance", "outcome_shift", "realized_metrics"]


@dataclass(frozen=True)
class EstimatedMetric:
    """One metric's estimate and its interval; ``None`` where the metric is undefined (one class only)."""

    statistic: str
    value: float | None
    low: float | None
    high: float | None

    def covers(self, realized: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= realized <= self.high


@dataclass(frozen=True)
class PerformanceEstimate:
    rows: int
    calibration: Calibration
    confusion: tuple[tuple[float, ...], ...]  # expected counts, true class (rows) x predicted class (columns)
    metrics: dict[str, EstimatedMetric]
    level: float


def estimate_performance(reference_proba: ArrayLike, reference_labels: ArrayLike, current_proba: ArrayLike, *,
                         level: float = 0.9, draws: int = 200, seed: int = 0) -> PerformanceEstimate:
    """Accuracy, precision, recall, F1 and ROC AUC of ``current_proba`` estimated from the labelled reference.

    Args:
        reference_proba: the model's probabilities on labelled rows (n x k, columns in class order).
        reference_labels: those rows' true classes as column indices 0..k-1.
        current_proba: the probabilities of the rows whose performance is wanted (m x k); no labels needed.
        level: the interval's coverage (0.9: the 5th and 95th percentiles of the draws).
        draws: simulated realizations behind the interval.
        seed: the random seed of the folds, bootstraps and label draws.

    Raises:
        ValidationError: shapes that do not match, probabilities outside [0, 1], labels outside the columns,
            an empty input, or a reference with fewer than two classes present.
    """
    ref, cur = _proba(reference_proba, "reference_proba"), _proba(current_proba, "current_proba")
    labels = np.asarray(reference_labels)
    if ref.shape[1] != cur.shape[1]:
        raise ValidationError(f"The reference has {ref.shape[1]} class columns and the current data "
                              f"{cur.shape[1]}; score both with the same model.", field="current_proba")
    if labels.shape != (len(ref),) or not np.issubdtype(labels.dtype, np.integer) \
            or labels.min() < 0 or labels.max() >= ref.shape[1]:
        raise ValidationError(f"reference_labels must be {len(ref)} class indices in 0..{ref.shape[1] - 1}.",
                              field="reference_labels")
    if len(np.unique(labels)) < 2:
        raise ValidationError("The reference's labels hold one class only: calibration needs both outcomes.",
                              field="reference_labels")
    if not 0 < level < 1:
        raise ValidationError(f"level must be between 0 and 1, not {level}.", field="level")
    rng = np.random.default_rng(seed)
    calibration = choose_calibration(ref, labels, rng)
    calibrated = calibration.apply(cur)
    predicted = np.argmax(cur, axis=1)  # the model's own decision, from its raw scores
    confusion = _expected_confusion(calibrated, predicted)
    points = _metrics_from_confusion(confusion)
    points["roc_auc"] = _expected_auc(calibrated, cur)
    simulated = _simulate(ref, labels, cur, predicted, calibration.method, draws, rng)
    tail = (1 - level) / 2 * 100
    metrics = {}
    for name in METRICS:
        values = simulated[name][~np.isnan(simulated[name])]
        low, high = (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))) \
            if len(values) else (None, None)
        metrics[name] = EstimatedMetric(name, points[name], low, high)
    return PerformanceEstimate(len(cur), calibration, tuple(tuple(float(v) for v in row) for row in confusion),
                               metrics, level)


def realized_metrics(labels: ArrayLike, proba: ArrayLike) -> dict[str, float | None]:
    """The same metrics computed from true labels, for comparing with an estimate on the same rows."""
    scores = _proba(proba, "proba")
    truth = np.asarray(labels)
    if truth.shape != (len(scores),):
        raise ValidationError(f"labels must be {len(scores)} class indices.", field="labels")
    predicted = np.argmax(scores, axis=1)
    k = scores.shape[1]
    confusion = np.zeros((k, k))
    np.add.at(confusion, (truth, predicted), 1.0)
    metrics = _metrics_from_confusion(confusion)
    metrics["roc_auc"] = _auc_from_labels(truth, scores)
    return metrics


@dataclass(frozen=True)
class OutcomeShift:
    """Labels against the calibrated scores of the same rows: observed minus expected count of each class."""

    statistic: float  # z for two classes (class 1), Pearson's chi-square over the classes otherwise
    p_value: float
    observed: tuple[float, ...]
    expected: tuple[float, ...]


def outcome_shift(reference_proba: ArrayLike, reference_labels: ArrayLike, labelled_proba: ArrayLike,
                  labels: ArrayLike, *, seed: int = 0) -> OutcomeShift:
    """Do the labels that arrived follow the scores as the reference's did? (the concept-drift test)

    Calibrated on the reference as :func:`estimate_performance` is, each row's probabilities say how many of
    each class to expect; with P(y | x) unchanged the observed counts differ from that only by chance (a sum of
    independent Bernoulli draws). Two classes: ``z = (observed - expected) / sqrt(sum p (1 - p))`` for class 1,
    two-sided. More: Pearson's chi-square over the classes, k - 1 degrees of freedom. A handful of labels is
    enough when the shift is in the base rate (say, churn doubled for one segment), where the accuracy of the
    same rows moves far less than its sampling noise.
    """
    from scipy import stats as scipy_stats

    ref = _proba(reference_proba, "reference_proba")
    truth = np.asarray(labels)
    scores = _proba(labelled_proba, "labelled_proba")
    if truth.shape != (len(scores),):
        raise ValidationError(f"labels must be {len(scores)} class indices.", field="labels")
    calibration = choose_calibration(ref, np.asarray(reference_labels), np.random.default_rng(seed))
    calibrated = calibration.apply(scores)
    k = calibrated.shape[1]
    observed = np.bincount(truth, minlength=k).astype(float)
    expected = calibrated.sum(axis=0)
    if k == 2:
        variance = float(np.sum(calibrated[:, 1] * calibrated[:, 0]))
        z = float((observed[1] - expected[1]) / np.sqrt(variance)) if variance > 0 else 0.0
        p_value = float(2 * scipy_stats.norm.sf(abs(z)))
        statistic = z
    else:
        statistic = float(np.sum((observed - expected) ** 2 / np.maximum(expected, 1e-12)))
        p_value = float(scipy_stats.chi2.sf(statistic, k - 1))
    return OutcomeShift(statistic, p_value, tuple(observed.tolist()), tuple(float(v) for v in expected))


def _simulate(ref: NDArray[np.float64], labels: NDArray[np.int64], cur: NDArray[np.float64],
              predicted: NDArray[np.int64], method: str, draws: int, rng: np.random.Generator) \
        -> dict[str, NDArray[np.float64]]:
    """The metrics of ``draws`` simulated realizations, all draws at once (arrays of draws x rows)."""
    k = cur.shape[1]
    if method == "isotonic":
        isotonic, n = IsotonicFit(ref, labels), len(labels)
        calibrated = np.stack([apply_knots(isotonic.fit(counts), cur)
                               for counts in rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(float)])
    else:
        calibrated = np.broadcast_to(cur, (draws, *cur.shape))
    uniform = rng.random((draws, len(cur), 1))
    truth = np.minimum((uniform > np.cumsum(calibrated, axis=2)).sum(axis=2), k - 1)
    cells = (np.arange(draws)[:, None] * k + truth) * k + predicted[None, :]
    confusion = np.bincount(cells.ravel(), minlength=draws * k * k).reshape(draws, k, k).astype(float)
    out = _metrics_of_confusions(confusion)
    classes = [1] if k == 2 else range(k)
    aucs = [_auc_of_draws(truth == cls, _midranks_of(cur[:, cls])) for cls in classes]
    out["roc_auc"] = np.mean(aucs, axis=0)  # NaN where a draw has one class only, as in quality.roc_auc
    if method == "none":
        gaps = _reference_gaps(ref, labels, draws, rng)
    else:
        gaps = _reference_gaps(_cross_fitted(ref, labels, rng), labels, draws, rng, _window_likeness(ref, cur))
    for name in METRICS:
        out[name] = out[name] + gaps[name]
    return out


def _cross_fitted(ref: NDArray[np.float64], labels: NDArray[np.int64], rng: np.random.Generator) \
        -> NDArray[np.float64]:
    """The reference's scores calibrated by a fit on the other half of it, so their miss is an honest one (an
    isotonic fit misses its own rows by nothing on average)."""
    order = rng.permutation(len(labels))
    halves = order[: len(order) // 2], order[len(order) // 2:]
    crossed = np.empty_like(ref)
    for fit_rows, score_rows in (halves, halves[::-1]):
        crossed[score_rows] = apply_knots(fit_knots(ref[fit_rows], labels[fit_rows]), ref[score_rows])
    return crossed


_LIKENESS_BINS = 5
_LIKENESS_FLOOR = 0.25  # a bin the window avoids still counts a quarter, so a few rows never stand for all


def _window_likeness(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each reference row's weight when the reference should look like the window: the window's share over the
    reference's in equal-mass bins of the reference's top score (the model's confidence), floored."""
    top_ref, top_cur = ref.max(axis=1), cur.max(axis=1)
    edges = np.quantile(top_ref, np.linspace(0, 1, _LIKENESS_BINS + 1)[1:-1])
    bin_ref = np.searchsorted(edges, top_ref, side="right")
    bin_cur = np.searchsorted(edges, top_cur, side="right")
    share_ref = np.bincount(bin_ref, minlength=_LIKENESS_BINS) / len(ref)
    share_cur = np.bincount(bin_cur, minlength=_LIKENESS_BINS) / len(cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(share_ref > 0, share_cur / share_ref, 1.0)
    return np.asarray(np.maximum(ratio, _LIKENESS_FLOOR)[bin_ref], dtype=float)


def _reference_gaps(ref: NDArray[np.float64], labels: NDArray[np.int64], draws: int, rng: np.random.Generator,
                    row_weights: NDArray[np.float64] | None = None) -> dict[str, NDArray[np.float64]]:
    """How far the scores' estimates miss on bootstraps of the reference, centred: the uncertainty of trusting
    the scores, which a reference of n rows can only vouch for to within its own sampling error. Each
    bootstrap is a row of counts (how often each reference row was drawn), so all of them are computed at once;
    ``row_weights`` scale the counts (rows like the window count more)."""
    n, k = ref.shape
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(float)
    if row_weights is not None:
        counts = counts * row_weights[None, :]
    predicted = np.argmax(ref, axis=1)
    estimated = np.zeros((draws, k, k))
    realized = np.zeros((draws, k, k))
    for column in range(k):
        chosen = predicted == column
        estimated[:, :, column] = counts[:, chosen] @ ref[chosen]
        for true_class in range(k):
            realized[:, true_class, column] = counts[:, chosen & (labels == true_class)].sum(axis=1)
    expected_metrics, realized_values = _metrics_of_confusions(estimated), _metrics_of_confusions(realized)
    classes = [1] if k == 2 else range(k)
    expected_auc = np.mean([
        _weighted_auc_of_draws(ref[:, cls], counts * ref[:, cls], counts * (1 - ref[:, cls]),
                               counts * ref[:, cls] * (1 - ref[:, cls])) for cls in classes], axis=0)
    realized_auc = np.mean([_weighted_auc_of_draws(ref[:, cls], counts * (labels == cls), counts * (labels != cls))
                            for cls in classes], axis=0)
    gaps = {name: realized_values[name] - expected_metrics[name] for name in METRICS if name != "roc_auc"}
    gaps["roc_auc"] = realized_auc - expected_auc
    for name, values in gaps.items():
        if not np.all(np.isnan(values)):
            gaps[name] = values - np.nanmean(values)
    return gaps


def _metrics_of_confusions(confusion: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Accuracy, precision, recall and F1 of a stack of confusion matrices (draws x true x predicted); NaN where
    a binary value is undefined, an undefined class counted as 0 in a macro average."""
    k = confusion.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.trace(confusion, axis1=1, axis2=2) / confusion.sum(axis=(1, 2))
        tp = np.diagonal(confusion, axis1=1, axis2=2)
        precision = tp / confusion.sum(axis=1)
        recall = tp / confusion.sum(axis=2)
        f1 = 2 * tp / (confusion.sum(axis=1) + confusion.sum(axis=2))
    if k == 2:
        return {"accuracy": accuracy, "precision": precision[:, 1], "recall": recall[:, 1], "f1": f1[:, 1]}
    return {"accuracy": accuracy, "precision": np.nan_to_num(precision).mean(axis=1),
            "recall": np.nan_to_num(recall).mean(axis=1), "f1": np.nan_to_num(f1).mean(axis=1)}


def _auc_of_draws(positive: NDArray[np.bool_], ranks: NDArray[np.float64]) -> NDArray[np.float64]:
    """ROC AUC of each draw's 0/1 labels (draws x rows) over fixed scores, from the scores' midranks."""
    n_pos = positive.sum(axis=1).astype(float)
    n_neg = positive.shape[1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (positive @ ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _weighted_auc_of_draws(scores: NDArray[np.float64], positive: NDArray[np.float64], negative: NDArray[np.float64],
                           self_pairs: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """The Mann-Whitney statistic with weighted positives and negatives (draws x rows), ties counting a half;
    ``self_pairs`` is each row's weight as a pair with itself, left out (a fractional label is both)."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    pos, neg = positive[:, order], negative[:, order]
    group_pos, group_neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    below = np.cumsum(group_neg, axis=1) - group_neg  # negative weight under each group's score
    numerator = np.sum(group_pos * (below + 0.5 * group_neg), axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    if self_pairs is not None:
        numerator = numerator - 0.5 * self_pairs.sum(axis=1)
        denominator = denominator - self_pairs.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _expected_confusion(calibrated: NDArray[np.float64], predicted: NDArray[np.int64]) -> NDArray[np.float64]:
    k = calibrated.shape[1]
    confusion = np.zeros((k, k))
    for column in range(k):
        confusion[:, column] = calibrated[predicted == column].sum(axis=0)
    return confusion


def _metrics_from_confusion(confusion: NDArray[np.float64]) -> dict[str, float | None]:
    values = _metrics_of_confusions(confusion[None])
    return {name: None if np.isnan(array[0]) else float(array[0]) for name, array in values.items()}


def _expected_auc(calibrated: NDArray[np.float64], raw: NDArray[np.float64]) -> float | None:
    """ROC AUC with every row counted as positive with its calibrated probability and negative with the rest
    (the Mann-Whitney statistic over fractional labels, pairs of a row with itself left out); macro one
    class against the rest for more than two classes."""
    classes = [1] if raw.shape[1] == 2 else range(raw.shape[1])
    values = [_weighted_auc_of_draws(raw[:, cls], calibrated[None, :, cls], 1 - calibrated[None, :, cls],
                                     (calibrated[:, cls] * (1 - calibrated[:, cls]))[None])[0] for cls in classes]
    return None if any(np.isnan(values)) else float(np.mean(values))


def _auc_from_labels(truth: NDArray[np.int64], scores: NDArray[np.float64]) -> float | None:
    classes = [1] if scores.shape[1] == 2 else range(scores.shape[1])
    values = [_auc_from_ranks(truth == cls, _midranks_of(scores[:, cls])) for cls in classes]
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if len(defined) == len(values) else None


def _auc_from_ranks(positive: NDArray[np.bool_], ranks: NDArray[np.float64] | None) -> float | None:
    assert ranks is not None
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _midranks_of(values: NDArray[np.float64]) -> NDArray[np.float64]:
    from scipy.stats import rankdata

    return np.asarray(rankdata(values, method="average"), dtype=float)


def _proba(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = np.column_stack([1.0 - array, array])
    if array.ndim != 2 or len(array) == 0 or array.shape[1] < 2:
        raise ValidationError(f"{name} must be a non-empty matrix of class probabilities.", field=name)
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValidationError(f"{name} holds values outside [0, 1] (or NaN): pass probabilities.", field=name)
    return array
