"""The prediction log and the feedback log: every answer (shadows included) and every label that came later.

One row per predicted record, keyed by ``(request_id, row)``; feedback rows carry the same key, so the
label of a prediction is a join. Inputs are kept as typed columns (``input.<name>``) so drift checks scan
one feature without parsing anything. Files live under ``<store>/serving/{predictions,feedback}/`` (or the
``log_dir`` of ``serving.yaml``); see :mod:`shipyard.serving.logstore` for the layout and why.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ValidationError
from ..store import Store, current_store
from .inputs import Columns
from .logstore import HOUR_MS, HourPartition, hour_partitions, partition_files, read_table

INPUT_PREFIX = "input."
_KIND_TYPES = {"integer": "float64", "float": "float64", "boolean": "bool", "string": "string", "datetime": "string"}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EARLIEST_MS, LATEST_MS = 0, 253_402_300_799_999  # 1970-01-01 and the last millisecond of 9999: what parse_time takes


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


def serving_root(store: Store | None = None, log_dir: str | None = None) -> Path:
    """Where the logs of this store's servers live."""
    if log_dir:
        return Path(log_dir).expanduser().resolve()
    store = store or current_store()
    if store.location.root is None:
        raise ConfigError("This store is a database URI, so the prediction log needs a directory: set log_dir in "
                          "serving.yaml (a local path).")
    return store.location.root / "serving"


