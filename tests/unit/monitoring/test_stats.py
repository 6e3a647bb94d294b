"""Monitoring statistics: TESTING.md's golden values, properties, and cross-checks against scipy and sklearn.

Golden values are scipy 1.17's (TESTING.md, "Statistics: reference values"); the quality metrics are checked
against scikit-learn, which monitoring itself must not import.
"""

from __future__ import annotations

import math
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings, strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.special import betaln
from sklearn import metrics

from shipyard.errors import ValidationError
from shipyard.models.profile import numeric_profile, prediction_profile
from shipyard.monitoring import stats

REFERENCE = [100, 200, 300, 400]
CURRENT = [150, 200, 250, 400]
WELCH_A = [12.1, 11.8, 12.6, 13.0, 12.2, 11.9, 12.4, 12.8]
WELCH_B = [12.9, 13.4, 12.7, 13.8, 13.1, 13.6, 12.8, 13.3, 13.9, 13.0]

counts = st.lists(st.integers(0, 1000), min_size=1, max_size=12).filter(lambda c: sum(c) > 0)
count_pairs = st.integers(1, 12).flatmap(
    lambda k: st.tuples(*[st.lists(st.integers(0, 1000), min_size=k, max_size=k).filter(lambda c: sum(c) > 0)] * 2))
fast = settings(max_examples=60, deadline=None, database=None)  # nothing written into the working tree


def close(actual: float, expected: float, rel: float = 1e-5) -> bool:
    return math.isclose(actual, expected, rel_tol=rel)


def agrees(actual: float, stated: str) -> bool:
    """``actual`` rounds to the value TESTING.md states, to the digits it states (half a unit in the last one)."""
    exponent = Decimal(stated).as_tuple().exponent
    assert isinstance(exponent, int)
    return abs(actual - float(stated)) <= 0.5 * 10.0**exponent * (1 + 1e-9)


# ----------------------------------------------------------------------------------------------- golden


def test_psi_golden() -> None:
    assert agrees(stats.psi(REFERENCE, CURRENT), "0.029389")


def test_ks_exact_golden() -> None:
    result = stats.ks_exact(np.linspace(0, 1, 1001), np.linspace(0.1, 1.1, 1001))
    assert agrees(result.statistic, "0.100899") and agrees(result.pvalue, "7.41137e-05")


def test_chi2_homogeneity_golden() -> None:
    result = stats.chi2_homogeneity(REFERENCE, CURRENT)
    assert agrees(result.statistic, "14.545455") and result.dof == 3
    assert agrees(result.pvalue, "0.00224933")


def test_jensen_shannon_golden_in_both_bases() -> None:
    assert agrees(stats.jensen_shannon(REFERENCE, CURRENT), "0.072615")
    assert agrees(stats.jensen_shannon(REFERENCE, CURRENT, base=math.e), "0.060456")


def test_two_proportion_ztest_golden() -> None:
    result = stats.two_proportion_ztest(200, 2000, 250, 2000)
    assert agrees(result.statistic, "2.501955") and agrees(result.pvalue, "0.0123509")
    assert close(result.difference, 0.025)


def test_welch_golden_from_values_and_from_moments() -> None:
    result = stats.welch_ttest(WELCH_A, WELCH_B)
    assert agrees(result.statistic, "4.473890") and agrees(result.pvalue, "0.000445141")
    assert agrees(result.df, "15.0112") and close(result.difference, 0.9)
    a, b = np.array(WELCH_A), np.array(WELCH_B)
    moments = stats.welch_from_moments(a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size)
    assert close(moments.statistic, result.statistic, 1e-12) and close(moments.difference, result.difference, 1e-12)
    assert close(moments.pvalue, result.pvalue, 1e-12) and close(moments.df, result.df, 1e-12)


def test_prob_b_beats_a_golden() -> None:
    assert agrees(stats.prob_b_beats_a(200, 2000, 250, 2000), "0.993814")


