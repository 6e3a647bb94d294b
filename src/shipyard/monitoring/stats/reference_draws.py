"""What a labelled reference can vouch for, drawn once and reused by the estimate of every window.

An estimate's interval has three sources of spread (:mod:`.estimation`): the window's own label noise, the
calibration map's (refitted on bootstraps of the reference) and how far calibrated scores miss on bootstraps of
the reference, its rows weighted like the window. The last two depend on the reference alone, except for the
window's weights, and they are most of the work: each is ``draws`` bootstraps of every reference row. Drawn per
window, a 68,785-row reference cost 3-4 s a window. So they are drawn here once, and the window only chooses
its weights.

The weights are piecewise constant: a reference row counts as the window's share over the reference's in its
bin of the model's confidence (the top score; equal-mass bins of the reference, floored). Every bootstrap
statistic behind the gaps is then a small sum over bins: a confusion matrix is linear in the weights, and the
Mann-Whitney numerator behind ROC AUC is a quadratic form ``w' N w`` over pairs of bins. So each draw keeps a
confusion matrix per bin and an ``N`` per pair of bins, and any window's gaps follow in microseconds, equal (up to
floating-point rounding) to weighting the rows of the same bootstraps directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...calibration import IsotonicFit, Knots, apply_knots, cross_fitted
from .confusion_matrices import METRICS, metrics_of_confusions

if TYPE_CHECKING:
    from numpy.typing import NDArray

# An isotonic map fitted on n rows follows their noise, so its calibrated scores are too extreme on new rows, and
# an estimate that sums them (accuracy is the mean of each row's calibrated P(correct)) reads high. The
# cross-fitted miss measures that bias for a map fitted on n / 2 rows. The map's error variance shrinks as
# n^(-2/3) (isotonic regression's rate) and the bias of a smooth functional of it is second order, proportional to
# that variance, so the map fitted on all n rows leaves 2^(-2/3) of the half map's bias. Checked on scores of known
# truth (80 references each of 600 to 3,000 rows): accuracy read 0.3-0.8 point high and ROC AUC 0.4-1.2, and
# within 0.2 point of the truth (1-2 standard errors) once corrected.
HALF_TO_FULL_OVERFIT = 2 ** (-2 / 3)
LIKENESS_BINS = 5
LIKENESS_FLOOR = 0.25  # a bin the window avoids still counts a quarter, so a few rows never stand for all
_CHUNK_CELLS = 4_000_000  # draws x rows per block of work: bounds the memory of a large reference


@dataclass(frozen=True)
class _AucPieces:
    """One class's Mann-Whitney pieces per draw and bin: ``pairs`` (draws x bins x bins) sums positive weight
    over negative weight scored lower (ties a half), ``positive``/``negative``/``self_pairs`` (draws x bins)
    the weights whose products make the denominator."""

    pairs: NDArray[np.float64]
    positive: NDArray[np.float64]
    negative: NDArray[np.float64]
    self_pairs: NDArray[np.float64] | None

    def auc(self, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        numerator = np.einsum("b,dbc,c->d", weights, self.pairs, weights)
        denominator = (self.positive @ weights) * (self.negative @ weights)
        if self.self_pairs is not None:
            own = self.self_pairs @ weights
            numerator, denominator = numerator - 0.5 * own, denominator - own
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denominator > 0, numerator / denominator, np.nan)


@dataclass(frozen=True)
class ReferenceDraws:
    """The reference's bootstraps, reduced to what any window needs (see the module docstring)."""

    calibration_fits: tuple[Knots, ...]  # one isotonic map per draw; empty when raw scores are kept
    edges: NDArray[np.float64]  # inner edges of the confidence bins (none: one bin, every row counts 1)
    reference_shares: NDArray[np.float64]  # the reference's share of rows in each bin
    estimated: NDArray[np.float64]  # draws x bins x true class x predicted class, from the scores
    realized: NDArray[np.float64]  # the same from the labels
    expected_auc: tuple[_AucPieces, ...]  # per class scored (class 1 only for two classes)
    realized_auc: tuple[_AucPieces, ...]

    @property
    def draws(self) -> int:
        return len(self.estimated)

    def calibrated_draws(self, current: NDArray[np.float64]) -> NDArray[np.float64]:
        """The window's scores through every draw's calibration map (draws x rows x classes)."""
        if not self.calibration_fits:
            return np.broadcast_to(current, (self.draws, *current.shape))
        return np.stack([apply_knots(knots, current) for knots in self.calibration_fits])

    def likeness(self, current: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each bin's weight when the reference should look like the window: the window's share over the
        reference's, floored; all ones when there is one bin (raw scores: the miss over the reference's own mix)."""
        if len(self.edges) == 0:
            return np.ones(1)
        bins = np.searchsorted(self.edges, current.max(axis=1), side="right")
        window_shares = np.bincount(bins, minlength=len(self.reference_shares)) / len(current)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.reference_shares > 0, window_shares / self.reference_shares, 1.0)
        return np.asarray(np.maximum(ratio, LIKENESS_FLOOR), dtype=float)

    def miss(self, weights: NDArray[np.float64]) -> ReferenceMiss:
        """How far the scores' estimates miss on the bootstraps, the rows weighted by their bin's ``weights``: the
        centred spread of the miss, and, for an isotonic map, the bias its overfitting leaves (see
        :data:`HALF_TO_FULL_OVERFIT`)."""
        estimated = metrics_of_confusions(np.einsum("dbij,b->dij", self.estimated, weights))
        realized = metrics_of_confusions(np.einsum("dbij,b->dij", self.realized, weights))
        gaps = {name: realized[name] - estimated[name] for name in METRICS if name != "roc_auc"}
        gaps["roc_auc"] = (np.mean([pieces.auc(weights) for pieces in self.realized_auc], axis=0)
                           - np.mean([pieces.auc(weights) for pieces in self.expected_auc], axis=0))
        bias = dict.fromkeys(gaps, 0.0)
        for name, values in gaps.items():
            if not np.all(np.isnan(values)):
                mean = float(np.nanmean(values))
                gaps[name] = values - mean
                if self.calibration_fits:
                    bias[name] = HALF_TO_FULL_OVERFIT * mean
        return ReferenceMiss(gaps, bias)


@dataclass(frozen=True)
class ReferenceMiss:
    """``spread``: per draw, the centred miss (it widens an interval); ``bias``: what to add to the estimate."""

    spread: dict[str, NDArray[np.float64]]
    bias: dict[str, float]


def draw_reference(ref: NDArray[np.float64], labels: NDArray[np.int64], method: str, draws: int,
                   rng: np.random.Generator) -> ReferenceDraws:
    """Bootstrap the reference once for every window to come. ``method`` is the calibration chosen for it: with
    isotonic, each draw refits the map (its own uncertainty) and the miss is measured on cross-fitted scores
    weighted like the window; raw scores are measured as they are, over the reference's own mix."""
    n = len(labels)
    fits: tuple[Knots, ...] = ()
    if method == "isotonic":
        isotonic = IsotonicFit(ref, labels)
        fits = tuple(isotonic.fit(counts) for counts in _bootstrap_counts(n, draws, rng))
        scores, edges = cross_fitted(ref, labels, rng), _confidence_edges(ref)
    else:
        scores, edges = ref, np.empty(0)
    bins = np.searchsorted(edges, ref.max(axis=1), side="right")
    shares = np.bincount(bins, minlength=len(edges) + 1) / n
    counts = _bootstrap_counts(n, draws, rng)
    # as in a window's estimate: the model decides and ranks by its raw scores, the calibrated ones say how often
    # it is right
    estimated, realized = _confusions_by_bin(scores, np.argmax(ref, axis=1), labels, counts, bins, len(shares))
    classes = [1] if ref.shape[1] == 2 else range(ref.shape[1])
    expected_auc = tuple(_auc_pieces(ref[:, cls], scores[:, cls], counts, bins, len(shares), self_pairs=True)
                         for cls in classes)
    realized_auc = tuple(_auc_pieces(ref[:, cls], (labels == cls).astype(float), counts, bins, len(shares),
                                     self_pairs=False) for cls in classes)
    return ReferenceDraws(fits, edges, shares, estimated, realized, expected_auc, realized_auc)


