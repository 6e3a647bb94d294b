"""Paired tests of "is the candidate better than the champion by at least ``min_delta``?" on one holdout.

Both models score the SAME rows, so their errors are correlated; a paired test uses that correlation and is far
more sensitive than comparing two point scores (or two independent intervals). Pure computation: arrays in,
a :class:`PairedTest` out, numpy and scipy only, imported inside the functions so ``import shipyard`` stays light.

- ROC AUC, binary: DeLong, DeLong & Clarke-Pearson (1988), computed with Sun & Xu's (2014) midrank algorithm in
  O(n log n). The statistic is ``z = (diff - min_delta) / se``.
- Accuracy with ``min_delta == 0``: McNemar on the discordant rows (exact one-sided binomial when fewer than 25
  rows disagree, else the normal form of the continuity-corrected chi-square). With a margin McNemar does not
  apply (its null, "as many rows flip each way", fixes the difference at 0; a margin makes the null depend on
  the unknown discordance rate), so accuracy with ``min_delta > 0`` uses the paired bootstrap.
- Every other metric (and a multi-class ROC AUC): a seeded paired bootstrap (the same resampled rows for both
  models, 2,000 resamples); the p-value is the share of resampled gains at or below ``min_delta``.

Every test is one-sided at ``alpha``; its interval is the two-sided ``1 - 2 * alpha`` interval of the gain, so the
candidate passes exactly when ``ci_low > min_delta``. The minimum detectable effect is the true gain the holdout
detects (against none) with 80% power: ``(z_{1-alpha} + z_{0.8}) * se``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

POWER = 0.8
BOOTSTRAP_RESAMPLES = 2000
EXACT_MCNEMAR_BELOW = 25  # discordant rows; under this the normal approximation is poor


@dataclass(frozen=True)
class PairedTest:
    """The outcome of one one-sided paired test; ``gain`` is oriented so that positive is better."""

    test: str
    gain: float
    se: float
    p_value: float
    ci_low: float
    ci_high: float
    min_detectable_effect: float
    alpha: float

    @property
    def passed(self) -> bool:
        return self.p_value <= self.alpha


def _normal_outcome(test: str, gain: float, se: float, min_delta: float, alpha: float) -> PairedTest:
    from scipy.stats import norm

    z_alpha = float(norm.ppf(1 - alpha))
    if se > 0:
        p_value = float(norm.sf((gain - min_delta) / se))
    else:  # identical predictions on every row: the gain is known exactly
        p_value = 0.0 if gain > min_delta else 1.0
    return PairedTest(test, gain, se, p_value, gain - z_alpha * se, gain + z_alpha * se,
                      min_detectable_effect(se, alpha), alpha)


def min_detectable_effect(se: float, alpha: float, power: float = POWER) -> float:
    """The true gain a one-sided test at ``alpha`` detects with ``power``, given the gain's standard error."""
    from scipy.stats import norm

    return float((norm.ppf(1 - alpha) + norm.ppf(power)) * se)


def _midranks(values: Any) -> Any:
    """Midranks (1-based, ties share their mean rank) of each row of a 2-D array, by sorting: O(n log n)."""
    from scipy.stats import rankdata

    return rankdata(values, axis=-1)