def test_required_sample_size_matches_the_textbook_value() -> None:
    # Fleiss without continuity correction: 5% vs 10%, alpha 0.05 two-sided, power 0.8 -> 435 per arm.
    assert stats.required_sample_size(0.05, 0.10) == 435
    assert stats.required_sample_size(0.10, 0.05) == 435


def test_wilson_textbook_values() -> None:
    for (successes, n), stated in {(0, 10): ("0", "0.277533"), (5, 10): ("0.236593", "0.763407")}.items():
        interval = stats.wilson_interval(successes, n)
        assert agrees(interval.low, stated[0]) and agrees(interval.high, stated[1])


# ---------------------------------------------------------------------------------------------- binning


@pytest.mark.parametrize("seed", [0, 1])
def test_decile_edges_and_counts_match_the_stored_profile(seed: int) -> None:
    rng = np.random.default_rng(seed)
    training = np.concatenate([rng.normal(50, 10, 3000), np.full(800, 42.0), [np.nan, np.inf]])  # ties
    reference = numeric_profile(training)
    assert stats.quantile_edges(training) == reference["decile_edges"]
    live = np.concatenate([rng.normal(55, 12, 2000), [-1e9, 1e9, np.nan, -np.inf, 42.0]])
    assert stats.open_bin_counts(live, reference["decile_edges"]) == numeric_profile(live, reference)["decile_counts"]


def test_open_bins_put_edge_values_below_and_outliers_outside() -> None:
    assert stats.open_bin_counts([1.0, 1.5, 2.0, 2.5, -50, 50, np.nan], [1.0, 2.0]) == [2, 2, 2]
    assert stats.open_bin_counts([], [1.0]) == [0, 0]


@pytest.mark.parametrize("edges", [[2.0, 1.0], [1.0, 1.0], [0.0, np.nan]])
def test_open_bins_refuse_unordered_edges(edges: list[float]) -> None:
    with pytest.raises(ValidationError, match="strictly increasing"):
        stats.open_bin_counts([1.0], edges)


def test_quantile_edges_need_values() -> None:
    with pytest.raises(ValidationError, match="no finite values"):
        stats.quantile_edges([np.nan, np.inf])


def test_align_levels_adds_new_categories_with_zero_reference_counts() -> None:
    aligned = stats.align_levels({"a": 5, "b": 3}, {"b": 1, "c": 4})
    assert aligned == stats.AlignedCounts(("a", "b", "c"), (5, 3, 0), (0, 1, 4))
    assert stats.psi(aligned.reference, aligned.current) > 0.25


# ------------------------------------------------------------------------------------------------ drift


@fast
@given(count_pairs)
def test_psi_is_non_negative_and_zero_for_the_same_shares(pair: tuple[list[int], list[int]]) -> None:
    reference, current = pair
    assert stats.psi(reference, current) >= 0
    assert stats.psi(reference, [3 * c for c in reference]) == pytest.approx(0.0, abs=1e-12)


def test_psi_floors_empty_bins_at_epsilon() -> None:
    value = stats.psi([50, 50], [100, 0], epsilon=1e-4)
    expected = (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert value == pytest.approx(expected, rel=1e-12)
    assert stats.psi([0, 50, 50], [0, 50, 50]) == 0.0  # bins empty in both contribute nothing


@fast
@given(count_pairs, st.sampled_from([2, math.e, 10]))
def test_jensen_shannon_is_symmetric_bounded_and_equals_scipy(pair: tuple[list[int], list[int]], base: float) -> None:
    reference, current = pair
    value = stats.jensen_shannon(reference, current, base=base)
    assert value == pytest.approx(stats.jensen_shannon(current, reference, base=base), abs=1e-12)
    assert 0 <= value <= math.sqrt(math.log(2) / math.log(base)) + 1e-12
    expected = jensenshannon(reference, current, base=base)
    assert value == pytest.approx(0.0 if np.isnan(expected) else expected, abs=1e-7)
    assert stats.jensen_shannon(reference, reference, base=base) == 0.0


@fast
@given(count_pairs)
def test_binned_ks_and_chi2_stay_in_range(pair: tuple[list[int], list[int]]) -> None:
    ks = stats.ks_from_binned(*pair)
    assert 0 <= ks.statistic <= 1 and 0 <= ks.pvalue <= 1
    chi2 = stats.chi2_homogeneity(*pair)
    assert chi2.statistic >= 0 and 0 <= chi2.pvalue <= 1


@fast
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=60), st.lists(st.floats(-100, 100), min_size=1, max_size=60),
       st.lists(st.floats(-100, 100), min_size=1, max_size=8, unique=True))
