"""What the UI reads from ``serving.yaml`` and the prediction log, each log read limited to the hours it needs.

``serving.yaml`` and the log folder it (or ``--log-dir``) names are read here and nowhere else in the UI
(:func:`serving_file`, :func:`log_root`). The log is Parquet partitioned by deployment and hour
(:mod:`shipyard.predlog.layout`), so every read here names its deployment and hours: counting a window
reads only the ``timestamp`` and ``shadow`` columns (whole row groups inside the range are counted from
their statistics), the latest answer and the variants seen come from the newest hour that has rows, and
the recent predictions table widens from the newest hour back only until it has its rows, their labels
read from the feedback logged since the oldest of them. A page over a day at 500 predictions/s therefore
never loads the day; the window itself is bounded by the page (:mod:`.deployments`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..predlog.layout import (
    FEEDBACK,
    LOG_DIR_ENV,
    PREDICTIONS,
    has_deployment,
    hour_partitions,
    logged_deployments,
    partition_files,
    serving_root,
)
from ..predlog.location import LogPath, is_url
from ..predlog.readers import prediction_log
from ..predlog.scan import count_rows, read_table
from ..serving.spec import ServingConfig, load_config

if TYPE_CHECKING:
    from ..monitoring.source import Window
    from .settings import UISettings

SERVING_FILE = "serving.yaml"


@dataclass
class ProjectServing:
    """The project's ``serving.yaml`` (None without one) and the log folder the pages read."""

    config: ServingConfig | None
    problem: str | None  # why serving.yaml could not be read, shown on the page instead of failing it
    root: LogPath  # the serving log root (a folder or an s3:// URL): predictions/, feedback/, errors/ below it

    @property
    def log_dir(self) -> str:
        return str(self.root)

    def deployment_names(self) -> list[str]:
        """Deployments named in ``serving.yaml`` or having a prediction log, sorted."""
        logged = logged_deployments(self.root / PREDICTIONS)
        configured = {item.name for item in self.config.deployments} if self.config else set()
        return sorted(logged | configured)

    def has_log(self, name: str) -> bool:
        return has_deployment(self.root / PREDICTIONS, name)


def project_serving(settings: UISettings) -> ProjectServing:
    """The project's ``serving.yaml`` and its log folder, for the deployments and prediction pages.

    Raises:
        ConfigError: a database store and no log folder named anywhere (see :func:`log_root`).
    """
    config, problem = serving_file(settings)
    return ProjectServing(config, problem, log_root(settings, config))


def serving_file(settings: UISettings) -> tuple[ServingConfig | None, str | None]:
    """``serving.yaml`` of the project folder (``None`` without one), and why it could not be read, if so."""
    path = settings.project_dir / SERVING_FILE if settings.project_dir else None
    if path is None or not path.is_file():
        return None, None
    try:
        return load_config(path), None
    except ConfigError as exc:  # shown on the page, which still lists what the log holds
        return None, exc.message


def log_root(settings: UISettings, config: ServingConfig | None) -> LogPath:
    """The serving log folder: ``--log-dir``, else ``$SHIPYARD_LOG_DIR``, else serving.yaml's ``log_dir``
    (relative to the project; or a URL such as ``s3://bucket/predictions``), else the store's ``serving/`` folder.

    Raises:
        ConfigError: the store is a database URI and neither names a folder.
    """
    log_dir = settings.log_dir or os.environ.get(LOG_DIR_ENV) or None
    if log_dir is None and config is not None and config.log_dir and is_url(config.log_dir):
        log_dir = config.log_dir
    elif log_dir is None and config is not None and config.log_dir:
        configured = Path(config.log_dir).expanduser()
        if not configured.is_absolute() and settings.project_dir is not None:
            configured = settings.project_dir / configured
        log_dir = str(configured)
    return serving_root(settings.store, log_dir)


