"""What each part of the report shows, worked out from a :class:`MonitoringResult`; the templates lay it out.

One function per template (``summary``, ``nav``, then one per section), each returning the names its
template reads. Everything here is plain data: names, numbers, check results and chart specs; the
markup, and with it the escaping of every name and message, is the templates' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import charts
from ..checks import STATUS_ORDER, CheckResult, worst
from ..monitor import MonitoringResult
from .shaping import MAX_LEVELS, capped, duration, edge, latency_bins, per, per_minute_buckets, when

INPUT_CHECKS = ("drift", "missing", "new_categories", "out_of_range")


@dataclass
class Figure:
    """A chart: its spec (:mod:`shipyard.charts`) and the caption that is also its accessible name."""

    spec: dict[str, Any]
    title: str


@dataclass
class Feature:
    """One input feature: its row in the drift table and its card."""

    name: str
    anchor: str
    kind: str  # the profile's column type: numeric, categorical, ...
    status: str
    checks: list[CheckResult]  # worst first
    test: str  # the drift test's statistic name, or "-"
    statistic: float | None
    psi: float | None
    missing: str  # "12.0% (1.0%)": missing now (reference), or "-"
    figure: Figure | None


@dataclass
class Interval:
    """Where an A/B arm's 95% interval and its KPI sit on the shared scale, as CSS percentages (``"12.5"``)."""

    left: str
    width: str
    mark: str


@dataclass
class Arm:
    """One variant of the A/B table; numbers already in the KPI's unit (a rate in %, or the raw value)."""

    name: str
    role: str  # baseline | compared
    labelled: int
    kpi: str
    low: str
    high: str
    bar: Interval | None  # None when the interval is unknown


def summary(result: MonitoringResult) -> dict[str, Any]:
    """The header: verdict, one-sentence summary and the window's facts."""
    window, current, reference = result.window, result.current, result.reference
    coverage = f" ({result.labelled_rows / current.rows:.1%} of predictions)" if current.rows else ""
    ref_rows = reference.profile.get("rows")
    return {
        "deployment": result.deployment, "verdict": result.verdict,
        "sentence": result.summary(status=False),  # the badge shows the status: not "ALERT" twice
        "window": f"{when(window.start_ms)} to {when(window.end_ms)} ({duration(window.seconds)})",
        "reference": reference_name(result) + (f", {ref_rows:,} rows" if isinstance(ref_rows, int) else ""),
        "model_uri": reference.model_uri or "-",
        "predictions": f"{current.rows:,} rows in {current.requests:,} requests",
        "labelled": f"{result.labelled_rows:,}{coverage}",
        "variants": [(name, info.get("rows", 0)) for name, info in sorted(current.variants.items())],
    }


def nav(result: MonitoringResult) -> dict[str, Any]:
    """The section links, each with the worst status of its checks (no badge when it has none)."""
    groups = [("failing", "Failing checks", result.failing()), ("drift", "Input drift", checks(result, *INPUT_CHECKS)),
              ("response", "Responses", checks(result, "prediction_drift", "confused")),
              ("traffic", "Volume and latency", checks(result, "volume", "latency")),
              ("quality", "Quality", checks(result, "quality", "estimated_quality", "concept_drift")),
              ("ab", "A/B", checks(result, "ab"))]
    return {"links": [(anchor, title, worst(found) if found else None) for anchor, title, found in groups]}


def failing(result: MonitoringResult) -> dict[str, Any]:
    """The failing checks, worst first, each input check linked to its feature's card."""
    anchors = feature_anchors(result)
    rows = [(item, anchors.get(item.feature) if item.feature is not None and item.check in INPUT_CHECKS else None)
            for item in sorted(result.failing(), key=lambda item: -STATUS_ORDER[item.status])]
    return {"rows": rows, "total": len(result.results)}


