"""Where the logs live on disk: the one module that knows the folders, the partitions and the file names.

A server's logs sit under one root, the store's ``serving/`` folder or the ``log_dir`` of ``serving.yaml``:
``predictions/``, ``feedback/`` and ``errors/``, each partitioned as
``deployment=<name>/date=<YYYY-MM-DD>/hour=<HH>/part-<ms>-<pid>-<n>.parquet``. Hive-style partitions let a
query skip every deployment and hour outside its range by listing folder names only (pyarrow here, DuckDB
reads the same layout). A merged file is named ``part-<ms>-<pid>-m<n>.parquet`` and lists the files it
replaces in its metadata (:func:`shipyard.predlog.writer.compact`); hidden names (``.`` or ``_`` prefix)
are files being written and are never read. The log holds every input a server was sent, so folders are
made 0700 and files 0600 whatever the umask.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError
from ..store import Store, current_store

PREDICTIONS = "predictions"  # every answer, shadows included
FEEDBACK = "feedback"  # labels that came later, keyed like the predictions they name
ERRORS = "errors"  # requests a deployment refused or failed
HOUR_MS = 3_600_000
REPLACES_KEY = b"shipyard.replaces"  # metadata key of a merged file: the names of the files it holds
FOLDER_MODE = 0o700
FILE_MODE = 0o600
_DEPLOYMENT = "deployment="


def serving_root(store: Store | None = None, log_dir: str | None = None) -> Path:
    """Where the logs of this store's servers live: ``log_dir`` when given, else ``<store>/serving``.

    Raises:
        ConfigError: the store is a database URI and no ``log_dir`` names a folder.
    """
    if log_dir:
        return Path(log_dir).expanduser().resolve()
    store = store or current_store()
    if store.location.root is None:
        raise ConfigError("This store is a database URI, so the prediction log needs a directory: set log_dir in "
                          "serving.yaml (a local path).")
    return store.location.root / "serving"


def partition_folder(root: Path, deployment: str, timestamp_ms: int) -> Path:
    """The hour partition of ``root`` (one log's folder) that an entry of ``deployment`` at ``timestamp_ms`` goes to."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return root / f"{_DEPLOYMENT}{deployment}" / f"date={moment:%Y-%m-%d}" / f"hour={moment:%H}"


def is_current_hour(folder: Path, moment: datetime) -> bool:
    """Whether the hour partition ``folder`` is the hour of ``moment`` (UTC): files are still added to it."""
    return (folder.parent.name, folder.name) == (f"date={moment:%Y-%m-%d}", f"hour={moment:%H}")


def logged_deployments(root: Path) -> set[str]:
    """The deployments that have a folder in ``root`` (one log's folder): names only, no file is opened."""
    return {path.name[len(_DEPLOYMENT):] for path in root.glob(f"{_DEPLOYMENT}*") if path.is_dir()}


def has_deployment(root: Path, deployment: str) -> bool:
    """Whether ``root`` (one log's folder) has a folder for ``deployment``."""
    return (root / f"{_DEPLOYMENT}{deployment}").is_dir()


def part_name(timestamp_ms: int | str, pid: int, sequence: int | str) -> str:
    """The name of a file one flush writes (``sequence`` a number) or one merge writes (``m<n>``)."""
    return f"part-{timestamp_ms}-{pid}-{sequence}.parquet"


def parts_of(folder: Path, pid: int) -> list[Path]:
    """The files process ``pid`` flushed into ``folder`` (merged files excluded), oldest first."""
    return sorted(path for path in folder.glob(f"part-*-{pid}-[0-9]*.parquet"))


def part_time(path: Path) -> str:
    """The milliseconds a part file's name starts with (a merge is named after its first part)."""
    return path.name.split("-")[1]


@dataclass(frozen=True)
class HourPartition:
    """One ``deployment=<name>/date=<YYYY-MM-DD>/hour=<HH>`` folder: the only place that layout is parsed."""

    deployment: str
    start_ms: int  # the hour's first millisecond, UTC
    folder: Path

    def files(self) -> list[Path]:
        """The partition's visible Parquet files, minus those a merged file already holds."""
        return _live_files(self.folder)


def hour_partitions(root: Path, deployment: str | None, since_ms: int | None,
                    until_ms: int | None) -> list[HourPartition]:
    """The hour partitions of one deployment (or all) that can hold rows in ``[since, until)``.

    Sorted by deployment, then oldest hour first. Only folder names are listed, no file is opened, so a
    caller can pick the few hours it needs (the newest, say) before paying for any read. Folders whose
    names are not a date and an hour (not written by :class:`~shipyard.predlog.writer.PartitionedLog`) are
    left out.
    """
    if not root.is_dir():
        return []
    folders = [root / f"{_DEPLOYMENT}{deployment}"] if deployment else sorted(root.glob(f"{_DEPLOYMENT}*"))
    found = []
    for folder in folders:
        name = folder.name[len(_DEPLOYMENT):]
        for hour_dir in folder.glob("date=*/hour=*"):
            try:
                moment = datetime.strptime(f"{hour_dir.parent.name[5:]} {hour_dir.name[5:]}", "%Y-%m-%d %H")
            except ValueError:
                continue
            start_ms = int(moment.replace(tzinfo=UTC).timestamp() * 1000)
            if (since_ms is None or start_ms + HOUR_MS > since_ms) and (until_ms is None or start_ms < until_ms):
                found.append(HourPartition(name, start_ms, hour_dir))
    return sorted(found, key=lambda part: (part.deployment, part.start_ms))


def partition_files(root: Path, deployment: str | None, since_ms: int | None, until_ms: int | None) -> list[Path]:
    """Files of one deployment (or all) whose hour partition can hold rows in [since, until)."""
    return [path for part in hour_partitions(root, deployment, since_ms, until_ms) for path in part.files()]


def _live_files(folder: Path) -> list[Path]:
    """The visible Parquet files of one partition, minus those a merged file already holds."""
    import pyarrow.parquet as pq

    files = sorted(path for path in folder.iterdir()
                   if path.suffix == ".parquet" and not path.name.startswith((".", "_")))
    replaced: set[str] = set()
    for path in files:
        if path.name.rsplit("-", 1)[-1].startswith("m"):  # a merged file: part-<ms>-<pid>-m<n>.parquet
            metadata = pq.read_schema(path).metadata or {}
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
