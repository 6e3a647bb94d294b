"""A classifier's performance on data without labels, estimated from its scores, and checked when labels come.

``shipyard monitor compare REF CUR --model URI --target churn`` runs this next to the drift checks: the model
scores both files, the labelled reference teaches :func:`~.stats.estimation.estimate_performance` how far to
trust the scores, and one ``estimated_quality`` check per metric reports the estimate with its 90% interval.

Rows of the current data that already have their label are checked twice against what their own scores
predict. ``concept_drift`` (one check) compares the count of each class among them with the count their
calibrated scores expect (:func:`~.stats.estimation.outcome_shift`): a p-value under ``DRIFT_P`` means the labels
no longer follow the scores the way they did (P(y | x) changed), which no input drift check can see; it is an
alert. Each metric's realized value is also set against the estimate for those same rows: outside their 99%
interval (``DRIFT_LEVEL``) it warns.

Statuses of ``estimated_quality``: ``warn`` when the realized value disagrees as above, or when the whole 90%
interval lies more than ``DROP`` below the reference's realized value (performance has most likely fallen);
``ok`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ValidationError
from .checks.result import CheckResult
from .stats.estimation import METRICS, PerformanceEstimate, estimate_performance, outcome_shift, realized_metrics

CHECK = "estimated_quality"
DROP = 0.02  # an interval wholly this far under the reference's value warns
DRIFT_LEVEL = 0.99
DRIFT_P = 0.01
MIN_LABELS = 20  # fewer labelled rows: no concept-drift verdict, just the realized values


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


def checks_for(model: Any, reference: Any, current: Any, target: str, *, seed: int = 0) -> list[CheckResult]:
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
    estimate = estimate_performance(answers.output, ref_labels, current_proba, seed=seed)
    reference_values = realized_metrics(ref_labels, answers.output)
    labelled = current[target].notna().to_numpy() if target in current.columns else np.zeros(len(current), bool)
    realized: dict[str, float | None] = dict.fromkeys(METRICS)
    on_labelled: PerformanceEstimate | None = None
    drift: list[CheckResult] = []
    if labelled.any():
        truth = outputs(model, current[labelled], target, "roc_auc").truth
        cur_labels = np.array([classes.index(label) for label in truth], dtype=np.int64)
        realized = realized_metrics(cur_labels, current_proba[labelled])
        on_labelled = estimate_performance(answers.output, ref_labels, current_proba[labelled], seed=seed,
                                           level=DRIFT_LEVEL)
        if len(cur_labels) >= MIN_LABELS:
            shift = outcome_shift(answers.output, ref_labels, current_proba[labelled], cur_labels, seed=seed)
            drift.append(_concept_drift(shift, classes, len(cur_labels)))
    return [_check(name, estimate, on_labelled, realized[name], reference_values[name], int(labelled.sum()))
            for name in METRICS] + drift


def _concept_drift(shift: Any, classes: list[Any], rows: int) -> CheckResult:
    counts = ", ".join(f"{label}: {observed:,.0f} seen, {expected:,.1f} expected" for label, observed, expected
                       in zip(classes, shift.observed, shift.expected, strict=True))
    extra = {"labelled_rows": rows, "observed": dict(zip(map(str, classes), shift.observed, strict=True)),
             "expected": dict(zip(map(str, classes), shift.expected, strict=True)), "test": shift.statistic}
    if shift.p_value < DRIFT_P:
        return CheckResult("concept_drift", None, "alert", "outcome_shift", shift.p_value, DRIFT_P,
                           f"concept drift: the {rows:,} labels that arrived do not follow the model's scores "
                           f"({counts}; p = {shift.p_value:.2g}): P(y|x) changed, retrain on recent labels.",
                           extra=extra)
    return CheckResult("concept_drift", None, "ok", "outcome_shift", shift.p_value, DRIFT_P,
                       f"the {rows:,} labels that arrived follow the model's scores ({counts}).", extra=extra)


def _probabilities(model: Any, frame: Any) -> Any:
    import numpy as np

    expected = list(model.signature.column_names)
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        raise ValidationError(f"The current data lacks the model's input column(s) {', '.join(map(repr, missing))}.",
                              field=missing[0])
    return np.asarray(model.predict_proba(frame[expected]).to_numpy(), dtype=float)


def _check(name: str, estimate: PerformanceEstimate, on_labelled: PerformanceEstimate | None,
           realized: float | None, reference: float | None, labelled_rows: int) -> CheckResult:
    metric = estimate.metrics[name]
    extra = {"low": metric.low, "high": metric.high, "realized": realized, "labelled_rows": labelled_rows,
             "reference": reference, "calibration": estimate.calibration.method}
    if metric.value is None:
        return CheckResult(CHECK, None, "ok", name, None, None,
                           f"{name} cannot be estimated here (one class only in the scores).", extra=extra)
    interval = f"{metric.value:.3f} (90% interval {_fmt(metric.low)} to {_fmt(metric.high)})"
    status, message = "ok", f"estimated {name} {interval} over {estimate.rows:,} rows"
    if realized is not None and on_labelled is not None:
        expected = on_labelled.metrics[name]
        extra.update(labelled_low=expected.low, labelled_high=expected.high)
        if not expected.covers(realized):
            status = "warn"
            message = (f"realized {name} {realized:.3f} on the {labelled_rows:,} labelled rows is outside what their "
                       f"scores predict (99%: {_fmt(expected.low)} to {_fmt(expected.high)}): the labels may no longer "
                       "follow the scores (see concept_drift)")
        else:
            message += f"; realized {realized:.3f} on {labelled_rows:,} labelled rows agrees"
    if status == "ok" and reference is not None and metric.high is not None and metric.high < reference - DROP:
        status = "warn"
        message += f", below the reference's {reference:.3f}"
    return CheckResult(CHECK, None, status, name, metric.value, None, message + ".", extra=extra)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"