def drift(result: MonitoringResult) -> dict[str, Any]:
    """One table row and one card per input feature, failing features first."""
    anchors = feature_anchors(result)
    columns = result.reference.profile.get("columns", {})
    shown = []
    for name, found in features(result):
        kind = str(columns.get(name, {}).get("type", "-"))
        test = next((item for item in found if item.check == "drift"), None)
        missing = next((item for item in found if item.check == "missing"), None)
        missing_text = "-"
        if missing is not None and missing.details:
            missing_text = f"{missing.details['current_rate']:.1%} ({missing.details['reference_rate']:.1%})"
        figure = None
        if test is not None and test.details.get("labels"):
            labels, ref, cur = capped(test.details["labels"], test.details.get("reference") or [],
                                      test.details.get("current") or [])
            if kind == "numeric":
                labels = [edge(label) for label in labels]
            spec = charts.histogram(labels, {reference_name(result): ref, "current": cur},
                                    x_label="bin from" if kind == "numeric" else "level")
            figure = Figure(spec, f"{name}: share of rows per {'bin' if kind == 'numeric' else 'level'}")
        shown.append(Feature(name, anchors[name], kind, worst(found), found, (test.statistic if test else None) or "-",
                             test.value if test else None, test.details.get("psi") if test else None, missing_text,
                             figure))
    return {"features": shown, "reference": reference_name(result), "max_levels": MAX_LEVELS}


def response(result: MonitoringResult) -> dict[str, Any]:
    """Tiles about the answers' confidence, then one card per output check with its histogram."""
    current = result.current
    confidence = []
    if current.scored:
        confidence = [("Answers with probabilities", f"{current.scored:,}"),
                      ("Unsure (top-two gap under 0.1)", f"{current.low_margin / current.scored:.1%}"),
                      ("Mean normalised entropy", f"{current.entropy_total / current.scored:.3f}")]
    cards = []
    for item in checks(result, "prediction_drift", "confused"):
        figure = None
        if item.details.get("labels"):
            labels, ref, cur = capped(item.details["labels"], item.details.get("reference") or [],
                                      item.details.get("current") or [])
            if item.check == "confused":
                title = f"Probability of class {item.details.get('class', '')}: share of answers per bin"
                axis = "p from"
            else:
                classifier = (result.reference.prediction_profile or {}).get("kind") == "classifier"
                title = "Predictions: share of answers per " + ("class" if classifier else "bin of predicted values")
                axis = "class" if classifier else "value from"
            figure = Figure(charts.histogram(labels, {reference_name(result): ref, "current": cur}, x_label=axis),
                            title)
        heading = "Predicted classes" if item.check == "prediction_drift" else "Confused model"
        cards.append((heading, item, figure))
    return {"confidence": confidence, "cards": cards}


def traffic(result: MonitoringResult) -> dict[str, Any]:
    """Volume over the window, rows per variant and model version, and the latency tiles and histogram."""
    volume = []
    for item in checks(result, "volume"):
        previous = result.previous
        times, series = per_minute_buckets(result.window.start_ms, result.window.end_ms, result.current.per_minute,
                                           previous.per_minute if previous is not None and previous.rows else None)
        every = per(times[1] - times[0] if len(times) > 1 else 60)
        spec = charts.timeseries(times, series, y_label=f"predictions per {every}", utc=True, y_min=0)
        volume.append((item, Figure(spec, f"Predictions per {every} over the window (UTC)")))
    variants = result.current.variants
    total = sum(info.get("rows", 0) for info in variants.values()) or 1
    shares = [(name, info.get("rows", 0), info.get("rows", 0) / total, sorted(info.get("versions", {}).items()))
              for name, info in sorted(variants.items())]
    latency = []
    for item in checks(result, "latency"):
        counts = result.current.latency_counts
        answered = sum(counts)
        tiles = [(name, f"{item.details[name]:.3g} ms") for name in ("p50", "p95", "p99")
                 if item.details.get(name) is not None]
        figure = None
        if answered:
            tiles.append(("mean", f"{result.current.latency_total / answered:.3g} ms"))
            labels, bucket_shares = latency_bins(counts)
            figure = Figure(charts.histogram(labels, {"current": bucket_shares}, x_label="up to (ms)"),
                            "Server latency: share of rows per bucket (upper bound, ms)")
        latency.append((item, tiles, figure))
    return {"volume": volume, "variants": shares, "latency": latency}