def test_binned_ks_never_exceeds_the_exact_statistic(a: list[float], b: list[float], edges: list[float]) -> None:
    inner = sorted(edges)
    binned = stats.ks_from_binned(stats.open_bin_counts(a, inner), stats.open_bin_counts(b, inner))
    assert binned.statistic <= stats.ks_exact(a, b).statistic + 1e-12


def test_binned_ks_is_the_asymptotic_ks_when_every_value_has_its_own_edge() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 40, 3000), rng.integers(2, 42, 2500)
    edges = np.arange(0, 42, dtype="float64").tolist()  # (v-1, v] holds exactly the integer v
    binned = stats.ks_from_binned(stats.open_bin_counts(a, edges), stats.open_bin_counts(b, edges))
    expected = scipy.stats.ks_2samp(a, b, method="asymp")
    assert binned.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert binned.pvalue == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(("shift", "drifted"), [(0.0, False), (0.1, True)])
def test_binned_ks_on_percentile_bins_lands_close_to_the_exact_test(shift: float, drifted: bool) -> None:
    rng = np.random.default_rng(11)
    reference, current = rng.normal(0, 1, 50_000), rng.normal(shift, 1, 20_000)
    edges = stats.quantile_edges(reference, 100)
    binned = stats.ks_from_binned(stats.open_bin_counts(reference, edges), stats.open_bin_counts(current, edges))
    exact = stats.ks_exact(reference, current)
    assert binned.statistic <= exact.statistic and exact.statistic - binned.statistic < 0.005
    assert (binned.pvalue < 0.05) == (exact.pvalue < 0.05) == drifted


def test_chi2_drops_categories_empty_on_both_sides_and_matches_scipy() -> None:
    with_empty = stats.chi2_homogeneity([100, 0, 200, 300, 400], [150, 0, 200, 250, 400])
    assert with_empty == stats.chi2_homogeneity(REFERENCE, CURRENT)
    rng = np.random.default_rng(5)
    table = rng.integers(5, 500, size=(2, 6))
    expected = scipy.stats.chi2_contingency(table, correction=False)
    result = stats.chi2_homogeneity(table[0], table[1])
    assert result.statistic == pytest.approx(expected.statistic) and result.dof == expected.dof
    assert stats.chi2_homogeneity([0, 7, 0], [0, 3, 0]) == stats.Chi2Result(0.0, 1.0, 0)


def test_chi2_on_two_levels_is_the_squared_two_proportion_z() -> None:
    z = stats.two_proportion_ztest(200, 2000, 250, 2000)
    chi2 = stats.chi2_homogeneity([200, 1800], [250, 1750])
    assert chi2.statistic == pytest.approx(z.statistic**2, rel=1e-12)
    assert chi2.pvalue == pytest.approx(z.pvalue, rel=1e-9)


@pytest.mark.parametrize("test", [stats.psi, stats.ks_from_binned, stats.chi2_homogeneity, stats.jensen_shannon])
def test_an_empty_current_window_is_refused_not_nan(test: object) -> None:
    with pytest.raises(ValidationError, match="current window is empty"):
        test(REFERENCE, [0, 0, 0, 0])  # type: ignore[operator]
    with pytest.raises(ValidationError, match="differ in length"):
        test(REFERENCE, [1, 2, 3])  # type: ignore[operator]
    with pytest.raises(ValidationError, match="non-negative"):
        test(REFERENCE, [1, -2, 3, 4])  # type: ignore[operator]


