"""The log read back: predictions (with their labels), feedback, one request's rows, the rows a request had.

Every read names the hours it can need before opening a file (:mod:`.layout`), and filters in Arrow
(:mod:`.scan`); pandas is only the shape of the answer.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ..store import Store
from .layout import FEEDBACK, HOUR_MS, PREDICTIONS, HourPartition, hour_partitions, partition_files, serving_root
from .location import LogPath
from .scan import read_table
from .times import parse_time


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

    root = serving_root(log_dir=log_dir) / PREDICTIONS
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
        frame = _join_feedback(frame, serving_root(log_dir=log_dir) / FEEDBACK, deployment)
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

    files = partition_files(serving_root(log_dir=log_dir) / FEEDBACK, deployment, since_ms, None)
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

    root = serving_root(store, log_dir) / PREDICTIONS
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


def logged_rows(root: LogPath, deployment: str, request_ids: set[str], *, days: int = 30) -> dict[str, int]:
    """How many rows each of ``request_ids`` logged for ``deployment`` in the last ``days`` days had (absent: none).

    Feedback names recent requests, so hours are read newest first, a widening batch at a time (1, 4, 16...
    hours), until every id is found: a label for a request answered a minute ago reads the newest hour only,
    not a month of files (on S3, requests per file). An id never logged still reads the whole window.
    """
    rows: dict[str, int] = {}
    for table in _newest_first(root, deployment, request_ids, ["request_id", "row"], days):
        for request_id, row in zip(table.column("request_id").to_pylist(), table.column("row").to_pylist(),
                                   strict=True):
            rows[request_id] = max(rows.get(request_id, 0), row + 1)
    return rows


def routed_predictions(root: LogPath, deployment: str, request_ids: set[str], *,
                       days: int = 30) -> dict[tuple[str, int], tuple[str, str, float | None, float | None]]:
    """``(request_id, row)`` -> ``(variant, prediction, propensity, confidence)`` of the live (not shadow) answers
    of ``request_ids``, read newest first as :func:`logged_rows` reads; ``propensity`` is None in logs older than
    the column, and for answers not routed at random; ``confidence`` is the largest of the row's probabilities
    (the predicted class's, a classifier's P(correct) by its own account), None without probabilities."""
    found: dict[tuple[str, int], tuple[str, str, float | None, float | None]] = {}
    columns = ["request_id", "row", "variant", "shadow", "prediction", "propensity", "probabilities"]
    for table in _newest_first(root, deployment, request_ids, columns, days):
        propensity = table.column("propensity").to_pylist() if "propensity" in table.column_names \
            else [None] * table.num_rows
        scores = table.column("probabilities").to_pylist() if "probabilities" in table.column_names \
            else [None] * table.num_rows
        for request_id, row, variant, shadow, prediction, chance, score in zip(
                table.column("request_id").to_pylist(), table.column("row").to_pylist(),
                table.column("variant").to_pylist(), table.column("shadow").to_pylist(),
                table.column("prediction").to_pylist(), propensity, scores, strict=True):
            if not shadow:
                found[(request_id, row)] = (variant, prediction, chance, max(score) if score else None)
    return found


def _newest_first(root: LogPath, deployment: str, request_ids: set[str], columns: list[str], days: int) -> Any:
    """The log rows of ``request_ids`` (only ``columns``), a table per batch of hours read newest first, until
    every id was found."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    since = int((time.time() - days * 86400) * 1000)
    hours = list(reversed(hour_partitions(root, deployment, since, None)))
    missing = set(request_ids)
    done, size = 0, 1
    while missing and done < len(hours):
        batch = hours[done:done + size]
        done, size = done + len(batch), size * 4
        table = read_table([path for hour in batch for path in hour.files()], columns=columns,
                           filter=ds.field("request_id").isin(pa.array(sorted(missing), pa.string())))
        if table is None:
            continue
        yield table
        missing -= set(table.column("request_id").to_pylist())


def _join_feedback(frame: Any, root: LogPath, deployment: str | None) -> Any:
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
