"""Where monitoring reads from: the prediction and feedback logs of a deployment, and the reference.

The reference of a window is the training profile stored with the model version that answered most of
its live traffic (``training``), or the profile of the window of equal length just before it
(``window``). Labelled rows for quality and A/B come from joining the feedback log (small) to the
predictions that have a label, scanning only the columns those need.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..models.manifest import read_manifest
from ..models.registry import resolve
from ..predlog.hourly_cache import PROFILES, TRAFFIC, fingerprint, is_closed, read_summary, write_summary
from ..predlog.layout import (
    ERRORS,
    FEEDBACK,
    HOUR_MS,
    PREDICTIONS,
    hour_partitions,
    partition_files,
    serving_root,
)
from ..predlog.location import LogPath
from ..predlog.scan import scan_batches
from ..predlog.schema import INPUT_PREFIX
from ..predlog.times import parse_time
from ..store import Store
from .windows import WindowBuilder, WindowProfile

BASE_COLUMNS = ["request_id", "row", "timestamp", "variant", "model_version", "model_uri", "latency_ms",
                "prediction", "prediction_value", "probabilities", "shadow"]


@dataclass
class Window:
    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000

    def before(self) -> Window:
        """The window of equal length just before this one (cut at 1970-01-01: no log holds rows before)."""
        return Window(max(0, self.start_ms - (self.end_ms - self.start_ms)), self.start_ms)


@dataclass
class Reference:
    kind: str  # "training" | "window"
    model_uri: str | None
    profile: dict[str, Any]  # training profile: {"rows", "columns": {name: profile}}
    prediction_profile: dict[str, Any] | None
    target_profile: dict[str, Any] | None = None
    window: WindowProfile | None = None  # with kind "window": the earlier window's counts


CLI_NAMES = ("--since", "--from", "--to")


def window_from(since: str | None, start: str | None, end: str | None, *, default: str = "24h",
                names: tuple[str, str, str] = CLI_NAMES) -> Window:
    """The time range a command names: ``--since 24h`` or ``--from T --to T`` (end defaults to now).

    ``names`` spell since, from and to in the messages: the CLI's options by default; a web page passes
    its query parameters, so its visitor is not told about flags they never typed.

    Raises:
        ValidationError: both forms given, a time that does not parse or is out of range, an empty window.
    """
    since_name, from_name, to_name = names
    now_ms = int(time.time() * 1000)
    if since and start:
        raise ValidationError(f"Give {since_name} or {from_name}/{to_name}, not both.", field="since")
    begin = parse_time(start, "from") if start else parse_time(since or default, "since")
    finish = parse_time(end, "to") if end else now_ms
    assert begin is not None and finish is not None
    if finish <= begin:
        raise ValidationError(f"The window is empty: {to_name} must be after {from_name}.", field="to")
    return Window(begin, finish)


def dominant_model(deployment: str, window: Window, *, log_dir: str | None = None) -> str:
    """The model URI that answered most live rows of the window (closed hours counted once, then cached)."""
    counts: dict[str, int] = {}
    for hour in _traffic(deployment, window, log_dir):
        for uri, rows in hour["models"].items():
            counts[uri] = counts.get(uri, 0) + rows
    if not counts:
        raise NotFoundError(f"Deployment {deployment!r} logged no live predictions between {_iso(window.start_ms)} "
                            f"and {_iso(window.end_ms)}; widen the window (--since 7d) or check the name.")
    return max(counts, key=lambda uri: counts[uri])


def _traffic(deployment: str, window: Window, log_dir: str | None) -> list[dict[str, Any]]:
    """Per hour of the window that has files: live rows by model URI and the number of shadow rows.

    Closed whole hours come from the hourly cache (:mod:`shipyard.predlog.hourly_cache`), so a cached week
    reads no row of the log to find its model or to learn it had no shadows.
    """
    import pyarrow.compute as pc

    def count(part: Window, files: list[LogPath]) -> dict[str, Any]:
        models: dict[str, int] = {}
        shadow_rows = 0
        for batch in scan_batches(files, ["model_uri", "timestamp", "shadow"], _range(part)):
            shadow = batch.column(2)
            live = batch.filter(pc.invert(shadow))
            shadow_rows += batch.num_rows - live.num_rows
            for item in live.column(0).value_counts().to_pylist():
                models[item["values"]] = models.get(item["values"], 0) + item["counts"]
        return {"models": models, "shadow_rows": shadow_rows}

    return _per_hour(deployment, window, log_dir, "counts", count, folder=TRAFFIC)


def _per_hour(deployment: str, window: Window, log_dir: str | None, kind: str,
              compute: Callable[[Window, list[LogPath]], dict[str, Any]], *, cacheable: bool = True,
              folder: str = PROFILES) -> list[Any]:
    """``compute`` over each hour of ``window`` that has files; whole closed hours are read from (or stored
    in) the hourly cache under ``kind``, which must name everything the result depends on besides the rows."""

    root, now_ms = serving_root(log_dir=log_dir), int(time.time() * 1000)
    found = []
    for hour in hour_partitions(root / PREDICTIONS, deployment, window.start_ms, window.end_ms):
        hour_end = hour.start_ms + HOUR_MS
        part = Window(max(hour.start_ms, window.start_ms), min(hour_end, window.end_ms))
        whole = cacheable and part.start_ms == hour.start_ms and part.end_ms == hour_end and is_closed(hour, now_ms)
        stamp = fingerprint(hour) if whole else ""
        summary = read_summary(root, hour, kind, stamp, folder=folder) if whole else None
        if summary is None:
            files = hour.files()
            if not files:
                continue
            summary = compute(part, files)
            if whole:
                write_summary(root, hour, kind, stamp, summary, folder=folder)
        found.append(summary)
    return found


def training_reference(store: Store, model_uri: str) -> Reference:
    """The training profile stored with a model version (never recomputed from data)."""
    _, run_id, path = resolve(store, model_uri)
    manifest = read_manifest(store, run_id, path)
    return Reference("training", model_uri, manifest["profile"], manifest.get("prediction_profile"),
                     manifest.get("target_profile"))


def profile_window(deployment: str, window: Window, reference: Reference, *, shadow: bool = False,
                   log_dir: str | None = None, variant: str | None = None) -> WindowProfile:
    """Fold the live (or shadow) rows of ``window`` into counts on the reference's bins.

    Only hours that have partition files are visited, so a long window over a short log costs what the
    log holds, not one step per hour of the window. Whole hours that are closed (and whose files have not
    changed since) come from the hourly summaries kept next to the log (:mod:`shipyard.predlog.hourly_cache`):
    a week is 168 small JSON files, not a rescan of the log. Partial hours are scanned. An hour without
    files is never cached: there is nothing to save.
    """
    from ..store.hashing import hash_json

    key = hash_json({"profile": reference.profile, "prediction": reference.prediction_profile})[:16]

    def scan(part: Window, files: list[LogPath]) -> dict[str, Any]:
        return _scan(part, files, reference, shadow=shadow, variant=variant).to_dict()

    profile = WindowProfile(window.start_ms, window.end_ms)
    for summary in _per_hour(deployment, window, log_dir, key, scan, cacheable=variant is None and not shadow):
        profile.merge(WindowProfile.from_dict(summary))
    profile.start_ms, profile.end_ms = window.start_ms, window.end_ms
    return profile


def _scan(window: Window, files: list[LogPath], reference: Reference, *, shadow: bool,
          variant: str | None) -> WindowProfile:
    import pyarrow.dataset as ds

    builder = WindowBuilder(reference.profile, reference.prediction_profile, window.start_ms, window.end_ms)
    condition = _range(window) & (ds.field("shadow") == shadow)
    if variant is not None:
        condition = condition & (ds.field("variant") == variant)
    columns = BASE_COLUMNS + [INPUT_PREFIX + name for name in reference.profile.get("columns", {})]
    for batch in scan_batches(files, columns, condition):
        builder.add_batch(batch)
    return builder.finish()


@dataclass
class Labelled:
    """Live rows that have a label: parallel arrays, one entry per row."""

    variant: list[str]
    version: list[Any]
    predicted: list[str]
    label: list[str]
    label_value: Any  # numpy float array (NaN when the label is not numeric)
    probabilities: list[Any]  # per row a list (classifiers) or None
    timestamp_ms: Any  # numpy int array

    @property
    def rows(self) -> int:
        return len(self.label)


def labelled_rows(deployment: str, window: Window, *, log_dir: str | None = None) -> Labelled:
    """Join the feedback log to the live predictions of ``window`` (latest label per row wins)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    latest = latest_labels(deployment, window, log_dir=log_dir)
    if not latest:
        return Labelled([], [], [], [], np.array([]), [], np.array([], dtype="int64"))
    ids = pa.array(sorted({key[0] for key in latest}), pa.string())
    condition = _range(window) & (ds.field("shadow") == False) & ds.field("request_id").isin(ids)  # noqa: E712
    out = Labelled([], [], [], [], [], [], [])
    for batch in scan_batches(_files(deployment, window, log_dir), BASE_COLUMNS, condition):
        columns = {name: batch.column(batch.schema.names.index(name)).to_pylist() for name in (
            "request_id", "row", "variant", "model_version", "prediction", "probabilities")}
        stamps = pc.cast(batch.column(batch.schema.names.index("timestamp")), pa.int64()).to_pylist()
        for index, key in enumerate(zip(columns["request_id"], columns["row"], strict=True)):
            found = latest.get(key)
            if found is None:
                continue
            out.variant.append(columns["variant"][index])
            out.version.append(columns["model_version"][index])
            out.predicted.append(columns["prediction"][index])
            out.label.append(found[0])
            out.label_value.append(np.nan if found[1] is None else found[1])
            out.probabilities.append(columns["probabilities"][index])
            out.timestamp_ms.append(stamps[index])
    out.label_value = np.asarray(out.label_value, dtype="float64")
    out.timestamp_ms = np.asarray(out.timestamp_ms, dtype="int64")
    return out


