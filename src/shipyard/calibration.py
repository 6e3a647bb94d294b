"""Calibrating a classifier's probabilities on labelled rows: one map, shared by monitoring and serving.

Monitoring estimates a window's performance from calibrated scores (``monitoring/stats/estimation.py``), and a
``routing: thompson`` deployment counts every prediction's P(correct) while its label is pending
(``serving/scores.py``). Both must calibrate with the very same rule, learnt from the version's labelled
reference (``models/labelled_reference.py``), or the bandit and the estimate would disagree about one model's
scores. Monitoring's statistics may import nothing of Shipyard above ``errors`` and ``binning``, and serving may
not import monitoring, so the rule lives here, at the bottom of the layers, as ``binning`` does.

The map is isotonic regression of "is this class" on the class's score, one class against the rest, and it is
used only when it lowers the calibration error on rows it was not fitted on (two folds, crossed): a model that
is already calibrated keeps its raw scores rather than gaining a noisy step function.

For the bandit, what matters is P(correct | the answer's stated confidence, its largest probability):
*confidence calibration* (Guo, Pleiss, Sun & Weinberger 2017, "On calibration of modern neural networks", ICML),
the same isotonic rule fitted on (confidence, was the answer right) pairs (:func:`confidence_calibration`).
Gupta & Ramdas (2022, "Top-label calibration and multiclass-to-binary reductions", ICLR) point out that it does
not condition on which class was predicted, so a single answer's calibrated confidence can still be off for one
class; the bandit only sums them over a variant's predictions, and that mean is the variant's accuracy whenever
the map holds on average over the traffic. It needs neither the class names nor their order, so a confidence
read back from the prediction log maps exactly as it did when the prediction was answered.

The isotonic fit uses scipy's pool-adjacent-violators when scipy is installed (monitoring's extra has it) and the
same algorithm in numpy otherwise (a serving image need not carry scipy); both give the unique weighted
least-squares monotone fit. numpy is imported inside the functions, so ``import shipyard`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Knots = tuple[tuple["NDArray[np.float64]", "NDArray[np.float64]"], ...]
_BINS = 10  # equal-mass bins of the calibration error


@dataclass(frozen=True)
class Calibration:
    """Per-class isotonic maps (score -> calibrated probability), or none when raw scores are kept."""

    method: str  # "isotonic" or "none"
    knots: Knots = ()
    error_raw: float = 0.0
    error_calibrated: float = 0.0

    def apply(self, proba: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.method == "none":
            return proba
        return apply_knots(self.knots, proba)


def choose_calibration(proba: NDArray[np.float64], labels: NDArray[np.int64], rng: np.random.Generator) \
        -> Calibration:
    """Isotonic calibration when, fitted on one half and scored on the other, it lowers the calibration error."""
    crossed = cross_fitted(proba, labels, rng)
    raw, cross = calibration_error(proba, labels), calibration_error(crossed, labels)
    if cross < raw:
        return Calibration("isotonic", fit_knots(proba, labels), raw, cross)
    return Calibration("none", (), raw, raw)


def cross_fitted(proba: NDArray[np.float64], labels: NDArray[np.int64], rng: np.random.Generator) \
        -> NDArray[np.float64]:
    """The scores calibrated by an isotonic fit on the other half of the rows (two random halves, crossed), so
    their miss is an honest one: a fit misses its own rows by nothing on average."""
    import numpy as np

    order = rng.permutation(len(labels))
    halves = order[: len(order) // 2], order[len(order) // 2:]
    crossed = np.empty_like(proba)
    for fit_rows, score_rows in (halves, halves[::-1]):
        crossed[score_rows] = apply_knots(fit_knots(proba[fit_rows], labels[fit_rows]), proba[score_rows])
    return crossed


def calibration_error(proba: NDArray[np.float64], labels: NDArray[np.int64]) -> float:
    """Expected calibration error: over 10 equal-mass bins of a class's score, the row-weighted gap between
    the mean score and the share of that class; class 1's for binary scores, the mean over classes otherwise."""
    import numpy as np

    classes = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    errors = []
    for column in classes:
        scores, hits = proba[:, column], (labels == column).astype(float)
        order = np.argsort(scores, kind="stable")
        gaps = [abs(scores[chunk].mean() - hits[chunk].mean()) * len(chunk)
                for chunk in np.array_split(order, min(_BINS, len(order))) if len(chunk)]
        errors.append(sum(gaps) / len(scores))
    return float(np.mean(errors))


