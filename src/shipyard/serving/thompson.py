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
