"""Thompson sampling's routing probabilities, computed rather than sampled, so every decision knows its propensity.

Thompson sampling draws one value from each variant's posterior and sends the request to the largest. The
chance that variant ``k`` wins that draw is ``pi_k = integral f_k(x) * prod_{j != k} F_j(x) dx``; routing a
request to ``k`` with probability ``pi_k`` is the same policy, and it tells us the probability of each
decision exactly, which inverse propensity weighting needs (a per-request posterior draw would only tell us
which variant won, not how likely it was to).

The posteriors are Beta: a reward in [0, 1] (1 for a correct prediction) adds ``r`` to alpha and ``1 - r``
to beta over a Beta(1, 1) prior; a request whose label has not arrived adds nothing (pending is not failure).
The integral is computed on a grid that gives each posterior its own 150 points around its mass (mean +-12
standard deviations) plus 100 spread over [0, 1], so a posterior narrowed by 100,000 labels is resolved as
well as the flat prior; the densities are normalized on that grid (no gamma function needed), which keeps the
error of ``pi`` near 1e-4 (checked against scipy's quadrature in the tests).

The routing probability is floored: ``p_k = floor + (1 - K * floor) * pi_k``, so every variant keeps at least
``floor`` of the traffic (default :data:`DEFAULT_FLOOR`, 2%). The floor bounds the importance weights at
``1 / floor`` (50), which keeps inverse-propensity estimates of a losing variant finite and their intervals
honest, and keeps watching a variant that might improve (a moved alias); it costs ``floor * gap`` of reward
per request. The server logs ``p_k`` of the chosen variant with each prediction.

Pure: values in, values out; numpy only (serving has no scipy). Leading dimensions broadcast, so the
simulation in ``benchmarks/bench_bandit.py`` computes many runs at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_FLOOR = 0.02
PRIOR = (1.0, 1.0)  # Beta(1, 1): every accuracy equally likely before the first label
_OWN_POINTS = 150
_SPREAD_POINTS = 100
_WIDTH_SD = 12.0
_EDGE = 1e-12


def thompson_probabilities(successes: Any, failures: Any) -> Any:
    """The probability that each variant's posterior draw is the largest, shape ``(..., K)``.

    Args:
        successes: the sum of rewards per variant, shape ``(..., K)``.
        failures: the sum of ``1 - reward`` per variant, same shape.
    """
    import numpy as np

    alpha = np.asarray(successes, dtype="float64") + PRIOR[0]
    beta = np.asarray(failures, dtype="float64") + PRIOR[1]
    if alpha.shape != beta.shape or alpha.ndim == 0:
        raise ValueError("successes and failures must have the same shape (..., variants)")
    arms = alpha.shape[-1]
    if arms == 1:
        return np.ones_like(alpha)
    grid = _grid(alpha, beta)  # (..., G)
    x = grid[..., None, :]  # (..., 1, G)
    log_density = (alpha[..., None] - 1) * np.log(x) + (beta[..., None] - 1) * np.log1p(-x)  # (..., K, G)
    log_density -= log_density.max(axis=-1, keepdims=True)
    density = np.exp(log_density)
    steps = np.diff(grid, axis=-1)[..., None, :]  # (..., 1, G-1)
    pieces = (density[..., 1:] + density[..., :-1]) / 2 * steps
    mass = pieces.sum(axis=-1, keepdims=True)
    density = density / mass
    cumulative = np.concatenate([np.zeros_like(mass), np.cumsum(pieces / mass, axis=-1)], axis=-1)
    cumulative = np.clip(cumulative, 0.0, 1.0)
    # prod_{j != k} F_j = prod_j F_j / F_k, computed in logs so a zero F_k (left of k's mass) is harmless
    log_cdf = np.log(np.maximum(cumulative, 1e-300))
    others = np.exp(log_cdf.sum(axis=-2, keepdims=True) - log_cdf)
    integrand = density * others
    wins = ((integrand[..., 1:] + integrand[..., :-1]) / 2 * steps).sum(axis=-1)
    wins = np.clip(wins, 0.0, None)
    return wins / wins.sum(axis=-1, keepdims=True)


def floored(probabilities: Any, floor: float = DEFAULT_FLOOR) -> Any:
    """``floor + (1 - K * floor) * pi``: every variant keeps ``floor`` of the traffic; still sums to 1."""
    import numpy as np

    chances = np.asarray(probabilities, dtype="float64")
    arms = chances.shape[-1]
    if not 0 <= floor * arms < 1:
        raise ValueError(f"the floor {floor} times {arms} variants must be below 1")
    return floor + (1 - arms * floor) * chances


def routing_probabilities(successes: Any, failures: Any, floor: float = DEFAULT_FLOOR) -> Any:
    """What a ``routing: thompson`` deployment sends to each variant: the floored Thompson probabilities."""
    return floored(thompson_probabilities(successes, failures), floor)


def _grid(alpha: Any, beta: Any) -> Any:
    """Sorted points in (0, 1): each posterior's own points around its mass, plus an even spread."""
    import numpy as np

    total = alpha + beta
    mean = alpha / total
    sd = np.sqrt(alpha * beta / (total * total * (total + 1)))
    low = np.clip(mean - _WIDTH_SD * sd, _EDGE, 1 - _EDGE)
    high = np.clip(mean + _WIDTH_SD * sd, _EDGE, 1 - _EDGE)
    unit = np.linspace(0.0, 1.0, _OWN_POINTS)
    own = low[..., None] + (high - low)[..., None] * unit  # (..., K, P)
    own = own.reshape(*own.shape[:-2], -1)
    spread = np.broadcast_to(np.linspace(_EDGE, 1 - _EDGE, _SPREAD_POINTS), (*own.shape[:-1], _SPREAD_POINTS))
    return np.sort(np.concatenate([own, spread], axis=-1), axis=-1)


