"""What the logs hold: the entries a server appends and the Arrow tables they become, one row per record.

Predictions are keyed by ``(request_id, row)``; feedback rows carry the same key, so the label of a
prediction is a join. Inputs are kept as typed columns (``input.<name>``) so drift checks scan one feature
without parsing anything; a prediction is kept both as text (``prediction``, what labels compare with) and
as a number when it is one (``prediction_value``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

Columns = dict[str, list[Any]]  # column name -> one value per row, as a request's inputs are checked
INPUT_PREFIX = "input."
_KIND_TYPES = {"integer": "float64", "float": "float64", "boolean": "bool", "string": "string", "datetime": "string"}


@dataclass
class PredictionEntry:
    """One answered request (or its shadow copy), as the server hands it to the log."""

    request_id: str
    timestamp_ms: int
    deployment: str
    variant: str
    shadow: bool
    model_name: str | None
    model_version: int | None
    model_uri: str
    runtime: str
    latency_ms: float
    sticky_key: str | None
    inputs: Columns
    kinds: dict[str, str]
    labels: list[Any]
    probabilities: list[list[float]] | None
    # The probability the router chose this variant with (``routing: thompson``), for inverse propensity
    # weighting; None when the variant was not drawn at random (other routings, a shadow, a pinned version).
    propensity: float | None = None


@dataclass
class FeedbackEntry:
    request_id: str
    row: int
    label: Any
    timestamp_ms: int


@dataclass
class ErrorEntry:
    """A request a deployment refused (4xx) or failed (5xx): monitoring's error rate counts these."""

    timestamp_ms: int
    status: int
    error_type: str
    field: str | None
    message: str
    variant: str | None = None  # the variant the request was routed to (None: refused before routing)


def predictions_table(entries: list[PredictionEntry]) -> Any:
    """One Arrow table for a slice of answers: column-wise comprehensions, no per-row Python objects kept.

    Per-request values are converted once per request and repeated per row with ``take``; this runs on the
    serving event loop between requests, so its cost is the server's (see ``PartitionedLog.convert_some``).
    """
    import numpy as np
    import pyarrow as pa

    inputs: dict[str, str] = {}
    for kinds in {id(entry.kinds): entry.kinds for entry in entries}.values():  # one dict per served model
        for name, kind in kinds.items():
            inputs.setdefault(name, kind)
    counts = [len(entry.labels) for entry in entries]
    repeat = None if all(count == 1 for count in counts) else pa.array(np.repeat(np.arange(len(entries)), counts))

    def per_request(values: list[Any], kind: Any) -> Any:
        array = pa.array(values, type=kind)
        return array if repeat is None else array.take(repeat)

    string = pa.string()
    arrays: dict[str, Any] = {
        "request_id": per_request([entry.request_id for entry in entries], string),
        "row": pa.array([row for count in counts for row in range(count)], pa.int32()),
        "timestamp": per_request([entry.timestamp_ms for entry in entries], pa.timestamp("ms", tz="UTC")),
        "deployment": per_request([entry.deployment for entry in entries], string),
        "variant": per_request([entry.variant for entry in entries], string),
        "shadow": per_request([entry.shadow for entry in entries], pa.bool_()),
        "model_name": per_request([entry.model_name for entry in entries], string),
        "model_version": per_request([entry.model_version for entry in entries], pa.int64()),
        "model_uri": per_request([entry.model_uri for entry in entries], string),
        "runtime": per_request([entry.runtime for entry in entries], string),
        "latency_ms": per_request([entry.latency_ms for entry in entries], pa.float64()),
        "sticky_key": per_request([entry.sticky_key for entry in entries], string),
        "propensity": per_request([entry.propensity for entry in entries], pa.float64()),
    }
    labels = [label for entry in entries for label in entry.labels]
    arrays["prediction"] = pa.array([str(label) for label in labels], string)
    arrays["prediction_value"] = pa.array([_number(label) for label in labels], pa.float64())
    arrays["probabilities"] = _probabilities(entries)
    complete = all(len(entry.inputs) == len(inputs) for entry in entries)
    for name, kind in inputs.items():
        if complete:  # the usual case, iterated in C: a slice of answers is thousands of rows
            values = list(chain.from_iterable(map(itemgetter(name), map(attrgetter("inputs"), entries))))
        else:
            values = [value for entry in entries for value in (entry.inputs.get(name) or [None] * len(entry.labels))]
        arrays[INPUT_PREFIX + name] = _input_array(values, _KIND_TYPES.get(kind, "string"))
    return pa.table(arrays)


def _input_array(values: list[Any], kind: str) -> Any:
    import pyarrow as pa

    arrow_type = pa.type_for_alias(kind)
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # e.g. an integer past int64, a number as text
        if kind == "float64":
            return pa.array([math.nan if value is None else float(value) for value in values], type=arrow_type)
        return pa.array([None if value is None else str(value) for value in values], type=arrow_type)


def _probabilities(entries: list[PredictionEntry]) -> Any:
    import numpy as np
    import pyarrow as pa

    missing: list[Any] = [None]
    rows = [row for entry in entries for row in (entry.probabilities or missing * len(entry.labels))]
    widths = {len(row) for row in rows if row is not None}
    if len(widths) != 1 or any(row is None for row in rows):
        return pa.array(rows, type=pa.list_(pa.float64()))
    width = widths.pop()
    values = pa.array(np.asarray(rows, dtype="float64").reshape(-1))
    offsets = pa.array(np.arange(0, len(rows) * width + 1, width, dtype="int32"))
    return pa.ListArray.from_arrays(offsets, values)


def feedback_table(entries: list[FeedbackEntry]) -> Any:
    import pyarrow as pa

    return pa.table({
        "request_id": pa.array([entry.request_id for entry in entries], pa.string()),
        "row": pa.array([entry.row for entry in entries], pa.int32()),
        "label": pa.array([label_text(entry.label) for entry in entries], pa.string()),
        "label_value": pa.array([_number(entry.label) for entry in entries], pa.float64()),
        "timestamp": pa.array([entry.timestamp_ms for entry in entries], pa.timestamp("ms", tz="UTC")),
    })


def errors_table(entries: list[ErrorEntry]) -> Any:
    import pyarrow as pa

    return pa.table({
        "timestamp": pa.array([entry.timestamp_ms for entry in entries], pa.timestamp("ms", tz="UTC")),
        "status": pa.array([entry.status for entry in entries], pa.int32()),
        "error_type": pa.array([entry.error_type for entry in entries], pa.string()),
        "field": pa.array([entry.field for entry in entries], pa.string()),
        "message": pa.array([entry.message[:500] for entry in entries], pa.string()),
        "variant": pa.array([entry.variant for entry in entries], pa.string()),
    })


def label_text(value: Any) -> str:
    """A label as the text the log compares with predictions: ``1.0`` is ``"1"``, as the class 1 is logged."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None
