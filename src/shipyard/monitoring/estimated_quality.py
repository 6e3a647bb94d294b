"""A classifier's performance on data without labels, estimated from its scores, and checked when labels come.

``shipyard monitor compare REF CUR --model URI --target churn`` runs this next to the drift checks: the model
scores both files, the labelled reference teaches :func:`~.stats.estimation.estimate_performance` how far to
trust the scores, and one ``estimated_quality`` check per metric reports the estimate with its 90% interval.

Rows of the current data that already have their label are checked twice against what their own scores
predict. ``concept_drift`` (one check) compares the count of each class among them with the count their
calibrated scores expect (:func:`~.stats.estimation.outcome_shift`): a p-value under ``concept_drift.p_value``
(0.01 by default) means the labels no longer follow the scores the way they did (P(y | x) changed), which no
input drift check can see; it is an alert. Each metric's realized value is also set against the estimate for those
same rows: outside their 99% interval (``DRIFT_LEVEL``) it warns.

Statuses of ``estimated_quality``: ``warn`` when the realized value disagrees as above; ``warn`` or ``alert`` when
the whole 90% interval lies under a level of ``monitoring.yaml``'s ``estimated_quality`` section (its upper bound
more than ``warn_drop``/``alert_drop`` below the reference's realized value, or below ``warn_below``/``alert_below``:
performance has most likely fallen); ``ok`` otherwise. The same checks run on a deployment's logged scores
(``deployment_estimate.py``), the reference then being the one the promotion gate kept with the version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, ValidationError
from .checks.result import STATUS_ORDER, CheckResult
from .config import Thresholds
from .stats.estimation import METRICS, EstimationReference, PerformanceEstimate, realized_metrics

CHECK = "estimated_quality"
DRIFT_LEVEL = 0.99


def as_model(model: Any, trust: bool | Sequence[str] = ()) -> Any:
    """A loaded classifier from a URI (or the loaded model itself), refused early when it has no probabilities."""
    if isinstance(model, str):
        from ..models.package import load_model

        model = load_model(model, trust=trust)
    output = getattr(getattr(model, "signature", None), "output", None)
    if output is None or output.kind != "classifier":
        raise ValidationError(f"Performance can be estimated for probabilistic classifiers only; {model!r} is not "
                              "one.", field="model")
    return model


def checks_for(model: Any, reference: Any, current: Any, target: str, *, seed: int = 0,
               thresholds: Thresholds | None = None) -> list[CheckResult]:
    """One ``estimated_quality`` check per metric for ``current`` (pandas), learnt from ``reference``."""
    import numpy as np

    from ..models.evaluate import outputs

    model = as_model(model)
    if target not in reference.columns:
        raise ValidationError(f"The reference has no target column {target!r}: the estimate is learnt from a "
                              "labelled reference (the holdout, say).", field="target")
    answers = outputs(model, reference, target, "roc_auc")
    classes = list(answers.classes)
    ref_labels = np.array([classes.index(label) for label in answers.truth], dtype=np.int64)
    current_proba = _probabilities(model, current)
    labelled = current[target].notna().to_numpy() if target in current.columns else np.zeros(len(current), bool)
    cur_labels = np.zeros(0, dtype=np.int64)
    if labelled.any():
        truth = outputs(model, current[labelled], target, "roc_auc").truth
        cur_labels = np.array([classes.index(label) for label in truth], dtype=np.int64)
    return estimate_checks(answers.output, ref_labels, classes, current_proba, current_proba[labelled], cur_labels,
                           thresholds or Thresholds(), seed=seed)


def estimate_checks(ref_proba: Any, ref_labels: Any, classes: list[Any], current_proba: Any, labelled_proba: Any,
                    labels: Any, thresholds: Thresholds, *, feature: str | None = None, seed: int = 0,
                    extra: dict[str, Any] | None = None) -> list[CheckResult]:
    """The checks of one set of scores: an ``estimated_quality`` check per metric and, once enough labels arrived,
    ``concept_drift``. ``labelled_proba``/``labels`` are the rows of ``current_proba`` whose label is known
    (class indices); ``feature`` names the variant on a deployment; ``extra`` goes into every check's JSON."""
    reference = EstimationReference(ref_proba, ref_labels, seed=seed)
    estimate = reference.estimate(current_proba, seed=seed)
    reference_values = realized_metrics(ref_labels, ref_proba)
    realized: dict[str, float | None] = dict.fromkeys(METRICS)
    on_labelled: PerformanceEstimate | None = None
    drift: list[CheckResult] = []
    if len(labels):
        realized = realized_metrics(labels, labelled_proba)
        on_labelled = reference.estimate(labelled_proba, seed=seed, level=DRIFT_LEVEL)
        if len(labels) >= thresholds.get("concept_drift", "min_labels"):
            shift = reference.outcome_shift(labelled_proba, labels)
            drift.append(_concept_drift(shift, classes, len(labels), thresholds, feature, extra or {}))
    levels = _levels(thresholds)
    return [_check(name, estimate, on_labelled, realized[name], reference_values[name], len(labels), levels,
                   feature, extra or {}) for name in METRICS] + drift


