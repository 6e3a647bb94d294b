"""The gate's paired tests: DeLong against an independent O(n^2) reference and a hand-worked example, McNemar
against scipy's binomial test, and by simulation with known truth: on pairs of models that differ only by their
training seed, wrong promotions stay at alpha; a truly better model is promoted."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, binomtest, mannwhitneyu, norm

from shipyard.errors import ValidationError
from shipyard.models.paired_tests import delong, delong_covariance, mcnemar, min_detectable_effect, paired_bootstrap

ALPHA = 0.05
SIMULATIONS = 1000


def textbook_delong(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong, DeLong & Clarke-Pearson (1988) written out pairwise: psi(X, Y) = 1, 1/2 or 0 for every
    (positive, negative) pair; V10 and V01 are its row and column means; S = S10/m + S01/n."""
    positives, negatives = scores[:, truth == 1], scores[:, truth == 0]
    m, n = positives.shape[1], negatives.shape[1]
    psi = (positives[:, :, None] > negatives[:, None, :]) + 0.5 * (positives[:, :, None] == negatives[:, None, :])
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    aucs = psi.mean(axis=(1, 2))
    k = scores.shape[0]
    s10 = np.array([[np.sum((v10[r] - aucs[r]) * (v10[s] - aucs[s])) / (m - 1) for s in range(k)] for r in range(k)])
    s01 = np.array([[np.sum((v01[r] - aucs[r]) * (v01[s] - aucs[s])) / (n - 1) for s in range(k)] for r in range(k)])
    return aucs, s10 / m + s01 / n


def test_delong_matches_a_hand_worked_example() -> None:
    """3 positives scored (0.9, 0.8, 0.4) and 3 negatives (0.7, 0.4, 0.1) by one model.

    Pairs won: 0.9 and 0.8 beat all three negatives; 0.4 beats 0.1, ties 0.4, loses to 0.7: AUC = (3+3+1.5)/9
    = 5/6. V10 = (1, 1, 1/2), mean 5/6, S10 = ((1/6)^2 * 2 + (1/3)^2) / 2 = 1/12. V01 (share of positives above
    each negative) = (2/3, 5/6, 1), S01 = ((1/6)^2 + 0 + (1/6)^2) / 2 = 1/36. var = S10/3 + S01/3 = 1/27.
    """
    truth = np.array([1, 1, 1, 0, 0, 0])
    scores = np.array([[0.9, 0.8, 0.4, 0.7, 0.4, 0.1]])
    aucs, covariance = delong_covariance(truth, scores)
    assert aucs[0] == pytest.approx(5 / 6)
    assert covariance[0, 0] == pytest.approx(1 / 27)


def test_fast_delong_equals_the_pairwise_textbook_version_with_ties() -> None:
    rng = np.random.default_rng(7)
    truth = (rng.random(240) < 0.3).astype(int)
    shared = rng.normal(size=240) + truth
    scores = np.vstack([np.round(shared + rng.normal(scale=0.8, size=240), 1),  # rounding makes many ties
                        np.round(shared + rng.normal(scale=1.2, size=240), 1)])
    aucs, covariance = delong_covariance(truth, scores)
    reference_aucs, reference_covariance = textbook_delong(truth, scores)
    np.testing.assert_allclose(aucs, reference_aucs, rtol=1e-12)
    np.testing.assert_allclose(covariance, reference_covariance, rtol=1e-10)
    u = mannwhitneyu(scores[0, truth == 1], scores[0, truth == 0]).statistic  # AUC is U / (m n)
    assert aucs[0] == pytest.approx(u / (truth.sum() * (240 - truth.sum())))
    outcome = delong(truth, scores[0], scores[1], min_delta=0.01, alpha=ALPHA)
    se = np.sqrt(reference_covariance[0, 0] + reference_covariance[1, 1] - 2 * reference_covariance[0, 1])
    assert outcome.se == pytest.approx(se)
    assert outcome.p_value == pytest.approx(norm.sf((reference_aucs[0] - reference_aucs[1] - 0.01) / se))
    assert outcome.ci_low == pytest.approx(outcome.gain - norm.ppf(0.95) * se)
    assert outcome.min_detectable_effect == pytest.approx((norm.ppf(0.95) + norm.ppf(0.8)) * se)


