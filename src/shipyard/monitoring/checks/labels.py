"""Checks that need ground truth: quality per variant from feedback, the A/B verdict, shadow disagreement."""

from __future__ import annotations

from typing import Any

from .. import stats
from ..config import Thresholds
from ..source import Labelled
from ..windows import WindowProfile
from .result import CheckResult, status_of


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
        status = status_of(rate, thresholds.get("shadow", "warn_rate"), thresholds.get("shadow", "alert_rate"))
        results.append(CheckResult("shadow", variant, status, "disagreement_rate", rate,
                                   thresholds.get("shadow", "warn_rate"),
                                   f"shadow {variant} disagrees with the live answer on {rate:.1%} of "
                                   f"{counts['rows']:,} rows", dict(counts)))
    return results
