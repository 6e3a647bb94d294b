"""The gate's choice of paired test per metric, and the bootstrap's weighted metrics against scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.models.compare import _weighted_metric, paired_test
from shipyard.models.evaluate import Outputs, get_metric, metric_value

ROWS = 300


def _classification(metric: str, classes: list[str], seed: int) -> Outputs:
    rng = np.random.default_rng(seed)
    truth = rng.choice(classes, size=ROWS)
    probabilities = rng.dirichlet(np.ones(len(classes)), size=ROWS)
    probabilities[np.arange(ROWS), [classes.index(label) for label in truth]] += 0.5
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    chosen = get_metric(metric)
    output = probabilities if chosen.needs_probabilities else np.array(classes)[probabilities.argmax(axis=1)]
    return Outputs(chosen, truth, output, classes)


def _regression(metric: str, seed: int) -> Outputs:
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=ROWS)
    return Outputs(get_metric(metric), truth, truth + rng.normal(scale=0.5, size=ROWS), [])


BINARY, THREE = ["no", "yes"], ["a", "b", "c"]


@pytest.mark.parametrize(("metric", "classes"), [
    *[(metric, classes) for metric in ("log_loss", "accuracy", "f1", "precision", "recall")
      for classes in (BINARY, THREE)],
    ("roc_auc", THREE)])  # a binary ROC AUC goes to DeLong, not the bootstrap
def test_weighted_classification_metrics_equal_scikit_learn_on_the_full_holdout(metric: str,
                                                                                classes: list[str]) -> None:
    answers = _classification(metric, classes, seed=1)
    value = _weighted_metric(answers)(np.ones((1, ROWS)))[0]
    assert value == pytest.approx(metric_value(answers), rel=1e-9)


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_weighted_regression_metrics_equal_scikit_learn_on_the_full_holdout(metric: str) -> None:
    answers = _regression(metric, seed=2)
    assert _weighted_metric(answers)(np.ones((1, ROWS)))[0] == pytest.approx(metric_value(answers), rel=1e-9)


@pytest.mark.parametrize(("metric", "min_delta", "test"), [
    ("roc_auc", 0.0, "delong"), ("accuracy", 0.0, "mcnemar"), ("accuracy", 0.01, "paired_bootstrap"),
    ("log_loss", 0.0, "paired_bootstrap"), ("f1", 0.0, "paired_bootstrap")])
def test_each_metric_gets_its_test_and_a_gain_oriented_so_that_positive_is_better(metric: str, min_delta: float,
                                                                                   test: str) -> None:
    candidate, other = _classification(metric, BINARY, 3), _classification(metric, BINARY, 4)
    current = Outputs(other.metric, candidate.truth, other.output, other.classes)  # same rows, other answers
    outcome = paired_test(candidate, current, min_delta=min_delta, alpha=0.05)
    assert outcome.test == test
    difference = metric_value(candidate) - metric_value(current)
    expected = difference if candidate.metric.higher_is_better else -difference
    assert abs(expected) > 1e-3
    assert outcome.gain == pytest.approx(expected)
