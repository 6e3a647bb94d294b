"""One monitoring pass over a deployment's window: read, profile, check, and say what it means.

``monitor("churn", since="24h")`` profiles the live answers of the window against the training profile
of the model version that served most of them (or, with ``reference="window"``, against the window of the
same length before), runs every check and returns the verdict (the worst status) with the results in the
stable JSON shape of ``shipyard monitor check --json``. For a classifier, each variant's model version is also
estimated from its logged scores before the labels arrive (:mod:`.deployment_estimate`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from ..store import Store, current_store
from . import checks
from .config import Thresholds
from .deployment_estimate import estimate_window
from .model_facts import ModelFacts, StoreFacts
from .source import (
    Reference,
    Window,
    dominant_model,
    error_counts,
    labelled_rows,
    profile_window,
    shadow_disagreement,
    window_from,
)
from .timeline import quality_timeline
from .windows import WindowProfile


@dataclass
class MonitoringResult:
    deployment: str
    window: Window
    reference: Reference
    current: WindowProfile
    previous: WindowProfile | None
    results: list[checks.CheckResult]
    labelled_rows: int = 0
    notes: list[str] = field(default_factory=list)
    quality_timeline: dict[str, Any] | None = None  # per-variant scores per time bucket (timeline.py), for the report

    @property
    def verdict(self) -> str:
        return checks.worst(self.results)

    def failing(self) -> list[checks.CheckResult]:
        return [result for result in self.results if result.status != "ok"]

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "deployment": self.deployment,
            "reference": {"kind": self.reference.kind, "model_uri": self.reference.model_uri,
                          "rows": self.reference.profile.get("rows")},
            "current": {"from": _iso(self.window.start_ms), "to": _iso(self.window.end_ms), "rows": self.current.rows,
                        "requests": self.current.requests, "labelled_rows": self.labelled_rows,
                        "variants": self.current.variants},
            "checks": [result.to_dict(details=details) for result in self.results],
            "notes": self.notes,
        }

    def summary(self, *, status: bool = True) -> str:
        """The verdict in one sentence, naming the worst findings ("ALERT: 2 alert(s), ..."); ``status=False``
        leaves out the leading status word for a caller that shows it already."""
        text = checks.findings(self.results) or f"{self.current.rows:,} predictions checked, nothing out of line."
        return checks.verdict_sentence(self.verdict, text, status=status)


def monitor(deployment: str, *, since: str | None = None, start: str | None = None, end: str | None = None,
            reference: str = "training", thresholds: Thresholds | None = None, log_dir: str | None = None,
            store: Store | ModelFacts | None = None) -> MonitoringResult:
    """Check a deployment's logged traffic (see the module docstring).

    ``store`` is where the model versions' facts are read (:mod:`.model_facts`): a store (the current one when
    None) or a team server's :class:`~.model_facts.ServerFacts`; the traffic is always the prediction log's.

    Raises:
        NotFoundError: no live predictions in the window.
        ValidationError: an unknown reference kind or a bad time range.
    """
    if reference not in ("training", "window"):
        raise ValidationError(f"--reference must be 'training' or 'window', got {reference!r}.", field="reference")
    facts = StoreFacts(store or current_store()) if store is None or isinstance(store, Store) else store
    thresholds = thresholds or Thresholds()
    window = window_from(since, start, end)
    model_uri = dominant_model(deployment, window, log_dir=log_dir)
    training = facts.training_reference(model_uri)
    current = profile_window(deployment, window, training, log_dir=log_dir)
    previous = profile_window(deployment, window.before(), training, log_dir=log_dir)
    chosen = training if reference == "training" else window_reference(training, previous)
    notes = []
    if reference == "window" and previous.rows == 0:
        notes.append("The previous window has no predictions: drift was checked against training instead.")
        chosen = training
    results = checks.input_checks(chosen, current, thresholds)
    results += checks.output_checks(chosen, current, thresholds)
    results.append(checks.volume_check(current, previous, thresholds))
    results.append(checks.latency_check(current, thresholds))
    results.append(checks.error_check(error_counts(deployment, window, log_dir=log_dir), current, thresholds))
    labelled = labelled_rows(deployment, window, log_dir=log_dir)
    classes = list((training.prediction_profile or {}).get("classes") or [])
    results += checks.quality_checks(labelled, current, classes, facts.baseline(model_uri), thresholds)
    comparison = checks.ab_check(labelled, classes, thresholds)
    if comparison is not None:
        results.append(comparison)
    results += checks.shadow_checks(shadow_disagreement(deployment, window, log_dir=log_dir), thresholds)
    if classes:
        estimated, unestimated = estimate_window(facts, deployment, window, thresholds, log_dir=log_dir)
        results += estimated
        notes += unestimated
    return MonitoringResult(deployment, window, chosen, current, previous, results, labelled.rows, notes,
                            quality_timeline(labelled, classes))


def window_reference(training: Reference, previous: WindowProfile) -> Reference:
    """An earlier window as the reference, in the training profile's shape (its bins, its range)."""
    columns = {}
    for name, ref in training.profile.get("columns", {}).items():
        window = previous.features.get(name)
        if window is None:
            continue
        if ref.get("type") == "numeric":
            columns[name] = {**ref, "count": window.count, "missing": window.missing, "mean": window.mean,
                             "decile_counts": window.decile_counts, "hist_counts": window.hist_counts}
        elif ref.get("type") == "categorical":
            columns[name] = {"type": "categorical", "count": window.count, "missing": window.missing,
                             "levels": dict(window.levels), "other": 0}
    prediction = dict(training.prediction_profile or {})
    if prediction.get("kind") == "classifier":
        prediction["class_counts"] = dict(previous.class_counts)
        if previous.probability_counts:
            prediction["probability_counts"] = dict(previous.probability_counts)
    return Reference("window", training.model_uri, {"rows": previous.rows, "columns": columns}, prediction,
                     training.target_profile, previous)


def _iso(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms / 1000))