def latest_labels(deployment: str, window: Window, *, log_dir: str | None = None) \
        -> dict[tuple[str, int], tuple[str, float | None]]:
    """The feedback given (at or after the window's start) to predictions: ``(request_id, row) -> (label, number)``,
    the latest label of a row winning."""
    import pyarrow as pa

    feedback_files = partition_files(serving_root(log_dir=log_dir) / FEEDBACK, deployment, window.start_ms, None)
    parts = list(scan_batches(feedback_files, ["request_id", "row", "label", "label_value", "timestamp"]))
    if not parts:
        return {}
    feedback = pa.Table.from_batches(parts).sort_by([("timestamp", "ascending")])
    latest: dict[tuple[str, int], tuple[str, float | None]] = {}
    for request_id, row, label, value in zip(*(feedback.column(name).to_pylist() for name in (
            "request_id", "row", "label", "label_value")), strict=True):
        latest[(request_id, row)] = (label, value)
    return latest


def live_files(deployment: str, window: Window, *, log_dir: str | None = None) -> list[Any]:
    """The prediction log's files that may hold rows of ``window``."""
    return _files(deployment, window, log_dir)


def time_range(window: Window) -> Any:
    """The Arrow dataset filter of rows whose timestamp falls in ``window``."""
    return _range(window)