def test_ks_exact_drops_nan_and_refuses_an_empty_side() -> None:
    a, b = [0.1, 0.5, 0.9, np.nan], [0.2, 0.6, np.nan]
    assert stats.ks_exact(a, b) == stats.ks_exact([0.1, 0.5, 0.9], [0.2, 0.6])
    with pytest.raises(ValidationError, match="empty"):
        stats.ks_exact(a, [np.nan])


@pytest.mark.parametrize(("kind", "n_reference", "n_current", "expected"), [
    ("numeric", 50_000, 500, "ks"),
    ("numeric", 50_000, 5_000, "psi"),
    ("numeric", 1_500, 1_500, "ks"),  # effective size 750: the reference alone would have said large
    ("categorical", 50_000, 800, "chi2"),
    ("categorical", 50_000, 20_000, "jensen_shannon"),
])
def test_choose_drift_test_by_kind_and_effective_size(kind: str, n_reference: int, n_current: int,
                                                      expected: str) -> None:
    assert stats.choose_drift_test(kind, n_reference, n_current) == expected


def test_choose_drift_test_rejects_unknown_kinds_and_empty_samples() -> None:
    with pytest.raises(ValidationError, match="'numeric' or 'categorical'"):
        stats.choose_drift_test("datetime", 10, 10)
    with pytest.raises(ValidationError, match="at least one value"):
        stats.choose_drift_test("numeric", 10, 0)


# -------------------------------------------------------------------------------------------------- A/B


@fast
@given(st.integers(1, 5000), st.integers(1, 5000), st.data())
def test_ztest_p_in_range_and_antisymmetric(n_a: int, n_b: int, data: st.DataObject) -> None:
    s_a, s_b = data.draw(st.integers(0, n_a)), data.draw(st.integers(0, n_b))
    forward, backward = stats.two_proportion_ztest(s_a, n_a, s_b, n_b), stats.two_proportion_ztest(s_b, n_b, s_a, n_a)
    assert 0 <= forward.pvalue <= 1
    assert forward.statistic == pytest.approx(-backward.statistic) and forward.pvalue == pytest.approx(backward.pvalue)