def test_delong_needs_both_classes() -> None:
    with pytest.raises(ValidationError, match="1 positive"):
        delong(np.array([1, 0, 0, 0]), np.arange(4.0), np.arange(4.0), min_delta=0, alpha=ALPHA)


def test_identical_models_have_no_gain_and_are_held_back() -> None:
    truth = np.array([0, 1, 0, 1, 1, 0])
    scores = np.array([0.1, 0.9, 0.3, 0.6, 0.8, 0.2])
    outcome = delong(truth, scores, scores, min_delta=0, alpha=ALPHA)
    assert outcome.gain == 0 and outcome.se == 0 and outcome.p_value == 1.0 and not outcome.passed


def test_mcnemar_is_the_exact_binomial_test_on_few_discordant_rows_and_normal_on_many() -> None:
    current = np.array([True] * 50 + [False] * 12 + [True] * 3 + [False] * 35)
    candidate = np.array([True] * 50 + [True] * 12 + [False] * 3 + [False] * 35)  # wins 12, loses 3
    few = mcnemar(candidate, current, alpha=ALPHA)
    assert few.test == "mcnemar_exact"
    assert few.p_value == pytest.approx(binomtest(12, 15, 0.5, alternative="greater").pvalue)
    assert few.gain == pytest.approx(0.09)
    many = mcnemar(np.tile(candidate, 3), np.tile(current, 3), alpha=ALPHA)  # wins 36, loses 9
    assert many.test == "mcnemar"
    assert many.p_value == pytest.approx(norm.sf((36 - 9 - 1) / np.sqrt(45)))


def test_the_paired_bootstrap_is_seeded_and_centred_on_the_observed_gain() -> None:
    rng = np.random.default_rng(3)
    loss_current, loss_candidate = rng.exponential(size=400), rng.exponential(size=400) * 0.8

    def gain(weights: np.ndarray) -> np.ndarray:
        return weights @ (loss_current - loss_candidate) / 400

    first = paired_bootstrap(gain, 400, min_delta=0.0, alpha=ALPHA, seed=1)
    again = paired_bootstrap(gain, 400, min_delta=0.0, alpha=ALPHA, seed=1)
    assert first == again
    assert first.gain == pytest.approx(np.mean(loss_current - loss_candidate))
    assert first.ci_low < first.gain < first.ci_high
    assert first.se == pytest.approx(np.std(loss_current - loss_candidate, ddof=1) / 20, rel=0.1)


