"""Quality metrics from feedback, on predictions joined with their labels: accuracy, precision/recall/F1,
ROC AUC and log loss for classifiers, MAE and RMSE for regressors.

Computed with numpy (and scipy's ranks for ROC AUC), so monitoring never imports scikit-learn; the values
agree with its metrics (tests/unit/monitoring/test_stats.py checks them against it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...errors import ValidationError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1; ``None`` where the binary value is undefined (a zero denominator)."""

    precision: float | None
    recall: float | None
    f1: float | None


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


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None