def test_ztest_with_nothing_to_distinguish_and_bad_counts() -> None:
    assert stats.two_proportion_ztest(0, 100, 0, 50) == stats.ZTestResult(0.0, 1.0, 0.0)
    with pytest.raises(ValidationError, match="0..10"):
        stats.two_proportion_ztest(11, 10, 1, 10)
    with pytest.raises(ValidationError, match="empty"):
        stats.two_proportion_ztest(0, 0, 1, 10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_matches_scipy_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(10, 2, 40), rng.normal(10.5, 4, 25)
    result, expected = stats.welch_ttest(a, b), scipy.stats.ttest_ind(b, a, equal_var=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-10)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.df == pytest.approx(expected.df, rel=1e-10)


def test_welch_drops_nan_and_refuses_what_it_cannot_test() -> None:
    assert stats.welch_ttest([*WELCH_A, np.nan], WELCH_B) == stats.welch_ttest(WELCH_A, WELCH_B)
    with pytest.raises(ValidationError, match="at least 2 values"):
        stats.welch_ttest([1.0], WELCH_B)
    with pytest.raises(ValidationError, match="constant"):
        stats.welch_ttest([1.0, 1.0], [2.0, 2.0, 2.0])


def test_prob_b_beats_a_agrees_with_the_closed_form_and_monte_carlo() -> None:
    s_a, n_a, s_b, n_b = 30, 400, 45, 420
    alpha_a, beta_a, alpha_b, beta_b = 1 + s_a, 1 + n_a - s_a, 1 + s_b, 1 + n_b - s_b
    closed = sum(math.exp(betaln(alpha_a + i, beta_a + beta_b) - math.log(beta_b + i) - betaln(1 + i, beta_b)
                          - betaln(alpha_a, beta_a)) for i in range(alpha_b))  # Evan Miller, integer parameters
    value = stats.prob_b_beats_a(s_a, n_a, s_b, n_b)
    assert value == pytest.approx(closed, abs=1e-9)
    rng = np.random.default_rng(42)
    draws = rng.beta(alpha_b, beta_b, 400_000) > rng.beta(alpha_a, beta_a, 400_000)
    assert value == pytest.approx(draws.mean(), abs=3e-3)


def test_prob_b_beats_a_is_symmetric_and_keeps_the_prior_without_data() -> None:
    assert stats.prob_b_beats_a(0, 0, 0, 0) == pytest.approx(0.5, abs=1e-9)
    assert stats.prob_b_beats_a(0, 0, 5, 5) == pytest.approx(6 / 7, abs=1e-9)  # Beta(1,1) vs Beta(6,1)
    forward, backward = stats.prob_b_beats_a(20, 100, 30, 110), stats.prob_b_beats_a(30, 110, 20, 100)
    assert forward + backward == pytest.approx(1.0, abs=1e-9)
    assert stats.prob_b_beats_a(2_000_000, 10_000_000, 2_001_000, 10_000_000) == pytest.approx(0.71190706, abs=1e-6)
    with pytest.raises(ValidationError, match="positive"):
        stats.prob_b_beats_a(1, 2, 1, 2, prior=(0.0, 1.0))


@fast
@given(st.integers(1, 10_000), st.data(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_contains_the_estimate_and_matches_scipy(n: int, data: st.DataObject, confidence: float) -> None:
    successes = data.draw(st.integers(0, n))
    interval = stats.wilson_interval(successes, n, confidence)
    assert 0 <= interval.low <= interval.estimate == successes / n <= interval.high <= 1
    expected = scipy.stats.binomtest(successes, n).proportion_ci(confidence, method="wilson")
    assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_mean_interval_matches_scipy_t_interval() -> None:
    values = np.random.default_rng(3).normal(5, 2, 30)
    interval = stats.mean_interval(values, 0.9)
    expected = scipy.stats.ttest_1samp(values, 0).confidence_interval(0.9)
    assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high), rel=1e-10)
    assert interval.estimate == pytest.approx(values.mean()) and interval.low < interval.estimate < interval.high
    with pytest.raises(ValidationError, match="at least 2 values"):
        stats.mean_interval([1.0, np.nan])


@pytest.mark.parametrize(("p_a", "p_b"), [(0.05, 0.10), (0.10, 0.125), (0.5, 0.45), (0.0, 0.02)])
def test_required_sample_size_is_the_smallest_n_reaching_the_power(p_a: float, p_b: float) -> None:
    z_alpha = scipy.stats.norm.isf(0.025)
    pooled = (p_a + p_b) / 2

    def power(n: int) -> float:
        null_spread = z_alpha * math.sqrt(2 * pooled * (1 - pooled))
        spread = math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))
        return float(scipy.stats.norm.cdf((abs(p_a - p_b) * math.sqrt(n) - null_spread) / spread))

    n = stats.required_sample_size(p_a, p_b)
    assert power(n) >= 0.8 > power(n - 1)
    assert stats.required_sample_size(p_a, p_b, power=0.9) > n


def test_required_sample_size_refuses_equal_rates() -> None:
    with pytest.raises(ValidationError, match="smallest difference"):
        stats.required_sample_size(0.1, 0.1)


# ----------------------------------------------------------------------------------------- confused model