def quality(result: MonitoringResult) -> dict[str, Any]:
    """Scores per variant from feedback, and the scores and labels over time."""
    found = checks(result, "quality")
    scored = [item for item in found if item.details.get("scores")]
    metrics = list(dict.fromkeys(name for item in scored for name in item.details["scores"]))
    over_time = None
    timeline = result.quality_timeline
    if timeline and timeline.get("variants"):
        metric = scored[0].statistic if scored and scored[0].statistic else "accuracy"
        times = [float(value) for value in timeline["times_s"]]
        every = per(timeline["bucket_s"])
        series = {name: info["scores"].get(metric, [None] * len(times)) for name, info in timeline["variants"].items()}
        labelled = charts.timeseries(times, {name: info["rows"] for name, info in timeline["variants"].items()},
                                     y_label="labelled rows", utc=True, y_min=0)
        over_time = {"scores": Figure(charts.timeseries(times, series, y_label=metric, utc=True),
                                      f"{metric} per {every} (UTC), per variant"),
                     "labelled": Figure(labelled, f"Labelled predictions per {every}"),
                     "every": every, "min_rows": timeline.get("min_rows", 20)}
    return {"unscored": [item for item in found if not item.details.get("scores")], "scored": scored,
            "metrics": metrics, "coverage": scored[0].details.get("coverage") if scored else None,
            "over_time": over_time, "estimates": checks(result, "estimated_quality"),
            "concept_drift": checks(result, "concept_drift")}


def ab(result: MonitoringResult) -> dict[str, Any]:
    """The A/B verdict and each arm's KPI with its 95% interval, drawn on one shared scale."""
    found = checks(result, "ab")
    if not found:
        return {"check": None}
    item = found[0]
    arms = item.details.get("arms") or {}
    rate = item.details.get("unit") == "pts"
    lows = [arm["low"] for arm in arms.values() if arm.get("low") is not None]
    highs = [arm["high"] for arm in arms.values() if arm.get("high") is not None]
    low, high = (min(lows), max(highs)) if lows and highs else (0.0, 1.0)
    pad = (high - low) * 0.1 or 0.01
    low, high = low - pad, high + pad

    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}" if rate else f"{value:.4g}"

    def place(value: float) -> float:
        return max(0.0, min(100.0, (value - low) / (high - low) * 100))

    rows = []
    for name, arm in arms.items():
        bar = None
        if arm.get("low") is not None and arm.get("high") is not None:
            bar = Interval(f"{place(arm['low']):.1f}", f"{place(arm['high']) - place(arm['low']):.1f}",
                           f"{place(arm['kpi']):.1f}")
        rows.append(Arm(name, "baseline" if name == item.details.get("base") else "compared", arm.get("n", 0),
                        show(arm.get("kpi")), show(arm.get("low")), show(arm.get("high")), bar))
    return {"check": item, "kpi": item.details.get("kpi") or "KPI", "arms": rows}


def checks(result: MonitoringResult, *kinds: str) -> list[CheckResult]:
    """The results of the checks named ``kinds``, in the result's order."""
    return [item for item in result.results if item.check in kinds]


def features(result: MonitoringResult) -> list[tuple[str, list[CheckResult]]]:
    """Input features with their checks, the worst first (then in the reference's order)."""
    grouped: dict[str, list[CheckResult]] = {}
    for item in checks(result, *INPUT_CHECKS):
        if item.feature is not None:
            grouped.setdefault(item.feature, []).append(item)
    ordered = sorted(grouped.items(), key=lambda pair: -STATUS_ORDER[worst(pair[1])])
    return [(name, sorted(found, key=lambda item: -STATUS_ORDER[item.status])) for name, found in ordered]


def feature_anchors(result: MonitoringResult) -> dict[str, str]:
    """Each input feature's card id (``feature-0`` for the worst), so tables can link to the cards."""
    return {name: f"feature-{index}" for index, (name, _) in enumerate(features(result))}


def reference_name(result: MonitoringResult) -> str:
    """What the window is compared with, as legends and sentences name it."""
    return "training" if result.reference.kind == "training" else "previous window"
