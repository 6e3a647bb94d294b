"""The profile of a dataset: the reference that monitoring compares live traffic against.

Profiles are compact and mergeable. Numeric columns keep counts in fixed bins whose edges come from
the training data (reference deciles with open outer edges, the common choice for PSI) plus an
equal-width histogram for charts; categorical columns keep level counts. A live window profiled with
the reference's own edges is then just more counts, so hourly profiles add up to days and weeks
without rescanning raw data, and the reference is never recomputed at check time.

Pure computation on arrays; ``PROFILE_VERSION`` versions the stored form.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..binning import count_in_open_bins
from ..errors import ValidationError
from .signature import Signature

if TYPE_CHECKING:
    import pandas as pd

PROFILE_VERSION = 1
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
DECILE_POINTS = tuple(index / 10 for index in range(1, 10))
HISTOGRAM_BINS = 20
PROBABILITY_BINS = 20
MAX_LEVELS = 1000
# Values are scaled (exactly, by a power of two) only past 2**480 (about 3e144): their squares stay under
# 2**962, so sums of squares over 2**60 rows stay finite (see scale_exponent).
SQUARES_LIMIT_EXPONENT = 480


def profile_frame(frame: pd.DataFrame, signature: Signature) -> dict[str, Any]:
    """Profile every signature column of ``frame`` (training data: this fixes the bin edges)."""
    columns = {}
    for spec in signature.inputs:
        series = frame[spec.name]
        if spec.kind in ("integer", "float"):
            columns[spec.name] = numeric_profile(series.to_numpy(dtype="float64", na_value=math.nan))
        elif spec.kind == "string":
            columns[spec.name] = categorical_profile(series)
        else:
            columns[spec.name] = {"type": spec.kind, "count": int(series.notna().sum()),
                                  "missing": int(series.isna().sum())}
    return {"version": PROFILE_VERSION, "rows": len(frame), "columns": columns}


def numeric_profile(values: Any, reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts, moments, quantiles and binned counts of a numeric array (NaN counts as missing).

    With ``reference`` (another numeric profile), the bins reuse its edges so the two are comparable
    and mergeable; without it, the edges come from these values.
    """
    import numpy as np

    array = np.asarray(values, dtype="float64")
    present = array[~np.isnan(array)]
    missing = int(array.size - present.size)
    finite = present[np.isfinite(present)]
    profile: dict[str, Any] = {"type": "numeric", "count": int(present.size), "missing": missing}
    if finite.size == 0:
        profile.update(min=None, max=None, mean=None, std=None, quantiles={}, decile_edges=[], decile_counts=[],
                       hist_edges=[], hist_counts=[])
        if reference is not None:
            profile.update(decile_edges=reference["decile_edges"], hist_edges=reference["hist_edges"],
                           decile_counts=[0] * (len(reference["decile_edges"]) + 1),
                           hist_counts=[0] * max(len(reference["hist_edges"]) - 1, 0))
        return profile
    low, high = float(finite.min()), float(finite.max())
    exponent = scale_exponent(max(-low, high), SQUARES_LIMIT_EXPONENT)
    scaled = np.ldexp(finite, -exponent) if exponent else finite  # exact: a power of two

    def unscaled(value: Any) -> Any:
        return np.ldexp(value, exponent) if exponent else value

    if reference is None:
        decile_edges = sorted(set(unscaled(np.quantile(scaled, DECILE_POINTS)).tolist()))
        top = high if high > low else low + 1.0
        hist_edges = unscaled(np.linspace(low * 2.0 ** -exponent, top * 2.0 ** -exponent,
                                          HISTOGRAM_BINS + 1)).tolist()
    else:
        decile_edges, hist_edges = list(reference["decile_edges"]), list(reference["hist_edges"])
    profile.update(
        min=low, max=high, mean=float(unscaled(scaled.mean())), std=float(unscaled(scaled.std())),
        quantiles={str(q): float(v) for q, v in zip(QUANTILES, unscaled(np.quantile(scaled, QUANTILES)),
                                                    strict=True)},
        decile_edges=decile_edges,
        decile_counts=count_in_open_bins(finite, decile_edges),
        hist_edges=hist_edges,
        hist_counts=_closed_bin_counts(finite, hist_edges),
    )
    return profile