# --- provisional evidence: the scores of predictions whose labels have not arrived ---------------------------
DEFAULT_CALIBRATION_DOUBT = 0.02  # tau: how far a variant's stated P(correct) may be off on average, unlabelled
_WIDEN_BEYOND = 2.0  # standard errors of the labels' bias estimate it must exceed to widen the prior


def scored_counts(successes: Any, failures: Any, scored: Any, scored_expected: Any, scored_squares: Any,
                  labelled: Any, labelled_expected: Any, labelled_reward: Any,
                  doubt: float = DEFAULT_CALIBRATION_DOUBT) -> tuple[Any, Any]:
    """Beta counts of each variant's accuracy from every prediction's calibrated score and the labels arrived.

    A label 24 hours late leaves a label-only posterior blind for a day, yet every prediction already carries
    the model's calibrated P(correct) ``q`` (calibrated on the gate's labelled reference), whose mean is the
    variant's accuracy when the calibration holds. Scores standing in for an outcome not yet seen are
    *surrogate outcomes* (Prentice 1989; Athey, Chetty, Imbens & Kang 2019, "The surrogate index"); feeding
    them to a bandit whose rewards are delayed follows Grover et al. 2018 ("Best arm identification in
    multi-armed bandits with delayed feedback", AISTATS: partial feedback moves the arm before its reward
    comes) and Anderer, Bastani & Silberholz 2022 ("Adaptive clinical trial designs with surrogates: when
    should we bother?", Management Science). What keeps a miscalibrated model from steering the bandit is
    *prediction-powered inference*'s rectifier (Angelopoulos, Bates, Fannjiang, Jordan & Zrnic 2023, Science):
    on the predictions whose labels did arrive, the mean of ``q - r`` is the scores' bias ``b``.

    The estimate of accuracy ``a`` over ``n`` scored predictions, ``m`` of them labelled, is PPI's
    ``a_hat = mean(q over n) - b_hat``. The bias has a prior ``b ~ N(0, doubt^2)`` (the calibration error the
    gate's reference may have missed, or a drift added since), so ``b_hat = sum_labelled (q - r) / (m + m0)``
    with ``m0 = v_d / doubt^2``, ``v_d = mean q (1 - q)`` (the spread of ``r - q`` when calibrated), and
    ``var(a_hat) = v_q / n + v_d / (m + m0)`` (``v_q`` the variance of ``q``; ``r - q`` and ``q`` are
    uncorrelated under calibration). The Beta counts carry that mean and variance:
    ``n_eff = a_hat (1 - a_hat) / var(a_hat)``. Before any label ``var >= doubt^2``, so the scores weigh at most
    ``a (1 - a) / doubt^2`` labels (225 at 0.9 and doubt 0.02) however much traffic is pending: a miscalibrated
    model costs at most that many wrong pseudo-labels until its labels come, and then the rectifier learns its
    bias: the prior's variance is widened to ``mean(q - r)^2 - 4 v_d / m`` when the labels show a bias beyond
    ``doubt`` by more than two standard errors (empirical Bayes by the method of moments, conservatively), so a
    large miscalibration is not shrunk away. With no pending prediction and ``m0 -> 0`` this is the label-only
    posterior (``v_q + v_d`` is the variance of a Bernoulli reward). A label moves its prediction from pending to
    labelled (the caller adds it to the labelled sums once; the scored sums already hold it), so the evidence of a
    prediction counts once: provisional while it waits, real when its label joins. Labels of predictions that
    carried no score (logged before the deployment scored its answers) add to the counts as they are.

    Args:
        successes, failures: the labelled sums per variant (all labels, scored or not).
        scored, scored_expected, scored_squares: over every prediction of the variant that carried a score,
            their count, the sum of their calibrated P(correct) and the sum of its squares.
        labelled, labelled_expected, labelled_reward: over those whose label arrived, their count, the sum of
            their calibrated P(correct) and the sum of their rewards.
        doubt: ``tau`` above; 0 turns the scores off (label-only counts).

    Returns:
        ``(successes, failures)`` for :func:`routing_probabilities`.
    """
    import numpy as np

    def array(value: Any) -> Any:
        return np.asarray(value, dtype="float64")

    successes, failures, scored = array(successes), array(failures), array(scored)
    if doubt <= 0:
        return successes, failures
    labelled = array(labelled)
    total = np.maximum(scored, 1.0)
    mean = array(scored_expected) / total
    spread_q = np.maximum(array(scored_squares) / total - mean * mean, 0.0)  # v_q
    spread_d = np.clip(mean - array(scored_squares) / total, 1e-4, 0.25)  # v_d = mean q (1 - q)
    gap = array(labelled_expected) - array(labelled_reward)  # sum (q - r) over the labelled
    # the prior's variance widened to what the labels show beyond two standard errors (method of moments): a
    # miscalibration larger than the doubt is corrected at the pace of the labels instead of being shrunk away
    seen = np.maximum(labelled, 1.0)
    doubt_squared = np.maximum(doubt * doubt, (gap / seen) ** 2 - _WIDEN_BEYOND ** 2 * spread_d / seen)
    prior = spread_d / doubt_squared  # m0
    bias = gap / (labelled + prior)
    accuracy = np.clip(mean - bias, 1e-3, 1 - 1e-3)
    variance = spread_q / total + spread_d / (labelled + prior)
    size = accuracy * (1 - accuracy) / variance
    # labels of predictions that carried no score (logged before the deployment scored them) are evidence apart
    unscored_successes = np.maximum(successes - array(labelled_reward), 0.0)
    unscored_failures = np.maximum(failures - (labelled - array(labelled_reward)), 0.0)
    has_scores = scored > 0
    return (np.where(has_scores, accuracy * size + unscored_successes, successes),
            np.where(has_scores, (1 - accuracy) * size + unscored_failures, failures))


def posterior_counts(arms: Sequence[Any | None], doubt: float = DEFAULT_CALIBRATION_DOUBT) -> tuple[Any, Any]:
    """The Beta counts of each variant from its sums in the store (a ``models/bandits.py`` ``ArmState``, or None
    for a variant with neither label nor score yet): :func:`scored_counts` where its predictions carried scores,
    its labels alone where they did not."""
    def column(name: str) -> list[float]:
        return [float(getattr(arm, name)) if arm is not None else 0.0 for arm in arms]

    return scored_counts(column("successes"), column("failures"), column("scored"), column("scored_expected"),
                         column("scored_squares"), column("labelled_scored"), column("labelled_expected"),
                         column("labelled_scored_reward"), doubt)
