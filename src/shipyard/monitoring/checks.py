"""The checks: reference and current counts in, results with a status and a plain sentence out.

Each check returns :class:`CheckResult` records shaped like the stable ``--json`` form (check, feature,
status, statistic, value, threshold, message) plus ``details`` the report draws (histograms, series). Pure
computation over profiles and labelled arrays: no files, no clock.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from . import stats
from .config import Thresholds
from .source import Labelled, Reference
from .windows import FeatureWindow, WindowProfile

STATUS_ORDER = {"ok": 0, "warn": 1, "alert": 2}


@dataclass
class CheckResult:
    check: str
    feature: str | None
    status: str
    statistic: str | None
    value: float | None
    threshold: float | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        data = {"check": self.check, "feature": self.feature, "status": self.status, "statistic": self.statistic,
                "value": self.value, "threshold": self.threshold, "message": self.message}
        if details:  # copied only when asked: a category with 200,000 levels makes them large
            data["details"] = asdict(self)["details"]
        return data


def worst(results: list[CheckResult]) -> str:
    return max((result.status for result in results), key=STATUS_ORDER.__getitem__, default="ok")


def findings(results: list[CheckResult]) -> str | None:
    """The worst findings in one sentence ("2 alert(s), 1 warning(s): ..."), or None when all is ok.

    The status word is not part of it: :func:`verdict_sentence` puts it in front, once.
    """
    alerts = [result for result in results if result.status == "alert"]
    warns = [result for result in results if result.status == "warn"]
    if not alerts and not warns:
        return None
    worst = alerts or warns
    named = "; ".join(_short(result.message) for result in worst[:4])
    more = f" and {len(worst) - 4} more" if len(worst) > 4 else ""
    end = "" if (named + more).endswith("...") else "."  # a cut message ends in "...", not "...."
    return f"{len(alerts)} alert(s), {len(warns)} warning(s): {named}{more}{end}"


def verdict_sentence(verdict: str, text: str, *, status: bool = True) -> str:
    """``ALERT: text`` (or ``WARN:``/``OK:``); just ``text`` where the caller shows the status already, as the
    CLI's coloured badge and the report's header do (else they would say ``ALERT ALERT: ...``)."""
    return f"{verdict.upper()}: {text}" if status else text


def new_column(name: str, current_label: str, reference_label: str) -> CheckResult:
    """A column that only the current data has: it was not compared, and the data changed shape (a warning)."""
    return CheckResult("new_columns", name, "warn", None, None, None,
                       f"New column `{name}` is in {current_label} but not in {reference_label}: it was not compared.")


def _short(message: str) -> str:
    """A message cut at a word boundary (never inside a number) when long."""
    text = message.rstrip(".")
    return text if len(text) <= 100 else text[:100].rsplit(" ", 1)[0].rstrip(",;:(") + " ..."


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
            status = _level(value, thresholds.get("prediction_drift", "psi_warn"),
                            thresholds.get("prediction_drift", "psi_alert"))
            shares = ", ".join(f"{label} {_pct(count, sum(cur_counts))} (training {_pct(ref, sum(ref_counts))})"
                               for label, count, ref in zip(classes, cur_counts, ref_counts, strict=True))
            results.append(CheckResult(
                "prediction_drift", None, status, "psi", value, thresholds.get("prediction_drift", "psi_alert"),
                f"Predicted classes: {shares}; PSI {value:.3f}.",
                {"labels": classes, "reference": _shares(ref_counts), "current": _shares(cur_counts)}))
        results.extend(_confusion(profile, current, thresholds))
    elif profile.get("kind") == "regressor" and current.prediction_values is not None:
        values = profile["values"]
        window = current.prediction_values
        if window.count and sum(values.get("decile_counts") or []):
            value = stats.psi(values["decile_counts"], window.decile_counts)
            status = _level(value, thresholds.get("prediction_drift", "psi_warn"),
                            thresholds.get("prediction_drift", "psi_alert"))
            results.append(CheckResult(
                "prediction_drift", None, status, "psi", value, thresholds.get("prediction_drift", "psi_alert"),
                f"Predicted values: mean {window.mean:.4g} (training {values.get('mean') or float('nan'):.4g}); "
                f"PSI {value:.3f}.", _hist_details(values, window)))
    return results


def volume_check(current: WindowProfile, previous: WindowProfile | None, thresholds: Thresholds) -> CheckResult:
    """Predictions in this window against the window of the same length before it."""
    minimum = thresholds.get("volume", "min_rows")
    series = _volume_series(current)
    if previous is None or previous.rows < minimum:
        return CheckResult("volume", None, "ok", "change_factor", None, None,
                           f"{current.rows:,} predictions in this window; no comparable earlier window with "
                           f"{minimum}+ predictions yet.", series)
    ratio = current.rows / previous.rows if previous.rows else math.inf
    spread = max(ratio, 1 / ratio) if ratio > 0 else math.inf
    status = _level(spread, thresholds.get("volume", "warn_ratio"), thresholds.get("volume", "alert_ratio"))
    direction = "up" if ratio >= 1 else "down"
    series["ratio"] = ratio
    return CheckResult("volume", None, status, "change_factor", spread, thresholds.get("volume", "alert_ratio"),
                       f"{current.rows:,} predictions, {direction} {spread:.1f}x from {previous.rows:,} in the "
                       "previous window of the same length.", series)


def error_check(errors: dict[tuple[int, str, str], int], current: WindowProfile,
                thresholds: Thresholds) -> CheckResult:
    """Share of prediction requests the server refused (4xx) or failed (5xx), with the commonest causes."""
    failed = sum(errors.values())
    total = failed + current.requests
    rate = failed / total if total else 0.0
    status = _level(rate, thresholds.get("errors", "warn_rate"), thresholds.get("errors", "alert_rate"))
    if not failed:
        return CheckResult("errors", None, "ok", "error_rate", 0.0, thresholds.get("errors", "alert_rate"),
                           f"No failed requests among {current.requests:,}.")
    causes = sorted(errors.items(), key=lambda item: -item[1])[:3]
    named = ", ".join(f"{count:,} {kind} ({code}{', field ' + field if field else ''})"
                      for (code, kind, field), count in causes)
    return CheckResult("errors", None, status, "error_rate", rate, thresholds.get("errors", "alert_rate"),
                       f"{rate:.1%} of requests failed ({failed:,} of {total:,}): {named}.",
                       {"causes": [{"status": code, "type": kind, "field": field or None, "count": count}
                                   for (code, kind, field), count in causes]})


def latency_check(current: WindowProfile, thresholds: Thresholds) -> CheckResult:
    p50, p95, p99 = (current.latency_quantile(q) for q in (0.5, 0.95, 0.99))
    if p99 is None:
        return CheckResult("latency", None, "ok", "p99_ms", None, None, "No requests in this window.")
    status = _level(p99, thresholds.get("latency", "p99_warn_ms"), thresholds.get("latency", "p99_alert_ms"))
    return CheckResult("latency", None, status, "p99_ms", p99, thresholds.get("latency", "p99_alert_ms"),
                       f"Server latency p50 {p50:.3g} ms, p95 {p95:.3g} ms, p99 {p99:.3g} ms (bucket upper bounds).",
                       {"p50": p50, "p95": p95, "p99": p99})


def quality_checks(labelled: Labelled, current: WindowProfile, classes: list[str], baseline: dict[str, float],
                   thresholds: Thresholds) -> list[CheckResult]:
    """Accuracy-type metrics from feedback, per variant, against absolute floors and the training baseline."""
    coverage = labelled.rows / current.rows if current.rows else 0.0
    minimum = thresholds.get("quality", "min_labels")
    if labelled.rows < minimum:
        return [CheckResult("quality", None, "ok", "coverage", coverage, None,
                            f"{labelled.rows:,} of {current.rows:,} predictions have a label ({coverage:.1%}); "
                            f"quality needs {minimum}+ labels.")]
    metric = thresholds.get("quality", "metric")
    results = []
    for variant in sorted(set(labelled.variant)):
        rows = [index for index, name in enumerate(labelled.variant) if name == variant]
        scores = variant_scores(labelled, rows, classes)
        name = metric if metric != "auto" else ("roc_auc" if scores.get("roc_auc") is not None else
                                                 "accuracy" if "accuracy" in scores else "mae")
        value = scores.get(name)
        if value is None:
            continue
        higher_is_better = name not in ("log_loss", "mae", "rmse")
        status, line, reasons = "ok", None, []
        base = baseline.get(name)
        for level in ("warn", "alert"):
            floor = thresholds.get("quality", f"{level}_below")
            if floor is not None and (value < floor if higher_is_better else value > floor):
                status, line = level, floor
                reasons.append(f"past the {level} line {floor:g}")
            drop = thresholds.get("quality", f"{level}_drop")
            if base is not None and ((base - value) if higher_is_better else (value - base)) >= drop:
                status, line = level, base - drop if higher_is_better else base + drop
                reasons.append(f"{abs(base - value):.3f} worse than at training ({base:.4f})")
        floor_text = f", {'; '.join(dict.fromkeys(reasons))}" if reasons else ""
        shown = ", ".join(f"{key} {score:.4f}" for key, score in scores.items() if score is not None)
        if line is None:  # nothing crossed: report the alert line that applies (a floor, or training minus drop)
            line = thresholds.get("quality", "alert_below")
            if line is None and base is not None:
                drop = thresholds.get("quality", "alert_drop")
                line = base - drop if higher_is_better else base + drop
        results.append(CheckResult("quality", variant, status, name, value, line,
                                   f"{variant}: {name} {value:.4f} on {len(rows):,} labelled predictions"
                                   f"{floor_text} ({shown}; {coverage:.1%} of predictions labelled).",
                                   {"scores": scores, "rows": len(rows), "coverage": coverage}))
    return results


def variant_scores(labelled: Labelled, rows: list[int], classes: list[str]) -> dict[str, float | None]:
    import numpy as np

    truth = [labelled.label[index] for index in rows]
    predicted = [labelled.predicted[index] for index in rows]
    if classes:
        scores: dict[str, float | None] = {"accuracy": stats.accuracy(truth, predicted)}
        average = "binary" if len(classes) == 2 else "macro"
        positive = classes[-1]
        if average == "binary":
            result = stats.precision_recall_f1(truth, predicted, average="binary", positive=positive)
        else:
            result = stats.precision_recall_f1(truth, predicted, average="macro")
        scores.update(precision=result.precision, recall=result.recall, f1=result.f1)
        probabilities = [labelled.probabilities[index] for index in rows]
        if all(item is not None for item in probabilities) and len(classes) == 2 and len(set(truth)) == 2:
            scores["roc_auc"] = stats.roc_auc(truth, [item[-1] for item in probabilities], positive=positive)
        if all(item is not None for item in probabilities) and set(truth) <= set(classes):
            scores["log_loss"] = stats.log_loss(truth, probabilities, classes)
        return scores
    values = labelled.label_value[rows]
    guesses = np.array([float(value) for value in predicted])
    return {"mae": stats.mae(values, guesses), "rmse": stats.rmse(values, guesses)}


def ab_check(labelled: Labelled, classes: list[str], thresholds: Thresholds) -> CheckResult | None:
    """Which variant does better on labelled traffic, with a significance test and a plain verdict."""
    import numpy as np

    # the busiest arm is the base; a tie goes by name, never by set order (which changes with PYTHONHASHSEED)
    variants = sorted(set(labelled.variant), key=lambda name: (-labelled.variant.count(name), name))
    if len(variants) < 2:
        return None
    base, other = variants[0], variants[1]
    alpha = thresholds.get("ab", "alpha")
    arms: dict[str, dict[str, Any]] = {}
    for name in (base, other):
        rows = [index for index, variant in enumerate(labelled.variant) if variant == name]
        if classes:
            hits = sum(labelled.label[index] == labelled.predicted[index] for index in rows)
            interval = stats.wilson_interval(hits, len(rows))
            arms[name] = {"n": len(rows), "successes": hits, "kpi": interval.estimate, "low": interval.low,
                          "high": interval.high}
        else:
            errors = np.abs(labelled.label_value[rows] - np.array([float(labelled.predicted[i]) for i in rows]))
            interval = stats.mean_interval(errors)
            arms[name] = {"n": len(rows), "kpi": interval.estimate, "low": interval.low, "high": interval.high,
                          "var": float(errors.var(ddof=1)) if len(rows) > 1 else 0.0}
    a, b = arms[base], arms[other]
    if min(a["n"], b["n"]) < 2:
        return CheckResult("ab", None, "ok", None, None, alpha, f"{other} has too few labelled predictions for "
                           "a comparison yet.", {"arms": arms})
    if classes:
        test = stats.two_proportion_ztest(a["successes"], a["n"], b["successes"], b["n"])
        kpi, unit, better = "accuracy", "pts", test.difference > 0
        change = f"{test.difference * 100:+.1f} pts"
    else:
        welch = stats.welch_from_moments(a["kpi"], a["var"], a["n"], b["kpi"], b["var"], b["n"])
        test = welch  # type: ignore[assignment]
        kpi, unit, better = "mean absolute error", "", welch.difference < 0
        change = f"{welch.difference:+.4g}"
    if test.pvalue < alpha:
        verdict = f"{other} {'better' if better else 'worse'} than {base}, p = {test.pvalue:.3g}, {change} {kpi}"
    else:
        needed = ""
        if classes and a["kpi"] != b["kpi"]:
            per_arm = stats.required_sample_size(a["kpi"], b["kpi"], alpha=alpha, power=thresholds.get("ab", "power"))
            more = max(0, per_arm - a["n"]) + max(0, per_arm - b["n"])
            needed = f"; about {more:,} more labelled predictions needed at the current difference"
        verdict = f"no significant difference between {other} and {base} yet (p = {test.pvalue:.3g}, {change}){needed}"
    return CheckResult("ab", None, "ok", "p_value", test.pvalue, alpha, verdict[0].upper() + verdict[1:] + ".",
                       {"arms": arms, "kpi": kpi, "unit": unit, "base": base, "other": other})


def shadow_checks(disagreement: dict[str, dict[str, int]], thresholds: Thresholds) -> list[CheckResult]:
    """How often each shadow model answers differently from the live one on the same requests."""
    results = []
    for variant, counts in sorted(disagreement.items()):
        rate = counts["differ"] / counts["rows"] if counts["rows"] else 0.0
        status = _level(rate, thresholds.get("shadow", "warn_rate"), thresholds.get("shadow", "alert_rate"))
        results.append(CheckResult("shadow", variant, status, "disagreement_rate", rate,
                                   thresholds.get("shadow", "warn_rate"),
                                   f"shadow {variant} disagrees with the live answer on {rate:.1%} of "
                                   f"{counts['rows']:,} rows", dict(counts)))
    return results


def _numeric_drift(name: str, ref: dict[str, Any], window: FeatureWindow, reference: Reference,
                   thresholds: Thresholds) -> CheckResult:
    test = stats.choose_drift_test("numeric", max(ref.get("count", 0), 1), max(window.count, 1))
    value = stats.psi(ref["decile_counts"], window.decile_counts) if sum(ref["decile_counts"]) else 0.0
    details = _hist_details(ref, window)
    details["psi"] = value
    shift = ""
    if window.mean is not None and ref.get("mean") is not None:
        shift = f" mean {window.mean:.4g} vs {ref['mean']:.4g} in {reference.kind};"
    if test == "ks":
        result = stats.ks_from_binned(ref["decile_counts"], window.decile_counts)
        status = _pvalue_level(result.pvalue, thresholds.get("drift", "p_value", name))
        details["ks_statistic"] = result.statistic
        return CheckResult("drift", name, status, "ks", result.pvalue, thresholds.get("drift", "p_value", name),
                           f"`{name}`:{shift} KS D = {result.statistic:.3f}, p = {result.pvalue:.3g} "
                           f"(PSI {value:.3f}).", details)
    status = _level(value, thresholds.get("drift", "psi_warn", name), thresholds.get("drift", "psi_alert", name))
    return CheckResult("drift", name, status, "psi", value, thresholds.get("drift", "psi_alert", name),
                       f"`{name}`:{shift} PSI {value:.3f} ({_psi_words(value)}).", details)


def _categorical_drift(name: str, ref: dict[str, Any], window: FeatureWindow, reference: Reference,
                       thresholds: Thresholds) -> CheckResult:
    aligned = stats.align_levels(ref.get("levels", {}), window.levels)
    test = stats.choose_drift_test("categorical", max(ref.get("count", 0), 1), max(window.count, 1))
    value = stats.psi(aligned.reference, aligned.current) if sum(aligned.reference) else 0.0
    details = {"labels": list(aligned.levels), "reference": _shares(aligned.reference),
               "current": _shares(aligned.current), "psi": value}
    if test == "chi2":
        result = stats.chi2_homogeneity(aligned.reference, aligned.current)
        status = _pvalue_level(result.pvalue, thresholds.get("drift", "p_value", name))
        details["chi2_statistic"] = result.statistic
        return CheckResult("drift", name, status, "chi2", result.pvalue,
                           thresholds.get("drift", "p_value", name),
                           f"`{name}`: chi-square {result.statistic:.1f}, p = {result.pvalue:.3g} (PSI {value:.3f}).",
                           details)
    distance = stats.jensen_shannon(aligned.reference, aligned.current)
    status = _level(distance, thresholds.get("drift", "js_warn", name), thresholds.get("drift", "js_alert", name))
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
    status = _level(points, thresholds.get("missing", "warn_points", name),
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
    status = _level(share, thresholds.get("new_categories", "warn_share", name),
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
    status = _level(share, thresholds.get("out_of_range", "warn_share", name),
                    thresholds.get("out_of_range", "alert_share", name))
    low, high = ref.get("min"), ref.get("max")
    # a window reference keeps the training profile's range; only a data file (compare) has a range of its own
    kind = "reference" if reference.kind == "reference" else "training"
    where = f" the {kind} range {low:.4g} to {high:.4g}" if low is not None and high is not None else " range"
    return CheckResult("out_of_range", name, status, "share", share,
                       thresholds.get("out_of_range", "alert_share", name),
                       f"{share:.1%} of `{name}` values are outside{where} ({window.below:,} below, "
                       f"{window.above:,} above)", {"below": window.below, "above": window.above})


def _confusion(profile: dict[str, Any], current: WindowProfile, thresholds: Thresholds) -> list[CheckResult]:
    classes = list(profile["classes"])
    reference_counts = profile.get("probability_counts") or {}
    if not reference_counts or not all(label in current.probability_counts for label in classes):
        return []
    comparison = stats.compare_confusion([reference_counts[label] for label in classes],
                                         [current.probability_counts[label] for label in classes])
    change = comparison.low_confidence_change
    status = _level(change, thresholds.get("confused", "warn_increase"), thresholds.get("confused", "alert_increase"))
    return [CheckResult(
        "confused", None, status, "low_confidence_increase", change, thresholds.get("confused", "alert_increase"),
        f"{comparison.current.low_confidence_share:.1%} of answers are unsure (top probability under 0.55), "
        f"{comparison.reference.low_confidence_share:.1%} on training data; mean entropy "
        f"{comparison.current.mean_entropy:.3f} vs {comparison.reference.mean_entropy:.3f}.",
        {"low_confidence_share": comparison.current.low_confidence_share,
         "reference_low_confidence_share": comparison.reference.low_confidence_share,
         "labels": [f"{edge:.2f}" for edge in profile.get("probability_edges", [])[:-1]],
         "reference": _shares(reference_counts[classes[-1]]),
         "current": _shares(current.probability_counts[classes[-1]]), "class": classes[-1]})]


def _levels_source(reference: Reference) -> str:
    """Where the known levels come from: training, the previous window (its own counts) or a data file."""
    return {"training": "training", "window": "the previous window"}.get(reference.kind, "the reference")


def _volume_series(current: WindowProfile) -> dict[str, Any]:
    minutes = sorted(current.per_minute)
    return {"minutes": minutes, "counts": [current.per_minute[minute] for minute in minutes]}


def _hist_details(ref: dict[str, Any], window: FeatureWindow) -> dict[str, Any]:
    edges = ref.get("hist_edges") or []
    labels = [f"{edges[index]:.3g}" for index in range(len(edges) - 1)]
    return {"labels": labels, "reference": _shares(ref.get("hist_counts") or []),
            "current": _shares(window.hist_counts)}


def _shares(counts: Any) -> list[float]:
    values = [float(count) for count in counts]
    total = sum(values)
    return [value / total for value in values] if total else values


def _level(value: float, warn: float, alert: float) -> str:
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def _pvalue_level(pvalue: float, threshold: float) -> str:
    return "alert" if pvalue < threshold / 10 else "warn" if pvalue < threshold else "ok"


def _psi_words(value: float) -> str:
    return "major shift" if value >= 0.25 else "some shift" if value >= 0.1 else "stable"


def _pct(count: float, total: float) -> str:
    return f"{count / total:.1%}" if total else "-"
