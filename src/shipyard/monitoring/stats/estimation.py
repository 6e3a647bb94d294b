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
get the same miss over the reference's own mix, which measured wide enough (97% coverage). The same cross-fitted
miss, averaged, is how far an isotonic map's overfitting pushes the estimate (its scores are too extreme on rows
it was not fitted on): that share of it is taken off the estimate and its interval
(:data:`.reference_draws.HALF_TO_FULL_OVERFIT`).

The reference's share of that work is drawn once (:mod:`.reference_draws`): an :class:`EstimationReference`
prepared from the labelled reference estimates any number of windows, each at the cost of its own rows.

Inputs are class indices (0..k-1, the columns of the probability matrix); binary metrics are for class 1 and
multiclass ones are macro averages, the conventions of :mod:`.quality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...calibration import Calibration, calibration_error, choose_calibration
from ...errors import ValidationError
from .confusion_matrices import METRICS, metrics_of_confusions
from .reference_draws import ReferenceDraws, draw_reference

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["METRICS", "Calibration", "EstimatedMetric", "EstimationReference", "OutcomeShift", "PerformanceEstimate",
           "calibration_error", "choose_calibration", "estimate_performance", "outcome_shift", "realized_metrics"]


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


class EstimationReference:
    """A labelled reference prepared once for the estimates of many windows (a deployment's every window, the
    rows whose labels arrived next to the whole window, a benchmark's splits).

    Preparing draws the reference's bootstraps (:mod:`.reference_draws`), the part of the work that does not
    depend on the window; :meth:`estimate` then costs what the window's own rows cost. Seeded: the same
    reference and seed give the same draws, and the same window then the same interval.

    Raises:
        ValidationError: probabilities outside [0, 1], labels outside the columns, an empty reference, or one
            with fewer than two classes present.
    """

    def __init__(self, reference_proba: ArrayLike, reference_labels: ArrayLike, *, draws: int = 200,
                 seed: int = 0) -> None:
        ref = _proba(reference_proba, "reference_proba")
        labels = np.asarray(reference_labels)
        if labels.shape != (len(ref),) or not np.issubdtype(labels.dtype, np.integer) \
                or labels.min() < 0 or labels.max() >= ref.shape[1]:
            raise ValidationError(f"reference_labels must be {len(ref)} class indices in 0..{ref.shape[1] - 1}.",
                                  field="reference_labels")
        if len(np.unique(labels)) < 2:
            raise ValidationError("The reference's labels hold one class only: calibration needs both outcomes.",
                                  field="reference_labels")
        rng = np.random.default_rng(seed)
        self.rows, self.classes = ref.shape
        self.calibration = choose_calibration(ref, labels, rng)
        self._draws = draw_reference(ref, labels, self.calibration.method, draws, rng)

    def estimate(self, current_proba: ArrayLike, *, level: float = 0.9, seed: int = 0) -> PerformanceEstimate:
        """Accuracy, precision, recall, F1 and ROC AUC of ``current_proba`` (m x k, no labels needed), each with
        its ``level`` interval (0.9: the 5th and 95th percentiles of the draws); ``seed`` seeds the window's
        simulated labels."""
        cur = _proba(current_proba, "current_proba")
        if cur.shape[1] != self.classes:
            raise ValidationError(f"The reference has {self.classes} class columns and the current data "
                                  f"{cur.shape[1]}; score both with the same model.", field="current_proba")
        if not 0 < level < 1:
            raise ValidationError(f"level must be between 0 and 1, not {level}.", field="level")
        # rows in the order of their last class's score: the metrics do not depend on the order, and np.interp
        # finds each score's place from the last one's when its input is sorted (5x faster for 200 maps)
        cur = cur[np.argsort(cur[:, -1], kind="stable")]
        calibrated = self.calibration.apply(cur)
        predicted = np.argmax(cur, axis=1)  # the model's own decision, from its raw scores
        confusion = _expected_confusion(calibrated, predicted)
        points = _metrics_from_confusion(confusion)
        points["roc_auc"] = _expected_auc(calibrated, cur)
        miss = self._draws.miss(self._draws.likeness(cur))
        simulated = _simulate(self._draws, cur, predicted, np.random.default_rng(seed))
        tail = (1 - level) / 2 * 100
        metrics = {}
        for name in METRICS:
            draws = np.clip(simulated[name] + miss.spread[name] + miss.bias[name], 0.0, 1.0)
            values = draws[~np.isnan(draws)]
            low, high = (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))) \
                if len(values) else (None, None)
            point = points[name]
            value = None if point is None else float(np.clip(point + miss.bias[name], 0.0, 1.0))
            metrics[name] = EstimatedMetric(name, value, low, high)
        return PerformanceEstimate(len(cur), self.calibration,
                                   tuple(tuple(float(v) for v in row) for row in confusion), metrics, level)

    def outcome_shift(self, labelled_proba: ArrayLike, labels: ArrayLike) -> OutcomeShift:
        """:func:`outcome_shift` with this reference's calibration."""
        return _outcome_shift(self.calibration, labelled_proba, labels)


def estimate_performance(reference_proba: ArrayLike, reference_labels: ArrayLike, current_proba: ArrayLike, *,
                         level: float = 0.9, draws: int = 200, seed: int = 0) -> PerformanceEstimate:
    """Accuracy, precision, recall, F1 and ROC AUC of ``current_proba`` estimated from the labelled reference;
    one window's :class:`EstimationReference` (prepare one to estimate many windows).

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
    reference = EstimationReference(reference_proba, reference_labels, draws=draws, seed=seed)
    return reference.estimate(current_proba, level=level, seed=seed)


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
    ref = _proba(reference_proba, "reference_proba")
    calibration = choose_calibration(ref, np.asarray(reference_labels), np.random.default_rng(seed))
    return _outcome_shift(calibration, labelled_proba, labels)


def _outcome_shift(calibration: Calibration, labelled_proba: ArrayLike, labels: ArrayLike) -> OutcomeShift:
    from scipy import stats as scipy_stats

    truth = np.asarray(labels)
    scores = _proba(labelled_proba, "labelled_proba")
    if truth.shape != (len(scores),):
        raise ValidationError(f"labels must be {len(scores)} class indices.", field="labels")
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


def _simulate(reference: ReferenceDraws, cur: NDArray[np.float64], predicted: NDArray[np.int64],
              rng: np.random.Generator) -> dict[str, NDArray[np.float64]]:
    """The metrics of the reference's draws of realizations of the window, all at once (draws x rows): each
    draw's calibration map, then labels drawn from it (the reference's miss is added by the caller)."""
    draws, k = reference.draws, cur.shape[1]
    calibrated = reference.calibrated_draws(cur)
    uniform = rng.random((draws, len(cur), 1))
    if k == 2:  # the general rule below, without the cumulative sum: class 1 when the draw passes P(class 0)
        truth = (uniform[:, :, 0] > calibrated[:, :, 0]).astype(np.int64)
    else:
        truth = np.minimum((uniform > np.cumsum(calibrated, axis=2)).sum(axis=2), k - 1)
    cells = (np.arange(draws)[:, None] * k + truth) * k + predicted[None, :]
    confusion = np.bincount(cells.ravel(), minlength=draws * k * k).reshape(draws, k, k).astype(float)
    out = metrics_of_confusions(confusion)
    classes = [1] if k == 2 else range(k)
    aucs = [_auc_of_draws(truth == cls, _midranks_of(cur[:, cls])) for cls in classes]
    out["roc_auc"] = np.mean(aucs, axis=0)  # NaN where a draw has one class only, as in quality.roc_auc
    return out


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
    values = metrics_of_confusions(confusion[None])
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
