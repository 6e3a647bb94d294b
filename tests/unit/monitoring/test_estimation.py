"""Performance estimated from scores (monitoring/stats/estimation.py): values worked by hand, agreement with
simulation, calibration chosen only when it helps, interval coverage on data whose truth is known, and bad
input refused naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.calibration import cross_fitted
from shipyard.errors import ValidationError
from shipyard.monitoring.stats.estimation import (
    EstimationReference,
    calibration_error,
    choose_calibration,
    estimate_performance,
    outcome_shift,
    realized_metrics,
)
from shipyard.monitoring.stats.reference_draws import _bootstrap_counts, draw_reference


def test_the_expected_confusion_matrix_worked_by_hand() -> None:
    # Scores for class 1: 0.9 and 0.6 are predicted 1, 0.2 and 0.3 predicted 0. Expected counts:
    # TP = 0.9 + 0.6 = 1.5, FP = 0.1 + 0.4 = 0.5, FN = 0.2 + 0.3 = 0.5, TN = 0.8 + 0.7 = 1.5.
    reference = np.array([0.1, 0.3, 0.5, 0.7, 0.9] * 40)
    labels = (np.arange(200) % 5 >= 2).astype(np.int64)  # raw scores kept: "none" must win or tie here
    current = np.array([0.9, 0.6, 0.2, 0.3])
    calibration = choose_calibration(np.column_stack([1 - reference, reference]), labels, np.random.default_rng(0))
    estimate = estimate_performance(reference, labels, current, draws=50)
    if estimate.calibration.method == "none":
        assert estimate.confusion == ((1.5, 0.5), (0.5, 1.5))
        assert estimate.metrics["accuracy"].value == pytest.approx(0.75)
        assert estimate.metrics["precision"].value == pytest.approx(0.75)
        assert estimate.metrics["recall"].value == pytest.approx(0.75)
        assert estimate.metrics["f1"].value == pytest.approx(0.75)
    assert calibration.method in ("none", "isotonic")


def test_the_expected_auc_is_the_mean_auc_of_labels_drawn_from_the_scores() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(400)
    reference_labels = (rng.random(4_000) < np.tile(scores, 10)).astype(np.int64)
    estimate = estimate_performance(np.tile(scores, 10), reference_labels, scores, draws=300, seed=1)
    drawn = [realized_metrics((rng.random(400) < scores).astype(np.int64), scores)["roc_auc"] for _ in range(3_000)]
    assert estimate.metrics["roc_auc"].value == pytest.approx(np.mean(drawn), abs=0.003)


def test_isotonic_calibration_is_chosen_for_miscalibrated_scores_and_fixes_the_estimate() -> None:
    rng = np.random.default_rng(7)
    truth = rng.beta(2, 2, 6_000)
    overconfident = np.clip(0.5 + 1.8 * (truth - 0.5), 0, 1)  # scores far from the real probabilities
    labels = (rng.random(6_000) < truth).astype(np.int64)
    proba = np.column_stack([1 - overconfident, overconfident])
    calibration = choose_calibration(proba[:3_000], labels[:3_000], np.random.default_rng(0))
    assert calibration.method == "isotonic"
    assert calibration.error_calibrated < calibration.error_raw
    estimate = estimate_performance(overconfident[:3_000], labels[:3_000], overconfident[3_000:], seed=2)
    realized = realized_metrics(labels[3_000:], proba[3_000:])
    assert estimate.metrics["accuracy"].value == pytest.approx(realized["accuracy"], abs=0.02)
    assert estimate.metrics["accuracy"].covers(realized["accuracy"])  # type: ignore[arg-type]


def test_well_calibrated_scores_keep_their_raw_values() -> None:
    rng = np.random.default_rng(11)
    scores = rng.random(4_000)
    labels = (rng.random(4_000) < scores).astype(np.int64)
    proba = np.column_stack([1 - scores, scores])
    assert choose_calibration(proba, labels, np.random.default_rng(0)).method == "none"
    assert calibration_error(proba, labels) < 0.03


@pytest.mark.slow
def test_intervals_cover_the_realized_value_about_nine_times_in_ten_under_covariate_shift() -> None:
    """Known truth: labels drawn from the true probabilities, windows shifted towards high or low scores."""
    rng = np.random.default_rng(5)
    covered = {name: 0 for name in ("accuracy", "f1", "roc_auc")}
    errors = []
    runs = 120
    for run in range(runs):
        reference = rng.beta(2, 3, 2_000)
        ref_labels = (rng.random(2_000) < reference).astype(np.int64)
        shift = rng.uniform(0.6, 1.8)
        current = rng.beta(2 * shift, 3 / shift, 800)  # covariate shift: a different mix of scores
        cur_labels = (rng.random(800) < current).astype(np.int64)
        estimate = estimate_performance(reference, ref_labels, current, draws=200, seed=run)
        realized = realized_metrics(cur_labels, current)
        errors.append(abs(estimate.metrics["accuracy"].value - realized["accuracy"]))  # type: ignore[operator]
        for name in covered:
            covered[name] += estimate.metrics[name].covers(realized[name])  # type: ignore[arg-type]
    assert np.mean(errors) < 0.02
    for name, count in covered.items():
        assert count / runs >= 0.84, (name, count / runs)  # 90% nominal; 0.84 leaves room for 120 runs' noise


def test_multiclass_estimates_are_macro_averages_and_accuracy_matches_the_top_scores() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3_000, 3)) * 2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=row) for row in proba], dtype=np.int64)
    estimate = estimate_performance(proba[:2_000], labels[:2_000], proba[2_000:], draws=100)
    realized = realized_metrics(labels[2_000:], proba[2_000:])
    assert len(estimate.confusion) == 3
    assert estimate.metrics["accuracy"].value == pytest.approx(realized["accuracy"], abs=0.04)
    assert estimate.metrics["f1"].value == pytest.approx(realized["f1"], abs=0.05)


def test_seeded_estimates_repeat_exactly() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(500)
    labels = (rng.random(500) < scores).astype(np.int64)
    first = estimate_performance(scores, labels, scores[:200], seed=4, draws=100)
    again = estimate_performance(scores, labels, scores[:200], seed=4, draws=100)
    assert (first.metrics, first.confusion) == (again.metrics, again.confusion)


@pytest.mark.parametrize(("reference", "labels", "current", "field"), [
    ([0.2, 0.8], [0, 1], [[0.2, 0.3, 0.5]], "current_proba"),
    ([0.2, 0.8], [0, 2], [0.5], "reference_labels"),
    ([0.2, 0.8], [1, 1], [0.5], "reference_labels"),
    ([0.2, 1.8], [0, 1], [0.5], "reference_proba"),
    ([0.2, float("nan")], [0, 1], [0.5], "reference_proba"),
    ([0.2, 0.8], [0, 1], [], "current_proba"),
])
def test_bad_input_is_refused_naming_the_argument(reference: list[float], labels: list[int], current: list[float],
                                                  field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        estimate_performance(reference, np.array(labels, dtype=np.int64), current)
    assert caught.value.field == field


def test_the_outcome_shift_z_worked_by_hand() -> None:
    # Well calibrated scores keep their raw values: expected positives 0.2 + 0.5 + 0.9 = 1.6, variance
    # 0.16 + 0.25 + 0.09 = 0.5; three positives seen: z = (3 - 1.6) / sqrt(0.5).
    rng = np.random.default_rng(11)
    scores = rng.random(4_000)
    labels = (rng.random(4_000) < scores).astype(np.int64)
    shift = outcome_shift(scores, labels, [0.2, 0.5, 0.9], np.array([1, 1, 1]))
    assert shift.expected[1] == pytest.approx(1.6)
    assert shift.statistic == pytest.approx(1.4 / 0.5 ** 0.5)
    assert shift.p_value == pytest.approx(0.0477, abs=1e-3)


def test_the_outcome_shift_rarely_fires_on_unchanged_labels_and_catches_a_doubled_base_rate() -> None:
    rng = np.random.default_rng(8)
    reference = rng.beta(2, 5, 3_000)
    ref_labels = (rng.random(3_000) < reference).astype(np.int64)
    false_alarms = detected = 0
    for _ in range(300):
        scores = rng.beta(2, 5, 70)
        same = (rng.random(70) < scores).astype(np.int64)
        doubled = (rng.random(70) < np.minimum(2 * scores, 1)).astype(np.int64)
        false_alarms += outcome_shift(reference, ref_labels, scores, same).p_value < 0.01
        detected += outcome_shift(reference, ref_labels, scores, doubled).p_value < 0.01
    assert false_alarms / 300 <= 0.03  # 1% nominal
    assert detected / 300 >= 0.8


def test_the_reference_miss_weighted_like_a_window_in_a_thin_region_is_as_wide_as_its_few_rows_allow() -> None:
    """Known truth: 900 confident rows (0.05 / 0.95) and 100 rows scored 0.5, all calibrated; a window scored 0.5
    throughout. What the reference vouches for there is 100 coin flips: their accuracy misses 0.5 by sd
    sqrt(0.25 / 100) = 0.05. Over the reference's own mix the miss is sqrt(100 * 0.25 + 900 * 0.0475) / 1,000,
    about 0.008: weighting the rows like the window must bring the spread up towards 0.05."""
    rng = np.random.default_rng(8)
    scores = np.r_[np.full(450, 0.05), np.full(450, 0.95), np.full(100, 0.5)]
    labels = (rng.random(1_000) < scores).astype(np.int64)
    reference = np.column_stack([1 - scores, scores])
    window = np.full((700, 2), 0.5)
    weighted_draws = draw_reference(reference, labels, "isotonic", 2_000, np.random.default_rng(1))
    likeness = weighted_draws.likeness(window)
    row_weights = likeness[np.searchsorted(weighted_draws.edges, reference.max(axis=1), side="right")]
    assert row_weights[-100:] == pytest.approx(np.full(100, 10.0))  # the window's share (1) over the reference's
    assert row_weights[:900] == pytest.approx(np.full(900, 0.25))  # a bin the window avoids: the floor
    plain_draws = draw_reference(reference, labels, "none", 2_000, np.random.default_rng(1))
    plain = plain_draws.miss(plain_draws.likeness(window)).spread["accuracy"]
    weighted = weighted_draws.miss(likeness).spread["accuracy"]
    assert np.std(plain) == pytest.approx(0.0082, abs=0.002)
    # 1,000 of the 1,225 weight units are the coin flips: sd about 1,000 / 1,225 * 0.05 plus the rest's share
    assert 0.035 < np.std(weighted) < 0.055
    assert abs(np.mean(weighted)) < 1e-9  # centred: the miss widens the interval, it never moves it


def test_the_reference_drawn_once_gives_each_window_the_gaps_of_its_rows_weighted_directly() -> None:
    """The per-bin reduction against brute force on the same bootstraps: every draw's accuracy and ROC AUC miss
    of the cross-fitted scores (decided and ranked by the raw ones), their rows weighted by the window's likeness
    (AUC over all pairs, ties a half)."""
    rng = np.random.default_rng(4)
    scores = np.round(rng.beta(2, 2, 240), 2)
    labels = (rng.random(240) < scores).astype(np.int64)
    reference = np.column_stack([1 - scores, scores])
    confidence = reference.max(axis=1) ** 6
    window = reference[rng.choice(240, 120, p=confidence / confidence.sum())]
    drawn = draw_reference(reference, labels, "isotonic", 30, np.random.default_rng(2))
    likeness = drawn.likeness(window)
    assert likeness.max() > 1 > likeness.min()  # the window leans on the confident bins
    found = drawn.miss(likeness).spread
    replay = np.random.default_rng(2)  # the same stream: the maps' bootstraps, the folds, then the gaps' bootstraps
    _bootstrap_counts(240, 30, replay)
    crossed = cross_fitted(reference, labels, replay)[:, 1]
    counts = _bootstrap_counts(240, 30, replay)
    row_weights = likeness[np.searchsorted(drawn.edges, reference.max(axis=1), side="right")]
    above = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])  # ranked by raw scores
    accuracy_gaps, auc_gaps = [], []
    for count in counts:
        weight = count * row_weights
        correct = (scores > 0.5) == (labels == 1)  # the model's own decision (argmax: a tie is class 0)
        expected = np.where(scores > 0.5, crossed, 1 - crossed)
        accuracy_gaps.append((weight @ correct - weight @ expected) / weight.sum())
        realized = (weight * labels) @ above @ (weight * (1 - labels)) / ((weight @ labels) * (weight @ (1 - labels)))
        own = weight @ (crossed * (1 - crossed))
        fractional = ((weight * crossed) @ above @ (weight * (1 - crossed)) - 0.5 * own) \
            / ((weight @ crossed) * (weight @ (1 - crossed)) - own)
        auc_gaps.append(realized - fractional)
    assert found["accuracy"] == pytest.approx(np.array(accuracy_gaps) - np.mean(accuracy_gaps), abs=1e-12)
    assert found["roc_auc"] == pytest.approx(np.array(auc_gaps) - np.mean(auc_gaps), abs=1e-12)


def test_a_prepared_reference_estimates_each_window_as_a_one_off_estimate_does() -> None:
    rng = np.random.default_rng(6)
    scores = rng.beta(2, 5, 2_000) ** 0.7  # miscalibrated: isotonic is chosen
    labels = (rng.random(2_000) < scores ** 1.4).astype(np.int64)
    prepared = EstimationReference(scores, labels, seed=9)
    assert prepared.calibration.method == "isotonic"
    for window in (rng.beta(2, 3, 500) for _ in range(3)):
        once, again = prepared.estimate(window, seed=9), estimate_performance(scores, labels, window, seed=9)
        assert once.metrics == again.metrics and once.confusion == again.confusion


def test_an_isotonic_maps_overfitting_is_taken_off_the_estimate() -> None:
    """Known truth: scores whose true P(class 1) is score ** 1.6 (isotonic is chosen), 80 references of 600 rows
    and a 4,000-row window each, compared with the window's expected accuracy (the mean true P(correct), so no
    label noise). An isotonic map fitted on 600 rows reads high (by 0.8 point when this test was written, 4
    standard errors); with its cross-fitted overfit taken off, the mean signed error is within 2 standard errors
    of zero."""
    rng = np.random.default_rng(12)
    errors, biases = [], []
    for _ in range(80):
        scores = rng.beta(2, 2, 600)
        labels = (rng.random(600) < scores ** 1.6).astype(np.int64)
        window = rng.beta(2, 2, 4_000)
        expected = np.mean(np.where(window > 0.5, window ** 1.6, 1 - window ** 1.6))
        reference = EstimationReference(scores, labels, draws=50, seed=int(rng.integers(1_000)))
        assert reference.calibration.method == "isotonic"
        current = np.column_stack([1 - window, window])
        errors.append(reference.estimate(current).metrics["accuracy"].value - expected)
        biases.append(reference._draws.miss(reference._draws.likeness(current)).bias["accuracy"])
    standard_error = np.std(errors) / np.sqrt(len(errors))
    uncorrected = np.array(errors) - np.array(biases)
    assert np.mean(uncorrected) > 3 * standard_error
    assert abs(np.mean(errors)) < 2 * standard_error