def live_rows(root: LogPath, deployment: str, start_ms: int, end_ms: int) -> int:
    """Live (not shadow) rows logged in ``[start, end)``."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = partition_files(root / PREDICTIONS, deployment, start_ms, end_ms)
    moment, stamp = pa.timestamp("ms", tz="UTC"), ds.field("timestamp")
    condition = ((stamp >= pa.scalar(start_ms, moment)) & (stamp < pa.scalar(end_ms, moment))
                 & (ds.field("shadow") == False))  # noqa: E712 (an Arrow expression)
    return count_rows(files, condition)


@dataclass
class SeenVariant:
    name: str
    shadow: bool
    models: list[str] = field(default_factory=list)
    rows: int = 0


@dataclass
class LatestHour:
    """The newest hour of a deployment's log: its last answer and the variants that answered in it."""

    latest: datetime
    variants: list[SeenVariant]


def latest_hour(root: LogPath, deployment: str) -> LatestHour | None:
    """The newest hour partition that holds rows (one hour read, whatever the log's length)."""
    import pyarrow.compute as pc

    for hour in reversed(hour_partitions(root / PREDICTIONS, deployment, None, None)):
        table = read_table(hour.files(), columns=["timestamp", "variant", "model_uri", "shadow"])
        if table is None or not table.num_rows:
            continue
        seen: dict[tuple[str, bool], SeenVariant] = {}
        grouped = table.group_by(["variant", "shadow", "model_uri"]).aggregate([("timestamp", "count")])
        for item in grouped.to_pylist():
            key = (str(item["variant"]), bool(item["shadow"]))
            entry = seen.setdefault(key, SeenVariant(*key))
            entry.models.append(str(item["model_uri"]))
            entry.rows += int(item["timestamp_count"])
        variants = sorted(seen.values(), key=lambda entry: (entry.shadow, entry.name))
        return LatestHour(pc.max(table.column("timestamp")).as_py(), variants)
    return None


def recent_predictions(root: LogPath, deployment: str, window: Window, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` live rows of the window, newest first, with their latest feedback label.

    Reads the newest hour first and widens (1, 4, 16... hours) only while it has fewer rows than ``limit``.
    """
    hours = [hour.start_ms for hour in hour_partitions(root / PREDICTIONS, deployment, window.start_ms,
                                                       window.end_ms)]
    if not hours:
        return []
    taken = 1
    while True:
        since = max(window.start_ms, hours[-taken])
        frame = prediction_log(deployment, since=_moment(since), until=_moment(window.end_ms), shadow=False,
                               log_dir=str(root))
        if len(frame) >= limit or taken == len(hours):
            break
        taken = min(len(hours), taken * 4)
    if not len(frame):
        return []
    frame = frame.iloc[::-1].head(limit)
    oldest_ms = int(frame["timestamp"].min().timestamp() * 1000)
    labels = _labels(root, deployment, set(frame["request_id"]), oldest_ms)
    rows = []
    for item in frame.itertuples(index=False):
        version = item.model_version
        rows.append({"request_id": item.request_id, "row": int(item.row), "timestamp": item.timestamp.to_pydatetime(),
                     "variant": item.variant, "model_name": item.model_name,
                     "model_version": None if version is None or version != version else int(version),
                     "prediction": item.prediction, "latency_ms": float(item.latency_ms),
                     "label": labels.get((item.request_id, int(item.row)))})
    return rows


def _labels(root: LogPath, deployment: str, request_ids: set[str], since_ms: int) -> dict[tuple[str, int], str]:
    """The latest label of each row of ``request_ids``: feedback comes after its prediction, so only the
    feedback logged since the oldest of them is read, filtered to those ids."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = partition_files(root / FEEDBACK, deployment, since_ms, None)
    table = read_table(files, columns=["request_id", "row", "label", "timestamp"],
                       filter=ds.field("request_id").isin(pa.array(sorted(request_ids), pa.string())))
    if table is None:
        return {}
    found: dict[tuple[str, int], tuple[Any, str]] = {}
    for item in table.to_pylist():
        key = (item["request_id"], int(item["row"]))
        if key not in found or item["timestamp"] >= found[key][0]:
            found[key] = (item["timestamp"], item["label"])
    return {key: label for key, (_, label) in found.items()}


def _moment(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
