"""Which paired test judges which metric, and the row-by-row quantities each needs.

The gate hands over both models' answers on the same holdout rows (:class:`.evaluate.Outputs`); this module
orients the gain so that positive is better and picks the test: DeLong for a binary ROC AUC, McNemar for accuracy
without a margin, the paired bootstrap for everything else (see :mod:`.paired_tests` for why). The bootstrap
resamples rows by multinomial weights, so each metric below is a function of weighted sums over rows: one matrix
product per batch of resamples instead of a Python loop (only a multi-class ROC AUC loops, over scikit-learn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ValidationError
from .evaluate import Outputs
from .paired_tests import PairedTest, delong, mcnemar, paired_bootstrap

EPSILON = 1e-15  # probabilities are clipped here for the log loss, as scikit-learn does


def paired_test(candidate: Outputs, current: Outputs, *, min_delta: float, alpha: float,
                seed: int = 0) -> PairedTest:
    """The one-sided paired test that ``candidate`` beats ``current`` by more than ``min_delta``."""
    metric = candidate.metric
    _check_same_classes(candidate, current)
    if metric.name == "roc_auc" and len(candidate.classes) == 2:
        positive = candidate.truth == candidate.classes[1]
        return delong(positive, candidate.output[:, 1], _column(current, candidate.classes[1]),
                      min_delta=min_delta, alpha=alpha)
    if metric.name == "accuracy" and min_delta == 0:
        return mcnemar(candidate.output == candidate.truth, current.output == current.truth, alpha=alpha)
    value_candidate, value_current = _weighted_metric(candidate), _weighted_metric(current)
    sign = 1.0 if metric.higher_is_better else -1.0

    def gain(weights: Any) -> Any:
        return sign * (value_candidate(weights) - value_current(weights))

    return paired_bootstrap(gain, len(candidate.truth), min_delta=min_delta, alpha=alpha, seed=seed)


def _check_same_classes(candidate: Outputs, current: Outputs) -> None:
    if sorted(map(str, candidate.classes)) != sorted(map(str, current.classes)):
        raise ValidationError(f"The two models learnt different classes ({candidate.classes} vs {current.classes}); "
                              "a paired comparison needs the same ones.", field="target")


def _column(answers: Outputs, label: Any) -> Any:
    """The probability column of ``label`` (the models may order their classes differently)."""
    names = [str(value) for value in answers.classes]
    return answers.output[:, names.index(str(label))]


def _weighted_metric(answers: Outputs) -> Callable[[Any], Any]:
    """``metric(weights)``: the metric on each resample, ``weights`` being (resamples, rows) counts of rows."""
    import numpy as np

    name, truth, output, classes = answers.metric.name, answers.truth, answers.output, answers.classes
    rows = len(truth)
    if answers.metric.task == "regression":
        error = output - truth
        if name == "mae":
            return lambda weights: weights @ np.abs(error) / rows
        if name == "rmse":
            return lambda weights: np.sqrt(weights @ error**2 / rows)
        return lambda weights: 1 - (weights @ error**2) / np.maximum(
            weights @ truth**2 - (weights @ truth) ** 2 / rows, EPSILON)
    if name == "log_loss":
        index = np.array([[str(value) for value in classes].index(str(label)) for label in truth])
        picked = np.clip(output[np.arange(rows), index], EPSILON, 1.0)
        return lambda weights: weights @ -np.log(picked) / rows
    if name == "roc_auc":
        return _weighted_multiclass_auc(answers)
    if name == "accuracy":
        return lambda weights: weights @ (output == truth).astype(float) / rows
    labels = [classes[1]] if len(classes) == 2 else list(classes)
    hits = np.stack([(output == label) & (truth == label) for label in labels], axis=1).astype(float)
    said = np.stack([output == label for label in labels], axis=1).astype(float)
    actual = np.stack([truth == label for label in labels], axis=1).astype(float)

    def per_class(weights: Any) -> Any:
        true_positive, predicted, positive = weights @ hits, weights @ said, weights @ actual
        if name == "precision":
            value = _ratio(true_positive, predicted)
        elif name == "recall":
            value = _ratio(true_positive, positive)
        else:
            value = _ratio(2 * true_positive, predicted + positive)
        if len(labels) > 1:  # macro average over the classes present in the truth or the predictions
            present = (predicted + positive) > 0
            return (value * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
        return value[:, 0]

    return per_class


def _ratio(numerator: Any, denominator: Any) -> Any:
    import numpy as np

    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _weighted_multiclass_auc(answers: Outputs) -> Callable[[Any], Any]:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    def auc(weights: Any) -> Any:
        values = []
        for row in weights:
            try:
                values.append(roc_auc_score(answers.truth, answers.output, multi_class="ovr",
                                            labels=answers.classes, sample_weight=row))
            except ValueError:  # a resample that lost a class has no AUC: left out of the bootstrap
                values.append(np.nan)
        return np.array(values)

    return auc