def confidence_calibration(probabilities: Any, labels: Any, *, seed: int = 0) -> Calibration:
    """The top-label map of a labelled reference: isotonic P(correct | largest probability), kept only when it
    lowers the cross-fitted calibration error (:func:`choose_calibration`). ``probabilities`` are rows x classes
    in the model's class order, ``labels`` the true classes as column indices. Seeded: the same reference
    always gives the same map, in every worker and replica."""
    import numpy as np

    proba = np.asarray(probabilities, dtype="float64")
    truth = np.asarray(labels, dtype="int64")
    confidence = proba.max(axis=1)
    correct = (np.argmax(proba, axis=1) == truth).astype("int64")
    return choose_calibration(np.column_stack([1.0 - confidence, confidence]), correct,
                              np.random.default_rng(seed))


def calibrated_confidence(calibration: Calibration, confidences: Sequence[float]) -> list[float]:
    """Stated confidences (each answer's largest probability) mapped to P(correct) by a
    :func:`confidence_calibration` map."""
    import numpy as np

    if calibration.method == "none" or not confidences:
        return list(confidences)
    stated = np.asarray(confidences, dtype="float64")
    return [float(value) for value in np.interp(stated, *calibration.knots[0])]


def fit_knots(proba: NDArray[np.float64], labels: NDArray[np.int64], row_weights: NDArray[np.float64] | None = None) \
        -> Knots:
    """Per class, the isotonic fit of "is this class" on the class's score; ``row_weights`` counts each row (a
    bootstrap's draw counts), so a bootstrap refit needs no resampled copy of the data."""
    return IsotonicFit(proba, labels).fit(row_weights)


class IsotonicFit:
    """The sorted distinct scores of each class, found once, for the many refits of a bootstrap."""

    def __init__(self, proba: NDArray[np.float64], labels: NDArray[np.int64]) -> None:
        import numpy as np

        self.columns = []
        for column in ([1] if proba.shape[1] == 2 else range(proba.shape[1])):
            unique, inverse = np.unique(proba[:, column], return_inverse=True)
            self.columns.append((unique, inverse, (labels == column).astype(float)))

    def fit(self, row_weights: NDArray[np.float64] | None = None) -> Knots:
        import numpy as np

        knots = []
        for unique, inverse, hits in self.columns:
            weights = np.bincount(inverse, weights=row_weights, minlength=len(unique))
            positive = np.bincount(inverse, weights=hits if row_weights is None else hits * row_weights,
                                   minlength=len(unique))
            present = weights > 0
            fitted = np.asarray(isotonic(positive[present] / weights[present], weights[present].astype(float)),
                                dtype=float)
            knots.append(_block_ends(unique[present], fitted))
        return tuple(knots)


def _block_ends(scores: NDArray[np.float64], fitted: NDArray[np.float64]) \
        -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The first and last knot of each run of equal fitted values: ``np.interp`` over them is the same function
    (flat inside a run, the same ramp between runs), with a few hundred knots instead of one per distinct
    score, which makes every map applied to a window (200 per estimate) several times cheaper."""
    import numpy as np

    changes = fitted[1:] != fitted[:-1]
    keep = np.r_[True, changes] | np.r_[changes, True]
    return scores[keep], fitted[keep]


def isotonic(values: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """The non-decreasing sequence closest to ``values`` in weighted least squares (pool adjacent violators)."""
    try:
        from scipy.optimize import isotonic_regression
    except ImportError:
        return pool_adjacent_violators(values, weights)
    import numpy as np

    return np.asarray(isotonic_regression(values, weights=weights).x, dtype=float)


def pool_adjacent_violators(values: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """The numpy twin of scipy's ``isotonic_regression`` (increasing), for a process without scipy: blocks of
    adjacent values are pooled into their weighted mean until the means never decrease."""
    import numpy as np

    means: list[float] = []
    totals: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        means.append(value)
        totals.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            weight_sum = totals[-2] + totals[-1]
            means[-2] = (means[-2] * totals[-2] + means[-1] * totals[-1]) / weight_sum
            totals[-2] = weight_sum
            sizes[-2] += sizes[-1]
            del means[-1], totals[-1], sizes[-1]
    return np.repeat(np.asarray(means, dtype=float), sizes)


def apply_knots(knots: Knots, proba: NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    if proba.shape[1] == 2:
        positive = np.interp(proba[:, 1], *knots[0])
        return np.column_stack([1.0 - positive, positive])
    columns = np.column_stack([np.interp(proba[:, cls], *knots[cls]) for cls in range(proba.shape[1])])
    totals = columns.sum(axis=1, keepdims=True)
    uniform = np.full_like(columns, 1.0 / proba.shape[1])  # every class mapped to 0: no information left
    return np.where(totals > 0, columns / np.where(totals > 0, totals, 1.0), uniform)
