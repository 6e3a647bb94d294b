"""Where the logs live on disk: the one module that knows the folders, the partitions and the file names.

A server's logs sit under one root, the store's ``serving/`` folder or the ``log_dir`` of ``serving.yaml``:
``predictions/``, ``feedback/`` and ``errors/``, each partitioned as
``deployment=<name>/date=<YYYY-MM-DD>/hour=<HH>/part-<ms>-<replica>-<n>.parquet``. ``log_dir`` may also be
an fsspec URL (``s3://bucket/predictions``, :mod:`.location`) that N serving replicas share. Each process
writes only files named after its own replica id (:func:`replica_id`: host name and pid), so two writers
never meet on one file and no lock is needed. Hive-style partitions let a query skip every deployment and
hour outside its range by listing folder names only (pyarrow here, DuckDB reads the same layout). A merged
file is named ``part-<ms>-<replica>-m<n>.parquet`` and lists the files it replaces in its metadata
(:func:`shipyard.predlog.writer.compact`); hidden names (``.`` or ``_`` prefix) are files being written
and are never read. The log holds every input a server was sent, so local folders are made 0700 and files
0600 whatever the umask (on S3 the bucket's policy decides).
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError
from ..store import Store, current_store
from .location import LogPath, RemotePath, open_folder
from .scan import file_schema

PREDICTIONS = "predictions"  # every answer, shadows included
FEEDBACK = "feedback"  # labels that came later, keyed like the predictions they name
ERRORS = "errors"  # requests a deployment refused or failed
HOUR_MS = 3_600_000
REPLACES_KEY = b"shipyard.replaces"  # metadata key of a merged file: the names of the files it holds
FOLDER_MODE = 0o700
FILE_MODE = 0o600
_DEPLOYMENT = "deployment="
LOG_DIR_ENV = "SHIPYARD_LOG_DIR"  # the log's root when no log_dir is given: one value for every pod and job
REPLICA_ENV = "SHIPYARD_REPLICA"  # a replica's name (a pod's name, say); the pid is added to it
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.]+")


def replica_id() -> str:
    """This process's name in the log's file names: ``$SHIPYARD_REPLICA`` (else the host name) and the pid.

    Unique per process across the replicas sharing one log (pod names and host names differ; workers of
    one server differ by pid), stable while the process lives, and free of ``-`` and glob characters, so a
    file name splits back into its parts.
    """
    name = os.environ.get(REPLICA_ENV) or socket.gethostname() or "host"
    return f"{_NOT_IN_NAMES.sub('_', name).strip('_.') or 'host'}_{os.getpid()}"


def serving_root(store: Store | None = None, log_dir: str | None = None) -> LogPath:
    """Where the logs of this store's servers live: ``log_dir`` when given (a folder or an fsspec URL such
    as ``s3://bucket/predictions``), else ``$SHIPYARD_LOG_DIR``, else ``<store>/serving``.

    Raises:
        ConfigError: the store is a database URI and no ``log_dir`` names a folder.
    """
    log_dir = log_dir or os.environ.get(LOG_DIR_ENV) or None
    if log_dir:
        return open_folder(str(log_dir))
    store = store or current_store()
    if store.location.root is None:
        raise ConfigError("This store is a database URI, so the prediction log needs a place of its own: set "
                          "log_dir in serving.yaml (a local path or s3://bucket/prefix).")
    return store.location.root / "serving"


def partition_folder(root: LogPath, deployment: str, timestamp_ms: int) -> LogPath:
    """The hour partition of ``root`` (one log's folder) that an entry of ``deployment`` at ``timestamp_ms`` goes to."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return root / f"{_DEPLOYMENT}{deployment}" / f"date={moment:%Y-%m-%d}" / f"hour={moment:%H}"


def is_current_hour(folder: LogPath, moment: datetime) -> bool:
    """Whether the hour partition ``folder`` is the hour of ``moment`` (UTC): files are still added to it."""
    return (folder.parent.name, folder.name) == (f"date={moment:%Y-%m-%d}", f"hour={moment:%H}")


def logged_deployments(root: LogPath) -> set[str]:
    """The deployments that have a folder in ``root`` (one log's folder): names only, no file is opened."""
    return {path.name[len(_DEPLOYMENT):] for path in root.glob(f"{_DEPLOYMENT}*") if path.is_dir()}


def has_deployment(root: LogPath, deployment: str) -> bool:
    """Whether ``root`` (one log's folder) has a folder for ``deployment``."""
    return (root / f"{_DEPLOYMENT}{deployment}").is_dir()


def part_name(timestamp_ms: int | str, replica: int | str, sequence: int | str) -> str:
    """The name of a file one flush of ``replica`` (:func:`replica_id`) writes (``sequence`` a number) or
    one merge writes (``m<n>``)."""
    return f"part-{timestamp_ms}-{replica}-{sequence}.parquet"


def parts_of(folder: LogPath, replica: int | str) -> list[LogPath]:
    """The files ``replica`` flushed into ``folder`` that no merged file holds yet, oldest first (parts a
    merge holds may still be listed for a while: :data:`~shipyard.predlog.writer.REPLACED_KEPT_S`)."""
    flushed = sorted(path for path in folder.glob(f"part-*-{replica}-[0-9]*.parquet"))
    if not flushed:
        return []
    live = {path.name for path in _live_files(sorted(path for path in folder.iterdir() if _visible(path)))}
    return [path for path in flushed if path.name in live]


def part_time(path: LogPath) -> str:
    """The milliseconds a part file's name starts with (a merge is named after its first part)."""
    return path.name.split("-")[1]


@dataclass(frozen=True)
class HourPartition:
    """One ``deployment=<name>/date=<YYYY-MM-DD>/hour=<HH>`` folder: the only place that layout is parsed."""

    deployment: str
    start_ms: int  # the hour's first millisecond, UTC
    folder: LogPath
    listed: tuple[RemotePath, ...] | None = field(default=None, compare=False, repr=False)  # a remote listing

    def listing(self) -> list[LogPath]:
        """The partition's visible Parquet files as listed (merged-away parts included): what a cache of the
        hour is keyed on, known without opening a file."""
        if self.listed is not None:
            return [path for path in self.listed if _visible(path)]
        return sorted(path for path in self.folder.iterdir() if _visible(path))

    def files(self) -> list[LogPath]:
        """The partition's visible Parquet files, minus those a merged file already holds."""
        return _live_files(self.listing())


def hour_partitions(root: LogPath, deployment: str | None, since_ms: int | None,
                    until_ms: int | None) -> list[HourPartition]:
    """The hour partitions of one deployment (or all) that can hold rows in ``[since, until)``.

    Sorted by deployment, then oldest hour first. Only folder names are listed, no file is opened, so a
    caller can pick the few hours it needs (the newest, say) before paying for any read. Folders whose
    names are not a date and an hour (not written by :class:`~shipyard.predlog.writer.PartitionedLog`) are
    left out.
    """
    if isinstance(root, RemotePath):
        return _remote_hour_partitions(root, deployment, since_ms, until_ms)
    if not root.is_dir():
        return []
    folders = [root / f"{_DEPLOYMENT}{deployment}"] if deployment else sorted(root.glob(f"{_DEPLOYMENT}*"))
    found = []
    for folder in folders:
        name = folder.name[len(_DEPLOYMENT):]
        for hour_dir in folder.glob("date=*/hour=*"):
            start_ms = _hour_start(hour_dir.parent.name, hour_dir.name)
            if start_ms is not None and _overlaps(start_ms, since_ms, until_ms):
                found.append(HourPartition(name, start_ms, hour_dir))
    return sorted(found, key=lambda part: (part.deployment, part.start_ms))


def _remote_hour_partitions(root: RemotePath, deployment: str | None, since_ms: int | None,
                            until_ms: int | None) -> list[HourPartition]:
    """The same on an object store, from one recursive listing: S3 has no folders to list level by level,
    and one paginated listing of a week costs less than one request per hour."""
    base = root / f"{_DEPLOYMENT}{deployment}" if deployment else root
    by_folder: dict[str, list[RemotePath]] = {}
    for path in base.files_below():
        by_folder.setdefault(path.parent.url, []).append(path)
    found = []
    for files in by_folder.values():
        hour_dir = files[0].parent
        date_dir, deployment_dir = hour_dir.parent, hour_dir.parent.parent
        if not deployment_dir.name.startswith(_DEPLOYMENT) or deployment_dir.parent.url != root.url:
            continue
        start_ms = _hour_start(date_dir.name, hour_dir.name)
        if start_ms is not None and _overlaps(start_ms, since_ms, until_ms):
            found.append(HourPartition(deployment_dir.name[len(_DEPLOYMENT):], start_ms, hour_dir, tuple(files)))
    return sorted(found, key=lambda part: (part.deployment, part.start_ms))


def _hour_start(date_name: str, hour_name: str) -> int | None:
    """The first millisecond of a ``date=<YYYY-MM-DD>/hour=<HH>`` folder, None for other names."""
    if not (date_name.startswith("date=") and hour_name.startswith("hour=")):
        return None
    try:
        moment = datetime.strptime(f"{date_name[5:]} {hour_name[5:]}", "%Y-%m-%d %H")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def _overlaps(start_ms: int, since_ms: int | None, until_ms: int | None) -> bool:
    return (since_ms is None or start_ms + HOUR_MS > since_ms) and (until_ms is None or start_ms < until_ms)


def partition_files(root: LogPath, deployment: str | None, since_ms: int | None,
                    until_ms: int | None) -> list[LogPath]:
    """Files of one deployment (or all) whose hour partition can hold rows in [since, until)."""
    return [path for part in hour_partitions(root, deployment, since_ms, until_ms) for path in part.files()]


def _visible(path: LogPath) -> bool:
    return path.suffix == ".parquet" and not path.name.startswith((".", "_"))


def _live_files(files: list[LogPath]) -> list[LogPath]:
    """``files`` (one partition's visible files), minus those a merged file already holds."""
    replaced: set[str] = set()
    for path in files:
        if path.name.rsplit("-", 1)[-1].startswith("m"):  # a merged file: part-<ms>-<replica>-m<n>.parquet
            metadata = file_schema(path).metadata or {}
            replaced.update(json.loads(metadata.get(REPLACES_KEY, b"[]")))
    return [path for path in files if path.name not in replaced]


def private_folder(folder: Path) -> None:
    """Make ``folder`` and the missing folders above it, each 0700 whatever the umask; existing ones are
    left as they are (a ``log_dir`` the user made is theirs)."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for path in reversed(missing):
        try:
            os.mkdir(path, FOLDER_MODE)
        except FileExistsError:  # another worker made it first: it made it 0700 too
            continue
        os.chmod(path, FOLDER_MODE)