def categorical_profile(series: Any) -> dict[str, Any]:
    """Level counts (the ``MAX_LEVELS`` most frequent; the rest summed as ``other``) and missing count."""
    import pandas as pd

    values = pd.Series(series).astype(object)
    present = values[values.notna()].map(str)
    counts = present.value_counts()
    kept = counts.iloc[:MAX_LEVELS]
    return {"type": "categorical", "count": int(present.size), "missing": int(values.size - present.size),
            "levels": {str(level): int(count) for level, count in kept.items()},
            "other": int(counts.iloc[MAX_LEVELS:].sum())}


def prediction_profile(predictions: Any, probabilities: Any = None, classes: tuple[Any, ...] = ()) -> dict[str, Any]:
    """The model's own output distribution: class shares and per-class probability histograms, or, for a
    regressor, a numeric profile of its predictions."""
    import numpy as np

    if not classes:
        return {"version": PROFILE_VERSION, "kind": "regressor", "values": numeric_profile(predictions)}
    labels = [str(label) for label in classes]
    counts = categorical_profile(np.asarray(predictions))["levels"]
    result: dict[str, Any] = {"version": PROFILE_VERSION, "kind": "classifier", "classes": labels,
                              "class_counts": {label: counts.get(label, 0) for label in labels}}
    if probabilities is not None:
        matrix = np.asarray(probabilities, dtype="float64")
        edges = np.linspace(0.0, 1.0, PROBABILITY_BINS + 1).tolist()
        result["probability_edges"] = edges
        result["probability_counts"] = {label: _closed_bin_counts(matrix[:, index], edges)
                                        for index, label in enumerate(labels)}
    return result


def merge_numeric(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Add two numeric profiles made with the same edges (e.g. two hourly windows).

    Raises:
        ValidationError: the two profiles were binned with different edges.
    """
    if first["decile_edges"] != second["decile_edges"] or first["hist_edges"] != second["hist_edges"]:
        raise ValidationError("numeric profiles can only be merged when they share bin edges", field="decile_edges")
    count = first["count"] + second["count"]
    merged = dict(first)
    merged.update(
        count=count, missing=first["missing"] + second["missing"],
        min=_pick(min, first["min"], second["min"]), max=_pick(max, first["max"], second["max"]),
        decile_counts=[a + b for a, b in zip(first["decile_counts"], second["decile_counts"], strict=True)],
        hist_counts=[a + b for a, b in zip(first["hist_counts"], second["hist_counts"], strict=True)],
        quantiles={},  # exact quantiles do not merge; the binned counts carry the distribution
    )
    if count and first["mean"] is not None and second["mean"] is not None:  # weights first: no overflow near 1e308
        merged["mean"] = first["mean"] * (first["count"] / count) + second["mean"] * (second["count"] / count)
    else:
        merged["mean"] = first["mean"] if second["mean"] is None else second["mean"]
    merged["std"] = None
    return merged


def scale_exponent(magnitude: float, limit_exponent: int) -> int:
    """The power of two to divide values of up to ``magnitude`` by so that they stay under 2**limit_exponent.

    0 (no scaling) for all ordinary data. Scaling by a power of two is exact, and sums, means, quantile
    interpolation and linspace all commute with it, so statistics computed on scaled values and scaled back
    are the very numbers numpy gives on the originals, minus the overflow that values near the largest
    double (1.8e308) cause: two of them already sum to infinity, and squares overflow past 1.3e154.
    """
    return max(0, math.frexp(magnitude)[1] - limit_exponent) if math.isfinite(magnitude) else 0


def _closed_bin_counts(values: Any, edges: list[float]) -> list[int]:
    """Counts in equal-width chart bins; values outside the edges fall into the outermost bins."""
    import numpy as np

    if len(edges) < 2:
        return []
    clipped = np.clip(np.asarray(values, dtype="float64"), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=np.asarray(edges, dtype="float64"))
    return counts.astype(int).tolist()


def _pick(choose: Any, first: float | None, second: float | None) -> float | None:
    present = [value for value in (first, second) if value is not None]
    return choose(present) if present else None