def test_entropy_and_margin_on_hand_made_rows() -> None:
    assert stats.mean_normalised_entropy([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) == 0.0
    assert stats.mean_normalised_entropy([[1 / 3, 1 / 3, 1 / 3]]) == pytest.approx(1.0)
    assert stats.low_margin_share([[0.5, 0.45, 0.05], [0.8, 0.1, 0.1], [0.35, 0.3, 0.35]]) == pytest.approx(2 / 3)
    assert stats.low_margin_share([0.52, 0.9, 0.1, 0.46]) == 0.5  # binary vector: P(positive)


def test_entropy_matches_scipy_on_random_rows() -> None:
    rows = np.random.default_rng(9).dirichlet([0.5, 1, 2, 1], 500)
    expected = float(np.mean(scipy.stats.entropy(rows, axis=1)) / math.log(4))
    assert stats.mean_normalised_entropy(rows) == pytest.approx(expected, rel=1e-12)


def _histograms(probabilities: np.ndarray) -> list[list[int]]:
    """Per-class probability histograms exactly as the stored prediction profile keeps them."""
    classes = tuple(range(probabilities.shape[1]))
    profile = prediction_profile(probabilities.argmax(axis=1), probabilities, classes=classes)
    return [profile["probability_counts"][label] for label in profile["classes"]]


@pytest.mark.parametrize(("concentration", "entropy_bias"), [([1, 1, 1], 0.01), ([3, 3], 0.01),
                                                            ([0.2, 0.2, 0.2, 0.2], 0.1), ([0.3, 0.3], 0.1)])
def test_histogram_confusion_agrees_with_the_rows(concentration: list[float], entropy_bias: float) -> None:
    rows = np.random.default_rng(4).dirichlet(concentration, 5000)
    exact, binned = stats.confusion_score(rows), stats.confusion_from_histograms(_histograms(rows))
    assert binned.rows == exact.rows == 5000
    assert binned.low_confidence_share == pytest.approx(exact.low_confidence_share, abs=1e-12)
    # Midpoints overstate -p ln p near 0 and 1, so confident models read higher; unsure ones come out close.
    assert exact.mean_entropy - 0.01 <= binned.mean_entropy <= exact.mean_entropy + entropy_bias
    if len(concentration) == 2:  # binary: top probability below 0.55 is exactly a top-two margin below 0.1
        assert exact.low_confidence_share == stats.low_margin_share(rows, 0.1)


def test_histogram_entropy_of_a_perfectly_sure_binary_model_is_the_documented_floor() -> None:
    rows = np.tile([[1.0, 0.0], [0.0, 1.0]], (50, 1))
    assert stats.confusion_score(rows).mean_entropy == 0.0
    floor = (-0.025 * math.log(0.025) - 0.975 * math.log(0.975)) / math.log(2)  # both bins' midpoints
    assert stats.confusion_from_histograms(_histograms(rows)).mean_entropy == pytest.approx(floor)
    assert floor == pytest.approx(0.17, abs=0.005)


def test_compare_confusion_flags_a_model_that_became_unsure() -> None:
    rng = np.random.default_rng(8)
    sure, unsure = rng.dirichlet([0.1, 0.1, 0.1], 4000), rng.dirichlet([5, 5, 5], 4000)
    changed = stats.compare_confusion(_histograms(sure), _histograms(unsure))
    assert changed.entropy_change > 0.4 and changed.low_confidence_change > 0.5
    same = stats.compare_confusion(_histograms(sure), _histograms(rng.dirichlet([0.1, 0.1, 0.1], 4000)))
    assert abs(same.entropy_change) < 0.02 and abs(same.low_confidence_change) < 0.03


def test_histogram_confusion_refuses_what_it_cannot_compute() -> None:
    histograms = _histograms(np.random.default_rng(1).dirichlet([1, 1], 100))
    with pytest.raises(ValidationError, match="bin edge"):
        stats.confusion_from_histograms(histograms, threshold=0.57)
    with pytest.raises(ValidationError, match="above 0.5"):
        stats.confusion_from_histograms(histograms, threshold=0.5)
    with pytest.raises(ValidationError, match="totals differ"):
        stats.confusion_from_histograms([histograms[0], [0] * 20])
    with pytest.raises(ValidationError, match="empty"):
        stats.confusion_from_histograms([[0] * 20, [0] * 20])
    with pytest.raises(ValidationError, match="differ in shape"):
        stats.compare_confusion(histograms, histograms[:1])
    with pytest.raises(ValidationError, match="no rows"):
        stats.confusion_score(np.empty((0, 3)))


# ------------------------------------------------------------------------------------------------ quality


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_classification_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 500)
    score = np.round(np.clip(0.3 * y_true + rng.normal(0.35, 0.25, 500), 0, 1), 1)  # rounded: many ties
    y_pred = (score >= 0.5).astype(int)
    scores = stats.precision_recall_f1(y_true, y_pred, positive=1)
    assert stats.accuracy(y_true, y_pred) == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert scores.precision == pytest.approx(metrics.precision_score(y_true, y_pred))
    assert scores.recall == pytest.approx(metrics.recall_score(y_true, y_pred))
    assert scores.f1 == pytest.approx(metrics.f1_score(y_true, y_pred))
    negative = stats.precision_recall_f1(y_true, y_pred, positive=0)
    assert negative.f1 == pytest.approx(metrics.f1_score(y_true, y_pred, pos_label=0))
    assert stats.roc_auc(y_true, score) == pytest.approx(metrics.roc_auc_score(y_true, score), rel=1e-12)
    assert stats.log_loss(y_true, score, classes=[0, 1]) == pytest.approx(metrics.log_loss(y_true, score), rel=1e-12)


