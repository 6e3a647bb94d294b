"""Checks of the model's inputs, per feature: drift, missing values, new categories, out-of-range values."""

from __future__ import annotations

from typing import Any

from .. import stats
from ..config import Thresholds
from ..source import Reference
from ..windows import FeatureWindow, WindowProfile
from .result import CheckResult, hist_details, proportions, status_of, status_of_pvalue


def input_checks(reference: Reference, current: WindowProfile, thresholds: Thresholds) -> list[CheckResult]:
    """Drift, missing values, new categories and out-of-range values, per feature."""
    results: list[CheckResult] = []
    min_rows = thresholds.get("min_rows", "rows")
    for name, ref in reference.profile.get("columns", {}).items():
        window = current.features.get(name)
        if window is None:
            continue
        if window.count < min_rows:
            results.append(CheckResult("drift", name, "ok", None, None, None,
                                       f"`{name}`: only {window.count} values in this window; drift needs "
                                       f"{min_rows} or more."))
            results.append(_missing(name, ref, window, reference, thresholds))  # a column gone missing has no values
            continue
        if ref.get("type") == "numeric":
            results.append(_numeric_drift(name, ref, window, reference, thresholds))
            results.append(_out_of_range(name, ref, window, reference, thresholds))
        elif ref.get("type") == "categorical":
            results.append(_categorical_drift(name, ref, window, reference, thresholds))
            results.append(_new_categories(name, ref, window, reference, thresholds))
        results.append(_missing(name, ref, window, reference, thresholds))
    return results


def new_column(name: str, current_label: str, reference_label: str) -> CheckResult:
    """A column that only the current data has: it was not compared, and the data changed shape (a warning)."""
    return CheckResult("new_columns", name, "warn", None, None, None,
                       f"New column `{name}` is in {current_label} but not in {reference_label}: it was not compared.")


def _numeric_drift(name: str, ref: dict[str, Any], window: FeatureWindow, reference: Reference,
                   thresholds: Thresholds) -> CheckResult:
    test = stats.choose_drift_test("numeric", max(ref.get("count", 0), 1), max(window.count, 1))
    value = stats.psi(ref["decile_counts"], window.decile_counts) if sum(ref["decile_counts"]) else 0.0
    details = hist_details(ref, window)
    details["psi"] = value
    shift = ""
    if window.mean is not None and ref.get("mean") is not None:
        shift = f" mean {window.mean:.4g} vs {ref['mean']:.4g} in {reference.kind};"
    if test == "ks":
        result = stats.ks_from_binned(ref["decile_counts"], window.decile_counts)
        status = status_of_pvalue(result.pvalue, thresholds.get("drift", "p_value", name))
        details["ks_statistic"] = result.statistic
        return CheckResult("drift", name, status, "ks", result.pvalue, thresholds.get("drift", "p_value", name),
                           f"`{name}`:{shift} KS D = {result.statistic:.3f}, p = {result.pvalue:.3g} "
                           f"(PSI {value:.3f}).", details)
    status = status_of(value, thresholds.get("drift", "psi_warn", name), thresholds.get("drift", "psi_alert", name))
    return CheckResult("drift", name, status, "psi", value, thresholds.get("drift", "psi_alert", name),
                       f"`{name}`:{shift} PSI {value:.3f} ({_psi_words(value)}).", details)


def _categorical_drift(name: str, ref: dict[str, Any], window: FeatureWindow, reference: Reference,
                       thresholds: Thresholds) -> CheckResult:
    aligned = stats.align_levels(ref.get("levels", {}), window.levels)
    test = stats.choose_drift_test("categorical", max(ref.get("count", 0), 1), max(window.count, 1))
    value = stats.psi(aligned.reference, aligned.current) if sum(aligned.reference) else 0.0
    details = {"labels": list(aligned.levels), "reference": proportions(aligned.reference),
               "current": proportions(aligned.current), "psi": value}
    if test == "chi2":
        result = stats.chi2_homogeneity(aligned.reference, aligned.current)
        status = status_of_pvalue(result.pvalue, thresholds.get("drift", "p_value", name))
        details["chi2_statistic"] = result.statistic
        return CheckResult("drift", name, status, "chi2", result.pvalue,
                           thresholds.get("drift", "p_value", name),
                           f"`{name}`: chi-square {result.statistic:.1f}, p = {result.pvalue:.3g} (PSI {value:.3f}).",
                           details)
    distance = stats.jensen_shannon(aligned.reference, aligned.current)
    status = status_of(distance, thresholds.get("drift", "js_warn", name), thresholds.get("drift", "js_alert", name))
    return CheckResult("drift", name, status, "jensen_shannon", distance, thresholds.get("drift", "js_alert", name),
                       f"`{name}`: Jensen-Shannon distance {distance:.3f}, PSI {value:.3f} ({_psi_words(value)}).",
                       details)