def delong_covariance(truth: Any, scores: Any) -> tuple[Any, Any]:
    """The AUCs of k models and DeLong's k x k covariance of them (Sun & Xu 2014).

    ``truth`` holds 0/1 labels for n rows; ``scores`` is (k, n), higher meaning more likely positive.
    """
    import numpy as np

    truth = np.asarray(truth).astype(bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    positives, negatives = scores[:, truth], scores[:, ~truth]
    m, n = positives.shape[1], negatives.shape[1]
    if m < 2 or n < 2:
        from ..errors import ValidationError

        raise ValidationError(f"DeLong's test needs at least 2 rows of each class; the holdout has {m} positive "
                              f"and {n} negative.", field="data")
    ranks_pos, ranks_neg = _midranks(positives), _midranks(negatives)
    ranks_all = _midranks(np.concatenate([positives, negatives], axis=1))
    aucs = (ranks_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (ranks_all[:, :m] - ranks_pos) / n  # per positive: share of negatives it outranks
    v01 = 1.0 - (ranks_all[:, m:] - ranks_neg) / m  # per negative: share of positives that outrank it
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


def delong(truth: Any, candidate: Any, current: Any, *, min_delta: float, alpha: float) -> PairedTest:
    """DeLong's paired test that the candidate's ROC AUC exceeds the current model's by more than ``min_delta``."""
    import numpy as np

    aucs, cov = delong_covariance(truth, np.vstack([candidate, current]))
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return _normal_outcome("delong", float(aucs[0] - aucs[1]), max(variance, 0.0) ** 0.5, min_delta, alpha)


def mcnemar(candidate_correct: Any, current_correct: Any, *, alpha: float) -> PairedTest:
    """McNemar's one-sided test that the candidate is right on more rows than the current model (margin 0)."""
    import numpy as np
    from scipy.stats import binomtest, norm

    candidate_correct = np.asarray(candidate_correct, dtype=bool)
    current_correct = np.asarray(current_correct, dtype=bool)
    rows = len(candidate_correct)
    wins = int(np.sum(candidate_correct & ~current_correct))
    losses = int(np.sum(~candidate_correct & current_correct))
    discordant = wins + losses
    gain = (wins - losses) / rows
    # The interval and the detectable effect use the unconditional standard error of the paired difference.
    se = max(discordant / rows - gain**2, 0.0) ** 0.5 / rows**0.5
    z_alpha = float(norm.ppf(1 - alpha))
    if discordant == 0:
        p_value = 1.0
    elif discordant < EXACT_MCNEMAR_BELOW:
        p_value = float(binomtest(wins, discordant, 0.5, alternative="greater").pvalue)
    else:
        p_value = float(norm.sf((wins - losses - 1) / discordant**0.5))
    test = "mcnemar_exact" if 0 < discordant < EXACT_MCNEMAR_BELOW else "mcnemar"
    return PairedTest(test, gain, se, p_value, gain - z_alpha * se, gain + z_alpha * se,
                      min_detectable_effect(se, alpha), alpha)


def paired_bootstrap(statistic: Callable[[Any], Any], rows: int, *, min_delta: float, alpha: float,
                     seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> PairedTest:
    """The paired bootstrap of a gain. ``statistic(weights)`` maps a (resamples, rows) array of how often each row
    was drawn to the candidate's gain on each resample; all-ones weights give the observed gain. Both models see
    the same resampled rows, which is what makes it paired."""
    import numpy as np

    rng = np.random.default_rng(seed)
    observed = float(np.asarray(statistic(np.ones((1, rows))))[0])
    gains = np.concatenate([np.asarray(statistic(_resample_weights(rng, chunk, rows)), dtype=float)
                            for chunk in _chunks(resamples, rows)])
    gains = gains[np.isfinite(gains)]
    if len(gains) < 2:
        from ..errors import ValidationError

        raise ValidationError(f"The holdout of {rows} rows is too small to resample the metric.", field="data")
    p_value = float((1 + np.sum(gains <= min_delta)) / (len(gains) + 1))
    low, high = np.quantile(gains, [alpha, 1 - alpha])
    se = float(np.std(gains, ddof=1))
    return PairedTest("paired_bootstrap", observed, se, p_value, float(low), float(high),
                      min_detectable_effect(se, alpha), alpha)


def _resample_weights(rng: Any, resamples: int, rows: int) -> Any:
    """How often each row is drawn in each of ``resamples`` draws of ``rows`` rows with replacement (multinomial
    counts), by counting drawn indices: about 6 times faster than ``rng.multinomial`` on 100,000 rows."""
    import numpy as np

    drawn = rng.integers(0, rows, size=(resamples, rows)) + (np.arange(resamples) * rows)[:, None]
    return np.bincount(drawn.ravel(), minlength=resamples * rows).reshape(resamples, rows).astype(float)


def _chunks(resamples: int, rows: int, cells: int = 2_000_000) -> list[int]:
    """Resamples per batch, so that one batch's index matrix stays near ``cells`` entries."""
    size = max(1, cells // max(rows, 1))
    return [min(size, resamples - start) for start in range(0, resamples, size)]
