"""Checks of the model's answers against its own answers on training data: response drift and confusion."""

from __future__ import annotations

from typing import Any

from .. import stats
from ..config import Thresholds
from ..source import Reference
from ..windows import WindowProfile
from .result import CheckResult, hist_details, percent, proportions, status_of


def output_checks(reference: Reference, current: WindowProfile, thresholds: Thresholds) -> list[CheckResult]:
    """The response distribution against the model's own answers on its training data, and confusion."""
    results: list[CheckResult] = []
    profile = reference.prediction_profile or {}
    if current.rows == 0 or not profile:
        return results
    if profile.get("kind") == "classifier":
        classes = list(profile["classes"])
        ref_counts = [profile["class_counts"].get(label, 0) for label in classes]
        cur_counts = [current.class_counts.get(label, 0) for label in classes]
        extra = {label: count for label, count in current.class_counts.items() if label not in classes}
        if sum(ref_counts) and sum(cur_counts):
            value = stats.psi(ref_counts + [0] * len(extra), cur_counts + list(extra.values()))
            status = status_of(value, thresholds.get("prediction_drift", "psi_warn"),
                               thresholds.get("prediction_drift", "psi_alert"))
            shares = ", ".join(f"{label} {percent(count, sum(cur_counts))} (training {percent(ref, sum(ref_counts))})"
                               for label, count, ref in zip(classes, cur_counts, ref_counts, strict=True))
            results.append(CheckResult(
                "prediction_drift", None, status, "psi", value, thresholds.get("prediction_drift", "psi_alert"),
                f"Predicted classes: {shares}; PSI {value:.3f}.",
                {"labels": classes, "reference": proportions(ref_counts), "current": proportions(cur_counts)}))
        results.extend(_confusion(profile, current, thresholds))
    elif profile.get("kind") == "regressor" and current.prediction_values is not None:
        values = profile["values"]
        window = current.prediction_values
        if window.count and sum(values.get("decile_counts") or []):
            value = stats.psi(values["decile_counts"], window.decile_counts)
            status = status_of(value, thresholds.get("prediction_drift", "psi_warn"),
                               thresholds.get("prediction_drift", "psi_alert"))
            results.append(CheckResult(
                "prediction_drift", None, status, "psi", value, thresholds.get("prediction_drift", "psi_alert"),
                f"Predicted values: mean {window.mean:.4g} (training {values.get('mean') or float('nan'):.4g}); "
                f"PSI {value:.3f}.", hist_details(values, window)))
    return results


def _confusion(profile: dict[str, Any], current: WindowProfile, thresholds: Thresholds) -> list[CheckResult]:
    classes = list(profile["classes"])
    reference_counts = profile.get("probability_counts") or {}
    if not reference_counts or not all(label in current.probability_counts for label in classes):
        return []
    comparison = stats.compare_confusion([reference_counts[label] for label in classes],
                                         [current.probability_counts[label] for label in classes])
    change = comparison.low_confidence_change
    status = status_of(change, thresholds.get("confused", "warn_increase"),
                       thresholds.get("confused", "alert_increase"))
    return [CheckResult(
        "confused", None, status, "low_confidence_increase", change, thresholds.get("confused", "alert_increase"),
        f"{comparison.current.low_confidence_share:.1%} of answers are unsure (top probability under 0.55), "
        f"{comparison.reference.low_confidence_share:.1%} on training data; mean entropy "
        f"{comparison.current.mean_entropy:.3f} vs {comparison.reference.mean_entropy:.3f}.",
        {"low_confidence_share": comparison.current.low_confidence_share,
         "reference_low_confidence_share": comparison.reference.low_confidence_share,
         "labels": [f"{edge:.2f}" for edge in profile.get("probability_edges", [])[:-1]],
         "reference": proportions(reference_counts[classes[-1]]),
         "current": proportions(current.probability_counts[classes[-1]]), "class": classes[-1]})]
