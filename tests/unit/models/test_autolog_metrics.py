"""The training metrics autologging computes with numpy agree with scikit-learn's own functions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from shipyard.models.autolog._training_metrics import classifier_metrics, regressor_metrics, roc_auc


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_classifier_metrics_match_scikit_learn(classes: int, weighted: bool) -> None:
    rng = np.random.default_rng(7)
    labels = np.array(["cat", "dog", "eel"][:classes])
    truth = labels[rng.integers(0, classes, 400)]
    probabilities = np.round(rng.dirichlet(np.ones(classes), 400), 2)  # rounded: plenty of tied scores
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = labels[probabilities.argmax(axis=1)]
    weights = rng.random(400) if weighted else None
    found = classifier_metrics(truth, predicted, list(labels), probabilities, weights)
    averaging = {"average": "binary", "pos_label": labels[1]} if classes == 2 else {"average": "weighted"}
    expected = {
        "training_accuracy": metrics.accuracy_score(truth, predicted, sample_weight=weights),
        "training_precision": metrics.precision_score(truth, predicted, sample_weight=weights, **averaging),
        "training_recall": metrics.recall_score(truth, predicted, sample_weight=weights, **averaging),
        "training_f1": metrics.f1_score(truth, predicted, sample_weight=weights, **averaging),
        "training_log_loss": metrics.log_loss(truth, probabilities, sample_weight=weights, labels=labels),
        "training_roc_auc": (metrics.roc_auc_score(truth == labels[1], probabilities[:, 1], sample_weight=weights)
                             if classes == 2 else metrics.roc_auc_score(
                                 truth, probabilities, multi_class="ovr", average="weighted", labels=labels,
                                 sample_weight=weights)),
    }
    assert found == pytest.approx(expected, rel=1e-12)


def test_regressor_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(size=300)
    predicted = truth + rng.normal(scale=0.4, size=300)
    weights = rng.random(300)
    found = regressor_metrics(truth, predicted, weights)
    assert found["training_mae"] == pytest.approx(metrics.mean_absolute_error(truth, predicted, sample_weight=weights))
    assert found["training_mse"] == pytest.approx(metrics.mean_squared_error(truth, predicted, sample_weight=weights))
    assert found["training_rmse"] == pytest.approx(np.sqrt(found["training_mse"]))
    assert found["training_r2"] == pytest.approx(metrics.r2_score(truth, predicted, sample_weight=weights))


def test_what_cannot_be_computed_is_left_out() -> None:
    assert roc_auc(np.array([True, True]), np.array([0.2, 0.9]), np.ones(2)) is None  # no negatives
    assert classifier_metrics(["a", "b"], ["a", "zebra"], ["a", "b"]) == {}  # a label the model never had
    assert "training_r2" not in regressor_metrics([1.0, 1.0], [1.0, 2.0])  # no spread in the truth
