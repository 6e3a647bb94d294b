"""Training metrics of a fitted scikit-learn-style model, computed on the data it was fitted on.

Classifiers: accuracy, precision, recall, f1 (of the second class when there are two, else averaged over
classes weighted by support, as MLflow does; a class never predicted counts 0), and, with
``predict_proba``, log loss and ROC AUC (one-vs-rest, weighted by support, for more than two classes).
Regressors: MAE, MSE, RMSE, R². Plus ``training_score``, the model's own ``score``.

The formulas are written out with numpy rather than called from ``sklearn.metrics``: each of those
validates its inputs again and costs about a millisecond, ten times the arithmetic, and this runs once
per autologged fit. ``tests/unit/models/test_autolog_metrics.py`` holds them to scikit-learn's values.
A metric that cannot be computed for this data (one class only, labels the model never saw) is left out.
"""

from __future__ import annotations

import math
from typing import Any


def training_metrics(model: Any, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    if y is None or not hasattr(model, "predict"):
        return {}
    from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier, is_regressor

    found: dict[str, float] = {}
    if is_classifier(model):
        probabilities = None
        if hasattr(model, "predict_proba"):
            try:
                probabilities = model.predict_proba(X)
            except (ValueError, TypeError, AttributeError):
                probabilities = None
        found.update(classifier_metrics(y, model.predict(X), list(getattr(model, "classes_", [])), probabilities,
                                        sample_weight))
        if "training_accuracy" in found and type(model).score is ClassifierMixin.score:
            found["training_score"] = found["training_accuracy"]  # exactly what ClassifierMixin.score computes
            return found
    elif is_regressor(model):
        found.update(regressor_metrics(y, model.predict(X), sample_weight))
        if "training_r2" in found and type(model).score is RegressorMixin.score:
            found["training_score"] = found["training_r2"]
            return found
    try:
        score = float(model.score(X, y) if sample_weight is None else model.score(X, y, sample_weight=sample_weight))
    except (ValueError, TypeError, AttributeError):
        return found
    if math.isfinite(score):
        found["training_score"] = score
    return found


def classifier_metrics(y: Any, predicted: Any, classes: list[Any], probabilities: Any = None,
                       sample_weight: Any = None) -> dict[str, float]:
    import numpy as np

    labels = np.asarray(classes)
    truth, guess = np.asarray(y), np.asarray(predicted)
    if labels.size < 2 or truth.ndim != 1 or truth.shape != guess.shape:
        return {}
    true_index, guess_index = _indexes(labels, truth), _indexes(labels, guess)
    if true_index is None or guess_index is None:
        return {}
    weights = np.ones(truth.size) if sample_weight is None else np.asarray(sample_weight, dtype="float64")
    total = weights.sum()
    k = labels.size
    correct = true_index == guess_index
    true_count = np.bincount(true_index, weights, minlength=k)
    guess_count = np.bincount(guess_index, weights, minlength=k)
    hits = np.bincount(true_index[correct], weights[correct], minlength=k)
    precision = np.divide(hits, guess_count, out=np.zeros(k), where=guess_count > 0)
    recall = np.divide(hits, true_count, out=np.zeros(k), where=true_count > 0)
    sums = precision + recall
    f1 = np.divide(2 * precision * recall, sums, out=np.zeros(k), where=sums > 0)
    found = {"training_accuracy": float(weights[correct].sum() / total)}
    if k == 2:
        found.update(training_precision=float(precision[1]), training_recall=float(recall[1]),
                     training_f1=float(f1[1]))
    else:
        share = true_count / true_count.sum()
        found.update(training_precision=float(precision @ share), training_recall=float(recall @ share),
                     training_f1=float(f1 @ share))
    if probabilities is not None:
        matrix = np.asarray(probabilities, dtype="float64")
        if matrix.shape == (truth.size, k):
            eps = np.finfo("float64").eps
            chosen = np.clip(matrix[np.arange(truth.size), true_index], eps, 1 - eps)
            found["training_log_loss"] = float(-(weights * np.log(chosen)).sum() / total)
            if k == 2:
                auc = roc_auc(true_index == 1, matrix[:, 1], weights)
            else:
                aucs = [roc_auc(true_index == c, matrix[:, c], weights) for c in range(k)]
                present = true_count > 0
                auc = None if any(aucs[c] is None for c in range(k) if present[c]) else float(
                    sum(aucs[c] * true_count[c] for c in range(k) if present[c]) / true_count[present].sum())
            if auc is not None:
                found["training_roc_auc"] = auc
    return found


def roc_auc(positive: Any, scores: Any, weights: Any) -> float | None:
    """Area under the ROC curve: the (weighted) share of positive-negative pairs ranked right, ties half."""
    import numpy as np

    order = np.argsort(scores, kind="mergesort")
    sorted_scores, is_positive, w = scores[order], positive[order], weights[order]
    positives, negatives = w[is_positive].sum(), w[~is_positive].sum()
    if positives == 0 or negatives == 0:
        return None
    # Group tied scores: each positive beats the negative weight below its group and ties half of its own.
    group = np.cumsum(np.r_[False, sorted_scores[1:] != sorted_scores[:-1]])
    negative_in_group = np.bincount(group, w * ~is_positive)
    positive_in_group = np.bincount(group, w * is_positive)
    below = np.cumsum(negative_in_group) - negative_in_group
    return float((positive_in_group * (below + negative_in_group / 2)).sum() / (positives * negatives))


def regressor_metrics(y: Any, predicted: Any, sample_weight: Any = None) -> dict[str, float]:
    import numpy as np

    truth, guess = np.asarray(y, dtype="float64"), np.asarray(predicted, dtype="float64")
    if truth.shape != guess.shape or truth.ndim != 1 or truth.size == 0:
        return {}
    weights = np.ones(truth.size) if sample_weight is None else np.asarray(sample_weight, dtype="float64")
    total = weights.sum()
    error = truth - guess
    mse = float((weights * error ** 2).sum() / total)
    found = {"training_mae": float((weights * np.abs(error)).sum() / total), "training_mse": mse,
             "training_rmse": math.sqrt(mse)}
    mean = (weights * truth).sum() / total
    spread = float((weights * (truth - mean) ** 2).sum())
    if spread > 0:
        found["training_r2"] = 1.0 - float((weights * error ** 2).sum()) / spread
    return found


def _indexes(labels: Any, values: Any) -> Any:
    """Each value's position among the sorted ``labels`` (``classes_`` is sorted), or None if one is unknown."""
    import numpy as np

    try:
        positions = np.searchsorted(labels, values)
    except TypeError:
        return None
    positions = np.clip(positions, 0, labels.size - 1)
    return positions if bool((labels[positions] == values).all()) else None
