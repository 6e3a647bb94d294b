"""Profiles of live traffic: the prediction log of a time window reduced to mergeable counts.

A window is read from the Parquet log in Arrow record batches (never the whole range in pandas) and
folded into counts that use the reference's own bin edges: per feature the decile and chart-histogram
counts, missing values, values outside the training range and category counts; per answer the class
counts, probability histograms, entropy and low-margin counts; per minute the volume; latency in fixed
log-spaced buckets. Counts add up, so hourly profiles merge into days and weeks without rescanning, and
the reference (the training profile stored with the model version) is never recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..models.profile import scale_exponent
from ..predlog.schema import INPUT_PREFIX

LATENCY_EDGES_MS = tuple(round(0.1 * 10 ** (index / 12), 6) for index in range(61))  # 0.1 ms .. 10 s
LOW_MARGIN = 0.1  # top-two probability gap under which an answer counts as unsure
SCAN_BATCH_ROWS = 262_144
SUM_LIMIT_EXPONENT = 960  # running sums keep their values under 2**960 (FeatureWindow.add_total)


@dataclass
class FeatureWindow:
    kind: str  # "numeric" | "categorical" | other signature kinds (only counted)
    count: int = 0
    missing: int = 0
    decile_counts: list[int] = field(default_factory=list)
    hist_counts: list[int] = field(default_factory=list)
    below: int = 0  # under the training minimum
    above: int = 0  # over the training maximum
    total: float = 0.0  # the sum of the finite values, divided by 2**total_exponent
    total_exponent: int = 0  # 0 unless a value passed 2**960 (~1e289): see add_total
    levels: dict[str, int] = field(default_factory=dict)

    def merge(self, other: FeatureWindow) -> None:
        self.count += other.count
        self.missing += other.missing
        self.decile_counts = _add(self.decile_counts, other.decile_counts)
        self.hist_counts = _add(self.hist_counts, other.hist_counts)
        self.below += other.below
        self.above += other.above
        self._rescale(max(self.total_exponent, other.total_exponent))
        self.total += math.ldexp(other.total, other.total_exponent - self.total_exponent)
        for level, count in other.levels.items():
            self.levels[level] = self.levels.get(level, 0) + count

    def add_total(self, finite: Any) -> None:
        """Add a float array of finite values to the running sum without ever overflowing.

        Two values near the largest double already sum past it; the sum is therefore kept divided by a power
        of two (exact) that grows when a value past 2**960 arrives, which leaves 2**63 rows of headroom. For
        ordinary data the power is 2**0 and the sum is numpy's own.
        """
        import numpy as np

        if not finite.size:
            return
        magnitude = max(float(finite.max()), -float(finite.min()))
        self._rescale(max(self.total_exponent, scale_exponent(magnitude, SUM_LIMIT_EXPONENT)))
        exponent = self.total_exponent
        self.total += float((np.ldexp(finite, -exponent) if exponent else finite).sum())

    def _rescale(self, exponent: int) -> None:
        if exponent != self.total_exponent:
            self.total = math.ldexp(self.total, self.total_exponent - exponent)
            self.total_exponent = exponent

    @property
    def mean(self) -> float | None:
        """The mean of the finite values (never past the largest of them, so always finite)."""
        return math.ldexp(self.total / self.count, self.total_exponent) if self.count else None


@dataclass
class WindowProfile:
    """Counts of one deployment's live answers (shadows are profiled apart) over ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int
    rows: int = 0
    requests: int = 0
    features: dict[str, FeatureWindow] = field(default_factory=dict)
    class_counts: dict[str, int] = field(default_factory=dict)
    probability_counts: dict[str, list[int]] = field(default_factory=dict)
    entropy_total: float = 0.0
    low_margin: int = 0
    scored: int = 0  # rows with probabilities
    prediction_values: FeatureWindow | None = None  # regressors
    per_minute: dict[int, int] = field(default_factory=dict)
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_EDGES_MS) + 1))
    latency_total: float = 0.0
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> rows, versions

    def merge(self, other: WindowProfile) -> None:
        self.start_ms, self.end_ms = min(self.start_ms, other.start_ms), max(self.end_ms, other.end_ms)
        self.rows += other.rows
        self.requests += other.requests
        for name, feature in other.features.items():
            if name in self.features:
                self.features[name].merge(feature)
            else:
                self.features[name] = feature
        for label, count in other.class_counts.items():
            self.class_counts[label] = self.class_counts.get(label, 0) + count
        for label, counts in other.probability_counts.items():
            self.probability_counts[label] = _add(self.probability_counts.get(label, []), counts)
        self.entropy_total += other.entropy_total
        self.low_margin += other.low_margin
        self.scored += other.scored
        if other.prediction_values is not None:
            if self.prediction_values is None:
                self.prediction_values = other.prediction_values
            else:
                self.prediction_values.merge(other.prediction_values)
        for minute, count in other.per_minute.items():
            self.per_minute[minute] = self.per_minute.get(minute, 0) + count
        self.latency_counts = _add(self.latency_counts, other.latency_counts)
        self.latency_total += other.latency_total
        for name, info in other.variants.items():
            mine = self.variants.setdefault(name, {"rows": 0, "versions": {}})
            mine["rows"] += info["rows"]
            for version, rows in info["versions"].items():
                mine["versions"][version] = mine["versions"].get(version, 0) + rows

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for the hourly profile cache); :meth:`from_dict` reads it back."""
        from dataclasses import asdict

        data = asdict(self)
        data["per_minute"] = {str(minute): count for minute, count in self.per_minute.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowProfile:
        values = dict(data)
        values["features"] = {name: _feature(feature) for name, feature in data["features"].items()}
        values["per_minute"] = {int(minute): count for minute, count in data["per_minute"].items()}
        if data.get("prediction_values") is not None:
            values["prediction_values"] = _feature(data["prediction_values"])
        return cls(**values)

    def latency_quantile(self, q: float) -> float | None:
        """Latency (ms) at quantile ``q`` from the bucket counts (upper bucket edge: never optimistic)."""
        total = sum(self.latency_counts)
        if not total:
            return None
        target = q * total
        running = 0
        for index, count in enumerate(self.latency_counts):
            running += count
            if running >= target:
                return LATENCY_EDGES_MS[min(index, len(LATENCY_EDGES_MS) - 1)]
        return LATENCY_EDGES_MS[-1]


class WindowBuilder:
    """Fold Arrow record batches of the prediction log into a :class:`WindowProfile`."""

    def __init__(self, reference: dict[str, Any], prediction_reference: dict[str, Any] | None,
                 start_ms: int, end_ms: int) -> None:
        self.reference = reference  # the model's training profile: {"columns": {name: profile}}
        self.prediction_reference = prediction_reference or {}
        self.profile = WindowProfile(start_ms, end_ms)

    def add_batch(self, batch: Any) -> None:
        import numpy as np
        import pyarrow.compute as pc

        if batch.num_rows == 0:
            return
        profile = self.profile
        profile.rows += batch.num_rows
        names = batch.schema.names
        profile.requests += int(pc.sum(pc.equal(batch.column(names.index("row")), 0)).as_py() or 0)
        timestamps = batch.column(names.index("timestamp")).cast("int64").to_numpy(zero_copy_only=False)
        minutes, counts = np.unique(timestamps // 60_000, return_counts=True)
        for minute, count in zip(minutes.tolist(), counts.tolist(), strict=True):
            profile.per_minute[minute] = profile.per_minute.get(minute, 0) + count
        latency = batch.column(names.index("latency_ms")).to_numpy(zero_copy_only=False)
        bins = np.searchsorted(np.asarray(LATENCY_EDGES_MS), latency, side="left")
        profile.latency_counts = _add(profile.latency_counts,
                                      np.bincount(bins, minlength=len(LATENCY_EDGES_MS) + 1).tolist())
        profile.latency_total += float(np.nansum(latency))
        self._add_variants(batch, names)
        for name, reference in self.reference.get("columns", {}).items():
            column = INPUT_PREFIX + name
            if column in names:
                self._add_feature(name, reference, batch.column(names.index(column)))
        self._add_predictions(batch, names, pc)

    def finish(self) -> WindowProfile:
        return self.profile

    def _add_variants(self, batch: Any, names: list[str]) -> None:
        import pyarrow as pa

        table = pa.table({"variant": batch.column(names.index("variant")),
                          "version": batch.column(names.index("model_version"))})
        grouped = table.group_by(["variant", "version"]).aggregate([([], "count_all")]).to_pylist()
        for item in grouped:
            info = self.profile.variants.setdefault(item["variant"], {"rows": 0, "versions": {}})
            info["rows"] += item["count_all"]
            key = str(item["version"])
            info["versions"][key] = info["versions"].get(key, 0) + item["count_all"]

    def _add_feature(self, name: str, reference: dict[str, Any], column: Any) -> None:
        import numpy as np

        feature = self.profile.features.get(name)
        if reference.get("type") == "numeric":
            values = column.cast("double").to_numpy(zero_copy_only=False)
            feature = feature or FeatureWindow("numeric", decile_counts=[0] * (len(reference["decile_edges"]) + 1),
                                               hist_counts=[0] * max(len(reference["hist_edges"]) - 1, 0))
            present = values[~np.isnan(values)]
            feature.missing += int(values.size - present.size)
            feature.count += int(present.size)
            if present.size:
                edges = np.asarray(reference["decile_edges"], dtype="float64")
                feature.decile_counts = _add(feature.decile_counts, np.bincount(
                    np.searchsorted(edges, present, side="left"), minlength=edges.size + 1).tolist())
                hist_edges = reference["hist_edges"]
                if len(hist_edges) >= 2:
                    clipped = np.clip(present, hist_edges[0], hist_edges[-1])
                    feature.hist_counts = _add(feature.hist_counts, np.histogram(clipped, bins=hist_edges)[0].tolist())
                if reference.get("min") is not None:
                    feature.below += int((present < reference["min"]).sum())
                    feature.above += int((present > reference["max"]).sum())
                feature.add_total(present[np.isfinite(present)])
        elif reference.get("type") == "categorical":
            feature = feature or FeatureWindow("categorical")
            fold_levels(feature, column)
        else:
            feature = feature or FeatureWindow(str(reference.get("type", "other")))
            nulls = column.null_count
            feature.missing += nulls
            feature.count += len(column) - nulls
        self.profile.features[name] = feature

    def _add_predictions(self, batch: Any, names: list[str], pc: Any) -> None:
        import numpy as np

        profile = self.profile
        predicted = batch.column(names.index("prediction"))
        for item in predicted.value_counts().to_pylist():
            label = str(item["values"])
            profile.class_counts[label] = profile.class_counts.get(label, 0) + item["counts"]
        classes = self.prediction_reference.get("classes") or []
        probabilities = batch.column(names.index("probabilities"))
        if classes and probabilities.null_count < len(probabilities):
            valid = probabilities.filter(pc.is_valid(probabilities))
            width = len(classes)
            flat = valid.flatten().to_numpy(zero_copy_only=False)
            if flat.size == len(valid) * width:
                matrix = flat.reshape(-1, width)
                edges = self.prediction_reference.get("probability_edges") or np.linspace(0, 1, 21).tolist()
                for index, label in enumerate(classes):
                    counts = np.histogram(np.clip(matrix[:, index], 0.0, 1.0), bins=edges)[0].tolist()
                    profile.probability_counts[label] = _add(profile.probability_counts.get(label, []), counts)
                clipped = np.clip(matrix, 1e-12, 1.0)
                entropy = -(clipped * np.log(clipped)).sum(axis=1) / math.log(width) if width > 1 else \
                    np.zeros(len(matrix))
                profile.entropy_total += float(entropy.sum())
                top_two = np.sort(matrix, axis=1)[:, -2:] if width > 1 else np.ones((len(matrix), 2))
                profile.low_margin += int(((top_two[:, 1] - top_two[:, 0]) < LOW_MARGIN).sum())
                profile.scored += len(matrix)
        if not classes and "prediction_value" in names:
            reference = self.prediction_reference.get("values") or {}
            if reference.get("type") == "numeric":
                holder = self.profile.prediction_values
                self.profile.features["__prediction__"] = holder or FeatureWindow("numeric", decile_counts=[0] * (
                    len(reference["decile_edges"]) + 1), hist_counts=[0] * max(len(reference["hist_edges"]) - 1, 0))
                self._add_feature("__prediction__", reference, batch.column(names.index("prediction_value")))
                self.profile.prediction_values = self.profile.features.pop("__prediction__")


def fold_levels(feature: FeatureWindow, column: Any) -> None:
    """Add an Arrow column's level counts (levels named ``str(value)``, as the reference's); null is missing."""
    import pyarrow.compute as pc

    counts = pc.value_counts(column)
    for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
        if value is None:
            feature.missing += count
        else:
            feature.count += count
            key = str(value)
            feature.levels[key] = feature.levels.get(key, 0) + count


def _feature(data: dict[str, Any]) -> FeatureWindow:
    """A cached feature window; keys of older versions (``total_squares``) are dropped."""
    from dataclasses import fields

    known = {item.name for item in fields(FeatureWindow)}
    return FeatureWindow(**{key: value for key, value in data.items() if key in known})


def _add(first: list[int], second: list[int]) -> list[int]:
    if not first:
        return list(second)
    if not second:
        return first
    return [a + b for a, b in zip(first, second, strict=True)]