def _bootstrap_counts(n: int, draws: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """How often each of ``n`` rows is drawn in each of ``draws`` bootstraps (draws x n): ``n`` row numbers drawn
    with replacement and counted, in blocks (a multinomial of ``n`` equal cells, drawn five times faster than
    numpy's multinomial draws it for a large reference)."""
    counts = np.empty((draws, n))
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for first in range(0, draws, chunk):
        rows = min(chunk, draws - first)
        picked = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
        counts[first:first + rows] = np.bincount(picked.ravel(), minlength=rows * n).reshape(rows, n)
    return counts


def _confidence_edges(ref: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.quantile(ref.max(axis=1), np.linspace(0, 1, LIKENESS_BINS + 1)[1:-1]), dtype=float)


def _confusions_by_bin(scores: NDArray[np.float64], predicted: NDArray[np.intp], labels: NDArray[np.int64],
                       counts: NDArray[np.float64], bins: NDArray[np.intp], n_bins: int) \
        -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per draw and bin, the confusion matrix the scores expect and the one the labels make."""
    k = scores.shape[1]
    estimated = np.zeros((len(counts), n_bins, k, k))
    realized = np.zeros((len(counts), n_bins, k, k))
    for b in range(n_bins):
        for column in range(k):
            chosen = (bins == b) & (predicted == column)
            estimated[:, b, :, column] = counts[:, chosen] @ scores[chosen]
            for true_class in range(k):
                realized[:, b, true_class, column] = counts[:, chosen & (labels == true_class)].sum(axis=1)
    return estimated, realized


def _auc_pieces(scores: NDArray[np.float64], positive_share: NDArray[np.float64], counts: NDArray[np.float64],
                bins: NDArray[np.intp], n_bins: int, *, self_pairs: bool) -> _AucPieces:
    """The Mann-Whitney pieces of rows scored ``scores``, each positive by ``positive_share`` (a label, or a
    calibrated probability whose pair with itself is left out when ``self_pairs``), per draw and bin.

    Rows are summed per group of one score and one bin (one pass over the draws, whatever the bins), and each
    group counts the negative weight of every lower score plus half of its own score's (ties, across bins too)."""
    order = np.lexsort((bins, scores))
    sorted_scores, row_bins, share = scores[order], bins[order], positive_share[order]
    starts = np.flatnonzero(np.r_[True, (sorted_scores[1:] != sorted_scores[:-1]) | (row_bins[1:] != row_bins[:-1])])
    group_bins, group_scores = row_bins[starts], sorted_scores[starts]
    groups = np.arange(len(starts))
    new_score = np.r_[True, group_scores[1:] != group_scores[:-1]]
    score_starts = np.flatnonzero(new_score)
    score_of_group = np.cumsum(new_score) - 1
    first_group = score_starts[score_of_group]  # the first and last group of each group's score
    last_group = np.r_[score_starts[1:], len(starts)][score_of_group] - 1
    own_weights = np.zeros((len(scores), n_bins))  # in the sorted order, as the blocks are
    own_weights[np.arange(len(scores)), row_bins] = share * (1 - share)
    draws = len(counts)
    pairs = np.zeros((draws, n_bins, n_bins))
    positive, negative, own = (np.zeros((draws, n_bins)) for _ in range(3))
    chunk = max(1, _CHUNK_CELLS // max(len(scores) * n_bins, 1))
    for first in range(0, draws, chunk):
        block = counts[first:first + chunk][:, order]
        pos, neg = (np.zeros((len(block), len(starts), n_bins)) for _ in range(2))
        pos[:, groups, group_bins] = np.add.reduceat(block * share, starts, axis=1)
        neg[:, groups, group_bins] = np.add.reduceat(block * (1 - share), starts, axis=1)
        through = np.cumsum(neg, axis=1)  # negative weight up to and including each group
        before = np.where((first_group > 0)[None, :, None], through[:, np.maximum(first_group - 1, 0)], 0.0)
        below = before + 0.5 * (through[:, last_group] - before)  # lower scores, and half of the same score
        pairs[first:first + chunk] = np.matmul(pos.transpose(0, 2, 1), below)
        positive[first:first + chunk] = pos.sum(axis=1)
        negative[first:first + chunk] = neg.sum(axis=1)
        if self_pairs:
            own[first:first + chunk] = block @ own_weights
    return _AucPieces(pairs, positive, negative, own if self_pairs else None)