def test_multiclass_macro_scores_and_log_loss_match_sklearn() -> None:
    rng = np.random.default_rng(6)
    classes = ["a", "b", "c", "d"]
    y_true = rng.choice(classes[:3], 400)  # "d" is only ever predicted: a zero-division case for recall
    probabilities = rng.dirichlet([1, 1, 1, 0.3], 400)
    y_pred = np.asarray(classes)[probabilities.argmax(axis=1)]
    scores = stats.precision_recall_f1(y_true, y_pred, average="macro")
    for ours, theirs in ((scores.precision, metrics.precision_score), (scores.recall, metrics.recall_score),
                         (scores.f1, metrics.f1_score)):
        assert ours == pytest.approx(theirs(y_true, y_pred, average="macro", zero_division=0))
    assert stats.accuracy(y_true, y_pred) == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    probabilities[0] = [0.0, 0.0, 0.0, 1.0]  # a certain, wrong answer: clipped, not infinite
    y_true[0] = "a"
    expected = metrics.log_loss(y_true, probabilities, labels=classes)
    assert stats.log_loss(y_true, probabilities, classes) == pytest.approx(expected, rel=1e-12)


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(12)
    y_true, y_pred = rng.normal(100, 20, 300), rng.normal(100, 20, 300)
    assert stats.mae(y_true, y_pred) == pytest.approx(metrics.mean_absolute_error(y_true, y_pred), rel=1e-12)
    assert stats.rmse(y_true, y_pred) == pytest.approx(metrics.root_mean_squared_error(y_true, y_pred), rel=1e-12)


def test_undefined_quality_values_are_none_not_zero() -> None:
    assert stats.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]) is None
    assert stats.precision_recall_f1([0, 0, 1], [0, 0, 0]) == stats.ClassScores(None, 0.0, 0.0)
    assert stats.precision_recall_f1([0, 0, 0], [0, 1, 0]) == stats.ClassScores(0.0, None, 0.0)
    assert stats.precision_recall_f1([0, 0], [0, 0]) == stats.ClassScores(None, None, None)


def test_quality_metrics_refuse_missing_and_misaligned_labels() -> None:
    with pytest.raises(ValidationError, match="missing values"):
        stats.accuracy([1, np.nan], [1, 0])
    with pytest.raises(ValidationError, match="missing values"):
        stats.accuracy(np.array(["a", None], dtype=object), ["a", "b"])
    with pytest.raises(ValidationError, match="differ in length"):
        stats.mae([1.0, 2.0], [1.0])
    with pytest.raises(ValidationError, match="No labelled predictions"):
        stats.rmse([], [])
    with pytest.raises(ValidationError, match="not among the model's classes"):
        stats.log_loss(["x"], [[0.5, 0.5]], classes=["a", "b"])
    with pytest.raises(ValidationError, match="'binary' or 'macro'"):
        stats.precision_recall_f1([1], [1], average="micro")  # type: ignore[arg-type]


def test_monitoring_statistics_do_not_need_sklearn() -> None:
    code = ("import sys\nfrom shipyard.monitoring import stats\n"
            "assert stats.roc_auc([0, 1, 1], [0.1, 0.8, 0.4]) == 1.0\n"
            "assert stats.precision_recall_f1([0, 1], [1, 1]).precision == 0.5\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'pandas')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