def predictions_table(entries: list[PredictionEntry]) -> Any:
    """One Arrow table for a slice of answers: column-wise comprehensions, no per-row Python objects kept.

    Per-request values are converted once per request and repeated per row with ``take``; this runs on the
    serving event loop between requests, so its cost is the server's (see ``logstore.convert_some``).
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
    })


def prediction_log(deployment: str | None = None, since: str | datetime | None = None,
                   until: str | datetime | None = None, *, variant: str | None = None, shadow: bool | None = None,
                   with_feedback: bool = False, log_dir: str | None = None) -> Any:
    """The logged predictions of a deployment as a DataFrame, oldest first.

    Args:
        deployment: the deployment name (``None``: every deployment).
        since: a duration back from now (``"24h"``, ``"7d"``, ``"30m"``), an ISO time or a datetime.
        until: the end of the range (exclusive), same forms as ``since``.
        variant: only this variant.
        shadow: ``False`` for live answers only, ``True`` for shadow answers only, ``None`` for both.
        with_feedback: add ``label`` and ``label_value`` (the latest feedback for each row, or null).
        log_dir: the ``log_dir`` of ``serving.yaml`` when it sets one.

    Returns:
        One row per predicted record with ``request_id``, ``row``, ``timestamp``, ``variant``, model name and
        version, ``prediction``, ``probabilities``, ``latency_ms`` and one ``input.<column>`` per input.
    """
    import pandas as pd
    import pyarrow.dataset as ds

    root = serving_root(log_dir=log_dir) / "predictions"
    low, high = parse_time(since, "since"), parse_time(until, "until")
    condition = None
    for clause in (ds.field("timestamp") >= _ts(low) if low is not None else None,
                   ds.field("timestamp") < _ts(high) if high is not None else None,
                   ds.field("variant") == variant if variant is not None else None,
                   ds.field("shadow") == shadow if shadow is not None else None):
        if clause is not None:
            condition = clause if condition is None else condition & clause
    table = read_table(partition_files(root, deployment, low, high), filter=condition)
    frame = pd.DataFrame() if table is None else table.to_pandas()
    if len(frame):
        frame = frame.sort_values(["timestamp", "request_id", "row"], kind="stable").reset_index(drop=True)
    if with_feedback:
        frame = _join_feedback(frame, serving_root(log_dir=log_dir) / "feedback", deployment)
    return frame


def feedback_log(deployment: str | None = None, *, log_dir: str | None = None, request_id: str | None = None,
                 since_ms: int | None = None) -> Any:
    """The labels received for a deployment (latest last) as a DataFrame.

    ``request_id`` takes only that request's labels out of the files, and ``since_ms`` reads only the hours
    from then on (a label arrives after its prediction): what one prediction's lineage needs, without the
    whole log.
    """
    import pandas as pd
    import pyarrow.dataset as ds

    files = partition_files(serving_root(log_dir=log_dir) / "feedback", deployment, since_ms, None)
    table = read_table(files, filter=None if request_id is None else ds.field("request_id") == request_id)
    return pd.DataFrame(columns=["request_id", "row", "label", "label_value", "timestamp"]) if table is None \
        else table.to_pandas().sort_values("timestamp", kind="stable").reset_index(drop=True)


def find_prediction(request_id: str, *, log_dir: str | None = None, store: Store | None = None) -> Any:
    """The rows logged for one request id (every deployment, shadows included), as a DataFrame.

    A request id holds no time, but the ids people look up are mostly recent ones (a link from the latest
    predictions, a request just sent). So hours are read newest first, a widening batch at a time (1, 4,
    16... hours, every deployment), and the search stops at the first batch that holds the id, after also
    reading the hour before its earliest row: a live answer logged at 10:59:59 can have its shadow copy at
    11:00:00. Finding a recent id reads the newest hours only; an id never logged reads the whole log.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    root = serving_root(store, log_dir) / "predictions"
    by_hour: dict[int, list[HourPartition]] = {}
    for part in hour_partitions(root, None, None, None):
        by_hour.setdefault(part.start_ms, []).append(part)
    hours = sorted(by_hour, reverse=True)
    condition = ds.field("request_id") == request_id

    def read(chosen: list[int]) -> Any:
        return read_table([path for hour in chosen for part in by_hour[hour] for path in part.files()],
                          filter=condition)

    done, size = 0, 1
    while done < len(hours):
        batch = hours[done:done + size]
        done, size = done + len(batch), size * 4
        table = read(batch)
        if table is None or not table.num_rows:
            continue
        earliest = pc.min(pc.cast(table.column("timestamp"), pa.int64())).as_py()
        before = (earliest // HOUR_MS - 1) * HOUR_MS
        if before < batch[-1] and before in by_hour:  # that hour is older than any read so far
            more = read([before])
            if more is not None and more.num_rows:
                table = pa.concat_tables([table, more], promote_options="permissive")
        return table.to_pandas()
    return pd.DataFrame()


def logged_rows(root: Path, deployment: str, request_ids: set[str], *, days: int = 30) -> dict[str, int]:
    """How many rows each of ``request_ids`` logged for ``deployment`` in the last ``days`` days had (absent: none)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    since = int((time.time() - days * 86400) * 1000)
    table = read_table(partition_files(root, deployment, since, None), columns=["request_id", "row"],
                       filter=ds.field("request_id").isin(pa.array(sorted(request_ids), pa.string())))
    rows: dict[str, int] = {}
    if table is not None:
        for request_id, row in zip(table.column("request_id").to_pylist(), table.column("row").to_pylist(),
                                   strict=True):
            rows[request_id] = max(rows.get(request_id, 0), row + 1)
    return rows


def parse_time(value: str | datetime | None, field: str) -> int | None:
    """Epoch milliseconds from a duration back from now (``24h``), an ISO time or a datetime.

    Raises:
        ValidationError: neither form, or a time outside 1970-01-01 to 9999-12-31 (``999999999h`` reaches
            before year 1): no log holds rows there, and the message names ``field``, not an OverflowError.
    """
    if value is None:
        return None
    text = str(value)
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        if isinstance(value, datetime):
            moment = value
        elif match := _DURATION_RE.match(text):
            moment = datetime.now(UTC) - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
        else:
            moment = _iso_time(text, shown, field)
        epoch_ms = int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    except OverflowError:
        epoch_ms = -1
    if not EARLIEST_MS <= epoch_ms <= LATEST_MS:
        raise ValidationError(f"{field}={shown!r} is out of range: times must fall between 1970-01-01 and "
                              "9999-12-31 UTC (a duration such as 24h or 7d counts back from now).", field=field)
    return epoch_ms


def _iso_time(text: str, shown: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{field}={shown!r} is neither a duration (30m, 24h, 7d) nor an ISO time "
                              "(2026-11-22T08:00).", field=field) from None


def _join_feedback(frame: Any, root: Path, deployment: str | None) -> Any:
    table = read_table(partition_files(root, deployment, None, None))
    if table is None or not len(frame):
        frame["label"], frame["label_value"] = None, float("nan")
        return frame
    labels = table.to_pandas().sort_values("timestamp", kind="stable").drop_duplicates(
        ["request_id", "row"], keep="last")[["request_id", "row", "label", "label_value"]]
    return frame.merge(labels, on=["request_id", "row"], how="left")


def _ts(epoch_ms: int) -> Any:
    import pyarrow as pa

    return pa.scalar(epoch_ms, type=pa.timestamp("ms", tz="UTC"))


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