def _seed_retrains(rng: np.random.Generator, rows: int, noise_candidate: float = 1.0,
                   noise_current: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One holdout and two models' scores: both see the same signal, each adds its own seed's noise. With equal
    noise the two models are draws of one distribution (a retrain with another seed): neither is better."""
    signal = rng.normal(size=rows)
    truth = (rng.random(rows) < 1 / (1 + np.exp(-(2 * signal - 1)))).astype(int)
    return (truth, signal + noise_candidate * rng.normal(size=rows), signal + noise_current * rng.normal(size=rows))


def _tolerated(alpha: float, runs: int) -> float:
    """The largest false-promotion rate a correct test shows in ``runs`` runs but once in a thousand suites."""
    return float(binom.ppf(0.999, runs, alpha) / runs)


def test_delong_on_seed_only_retrains_promotes_wrongly_at_most_alpha_and_finds_a_better_model() -> None:
    rng = np.random.default_rng(2026)
    same = [_seed_retrains(rng, 1000) for _ in range(SIMULATIONS)]
    outcomes = [delong(truth, a, b, min_delta=0.0, alpha=ALPHA) for truth, a, b in same]
    false_promotions = np.mean([outcome.passed for outcome in outcomes])
    point_rule = np.mean([outcome.gain >= 0 for outcome in outcomes])  # the old gate: any point gain wins
    assert false_promotions <= _tolerated(ALPHA, SIMULATIONS), false_promotions
    assert point_rule > 0.4  # the old rule promoted about half of these coin flips
    better = [_seed_retrains(rng, 1000, noise_candidate=0.6) for _ in range(200)]
    power = np.mean([delong(truth, a, b, min_delta=0.0, alpha=ALPHA).passed for truth, a, b in better])
    assert power >= 0.9, power
    print(f"DeLong: false promotions {false_promotions:.3f} (old point rule {point_rule:.3f}); power {power:.3f}")


def test_delong_with_a_margin_holds_its_level_at_the_margin() -> None:
    """Binormal scores with a shared part: AUC = Phi(mu / 2) exactly, so the candidate's true gain is exactly
    ``min_delta``: the boundary of the null, where a one-sided test must still promote at most alpha."""
    rng = np.random.default_rng(11)
    min_delta, auc_current = 0.02, 0.75
    mu_current, mu_candidate = 2 * norm.ppf(auc_current), 2 * norm.ppf(auc_current + min_delta)
    passed = []
    for _ in range(SIMULATIONS):
        truth = (rng.random(800) < 0.3).astype(int)
        shared = rng.normal(size=800)
        candidate = mu_candidate * truth + shared + rng.normal(size=800)
        current = mu_current * truth + shared + rng.normal(size=800)
        passed.append(delong(truth, candidate, current, min_delta=min_delta, alpha=ALPHA).passed)
    rate = float(np.mean(passed))
    assert rate <= _tolerated(ALPHA, SIMULATIONS), rate
    print(f"DeLong at the margin: promotions {rate:.3f}")


def test_mcnemar_on_seed_only_retrains_promotes_wrongly_at_most_alpha() -> None:
    rng = np.random.default_rng(5)
    passed = []
    for _ in range(SIMULATIONS):
        truth, a, b = _seed_retrains(rng, 1000)
        passed.append(mcnemar((a > 0.5) == truth, (b > 0.5) == truth, alpha=ALPHA).passed)
    rate = float(np.mean(passed))
    assert rate <= _tolerated(ALPHA, SIMULATIONS), rate
    truth, a, b = _seed_retrains(rng, 4000, noise_candidate=0.3)
    assert mcnemar((a > 0.5) == truth, (b > 0.5) == truth, alpha=ALPHA).passed
    print(f"McNemar: false promotions {rate:.3f}")


def test_the_bootstrap_on_seed_only_retrains_promotes_wrongly_at_most_alpha() -> None:
    """Log loss of the two models' probabilities (through the same sigmoid), on 300 paired bootstraps."""
    rng = np.random.default_rng(8)
    runs, passed = 300, []
    for index in range(runs):
        truth, a, b = _seed_retrains(rng, 400)
        loss = [-np.log(np.where(truth == 1, 1 / (1 + np.exp(-s)), 1 - 1 / (1 + np.exp(-s)))) for s in (a, b)]

        def gain(weights: np.ndarray, loss: list[np.ndarray] = loss) -> np.ndarray:
            return weights @ (loss[1] - loss[0]) / 400

        passed.append(paired_bootstrap(gain, 400, min_delta=0.0, alpha=ALPHA, seed=index, resamples=1000).passed)
    rate = float(np.mean(passed))
    assert rate <= _tolerated(ALPHA, runs), rate
    print(f"paired bootstrap: false promotions {rate:.3f}")


def test_the_detectable_effect_shrinks_with_the_root_of_the_rows() -> None:
    rng = np.random.default_rng(4)
    small = delong(*_seed_retrains(rng, 500), min_delta=0.0, alpha=ALPHA).min_detectable_effect
    large = delong(*_seed_retrains(rng, 8000), min_delta=0.0, alpha=ALPHA).min_detectable_effect
    assert small / large == pytest.approx(4, rel=0.25)
    assert min_detectable_effect(0.01, 0.05) == pytest.approx(0.01 * (1.644854 + 0.841621), rel=1e-6)