def _levels(thresholds: Thresholds) -> dict[str, Any]:
    """The ``estimated_quality`` settings, checked: the metric they apply to and the four lines."""
    settings = {key: thresholds.get(CHECK, key) for key in ("metric", "warn_drop", "alert_drop", "warn_below",
                                                            "alert_below")}
    if settings["metric"] != "all" and settings["metric"] not in METRICS:
        raise ConfigError(f"{thresholds.source}: thresholds.{CHECK}.metric must be all or one of "
                          f"{', '.join(METRICS)}, got {settings['metric']!r}.")
    for key in ("warn_below", "alert_below"):
        value = settings[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{thresholds.source}: thresholds.{CHECK}.{key} must be a number, got {value!r}.")
    return settings


def _concept_drift(shift: Any, classes: list[Any], rows: int, thresholds: Thresholds, feature: str | None,
                   common: dict[str, Any]) -> CheckResult:
    counts = ", ".join(f"{label}: {observed:,.0f} seen, {expected:,.1f} expected" for label, observed, expected
                       in zip(classes, shift.observed, shift.expected, strict=True))
    extra = {**common, "labelled_rows": rows, "observed": dict(zip(map(str, classes), shift.observed, strict=True)),
             "expected": dict(zip(map(str, classes), shift.expected, strict=True)), "test": shift.statistic}
    line = thresholds.get("concept_drift", "p_value")
    who = f"{feature}: " if feature else ""
    if shift.p_value < line:
        return CheckResult("concept_drift", feature, "alert", "outcome_shift", shift.p_value, line,
                           f"{who}concept drift: the {rows:,} labels that arrived do not follow the model's scores "
                           f"({counts}; p = {shift.p_value:.2g}): P(y|x) changed, retrain on recent labels.",
                           extra=extra)
    return CheckResult("concept_drift", feature, "ok", "outcome_shift", shift.p_value, line,
                       f"{who}the {rows:,} labels that arrived follow the model's scores ({counts}).", extra=extra)


def _probabilities(model: Any, frame: Any) -> Any:
    import numpy as np

    expected = list(model.signature.column_names)
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        raise ValidationError(f"The current data lacks the model's input column(s) {', '.join(map(repr, missing))}.",
                              field=missing[0])
    return np.asarray(model.predict_proba(frame[expected]).to_numpy(), dtype=float)


def _check(name: str, estimate: PerformanceEstimate, on_labelled: PerformanceEstimate | None,
           realized: float | None, reference: float | None, labelled_rows: int, levels: dict[str, Any],
           feature: str | None, common: dict[str, Any]) -> CheckResult:
    metric = estimate.metrics[name]
    extra = {**common, "low": metric.low, "high": metric.high, "realized": realized, "labelled_rows": labelled_rows,
             "reference": reference, "calibration": estimate.calibration.method}
    who = f"{feature}: " if feature else ""
    if metric.value is None:
        return CheckResult(CHECK, feature, "ok", name, None, None,
                           f"{who}{name} cannot be estimated here (one class only in the scores).", extra=extra)
    interval = f"{metric.value:.3f} (90% interval {_fmt(metric.low)} to {_fmt(metric.high)})"
    status, message = "ok", f"{who}estimated {name} {interval} over {estimate.rows:,} rows"
    if realized is not None and on_labelled is not None:
        expected = on_labelled.metrics[name]
        extra.update(labelled_low=expected.low, labelled_high=expected.high)
        if not expected.covers(realized):
            status = "warn"
            message = (f"{who}realized {name} {realized:.3f} on the {labelled_rows:,} labelled rows is outside what "
                       f"their scores predict (99%: {_fmt(expected.low)} to {_fmt(expected.high)}): the labels may no "
                       "longer follow the scores (see concept_drift)")
        else:
            message += f"; realized {realized:.3f} on {labelled_rows:,} labelled rows agrees"
    line = None
    if levels["metric"] in ("all", name) and metric.high is not None:
        for level in ("warn", "alert"):
            floor, drop = levels[f"{level}_below"], levels[f"{level}_drop"]
            crossed: dict[float, str] = {}
            if floor is not None and metric.high < floor:
                crossed[floor] = f"wholly below the {level} line {floor:g}"
            if reference is not None and metric.high < reference - drop:
                crossed[reference - drop] = f"more than {drop:g} below the reference's {reference:.3f}"
            if crossed:
                line = max(crossed)
                if STATUS_ORDER[level] > STATUS_ORDER[status]:
                    status = level
                message += f", {' and '.join(crossed.values())}"
    return CheckResult(CHECK, feature, status, name, metric.value, line, message + ".", extra=extra)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"

