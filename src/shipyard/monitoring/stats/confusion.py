"""Confused-model scores: how unsure a classifier is of its own answers, from its class probabilities alone
(no labels needed), so a model that has grown unsure of itself shows up before labels arrive to show a
drop in accuracy.

Scores come row by row from a probability matrix, or from the per-class probability histograms that
``models/profile.py`` stores (``prediction_profile``: 20 equal-width bins of [0, 1]), which is how a live
window is compared with the reference (:func:`compare_confusion`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ValidationError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._arrays import FloatArray


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


# -------------------------------------------------------------------------------------------- helpers


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