def error_counts(deployment: str, window: Window, *, log_dir: str | None = None) -> dict[tuple[int, str, str], int]:
    """Refused or failed requests of the window, counted by (status, error type, field)."""
    import pyarrow as pa

    files = partition_files(serving_root(log_dir=log_dir) / ERRORS, deployment, window.start_ms, window.end_ms)
    parts = list(scan_batches(files, ["timestamp", "status", "error_type", "field"], _range(window)))
    if not parts:
        return {}
    table = pa.Table.from_batches(parts).select(["status", "error_type", "field"])
    grouped = table.group_by(["status", "error_type", "field"]).aggregate([([], "count_all")])
    return {(row["status"], row["error_type"], row["field"] or ""): row["count_all"] for row in grouped.to_pylist()}


def shadow_disagreement(deployment: str, window: Window, *, log_dir: str | None = None) -> dict[str, dict[str, int]]:
    """Per shadow variant: rows it answered that have a live answer, and how many of those differ."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    if not sum(hour["shadow_rows"] for hour in _traffic(deployment, window, log_dir)):
        return {}  # no shadow answered in the window (known from the hourly cache when it is closed)
    files = _files(deployment, window, log_dir)
    columns = ["request_id", "row", "variant", "prediction", "shadow", "timestamp"]
    shadow_parts = list(scan_batches(files, columns, _range(window) & (ds.field("shadow") == True)))  # noqa: E712
    if not shadow_parts:
        return {}
    shadow = pa.Table.from_batches(shadow_parts).select(["request_id", "row", "variant", "prediction"])
    ids = pc.unique(shadow.column("request_id"))
    live_parts = list(scan_batches(files, columns, _range(window) & (ds.field("shadow") == False)  # noqa: E712
                                   & ds.field("request_id").isin(ids)))
    if not live_parts:
        return {}
    live = pa.Table.from_batches(live_parts).select(["request_id", "row", "prediction"]).rename_columns(
        ["request_id", "row", "live_prediction"])
    joined = shadow.join(live, keys=["request_id", "row"], join_type="inner")
    differ = pc.not_equal(joined.column("prediction"), joined.column("live_prediction"))
    counts = pa.table({"variant": joined.column("variant"), "differ": pc.cast(differ, pa.int64())}).group_by(
        "variant").aggregate([("differ", "sum"), ("differ", "count")])
    return {row["variant"]: {"rows": int(row["differ_count"]), "differ": int(row["differ_sum"] or 0)}
            for row in counts.to_pylist()}


def _files(deployment: str, window: Window, log_dir: str | None) -> list[Any]:
    return partition_files(serving_root(log_dir=log_dir) / PREDICTIONS, deployment, window.start_ms, window.end_ms)


def _range(window: Window) -> Any:
    import pyarrow as pa
    import pyarrow.dataset as ds

    kind = pa.timestamp("ms", tz="UTC")
    return (ds.field("timestamp") >= pa.scalar(window.start_ms, type=kind)) & (
        ds.field("timestamp") < pa.scalar(window.end_ms, type=kind))


def _iso(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch_ms / 1000)) + " UTC"