def _missing(name: str, ref: dict[str, Any], window: FeatureWindow, reference: Reference,
             thresholds: Thresholds) -> CheckResult:
    ref_total = ref.get("count", 0) + ref.get("missing", 0)
    ref_rate = ref.get("missing", 0) / ref_total if ref_total else 0.0
    total = window.count + window.missing
    rate = window.missing / total if total else 0.0
    points = (rate - ref_rate) * 100
    status = status_of(points, thresholds.get("missing", "warn_points", name),
                       thresholds.get("missing", "alert_points", name))
    return CheckResult("missing", name, status, "missing_increase_points", points,
                       thresholds.get("missing", "alert_points", name),
                       f"missing in `{name}` went from {ref_rate:.1%} to {rate:.1%}" if status != "ok" else
                       f"missing in `{name}`: {rate:.1%} ({ref_rate:.1%} in {reference.kind})",
                       {"reference_rate": ref_rate, "current_rate": rate})


def _new_categories(name: str, ref: dict[str, Any], window: FeatureWindow, reference: Reference,
                    thresholds: Thresholds) -> CheckResult:
    known = set(ref.get("levels", {}))
    if ref.get("other"):
        return CheckResult("new_categories", name, "ok", "share", None, None,
                           f"`{name}` has more levels than profiles keep; new levels are not tracked.")
    new = {level: count for level, count in window.levels.items() if level not in known}
    share = sum(new.values()) / window.count if window.count else 0.0
    status = status_of(share, thresholds.get("new_categories", "warn_share", name),
                       thresholds.get("new_categories", "alert_share", name)) if new else "ok"
    listed = ", ".join(f"'{level}'" for level in sorted(new, key=lambda level: -new[level])[:5])
    message = (f"`{name}` has {len(new)} new level{'s' if len(new) != 1 else ''}: {listed} ({share:.1%} of rows)"
               if new else f"`{name}`: no levels unseen in {_levels_source(reference)}")
    return CheckResult("new_categories", name, status, "share", share,
                       thresholds.get("new_categories", "alert_share", name), message, {"levels": new})


def _out_of_range(name: str, ref: dict[str, Any], window: FeatureWindow, reference: Reference,
                  thresholds: Thresholds) -> CheckResult:
    outside = window.below + window.above
    share = outside / window.count if window.count else 0.0
    status = status_of(share, thresholds.get("out_of_range", "warn_share", name),
                       thresholds.get("out_of_range", "alert_share", name))
    low, high = ref.get("min"), ref.get("max")
    # a window reference keeps the training profile's range; only a data file (compare) has a range of its own
    kind = "reference" if reference.kind == "reference" else "training"
    where = f" the {kind} range {low:.4g} to {high:.4g}" if low is not None and high is not None else " range"
    return CheckResult("out_of_range", name, status, "share", share,
                       thresholds.get("out_of_range", "alert_share", name),
                       f"{share:.1%} of `{name}` values are outside{where} ({window.below:,} below, "
                       f"{window.above:,} above)", {"below": window.below, "above": window.above})


def _levels_source(reference: Reference) -> str:
    """Where the known levels come from: training, the previous window (its own counts) or a data file."""
    return {"training": "training", "window": "the previous window"}.get(reference.kind, "the reference")


def _psi_words(value: float) -> str:
    return "major shift" if value >= 0.25 else "some shift" if value >= 0.1 else "stable"
